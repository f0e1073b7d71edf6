"""Lambda entry point (``handler.on_event``) of the retrain gate, invoked by an EventBridge rule.

The event is a monitoring execution that completed with violations; ``gate`` decides whether it
starts the training pipeline ``PIPELINE_NAME`` (see its docstring for the environment).
"""

import datetime
import os
from typing import Any

import boto3
from gate import GateConfig, Trigger, handle


def on_event(event: Any, context: object) -> dict[str, Any]:
    config = GateConfig.from_environment(os.environ)
    trigger = Trigger.from_event(event)
    # mypy cannot follow the bare-name import of the sibling module (pyproject's mypy overrides)
    result: dict[str, Any] = handle(boto3.client("sagemaker"), config, trigger,
                                    datetime.datetime.now(datetime.timezone.utc))
    return result
