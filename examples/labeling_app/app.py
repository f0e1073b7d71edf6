#!/usr/bin/env python3
"""Ground Truth labeling over the buckets, key, VPC and workforce an ML team already has.

Install the library (``pip install 'sagemaker-ml-platform-cdk[all]'``), then ``cdk synth``. The
app creates the work team, its notification topic, the labeling task's two Lambda functions and
its execution role; the lake, key, network and private workforce are the team's own, imported by
attribute (no lookups: synth stays offline). The four cdk-nag packs gate synthesis.
"""

from aws_cdk import App, Environment, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from ml_platform.constructs.labeling import LabelingTask, LabelingWorkforce, TaskSettings, WorkforceSettings
from ml_platform.constructs.lake import DataLake, Zone
from ml_platform.constructs.training import MlNetwork
from ml_platform.platform_app import ENFORCED_VALIDATION_CONTEXT, add_compliance_gates, synthesize

ACCOUNT, REGION = "111111111111", "eu-west-1"
#: The team's key; its policy already lets CloudWatch Logs and SageMaker (work team
#: notifications) use it, so the constructs need not, and cannot, extend it.
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555"


class ScanLabeling(Stack):
    """Reviewers label the images under ``raw/labeling/scans/``; labels go to ``curated/labeling/labels/``."""

    def __init__(self, scope: Construct, construct_id: str, *, env: Environment) -> None:
        super().__init__(scope, construct_id, env=env)
        key = kms.Key.from_key_arn(self, "TeamKey", KEY_ARN)
        lake = DataLake.from_existing(self, "Lake", encryption_key=key, buckets={
            Zone.RAW: s3.Bucket.from_bucket_name(self, "RawBucket", "team-scans-raw"),
            Zone.CURATED: s3.Bucket.from_bucket_name(self, "CuratedBucket", "team-scans-curated"),
        })
        vpc = ec2.Vpc.from_vpc_attributes(
            self, "Vpc", vpc_id="vpc-0a1b2c3d4e5f60718", availability_zones=[f"{REGION}a", f"{REGION}b"],
            isolated_subnet_ids=["subnet-0a1b2c3d4e5f60718", "subnet-0b1c2d3e4f5a60718"],
        )
        network = MlNetwork.from_existing(
            self, "Network", vpc=vpc, subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
            security_group=ec2.SecurityGroup.from_security_group_id(self, "JobsSg", "sg-0a1b2c3d4e5f60718"),
        )
        self.workforce = LabelingWorkforce(
            self, "Workforce", name="scans", key=key, key_allows_sagemaker=True, domain_prefix="team-scans",
            settings=WorkforceSettings.model_validate({
                "teams": {"reviewers": {"description": "Radiologists who review scans"}},
                "existing": {"workforce_name": "team-workforce", "user_pool_id": f"{REGION}_AbC123dEf",
                             "client_id": "7abc123def456ghi789jkl0mno"},
            }),
        )
        # The raw bucket already has Ground Truth's CORS rule, set where the team defines it.
        self.task = LabelingTask(
            self, "Task", name="scans", lake=lake, network=network, key=key, input_cors_configured=True,
            settings=TaskSettings.model_validate({
                "input": {"zone": "raw", "prefix": "labeling/scans/"},
                "output": {"zone": "curated", "prefix": "labeling/labels/"},
                "labels": ["normal", "anomaly"],
            }),
        )


# Fail `python app.py` and `cdk synth` on any unacknowledged cdk-nag finding, as the platform does.
app = App(context=ENFORCED_VALIDATION_CONTEXT)
ScanLabeling(app, "ScanLabeling", env=Environment(account=ACCOUNT, region=REGION))
add_compliance_gates(app)  # the four cdk-nag packs; acknowledgments written beside their resources
synthesize(app)
