"""The stack of the workbench: the SageMaker Studio domain people work in, and Canvas for analysts."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from ml_platform.constructs.core.alerting import AlertPath
from ml_platform.constructs.core.keys import allow_cloudwatch_logs
from ml_platform.constructs.core.removal import data_removal_policy
from ml_platform.constructs.lake.data_lake import DataLake
from ml_platform.constructs.training.ml_network import MlNetwork
from ml_platform.constructs.training.studio_domain import CanvasAnalystRole, StudioDomain
from ml_platform.constructs.training.workbench_settings import WorkbenchSettings
from ml_platform.stacks.alerting_stack import alert_routes
from ml_platform.stacks.training_stack import TrainingStack


class WorkbenchStack(Stack):
    """A :class:`StudioDomain` named ``<name_prefix>`` in ``network``, with the lake's key.

    The ``data_scientist`` and ``ml_engineer`` users run as the ``training`` stack's persona roles
    (``training.personas``); ``analyst`` users as a :class:`CanvasAnalystRole` of this stack, which
    may register versions of the training registry's models (the Canvas hand-off) and exists only
    when an analyst is configured. The output ``DomainId`` names the domain for sign-in.

    :param trusted_account: whose principals may assume the analyst role (give the training
        personas' ``trusted_account``). Default: this stack's account.
    :raises ValueError: in one line, if a user needs a persona role that does not exist.
    """

    def __init__(self, scope: Construct, construct_id: str, *, settings: WorkbenchSettings, name_prefix: str,
                 lake: DataLake, network: MlNetwork, training: TrainingStack, alerts: AlertPath,
                 allow_data_deletion: bool, trusted_account: str | None = None,
                 **stack_props: Any) -> None:
        super().__init__(scope, construct_id, **stack_props)
        removal = data_removal_policy(self, allow_data_deletion=allow_data_deletion)
        self.key = kms.Key(self, "LogsKey", description="Encrypts the workbench's deploy-time function logs",
                           enable_key_rotation=True, removal_policy=removal)
        allow_cloudwatch_logs(self.key)
        # pyright only, on the role assignments: jsii renames the interface's parameters (aws/aws-cdk#15584)
        roles: dict[str, iam.IRole] = {}
        if training.personas is not None:
            roles["data_scientist"] = training.personas.data_scientist  # pyright: ignore[reportArgumentType]
            roles["ml_engineer"] = training.personas.ml_engineer  # pyright: ignore[reportArgumentType]
        self.analyst: CanvasAnalystRole | None = None
        if "analyst" in settings.personas():
            self.analyst = CanvasAnalystRole(
                self, "CanvasAnalyst", lake=lake, canvas=settings.canvas, registry=training.registry,
                models=sorted(training.registry.groups), trusted_account=trusted_account)
            roles["analyst"] = self.analyst  # pyright: ignore[reportArgumentType]
        self.studio = StudioDomain(
            self, "Studio", settings=settings, name=name_prefix, network=network, lake=lake, roles=roles,
            # pyright only: jsii renames the interface's parameters (aws/aws-cdk#15584)
            logs_key=self.key,  # pyright: ignore[reportArgumentType]
            removal_policy=removal)
        CfnOutput(self, "DomainId", value=self.studio.domain.attr_domain_id,
                  description="The Studio domain: aws sagemaker create-presigned-domain-url --domain-id <this>")
        #: Errors of the function that applies the Canvas settings.
        self.alerts = alert_routes(self, alerts)
        self.alerts.cover_functions()
