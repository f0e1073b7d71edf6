"""The stack of Ground Truth labeling: private workforce, work teams, the task, its template and its Lambdas."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_kms as kms
from constructs import Construct

from ml_platform.constructs.core.alerting import AlertPath
from ml_platform.constructs.lake.data_lake import DataLake
from ml_platform.constructs.core.keys import allow_cloudwatch_logs
from ml_platform.constructs.labeling.labeling_settings import LabelingSettings
from ml_platform.constructs.labeling.labeling_task import LabelingTask
from ml_platform.constructs.labeling.labeling_workforce import LabelingWorkforce
from ml_platform.constructs.training.ml_network import MlNetwork
from ml_platform.constructs.core.removal import data_removal_policy

from ml_platform.stacks.alerting_stack import alert_routes


class LabelingStack(Stack):
    """Workforce ``<name_prefix>``, teams ``<name_prefix>-<team>`` and the task of ``settings``.

    The output ``TaskUiTemplateUri`` is the ``UiTemplateS3Uri`` a labeling job of the task takes.

    One private workforce exists per account and region: a second environment in the same account
    imports the first one's (``workforce.existing``; see docs/labeling.md).
    """

    def __init__(self, scope: Construct, construct_id: str, *, settings: LabelingSettings, name_prefix: str,
                 lake: DataLake, network: MlNetwork, alerts: AlertPath, allow_data_deletion: bool,
                 **stack_props: Any) -> None:
        super().__init__(scope, construct_id, **stack_props)
        removal = data_removal_policy(self, allow_data_deletion=allow_data_deletion)
        self.key = kms.Key(self, "Key", description="Encrypts work team notifications and the labeling functions' logs",
                           enable_key_rotation=True, removal_policy=removal)
        allow_cloudwatch_logs(self.key)
        self.workforce = LabelingWorkforce(
            self, "Workforce", name=name_prefix, settings=settings.workforce,
            # pyright only: jsii renames the interface's parameters (aws/aws-cdk#15584)
            key=self.key,  # pyright: ignore[reportArgumentType]
            domain_prefix=f"{name_prefix}-labeling-{self.account}".lower(), removal_policy=removal)
        self.task = LabelingTask(self, "Task", name=name_prefix, settings=settings.task, lake=lake, network=network,
                                 # pyright only: jsii renames the interface's parameters (aws/aws-cdk#15584)
                                 key=self.key,  # pyright: ignore[reportArgumentType]
                                 removal_policy=removal)
        CfnOutput(self, "TaskUiTemplateUri", value=self.task.ui_template_uri,
                  description="UiConfig.UiTemplateS3Uri of the task's labeling jobs (the worker task template)")
        #: Errors of the labeling functions (failed jobs: the training stack's job-failure routes).
        self.alerts = alert_routes(self, alerts)
        self.alerts.cover_functions()
