"""Audit and governance: :class:`AuditTrail` (CloudTrail), :class:`CatalogEncryption` (Glue Data
Catalog encryption settings) and :class:`CostBudget` (AWS Budgets), with the statements that let
AWS Budgets publish to the platform's alert path (:func:`allow_budgets_to_publish`).

Sources: CloudTrail user guide, "Configure AWS KMS key policies for CloudTrail" and "Amazon S3
bucket policy for CloudTrail" (``aws:SourceArn`` of the trail on every statement); Glue developer
guide, "Setting up encryption in AWS Glue" (what callers of an SSE-KMS catalog need) and
"Encrypting your Data Catalog"; Glue API reference, ``EncryptionAtRest`` (``CatalogEncryptionServiceRole``:
the role Glue assumes to encrypt and decrypt catalog objects on the caller's behalf) and
``ConnectionPasswordEncryption`` (who needs the password key); Cost
Management user guide, "Creating an Amazon SNS topic for budget notifications"; SNS developer guide,
"Key management" (event sources of AWS services and encrypted topics).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import get_args

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_budgets as budgets
from aws_cdk import aws_cloudtrail as cloudtrail
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from ml_platform.constructs.core.alerting import AlertPath
from ml_platform.constructs.core.compliance import (
    acknowledge,
    acknowledge_compliance_rule,
    default_resource,
    explain_s3_auto_delete_provider,
    skip_checkov,
)
from ml_platform.constructs.core.governance_settings import (
    TRAIL_NONCURRENT_VERSION_DAYS,
    BudgetSettings,
    LogRetentionDays,
    TrailSettings,
)
from ml_platform.constructs.core.iam_roles import ManagedPolicyRole
from ml_platform.constructs.core.keys import allow_cloudwatch_logs
from ml_platform.constructs.core.validation import check_problems

#: Key actions every principal that reads or writes an SSE-KMS Data Catalog needs on its key, and what
#: the catalog's service role is allowed in mode SSE-KMS-WITH-SERVICE-ROLE.
CATALOG_KEY_ACTIONS = ("kms:GenerateDataKey", "kms:Decrypt", "kms:Encrypt")
#: Key actions AWS Budgets needs to publish to an SSE-KMS topic (SNS: event sources of AWS services).
BUDGETS_KEY_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey*")
#: Trail management API calls that stop or change what the trail records (alerted on by the stack).
TRAIL_TAMPERING_CALLS = ("StopLogging", "DeleteTrail", "UpdateTrail", "PutEventSelectors")
#: Prefix of the trail bucket's server access logs in the access-log bucket.
ACCESS_LOG_PREFIX = "cloudtrail/"

_TRAIL_NAME = re.compile(r"^[A-Za-z0-9](?!.*[._-]{2})[A-Za-z0-9._-]{1,126}[A-Za-z0-9]$")
_BUDGET_NAME = re.compile(r"^[^:\\]{1,100}$")


class AuditTrail(Construct):
    """A multi-region CloudTrail trail: management events (read and write), S3 data events of
    ``data_buckets``, log file validation, SSE-KMS with a key of its own, a bucket of its own.

    The bucket is versioned, TLS 1.2+ only, owner-enforced, default-encrypted with the trail key (no
    S3 Bucket Key, so that CloudTrail's encryption context reaches KMS), logged to
    ``access_log_bucket``, and moves log files to Glacier Flexible Retrieval (small ones too:
    ``varies_by_storage_class``) and expires them as ``settings`` say. Key and bucket policies admit ``cloudtrail.amazonaws.com`` for this trail only
    (``aws:SourceArn``), which is why the trail has a fixed name.

    :param trail_name: the trail's name (3-128 letters, digits, ``.``, ``_``, ``-``).
    :param data_buckets: buckets whose object-level (data) events are recorded.
    :param settings: a created trail's settings. Default: ``TrailSettings()``.
    :param access_log_bucket: where S3 server access logs of the trail bucket go (prefix
        :data:`ACCESS_LOG_PREFIX`). Default: none (then the bucket has no access logs).
    :param removal_policy: of the key, bucket and log group. Default: RETAIN.
    :raises ValueError: for a bad ``trail_name`` or settings naming an existing trail.
    """

    def __init__(self, scope: Construct, construct_id: str, *, trail_name: str, data_buckets: Sequence[s3.IBucket],
                 settings: TrailSettings | None = None, access_log_bucket: s3.IBucket | None = None,
                 removal_policy: RemovalPolicy = RemovalPolicy.RETAIN) -> None:
        super().__init__(scope, construct_id)
        settings = settings or TrailSettings()
        problems = []
        if not _TRAIL_NAME.match(trail_name):
            problems.append(f"trail_name {trail_name!r} is invalid; use 3-128 letters, digits, '.', '_' or '-', "
                            "starting and ending with a letter or digit, no two of '.', '_', '-' in a row")
        if not settings.creates:
            problems.append(f"settings name the existing trail {settings.existing_trail_arn!r}; AuditTrail "
                            "creates a trail, so pass settings without existing_trail_arn")
        check_problems(f"AuditTrail {self.node.path}", problems)
        stack = Stack.of(self)
        self.trail_name = trail_name
        #: ``arn:<partition>:cloudtrail:<region>:<account>:trail/<name>``, known before the trail exists.
        self.trail_arn = stack.format_arn(service="cloudtrail", resource="trail", resource_name=trail_name)
        this_trail = {"aws:SourceArn": self.trail_arn}

        self.key = kms.Key(self, "Key", description=f"Encrypts the CloudTrail logs of trail {trail_name}",
                           enable_key_rotation=True, removal_policy=removal_policy)
        cloudtrail_principal = iam.ServicePrincipal("cloudtrail.amazonaws.com")
        self.key.add_to_resource_policy(iam.PolicyStatement(
            sid="AllowCloudTrailToEncryptLogs",
            # pyright only: jsii renames the interface's parameters (aws/aws-cdk#15584)
            principals=[cloudtrail_principal],  # pyright: ignore[reportArgumentType]
            actions=["kms:GenerateDataKey*"], resources=["*"],
            conditions={"StringEquals": this_trail, "StringLike": {
                "kms:EncryptionContext:aws:cloudtrail:arn": f"arn:{stack.partition}:cloudtrail:*:{stack.account}:trail/*"}},
        ))
        self.key.add_to_resource_policy(iam.PolicyStatement(
            sid="AllowCloudTrailToDescribeKey",
            # pyright only: jsii renames the interface's parameters (aws/aws-cdk#15584)
            principals=[cloudtrail_principal],  # pyright: ignore[reportArgumentType]
            actions=["kms:DescribeKey"], resources=["*"], conditions={"StringEquals": this_trail},
        ))

        lifecycle = s3.LifecycleRule(
            id="archive-and-expire-logs", enabled=True, expiration=Duration.days(settings.retention_days),
            transitions=[] if settings.archive_after_days is None else [s3.Transition(
                storage_class=s3.StorageClass.GLACIER, transition_after=Duration.days(settings.archive_after_days))],
            noncurrent_version_expiration=Duration.days(TRAIL_NONCURRENT_VERSION_DAYS),
            abort_incomplete_multipart_upload_after=Duration.days(1),
        )
        self.bucket = s3.Bucket(
            # pyright only: jsii renames the interface's parameters (aws/aws-cdk#15584)
            self, "Bucket", encryption=s3.BucketEncryption.KMS, encryption_key=self.key,  # pyright: ignore[reportArgumentType]
            bucket_key_enabled=False,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL, enforce_ssl=True, minimum_tls_version=1.2,
            versioned=True, object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=access_log_bucket,
            server_access_logs_prefix=ACCESS_LOG_PREFIX if access_log_bucket else None,
            lifecycle_rules=[lifecycle], removal_policy=removal_policy,
            # log files are mostly under 128 KB, which S3 otherwise never transitions
            transition_default_minimum_object_size=s3.TransitionDefaultMinimumObjectSize.VARIES_BY_STORAGE_CLASS,
            auto_delete_objects=removal_policy == RemovalPolicy.DESTROY,
        )
        if removal_policy == RemovalPolicy.DESTROY:
            explain_s3_auto_delete_provider(stack)
        bucket_resource = default_resource(self.bucket, s3.CfnBucket)
        acknowledge_compliance_rule(
            bucket_resource, "S3BucketReplicationEnabled",
            "Log files are immutable once delivered and their integrity is checked with CloudTrail's signed digests; "
            "the bucket is versioned and retained. Cross-region replication needs a replica region and key chosen "
            "per environment and is not configured here.")
        if access_log_bucket is None:
            reason = ("Only when the app gives the trail no access-log bucket (a lake of its own without one): the "
                      "bucket is readable only by CloudTrail's writes and this account's principals, and its "
                      "policy and key changes are management events of the trail; pass access_log_bucket to log it.")
            acknowledge(bucket_resource, ["AwsSolutions-S1"], reason)
            acknowledge_compliance_rule(bucket_resource, "S3BucketLoggingEnabled", reason)
            skip_checkov(bucket_resource, "CKV_AWS_18", reason)
        self.bucket.add_to_resource_policy(iam.PolicyStatement(
            sid="AWSCloudTrailAclCheck",
            # pyright only: jsii renames the interface's parameters (aws/aws-cdk#15584)
            principals=[cloudtrail_principal],  # pyright: ignore[reportArgumentType]
            actions=["s3:GetBucketAcl"], resources=[self.bucket.bucket_arn], conditions={"StringEquals": this_trail},
        ))
        self.bucket.add_to_resource_policy(iam.PolicyStatement(
            sid="AWSCloudTrailWrite",
            # pyright only: jsii renames the interface's parameters (aws/aws-cdk#15584)
            principals=[cloudtrail_principal],  # pyright: ignore[reportArgumentType]
            actions=["s3:PutObject"], resources=[self.bucket.arn_for_objects(f"AWSLogs/{stack.account}/*")],
            conditions={"StringEquals": {**this_trail, "s3:x-amz-acl": "bucket-owner-full-control"}},
        ))

        self.log_group: logs.LogGroup | None = None
        logs_role: ManagedPolicyRole | None = None
        if settings.cloudwatch_logs_retention_days is not None:
            allow_cloudwatch_logs(self.key)
            self.log_group = logs.LogGroup(self, "LogGroup", encryption_key=self.key,
                                           retention=_retention(settings.cloudwatch_logs_retention_days),
                                           removal_policy=removal_policy)
            # pyright only: jsii renames the interface's parameters (aws/aws-cdk#15584)
            logs_role = ManagedPolicyRole(self, "LogsRole", assumed_by=cloudtrail_principal,  # pyright: ignore[reportArgumentType]
                                          description=f"Lets CloudTrail deliver the events of trail {trail_name} to CloudWatch Logs")
            logs_role.add_to_principal_policy(iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[self.log_group.log_group_arn]))

        read_write = "All" if settings.data_events == "all" else "WriteOnly"
        self.trail = cloudtrail.CfnTrail(
            self, "Trail", trail_name=trail_name, is_logging=True, is_multi_region_trail=True,
            include_global_service_events=True, enable_log_file_validation=True, kms_key_id=self.key.key_arn,
            s3_bucket_name=self.bucket.bucket_name,
            cloud_watch_logs_log_group_arn=self.log_group.log_group_arn if self.log_group else None,
            cloud_watch_logs_role_arn=logs_role.role_arn if logs_role else None,
            event_selectors=[
                cloudtrail.CfnTrail.EventSelectorProperty(include_management_events=True, read_write_type="All"),
                cloudtrail.CfnTrail.EventSelectorProperty(
                    include_management_events=False, read_write_type=read_write,
                    data_resources=[cloudtrail.CfnTrail.DataResourceProperty(
                        type="AWS::S3::Object", values=[f"{b.bucket_arn}/" for b in data_buckets])]),
            ] if data_buckets else [
                cloudtrail.CfnTrail.EventSelectorProperty(include_management_events=True, read_write_type="All")],
        )
        assert self.bucket.policy is not None  # made by the statements above
        # CloudTrail checks the bucket policy (and the role) when the trail is created.
        self.trail.node.add_dependency(self.bucket.policy)
        if logs_role is not None:
            self.trail.node.add_dependency(logs_role)
        else:
            reason = ("Events go to the trail's encrypted, validated S3 log files (queryable with Athena); CloudWatch "
                      "Logs delivery of every S3 data event of the lake would cost more than the trail itself. Turn it "
                      "on with governance.trail.cloudwatch_logs_retention_days.")
            acknowledge_compliance_rule(self.trail, "CloudTrailCloudWatchLogsEnabled", reason)

    def grant_read_logs(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` list and read the log and digest files and decrypt them (auditors, Athena)."""
        return self.bucket.grant_read(grantee)


class CatalogEncryption(Construct):
    """The Data Catalog encryption settings of this account and region: metadata at rest and
    connection passwords, both with ``key``.

    With ``service_role`` (the default) the mode is ``SSE-KMS-WITH-SERVICE-ROLE``: :attr:`role`,
    trusted by ``glue.amazonaws.com`` and allowed only :data:`CATALOG_KEY_ACTIONS` on ``key``, is the
    role AWS Glue assumes to encrypt and decrypt catalog objects on each caller's behalf, so callers
    need no permission on the key. Without it the mode is ``SSE-KMS`` and every principal that reads
    or writes the catalog (crawlers, jobs, Athena users, people) needs :data:`CATALOG_KEY_ACTIONS` on
    ``key``: :meth:`grant_catalog_use` gives them. Either way, principals that create or update a
    Glue connection with a password need ``kms:Encrypt`` on ``key``, and those that read a password
    back need ``kms:Decrypt`` (passwords stay encrypted in ``GetConnection``).

    There is one such setting per catalog (account and region): two environments in one account and
    region must not both create it. Once crawlers have written to an encrypted catalog, removing the
    setting breaks them (Glue developer guide, "Encrypting your Data Catalog"), so it is retained,
    and so are the role and its policy: a retained setting naming a deleted role could no longer
    decrypt what it encrypted.

    :param key: the lake key; its policy must let IAM policies of the account grant its use (a key
        of this app does).
    :param service_role: create :attr:`role` and use mode ``SSE-KMS-WITH-SERVICE-ROLE``; false: mode
        ``SSE-KMS``. Default: true.
    :param removal_policy: of the setting, the role and its policy. Default: RETAIN.
    """

    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey, service_role: bool = True,
                 removal_policy: RemovalPolicy = RemovalPolicy.RETAIN) -> None:
        super().__init__(scope, construct_id)
        self.key = key
        #: The role Glue assumes to use ``key`` on each caller's behalf; none in mode ``SSE-KMS``.
        self.role: ManagedPolicyRole | None = None
        if service_role:
            # pyright only: jsii renames the interface's parameters (aws/aws-cdk#15584)
            self.role = ManagedPolicyRole(self, "ServiceRole", assumed_by=iam.ServicePrincipal("glue.amazonaws.com"),  # pyright: ignore[reportArgumentType]
                                          description="AWS Glue assumes this role to encrypt and decrypt Data Catalog "
                                                      "objects with the lake key on each caller's behalf")
            self.role.add_to_principal_policy(iam.PolicyStatement(actions=list(CATALOG_KEY_ACTIONS),
                                                                  resources=[key.key_arn]))
            self.role.apply_removal_policy(removal_policy)
            for policy in self.role.policies:
                policy.apply_removal_policy(removal_policy)
        self.settings = glue.CfnDataCatalogEncryptionSettings(
            self, "Settings", catalog_id=Stack.of(self).account,
            data_catalog_encryption_settings=glue.CfnDataCatalogEncryptionSettings.DataCatalogEncryptionSettingsProperty(
                encryption_at_rest=glue.CfnDataCatalogEncryptionSettings.EncryptionAtRestProperty(
                    catalog_encryption_mode="SSE-KMS-WITH-SERVICE-ROLE" if self.role else "SSE-KMS",
                    catalog_encryption_service_role=self.role.role_arn if self.role else None,
                    sse_aws_kms_key_id=key.key_arn),
                connection_password_encryption=glue.CfnDataCatalogEncryptionSettings.ConnectionPasswordEncryptionProperty(
                    return_connection_password_encrypted=True, kms_key_id=key.key_arn),
            ),
        )
        self.settings.apply_removal_policy(removal_policy)
        if self.role is not None:
            # the role's key permissions exist before Glue is told to use it
            self.settings.node.add_dependency(self.role)
            skip_checkov(self.settings, "CKV_AWS_94",
                         "Metadata is encrypted at rest with the lake key (customer managed KMS key) and connection "
                         "passwords are returned encrypted; the mode is SSE-KMS-WITH-SERVICE-ROLE (the same SSE-KMS "
                         "encryption, with Glue calling KMS through a service role), which this check does not "
                         "recognise: it accepts only the literal mode SSE-KMS.")

    def grant_catalog_use(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` use the key to read and write catalog metadata and connection passwords.

        Needed in mode ``SSE-KMS`` (no service role) by every principal that uses the catalog; with
        the service role, only by principals that create, update or read connection passwords.
        """
        return iam.Grant.add_to_principal(grantee=grantee, actions=list(CATALOG_KEY_ACTIONS),
                                          resource_arns=[self.key.key_arn])


class CostBudget(Construct):
    """A monthly COST budget of ``settings.monthly_usd`` USD, optionally limited to costs carrying the
    cost allocation tag ``cost_tag``, notifying ``topic`` at each threshold (actual, and forecast).

    The topic must let ``budgets.amazonaws.com`` publish (and use its key):
    :func:`allow_budgets_to_publish` does so for an :class:`AlertPath`.

    :param budget_name: unique in the account; no ``:`` or ``\\``; at most 100 characters.
    :param cost_tag: ``(key, value)`` of a user-defined cost allocation tag the costs must carry,
        for example ``("Environment", "prod")``; the tag must be activated in the Billing console.
        Default: none (all costs of the account).
    """

    def __init__(self, scope: Construct, construct_id: str, *, settings: BudgetSettings, topic_arn: str,
                 budget_name: str, cost_tag: tuple[str, str] | None = None) -> None:
        super().__init__(scope, construct_id)
        if not _BUDGET_NAME.match(budget_name):
            raise ValueError(f"CostBudget {self.node.path}: budget_name {budget_name!r} is invalid; use 1-100 "
                             "characters without ':' or '\\'")
        self.budget = budgets.CfnBudget(
            self, "Budget",
            budget=budgets.CfnBudget.BudgetDataProperty(
                budget_name=budget_name, budget_type="COST", time_unit="MONTHLY",
                budget_limit=budgets.CfnBudget.SpendProperty(amount=settings.monthly_usd, unit="USD"),
                cost_filters={"TagKeyValue": [f"user:{cost_tag[0]}${cost_tag[1]}"]} if cost_tag else None,
            ),
            notifications_with_subscribers=[
                budgets.CfnBudget.NotificationWithSubscribersProperty(
                    notification=budgets.CfnBudget.NotificationProperty(
                        notification_type=kind, comparison_operator="GREATER_THAN", threshold=threshold,
                        threshold_type="PERCENTAGE"),
                    subscribers=[budgets.CfnBudget.SubscriberProperty(subscription_type="SNS", address=topic_arn)])
                for kind, threshold in settings.notifications()
            ],
        )


def allow_budgets_to_publish(alerts: AlertPath) -> None:
    """Let AWS Budgets of ``alerts``' account publish to its topic (topic policy, conditioned on the
    account and its budgets) and use the topic's key (key policy). Idempotent.

    :raises ValueError: if the topic's key is imported (its policy cannot be extended).
    """
    if getattr(alerts, "_admits_budgets", False):
        return
    stack = Stack.of(alerts)
    principal = iam.ServicePrincipal("budgets.amazonaws.com")
    alerts.topic.add_to_resource_policy(iam.PolicyStatement(
        sid="AllowBudgetsToPublish",
        # pyright only: jsii renames the interface's parameters (aws/aws-cdk#15584)
        principals=[principal],  # pyright: ignore[reportArgumentType]
        actions=["sns:Publish"], resources=[alerts.topic.topic_arn],
        conditions={"StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {"aws:SourceArn": stack.format_arn(service="budgets", region="", resource="*",
                                                                  arn_format=ArnFormat.NO_RESOURCE_NAME)}},
    ))
    added = alerts.key.add_to_resource_policy(iam.PolicyStatement(
        sid="AllowBudgetsToUseTheKey",
        # pyright only: jsii renames the interface's parameters (aws/aws-cdk#15584)
        principals=[principal],  # pyright: ignore[reportArgumentType]
        actions=list(BUDGETS_KEY_ACTIONS), resources=["*"],
    ))
    if not added.statement_added:
        raise ValueError(f"allow_budgets_to_publish: the key of {alerts.node.path} is imported; its policy cannot "
                         "admit budgets.amazonaws.com")
    setattr(alerts, "_admits_budgets", True)


def _retention(days: int) -> logs.RetentionDays:
    """The CloudWatch Logs retention of ``days`` (one of :data:`LogRetentionDays`, which lists them in
    the order of ``logs.RetentionDays``)."""
    retentions: dict[int, logs.RetentionDays] = dict(zip(get_args(LogRetentionDays), list(logs.RetentionDays)[:-1],
                                                         strict=True))
    return retentions[days]
