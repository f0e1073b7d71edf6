"""BatchTransform: the scheduled CreateTransformJob request, its roles, and its settings' rules."""

from __future__ import annotations

import json

import pytest
from aws_cdk import App, Stack
from aws_cdk.assertions import Template


from ml_platform.constructs.serving.batch_transform import BatchTransform, TransformSettings
from ml_platform.constructs.lake.data_lake import DataLake
from ml_platform.constructs.training.ml_network import MlNetwork, NetworkSettings
from ml_platform.constructs.training.sagemaker_roles import RoleSettings, SageMakerRoles
from ml_platform.constructs.serving.serving_model import ModelContainer, ModelSource

ENV = {"account": "111111111111", "region": "eu-west-1"}
PACKAGE = "arn:aws:sagemaker:eu-west-1:111111111111:model-package/t-churn/3"
BASE = {"schedule": "cron(0 2 * * ? *)", "input": {"zone": "curated", "prefix": "churn/scoring/"},
        "output": {"zone": "curated", "prefix": "churn/scores/"}, "instance_type": "ml.m5.xlarge"}


def build(name="t-churn-nightly", package=PACKAGE, *, model=None, **settings):
    app = App()
    lake = DataLake(Stack(app, "Lake", env=ENV), "Lake")
    stack = Stack(app, "Serving", env=ENV)
    network = MlNetwork(stack, "Net", settings=NetworkSettings(az_count=2, interface_endpoints=[]))
    roles = SageMakerRoles(stack, "Roles", lake=lake, settings={"inference": RoleSettings()}, network=network)
    batch = BatchTransform(stack, "Nightly", name=name, model=model or ModelSource.package(package),
                           settings=TransformSettings.model_validate({**BASE, **settings}),
                           role=roles.role("inference"), lake=lake, network=network)
    return stack, batch, Template.from_stack(stack).to_json()["Resources"]


def request(stack, batch) -> tuple[dict, str]:
    """The CreateTransformJob request, with each CloudFormation reference shown as ``<ref>``."""
    joined = stack.resolve(batch.schedule.node.default_child.target)["input"]["Fn::Join"][1]
    text = "".join(part if isinstance(part, str) else "<ref>" for part in joined)
    return json.loads(text), json.dumps(joined)


@pytest.fixture(scope="module")
def default():
    return build()


