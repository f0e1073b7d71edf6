"""SageMakerPersonas: people start SageMaker work only in the platform's network, with its key and roles."""

from __future__ import annotations

import json

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Template

from tests.iam_eval import Resolver, permitted

from ml_platform.constructs.lake.data_lake import DataLake
from ml_platform.constructs.training.ml_network import MlNetwork, NetworkSettings
from ml_platform.constructs.training.model_registry import ModelRegistry
from ml_platform.constructs.training.sagemaker_personas import SageMakerPersonas
from ml_platform.constructs.training.sagemaker_roles import RoleSettings, SageMakerRoles

ENV = {"account": "111111111111", "region": "eu-west-1"}


def build(*, trusted_account=None, boundary=False, inference=True):
    app = App()
    lake = DataLake(Stack(app, "Lake", env=ENV), "Lake")
    stack = Stack(app, "Training", env=ENV)
    network = MlNetwork(stack, "Net", settings=NetworkSettings(az_count=2, interface_endpoints=[]))
    activities = ["processing", "training", "pipeline"] + (["inference"] if inference else [])
    roles = SageMakerRoles(stack, "Roles", lake=lake, settings={a: RoleSettings() for a in activities}, network=network)
    registry = ModelRegistry(stack, "Registry", models=["churn"], name_prefix="t-dev")
    policy = iam.ManagedPolicy(stack, "Boundary", statements=[iam.PolicyStatement(actions=["s3:GetObject"], resources=["*"])]) if boundary else None
    personas = SageMakerPersonas(stack, "People", roles=roles, network=network, key=lake.encryption_key,
                                 registry=registry, models=["churn"], trusted_account=trusted_account,
                                 permissions_boundary=policy)
    return stack, personas, roles, Template.from_stack(stack).to_json()["Resources"]


@pytest.fixture(scope="module")
def built():
    return build()


def statements(stack, resources, role):
    return resources[stack.resolve(role.policy.node.default_child.logical_id)]["Properties"]["PolicyDocument"]["Statement"]


def actions(statement) -> list[str]:
    return [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]


def test_training_requires_the_platform_network_key_and_encrypted_traffic(built):
    stack, personas, _, resources = built
    found = statements(stack, resources, personas.data_scientist)
    [train] = [s for s in found if "sagemaker:CreateTrainingJob" in actions(s)]
    subnets = {stack.resolve(s.subnet_id)["Ref"] for s in personas._network.vpc.isolated_subnets}
    condition = train["Condition"]
    assert {v["Ref"] for v in condition["ForAllValues:StringEquals"]["sagemaker:VpcSubnets"]} == subnets
    assert len(condition["ForAllValues:StringEquals"]["sagemaker:VpcSecurityGroupIds"]) == 1
    assert condition["Null"] == {"sagemaker:VpcSubnets": "false", "sagemaker:VpcSecurityGroupIds": "false"}
    assert set(condition["StringEquals"]) == {"sagemaker:VolumeKmsKey", "sagemaker:OutputKmsKey"}
    assert condition["Bool"] == {"sagemaker:InterContainerTrafficEncryption": "true"}
    [process] = [s for s in found if "sagemaker:CreateProcessingJob" in actions(s)]
    assert "Bool" not in process["Condition"]  # processing has no inter-container encryption switch


def test_no_action_wildcards_and_star_only_for_reads(built):
    stack, personas, _, resources = built
    for person in (personas.data_scientist, personas.ml_engineer):
        for statement in statements(stack, resources, person):
            assert not [a for a in actions(statement) if "*" in a], statement
            if statement["Resource"] == "*":
                assert all(a.split(":")[1].startswith(("Describe", "List", "Search")) for a in actions(statement))


def test_people_pass_only_the_execution_roles_for_their_work(built):
    stack, personas, roles, resources = built
    def passed(person):
        found = set()
        for s in statements(stack, resources, person):
            if s["Action"] == "iam:PassRole":
                found |= {json.dumps(r) for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])}
        return found
    arn = lambda a: json.dumps({"Fn::GetAtt": [stack.resolve(roles.roles[a].node.default_child.logical_id), "Arn"]})
    assert passed(personas.data_scientist) == {arn("processing"), arn("training")}
    assert passed(personas.ml_engineer) == {arn("processing"), arn("training"), arn("inference")}


def test_only_the_ml_engineer_deploys_runs_pipelines_and_approves(built):
    stack, personas, _, resources = built
    scientist = {a for s in statements(stack, resources, personas.data_scientist) for a in actions(s)}
    engineer = {a for s in statements(stack, resources, personas.ml_engineer) for a in actions(s)}
    deploy = {"sagemaker:CreateModel", "sagemaker:CreateEndpoint", "sagemaker:StartPipelineExecution", "sagemaker:UpdateModelPackage"}
    assert deploy <= engineer and not deploy & scientist
    [config] = [s for s in statements(stack, resources, personas.ml_engineer) if "sagemaker:CreateEndpointConfig" in actions(s)]
    assert "sagemaker:VolumeKmsKey" in config["Condition"]["StringEquals"]


def test_trust_defaults_to_this_account_and_options_apply():
    stack, personas, _, resources = build(trusted_account="222222222222", boundary=True, inference=False)
    role = resources[stack.resolve(personas.ml_engineer.node.default_child.logical_id)]["Properties"]
    assert "222222222222" in json.dumps(role["AssumeRolePolicyDocument"])
    assert "PermissionsBoundary" in role
    engineer = {a for s in statements(stack, resources, personas.ml_engineer) for a in actions(s)}
    assert "iam:PassRole" in engineer


def test_default_trust_is_the_stack_account(built):
    stack, personas, _, resources = built
    role = resources[stack.resolve(personas.data_scientist.node.default_child.logical_id)]["Properties"]
    assert "111111111111" in json.dumps(role["AssumeRolePolicyDocument"])


def test_the_ml_engineer_may_deploy_and_update_an_endpoint_with_its_config(built):
    """CreateEndpoint and UpdateEndpoint authorize on the endpoint and on the endpoint config
    (Service Authorization Reference, Amazon SageMaker AI): both must be allowed."""
    stack, personas, _, resources = built
    policy = {"Statement": [Resolver(stack, None, ENV)(s) for s in statements(stack, resources, personas.ml_engineer)]}
    prefix = f"arn:aws:sagemaker:{ENV['region']}:{ENV['account']}"
    for action in ("sagemaker:CreateEndpoint", "sagemaker:UpdateEndpoint"):
        assert permitted(policy, action, f"{prefix}:endpoint/churn")
        assert permitted(policy, action, f"{prefix}:endpoint-config/churn-v2")
    assert permitted(policy, "sagemaker:DeleteEndpoint", f"{prefix}:endpoint/churn")
    assert not permitted(policy, "sagemaker:DeleteEndpoint", f"{prefix}:endpoint-config/churn-v2")
