"""``ModelEndpoint``: an approved model package version served by a real-time endpoint.

What a deployment does: changing ``model_package_arn`` (or the instance type or counts) creates a
new model and a new endpoint configuration (neither has a fixed name, so CloudFormation replaces
them) and updates the endpoint. SageMaker then starts a second ("green") fleet, shifts traffic to
it in the guardrails' steps, waits ``wait_seconds`` after each step and watches the construct's
two alarms (5XX errors, p99 model latency). If either fires, traffic returns to the old fleet and
the stack update fails and rolls back; otherwise the old fleet is removed after
``termination_wait_seconds``. With autoscaling, variant properties are retained on update so the
autoscaled instance count is not reset to the initial count. SageMaker refuses to change the
instance type of an autoscaled variant: deploy once without ``autoscaling``, then change the
type, then add ``autoscaling`` back (changing the model is allowed).
"""

from __future__ import annotations

import re

from aws_cdk import Duration, Stack, TimeZone
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from ml_platform.constructs.data_lake import DataLake, Zone
from ml_platform.constructs.endpoint_settings import EndpointSettings
from ml_platform.constructs.ml_network import MlNetwork
from ml_platform.constructs.model_registry import GROUP_NAME
from ml_platform.constructs.pipeline_alerts import AlertTopic
from ml_platform.constructs.serving_model import package_arn_problems, package_model
from ml_platform.constructs.validation import check_problems

VARIANT = "AllTraffic"
#: Namespace of the instances' CPU, memory, disk and GPU metrics.
INSTANCE_NAMESPACE = "/aws/sagemaker/Endpoints"
#: Instance families with GPUs, whose GPU metrics the dashboard shows.
GPU_FAMILY = re.compile(r"^ml\.(g|p)\d")
#: The role Application Auto Scaling creates for itself on the first SageMaker scalable target.
AUTOSCALING_ROLE = ("aws-service-role/sagemaker.application-autoscaling.amazonaws.com/"
                    "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint")


