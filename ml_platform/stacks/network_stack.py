"""The stack that holds an environment's network for SageMaker workloads."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from constructs import Construct

from ml_platform.constructs.core.alerting import AlertPath
from ml_platform.constructs.training.ml_network import MlNetwork, NetworkSettings, network_zones
from ml_platform.constructs.core.removal import data_removal_policy
from ml_platform.stacks.alerting_stack import alert_routes


class NetworkStack(Stack):
    """One :class:`MlNetwork` configured from the environment's ``network`` settings."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: NetworkSettings,
        alerts: AlertPath,
        allow_data_deletion: bool,
        **stack_props: Any,
    ) -> None:
        self._settings = settings
        super().__init__(scope, construct_id, **stack_props)
        self.network = MlNetwork(
            self, "Network", settings=settings,
            removal_policy=data_removal_policy(self, allow_data_deletion=allow_data_deletion),
        )
        #: Errors of the functions aws-cdk-lib adds here for its own custom resources.
        self.alerts = alert_routes(self, alerts)
        self.alerts.cover_functions()

    @property
    def availability_zones(self) -> list[str]:
        """The network's zones: aws-cdk-lib would otherwise look them up in the account (no offline synth)."""
        return network_zones(self._settings)
