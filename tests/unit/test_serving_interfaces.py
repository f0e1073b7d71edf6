"""Serving constructs in a team's own CDK app: built over the app's buckets, key, VPC, security
group, alert topic and role, they create none of the platform's lake or network, and their grants
and metrics name the app's resources."""

from __future__ import annotations

import json

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Template

from ml_platform.constructs.core.alerting import AlertRoutes
from ml_platform.constructs.core.validation import SettingsError
from ml_platform.constructs.lake import DataLake
from ml_platform.constructs.serving import BatchTransform, EndpointSettings, ModelEndpoint, ModelSource, TransformSettings
from ml_platform.constructs.serving.model_endpoint import INSTANCE_NAMESPACE
from ml_platform.constructs.training.ml_network import MlNetwork
from tests.iam_eval import Resolver, permitted

ENV = {"account": "111111111111", "region": "eu-west-1"}
PACKAGE = "arn:aws:sagemaker:eu-west-1:111111111111:model-package/t-churn/3"
LAKE_KEY = "arn:aws:kms:eu-west-1:111111111111:key/team-lake-key"
ALERTS_KEY = "arn:aws:kms:eu-west-1:111111111111:key/team-alerts-key"
TOPIC = "arn:aws:sns:eu-west-1:111111111111:team-alerts"
ROLE = "arn:aws:iam::111111111111:role/team-inference"
SUBNETS = ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"]
SECURITY_GROUP = "sg-0bbbbbbbbbbbbbbb1"
S3_VIA = {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}
#: What the library would create for its own lake and network; an app's resources replace them.
PLATFORM_TYPES = ("AWS::S3::Bucket", "AWS::EC2::VPC", "AWS::EC2::Subnet", "AWS::EC2::SecurityGroup",
                  "AWS::EC2::VPCEndpoint", "AWS::KMS::Key", "AWS::SNS::Topic")
BATCH = {"schedule": "cron(0 2 * * ? *)", "input": {"zone": "raw", "prefix": "churn/scoring/"},
         "output": {"zone": "curated", "prefix": "churn/scores/"}, "instance_type": "ml.m5.xlarge"}


def team_app():
    """A stack holding only what a team's app already has, and the parts built over it."""
    stack = Stack(App(), "Team", env=ENV)
    lake = DataLake.from_existing(
        stack, "Lake", encryption_key=kms.Key.from_key_arn(stack, "LakeKey", LAKE_KEY),
        buckets={z: s3.Bucket.from_bucket_name(stack, f"{z}Bucket", f"team-{z}") for z in ("raw", "curated")})
    vpc = ec2.Vpc.from_vpc_attributes(stack, "Vpc", vpc_id="vpc-0ccccccccccccccc1",
                                      availability_zones=["eu-west-1a", "eu-west-1b"],
                                      isolated_subnet_ids=SUBNETS)
    network = MlNetwork.from_existing(
        stack, "Net", vpc=vpc, subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
        security_group=ec2.SecurityGroup.from_security_group_id(stack, "Group", SECURITY_GROUP))
    alerts = AlertRoutes(stack, "Alerts", topic=sns.Topic.from_topic_arn(stack, "Topic", TOPIC),
                         key=kms.Key.from_key_arn(stack, "AlertsKey", ALERTS_KEY))
    role = iam.Role.from_role_arn(stack, "Inference", ROLE)
    return stack, {"lake": lake, "network": network, "alerts": alerts, "role": role}


def endpoint(**settings) -> tuple[Stack, ModelEndpoint]:
    stack, parts = team_app()
    return stack, ModelEndpoint(stack, "Churn", name="Team-Churn", model=ModelSource.package(PACKAGE),
                                settings=EndpointSettings.model_validate(settings), **parts)


def batch(**settings) -> tuple[Stack, BatchTransform]:
    stack, parts = team_app()
    return stack, BatchTransform(stack, "Nightly", name="t-churn-nightly", model=ModelSource.package(PACKAGE),
                                 settings=TransformSettings.model_validate({**BATCH, **settings}), **parts)


def synth(stack: Stack) -> dict[str, dict]:
    """The stack's resources (synthesize once: grants come before)."""
    return Template.from_stack(stack).to_json()["Resources"]


def of_type(found: dict[str, dict], kind: str) -> list[dict]:
    return [r["Properties"] for r in found.values() if r["Type"] == kind]