class ModelEndpoint(Construct):
    """Model, endpoint configuration, endpoint, alarms, dashboard and (optionally) autoscaling.

    :param name: the endpoint's name (fixed, so that clients and alarms can name it).
    :param model_package_arn: the approved version to serve (``...:model-package/<group>/<n>``);
        changing it deploys that version through the guardrails.
    :param settings: what to serve and how; see :class:`EndpointSettings`.
    :param role: the inference execution role. It must read the model package's artifacts; the
        construct grants it the data capture prefix.
    :param lake: where data is captured; its key also encrypts the instances' volumes.
    :param network: subnets and security group of the model's containers.
    :param alerts: topic every alarm notifies (alarm and recovery).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        model_package_arn: str,
        settings: EndpointSettings,
        role: iam.IRole,
        lake: DataLake,
        network: MlNetwork,
        alerts: AlertTopic,
    ) -> None:
        super().__init__(scope, construct_id)
        check_problems(f"ModelEndpoint {self.node.path}", (
            [] if GROUP_NAME.match(name) else [f"name {name!r} is invalid; use letters, digits and '-', 63 characters at most"])
            + package_arn_problems(model_package_arn))
        self.name, self.settings = name, settings
        self.model = package_model(self, "Model", model_package_arn=model_package_arn, role=role,
                                   network=network, options=settings)
        self.config = sagemaker.CfnEndpointConfig(
            self, "Config",
            kms_key_id=lake.encryption_key.key_arn,
            production_variants=[sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                variant_name=VARIANT, model_name=self.model.attr_model_name,
                instance_type=settings.instance_type,
                initial_instance_count=settings.initial_instance_count, initial_variant_weight=1,
            )],
            data_capture_config=self._data_capture(lake, role),
        )
        self.rollback_alarms = self._rollback_alarms(alerts)
        guard = settings.guardrails
        self.endpoint = sagemaker.CfnEndpoint(
            self, "Endpoint",
            endpoint_name=name,
            endpoint_config_name=self.config.attr_endpoint_config_name,
            retain_all_variant_properties=settings.autoscaling is not None,
            deployment_config=sagemaker.CfnEndpoint.DeploymentConfigProperty(
                blue_green_update_policy=sagemaker.CfnEndpoint.BlueGreenUpdatePolicyProperty(
                    traffic_routing_configuration=_traffic(guard.traffic, guard.step_percent, guard.wait_seconds),
                    termination_wait_in_seconds=guard.termination_wait_seconds,
                ),
                auto_rollback_configuration=sagemaker.CfnEndpoint.AutoRollbackConfigProperty(alarms=[
                    sagemaker.CfnEndpoint.AlarmProperty(alarm_name=a.alarm_name) for a in self.rollback_alarms]),
            ),
        )
        self.scalable_target = self._autoscaling()
        self.health_alarms = self._health_alarms(alerts)
        self.dashboard = self._dashboard()

    # -- metrics -------------------------------------------------------------------------------

    def metric(self, metric_name: str, *, statistic: str = "Sum", namespace: str = "AWS/SageMaker",
               period: Duration | None = None) -> cloudwatch.Metric:
        """A metric of the endpoint's variant (``AWS/SageMaker``, or ``/aws/sagemaker/Endpoints``
        for instance metrics such as ``CPUUtilization``). Default period: one minute."""
        return cloudwatch.Metric(namespace=namespace, metric_name=metric_name, statistic=statistic,
                                 period=period or Duration.minutes(1),
                                 dimensions_map={"EndpointName": self.name, "VariantName": VARIANT})

    def metric_invocations(self) -> cloudwatch.Metric:
        return self.metric("Invocations")

    def metric_5xx_errors(self) -> cloudwatch.Metric:
        return self.metric("Invocation5XXErrors")

    def metric_model_latency(self, statistic: str = "p99") -> cloudwatch.Metric:
        """Model latency in microseconds."""
        return self.metric("ModelLatency", statistic=statistic)

    def metric_instance(self, metric_name: str, statistic: str = "Average") -> cloudwatch.Metric:
        """An instance metric in percent: ``CPUUtilization`` (up to 100 per vCPU),
        ``MemoryUtilization``, ``DiskUtilization``, ``GPUUtilization``, ``GPUMemoryUtilization``."""
        return self.metric(metric_name, statistic=statistic, namespace=INSTANCE_NAMESPACE, period=Duration.minutes(5))

    def grant_invoke(self, grantee: iam.IGrantable) -> iam.Grant:
        """Invoke the endpoint synchronously or with a response stream, and nothing else."""
        return iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["sagemaker:InvokeEndpoint", "sagemaker:InvokeEndpointWithResponseStream"],
            resource_arns=[Stack.of(self).format_arn(service="sagemaker", resource="endpoint",
                                                     resource_name=self.name.lower())],
        )

    # -- parts ---------------------------------------------------------------------------------

    def _data_capture(self, lake: DataLake, role: iam.IRole):
        capture = self.settings.data_capture
        if capture is None:
            return None
        prefix = f"{capture.prefix}{self.name}/"
        lake.grant_write(role, Zone.RAW, prefix)
        return sagemaker.CfnEndpointConfig.DataCaptureConfigProperty(
            enable_capture=True,
            initial_sampling_percentage=capture.sampling_percent,
            destination_s3_uri=f"s3://{lake.bucket(Zone.RAW).bucket_name}/{prefix}",
            kms_key_id=lake.encryption_key.key_arn,
            capture_options=[sagemaker.CfnEndpointConfig.CaptureOptionProperty(capture_mode=mode.title())
                             for mode in capture.capture],
        )

    def _rollback_alarms(self, alerts: AlertTopic) -> list[cloudwatch.Alarm]:
        guard = self.settings.guardrails
        alarms = [
            self.metric_5xx_errors().create_alarm(
                self, "Errors", alarm_name=f"{self.name}-5xx-errors", threshold=guard.max_5xx_errors_per_minute,
                evaluation_periods=1, treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=f"{self.name}: more than {guard.max_5xx_errors_per_minute} 5XX errors in a "
                "minute; rolls back a deployment in progress"),
            self.metric_model_latency().create_alarm(
                self, "Latency", alarm_name=f"{self.name}-p99-latency", threshold=guard.max_p99_latency_ms * 1000,
                evaluation_periods=2, datapoints_to_alarm=2, treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=f"{self.name}: p99 model latency above {guard.max_p99_latency_ms} ms for two "
                "minutes; rolls back a deployment in progress"),
        ]
        for alarm in alarms:
            alarm.add_alarm_action(actions.SnsAction(alerts.topic))
            alarm.add_ok_action(actions.SnsAction(alerts.topic))
        return alarms

    def _health_alarms(self, alerts: AlertTopic) -> list[cloudwatch.Alarm]:
        """Memory or disk above 90% for 15 minutes: notify, but do not roll back."""
        alarms = []
        for metric_name, what in (("MemoryUtilization", "memory"), ("DiskUtilization", "disk")):
            alarm = self.metric_instance(metric_name).create_alarm(
                self, f"{what.title()}Full", threshold=90, evaluation_periods=3,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=f"{self.name}: instance {what} above 90% for 15 minutes")
            alarm.add_alarm_action(actions.SnsAction(alerts.topic))
            alarms.append(alarm)
        return alarms

    def _dashboard(self) -> cloudwatch.Dashboard:
        """Traffic, errors, latency percentiles and instance utilization, with the alarms' lines."""
        latency = [self.metric_model_latency(s) for s in ("p50", "p90", "p99")]
        instance = ["CPUUtilization", "MemoryUtilization", "DiskUtilization"]
        if GPU_FAMILY.match(self.settings.instance_type):
            instance += ["GPUUtilization", "GPUMemoryUtilization"]
        widgets = [
            cloudwatch.GraphWidget(title="Invocations", left=[self.metric_invocations()], width=8),
            cloudwatch.GraphWidget(title="Errors", left=[self.metric_5xx_errors(), self.metric("Invocation4XXErrors")], width=8),
            cloudwatch.GraphWidget(title="Model latency (microseconds)", left=latency, width=8),
            cloudwatch.GraphWidget(title="Instances (%)", left=[self.metric_instance(m) for m in instance], width=12),
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=[*self.rollback_alarms, *self.health_alarms], width=12),
        ]
        return cloudwatch.Dashboard(self, "Dashboard", dashboard_name=self.name, widgets=[widgets[:3], widgets[3:]])

    def _autoscaling(self) -> appscaling.ScalableTarget | None:
        scaling = self.settings.autoscaling
        if scaling is None:
            return None
        stack = Stack.of(self)
        target = appscaling.ScalableTarget(
            self, "Scaling",
            service_namespace=appscaling.ServiceNamespace.SAGEMAKER,
            resource_id=f"endpoint/{self.name}/variant/{VARIANT}",
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            min_capacity=scaling.min_capacity, max_capacity=scaling.max_capacity,
            role=iam.Role.from_role_arn(self, "ScalingRole", stack.format_arn(
                service="iam", region="", resource="role", resource_name=AUTOSCALING_ROLE)),
        )
        target.node.add_dependency(self.endpoint)
        for index, scheduled in enumerate(scaling.schedules):
            target.scale_on_schedule(
                f"Schedule{index}", schedule=appscaling.Schedule.expression(scheduled.schedule),
                min_capacity=scheduled.min_capacity, max_capacity=scheduled.max_capacity,
                time_zone=TimeZone.of(scaling.time_zone),
            )
        target.scale_to_track_metric(
            "Invocations",
            target_value=scaling.target_invocations_per_instance,
            predefined_metric=appscaling.PredefinedMetric.SAGEMAKER_VARIANT_INVOCATIONS_PER_INSTANCE,
            scale_in_cooldown=Duration.seconds(scaling.scale_in_cooldown_seconds),
            scale_out_cooldown=Duration.seconds(scaling.scale_out_cooldown_seconds),
        )
        return target


def _traffic(kind: str, step_percent: int, wait_seconds: int):
    size = sagemaker.CfnEndpoint.CapacitySizeProperty(type="CAPACITY_PERCENT", value=step_percent)
    return sagemaker.CfnEndpoint.TrafficRoutingConfigProperty(
        type=kind.upper(), wait_interval_in_seconds=wait_seconds,
        canary_size=size if kind == "canary" else None,
        linear_step_size=size if kind == "linear" else None,
    )
