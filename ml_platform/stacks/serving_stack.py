"""The stack that serves approved model versions: one :class:`ModelEndpoint` per ``serving`` endpoint."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from constructs import Construct

from ml_platform.constructs.batch_transform import BatchTransform
from ml_platform.constructs.data_lake import DataLake
from ml_platform.constructs.ml_network import MlNetwork
from ml_platform.constructs.model_endpoint import ModelEndpoint
from ml_platform.constructs.pipeline_alerts import AlertTopic
from ml_platform.constructs.removal import data_removal_policy
from ml_platform.serving_settings import ScheduledScoring, ServedModel, ServingSettings
from ml_platform.stacks.training_stack import TrainingStack


class ServingStack(Stack):
    """Endpoints ``<name_prefix>-<key>`` and scheduled batch transforms running as the training
    stack's inference role, with the endpoints' alarms on an :class:`AlertTopic`.

    Each serves ``<name_prefix>-<model>/<version>`` from the registry, so that version
    must exist and be approved before this stack is deployed (see docs/serving.md).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: ServingSettings,
        name_prefix: str,
        lake: DataLake,
        network: MlNetwork,
        training: TrainingStack,
        allow_data_deletion: bool,
        **stack_props: Any,
    ) -> None:
        super().__init__(scope, construct_id, **stack_props)
        self.alerts = AlertTopic(self, "Alerts", display_name="Endpoint alarms", settings=settings.alerts,
                                 removal_policy=data_removal_policy(self, allow_data_deletion=allow_data_deletion)
                                 ) if settings.endpoints else None
        role = training.roles.role("inference")

        def version_arn(served: ServedModel | ScheduledScoring) -> str:
            group = training.registry.groups[served.model].model_package_group_name
            return self.format_arn(service="sagemaker", resource="model-package", resource_name=f"{group}/{served.version}")

        self.endpoints = {
            key: ModelEndpoint(
                self, _construct_id(key), name=f"{name_prefix}-{key}", model_package_arn=version_arn(endpoint),
                settings=endpoint, role=role, lake=lake, network=network, alerts=self.alerts,  # type: ignore[arg-type]
            )
            for key, endpoint in settings.endpoints.items()
        }
        self.batch = {
            key: BatchTransform(
                self, f"{_construct_id(key)}Batch", name=f"{name_prefix}-{key}", model_package_arn=version_arn(scoring),
                settings=scoring, role=role, lake=lake, network=network,
            )
            for key, scoring in settings.batch.items()
        }


def _construct_id(key: str) -> str:
    return "".join(p.title() for p in key.split("-"))
