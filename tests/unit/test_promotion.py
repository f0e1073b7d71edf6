"""ModelPromotion: approvals of one group write its approved-package parameter (and reach the
delivery bus); the state machine may write that one parameter only; failures reach the alert path."""

from __future__ import annotations

import json

import botocore.session
from botocore.validate import ParamValidator
import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Match, Template

from ml_platform.constructs.core.alerting import AlertRoutes
from ml_platform.constructs.core.keys import allow_cloudwatch_logs
from ml_platform.constructs.training.model_registry import ModelRegistry
from ml_platform.constructs.training.promotion import (
    FAILED_EXECUTION,
    PACKAGE_STATE_CHANGE,
    ModelPromotion,
    PromotionTarget,
    approved_package_parameter,
)
from tests.conftest import assert_gates_pass, synth_gated
from tests.iam_eval import Resolver, permitted

ENV = {"account": "111111111111", "region": "eu-west-1"}
GROUP = "t-dev-churn"
PARAMETER = "/t/dev/models/churn/approved-package"
PARAMETER_ARN = "arn:aws:ssm:eu-west-1:111111111111:parameter/t/dev/models/churn/approved-package"
BUS = "arn:aws:events:eu-west-1:222222222222:event-bus/t-delivery"


def build(scope, *, delivery_bus_arn: str | None = BUS) -> tuple[Stack, ModelPromotion]:
    stack = Stack(scope, "Training", env=ENV)
    key = kms.Key(stack, "AlertKey", enable_key_rotation=True)
    topic = sns.Topic(stack, "Topic", master_key=key, enforce_ssl=True)
    alerts = AlertRoutes(stack, "AlertRoutes", topic=topic, key=key)
    registry = ModelRegistry(stack, "Registry", models=["churn"], name_prefix="t-dev", alerts=alerts)
    logs_key = kms.Key(stack, "LogsKey", enable_key_rotation=True)
    allow_cloudwatch_logs(logs_key)
    target = PromotionTarget(prefix="t", environment="dev", delivery_bus_arn=delivery_bus_arn)
    promotion = ModelPromotion(stack, "ChurnPromotion", group_name=registry.groups["churn"].model_package_group_name,
                               parameter_name=target.parameter_name("churn"), alerts=alerts, logs_key=logs_key,
                               delivery_bus_arn=target.delivery_bus_arn)
    return stack, promotion


@pytest.fixture(scope="module")
def synthesized():
    stack, promotion = build(App())
    return stack, promotion, Template.from_stack(stack)


def _rules(template: Template, detail_type: str) -> list[dict]:
    return [r["Properties"] for r in template.find_resources("AWS::Events::Rule").values()
            if r["Properties"]["EventPattern"].get("detail-type") == [detail_type]]


def test_the_parameter_name_is_the_contract_one():
    assert approved_package_parameter("t", "dev", "churn") == PARAMETER


def test_approvals_of_the_group_start_the_state_machine_and_go_to_the_delivery_bus(synthesized):
    stack, promotion, template = synthesized
    approved = [r for r in _rules(template, PACKAGE_STATE_CHANGE)
                if r["EventPattern"]["detail"]["ModelApprovalStatus"] == ["Approved"]]
    assert len(approved) == 1
    rule = approved[0]
    assert rule["EventPattern"] == {"source": ["aws.sagemaker"], "detail-type": [PACKAGE_STATE_CHANGE],
                                    "detail": {"ModelPackageGroupName": [GROUP], "ModelApprovalStatus": ["Approved"]}}
    arns = [stack.resolve(t["Arn"]) for t in rule["Targets"]]
    assert {"Ref": stack.resolve(promotion.state_machine.node.default_child.logical_id)} in arns
    assert BUS in arns
    for target in rule["Targets"]:
        assert "RoleArn" in target and "Arn" in target["DeadLetterConfig"]


def test_the_bus_target_is_optional():
    stack, _ = build(App(), delivery_bus_arn=None)
    approved = [r for r in _rules(Template.from_stack(stack), PACKAGE_STATE_CHANGE)
                if r["EventPattern"]["detail"]["ModelApprovalStatus"] == ["Approved"]]
    assert len(approved[0]["Targets"]) == 1 and BUS not in json.dumps(approved[0]["Targets"])


def _definition(template: Template) -> dict:
    machine = next(iter(template.find_resources("AWS::StepFunctions::StateMachine").values()))["Properties"]
    _, parts = machine["DefinitionString"]["Fn::Join"]
    assert all(p == {"Ref": "AWS::Partition"} for p in parts if not isinstance(p, str))
    return json.loads("".join(p if isinstance(p, str) else "aws" for p in parts))


