"""The stack that holds the environment's one alerting path; every other stack routes to it."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from constructs import Construct

from ml_platform.constructs.core.alerting import AlertPath, AlertRoutes, AlertSettings
from ml_platform.constructs.core.removal import data_removal_policy


class AlertingStack(Stack):
    """An :class:`AlertPath` (key, topic, subscriptions from ``settings``). Deploy it first.

    :param settings: the environment's ``alerts`` section.
    :param allow_data_deletion: with the context flag, the key goes with the stack.
    """

    def __init__(self, scope: Construct, construct_id: str, *, settings: AlertSettings,
                 allow_data_deletion: bool, **stack_props: Any) -> None:
        super().__init__(scope, construct_id, **stack_props)
        self.path = AlertPath(self, "Alerts", settings=settings,
                              removal_policy=data_removal_policy(self, allow_data_deletion=allow_data_deletion))


def alert_routes(stack: Stack, path: AlertPath) -> AlertRoutes:
    """The routes of ``stack`` to ``path`` (construct id ``AlertRoutes``)."""
    # pyright only: jsii renames the interface's parameters (aws/aws-cdk#15584)
    return AlertRoutes(stack, "AlertRoutes", topic=path.topic, key=path.key)  # pyright: ignore[reportArgumentType]
