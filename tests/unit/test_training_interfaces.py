"""The training constructs in a team's own CDK app: over its buckets, key, VPC, security group and
topic (``DataLake.from_existing``, ``MlNetwork.from_existing``, ``AlertRoutes``), with their grants
and metrics."""

from __future__ import annotations

import json

import pytest
from aws_cdk import App, Duration, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Template

from tests.iam_eval import Resolver, permitted

from ml_platform.constructs.core.alerting import AlertRoutes
from ml_platform.constructs.core.iam_roles import ManagedPolicyRole
from ml_platform.constructs.lake import DataLake
from ml_platform.constructs.training.image_repositories import PUSH_ACTIONS, ImageRepositories, RepositorySettings
from ml_platform.constructs.training.ml_network import MlNetwork
from ml_platform.constructs.training.model_registry import ModelRegistry
from ml_platform.constructs.training.sagemaker_personas import SageMakerPersonas
from ml_platform.constructs.training.sagemaker_roles import RoleSettings, SageMakerRoles
from ml_platform.constructs.training.training_pipeline import (
    DEFAULT_METRIC_PERIOD,
    PIPELINE_METRICS_NAMESPACE,
    PipelineSettings,
    TrainingPipeline,
)

ENV = {"account": "111111111111", "region": "eu-west-1"}
PREFIX = f"arn:aws:sagemaker:{ENV['region']}:{ENV['account']}"
KEY_ARN = "arn:aws:kms:eu-west-1:111111111111:key/team-key"
TOPIC_ARN = "arn:aws:sns:eu-west-1:111111111111:team-alerts"
SUBNETS = ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"]
GROUP_ID = "sg-0bbbbbbbbbbbbbbb1"
VPC_ID = "vpc-0ccccccccccccccc1"


def build(model: str = "churn", name_prefix: str = "t-dev", zones=("curated", "artifacts")):
    """Every training construct over what a team's app already has; nothing of the library's lake,
    network or alert path."""
    stack = Stack(App(), "Team", env=ENV)
    key = kms.Key.from_key_arn(stack, "TeamKey", KEY_ARN)
    lake = DataLake.from_existing(stack, "Lake", encryption_key=key, buckets={
        z: s3.Bucket.from_bucket_name(stack, f"Team{z}", f"team-{z}") for z in zones})
    vpc = ec2.Vpc.from_vpc_attributes(stack, "TeamVpc", vpc_id=VPC_ID, availability_zones=["eu-west-1a", "eu-west-1b"],
                                      isolated_subnet_ids=SUBNETS)
    network = MlNetwork.from_existing(
        stack, "Network", vpc=vpc, subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
        security_group=ec2.SecurityGroup.from_security_group_id(stack, "TeamGroup", GROUP_ID))
    alerts = AlertRoutes(stack, "Alerts", topic=sns.Topic.from_topic_arn(stack, "TeamTopic", TOPIC_ARN), key=key)
    images = ImageRepositories(stack, "Images", repositories={"trainer": RepositorySettings()}, name_prefix=name_prefix,
                               key=key)
    registry = ModelRegistry(stack, "Registry", models=[model], name_prefix=name_prefix, alerts=alerts)
    roles = SageMakerRoles(stack, "Roles", lake=lake, network=network, images=images,
                           settings={a: RoleSettings() for a in ("processing", "training", "pipeline")})
    pipeline = TrainingPipeline(stack, "Pipeline", lake=lake, roles=roles, network=network, registry=registry,
                                name_prefix=name_prefix, images=images,
                                settings=PipelineSettings(model=model, input={"zone": "curated", "prefix": "churn/"}))
    personas = SageMakerPersonas(stack, "People", roles=roles, network=network, key=key, registry=registry,
                                 models=[model])
    return stack, pipeline, roles, personas


