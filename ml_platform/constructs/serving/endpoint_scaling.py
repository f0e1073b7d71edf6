"""Application Auto Scaling of SageMaker endpoint variants: instances, provisioned concurrency, backlog.

Every scalable target uses the service-linked role Application Auto Scaling creates for itself
on the first SageMaker target of an account; policies are target tracking, plus, for
asynchronous endpoints that scale to zero, a step that starts one instance when requests wait
without capacity (target tracking alone never scales out from zero).
"""

from __future__ import annotations

from aws_cdk import Duration, Stack, TimeZone
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_iam as iam
from constructs import Construct

from ml_platform.constructs.serving.endpoint_settings import (
    AutoScalingSettings,
    BacklogScalingSettings,
    ProvisionedScalingSettings,
    ScheduledCapacity,
)

#: The role Application Auto Scaling creates for itself on the first SageMaker scalable target.
AUTOSCALING_ROLE = ("aws-service-role/sagemaker.application-autoscaling.amazonaws.com/"
                    "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint")
INSTANCES = "sagemaker:variant:DesiredInstanceCount"
PROVISIONED_CONCURRENCY = "sagemaker:variant:DesiredProvisionedConcurrency"


def scalable_variant(scope: Construct, construct_id: str, *, endpoint: Construct, endpoint_name: str, variant: str,
                     dimension: str, min_capacity: int, max_capacity: int,
                     schedules: tuple[ScheduledCapacity, ...] = (), time_zone: str = "UTC") -> appscaling.ScalableTarget:
    """A scalable target of ``variant`` of ``endpoint_name`` (created after ``endpoint``), with
    its scheduled bounds."""
    target = appscaling.ScalableTarget(
        scope, construct_id,
        service_namespace=appscaling.ServiceNamespace.SAGEMAKER,
        resource_id=f"endpoint/{endpoint_name}/variant/{variant}",
        scalable_dimension=dimension, min_capacity=min_capacity, max_capacity=max_capacity,
        role=iam.Role.from_role_arn(scope, f"{construct_id}Role", Stack.of(scope).format_arn(
            service="iam", region="", resource="role", resource_name=AUTOSCALING_ROLE)),
    )
    target.node.add_dependency(endpoint)
    for index, scheduled in enumerate(schedules):
        target.scale_on_schedule(
            f"Schedule{index}", schedule=appscaling.Schedule.expression(scheduled.schedule),
            min_capacity=scheduled.min_capacity, max_capacity=scheduled.max_capacity, time_zone=TimeZone.of(time_zone),
        )
    return target


def track_invocations(target: appscaling.ScalableTarget, scaling: AutoScalingSettings) -> None:
    """Keep ``SageMakerVariantInvocationsPerInstance`` at the settings' target."""
    target.scale_to_track_metric(
        "Invocations", target_value=scaling.target_invocations_per_instance,
        predefined_metric=appscaling.PredefinedMetric.SAGEMAKER_VARIANT_INVOCATIONS_PER_INSTANCE,
        scale_in_cooldown=Duration.seconds(scaling.scale_in_cooldown_seconds),
        scale_out_cooldown=Duration.seconds(scaling.scale_out_cooldown_seconds),
    )


def track_provisioned_concurrency(target: appscaling.ScalableTarget, scaling: ProvisionedScalingSettings) -> None:
    """Keep ``SageMakerVariantProvisionedConcurrencyUtilization`` at the settings' target."""
    target.scale_to_track_metric(
        "ProvisionedConcurrency", target_value=scaling.target_utilization,
        predefined_metric=appscaling.PredefinedMetric.SAGEMAKER_VARIANT_PROVISIONED_CONCURRENCY_UTILIZATION,
    )


def track_backlog(target: appscaling.ScalableTarget, scaling: BacklogScalingSettings, *, endpoint_name: str
                  ) -> cloudwatch.Alarm | None:
    """Keep ``ApproximateBacklogSizePerInstance`` at the settings' target; when the minimum is
    zero, also start one instance on ``HasBacklogWithoutCapacity`` and return that alarm."""
    dimensions = {"EndpointName": endpoint_name}
    target.scale_to_track_metric(
        "Backlog", target_value=scaling.backlog_per_instance,
        custom_metric=cloudwatch.Metric(namespace="AWS/SageMaker", metric_name="ApproximateBacklogSizePerInstance",
                                        dimensions_map=dimensions, statistic="Average", period=Duration.minutes(1)),
        scale_in_cooldown=Duration.seconds(scaling.scale_in_cooldown_seconds),
        scale_out_cooldown=Duration.seconds(scaling.scale_out_cooldown_seconds),
    )
    if scaling.min_capacity > 0:
        return None
    wake = appscaling.StepScalingAction(
        target, "Wake", scaling_target=target, adjustment_type=appscaling.AdjustmentType.CHANGE_IN_CAPACITY,
        cooldown=Duration.seconds(scaling.scale_out_cooldown_seconds),
        metric_aggregation_type=appscaling.MetricAggregationType.MAXIMUM,
    )
    wake.add_adjustment(adjustment=1, lower_bound=0)
    alarm = cloudwatch.Metric(
        namespace="AWS/SageMaker", metric_name="HasBacklogWithoutCapacity", dimensions_map=dimensions,
        statistic="Average", period=Duration.minutes(1),
    ).create_alarm(
        target, "BacklogWithoutCapacity", alarm_name=f"{endpoint_name}-backlog-without-capacity",
        threshold=1, comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluation_periods=2, datapoints_to_alarm=2, treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        alarm_description=f"{endpoint_name}: requests wait while no instance runs; starts one instance",
    )
    # pyright only: jsii names ApplicationScalingAction.bind's parameters "_scope", "_alarm", IAlarmAction's
    # "scope", "alarm" (aws/jsii#4541)
    alarm.add_alarm_action(actions.ApplicationScalingAction(wake))  # pyright: ignore[reportArgumentType]
    return alarm