def policy_of(stack: Stack, found: dict[str, dict], grantee: iam.IRole | str) -> dict:
    """Every statement the stack's policies give ``grantee`` (a role, or an imported role's name),
    with tokens resolved."""
    name = json.dumps(grantee if isinstance(grantee, str) else stack.resolve(grantee.role_name))
    statements = [s for r in found.values() if r["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
                  and name in json.dumps(r["Properties"].get("Roles", []))
                  for s in r["Properties"]["PolicyDocument"]["Statement"]]
    return Resolver(stack, None, ENV)({"Statement": statements})


@pytest.fixture(scope="module")
def asynchronous():
    """An asynchronous endpoint scaling to zero over the app's resources, and a client granted it."""
    stack, built = endpoint(instance_type="ml.m5.large", initial_instance_count=1, guardrails={"traffic": "all_at_once"},
                            async_inference={"input": {"zone": "raw", "prefix": "churn/requests/"},
                                             "output": {"zone": "curated", "prefix": "churn/responses/"},
                                             "scaling": {"min_capacity": 0, "max_capacity": 2,
                                                         "backlog_per_instance": 5}})
    client = iam.Role(stack, "Client", assumed_by=iam.AccountRootPrincipal())
    grant = built.grant_invoke(client)
    return stack, built, client, grant, synth(stack)


def test_an_async_endpoint_over_the_apps_resources_creates_no_lake_network_or_key(asynchronous):
    stack, built, _, _, found = asynchronous
    assert {r["Type"] for r in found.values()}.isdisjoint(PLATFORM_TYPES[:-1])
    [model] = of_type(found, "AWS::SageMaker::Model")
    assert model["VpcConfig"] == {"Subnets": SUBNETS, "SecurityGroupIds": [SECURITY_GROUP]}
    assert model["ExecutionRoleArn"] == ROLE
    [config] = of_type(found, "AWS::SageMaker::EndpointConfig")
    assert config["KmsKeyId"] == LAKE_KEY
    output = config["AsyncInferenceConfig"]["OutputConfig"]
    assert (output["S3OutputPath"], output["KmsKeyId"]) == ("s3://team-curated/churn/responses/", LAKE_KEY)
    assert config["DataCaptureConfig"]["DestinationS3Uri"] == "s3://team-raw/data-capture/"


def test_the_async_results_topic_is_the_only_topic_and_uses_the_alerts_key(asynchronous):
    stack, built, _, _, found = asynchronous
    [topic] = of_type(found, "AWS::SNS::Topic")
    assert topic["KmsMasterKeyId"] == ALERTS_KEY
    [config] = of_type(found, "AWS::SageMaker::EndpointConfig")
    notification = config["AsyncInferenceConfig"]["OutputConfig"]["NotificationConfig"]
    assert notification["SuccessTopic"] == notification["ErrorTopic"] == stack.resolve(built.results_topic.topic_arn)
    policy = policy_of(stack, found, ROLE.rpartition("/")[2])
    assert permitted(policy, "kms:GenerateDataKey", ALERTS_KEY)
    assert permitted(policy, "sns:Publish", f"ref-{stack.resolve(built.results_topic.topic_arn)['Ref']}")


def test_the_imported_role_gets_the_apps_buckets_and_key(asynchronous):
    stack, built, _, _, found = asynchronous
    policy = policy_of(stack, found, ROLE.rpartition("/")[2])
    assert permitted(policy, "s3:PutObject", "arn:aws:s3:::team-raw/data-capture/Team-Churn/AllTraffic/x.jsonl")
    assert permitted(policy, "s3:GetObject", "arn:aws:s3:::team-raw/churn/requests/r1.json")
    assert permitted(policy, "s3:PutObject", "arn:aws:s3:::team-curated/churn/responses/r1.out")
    assert permitted(policy, "kms:Decrypt", LAKE_KEY, S3_VIA)
    assert not permitted(policy, "s3:PutObject", "arn:aws:s3:::team-curated/other/r1.out")


def test_async_grant_invoke_names_the_lowercase_endpoint_arn_and_the_apps_locations(asynchronous):
    stack, built, client, grant, found = asynchronous
    assert isinstance(grant, iam.Grant) and grant.success
    policy = policy_of(stack, found, client)
    arn = "arn:aws:sagemaker:eu-west-1:111111111111:endpoint/team-churn"
    assert Resolver(stack, None, ENV)(stack.resolve(built.endpoint_arn)) == arn
    assert permitted(policy, "sagemaker:InvokeEndpointAsync", arn)
    assert not permitted(policy, "sagemaker:InvokeEndpoint", arn)
    assert not permitted(policy, "sagemaker:InvokeEndpointAsync", arn.replace("team-churn", "other"))
    assert permitted(policy, "s3:PutObject", "arn:aws:s3:::team-raw/churn/requests/r1.json")
    assert permitted(policy, "s3:GetObject", "arn:aws:s3:::team-curated/churn/responses/failures/r1.out")
    assert permitted(policy, "kms:GenerateDataKey", LAKE_KEY, S3_VIA)


def test_backlog_metric_names_only_the_endpoint(asynchronous):
    built = asynchronous[1]
    backlog = built.metric_backlog()
    assert isinstance(backlog, cloudwatch.Metric)
    assert (backlog.namespace, backlog.metric_name, backlog.statistic) == ("AWS/SageMaker", "ApproximateBacklogSize", "Average")
    assert backlog.dimensions == {"EndpointName": "Team-Churn"}


def test_real_time_grant_invoke_and_every_metric_name_the_variant_and_create_nothing():
    stack, built = endpoint(instance_type="ml.m5.large", initial_instance_count=2)
    client = iam.Role(stack, "Client", assumed_by=iam.AccountRootPrincipal())
    built.grant_invoke(client)
    children = len(stack.node.find_all())
    metrics = {
        "Invocations": built.metric_invocations(),
        "Invocation4XXErrors": built.metric_4xx_errors(),
        "Invocation5XXErrors": built.metric_5xx_errors(),
        "ModelLatency": built.metric_model_latency(),
    }
    cpu = built.metric_instance("CPUUtilization")
    assert len(stack.node.find_all()) == children  # metrics create nothing
    found = synth(stack)
    policy = policy_of(stack, found, client)
    arn = "arn:aws:sagemaker:eu-west-1:111111111111:endpoint/team-churn"
    assert permitted(policy, "sagemaker:InvokeEndpoint", arn)
    assert not permitted(policy, "sagemaker:InvokeEndpointAsync", arn)
    assert not any("s3:" in json.dumps(s["Action"]) for s in policy["Statement"])
    for name, metric in metrics.items():
        assert isinstance(metric, cloudwatch.Metric)
        assert (metric.namespace, metric.metric_name) == ("AWS/SageMaker", name)
        assert metric.dimensions == {"EndpointName": "Team-Churn", "VariantName": "AllTraffic"}
        assert metric.period.to_seconds() == 60
    assert metrics["ModelLatency"].statistic == "p99" and metrics["Invocation4XXErrors"].statistic == "Sum"
    assert (cpu.namespace, cpu.statistic, cpu.period.to_seconds()) == (INSTANCE_NAMESPACE, "Average", 300)
    assert cpu.dimensions == {"EndpointName": "Team-Churn", "VariantName": "AllTraffic"}


# -- batch transform ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def nightly():
    """A batch transform over the app's resources, and a consumer granted its output."""
    stack, built = batch()
    consumer = iam.Role(stack, "Consumer", assumed_by=iam.AccountRootPrincipal())
    grant = built.grant_read_output(consumer)
    return stack, built, consumer, grant, synth(stack)


def test_a_batch_transform_over_the_apps_resources_creates_no_lake_network_or_key(nightly):
    stack, built, _, _, found = nightly
    assert {r["Type"] for r in found.values()}.isdisjoint(PLATFORM_TYPES)
    [model] = of_type(found, "AWS::SageMaker::Model")
    assert model["VpcConfig"] == {"Subnets": SUBNETS, "SecurityGroupIds": [SECURITY_GROUP]}
    target = json.dumps(stack.resolve(built.schedule.node.default_child.target))
    assert "s3://team-raw/churn/scoring/" in target and "s3://team-curated/churn/scores/" in target
    assert target.count(LAKE_KEY) == 2
    [schedule] = of_type(found, "AWS::Scheduler::Schedule")
    assert "DeadLetterConfig" in schedule["Target"]
    assert permitted(policy_of(stack, found, built.role), "kms:GenerateDataKey", ALERTS_KEY)


def test_grant_read_output_lets_a_consumer_read_every_runs_results_and_nothing_else(nightly):
    stack, _, consumer, grant, found = nightly
    assert isinstance(grant, iam.Grant) and grant.success
    policy = policy_of(stack, found, consumer)
    assert permitted(policy, "s3:GetObject", "arn:aws:s3:::team-curated/churn/scores/run-1/part-0.csv.out")
    assert permitted(policy, "kms:Decrypt", LAKE_KEY, S3_VIA)
    assert not permitted(policy, "s3:GetObject", "arn:aws:s3:::team-raw/churn/scoring/part-0.csv")
    assert not permitted(policy, "s3:PutObject", "arn:aws:s3:::team-curated/churn/scores/run-1/part-0.csv.out")
    assert not permitted(policy, "s3:GetObject", "arn:aws:s3:::team-curated/churn/other/x")


@pytest.mark.parametrize("output", [
    {"zone": "raw", "prefix": "churn/scoring/"},
    {"zone": "raw", "prefix": "churn/scoring/scores/"},
])
def test_an_output_inside_the_input_is_refused_in_one_line(output):
    with pytest.raises(SettingsError) as caught:
        TransformSettings(**{**BATCH, "output": output})
    assert str(caught.value) == (
        f"TransformSettings: (top level): output raw/{output['prefix']} lies inside input raw/churn/scoring/, so each "
        "run would score the previous runs' results; give an output location outside the input")


@pytest.mark.parametrize("output", [
    {"zone": "curated", "prefix": "churn/scoring/"},
    {"zone": "raw", "prefix": "churn/scores/"},
    {"zone": "raw", "prefix": "churn/"},
])
def test_an_output_beside_or_above_the_input_is_allowed(output):
    assert TransformSettings(**{**BATCH, "output": output}).output.prefix == output["prefix"]


def test_a_zone_the_apps_lake_lacks_is_refused_in_one_line():
    with pytest.raises(ValueError, match=r"^ExistingLake Team/Lake: zone 'processed' has no bucket; this lake has "
                                         r"raw, curated$"):
        batch(output={"zone": "processed", "prefix": "churn/scores/"})
