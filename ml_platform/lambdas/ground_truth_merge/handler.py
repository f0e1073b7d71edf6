"""Lambda entry point (``handler.on_event``) of the ground truth merge, run hourly by a schedule.

Event: the schedule's event processes the full UTC hour before its ``time`` (retries included);
``{}`` the hour before now; ``{"hour": "2026-11-29T13:00:00Z"}`` (re-)runs that hour. ``merge`` describes the environment and what is read and written.
"""

import datetime
import os
from typing import Any

import boto3
from merge import MergeConfig, merge, parse_hour


def on_event(event: Any, context: object) -> dict[str, Any]:
    config = MergeConfig.from_environment(os.environ)
    hour = parse_hour(event, datetime.datetime.now(datetime.timezone.utc))
    # mypy cannot follow the bare-name import of the sibling module (pyproject's mypy overrides)
    result: dict[str, Any] = merge(boto3.client("s3"), config, hour)
    return result
