#!/usr/bin/env python3
"""Model Monitor on a team's endpoint, over the team's own VPC, lake, role, key and alert topic.

Install the library (``pip install sagemaker-ml-platform-cdk``: the analyzer image URI comes
from the library's table of SageMaker images), then ``cdk synth``. The app creates a daily data quality
schedule of the endpoint ``churn`` (which captures to ``raw/data-capture/churn/``), the function
that checks the baseline exists, and the alarms and rules that route violations and failed
executions to the team's topic. The VPC, security group, buckets, key, monitoring role and topic
are the team's own, imported by attribute (no lookups: synth stays offline). The four cdk-nag
packs gate synthesis.
"""

from aws_cdk import App, Environment, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from ml_platform.constructs.core import AlertRoutes
from ml_platform.constructs.lake import HOURLY, DataLake, LakeDataset, Zone
from ml_platform.constructs.monitoring import DataQuality, ModelMonitor, MonitorSettings
from ml_platform.constructs.training import LakeLocation, LakeObject, MlNetwork
from ml_platform.platform_app import ENFORCED_VALIDATION_CONTEXT, add_compliance_gates, synthesize

ACCOUNT, REGION = "111111111111", "eu-west-1"
#: The team's key. Its policy already lets CloudWatch Logs, CloudWatch alarms and EventBridge use
#: it (it encrypts the function logs, the alert topic and the dead-letter queue).
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555"
ENDPOINT = "churn"


class ChurnMonitoring(Stack):
    """Daily data quality checks of the endpoint ``churn`` against its training baseline."""

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
            security_group=ec2.SecurityGroup.from_security_group_id(self, "JobsSg", "sg-0a1b2c3d4e5f60718"),
        )
        # The team manages this role's policies (capture, baselines, reports): immutable, so that
        # nothing here edits it.
        role = iam.Role.from_role_arn(self, "MonitoringRole", f"arn:aws:iam::{ACCOUNT}:role/team-churn-monitoring",
                                      mutable=False)
        alerts = AlertRoutes(self, "Alerts", key=key, topic=sns.Topic.from_topic_arn(
            self, "AlertTopic", f"arn:aws:sns:{REGION}:{ACCOUNT}:team-ml-alerts"))
        # Where the endpoint captures: SageMaker writes <destination>/<endpoint>/<variant>/yyyy/mm/dd/hh/.
        capture = LakeDataset(Zone.RAW, f"data-capture/{ENDPOINT}/", "capture", ("variant", *HOURLY),
                              producer=f"data capture of endpoint {ENDPOINT}")
        baseline = "churn/baselines/v3/"
        self.monitor = ModelMonitor(
            self, "Monitor", endpoint_name=ENDPOINT, capture=capture, role=role, lake=lake, network=network,
            alerts=alerts, key=key,
            settings=MonitorSettings(
                data_quality=DataQuality(
                    constraints=LakeObject(zone="artifacts", key=f"{baseline}constraints.json"),
                    statistics=LakeObject(zone="artifacts", key=f"{baseline}statistics.json"),
                ),
                reports=LakeLocation(zone="artifacts", prefix="churn/monitoring/"),
            ),
        )


# Fail `python app.py` and `cdk synth` on any unacknowledged cdk-nag finding, as the platform does.
app = App(context=ENFORCED_VALIDATION_CONTEXT)
ChurnMonitoring(app, "ChurnMonitoring", env=Environment(account=ACCOUNT, region=REGION))
add_compliance_gates(app)  # the four cdk-nag packs; acknowledgments written beside their resources
synthesize(app)
