"""The stack that holds an environment's data lake."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from constructs import Construct

from ml_platform.config import DataLakeSettings
from ml_platform.constructs.core.alerting import AlertPath
from ml_platform.constructs.lake.data_lake import DataLake
from ml_platform.stacks.alerting_stack import alert_routes


class DataLakeStack(Stack):
    """One :class:`DataLake` configured from an environment's ``data_lake`` settings.

    :ivar lake: the lake, for stacks that read or write it.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: DataLakeSettings,
        alerts: AlertPath,
        allow_data_deletion: bool,
        **stack_props: Any,
    ) -> None:
        super().__init__(scope, construct_id, **stack_props)
        self.lake = DataLake(
            self,
            "DataLake",
            lifecycle=settings.lifecycle,
            zone_lifecycle=settings.zone_lifecycle,
            access_log_retention_days=settings.access_log_retention_days,
            allow_data_deletion=allow_data_deletion,
        )
        #: Errors of the functions aws-cdk-lib adds here for its own custom resources.
        self.alerts = alert_routes(self, alerts)
        self.alerts.cover_functions()
