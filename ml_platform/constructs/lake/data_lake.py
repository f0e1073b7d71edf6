"""``DataLake``: the encrypted, versioned, access-logged S3 zones every other construct reads and writes.

Layout of a lake::

    raw/         data as it lands, <dataset>/year=YYYY/month=MM/day=DD/<files>
    processed/   cleaned, typed, partitioned data (Parquet), same layout
    curated/     data sets ready for training and analytics
    artifacts/   models, scripts, pipeline outputs
    access logs  S3 server access logs of the four buckets above (SSE-S3: S3 log delivery
                 cannot write to SSE-KMS buckets)

Every zone is read by the platform (:data:`ZONE_READERS`), so no zone's lifecycle may move objects
to an archive class (Glacier Flexible Retrieval, Deep Archive): reading them would fail with
``InvalidObjectState`` until each object is restored.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from typing import Literal

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from ml_platform.constructs.core.compliance import (
    acknowledge_compliance_rule,
    default_resource,
    explain_s3_auto_delete_provider,
    skip_checkov,
)
from ml_platform.constructs.lake.lake_lifecycle import LifecyclePolicy
from ml_platform.constructs.core.removal import data_removal_policy
from ml_platform.constructs.lake.lake_access import ExistingLake, ILake, Zone, ZoneAccess
from ml_platform.constructs.core.validation import check_problems

#: Default days S3 server access logs are kept (one year, the usual audit retention).
DEFAULT_ACCESS_LOG_RETENTION_DAYS = 365
#: Minimum TLS version the bucket policies require.
MINIMUM_TLS_VERSION = 1.2

_LOGS_USE_BUCKET_POLICY_FLAG = "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy"
_DATASET_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,127}$")


#: Zones that hold tables (the artifacts zone holds models and scripts), as settings name them.
DataZoneName = Literal["raw", "processed", "curated"]


#: Who reads each zone. Every zone is read, so none may transition objects to an archive class
#: (:data:`~ml_platform.constructs.lake.lake_lifecycle.ARCHIVE_CLASSES`).
ZONE_READERS: Mapping[Zone, str] = {
    Zone.RAW: "Glue crawlers and jobs, DataBrew jobs, monitors reading data capture and the feedback loop",
    Zone.PROCESSED: "Athena, Glue crawlers and training pipelines",
    Zone.CURATED: "Athena, Glue crawlers, training pipelines and monitors reading ground truth",
    Zone.ARTIFACTS: "endpoints loading model data at each scale-out, monitors reading baselines and pipelines",
}


def lifecycle_problems(
    lifecycle: LifecyclePolicy, zone_lifecycle: Mapping[Zone, LifecyclePolicy]
) -> list[str]:
    """``<key path>: <problem>`` for each archive transition of a lifecycle a read zone uses.

    Key paths are ``lifecycle.transitions[<i>].storage_class`` (checked only when some zone uses
    ``lifecycle``) and ``zone_lifecycle.<zone>.transitions[<i>].storage_class``.
    """
    defaulted = [zone.value for zone in ZONE_READERS if zone not in zone_lifecycle]
    reason = f"it applies to zones {', '.join(defaulted)}, which the platform reads"
    problems = [f"lifecycle.{p}" for p in lifecycle.archive_problems(reason)] if defaulted else []
    for zone, policy in zone_lifecycle.items():
        if zone in ZONE_READERS:
            reason = f"{zone.value} is read by {ZONE_READERS[zone]}"
            problems += [f"zone_lifecycle.{zone.value}.{p}" for p in policy.archive_problems(reason)]
    return problems


def dataset_prefix(dataset: str) -> str:
    """The key prefix of a dataset inside a zone: ``<dataset>/``.

    :raises ValueError: if ``dataset`` is not a lower-case name of letters, digits, ``_`` and ``-``
        (the names Glue and Athena accept as table names without quoting).
    """
    if not _DATASET_NAME.match(dataset):
        raise ValueError(
            f"dataset name {dataset!r} is invalid; use 1-128 lower-case letters, digits, '_' or '-', "
            "starting with a letter or digit"
        )
    return f"{dataset}/"


def partition_prefix(dataset: str, day: datetime.date) -> str:
    """The Hive-style daily partition of a dataset: ``<dataset>/year=YYYY/month=MM/day=DD/``.

    Glue crawlers discover ``year``, ``month`` and ``day`` as partition keys from this layout.
    """
    return f"{dataset_prefix(dataset)}year={day.year:04d}/month={day.month:02d}/day={day.day:02d}/"


class DataLake(ZoneAccess, Construct):
    """Zone buckets encrypted with one customer-managed KMS key, with access logs and lifecycle.

    Every zone bucket blocks public access, requires TLS 1.2 or newer, is versioned, has object
    ownership enforced (no ACLs), encrypts with the lake key and S3 bucket keys, logs access to
    :attr:`access_log_bucket` under ``<zone>/`` and applies its :class:`LifecyclePolicy`.

    :param encryption_key: key of every zone bucket. Default: a new customer-managed key with
        yearly automatic rotation.
    :param lifecycle: lifecycle of every zone. Default: ``LifecyclePolicy()`` (Standard-IA after 30
        days, Glacier Instant Retrieval after 90, noncurrent versions removed after 90 days,
        incomplete uploads aborted after 7).
    :param zone_lifecycle: per-zone replacements of ``lifecycle``. Default: none. Neither may
        transition a zone to ``GLACIER`` or ``DEEP_ARCHIVE``: every zone is read (:data:`ZONE_READERS`).
    :param access_log_retention_days: days access logs are kept. Default:
        :data:`DEFAULT_ACCESS_LOG_RETENTION_DAYS` (365).
    :param allow_data_deletion: whether this environment allows deleting the buckets, their
        objects and the key with the stack. Deletion also needs the context flag
        ``ml-platform:removeDataOnDestroy``; see :mod:`ml_platform.constructs.core.removal`. Default: False.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        encryption_key: kms.IKey | None = None,
        lifecycle: LifecyclePolicy | None = None,
        zone_lifecycle: Mapping[Zone, LifecyclePolicy] | Mapping[str, LifecyclePolicy] | None = None,
        access_log_retention_days: int = DEFAULT_ACCESS_LOG_RETENTION_DAYS,
        allow_data_deletion: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        # Grant S3 log delivery through the log bucket's policy, never through ACLs (which object
        # ownership "bucket owner enforced" disables), whatever the app's feature flags say.
        self.node.set_context(_LOGS_USE_BUCKET_POLICY_FLAG, True)
        lifecycles: dict[str, LifecyclePolicy] = {z: p for z, p in (zone_lifecycle or {}).items()}
        problems = [
            f"zone_lifecycle has unknown zone {z!r}; allowed: {', '.join(Zone)}"
            for z in lifecycles
            if z not in Zone.__members__.values()
        ]
        default_lifecycle = lifecycle or LifecyclePolicy()
        problems += lifecycle_problems(
            default_lifecycle, {Zone(z): p for z, p in lifecycles.items() if z in Zone.__members__.values()}
        )
        if not 1 <= access_log_retention_days <= 36500:
            problems.append(
                f"access_log_retention_days is {access_log_retention_days}; allowed: 1 to 36500"
            )
        check_problems(f"DataLake {self.node.path}", problems)

        self.removal_policy: RemovalPolicy = data_removal_policy(
            self, allow_data_deletion=allow_data_deletion
        )
        destroy = self.removal_policy == RemovalPolicy.DESTROY

        # pyright only: jsii renames the interface's parameters (aws/aws-cdk#15584)
        self.encryption_key: kms.IKey = encryption_key or kms.Key(  # pyright: ignore[reportAttributeAccessIssue]
            self,
            "Key",
            description=f"Encrypts the data lake zones of {self.node.path}",
            enable_key_rotation=True,
            removal_policy=self.removal_policy,
        )
        self.access_log_bucket = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            minimum_tls_version=MINIMUM_TLS_VERSION,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-access-logs",
                    expiration=Duration.days(access_log_retention_days),
                    noncurrent_version_expiration=Duration.days(1),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            removal_policy=self.removal_policy,
            auto_delete_objects=destroy,
        )
        acknowledge_compliance_rule(
            default_resource(self.access_log_bucket, s3.CfnBucket),
            "S3DefaultEncryptionKMS",
            "S3 server access logging cannot deliver to a bucket whose default encryption is SSE-KMS; "
            "this bucket uses SSE-S3 (AES-256), blocks public access and requires TLS.",
        )
        skip_checkov(
            default_resource(self.access_log_bucket, s3.CfnBucket),
            "CKV_AWS_18",
            "This is the access-log bucket of the lake; logging it into itself would loop.",
        )
        self._owner = f"DataLake {self.node.path}"
        self._owned: dict[Zone, s3.Bucket] = {}
        self._labeling_ui_zones: set[Zone] = set()
        for zone in Zone:
            policy = lifecycles.get(zone, default_lifecycle)
            self._owned[zone] = s3.Bucket(
                self,
                f"{zone.value.title()}Bucket",
                encryption=s3.BucketEncryption.KMS,
                encryption_key=self.encryption_key,
                bucket_key_enabled=True,
                block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
                enforce_ssl=True,
                minimum_tls_version=MINIMUM_TLS_VERSION,
                versioned=True,
                object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
                server_access_logs_bucket=self.access_log_bucket,
                server_access_logs_prefix=f"{zone.value}/",
                lifecycle_rules=[policy.to_rule()],
                removal_policy=self.removal_policy,
                auto_delete_objects=destroy,
            )
        if destroy:
            explain_s3_auto_delete_provider(Stack.of(self))
        self._buckets = dict(self._owned)
        for bucket in (self.access_log_bucket, *self._owned.values()):
            acknowledge_compliance_rule(
                default_resource(bucket, s3.CfnBucket),
                "S3BucketReplicationEnabled",
                "Recovery within the region relies on versioning (noncurrent versions kept per the "
                "lifecycle policy) and RETAIN on stack removal; cross-region replication needs a "
                "replica region and key chosen per environment and is not configured here.",
            )

    # -- access to the zones (bucket, s3_uri, grant_*, allow_labeling_ui: ZoneAccess) ------------

    @classmethod
    def from_existing(cls, scope: Construct, construct_id: str, *,
                      buckets: Mapping[Zone, s3.IBucket] | Mapping[str, s3.IBucket],
                      encryption_key: kms.IKey) -> ExistingLake:
        """A lake of buckets and a key the app already has, for the constructs that take a lake
        (:class:`~ml_platform.constructs.lake.lake_access.ILake`); nothing is created.

        :param buckets: the bucket of each zone the app uses, by zone name.
        :param encryption_key: the key that encrypts their objects.
        """
        return ExistingLake(scope, construct_id, buckets=buckets, encryption_key=encryption_key)

    @property
    def raw_bucket(self) -> s3.Bucket:
        """Data as it lands."""
        return self._owned[Zone.RAW]

    @property
    def processed_bucket(self) -> s3.Bucket:
        """Cleaned, typed and partitioned data."""
        return self._owned[Zone.PROCESSED]

    @property
    def curated_bucket(self) -> s3.Bucket:
        """Data sets ready for training and analytics."""
        return self._owned[Zone.CURATED]

    @property
    def artifacts_bucket(self) -> s3.Bucket:
        """Models, scripts and pipeline outputs."""
        return self._owned[Zone.ARTIFACTS]
