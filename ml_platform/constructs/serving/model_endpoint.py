"""``ModelEndpoint``: a model served by a real-time, serverless or asynchronous endpoint.

What a deployment does (real-time and asynchronous endpoints; a serverless endpoint's variant is
replaced at once, without guardrails): changing the model (or the instance type or counts) creates a new model
and a new endpoint configuration (neither has a fixed name, so CloudFormation replaces them) and
updates the endpoint. SageMaker then starts a second ("green") fleet, shifts traffic to it in
the guardrails' steps, waits ``wait_seconds`` after each step and watches the construct's two
alarms (5XX errors, p99 model latency, over every variant). If either fires, traffic returns to
the old fleet and the stack update fails and rolls back; otherwise the old fleet is removed
after ``termination_wait_seconds``. When anything scales the endpoint, variant properties are
retained on update so the scaled capacity is not reset to the initial one. SageMaker refuses to
change the instance type of an autoscaled variant: deploy once without ``autoscaling``, then
change the type, then add ``autoscaling`` back (changing the model is allowed).
"""

from __future__ import annotations

import re

from collections.abc import Mapping

from aws_cdk import Duration, Stack
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from constructs import Construct

from ml_platform.constructs.core.compliance import skip_checkov
from ml_platform.constructs.core.alerting import IAlerts
from ml_platform.constructs.lake.lake_access import ILake, Zone
from ml_platform.constructs.serving.endpoint_scaling import (
    INSTANCES,
    PROVISIONED_CONCURRENCY,
    scalable_variant,
    track_backlog,
    track_invocations,
    track_provisioned_concurrency,
)
from ml_platform.constructs.serving.endpoint_settings import EndpointSettings
from ml_platform.constructs.training.ml_network import INetwork
from ml_platform.constructs.training.model_registry import GROUP_NAME
from ml_platform.constructs.lake.lake_locations import HOURLY, LakeDataset
from ml_platform.constructs.serving.serving_model import ModelSource, source_model
from ml_platform.constructs.core.validation import check_problems

#: Namespace of the instances' CPU, memory, disk and GPU metrics.
INSTANCE_NAMESPACE = "/aws/sagemaker/Endpoints"
#: Instance families with GPUs, whose GPU metrics the dashboard shows.
GPU_FAMILY = re.compile(r"^ml\.(g|p)\d")


