#!/usr/bin/env python3
"""A real-time endpoint serving an approved registry version, on a team's own VPC, lake, role and topic.

Install the library (``pip install 'sagemaker-ml-platform-cdk[all]'``), then ``cdk synth``. The
app creates the SageMaker model, endpoint configuration and endpoint (blue/green canary
deployments with auto-rollback alarms, autoscaling, data capture to ``raw/data-capture/churn/``)
and its alarms. The VPC, security group, buckets, key, inference role and alert topic are the
team's own, imported by attribute (no lookups: synth stays offline). The four cdk-nag packs gate
synthesis.
"""

from aws_cdk import App, Environment, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from ml_platform.constructs.core import AlertRoutes
from ml_platform.constructs.lake import DataLake, LakeDataset, Zone
from ml_platform.constructs.serving import AutoScalingSettings, EndpointSettings, ModelEndpoint, ModelSource
from ml_platform.constructs.training import MlNetwork
from ml_platform.platform_app import ENFORCED_VALIDATION_CONTEXT, add_compliance_gates, synthesize

ACCOUNT, REGION = "111111111111", "eu-west-1"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555"
#: Version 3 of the team's model package group, approved in the registry.
MODEL_PACKAGE_ARN = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/team-churn/3"


class ChurnServing(Stack):
    """The endpoint ``churn`` of model package ``team-churn/3``."""

    def __init__(self, scope: Construct, construct_id: str, *, env: Environment) -> None:
        super().__init__(scope, construct_id, env=env)
        key = kms.Key.from_key_arn(self, "TeamKey", KEY_ARN)
        lake = DataLake.from_existing(self, "Lake", encryption_key=key, buckets={
            Zone.RAW: s3.Bucket.from_bucket_name(self, "RawBucket", "team-churn-raw"),
            Zone.ARTIFACTS: s3.Bucket.from_bucket_name(self, "ArtifactsBucket", "team-churn-artifacts"),
        })
        vpc = ec2.Vpc.from_vpc_attributes(
            self, "Vpc", vpc_id="vpc-0a1b2c3d4e5f60718", availability_zones=[f"{REGION}a", f"{REGION}b"],
            isolated_subnet_ids=["subnet-0a1b2c3d4e5f60718", "subnet-0b1c2d3e4f5a60718"],
        )
        network = MlNetwork.from_existing(
            self, "Network", vpc=vpc, subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
            security_group=ec2.SecurityGroup.from_security_group_id(self, "EndpointSg", "sg-0a1b2c3d4e5f60718"),
        )
        # The team manages this role's policies (model artifacts, image pull, capture prefix):
        # immutable, so that nothing here edits it.
        role = iam.Role.from_role_arn(self, "InferenceRole", f"arn:aws:iam::{ACCOUNT}:role/team-churn-inference",
                                      mutable=False)
        alerts = AlertRoutes(self, "Alerts", key=key, topic=sns.Topic.from_topic_arn(
            self, "AlertTopic", f"arn:aws:sns:{REGION}:{ACCOUNT}:team-ml-alerts"))
        self.endpoint = ModelEndpoint(
            self, "Churn", name="churn", role=role, lake=lake, network=network, alerts=alerts,
            model=ModelSource.package(MODEL_PACKAGE_ARN, artifacts=LakeDataset(
                Zone.ARTIFACTS, "churn/pipeline/models/", "model", producer="the team's training pipeline")),
            settings=EndpointSettings(
                instance_type="ml.m5.large",
                autoscaling=AutoScalingSettings(min_capacity=2, max_capacity=4, max_rps_per_instance=20),
            ),
        )


# Fail `python app.py` and `cdk synth` on any unacknowledged cdk-nag finding, as the platform does.
app = App(context=ENFORCED_VALIDATION_CONTEXT)
ChurnServing(app, "ChurnServing", env=Environment(account=ACCOUNT, region=REGION))
add_compliance_gates(app)  # the four cdk-nag packs; acknowledgments written beside their resources
synthesize(app)
