#!/usr/bin/env python3
"""Cataloging and preparing one dataset over the buckets, key and Glue databases a team already has.

Install the library (``pip install 'sagemaker-ml-platform-cdk[all]'``), then ``cdk synth``. A
``DatasetPipeline`` crawls the CSV files under ``raw/churn/``, converts them to Parquet under
``processed/churn/`` (checking Data Quality rules first) and crawls the result. The buckets, the
key and the catalog databases are the team's own, imported by name or ARN (synth stays offline).
The four cdk-nag packs gate synthesis.
"""

from aws_cdk import App, Environment, Stack
from aws_cdk import aws_glue as glue
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from ml_platform.constructs.lake import DataLake, Zone
from ml_platform.constructs.preparation import DatasetPipeline, DatasetSettings, GlueSecurity, QualitySettings
from ml_platform.platform_app import ENFORCED_VALIDATION_CONTEXT, add_compliance_gates, synthesize

ACCOUNT, REGION = "111111111111", "eu-west-1"
#: The team's lake key. Its policy already lets CloudWatch Logs of this account use it, so it
#: also encrypts the Glue logs and job bookmarks (an imported key's policy cannot be extended here).
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555"


class ChurnPreparation(Stack):
    """``raw/churn/*.csv`` to ``processed/churn/`` as Parquet, both cataloged."""

    def __init__(self, scope: Construct, construct_id: str, *, env: Environment) -> None:
        super().__init__(scope, construct_id, env=env)
        key = kms.Key.from_key_arn(self, "TeamKey", KEY_ARN)
        lake = DataLake.from_existing(self, "Lake", encryption_key=key, buckets={
            Zone.RAW: s3.Bucket.from_bucket_name(self, "RawBucket", "team-churn-raw"),
            Zone.PROCESSED: s3.Bucket.from_bucket_name(self, "ProcessedBucket", "team-churn-processed"),
        })
        # The team's catalog databases, by zone name.
        databases: dict[str, glue.IDatabase] = {
            zone: glue.Database.from_database_arn(
                self, f"{zone.title()}Database", f"arn:aws:glue:{REGION}:{ACCOUNT}:database/team_churn_{zone}")
            for zone in ("raw", "processed")
        }
        security = GlueSecurity(self, "GlueSecurity", data_key=key, logs_key=key, name="team-churn-glue")
        self.pipeline = DatasetPipeline(
            self, "Churn", dataset="churn", lake=lake, databases=databases, security=security,
            name_prefix="team", settings=DatasetSettings(
                format="csv",
                columns={"customer_id": "string", "tenure_months": "int", "monthly_charges": "double",
                         "churned": "boolean"},
                quality=QualitySettings(rules=('IsComplete "customer_id"', 'IsUnique "customer_id"')),
            ),
        )


# Fail `python app.py` and `cdk synth` on any unacknowledged cdk-nag finding, as the platform does.
app = App(context=ENFORCED_VALIDATION_CONTEXT)
ChurnPreparation(app, "ChurnPreparation", env=Environment(account=ACCOUNT, region=REGION))
add_compliance_gates(app)  # the four cdk-nag packs; acknowledgments written beside their resources
synthesize(app)