class ModelEndpoint(Construct):
    """Models, endpoint configuration, endpoint, alarms, dashboard and (optionally) scaling.

    :param name: the endpoint's name (fixed, so that clients and alarms can name it).
    :param model: what the first variant serves (:class:`ModelSource`: a model package version
        or containers); changing it deploys through the guardrails.
    :param settings: what to serve and how; see :class:`EndpointSettings`.
    :param role: the inference execution role. It must read the models' artifacts and pull their
        images; the construct grants it the data capture prefix and, for an asynchronous
        endpoint, its input, output and result topic.
    :param lake: any :class:`~ml_platform.constructs.lake.lake_access.ILake` (a ``DataLake`` or
        ``DataLake.from_existing``): where data is captured and asynchronous requests and results
        live; its key also encrypts the instances' volumes and the captured data. Nothing of the
        lake is created here.
    :param network: any :class:`~ml_platform.constructs.training.ml_network.INetwork` (an
        ``MlNetwork`` or ``MlNetwork.from_existing``): the subnets and security group of the
        containers (serverless endpoints run outside any VPC: SageMaker does not support one there).
    :param alerts: any :class:`~ml_platform.constructs.core.alerting.IAlerts` (an ``AlertRoutes``
        over the app's own topic and key): every alarm notifies its topic; its key also encrypts
        an asynchronous endpoint's result topic (the inference role is granted that key and the
        topic, so an imported key must let IAM policies grant it, as default key policies do).
    :param challenger_models: what each of ``settings.challengers`` serves, by variant name.
        Default: none.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        model: ModelSource,
        settings: EndpointSettings,
        role: iam.IRole,
        lake: ILake,
        network: INetwork,
        alerts: IAlerts,
        challenger_models: Mapping[str, ModelSource] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        challengers = dict(challenger_models or {})
        problems = [] if GROUP_NAME.match(name) else [f"name {name!r} is invalid; use letters, digits and '-', 63 "
                                                      "characters at most"]
        problems += model.problems()
        problems += [f"challenger_models.{key}: {p}" for key, source in challengers.items() for p in source.problems()]
        if set(challengers) != set(settings.challengers):
            problems.append(f"challenger_models names {', '.join(sorted(challengers)) or 'none'}; settings.challengers "
                            f"names {', '.join(sorted(settings.challengers)) or 'none'}; give one model per challenger")
        check_problems(f"ModelEndpoint {self.node.path}", problems)
        self.name, self.settings, self._lake = name, settings, lake
        sources = {settings.variant_name: model, **{n: challengers[n] for n in settings.challengers}}
        self.models = {
            variant: source_model(self, "Model" if index == 0 else f"Model{variant}", source=source, role=role,
                                  network=None if settings.serverless else network, options=settings, lake=lake)
            for index, (variant, source) in enumerate(sources.items())
        }
        self.model = self.models[settings.variant_name]
        if settings.serverless:
            skip_checkov(self.model, "CKV_AWS_370", "Serverless endpoints do not support network isolation (nor a "
                         "VPC); SageMaker refuses the endpoint configuration if the model asks for it.")
        self.results_topic: sns.Topic | None = None
        self.config = sagemaker.CfnEndpointConfig(
            self, "Config",
            kms_key_id=lake.encryption_key.key_arn,
            production_variants=self._variants(),
            data_capture_config=self._data_capture(lake, role),
            async_inference_config=self._async(lake, role, alerts),
        )
        self.rollback_alarms = self._rollback_alarms(alerts)
        guard = settings.guardrails
        self.endpoint = sagemaker.CfnEndpoint(
            self, "Endpoint",
            endpoint_name=name,
            endpoint_config_name=self.config.attr_endpoint_config_name,
            retain_all_variant_properties=settings.scales,
            deployment_config=None if settings.serverless else sagemaker.CfnEndpoint.DeploymentConfigProperty(
                blue_green_update_policy=sagemaker.CfnEndpoint.BlueGreenUpdatePolicyProperty(
                    traffic_routing_configuration=_traffic(guard.traffic, guard.step_percent, guard.wait_seconds),
                    termination_wait_in_seconds=guard.termination_wait_seconds,
                ),
                auto_rollback_configuration=sagemaker.CfnEndpoint.AutoRollbackConfigProperty(alarms=[
                    sagemaker.CfnEndpoint.AlarmProperty(alarm_name=a.alarm_name) for a in self.rollback_alarms]),
            ),
        )
        self.wake_alarm: cloudwatch.Alarm | None = None
        self.scalable_targets = self._scaling()
        self.scalable_target = self.scalable_targets.get(settings.variant_name)
        self.health_alarms = self._health_alarms(alerts)
        self.dashboard = self._dashboard()

    # -- metrics -------------------------------------------------------------------------------

    def metric(self, metric_name: str, *, statistic: str = "Sum", namespace: str = "AWS/SageMaker",
               period: Duration | None = None, variant: str | None = None) -> cloudwatch.Metric:
        """``metric_name`` of a variant, with the dimensions ``EndpointName`` and ``VariantName``:
        invocation metrics in ``AWS/SageMaker`` (the default), instance metrics such as
        ``CPUUtilization`` in :data:`INSTANCE_NAMESPACE`. Creates nothing.

        :param statistic: Default: ``Sum``.
        :param period: Default: one minute (SageMaker publishes these metrics every minute).
        :param variant: Default: the first variant (``settings.variant_name``).
        """
        return cloudwatch.Metric(namespace=namespace, metric_name=metric_name, statistic=statistic,
                                 period=period or Duration.minutes(1),
                                 dimensions_map={"EndpointName": self.name,
                                                 "VariantName": variant or self.settings.variant_name})

    def metric_invocations(self, variant: str | None = None) -> cloudwatch.Metric:
        """Requests sent to the variant (``Invocations``, sum per minute). SageMaker does not
        publish it for asynchronous endpoints (see :meth:`metric_backlog`)."""
        return self.metric("Invocations", variant=variant)

    def metric_4xx_errors(self, variant: str | None = None) -> cloudwatch.Metric:
        """Requests the model answered with a 4xx status (``Invocation4XXErrors``, sum per minute)."""
        return self.metric("Invocation4XXErrors", variant=variant)

    def metric_5xx_errors(self, variant: str | None = None) -> cloudwatch.Metric:
        """Requests the model answered with a 5xx status (``Invocation5XXErrors``, sum per minute)."""
        return self.metric("Invocation5XXErrors", variant=variant)

    def metric_model_latency(self, statistic: str = "p99", variant: str | None = None) -> cloudwatch.Metric:
        """How long the model took to respond, as SageMaker sees it (``ModelLatency``, in
        microseconds). Default statistic: ``p99``."""
        return self.metric("ModelLatency", statistic=statistic, variant=variant)

    def metric_instance(self, metric_name: str, statistic: str = "Average",
                        variant: str | None = None) -> cloudwatch.Metric:
        """An instance metric in percent, per five minutes, in :data:`INSTANCE_NAMESPACE`:
        ``CPUUtilization`` and ``GPUUtilization`` (up to 100 per vCPU or GPU),
        ``MemoryUtilization``, ``DiskUtilization``, ``GPUMemoryUtilization``. Serverless
        endpoints have no instances. Default statistic: ``Average``."""
        return self.metric(metric_name, statistic=statistic, namespace=INSTANCE_NAMESPACE,
                           period=Duration.minutes(5), variant=variant)

    def metric_backlog(self) -> cloudwatch.Metric:
        """Requests an asynchronous endpoint has queued or is processing
        (``ApproximateBacklogSize``, average per minute; dimension ``EndpointName`` only)."""
        return cloudwatch.Metric(namespace="AWS/SageMaker", metric_name="ApproximateBacklogSize", statistic="Average",
                                 period=Duration.minutes(1), dimensions_map={"EndpointName": self.name})

    def grant_invoke(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` invoke this endpoint and nothing else, on its ARN
        (``arn:<partition>:sagemaker:<region>:<account>:endpoint/<name in lower case>``):

        - real-time: ``sagemaker:InvokeEndpoint`` (which also authorizes
          ``InvokeEndpointWithResponseStream``) and ``sagemaker:InvokeEndpointWithResponseStream``;
        - serverless: ``sagemaker:InvokeEndpoint``;
        - asynchronous: ``sagemaker:InvokeEndpointAsync``, plus writing requests under the input
          location and reading results (and failures) under the output location of the lake.
        """
        asynchronous = self.settings.async_inference
        if asynchronous is not None:
            actions_ = ["sagemaker:InvokeEndpointAsync"]
            self._lake.grant_write(grantee, asynchronous.input.zone, asynchronous.input.prefix)
            self._lake.grant_read(grantee, asynchronous.output.zone, asynchronous.output.prefix)
        elif self.settings.serverless is not None:
            actions_ = ["sagemaker:InvokeEndpoint"]
        else:
            actions_ = ["sagemaker:InvokeEndpoint", "sagemaker:InvokeEndpointWithResponseStream"]
        return iam.Grant.add_to_principal(grantee=grantee, actions=actions_, resource_arns=[self.endpoint_arn])

    @property
    def endpoint_arn(self) -> str:
        """The endpoint's ARN, as IAM matches it: SageMaker writes endpoint names in ARNs in lower case."""
        return Stack.of(self).format_arn(service="sagemaker", resource="endpoint", resource_name=self.name.lower())

    # -- parts ---------------------------------------------------------------------------------

    def _variants(self) -> list[sagemaker.CfnEndpointConfig.ProductionVariantProperty]:
        settings, serverless = self.settings, self.settings.serverless
        if serverless is not None:
            return [sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                variant_name=settings.variant_name, model_name=self.model.attr_model_name, initial_variant_weight=1,
                serverless_config=sagemaker.CfnEndpointConfig.ServerlessConfigProperty(
                    memory_size_in_mb=serverless.memory_mb, max_concurrency=serverless.max_concurrency,
                    provisioned_concurrency=serverless.provisioned_concurrency),
            )]
        fleets = {settings.variant_name: (settings.instance_type, settings.initial_instance_count),
                  **{n: (c.instance_type, c.initial_instance_count) for n, c in settings.challengers.items()}}
        return [sagemaker.CfnEndpointConfig.ProductionVariantProperty(
            variant_name=variant, model_name=self.models[variant].attr_model_name, instance_type=instance_type,
            initial_instance_count=count, initial_variant_weight=settings.variants[variant],
        ) for variant, (instance_type, count) in fleets.items()]

    def _data_capture(self, lake: ILake, role: iam.IRole) -> sagemaker.CfnEndpointConfig.DataCaptureConfigProperty | None:
        capture = self.settings.data_capture
        if capture is None:
            self.capture = None
            return None
        # SageMaker appends <endpoint>/<variant>/yyyy/mm/dd/hh/ to the destination itself.
        self.capture = LakeDataset(Zone.RAW, f"{capture.prefix}{self.name}/", "capture", ("variant", *HOURLY),
                                   producer=f"data capture of endpoint {self.name}")
        lake.grant_write(role, self.capture.zone, self.capture.prefix)
        return sagemaker.CfnEndpointConfig.DataCaptureConfigProperty(
            enable_capture=True,
            initial_sampling_percentage=capture.sampling_percent,
            destination_s3_uri=lake.s3_uri(Zone.RAW, capture.prefix),
            kms_key_id=lake.encryption_key.key_arn,
            capture_options=[sagemaker.CfnEndpointConfig.CaptureOptionProperty(capture_mode=mode.title())
                             for mode in capture.capture],
        )

    def _async(self, lake: ILake, role: iam.IRole,
               alerts: IAlerts) -> sagemaker.CfnEndpointConfig.AsyncInferenceConfigProperty | None:
        """Output and failure paths in the lake, and a result topic encrypted with the alerts' key."""
        settings = self.settings.async_inference
        if settings is None:
            return None
        lake.grant_read(role, settings.input.zone, settings.input.prefix)
        lake.grant_write(role, settings.output.zone, settings.output.prefix)
        notification = None
        if settings.notify:
            self.results_topic = sns.Topic(self, "Results", display_name=f"{self.name} results",
                                           master_key=alerts.key, enforce_ssl=True)
            # In this stack, not on the role: the role's own policy cannot name this stack's topic.
            self.publish_policy = iam.ManagedPolicy(self, "PublishResults", roles=[role], statements=[
                iam.PolicyStatement(actions=["sns:Publish"], resources=[self.results_topic.topic_arn]),
                iam.PolicyStatement(actions=["kms:Decrypt", "kms:GenerateDataKey"], resources=[alerts.key.key_arn]),
            ])
            notification = sagemaker.CfnEndpointConfig.AsyncInferenceNotificationConfigProperty(
                success_topic=self.results_topic.topic_arn, error_topic=self.results_topic.topic_arn)
        output = lake.s3_uri(settings.output.zone, settings.output.prefix)
        client = settings.max_concurrent_invocations_per_instance
        return sagemaker.CfnEndpointConfig.AsyncInferenceConfigProperty(
            output_config=sagemaker.CfnEndpointConfig.AsyncInferenceOutputConfigProperty(
                s3_output_path=output, s3_failure_path=f"{output}failures/", kms_key_id=lake.encryption_key.key_arn,
                notification_config=notification),
            client_config=sagemaker.CfnEndpointConfig.AsyncInferenceClientConfigProperty(
                max_concurrent_invocations_per_instance=client) if client else None,
        )

    def _across_variants(self, metric: str, statistic: str,
                         function: str) -> cloudwatch.Metric | cloudwatch.MathExpression:
        """``metric`` of the only variant, or ``function`` (SUM, MAX) of it over every variant."""
        per_variant = [self.metric(metric, statistic=statistic, variant=v) for v in self.settings.variants]
        if len(per_variant) == 1:
            return per_variant[0]
        return cloudwatch.MathExpression(
            expression=f"{function}([{', '.join(f'v{i}' for i in range(len(per_variant)))}])",
            using_metrics={f"v{i}": m for i, m in enumerate(per_variant)},
            label=f"{metric} {statistic} ({function.lower()} over variants)", period=Duration.minutes(1))

    def _rollback_alarms(self, alerts: IAlerts) -> list[cloudwatch.Alarm]:
        """5XX errors and p99 latency over every variant: they notify, and roll back a deployment in
        progress (serverless endpoints have no guardrails, so there they only notify)."""
        guard = self.settings.guardrails
        then = "; rolls back a deployment in progress" if not self.settings.serverless else ""
        alarms = [
            self._across_variants("Invocation5XXErrors", "Sum", "SUM").create_alarm(
                self, "Errors", alarm_name=f"{self.name}-5xx-errors", threshold=guard.max_5xx_errors_per_minute,
                evaluation_periods=1, treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=f"{self.name}: more than {guard.max_5xx_errors_per_minute} 5XX errors in a "
                f"minute{then}"),
            self._across_variants("ModelLatency", "p99", "MAX").create_alarm(
                self, "Latency", alarm_name=f"{self.name}-p99-latency", threshold=guard.max_p99_latency_ms * 1000,
                evaluation_periods=2, datapoints_to_alarm=2, treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=f"{self.name}: p99 model latency above {guard.max_p99_latency_ms} ms for two "
                f"minutes{then}"),
        ]
        for alarm in alarms:
            alerts.notify(alarm, ok=True)
        return alarms

    def _instance_variants(self) -> list[str]:
        """Variants that run on instances (none when serverless)."""
        return [] if self.settings.serverless else list(self.settings.variants)

    def _health_alarms(self, alerts: IAlerts) -> list[cloudwatch.Alarm]:
        """Memory or disk of a variant's instances above 90% for 15 minutes: notify, but do not roll back."""
        alarms = []
        for index, variant in enumerate(self._instance_variants()):
            for metric_name, what in (("MemoryUtilization", "memory"), ("DiskUtilization", "disk")):
                alarm = self.metric_instance(metric_name, variant=variant).create_alarm(
                    self, f"{what.title()}Full" + ("" if index == 0 else variant), threshold=90, evaluation_periods=3,
                    treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                    alarm_description=f"{self.name}: instance {what} of {variant} above 90% for 15 minutes")
                alarms.append(alerts.notify(alarm))
        return alarms

    def _dashboard(self) -> cloudwatch.Dashboard:
        """Traffic, errors, latency percentiles, instance utilization (or serverless cold starts,
        or the async backlog) of every variant, with the alarms."""
        variants = list(self.settings.variants)
        latency = [self.metric_model_latency(s, v) for v in variants for s in ("p50", "p90", "p99")]
        errors = [m for v in variants for m in (self.metric_5xx_errors(v), self.metric_4xx_errors(v))]
        widgets: list[cloudwatch.IWidget] = [
            cloudwatch.GraphWidget(title="Invocations", left=[self.metric_invocations(v) for v in variants], width=8),
            cloudwatch.GraphWidget(title="Errors", left=errors, width=8),
            cloudwatch.GraphWidget(title="Model latency (microseconds)", left=latency, width=8),
        ]
        if self.settings.serverless:
            widgets.append(cloudwatch.GraphWidget(title="Cold starts: model setup time (microseconds)", width=12, left=[
                self.metric("ModelSetupTime", statistic="p99")]))
        else:
            instance = ["CPUUtilization", "MemoryUtilization", "DiskUtilization"]
            types = {self.settings.instance_type, *(c.instance_type for c in self.settings.challengers.values())}
            if any(GPU_FAMILY.match(t) for t in types if t):
                instance += ["GPUUtilization", "GPUMemoryUtilization"]
            left = [self.metric_instance(m, variant=v) for v in variants for m in instance]
            if self.settings.async_inference:
                widgets.append(cloudwatch.GraphWidget(title="Queued requests", left=[self.metric_backlog()], width=12))
                widgets.append(cloudwatch.GraphWidget(title="Instances (%)", left=left, width=12))
            else:
                widgets.append(cloudwatch.GraphWidget(title="Instances (%)", left=left, width=12))
        alarms = [*self.rollback_alarms, *self.health_alarms, *([self.wake_alarm] if self.wake_alarm else [])]
        widgets.append(cloudwatch.AlarmStatusWidget(title="Alarms", alarms=alarms, width=12))
        return cloudwatch.Dashboard(self, "Dashboard", dashboard_name=self.name,
                                    widgets=[widgets[:3], widgets[3:]])

    def _scaling(self) -> dict[str, appscaling.ScalableTarget]:
        """Scalable targets by variant: provisioned concurrency (serverless), backlog (async) or
        invocations per instance (each autoscaled instance variant)."""
        settings = self.settings
        targets: dict[str, appscaling.ScalableTarget] = {}
        provisioned = settings.serverless.provisioned_scaling if settings.serverless else None
        if provisioned is not None:
            target = scalable_variant(
                self, "Scaling", variant=settings.variant_name, dimension=PROVISIONED_CONCURRENCY,
                min_capacity=provisioned.min_capacity, max_capacity=provisioned.max_capacity,
                schedules=provisioned.schedules, time_zone=provisioned.time_zone,
                endpoint=self.endpoint, endpoint_name=self.name)
            track_provisioned_concurrency(target, provisioned)
            targets[settings.variant_name] = target
        backlog = settings.async_inference.scaling if settings.async_inference else None
        if backlog is not None:
            target = scalable_variant(self, "Scaling", variant=settings.variant_name, dimension=INSTANCES,
                                      min_capacity=backlog.min_capacity, max_capacity=backlog.max_capacity,
                                      endpoint=self.endpoint, endpoint_name=self.name)
            self.wake_alarm = track_backlog(target, backlog, endpoint_name=self.name)
            targets[settings.variant_name] = target
        fleets = {settings.variant_name: settings.autoscaling,
                  **{n: c.autoscaling for n, c in settings.challengers.items()}}
        for index, (variant, scaling) in enumerate(fleets.items()):
            if scaling is None:
                continue
            target = scalable_variant(
                self, "Scaling" if index == 0 else f"Scaling{variant}", variant=variant, dimension=INSTANCES,
                min_capacity=scaling.min_capacity, max_capacity=scaling.max_capacity,
                schedules=scaling.schedules, time_zone=scaling.time_zone,
                endpoint=self.endpoint, endpoint_name=self.name)
            track_invocations(target, scaling)
            targets[variant] = target
        return targets


def _traffic(kind: str, step_percent: int, wait_seconds: int) -> sagemaker.CfnEndpoint.TrafficRoutingConfigProperty:
    size = sagemaker.CfnEndpoint.CapacitySizeProperty(type="CAPACITY_PERCENT", value=step_percent)
    return sagemaker.CfnEndpoint.TrafficRoutingConfigProperty(
        type=kind.upper(), wait_interval_in_seconds=wait_seconds,
        canary_size=size if kind == "canary" else None,
        linear_step_size=size if kind == "linear" else None,
    )
