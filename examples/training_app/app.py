#!/usr/bin/env python3
"""A SageMaker training pipeline over a team's own VPC, lake, key and alert topic.

Install the library (``pip install 'sagemaker-ml-platform-cdk[all]'``: ``[rebalance]``
for SMOTE; the built-in XGBoost image URI comes from the library's table), then ``cdk synth``. The app creates the execution
roles (least privilege on the lake's prefixes), the model package group ``team-churn`` (approval
decisions go to the team's topic) and the pipeline ``team-churn``: it trains XGBoost on the CSV
training data under ``processed/churn/training/``, evaluates the model and registers it when its
AUC passes. The VPC, security group, buckets, key and topic are the team's own, imported by
attribute (no lookups: synth stays offline). The four cdk-nag packs gate synthesis.
"""

from aws_cdk import App, Environment, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from ml_platform.constructs.core import AlertRoutes
from ml_platform.constructs.lake import DataLake, Zone
from ml_platform.constructs.training import (
    LakeLocation,
    MlNetwork,
    ModelRegistry,
    PipelineSettings,
    RoleSettings,
    SageMakerRoles,
    TrainingPipeline,
)
from ml_platform.platform_app import ENFORCED_VALIDATION_CONTEXT, add_compliance_gates, synthesize

ACCOUNT, REGION = "111111111111", "eu-west-1"
#: The team's key. Its policy already lets EventBridge use it (it encrypts the alert topic and
#: the dead-letter queue of the registry's approval rule).
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555"
TRAINING_DATA = LakeLocation(zone="processed", prefix="churn/training/")


class ChurnTraining(Stack):
    """The pipeline ``team-churn`` and the model package group it registers versions in."""

    def __init__(self, scope: Construct, construct_id: str, *, env: Environment) -> None:
        super().__init__(scope, construct_id, env=env)
        key = kms.Key.from_key_arn(self, "TeamKey", KEY_ARN)
        lake = DataLake.from_existing(self, "Lake", encryption_key=key, buckets={
            Zone.PROCESSED: s3.Bucket.from_bucket_name(self, "ProcessedBucket", "team-churn-processed"),
            Zone.ARTIFACTS: s3.Bucket.from_bucket_name(self, "ArtifactsBucket", "team-churn-artifacts"),
        })
        vpc = ec2.Vpc.from_vpc_attributes(
            self, "Vpc", vpc_id="vpc-0a1b2c3d4e5f60718", availability_zones=[f"{REGION}a", f"{REGION}b"],
            isolated_subnet_ids=["subnet-0a1b2c3d4e5f60718", "subnet-0b1c2d3e4f5a60718"],
        )
        network = MlNetwork.from_existing(
            self, "Network", vpc=vpc, subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
            security_group=ec2.SecurityGroup.from_security_group_id(self, "JobsSg", "sg-0a1b2c3d4e5f60718"),
        )
        alerts = AlertRoutes(self, "Alerts", key=key, topic=sns.Topic.from_topic_arn(
            self, "AlertTopic", f"arn:aws:sns:{REGION}:{ACCOUNT}:team-ml-alerts"))
        # What each role needs beyond the pipeline's own grants (its work prefixes in artifacts).
        roles = SageMakerRoles(self, "Roles", lake=lake, network=network, settings={
            "processing": RoleSettings(reads=(TRAINING_DATA,)),
            "training": RoleSettings(),
            "pipeline": RoleSettings(),
        })
        registry = ModelRegistry(self, "Registry", models=["churn"], name_prefix="team", alerts=alerts)
        self.pipeline = TrainingPipeline(
            self, "Churn", lake=lake, roles=roles, network=network, registry=registry, name_prefix="team",
            settings=PipelineSettings(model="churn", input=TRAINING_DATA,
                                      hyperparameters={"objective": "binary:logistic", "num_round": 100}),
        )


# Fail `python app.py` and `cdk synth` on any unacknowledged cdk-nag finding, as the platform does.
app = App(context=ENFORCED_VALIDATION_CONTEXT)
ChurnTraining(app, "ChurnTraining", env=Environment(account=ACCOUNT, region=REGION))
add_compliance_gates(app)  # the four cdk-nag packs; acknowledgments written beside their resources
synthesize(app)
