"""The stack that monitors serving endpoints: one :class:`ModelMonitor` per ``monitoring`` endpoint."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_kms as kms
from constructs import Construct

from ml_platform.constructs.core.alerting import AlertPath
from ml_platform.constructs.lake.data_lake import DataLake
from ml_platform.constructs.core.keys import allow_cloudwatch_logs
from ml_platform.constructs.monitoring.feedback_loop import FeedbackLoop
from ml_platform.constructs.training.ml_network import MlNetwork
from ml_platform.constructs.serving.model_endpoint import ModelEndpoint
from ml_platform.constructs.monitoring.model_monitor import ModelMonitor
from ml_platform.constructs.core.naming import pascal_case
from ml_platform.constructs.core.removal import data_removal_policy
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
            self.monitors[key] = ModelMonitor(
                self, pascal_case(key), endpoint_name=endpoint.name, capture=capture, ground_truth=ground_truth,
                settings=monitor, role=role, lake=lake, network=network, alerts=self.alerts,
                # pyright only: jsii renames the interface's parameters (aws/aws-cdk#15584)
                key=self.key,  # pyright: ignore[reportArgumentType]
                pipeline_name=pipeline.pipeline_name if pipeline is not None and monitor.retrain_on_violations
                else None,
                removal_policy=removal,
            )
        self.alerts.cover_functions()
