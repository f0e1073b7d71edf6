"""``ModelMonitor``: Model Monitor schedules for one endpoint, their baselines check, alarms and events.

Each enabled type (data quality, model quality, bias) is a job definition plus a monitoring
schedule named ``<endpoint>-<type>``. Jobs run as the monitoring execution role in the
platform's subnets with network isolation and inter-container encryption, the lake key on
volumes and reports. Data and model quality run the region's Model Monitor analyzer image, bias
the region's Clarify image, both resolved with the SageMaker SDK; the bias job's Clarify
analysis configuration is generated from the typed settings and shipped as an asset.

Explainability (feature attribution drift) is not built: Clarify computes SHAP values on a
shadow endpoint it creates from the served model, which this construct cannot offer as
SageMaker documents it (see :data:`~ml_platform.constructs.monitoring.monitor_settings.EXPLAINABILITY_NOT_OFFERED`
and docs/monitoring.md); the settings refuse it.

The schedules depend on a :class:`BaselineCheck`, so a deploy fails instead of scheduling
executions against baselines that do not exist.

Notifications: executions that fail or complete with violations are routed by EventBridge to the
alert topic (and, with ``retrain_on_violations``, start the model's training pipeline); CloudWatch
alarms watch the drift and quality metrics the settings name. :meth:`ModelMonitor.metric_feature_drift`
and :meth:`ModelMonitor.metric_model_quality` give the same metrics for an app's own alarms and
dashboards; :meth:`ModelMonitor.grant_read_reports` lets a reader see every execution's reports.
"""

from __future__ import annotations

import re
from typing import Any

from aws_cdk import Duration, Fn, RemovalPolicy, Stack, Token
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from ml_platform.constructs.core.alerting import IAlerts
from ml_platform.constructs.monitoring.baseline_check import BaselineCheck
from ml_platform.constructs.monitoring.capture_check import capture_problems
from ml_platform.constructs.lake.lake_locations import LakeDataset, object_folder
from ml_platform.constructs.lake.lake_access import ILake
from ml_platform.constructs.core.json_asset import json_asset
from ml_platform.constructs.training.ml_network import INetwork, subnet_ids
from ml_platform.constructs.monitoring.monitor_settings import (
    METRIC_NAME_PATTERN,
    Bias,
    DataQuality,
    ModelQuality,
    MonitorJob,
    MonitorSettings,
    interval_hours,
)
from ml_platform.constructs.core.naming import pascal_case
from ml_platform.constructs.monitoring.retrain_gate import RetrainGate
from ml_platform.constructs.training.sagemaker_images import REGENERATE, builtin_image
from ml_platform.constructs.training.sagemaker_roles import LakeLocation, LakeObject
from ml_platform.constructs.core.validation import check_problems

#: Monitoring type (settings name) -> (schedule's MonitoringType, name suffix, SDK image family).
TYPES = {
    "data_quality": ("DataQuality", "data-quality", "model-monitor"),
    "model_quality": ("ModelQuality", "model-quality", "model-monitor"),
    "bias": ("ModelBias", "bias", "clarify"),
}
#: CloudWatch namespaces Model Monitor publishes endpoint metrics to.
DATA_METRICS = "aws/sagemaker/Endpoints/data-metrics"
MODEL_METRICS = "aws/sagemaker/Endpoints/model-metrics"
#: Statistic of :meth:`ModelMonitor.metric_feature_drift` and :meth:`ModelMonitor.metric_model_quality`
#: by default: each execution publishes one value, so over the default period (the schedule's
#: interval) every statistic is that execution's value.
DEFAULT_METRIC_STATISTIC = "Average"
LOCAL_INPUT = "/opt/ml/processing/input/endpoint"
LOCAL_OUTPUT = "/opt/ml/processing/output"


