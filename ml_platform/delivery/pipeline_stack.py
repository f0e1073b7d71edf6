"""The delivery pipeline of the tooling account (CDK Pipelines): test and synthesize the platform,
update itself, then deploy each environment's :class:`~ml_platform.stacks.stage.PlatformStage` in
the order of ``config/delivery/pipeline.yaml``, behind a manual approval where the environment has
``requires_approval``. Approved model packages in any environment start it through the
``<prefix>-delivery`` event bus; its failures go to an encrypted SNS topic (docs/delivery.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import Duration, Environment, RemovalPolicy, Stack, pipelines
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from ml_platform.constructs.core.alerting import AlertPath, AlertRoutes
from ml_platform.delivery.exceptions import explain_access_log_bucket, explain_generated_resources, explain_no_replica
from ml_platform.delivery.settings import ConnectionSource, DeliverySettings
from ml_platform.stacks.stage import PlatformStage

#: The repository's two commands (README "Two commands"), then the pipeline app's synth, which
#: writes the cloud assembly the pipeline deploys from (its own stack and every stage).
README_COMMANDS = ("make test", "make synth")
SYNTH_COMMANDS = (*README_COMMANDS, "make synth-pipeline")
#: Where ``make synth-pipeline`` writes the pipeline app's cloud assembly: the synth step's output.
SYNTH_OUTPUT_DIRECTORY = "cdk.out.pipeline"
#: The CodeBuild image of every build, pinned (Ubuntu 22.04; Python 3.11+ and Node.js, as make needs).
BUILD_IMAGE = codebuild.LinuxBuildImage.STANDARD_7_0
#: Compute of every build: ``make test`` synthesizes every environment and runs the gates.
BUILD_COMPUTE = codebuild.ComputeType.LARGE
#: How long build logs are kept.
BUILD_LOG_RETENTION = logs.RetentionDays.ONE_YEAR
#: Days the artifact bucket's server access logs are kept.
ACCESS_LOG_DAYS = 365
#: The event that starts the pipeline: a model package approved in an environment's registry.
APPROVED_MODEL_PATTERN: dict[str, Any] = {
    "source": ["aws.sagemaker"],
    "detail_type": ["SageMaker Model Package State Change"],
    "detail": {"ModelApprovalStatus": ["Approved"]},
}


class DeliveryPipelineStack(Stack):
    """The delivery pipeline, its event bus and its failure alerts, in the tooling account.

    :param settings: the pipeline's settings (``config/delivery/pipeline.yaml``).
    :param stages: the environments' stages in deploy order (created by the app, outside this stack,
        so that their cloud assemblies are the same as ``make synth`` writes).
    :param stack_props: passed to ``Stack``. ``stack_name`` defaults to ``<prefix>-delivery``;
        ``env`` is the tooling account and region.
    """

    def __init__(self, scope: Construct, construct_id: str, *, settings: DeliverySettings,
                 stages: Sequence[PlatformStage], **stack_props: Any) -> None:
        stack_props.setdefault("stack_name", settings.pipeline_name)
        stack_props.setdefault("description", "ML platform delivery pipeline (tooling account)")
        super().__init__(scope, construct_id,
                         env=Environment(account=settings.tooling.account, region=settings.tooling.region),
                         **stack_props)
        self.settings = settings
        self.alerts = AlertPath(self, "Alerts")
        # pyright only: jsii renames the interface's parameters (aws/aws-cdk#15584)
        self.routes = AlertRoutes(self, "AlertRoutes", topic=self.alerts.topic, key=self.alerts.key)  # pyright: ignore[reportArgumentType]
        self.log_key = self._log_key()
        self.build_logs = logs.LogGroup(self, "BuildLogs", retention=BUILD_LOG_RETENTION,
                                        encryption_key=self.log_key, removal_policy=RemovalPolicy.RETAIN)
        build_defaults = pipelines.CodeBuildOptions(
            build_environment=codebuild.BuildEnvironment(build_image=BUILD_IMAGE, compute_type=BUILD_COMPUTE,
                                                         privileged=False),
            logging=codebuild.LoggingOptions(cloud_watch=codebuild.CloudWatchLoggingOptions(
                log_group=self.build_logs)),
            timeout=Duration.hours(2),
        )
        self.synth = pipelines.CodeBuildStep(
            "Synth", input=self._source(), commands=list(SYNTH_COMMANDS),
            primary_output_directory=SYNTH_OUTPUT_DIRECTORY,
        )
        self.pipeline = pipelines.CodePipeline(
            self, "Pipeline", pipeline_name=settings.pipeline_name, synth=self.synth,
            cross_account_keys=True, enable_key_rotation=True, self_mutation=True,
            code_build_defaults=build_defaults,
        )
        #: The approval step before each environment that has ``requires_approval``, by name.
        self.approvals: dict[str, pipelines.ManualApprovalStep] = {}
        for stage in stages:
            pre = []
            if stage.config.requires_approval:
                approval = pipelines.ManualApprovalStep(
                    f"Approve-{stage.config.name}",
                    comment=f"Deploy the ML platform to {stage.config.name} "
                            f"({stage.config.account}/{stage.config.region})?")
                self.approvals[stage.config.name] = approval
                pre.append(approval)
            self.pipeline.add_stage(stage, pre=pre)
        self.pipeline.build_pipeline()
        self._retain_artifacts()
        self.event_bus = self._event_bus([stage.config.account for stage in stages])
        self.approved_model_rule = events.Rule(
            self, "ApprovedModelStartsPipeline", event_bus=self.event_bus,
            description="A model package approved in an environment's registry starts the delivery pipeline",
            event_pattern=events.EventPattern(**APPROVED_MODEL_PATTERN),
            # pyright only: jsii renames the interface's parameters (aws/aws-cdk#15584)
            targets=[targets.CodePipeline(self.pipeline.pipeline,  # pyright: ignore[reportArgumentType]
                                          dead_letter_queue=self.routes.dead_letters)],
        )
        self.failure_rule = self.routes.route(
            self, "PipelineFailed", "A delivery pipeline execution failed",
            events.EventPattern(source=["aws.codepipeline"],
                                detail_type=["CodePipeline Pipeline Execution State Change"],
                                resources=[self.pipeline.pipeline.pipeline_arn],
                                detail={"state": ["FAILED"]}))
        explain_generated_resources(self, self.pipeline)

    def _source(self) -> pipelines.CodePipelineSource:
        source = self.settings.source
        if isinstance(source, ConnectionSource):
            return pipelines.CodePipelineSource.connection(
                source.repository, source.branch, connection_arn=source.connection_arn, trigger_on_push=True)
        bucket = s3.Bucket.from_bucket_name(self, "SourceBucket", source.bucket)
        return pipelines.CodePipelineSource.s3(bucket, source.key)

    def _log_key(self) -> kms.Key:
        """The build logs' key, whose policy admits CloudWatch Logs of this account and region."""
        key = kms.Key(self, "BuildLogsKey", description="Encrypts the delivery pipeline's build logs",
                      enable_key_rotation=True, removal_policy=RemovalPolicy.RETAIN)
        key.add_to_resource_policy(iam.PolicyStatement(
            # pyright only: jsii renames the interface's parameters (aws/aws-cdk#15584)
            principals=[iam.ServicePrincipal(f"logs.{self.region}.amazonaws.com")],  # pyright: ignore[reportArgumentType]
            actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
            resources=["*"],
            conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn":
                                    f"arn:{self.partition}:logs:{self.region}:{self.account}:log-group:*"}},
        ))
        return key

    def _retain_artifacts(self) -> None:
        """Harden the artifact bucket aws-cdk-lib makes (KMS, TLS-only, retained): versioning, access
        logs, and its key kept with it (aws-cdk-lib deletes the key with the stack, which would leave
        the retained artifacts unreadable)."""
        bucket = self.pipeline.pipeline.artifact_bucket
        key = bucket.encryption_key
        assert isinstance(key, kms.Key)  # cross_account_keys=True makes one
        key.apply_removal_policy(RemovalPolicy.RETAIN)
        self.access_logs = s3.Bucket(
            self, "ArtifactAccessLogs", encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL, enforce_ssl=True, versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED, removal_policy=RemovalPolicy.RETAIN,
            lifecycle_rules=[s3.LifecycleRule(id="expire-access-logs", expiration=Duration.days(ACCESS_LOG_DAYS),
                                              noncurrent_version_expiration=Duration.days(1),
                                              abort_incomplete_multipart_upload_after=Duration.days(1))],
        )
        self.access_logs.add_to_resource_policy(iam.PolicyStatement(
            # pyright only: jsii renames the interface's parameters (aws/aws-cdk#15584)
            principals=[iam.ServicePrincipal("logging.s3.amazonaws.com")],  # pyright: ignore[reportArgumentType]
            actions=["s3:PutObject"], resources=[self.access_logs.arn_for_objects("artifacts/*")],
            conditions={"StringEquals": {"aws:SourceAccount": self.account}},
        ))
        cfn = bucket.node.default_child
        assert isinstance(cfn, s3.CfnBucket)
        cfn.versioning_configuration = s3.CfnBucket.VersioningConfigurationProperty(status="Enabled")
        cfn.logging_configuration = s3.CfnBucket.LoggingConfigurationProperty(
            destination_bucket_name=self.access_logs.bucket_name, log_file_prefix="artifacts/")
        explain_access_log_bucket(self.access_logs)
        explain_no_replica(cfn)
        self.artifact_bucket = bucket

    def _event_bus(self, accounts: Sequence[str]) -> events.EventBus:
        """``<prefix>-delivery``, admitting SageMaker events from the environments' accounts."""
        bus = events.EventBus(self, "DeliveryBus", event_bus_name=self.settings.event_bus_name)
        for account in sorted(set(accounts)):
            bus.add_to_resource_policy(iam.PolicyStatement(
                sid=f"PutEventsFrom{account}",
                # pyright only: jsii renames the interface's parameters (aws/aws-cdk#15584)
                principals=[iam.AccountPrincipal(account)],  # pyright: ignore[reportArgumentType]
                actions=["events:PutEvents"], resources=[bus.event_bus_arn],
                conditions={"ForAllValues:StringEquals": {"events:source": "aws.sagemaker"}},
            ))
        return bus
