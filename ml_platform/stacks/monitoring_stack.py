"""The stack that monitors serving endpoints: one :class:`ModelMonitor` per ``monitoring`` endpoint."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_kms as kms
from constructs import Construct

from ml_platform.constructs.core.alerting import AlertPath
from ml_platform.constructs.lake.data_lake import DataLake
from ml_platform.constructs.core.keys import allow_cloudwatch_logs
from ml_platform.constructs.monitoring.feedback_loop import FeedbackLoop
from ml_platform.constructs.training.ml_network import MlNetwork
from ml_platform.constructs.serving.model_endpoint import ModelEndpoint
from ml_platform.constructs.monitoring.drift_monitor import ProcessingDriftMonitor
from ml_platform.constructs.monitoring.model_monitor import ModelMonitor
from ml_platform.constructs.monitoring.retrain_gate import RetrainGate
from ml_platform.constructs.core.naming import pascal_case
from ml_platform.constructs.core.removal import data_removal_policy
from ml_platform.constructs.training.sagemaker_roles import LakeLocation
from ml_platform.constructs.training.training_pipeline import TrainingPipeline
from ml_platform.constructs.monitoring.monitoring_settings import MonitoringSection
from ml_platform.constructs.serving.serving_settings import ServingSettings
from ml_platform.stacks.alerting_stack import alert_routes
from ml_platform.stacks.training_stack import TrainingStack


class MonitoringStack(Stack):
    """Model Monitor schedules of the serving stack's ``endpoints`` as the training stack's
    monitoring role, with violations, failed executions and alarms routed to ``alerts``, and
    a :class:`FeedbackLoop` per endpoint with ``feedback`` (its ground truth is what model quality
    and bias read; its labeled rows go to the model's training pipeline).

    Deploy it after the Serving stack (the endpoints must exist) and after the baselines are in
    the lake (the deploy fails otherwise; see docs/monitoring.md). ``pipelines`` are every model's
    pipeline, by model, whichever Training stack holds it (the stage's ``pipelines``); default:
    ``training.pipelines``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: MonitoringSection,
        serving: ServingSettings,
        endpoints: Mapping[str, ModelEndpoint],
        lake: DataLake,
        network: MlNetwork,
        training: TrainingStack,
        alerts: AlertPath,
        pipelines: Mapping[str, TrainingPipeline] | None = None,
        allow_data_deletion: bool,
        **stack_props: Any,
    ) -> None:
        super().__init__(scope, construct_id, **stack_props)
        pipelines = training.pipelines if pipelines is None else pipelines
        removal = data_removal_policy(self, allow_data_deletion=allow_data_deletion)
        self.key = kms.Key(self, "Key", description="Encrypts the logs of the monitoring functions",
                           enable_key_rotation=True, removal_policy=removal)
        allow_cloudwatch_logs(self.key)
        self.alerts = alert_routes(self, alerts)
        role = training.roles.role("monitoring")
        self.monitors: dict[str, ModelMonitor] = {}
        #: The processing engine's drift monitors (``monitoring.engine: processing``), by endpoint key.
        self.drift: dict[str, ProcessingDriftMonitor] = {}
        self.feedback: dict[str, FeedbackLoop] = {}
        for key, monitor in settings.endpoints.items():
            endpoint, served = endpoints[key], serving.endpoints[key]
            pipeline = pipelines.get(served.model) if served.model else None
            capture = endpoint.capture
            assert capture is not None  # the configuration requires data capture
            ground_truth = None
            if monitor.feedback is not None:
                assert pipeline is not None and pipeline.feedback is not None  # the stage wires it
                self.feedback[key] = FeedbackLoop(
                    self, f"{pascal_case(key)}Feedback", endpoint_name=endpoint.name, model=pipeline.settings.model,
                    capture=capture, feedback=pipeline.feedback, settings=monitor.feedback, lake=lake,
                    # pyright only: jsii renames the interface's parameters (aws/aws-cdk#15584)
                    network=network, key=self.key,  # pyright: ignore[reportArgumentType]
                    removal_policy=removal, alerts=self.alerts)
                ground_truth = self.feedback[key].ground_truth
            served_version, registered_in = None, None
            if monitor.baselines_from_served_version:
                # the configuration requires a served registry version trained by a platform pipeline
                assert pipeline is not None and served.version is not None and served.model is not None
                served_version = training.served_package_arn(self, served.model, served.version)
                registered_in = LakeLocation(zone="artifacts", prefix=pipeline.runs_prefix)
            retrain = pipeline.pipeline_name if pipeline is not None and monitor.retrain_on_violations else None
            quality = monitor.data_quality
            if settings.engine == "processing" and quality is not None:
                self.drift[key] = ProcessingDriftMonitor(
                    self, f"{pascal_case(key)}Drift", endpoint_name=endpoint.name, capture=capture,
                    statistics=quality.statistics, constraints=quality.constraints, headers=quality.headers,
                    reports=monitor.reports, lake=lake, network=network, alerts=self.alerts,
                    # pyright only: jsii renames the interface's parameters (aws/aws-cdk#15584)
                    key=self.key,  # pyright: ignore[reportArgumentType]
                    schedule=quality.schedule, instance_type=quality.instance_type,
                    volume_size_gb=quality.volume_size_gb, max_runtime_minutes=quality.max_runtime_minutes,
                    role=role, drift_alarms=quality.drift_alarms, removal_policy=removal,
                    model_package_arn=served_version, registered_in=registered_in)
                if retrain is not None:
                    self._retrain_on_drift(key, self.drift[key], retrain, monitor.retrain_cooldown_hours, network,
                                           removal)
                monitor = monitor.model_copy(update={"data_quality": None})
            if not monitor.jobs():
                continue
            self.monitors[key] = ModelMonitor(
                self, pascal_case(key), endpoint_name=endpoint.name, capture=capture, ground_truth=ground_truth,
                settings=monitor, role=role, lake=lake, network=network, alerts=self.alerts,
                # pyright only: jsii renames the interface's parameters (aws/aws-cdk#15584)
                key=self.key,  # pyright: ignore[reportArgumentType]
                pipeline_name=retrain,
                removal_policy=removal, model_package_arn=served_version, registered_in=registered_in,
            )
        self.alerts.cover_functions()

    def _retrain_on_drift(self, key: str, drift: ProcessingDriftMonitor, pipeline_name: str, cooldown_hours: int,
                          network: MlNetwork, removal: RemovalPolicy) -> None:
        """A drift alarm that goes into ALARM starts the pipeline through a :class:`RetrainGate`
        (CloudWatch sends its state changes to EventBridge; the gate reads the alarm's name)."""
        if not drift.alarms:
            return
        gate = RetrainGate(
            self, f"{pascal_case(key)}DriftRetrainGate", pipeline_name=pipeline_name, cooldown_hours=cooldown_hours,
            # pyright only: jsii renames the interface's parameters (aws/aws-cdk#15584)
            network=network, key=self.key, removal_policy=removal,  # pyright: ignore[reportArgumentType]
            description=f"Starts {pipeline_name} when {drift.endpoint_name}'s drift alarms fire, one execution at a time")
        rule = events.Rule(self, f"{pascal_case(key)}DriftAlarms", description=(
            f"Drift alarms of {drift.endpoint_name} going into ALARM start the retrain gate"),
            event_pattern=events.EventPattern(
                source=["aws.cloudwatch"], detail_type=["CloudWatch Alarm State Change"],
                detail={"alarmName": [a.alarm_name for a in drift.alarms], "state": {"value": ["ALARM"]}}))
        # pyright only: jsii names LambdaFunction.bind's parameter "_id", IRuleTarget's "id" (aws/jsii#4541)
        rule.add_target(self.alerts.lambda_target(gate.function))  # pyright: ignore[reportArgumentType]
