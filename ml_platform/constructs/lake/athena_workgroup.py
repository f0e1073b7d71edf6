"""``AthenaWorkgroup``: where analysts query the lake, with enforced, encrypted, capped settings."""

from __future__ import annotations

from typing import Annotated

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_athena as athena
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct
from pydantic import Field

from ml_platform.constructs.lake.s3_grants import check_prefix, grant_read_prefix, grant_write_prefix
from ml_platform.constructs.core.validation import StrictSettings

#: Athena's smallest per-query scan limit, in MB.
MIN_BYTES_SCANNED_CUTOFF_MB = 10
#: Default per-query scan limit: 10 GB.
DEFAULT_BYTES_SCANNED_CUTOFF_MB = 10_240


class AthenaSettings(StrictSettings):
    """:ivar bytes_scanned_cutoff_mb: a query that would scan more is cancelled. Default: 10240
    (10 GB); at least 10 (Athena's minimum)."""

    bytes_scanned_cutoff_mb: Annotated[int, Field(ge=MIN_BYTES_SCANNED_CUTOFF_MB, le=1_000_000_000)] = (
        DEFAULT_BYTES_SCANNED_CUTOFF_MB
    )


class AthenaWorkgroup(Construct):
    """An Athena workgroup whose settings clients cannot override.

    Results go to ``s3://<results_bucket>/<results_prefix>`` encrypted with ``key`` (SSE-KMS);
    CloudWatch metrics are published; Athena engine version 3.

    :param name: the workgroup's name, unique per account and region.
    :param results_bucket: bucket of query results (e.g. the lake's artifacts zone).
    :param results_prefix: prefix of the results. Default: ``athena-results/``.
    :param key: key of the results bucket.
    :param settings: per-query scan limit. Default: ``AthenaSettings()`` (10 GB).
    :param removal_policy: DESTROY also deletes saved queries and history. Default: RETAIN.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        results_bucket: s3.IBucket,
        key: kms.IKey,
        results_prefix: str = "athena-results/",
        settings: AthenaSettings | None = None,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        settings = settings or AthenaSettings()
        try:
            check_prefix(results_prefix)
        except ValueError as error:
            raise ValueError(f"AthenaWorkgroup {self.node.path}: results_{error}") from None
        self.results_bucket, self.results_prefix, self.key = results_bucket, results_prefix, key
        self.workgroup = athena.CfnWorkGroup(
            self,
            "WorkGroup",
            name=name,
            description=f"Queries over the lake ({self.node.path})",
            state="ENABLED",
            recursive_delete_option=removal_policy == RemovalPolicy.DESTROY,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=settings.bytes_scanned_cutoff_mb * 1_000_000,
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(
                    selected_engine_version="Athena engine version 3"
                ),
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=f"s3://{results_bucket.bucket_name}/{results_prefix}",
                    expected_bucket_owner=Stack.of(self).account,
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_KMS", kms_key=key.key_arn
                    ),
                ),
            ),
        )
        self.workgroup.apply_removal_policy(removal_policy)
        self.name = name

    @property
    def workgroup_arn(self) -> str:
        return Stack.of(self).format_arn(service="athena", resource="workgroup", resource_name=self.name)

    def grant_query(self, grantee: iam.IGrantable) -> iam.Grant:
        """Run queries in this workgroup and read and write its results.

        Reading the queried tables and their data is granted separately (catalog and lake).
        """
        grant = iam.Grant.add_to_principal(
            grantee=grantee,
            actions=[
                "athena:StartQueryExecution", "athena:StopQueryExecution",
                "athena:GetQueryExecution", "athena:GetQueryResults", "athena:GetWorkGroup",
            ],
            resource_arns=[self.workgroup_arn],
        )
        results = grant_read_prefix(grantee, self.results_bucket, self.key, self.results_prefix)
        writes = grant_write_prefix(grantee, self.results_bucket, self.key, self.results_prefix)
        return grant.combine(results).combine(writes)
