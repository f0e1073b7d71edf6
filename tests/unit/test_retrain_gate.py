"""RetrainGate: single flight, its environment as the gate Lambda parses it, and a role for one pipeline only."""

from __future__ import annotations

import datetime

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Template

from ml_platform.constructs.preparation.glue_security import allow_cloudwatch_logs
from ml_platform.constructs.training.ml_network import MlNetwork, NetworkSettings
from ml_platform.constructs.monitoring.retrain_gate import RetrainGate
from ml_platform.lambdas.retrain_gate.gate import GateConfig
from tests.iam_eval import Resolver, permitted

ENV = {"account": "111111111111", "region": "eu-west-1"}
PIPELINE = "T-Churn-Training"
ARN = "arn:aws:sagemaker:eu-west-1:111111111111:pipeline/t-churn-training"
ACTIONS = ["sagemaker:ListPipelineExecutions", "sagemaker:StartPipelineExecution"]


def build(scope, *, pipeline_name=PIPELINE, cooldown_hours=6):
    stack = Stack(scope, "Monitoring", env=ENV)
    network = MlNetwork(stack, "Net", settings=NetworkSettings(az_count=2, interface_endpoints=["sagemaker_api"]))
    key = kms.Key(stack, "Key", enable_key_rotation=True)
    allow_cloudwatch_logs(key)
    gate = RetrainGate(stack, "Gate", pipeline_name=pipeline_name, cooldown_hours=cooldown_hours, network=network,
                       key=key, description="Starts the churn training pipeline on violations")
    return stack, gate


def synthesized_gate(**kwargs):
    stack, gate = build(App(), **kwargs)
    found = Template.from_stack(stack).to_json()["Resources"]
    resolve = Resolver(stack, None, ENV)

    def resource(construct):
        return found[stack.resolve(construct.node.default_child.logical_id)]

    return {"stack": stack, "gate": gate, "found": found, "function": resource(gate.function)["Properties"],
            "policy": resolve(resource(gate.role.policy)["Properties"]["PolicyDocument"])}


@pytest.fixture(scope="module")
def synthesized():
    return synthesized_gate()


def test_environment_names_the_pipeline_and_the_cooldown_in_minutes(synthesized):
    assert synthesized["function"]["Environment"]["Variables"] == {"PIPELINE_NAME": PIPELINE,
                                                                   "COOLDOWN_MINUTES": str(6 * 60)}


def test_function_is_single_flight_encrypted_and_in_the_vpc(synthesized):
    function, stack = synthesized["function"], synthesized["stack"]
    assert (function["ReservedConcurrentExecutions"], function["Handler"]) == (1, "handler.on_event")
    assert "KmsKeyArn" in function and len(function["VpcConfig"]["SubnetIds"]) == 2
    assert function["Role"] == {"Fn::GetAtt": [stack.resolve(synthesized["gate"].role.node.default_child.logical_id),
                                               "Arn"]}


def _own_statements(policy: dict) -> list[dict]:
    """The statements other than the logging and network ones of every VpcFunction."""
    def actions(statement: dict) -> list[str]:
        return [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
    return [s for s in policy["Statement"] if not all(a.startswith(("logs:", "ec2:")) for a in actions(s))]


def test_role_may_list_and_start_executions_of_its_pipeline_only(synthesized):
    policy, gate, stack = synthesized["policy"], synthesized["gate"], synthesized["stack"]
    # besides what every VpcFunction's role has (its log group, the VPC's network interfaces)
    assert _own_statements(policy) == [{"Action": ACTIONS, "Effect": "Allow", "Resource": ARN}]
    assert Resolver(stack, None, ENV)(stack.resolve(gate.pipeline_arn)) == ARN
    for action in ACTIONS:
        assert permitted(policy, action, ARN)
    for action in ACTIONS:
        assert not permitted(policy, action, "arn:aws:sagemaker:eu-west-1:111111111111:pipeline/other-training")
        assert not permitted(policy, action, "arn:aws:sagemaker:eu-west-1:111111111111:pipeline/t-churn-training-2")
        assert not permitted(policy, action, "arn:aws:sagemaker:us-east-1:111111111111:pipeline/t-churn-training")
    for action in ("sagemaker:StopPipelineExecution", "sagemaker:UpdatePipeline", "sagemaker:DeletePipeline"):
        assert not permitted(policy, action, ARN)


@pytest.mark.parametrize("hours", [-1, 721])
def test_cooldown_out_of_range_is_refused(hours):
    with pytest.raises(ValueError, match=rf"RetrainGate .*: cooldown_hours is {hours}; allowed: 0 to 720"):
        build(App(), cooldown_hours=hours)


# --- the seam: the construct's environment, read by the gate Lambda's own parser -----------------


def test_the_lambda_accepts_the_environment_and_is_granted_the_pipeline_it_starts(synthesized):
    config = GateConfig.from_environment(synthesized["function"]["Environment"]["Variables"])
    assert config == GateConfig(PIPELINE, datetime.timedelta(hours=6), ())
    # SageMaker names a pipeline in its ARN in lower case; the name the Lambda calls with keeps its case.
    assert _own_statements(synthesized["policy"])[0]["Resource"] == ARN.rsplit("/", 1)[0] + "/" + config.pipeline_name.lower()


@pytest.mark.parametrize("hours", [0, 720])
def test_the_cooldown_bounds_reach_the_lambda(hours):
    found = synthesized_gate(cooldown_hours=hours)
    config = GateConfig.from_environment(found["function"]["Environment"]["Variables"])
    assert config.cooldown == datetime.timedelta(hours=hours)


def test_a_network_without_the_sagemaker_api_endpoint_is_refused():
    """The gate runs in isolated subnets: without the interface endpoint it could never call SageMaker."""
    from aws_cdk import Stack
    from aws_cdk import aws_kms as kms

    from ml_platform.constructs.training.ml_network import MlNetwork, NetworkSettings

    stack = Stack(App(), "Gate", env={"account": "111111111111", "region": "eu-west-1"})
    network = MlNetwork(stack, "Net", settings=NetworkSettings(az_count=2, interface_endpoints=["sts"]))
    with pytest.raises(ValueError, match="the network has no sagemaker_api interface endpoint"):
        RetrainGate(stack, "Gate", pipeline_name="p", cooldown_hours=1, network=network,
                    key=kms.Key(stack, "Key"), description="d")
