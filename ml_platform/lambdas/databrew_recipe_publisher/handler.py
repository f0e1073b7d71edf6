"""Lambda entry point (``handler.on_event``) called by the CDK custom-resource provider framework."""

from collections.abc import Mapping
from typing import Any

import boto3
from publisher import PublishRequest, handle


def on_event(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    # mypy cannot follow the bare-name import of the sibling module (pyproject's mypy overrides)
    result: dict[str, Any] = handle(boto3.client("databrew"), PublishRequest.from_event(event))
    return result
