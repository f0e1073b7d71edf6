"""BaselineCheck with a served model package version: what it copies, its grants, and misuse refused."""

from __future__ import annotations

import json

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Template

from ml_platform.constructs.core.keys import allow_cloudwatch_logs
from ml_platform.constructs.lake.data_lake import DataLake
from ml_platform.constructs.monitoring.baseline_check import BaselineCheck
from ml_platform.constructs.training.ml_network import MlNetwork, NetworkSettings
from ml_platform.constructs.training.sagemaker_roles import LakeLocation, LakeObject

ENV = {"account": "111111111111", "region": "eu-west-1"}
PACKAGE = "arn:aws:sagemaker:eu-west-1:111111111111:model-package/t-churn/7"
STATISTICS = LakeObject(zone="artifacts", key="churn/monitoring/baselines/data-quality/statistics.json")
BIAS = LakeObject(zone="artifacts", key="churn/monitoring/baselines/bias/constraints.json")
RUNS = LakeLocation(zone="artifacts", prefix="churn/pipeline/runs/")


def build(**options) -> tuple[Stack, BaselineCheck]:
    stack = Stack(App(), "S", env=ENV)
    lake = DataLake(stack, "Lake")
    key = kms.Key(stack, "Key")
    allow_cloudwatch_logs(key)
    check = BaselineCheck(stack, "Check", lake=lake, objects=[STATISTICS, BIAS], network=MlNetwork(
        stack, "Net", settings=NetworkSettings()), logs_key=key, **options)
    return stack, check


def test_without_a_package_nothing_is_copied_and_sagemaker_is_not_granted():
    stack, check = build()
    [resource] = Template.from_stack(stack).find_resources("Custom::MonitoringBaselines").values()
    assert set(resource["Properties"]) == {"ServiceToken", "Objects"}
    assert "sagemaker:" not in json.dumps(Template.from_stack(stack).find_resources("AWS::IAM::ManagedPolicy"))


def test_a_package_copies_its_registered_baselines_to_the_objects_and_may_only_describe_that_version():
    stack, check = build(model_package_arn=PACKAGE, copies={"ModelDataQuality.Statistics": STATISTICS},
                         registered_in=RUNS)
    template = Template.from_stack(stack)
    [resource] = template.find_resources("Custom::MonitoringBaselines").values()
    assert resource["Properties"]["ModelPackageArn"] == PACKAGE
    copies = json.dumps(resource["Properties"]["Copies"])
    assert "ModelDataQuality.Statistics" in copies and STATISTICS.key in copies
    policies = json.dumps(template.find_resources("AWS::IAM::ManagedPolicy"))
    assert '"Action": "sagemaker:DescribeModelPackage", "Effect": "Allow", "Resource": "' + PACKAGE + '"' in policies
    assert "churn/pipeline/runs/*" in policies  # reads the runs' outputs
    assert "churn/monitoring/baselines/data-quality/*" in policies and "s3:PutObject" in policies


@pytest.mark.parametrize("options, message", [
    ({"copies": {"ModelDataQuality.Statistics": STATISTICS}},
     "copies and registered_in need model_package_arn, the version whose baselines are copied"),
    ({"model_package_arn": PACKAGE, "registered_in": RUNS},
     "model_package_arn needs copies (what to copy where) and registered_in (where they lie)"),
    ({"model_package_arn": PACKAGE, "registered_in": RUNS, "copies": {
        "ModelQuality.Constraints": LakeObject(zone="artifacts", key="elsewhere/constraints.json")}},
     "copies: ModelQuality.Constraints goes to artifacts/elsewhere/constraints.json, which is not among objects"),
])
def test_misuse_is_refused_in_one_line(options, message):
    with pytest.raises(ValueError) as raised:
        build(**options)
    assert str(raised.value) == f"BaselineCheck S/Check: {message}"