def test_schedule_starts_a_uniquely_named_job_in_the_vpc_with_the_lake_key(default):
    stack, batch, found = default
    body, raw = request(stack, batch)
    assert body["TransformJobName"] == "t-churn-nightly-<aws.scheduler.execution-id>"
    assert body["TransformInput"] == {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://<ref>/churn/scoring/"}},
                                      "ContentType": "text/csv", "SplitType": "Line"}
    assert body["TransformOutput"] == {"S3OutputPath": "s3://<ref>/churn/scores/<aws.scheduler.execution-id>/",
                                       "KmsKeyId": "<ref>", "AssembleWith": "Line"}
    assert body["TransformResources"] == {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeKmsKeyId": "<ref>"}
    assert (body["BatchStrategy"], body["MaxPayloadInMB"]) == ("MultiRecord", 6)
    assert raw.count("LakeKey") == 2 and raw.count("LakeCuratedBucket") == 2
    assert stack.resolve(batch.model.attr_model_name) in json.loads(raw)
    [schedule] = [r["Properties"] for r in found.values() if r["Type"] == "AWS::Scheduler::Schedule"]
    assert (schedule["ScheduleExpression"], schedule["ScheduleExpressionTimezone"]) == ("cron(0 2 * * ? *)", "UTC")
    assert schedule["Target"]["RetryPolicy"] == {"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": 2}
    assert ":scheduler:::aws-sdk:sagemaker:createTransformJob" in json.dumps(schedule["Target"]["Arn"])
    [model] = [r["Properties"] for r in found.values() if r["Type"] == "AWS::SageMaker::Model"]
    assert model["Containers"] == [{"ModelPackageName": PACKAGE}] and model["EnableNetworkIsolation"] is True
    assert len(model["VpcConfig"]["Subnets"]) == 2


def test_scheduler_role_may_only_start_jobs_of_its_prefix(default):
    _, _, found = default
    [role] = [r["Properties"] for k, r in found.items() if r["Type"] == "AWS::IAM::Role" and "SchedulerRole" in k]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Condition"] == {"StringEquals": {"aws:SourceAccount": "111111111111"}}
    [policy] = [r["Properties"] for k, r in found.items() if r["Type"] == "AWS::IAM::ManagedPolicy" and "SchedulerRole" in k]
    [statement] = policy["PolicyDocument"]["Statement"]
    assert sorted(statement["Action"]) == ["sagemaker:AddTags", "sagemaker:CreateTransformJob"]
    assert json.dumps(statement["Resource"]).endswith(':transform-job/t-churn-nightly-*"]]}')


def test_model_role_reads_the_input_and_writes_the_output(default):
    _, _, found = default
    statements = [s for k, r in found.items() if r["Type"] == "AWS::IAM::ManagedPolicy" and "Inference" in k
                  for s in r["Properties"]["PolicyDocument"]["Statement"]]
    reads = [s for s in statements if "s3:GetObject" in json.dumps(s["Action"])]
    writes = [s for s in statements if "s3:PutObject" in json.dumps(s["Action"])]
    assert any("churn/scoring/*" in json.dumps(s["Resource"]) for s in reads)
    assert all("churn/scores/*" in json.dumps(s["Resource"]) for s in writes) and writes


def test_options_time_zone_records_and_count():
    stack, batch, found = build(time_zone="Europe/Berlin", split_type="None", batch_strategy="SingleRecord",
                                instance_count=3, content_type="application/json", network_isolation=False,
                                max_payload_mb=20)
    body, _ = request(stack, batch)
    assert body["TransformInput"]["SplitType"] == "None" and body["TransformOutput"]["AssembleWith"] == "None"
    assert body["TransformInput"]["ContentType"] == "application/json"
    assert (body["BatchStrategy"], body["TransformResources"]["InstanceCount"]) == ("SingleRecord", 3)
    assert body["MaxPayloadInMB"] == 20
    [schedule] = [r["Properties"] for r in found.values() if r["Type"] == "AWS::Scheduler::Schedule"]
    assert schedule["ScheduleExpressionTimezone"] == "Europe/Berlin"
    assert batch.model.enable_network_isolation is False


@pytest.mark.parametrize(("changes", "message"), [
    ({"instance_type": "ml.t2.medium"}, "instance type 'ml.t2.medium' is not offered by SageMaker for batch transform"),
    ({"schedule": "daily"}, r"schedule 'daily' must look like cron.*\(evaluated in the time_zone setting\)"),
    ({"time_zone": "Mars/Olympus"}, "time zone 'Mars/Olympus' is unknown"),
    ({"input": {"zone": "gold", "prefix": "x/"}}, "'raw', 'processed', 'curated' or 'artifacts'"),
    ({"output": {"zone": "curated", "prefix": "scores"}}, "prefix 'scores' is invalid"),
    ({"split_type": "Comma"}, "'Line', 'RecordIO', 'TFRecord' or 'None'"),
    ({"max_payload_mb": 101}, "less than or equal to 100"),
])
def test_settings_errors(changes, message):
    with pytest.raises(ValueError, match=message):
        TransformSettings.model_validate({**BASE, **changes})


def test_construct_errors_name_the_construct_the_name_and_the_arn():
    with pytest.raises(ValueError) as caught:
        build(name="a-name-much-too-long-for-a-job-prefix", package="churn/3")
    assert str(caught.value).startswith(
        "BatchTransform Serving/Nightly: name 'a-name-much-too-long-for-a-job-prefix' is invalid; use letters, "
        "digits and '-', 26 characters at most; model_package_arn 'churn/3' is not the ARN of a model package version")


def test_environment_variables_reach_the_batch_model():
    _, batch, _ = build(environment={"SAGEMAKER_MODEL_SERVER_TIMEOUT": "300"})
    [container] = batch.model.containers
    assert container.environment == {"SAGEMAKER_MODEL_SERVER_TIMEOUT": "300"}


def test_a_batch_transform_may_run_containers_in_the_vpc():
    image = "111111111111.dkr.ecr.eu-west-1.amazonaws.com/churn:v7"
    model = ModelSource.pipeline(ModelContainer(image_uri=image, model_data_url="s3://bucket-a/churn/model.tar.gz"))
    _, _, found = build(model=model)
    [resource] = [r["Properties"] for r in found.values() if r["Type"] == "AWS::SageMaker::Model"]
    assert resource["Containers"] == [{"Image": image, "ModelDataUrl": "s3://bucket-a/churn/model.tar.gz"}]
    assert resource["EnableNetworkIsolation"] is True and "VpcConfig" in resource
    with pytest.raises(ValueError, match="BatchTransform Serving/Nightly: a model needs 1-15 containers, not 0"):
        build(model=ModelSource.pipeline())