@pytest.fixture(scope="module")
def built():
    stack, pipeline, roles, personas = build()
    starter = ManagedPolicyRole(stack, "Starter", assumed_by=iam.AccountRootPrincipal())
    reader = ManagedPolicyRole(stack, "Reader", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    builder = ManagedPolicyRole(stack, "Builder", assumed_by=iam.ServicePrincipal("codebuild.amazonaws.com"))
    grants = (pipeline.grant_start_execution(starter), pipeline.grant_read_model_artifacts(reader),
              stack.node.find_child("Images").grant_push(builder, "trainer"))
    metrics = (pipeline.metric_execution_failed(), pipeline.metric_execution_succeeded(),
               pipeline.metric_execution_duration())
    resources = Template.from_stack(stack).to_json()["Resources"]
    return stack, pipeline, roles, personas, (starter, reader, builder), grants, metrics, resources


def policy(stack, resources, role) -> dict:
    document = resources[stack.resolve(role.policy.node.default_child.logical_id)]["Properties"]["PolicyDocument"]
    return {"Statement": [Resolver(stack, None, ENV)(s) for s in document["Statement"]]}


def types(resources) -> list[str]:
    return sorted({r["Type"] for r in resources.values()})


def test_nothing_of_the_library_lake_network_or_alert_path_is_created(built):
    *_, resources = built
    made = types(resources)
    for absent in ("AWS::S3::Bucket", "AWS::EC2::VPC", "AWS::EC2::Subnet", "AWS::EC2::SecurityGroup",
                   "AWS::EC2::VPCEndpoint", "AWS::SNS::Topic", "AWS::KMS::Key", "AWS::Logs::LogGroup"):
        assert absent not in made
    assert {"AWS::SageMaker::Pipeline", "AWS::SageMaker::ModelPackageGroup", "AWS::ECR::Repository"} <= set(made)


def test_the_pipeline_runs_in_the_apps_subnets_group_buckets_and_key(built):
    stack, pipeline, *_ = built
    definition = stack.resolve(pipeline.definition)
    train = next(s for s in definition["Steps"] if s["Name"] == "Train")["Arguments"]
    assert train["VpcConfig"] == {"SecurityGroupIds": [GROUP_ID], "Subnets": SUBNETS}
    assert train["ResourceConfig"]["VolumeKmsKeyId"] == KEY_ARN and train["OutputDataConfig"]["KmsKeyId"] == KEY_ARN
    assert train["OutputDataConfig"]["S3OutputPath"] == "s3://team-artifacts/churn/pipeline/models"
    assert definition["Parameters"][0]["DefaultValue"] == "s3://team-curated/churn/"


def test_execution_roles_may_use_only_the_apps_subnets_and_group(built):
    stack, _, roles, _, _, _, _, resources = built
    document = policy(stack, resources, roles.roles["training"])
    subnet = f"arn:aws:ec2:eu-west-1:111111111111:subnet/{SUBNETS[0]}"
    assert permitted(document, "ec2:CreateNetworkInterface", subnet)
    assert permitted(document, "ec2:CreateNetworkInterface", f"arn:aws:ec2:eu-west-1:111111111111:security-group/{GROUP_ID}")
    assert not permitted(document, "ec2:CreateNetworkInterface", "arn:aws:ec2:eu-west-1:111111111111:subnet/subnet-0other")


def test_personas_require_the_apps_subnets_and_group(built):
    stack, _, _, personas, _, _, _, resources = built
    document = resources[stack.resolve(personas.data_scientist.policy.node.default_child.logical_id)]
    [train] = [s for s in document["Properties"]["PolicyDocument"]["Statement"] if s["Action"] == "sagemaker:CreateTrainingJob"]
    assert train["Condition"]["ForAllValues:StringEquals"] == {
        "sagemaker:VpcSubnets": SUBNETS, "sagemaker:VpcSecurityGroupIds": [GROUP_ID]}


def test_registry_decisions_go_to_the_apps_topic(built):
    *_, resources = built
    [rule] = [r for r in resources.values() if r["Type"] == "AWS::Events::Rule"]
    [target] = rule["Properties"]["Targets"]
    assert target["Arn"] == TOPIC_ARN and "DeadLetterConfig" in target


def test_grant_start_execution_starts_and_follows_this_pipeline_only(built):
    stack, _, _, _, (starter, _, _), grants, _, resources = built
    assert isinstance(grants[0], iam.Grant) and grants[0].success
    document = policy(stack, resources, starter)
    assert permitted(document, "sagemaker:StartPipelineExecution", f"{PREFIX}:pipeline/t-dev-churn")
    for action in ("sagemaker:DescribePipelineExecution", "sagemaker:ListPipelineExecutionSteps"):
        assert permitted(document, action, f"{PREFIX}:pipeline/t-dev-churn/execution/a1b2c3")
        assert not permitted(document, action, f"{PREFIX}:pipeline/t-dev-fraud/execution/a1b2c3")
    assert not permitted(document, "sagemaker:StartPipelineExecution", f"{PREFIX}:pipeline/t-dev-fraud")
    for action in ("sagemaker:StopPipelineExecution", "sagemaker:UpdatePipeline", "sagemaker:DeletePipeline"):
        assert not permitted(document, action, f"{PREFIX}:pipeline/t-dev-churn")


def test_grant_start_execution_names_the_pipeline_in_lower_case_as_sagemaker_does():
    stack, pipeline, *_ = build(model="Churn")
    starter = ManagedPolicyRole(stack, "Starter", assumed_by=iam.AccountRootPrincipal())
    pipeline.grant_start_execution(starter)
    document = policy(stack, Template.from_stack(stack).to_json()["Resources"], starter)
    assert permitted(document, "sagemaker:StartPipelineExecution", f"{PREFIX}:pipeline/t-dev-churn")
    # Metric dimensions keep the name as given.
    assert pipeline.metric_execution_failed().dimensions == {"PipelineName": "t-dev-Churn"}


def test_grant_read_model_artifacts_reads_what_the_pipeline_trains_only(built):
    stack, pipeline, _, _, (_, reader, _), grants, _, resources = built
    assert isinstance(grants[1], iam.Grant)
    document = policy(stack, resources, reader)
    model = "arn:aws:s3:::team-artifacts/churn/pipeline/models/pipelines-x-Train-y/output/model.tar.gz"
    assert permitted(document, "s3:GetObject", model)
    assert not permitted(document, "s3:PutObject", model)
    assert not permitted(document, "s3:GetObject", "arn:aws:s3:::team-artifacts/churn/pipeline/runs/x/test/test.csv")
    assert not permitted(document, "s3:GetObject", "arn:aws:s3:::team-curated/churn/train.csv")
    assert permitted(document, "kms:Decrypt", KEY_ARN, {"kms:ViaService": "s3.eu-west-1.amazonaws.com"})
    assert pipeline.model_artifacts.prefix == "churn/pipeline/models/"


def test_grant_push_pushes_to_one_repository(built):
    stack, _, _, _, (_, _, builder), grants, _, resources = built
    assert isinstance(grants[2], iam.Grant)
    statements = policy(stack, resources, builder)["Statement"]
    [push] = [s for s in statements if "ecr:PutImage" in s["Action"]]
    assert sorted(push["Action"]) == sorted(PUSH_ACTIONS)
    repository = stack.node.find_child("Images").repositories["trainer"]
    assert push["Resource"] == Resolver(stack, None, ENV)(stack.resolve(repository.repository_arn))
    assert any(s["Action"] == "ecr:GetAuthorizationToken" and s["Resource"] == "*" for s in statements)


def test_metrics_are_sagemakers_pipeline_metrics_and_create_nothing(built):
    *_, metrics, resources = built
    failed, succeeded, duration = metrics
    assert all(isinstance(m.namespace, str) and m.namespace == PIPELINE_METRICS_NAMESPACE == "AWS/Sagemaker/ModelBuildingPipeline"
               for m in metrics)
    assert [m.metric_name for m in metrics] == ["ExecutionFailed", "ExecutionSucceeded", "ExecutionDuration"]
    assert all(m.dimensions == {"PipelineName": "t-dev-churn"} for m in metrics)
    assert (failed.statistic, succeeded.statistic, duration.statistic) == ("Sum", "Sum", "Maximum")
    assert all(m.period.to_seconds() == DEFAULT_METRIC_PERIOD.to_seconds() == 300 for m in metrics)
    assert PIPELINE_METRICS_NAMESPACE not in json.dumps(resources)  # no alarm, rule or dashboard was made
    assert len([r for r in resources.values() if r["Type"] == "AWS::Events::Rule"]) == 1  # the registry's only


def test_metric_period_and_statistic_can_be_chosen(built):
    _, pipeline, *_ = built
    metric = pipeline.metric_execution_duration(statistic="Average", period=Duration.hours(1))
    assert (metric.statistic, metric.period.to_seconds()) == ("Average", 3600)


def test_a_lake_without_the_artifacts_zone_is_refused_in_one_line():
    with pytest.raises(ValueError) as caught:
        build(zones=("curated",))
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("ExistingLake Team/Lake: zone 'artifacts' has no bucket; this lake has curated")


@pytest.mark.parametrize(("call", "message"), [
    (lambda images, role: images.grant_pull(role, "serving"),
     "ImageRepositories Team/Images: repository 'serving' is unknown; allowed: trainer"),
    (lambda images, role: images.grant_push(role, "serving"),
     "ImageRepositories Team/Images: repository 'serving' is unknown; allowed: trainer"),
])
def test_unknown_repository_is_refused_in_one_line(call, message):
    stack = Stack(App(), "Team", env=ENV)
    images = ImageRepositories(stack, "Images", repositories={"trainer": RepositorySettings()}, name_prefix="t")
    role = iam.Role(stack, "Role", assumed_by=iam.AccountRootPrincipal())
    with pytest.raises(ValueError) as caught:
        call(images, role)
    assert str(caught.value) == message


@pytest.mark.parametrize("grant", ["grant_register", "grant_approve", "group_arn"])
def test_unknown_registry_model_is_refused_in_one_line(grant):
    stack = Stack(App(), "Team", env=ENV)
    registry = ModelRegistry(stack, "Registry", models=["churn"], name_prefix="t")
    role = iam.Role(stack, "Role", assumed_by=iam.AccountRootPrincipal())
    with pytest.raises(ValueError) as caught:
        getattr(registry, grant)(*(() if grant == "group_arn" else (role,)), "fraud")
    assert str(caught.value) == "ModelRegistry Team/Registry: model 'fraud' is unknown; allowed: churn"


@pytest.mark.parametrize(("with_registry", "message"), [
    (True, "SageMakerPersonas Team/People: models names 'fraud', which is not a model of the registry (churn)"),
    (False, "SageMakerPersonas Team/People: models names 'fraud', which is not a model of the registry "
            "(no registry given)"),
])
def test_personas_refuse_models_the_registry_does_not_have(with_registry, message):
    stack = Stack(App(), "Team", env=ENV)
    key = kms.Key.from_key_arn(stack, "TeamKey", KEY_ARN)
    lake = DataLake.from_existing(stack, "Lake", encryption_key=key,
                                  buckets={"curated": s3.Bucket.from_bucket_name(stack, "C", "team-curated")})
    vpc = ec2.Vpc.from_vpc_attributes(stack, "Vpc", vpc_id=VPC_ID, availability_zones=["eu-west-1a"],
                                      isolated_subnet_ids=SUBNETS[:1])
    network = MlNetwork.from_existing(stack, "Network", vpc=vpc,
                                      subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
                                      security_group=ec2.SecurityGroup.from_security_group_id(stack, "G", GROUP_ID))
    roles = SageMakerRoles(stack, "Roles", lake=lake, network=network, settings={"training": RoleSettings()})
    registry = ModelRegistry(stack, "Registry", models=["churn"], name_prefix="t") if with_registry else None
    with pytest.raises(ValueError) as caught:
        SageMakerPersonas(stack, "People", roles=roles, network=network, key=key, registry=registry, models=["fraud"])
    assert str(caught.value) == message
    assert json.dumps(str(caught.value)).count("\\n") == 0