def test_the_state_machine_overwrites_the_parameter_with_the_events_package_arn(synthesized):
    stack, _, template = synthesized
    definition = _definition(template)
    (state,) = definition["States"].values()
    assert state["Type"] == "Task" and state["Resource"] == "arn:aws:states:::aws-sdk:ssm:putParameter"
    assert state["Parameters"]["Name"] == PARAMETER
    assert state["Parameters"]["Value.$"] == "$.detail.ModelPackageArn"
    assert state["Parameters"]["Overwrite"] is True and state["Parameters"]["Type"] == "String"
    assert state["Retry"][0]["ErrorEquals"] == ["States.ALL"]


def test_the_request_fits_botocores_put_parameter_model(synthesized):
    stack, _, template = synthesized
    (state,) = _definition(template)["States"].values()
    request = {k.removesuffix(".$"): v for k, v in state["Parameters"].items()}
    request["Value"] = "arn:aws:sagemaker:eu-west-1:111111111111:model-package/t-dev-churn/3"
    shape = botocore.session.get_session().get_service_model("ssm").operation_model("PutParameter").input_shape
    assert set(request) <= set(shape.members) and set(shape.required_members) <= set(request)
    assert shape.members["Overwrite"].type_name == "boolean" and isinstance(request["Overwrite"], bool)
    assert request["Type"] in shape.members["Type"].enum
    # the SDK integration passes the API's member names (PascalCase) as they are
    report = ParamValidator().validate(request, shape)
    assert not report.has_errors(), report.generate_report()


def test_the_state_machine_is_standard_traced_and_logs_everything_encrypted(synthesized):
    _, _, template = synthesized
    template.has_resource_properties("AWS::StepFunctions::StateMachine", {
        "StateMachineType": "STANDARD", "TracingConfiguration": {"Enabled": True},
        "LoggingConfiguration": Match.object_like({"Level": "ALL", "IncludeExecutionData": True})})
    template.has_resource_properties("AWS::Logs::LogGroup", {"KmsKeyId": Match.any_value()})


def test_the_state_machine_may_write_that_one_parameter_only(synthesized):
    stack, promotion, template = synthesized
    resources = template.to_json()["Resources"]
    policy = resources[stack.resolve(promotion.role.policy.node.default_child.logical_id)]
    document = Resolver(stack, None, ENV)(policy["Properties"]["PolicyDocument"])
    assert permitted(document, "ssm:PutParameter", PARAMETER_ARN)
    other = "arn:aws:ssm:eu-west-1:111111111111:parameter/t/dev/models/other/approved-package"
    assert not permitted(document, "ssm:PutParameter", other)
    ssm_actions = {a for s in document["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str)
                                                               else s["Action"]) if a.startswith("ssm:")}
    assert ssm_actions == {"ssm:PutParameter"}


def test_failed_promotions_and_rejections_reach_the_alert_topic(synthesized):
    stack, promotion, template = synthesized
    topic = {"Ref": stack.resolve(stack.node.find_child("Topic").node.default_child.logical_id)}
    failed = _rules(template, "Step Functions Execution Status Change")
    assert failed[0]["EventPattern"]["detail"]["status"] == list(FAILED_EXECUTION)
    assert failed[0]["EventPattern"]["detail"]["stateMachineArn"] == [
        {"Ref": stack.resolve(promotion.state_machine.node.default_child.logical_id)}]
    assert [stack.resolve(t["Arn"]) for t in failed[0]["Targets"]] == [topic]
    rejected = [r for r in _rules(template, PACKAGE_STATE_CHANGE)
                if "Rejected" in r["EventPattern"]["detail"]["ModelApprovalStatus"]]
    assert rejected[0]["EventPattern"]["detail"]["ModelPackageGroupName"] == [GROUP]
    assert [stack.resolve(t["Arn"]) for t in rejected[0]["Targets"]] == [topic]


def test_the_construct_creates_no_parameter(synthesized):
    """CloudFormation's update of an AWS::SSM::Parameter rewrites its value: the state machine owns it."""
    _, _, template = synthesized
    template.resource_count_is("AWS::SSM::Parameter", 0)


@pytest.mark.parametrize("kwargs, message", [
    ({"parameter_name": "models/churn"}, "parameter_name 'models/churn' is not an SSM parameter path"),
    ({"delivery_bus_arn": "t-delivery"}, "delivery_bus_arn 't-delivery' is not an event bus ARN"),
])
def test_bad_names_fail_in_one_line(kwargs, message):
    stack = Stack(App(), "Training", env=ENV)
    key = kms.Key(stack, "Key")
    alerts = AlertRoutes(stack, "AlertRoutes", topic=sns.Topic(stack, "Topic"), key=key)
    arguments = {"group_name": GROUP, "parameter_name": PARAMETER, "alerts": alerts, "logs_key": key, **kwargs}
    with pytest.raises(ValueError, match=f"^ModelPromotion Training/P: {message}") as error:
        ModelPromotion(stack, "P", **arguments)
    assert "\n" not in str(error.value)


@pytest.fixture(scope="module")
def gated(tmp_path_factory):
    return synth_gated(tmp_path_factory.mktemp("promotion-gated"), lambda stage: build(stage))


def test_the_gates_pass(gated):
    assert_gates_pass(gated)
