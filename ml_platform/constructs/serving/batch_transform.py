"""``BatchTransform``: score a lake dataset with a model on a schedule.

A model (a package version or containers, see :class:`ModelSource`) and an EventBridge Scheduler
schedule that calls ``CreateTransformJob`` directly (a universal target, no
Lambda). Each run is named ``<name>-<execution id>`` and writes under
``<output prefix><execution id>/``, so runs never overwrite each other. The job runs in the
platform's subnets as the model's execution role, which reads the input prefix and writes the
output prefix; volumes and outputs use the lake key.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from aws_cdk import Duration, Stack, TimeZone
from aws_cdk import aws_iam as iam
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as targets
from constructs import Construct
from pydantic import AfterValidator, Field, model_validator

from ml_platform.constructs.core.alerting import IAlerts
from ml_platform.constructs.core.compliance import acknowledge_wildcard_resource
from ml_platform.constructs.lake.lake_access import ILake, Zone
from ml_platform.constructs.serving.endpoint_settings import (
    ModelOptions,
    TimeZoneName,
    offered_instance_types,
)
from ml_platform.constructs.core.iam_roles import ManagedPolicyRole
from ml_platform.constructs.training.ml_network import INetwork
from ml_platform.constructs.training.sagemaker_roles import LakeLocation
from ml_platform.constructs.core.schedule import ZonedCronExpression
from ml_platform.constructs.serving.serving_model import ModelSource, source_model
from ml_platform.constructs.core.validation import check_problems

#: Transform job names: 63 characters, of which the scheduler's execution id takes up to 37.
JOB_PREFIX_MAX = 26


def _transform_instance_type(value: str) -> str:
    if value not in offered_instance_types("TransformInstanceType"):
        raise ValueError(f"instance type {value!r} is not offered by SageMaker for batch transform")
    return value


class TransformSettings(ModelOptions):
    """What to score, when, and on what.

    :ivar schedule: AWS cron expression of the runs.
    :ivar time_zone: IANA time zone of ``schedule``. Default: UTC.
    :ivar input: the lake location scored (every object under it).
    :ivar output: where results go; each run writes under ``<prefix><execution id>/``. It must
        not lie inside ``input`` (the next run would score the previous runs' results).
    :ivar instance_type: e.g. ``ml.m5.xlarge``.
    :ivar instance_count: instances per run. Default: 1.
    :ivar content_type: MIME type of the input. Default: ``text/csv``.
    :ivar split_type: how records are split (``Line``, ``RecordIO``, ``TFRecord``, ``None``). Default: Line.
    :ivar batch_strategy: ``MultiRecord`` or ``SingleRecord``. Default: MultiRecord.
    :ivar max_payload_mb: per request, 0-100. Default: 6.
    And the :class:`~ml_platform.constructs.serving.endpoint_settings.ModelOptions`.
    """

    schedule: ZonedCronExpression
    time_zone: TimeZoneName = "UTC"
    input: LakeLocation
    output: LakeLocation
    instance_type: Annotated[str, AfterValidator(_transform_instance_type)]
    instance_count: Annotated[int, Field(ge=1, le=100)] = 1
    content_type: str = "text/csv"
    split_type: Literal["Line", "RecordIO", "TFRecord", "None"] = "Line"
    batch_strategy: Literal["MultiRecord", "SingleRecord"] = "MultiRecord"
    max_payload_mb: Annotated[int, Field(ge=0, le=100)] = 6

    @model_validator(mode="after")
    def _output_outside_input(self) -> TransformSettings:
        if self.output.zone == self.input.zone and self.output.prefix.startswith(self.input.prefix):
            raise ValueError(f"output {self.output.zone}/{self.output.prefix} lies inside input "
                             f"{self.input.zone}/{self.input.prefix}, so each run would score the previous runs' "
                             "results; give an output location outside the input")
        return self


class BatchTransform(Construct):
    """A model and a schedule that starts a transform job of it.

    :param name: job name prefix (letters, digits, ``-``; 26 characters at most).
    :param model: what scores: a model package version or containers (:class:`ModelSource`).
    :param settings: see :class:`TransformSettings`.
    :param role: the model's execution role; granted the input and output locations.
    :param lake: any :class:`~ml_platform.constructs.lake.lake_access.ILake` (a ``DataLake`` or
        ``DataLake.from_existing``): holds input and output; its key encrypts volumes and results.
    :param network: any :class:`~ml_platform.constructs.training.ml_network.INetwork` (an
        ``MlNetwork`` or ``MlNetwork.from_existing``): subnets and security group of the jobs.
    :param alerts: any :class:`~ml_platform.constructs.core.alerting.IAlerts`: where a run the
        scheduler could not start goes (its dead-letter queue, whose depth alarms; the scheduler
        role is granted the alerts key to send there). A started job that fails is reported by the
        account's job-failure route. Default: nowhere.

    There is no ``metric_*``: SageMaker publishes a transform job's instance metrics (namespace
    ``/aws/sagemaker/TransformJobs``) only per ``Host``, ``<job name>/<instance id>``, and each
    run's job name holds the scheduler's execution id, so no fixed metric names a run. Failed
    runs arrive as ``SageMaker Transform Job State Change`` events instead.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        model: ModelSource,
        settings: TransformSettings,
        role: iam.IRole,
        lake: ILake,
        network: INetwork,
        alerts: IAlerts | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        check_problems(f"BatchTransform {self.node.path}", (
            [] if re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,25}", name) else [
                f"name {name!r} is invalid; use letters, digits and '-', {JOB_PREFIX_MAX} characters at most"])
            + model.problems())
        self.model = source_model(self, "Model", source=model, role=role, network=network, options=settings,
                                  lake=lake)
        self.settings, self._lake = settings, lake
        lake.grant_read(role, Zone(settings.input.zone), settings.input.prefix)
        lake.grant_write(role, Zone(settings.output.zone), settings.output.prefix)
        run = scheduler.ContextAttribute.execution_id
        key = lake.encryption_key.key_arn
        request = {
            "TransformJobName": f"{name}-{run}",
            "ModelName": self.model.attr_model_name,
            "BatchStrategy": settings.batch_strategy,
            "MaxPayloadInMB": settings.max_payload_mb,
            "TransformInput": {
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": lake.s3_uri(settings.input.zone, settings.input.prefix)}},
                "ContentType": settings.content_type,
                "SplitType": settings.split_type,
            },
            "TransformOutput": {"S3OutputPath": f"{lake.s3_uri(settings.output.zone, settings.output.prefix)}{run}/", "KmsKeyId": key,
                                "AssembleWith": "Line" if settings.split_type == "Line" else "None"},
            "TransformResources": {"InstanceType": settings.instance_type, "InstanceCount": settings.instance_count,
                                   "VolumeKmsKeyId": key},
        }
        stack = Stack.of(self)
        jobs = stack.format_arn(service="sagemaker", resource="transform-job", resource_name=f"{name.lower()}-*")
        self.role = ManagedPolicyRole.for_service(self, "SchedulerRole", service="scheduler.amazonaws.com",
                                                  description=f"Starts the batch transform jobs {name}-*")
        acknowledge_wildcard_resource(self.role, jobs, "Each scheduled run names its transform job after the "
                                      "scheduler's execution id, unknown in advance; the role may only create "
                                      "and tag jobs of this prefix.")
        self.target = targets.Universal(
            service="sagemaker", action="createTransformJob",
            input=scheduler.ScheduleTargetInput.from_object(request),
            policy_statements=[iam.PolicyStatement(actions=["sagemaker:CreateTransformJob", "sagemaker:AddTags"],
                                                   resources=[jobs])],
            retry_attempts=2, max_event_age=Duration.hours(1),
            # pyright only: jsii names Role.grant_*_role's parameter "identity", IRole's "grantee" (aws/aws-cdk#21099)
            role=self.role,  # pyright: ignore[reportArgumentType]
            dead_letter_queue=alerts.dead_letters if alerts is not None else None,
        )
        if alerts is not None:  # the scheduler sends to the encrypted queue as this role
            alerts.key.grant(self.role, "kms:GenerateDataKey", "kms:Decrypt")
        self.schedule = scheduler.Schedule(
            self, "Schedule", description=f"Starts the batch transform {name}",
            schedule=scheduler.ScheduleExpression.expression(settings.schedule, TimeZone.of(settings.time_zone)),
            # pyright only: jsii names Universal.bind's parameter "schedule", IScheduleTarget's "_schedule" (aws/jsii#4541)
            target=self.target,  # pyright: ignore[reportArgumentType]
        )

    def grant_read_output(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` list and read every run's results, ``<output prefix><execution id>/``
        in the lake, and decrypt them with the lake key; nothing else of the lake."""
        output = self.settings.output
        return self._lake.grant_read(grantee, output.zone, output.prefix)