def monitor_image(family: str, region: str) -> str:
    """The region's ``model-monitor`` (analyzer) or ``clarify`` image URI from the image table the
    SageMaker SDK generates (no SDK import); a one-line ``ValueError`` naming the region if the
    SDK does not list it."""
    try:
        return builtin_image(family, region)
    except ValueError:
        raise ValueError(f"the SageMaker SDK lists no {family} image in region {region!r}; Model Monitor cannot "
                         f"run there (or the image table is older than the region: {REGENERATE})") from None


class ModelMonitor(Construct):
    """Monitoring schedules of the endpoint ``endpoint_name`` for the types ``settings`` enables.

    :param endpoint_name: the monitored endpoint; it must capture its data to ``capture``.
    :param capture: where the endpoint captures its data (its ``capture``); its last folder must
        be ``endpoint_name``, as SageMaker writes it.
    :param settings: see :class:`MonitorSettings`.
    :param role: the monitoring execution role (any ``iam.IRole``); the construct grants it the
        capture, ground truth, baselines and its reports location.
    :param lake: where baselines, ground truth, captured data and reports are (a ``DataLake``, or
        ``DataLake.from_existing``); its key encrypts volumes and reports.
    :param network: subnets and security group of the jobs (and of the baseline check and retrain
        gate functions); any :class:`~ml_platform.constructs.training.ml_network.INetwork`.
    :param alerts: the routes of violations, failed executions and alarms (an ``AlertRoutes``).
    :param key: encrypts the logs of the baseline check and of the retrain gate. This construct
        does not edit its policy: the policy must already let ``logs.<region>.amazonaws.com`` use
        it (for a key the app creates, :func:`ml_platform.constructs.core.keys.allow_cloudwatch_logs`).
    :param ground_truth: where model quality and bias read labels when their settings name no
        ``ground_truth`` (a :class:`~ml_platform.constructs.monitoring.feedback_loop.FeedbackLoop`'s
        ``ground_truth``). Default: none.
    :param pipeline_name: the training pipeline started on violations with
        ``retrain_on_violations``, through a :class:`RetrainGate` (one execution at a time, a
        cooldown after each start). Default: none.
    :param removal_policy: of the baseline check's log group. Default: RETAIN.
    :param model_package_arn: the model package version the endpoint serves: its registered data
        and model quality baselines are copied to the objects the settings name before the
        deploy-time check (:class:`BaselineCheck`). Default: none (the objects are made by hand).
    :param registered_in: where that version's registered baselines lie (the training pipeline's
        run outputs); required with ``model_package_arn``.
    :raises ValueError: one line naming every problem: a capture that is not ``endpoint_name``'s,
        schedule names over 63 characters, retraining without ``pipeline_name``, model quality or
        bias without ground truth, a stack without an explicit region.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint_name: str,
        capture: LakeDataset,
        settings: MonitorSettings,
        role: iam.IRole,
        lake: ILake,
        network: INetwork,
        alerts: IAlerts,
        key: kms.IKey,
        pipeline_name: str | None = None,
        ground_truth: LakeDataset | None = None,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
        model_package_arn: str | None = None,
        registered_in: LakeLocation | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        too_long = [f"{endpoint_name}-{TYPES[t][1]}" for t in settings.jobs() if len(f"{endpoint_name}-{TYPES[t][1]}") > 63]
        problems = capture_problems(capture, endpoint_name)
        problems += [f"schedule name {n!r} is longer than 63 characters; use a shorter endpoint name" for n in too_long]
        if settings.retrain_on_violations and pipeline_name is None:
            problems.append("retrain_on_violations needs pipeline_name, the training pipeline to start")
        blind = [k for k in ("model_quality", "bias") if getattr(settings, k) is not None
                 and getattr(settings, k).ground_truth is None and ground_truth is None]
        if blind:
            problems.append(f"{' and '.join(blind)} need ground truth: pass ground_truth or set it in their settings")
        if Token.is_unresolved(stack.region):
            problems.append("the stack needs an explicit region to resolve the monitoring images")
        check_problems(f"ModelMonitor {self.node.path}", problems)
        self.endpoint_name, self.settings, self._lake, self._role = endpoint_name, settings, lake, role
        self._network, self._key = network, lake.encryption_key.key_arn
        self.capture, self._ground_truth = capture, ground_truth
        capture.grant_read(lake, role)
        self.reports_prefix = f"{settings.reports.prefix}{endpoint_name}/"
        lake.grant_write(role, settings.reports.zone, self.reports_prefix)
        baselines = [o for job in settings.jobs().values()
                     for o in (job.constraints, *([job.statistics] if isinstance(job, DataQuality) else []))]
        copies: dict[str, LakeObject] = {}
        if model_package_arn is not None:  # the served version's registered baselines
            if settings.data_quality is not None:
                copies["ModelDataQuality.Statistics"] = settings.data_quality.statistics
                copies["ModelDataQuality.Constraints"] = settings.data_quality.constraints
            if settings.model_quality is not None:
                copies["ModelQuality.Constraints"] = settings.model_quality.constraints
        self.baseline_check = BaselineCheck(self, "Baselines", lake=lake, objects=baselines, network=network,
                                            logs_key=key, removal_policy=removal_policy,
                                            model_package_arn=model_package_arn if copies else None,
                                            copies=copies, registered_in=registered_in if copies else None)
        for obj in baselines:
            lake.grant_read(role, obj.zone, object_folder(obj.key))
        self.job_definitions: dict[str, Construct] = {}
        self.schedules: dict[str, sagemaker.CfnMonitoringSchedule] = {}
        for kind, job in settings.jobs().items():
            definition = getattr(self, f"_{kind}")(job)
            if isinstance(role, Construct):
                definition.node.add_dependency(role)  # the role's policy exists before SageMaker checks it
            monitoring_type = TYPES[kind][0]
            schedule = sagemaker.CfnMonitoringSchedule(
                self, f"{pascal_case(kind)}Schedule", monitoring_schedule_name=self.schedule_name(kind),
                endpoint_name=endpoint_name,
                monitoring_schedule_config=sagemaker.CfnMonitoringSchedule.MonitoringScheduleConfigProperty(
                    # Job definitions have no name attribute: the name is what follows '/' in the ARN.
                    monitoring_job_definition_name=Fn.select(1, Fn.split("/", definition.attr_job_definition_arn)),
                    monitoring_type=monitoring_type,
                    schedule_config=sagemaker.CfnMonitoringSchedule.ScheduleConfigProperty(schedule_expression=job.cron),
                ),
            )
            schedule.node.add_dependency(self.baseline_check.resource)
            self.job_definitions[kind], self.schedules[kind] = definition, schedule
        self.alarms = self._alarms(alerts)
        self.retrain_gate: RetrainGate | None = None
        if settings.retrain_on_violations and pipeline_name is not None:
            self.retrain_gate = RetrainGate(
                self, "RetrainGate", pipeline_name=pipeline_name, cooldown_hours=settings.retrain_cooldown_hours,
                network=network, key=key, removal_policy=removal_policy,
                description=f"Starts {pipeline_name} when {endpoint_name}'s monitors find violations, one "
                            "execution at a time")
        self.rules = self._events(alerts)

    # -- grants and metrics --------------------------------------------------------------------

    def grant_read_reports(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` list, read and decrypt the reports of every execution of these schedules
        (``<settings.reports.prefix><endpoint>/<type>/`` in the reports zone); nothing else of the lake."""
        return self._lake.grant_read(grantee, self.settings.reports.zone, self.reports_prefix)

    def metric_feature_drift(self, feature: str, *, statistic: str = DEFAULT_METRIC_STATISTIC,
                             period: Duration | None = None) -> cloudwatch.Metric:
        """The baseline drift (0-1) of ``feature`` that the data quality executions publish:
        ``feature_baseline_drift_<feature>`` in ``aws/sagemaker/Endpoints/data-metrics`` with the
        dimensions ``Endpoint`` and ``MonitoringSchedule`` (``<endpoint>-data-quality``).

        :param statistic: Default: :data:`DEFAULT_METRIC_STATISTIC`.
        :param period: Default: the data quality schedule's interval (one execution each).
        :raises ValueError: if data quality is not enabled, or ``feature`` is not a metric name.
        """
        return self._metric("metric_feature_drift", "data_quality", DATA_METRICS, "feature",
                            feature, "feature_baseline_drift_", statistic, period)

    def metric_model_quality(self, metric_name: str, *, statistic: str = DEFAULT_METRIC_STATISTIC,
                             period: Duration | None = None) -> cloudwatch.Metric:
        """A metric the model quality executions publish (``auc``, ``accuracy``, ``f1``, ``rmse``,
        ... as the problem type computes them) in ``aws/sagemaker/Endpoints/model-metrics`` with the
        dimensions ``Endpoint`` and ``MonitoringSchedule`` (``<endpoint>-model-quality``).

        :param statistic: Default: :data:`DEFAULT_METRIC_STATISTIC`.
        :param period: Default: the model quality schedule's interval (one execution each).
        :raises ValueError: if model quality is not enabled, or ``metric_name`` is not a metric name.
        """
        return self._metric("metric_model_quality", "model_quality", MODEL_METRICS, "metric_name",
                            metric_name, "", statistic, period)

    def _metric(self, method: str, kind: str, namespace: str, argument: str, name: str, prefix: str,
                statistic: str, period: Duration | None) -> cloudwatch.Metric:
        job = self.settings.jobs().get(kind)
        problems = [] if job is not None else [f"{method} needs {kind}, which the settings do not enable"]
        if not re.fullmatch(METRIC_NAME_PATTERN, name):
            problems.append(f"{method}: {argument} {name!r} is not a metric name; allowed: 1-200 letters, "
                            "digits, '_', '.', '-'")
        check_problems(f"ModelMonitor {self.node.path}", problems)
        assert job is not None
        return cloudwatch.Metric(
            namespace=namespace, metric_name=f"{prefix}{name}", statistic=statistic,
            period=period or Duration.hours(interval_hours(job.cron)),
            dimensions_map={"Endpoint": self.endpoint_name, "MonitoringSchedule": self.schedule_name(kind)})

    def schedule_name(self, kind: str) -> str:
        """The name of the schedule of ``kind`` (``data_quality``, ``model_quality``, ``bias``):
        ``<endpoint>-<type>``."""
        return f"{self.endpoint_name}-{TYPES[kind][1]}"

    # -- job definitions -----------------------------------------------------------------------

    def _data_quality(self, job: DataQuality) -> sagemaker.CfnDataQualityJobDefinition:
        cls = sagemaker.CfnDataQualityJobDefinition
        return cls(
            self, "DataQuality", **self._job(cls, job),
            data_quality_app_specification=cls.DataQualityAppSpecificationProperty(
                image_uri=self._image("data_quality"), environment={"publish_cloudwatch_metrics": "Enabled"}),
            data_quality_baseline_config=cls.DataQualityBaselineConfigProperty(
                constraints_resource=cls.ConstraintsResourceProperty(s3_uri=self._uri(job.constraints)),
                statistics_resource=cls.StatisticsResourceProperty(s3_uri=self._uri(job.statistics))),
            data_quality_job_input=cls.DataQualityJobInputProperty(endpoint_input=cls.EndpointInputProperty(
                endpoint_name=self.endpoint_name, local_path=LOCAL_INPUT)),
            data_quality_job_output_config=self._output(cls, "data_quality"),
        )

    def _model_quality(self, job: ModelQuality) -> sagemaker.CfnModelQualityJobDefinition:
        cls = sagemaker.CfnModelQualityJobDefinition
        return cls(
            self, "ModelQuality", **self._job(cls, job),
            model_quality_app_specification=cls.ModelQualityAppSpecificationProperty(
                image_uri=self._image("model_quality"), problem_type=job.problem_type,
                environment={"publish_cloudwatch_metrics": "Enabled"}),
            model_quality_baseline_config=cls.ModelQualityBaselineConfigProperty(
                constraints_resource=cls.ConstraintsResourceProperty(s3_uri=self._uri(job.constraints))),
            model_quality_job_input=cls.ModelQualityJobInputProperty(
                endpoint_input=cls.EndpointInputProperty(
                    endpoint_name=self.endpoint_name, local_path=LOCAL_INPUT,
                    inference_attribute=job.inference_attribute, probability_attribute=job.probability_attribute,
                    probability_threshold_attribute=job.probability_threshold),
                ground_truth_s3_input=cls.MonitoringGroundTruthS3InputProperty(s3_uri=self._labels(job))),
            model_quality_job_output_config=self._output(cls, "model_quality"),
        )

    def _bias(self, job: Bias) -> sagemaker.CfnModelBiasJobDefinition:
        cls = sagemaker.CfnModelBiasJobDefinition
        return cls(
            self, "Bias", **self._job(cls, job),
            model_bias_app_specification=cls.ModelBiasAppSpecificationProperty(
                image_uri=self._image("bias"), config_uri=self._analysis_config("bias", job.analysis_config()),
                environment={"publish_cloudwatch_metrics": "Enabled"}),
            model_bias_baseline_config=cls.ModelBiasBaselineConfigProperty(
                constraints_resource=cls.ConstraintsResourceProperty(s3_uri=self._uri(job.constraints))),
            model_bias_job_input=cls.ModelBiasJobInputProperty(
                endpoint_input=cls.EndpointInputProperty(endpoint_name=self.endpoint_name, local_path=LOCAL_INPUT),
                ground_truth_s3_input=cls.MonitoringGroundTruthS3InputProperty(s3_uri=self._labels(job))),
            model_bias_job_output_config=self._output(cls, "bias"),
        )

    # -- shared parts --------------------------------------------------------------------------

    def _image(self, kind: str) -> str:
        return monitor_image(TYPES[kind][2], Stack.of(self).region)

    def _uri(self, obj: LakeObject) -> str:
        return self._lake.s3_uri(obj.zone, obj.key)

    # ``cls`` below is one of the three job definition classes. Their nested property classes share names
    # and fields but are distinct types, which no annotation can pick by the class given: hence ``Any``.

    def _output(self, cls: Any, kind: str) -> Any:
        """``cls``'s ``MonitoringOutputConfigProperty``: reports of ``kind`` in the lake, encrypted with its key."""
        return cls.MonitoringOutputConfigProperty(kms_key_id=self._key, monitoring_outputs=[cls.MonitoringOutputProperty(
            s3_output=cls.S3OutputProperty(
                local_path=LOCAL_OUTPUT, s3_upload_mode="EndOfJob",
                s3_uri=self._lake.s3_uri(self.settings.reports.zone, f"{self.reports_prefix}{TYPES[kind][1]}/")))])

    def _job(self, cls: Any, job: MonitorJob) -> dict[str, Any]:
        """What every job definition shares: the role, the instances with the lake key on their
        volumes, the isolated and encrypted network, and the run time limit."""
        network = self._network
        return {
            "role_arn": self._role.role_arn,
            "job_resources": cls.MonitoringResourcesProperty(cluster_config=cls.ClusterConfigProperty(
                instance_count=job.instance_count, instance_type=job.instance_type,
                volume_size_in_gb=job.volume_size_gb, volume_kms_key_id=self._key)),
            "network_config": cls.NetworkConfigProperty(
                enable_inter_container_traffic_encryption=True, enable_network_isolation=True,
                vpc_config=cls.VpcConfigProperty(security_group_ids=[network.job_security_group.security_group_id],
                                                 subnets=subnet_ids(network))),
            "stopping_condition": cls.StoppingConditionProperty(max_runtime_in_seconds=job.max_runtime_minutes * 60),
        }

    def _labels(self, job: ModelQuality | Bias) -> str:
        """The ground truth location of ``job`` (its own, or the feedback loop's), granted to the role."""
        labels = (LakeDataset.landing(job.ground_truth.zone, job.ground_truth.prefix, "ground-truth")
                  if job.ground_truth is not None else self._ground_truth)
        assert labels is not None  # checked in __init__
        labels.grant_read(self._lake, self._role)
        return labels.uri(self._lake)

    def _analysis_config(self, kind: str, config: dict[str, Any]) -> str:
        """``config`` shipped as an asset the role reads."""
        return json_asset(self, f"{pascal_case(kind)}AnalysisConfig", config, reader=self._role).s3_object_url

    # -- notifications -------------------------------------------------------------------------

    def _alarms(self, alerts: IAlerts) -> list[cloudwatch.Alarm]:
        """Drift and quality metrics the settings name, one alarm each, to the alert topic."""
        found: list[cloudwatch.Alarm] = []
        data, quality = self.settings.data_quality, self.settings.model_quality
        if data is not None:
            for feature, threshold in data.drift_alarms.items():
                found.append(self._metric_alarm(
                    f"Drift{len(found)}", self.metric_feature_drift(feature, statistic="Maximum"), "data_quality",
                    threshold, cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                    f"baseline drift of feature {feature} above {threshold}"))
        if quality is not None:
            for metric, bound in quality.metric_alarms.items():
                below = bound.below is not None
                value = bound.below if bound.below is not None else bound.above
                assert value is not None  # the settings require below or above
                found.append(self._metric_alarm(
                    f"Quality{len(found)}",
                    self.metric_model_quality(metric, statistic="Minimum" if below else "Maximum"), "model_quality",
                    value,
                    cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD if below
                    else cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                    f"{metric} {'below' if below else 'above'} {value}"))
        for alarm in found:
            alerts.notify(alarm)
        return found

    def _metric_alarm(self, construct_id: str, metric: cloudwatch.Metric, kind: str, threshold: float,
                      comparison: cloudwatch.ComparisonOperator, what: str) -> cloudwatch.Alarm:
        return metric.create_alarm(self, construct_id, threshold=threshold, comparison_operator=comparison, evaluation_periods=1,
                       treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                       alarm_description=f"{self.endpoint_name} ({TYPES[kind][1]} monitor): {what}")

    def _events(self, alerts: IAlerts) -> list[events.Rule]:
        """Executions of these schedules that fail, or complete with violations."""
        arns = [s.attr_monitoring_schedule_arn for s in self.schedules.values()]
        base = {"source": ["aws.sagemaker"], "detail_type": ["SageMaker Processing Job State Change"]}
        failed = alerts.route(
            self, "Failed", f"A monitoring execution of {self.endpoint_name} failed",
            events.EventPattern(**base, detail={"MonitoringScheduleArn": arns, "ProcessingJobStatus": ["Failed"]}))
        violations = alerts.route(
            self, "Violations", f"A monitoring execution of {self.endpoint_name} found violations",
            events.EventPattern(**base, detail={"MonitoringScheduleArn": arns, "ProcessingJobStatus": ["Completed"],
                                                "ExitMessage": [{"prefix": "CompletedWithViolations"}]}))
        if self.retrain_gate is not None:
            # pyright only: jsii names LambdaFunction.bind's parameter "_id", IRuleTarget's "id" (aws/jsii#4541)
            violations.add_target(alerts.lambda_target(self.retrain_gate.function))  # pyright: ignore[reportArgumentType]
        return [failed, violations]

