"""``GlueSecurity``: one Glue security configuration and the key that encrypts Glue's logs.

S3 output is encrypted with the data key (the lake key, so output matches its bucket's default);
CloudWatch logs and job bookmarks with the logs key, whose policy lets CloudWatch Logs in this
account and region use it.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, RemovalPolicy, Stack
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from ml_platform.constructs.core.keys import allow_cloudwatch_logs


class GlueSecurity(Construct):
    """A Glue security configuration encrypting S3 output, CloudWatch logs and job bookmarks.

    :param data_key: key for S3 output (SSE-KMS), usually the lake key.
    :param logs_key: key for CloudWatch logs and job bookmarks. Default: a new key with yearly
        rotation whose policy admits CloudWatch Logs of this account and region. A key defined in
        this app (``kms.Key``) gets that key-policy statement added; an imported key's policy must
        already admit CloudWatch Logs (``logs.<region>.amazonaws.com``), or creating the log groups fails.
    :param name: the security configuration's name, unique per account and region.
    :param removal_policy: of the created key. Default: RETAIN (logs stay readable).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        data_key: kms.IKey,
        name: str,
        logs_key: kms.IKey | None = None,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        self.logs_key: kms.IKey
        if logs_key is None:
            created = kms.Key(
                self,
                "LogsKey",
                description=f"Encrypts Glue logs and job bookmarks of {self.node.path}",
                enable_key_rotation=True,
                removal_policy=removal_policy,
            )
            allow_cloudwatch_logs(created)
            # pyright only: jsii renames the interface's parameters (aws/aws-cdk#15584)
            self.logs_key = created  # pyright: ignore[reportAttributeAccessIssue]
        else:
            if isinstance(logs_key, kms.Key):
                allow_cloudwatch_logs(logs_key)
            self.logs_key = logs_key
        self.data_key = data_key
        self.configuration = glue.SecurityConfiguration(
            self,
            "Configuration",
            security_configuration_name=name,
            s3_encryption=glue.S3Encryption.kms(data_key),
            cloud_watch_encryption=glue.CloudWatchEncryption.kms(self.logs_key),
            job_bookmarks_encryption=glue.JobBookmarksEncryption.client_side_kms(self.logs_key),
        )
        self.name = name

    def grant_encryption(self, grantee: iam.IGrantable) -> iam.Grant:
        """What a crawler or job role needs to write encrypted logs and bookmarks."""
        return iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"],
            resource_arns=[self.logs_key.key_arn],
        )

    def log_group(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        writer: iam.IGrantable,
        retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> logs.LogGroup:
        """A log group Glue writes to under this configuration, encrypted with the logs key.

        Creating the group Glue would otherwise create sets its key and retention, and lets
        ``writer`` log to this group only.
        """
        group = logs.LogGroup(
            scope,
            construct_id,
            log_group_name=name,
            encryption_key=self.logs_key,
            retention=retention,
            removal_policy=removal_policy,
        )
        group.grant_write(writer)
        iam.Grant.add_to_principal(
            grantee=writer,
            actions=["logs:AssociateKmsKey", "logs:CreateLogGroup"],
            resource_arns=[
                Stack.of(scope).format_arn(
                    service="logs",
                    resource="log-group",
                    resource_name=group.log_group_name,
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                )
            ],
        )
        return group
