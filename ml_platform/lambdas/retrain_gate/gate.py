"""Logic of the retrain gate: should Model Monitor violations start the training pipeline now?

Environment:

* ``PIPELINE_NAME``: the SageMaker pipeline to start.
* ``COOLDOWN_MINUTES``: whole minutes, >= 0; no new run while the newest execution (any status)
  started less than this long ago. 0 turns the cooldown off.
* ``PIPELINE_PARAMETERS`` (optional): a JSON object of pipeline parameter name -> string value
  passed to every run. Default: ``{}`` (the pipeline's defaults).

Event: any EventBridge event; only ``id``, ``time`` and ``detail`` (a dict, read for the
monitoring schedule's ``MonitoringScheduleName`` or ``MonitoringScheduleArn``) are used.

Decision (:func:`decide`, plain data): skip while an execution is ``Executing`` or ``Stopping``
(single flight), skip while the newest execution is younger than the cooldown, else start.
The start is idempotent per event: the ``ClientRequestToken`` is a hash of the pipeline name and
the event id, and every other request field comes from the event too (the display name from its
``time``), so a redelivered or retried event repeats the same request instead of starting a
second run.

Concurrency: the construct gives the function a reserved concurrency of 1, so two events are
never decided at the same time; without that, both could list no running execution and start
two runs (their tokens differ, being from different events).

Only boto3 (shipped with the Lambda runtime) and the standard library are used.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: Statuses of an execution that still runs (PipelineExecutionStatus).
RUNNING = ("Executing", "Stopping")
#: How many of the newest executions are read. Enough for both checks: the cooldown needs only
#: the newest execution, which comes first when sorted by creation time, newest first; and this
#: gate never starts a run while another runs, so an execution still running yet older than the
#: newest LIST_PAGE ones would need LIST_PAGE more runs started around the gate (by hand or by
#: another trigger of the pipeline) while it ran. One page is also one cheap call per event.
LIST_PAGE = 10
#: StartPipelineExecution limits (SageMaker API reference).
TOKEN_LENGTH = (32, 128)
DESCRIPTION_MAX = 3072
PARAMETER_NAME = re.compile(r"[A-Za-z0-9\-_]{1,256}")
PARAMETER_VALUE_MAX = 1024


def _utc(value: datetime.datetime) -> str:
    return value.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class GateConfig:
    """The function's environment."""

    pipeline_name: str
    cooldown: datetime.timedelta
    parameters: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> GateConfig:
        """:raises ValueError: naming the missing or invalid variable."""
        name = (env.get("PIPELINE_NAME") or "").strip()
        if not name:
            raise ValueError("PIPELINE_NAME is not set")
        raw = env.get("COOLDOWN_MINUTES")
        if raw is None or not raw.strip():
            raise ValueError("COOLDOWN_MINUTES is not set")
        try:
            minutes = int(raw.strip())
        except ValueError:
            raise ValueError(f"COOLDOWN_MINUTES is {raw!r}; expected whole minutes >= 0") from None
        if minutes < 0:
            raise ValueError(f"COOLDOWN_MINUTES is {raw!r}; expected whole minutes >= 0")
        return cls(name, datetime.timedelta(minutes=minutes), _parameters(env.get("PIPELINE_PARAMETERS")))


def _parameters(raw: str | None) -> tuple[tuple[str, str], ...]:
    if raw is None or not raw.strip():
        return ()
    try:
        found = json.loads(raw)
    except ValueError as error:
        raise ValueError(f"PIPELINE_PARAMETERS is not JSON: {error}") from None
    if not isinstance(found, dict):
        raise ValueError("PIPELINE_PARAMETERS must be a JSON object of parameter name -> string value")
    for key, value in found.items():
        if not PARAMETER_NAME.fullmatch(key):
            raise ValueError(f"PIPELINE_PARAMETERS: {key!r} is not a pipeline parameter name "
                             "(1-256 letters, digits, '-' or '_')")
        if not isinstance(value, str) or len(value) > PARAMETER_VALUE_MAX:
            raise ValueError(f"PIPELINE_PARAMETERS: the value of {key!r} must be a string of at most "
                             f"{PARAMETER_VALUE_MAX} characters")
    return tuple(found.items())


@dataclass(frozen=True)
class Trigger:
    """The fields of the EventBridge event the gate uses."""

    event_id: str
    time: datetime.datetime
    schedule: str

    @classmethod
    def from_event(cls, event: Any) -> Trigger:
        """:raises ValueError: naming the missing or invalid field."""
        if not isinstance(event, dict):
            raise ValueError(f"the event must be an EventBridge event (an object), got {type(event).__name__}")
        event_id = event.get("id")
        if not isinstance(event_id, str) or not event_id:
            raise ValueError("the event has no id")
        raw = event.get("time")
        try:
            time = datetime.datetime.fromisoformat(raw) if isinstance(raw, str) else None
        except ValueError:
            time = None
        if time is None or time.tzinfo is None:
            raise ValueError(f"the event's time is {raw!r}; expected a UTC timestamp such as 2026-11-29T13:05:00Z")
        detail = event.get("detail")
        if not isinstance(detail, dict):
            raise ValueError("the event's detail must be an object")
        return cls(event_id, time.astimezone(datetime.timezone.utc), schedule_name(detail))


def schedule_name(detail: Mapping[str, Any]) -> str:
    """The monitoring schedule named in ``detail`` (or the alarm, for a CloudWatch alarm state
    change: the processing engine's drift alarms), or ``"an unnamed schedule"``."""
    name = detail.get("MonitoringScheduleName") or detail.get("alarmName")
    if isinstance(name, str) and name:
        return name
    arn = detail.get("MonitoringScheduleArn")
    if isinstance(arn, str) and arn:
        return arn.rsplit("/", 1)[-1]
    return "an unnamed schedule"


@dataclass(frozen=True)
class Execution:
    """One pipeline execution summary (ListPipelineExecutions)."""

    arn: str
    status: str
    start_time: datetime.datetime

    @classmethod
    def from_summary(cls, summary: Mapping[str, Any]) -> Execution:
        return cls(summary["PipelineExecutionArn"], summary.get("PipelineExecutionStatus", ""), summary["StartTime"])


@dataclass(frozen=True)
class Decision:
    start: bool
    reason: str
    execution_arn: str | None = None


def decide(now: datetime.datetime, executions: Sequence[Execution], cooldown: datetime.timedelta) -> Decision:
    """Start or skip, given the pipeline's recent executions (any order) at ``now``."""
    newest_first = sorted(executions, key=lambda e: e.start_time, reverse=True)
    for execution in newest_first:
        if execution.status in RUNNING:
            return Decision(False, f"running: execution {execution.arn} is {execution.status}", execution.arn)
    if not newest_first:
        return Decision(True, "clear: the pipeline has no execution yet")
    newest = newest_first[0]
    ends = newest.start_time + cooldown
    if cooldown and now < ends:  # without a cooldown, a StartTime a moment after now (clock skew) is no bar
        return Decision(False, f"cooldown: the newest execution {newest.arn} started at {_utc(newest.start_time)}; "
                               f"the cooldown of {cooldown // datetime.timedelta(minutes=1)} minutes ends at "
                               f"{_utc(ends)}", newest.arn)
    return Decision(True, f"clear: nothing runs; the newest execution {newest.arn} started at "
                          f"{_utc(newest.start_time)}, at least {cooldown // datetime.timedelta(minutes=1)} "
                          "minutes ago")


def client_request_token(pipeline_name: str, event_id: str) -> str:
    """The idempotency token of the run ``event_id`` starts: 64 hex digits (the API takes 32-128 characters).

    The pipeline name is hashed in as well, so that one event delivered to the gates of two
    pipelines starts both.
    """
    return hashlib.sha256(f"{pipeline_name}\n{event_id}".encode()).hexdigest()


def start_request(config: GateConfig, trigger: Trigger) -> dict[str, Any]:
    """The StartPipelineExecution arguments; every one of them follows from the config and the event."""
    description = (f"Retraining after Model Monitor violations: event {trigger.event_id}, "
                   f"monitoring schedule {trigger.schedule}")
    return {
        "PipelineName": config.pipeline_name,
        "PipelineExecutionDisplayName": "retrain-" + trigger.time.strftime("%Y%m%d%H%M%S"),
        "PipelineExecutionDescription": description[:DESCRIPTION_MAX],
        "PipelineParameters": [{"Name": name, "Value": value} for name, value in config.parameters],
        "ClientRequestToken": client_request_token(config.pipeline_name, trigger.event_id),
    }


def recent_executions(client: Any, pipeline_name: str) -> list[Execution]:
    """The newest :data:`LIST_PAGE` executions of the pipeline."""
    page = client.list_pipeline_executions(PipelineName=pipeline_name, SortBy="CreationTime",
                                           SortOrder="Descending", MaxResults=LIST_PAGE)
    return [Execution.from_summary(s) for s in page.get("PipelineExecutionSummaries", [])]


def handle(client: Any, config: GateConfig, trigger: Trigger, now: datetime.datetime) -> dict[str, Any]:
    """Decide, start the pipeline if the decision says so, log one line and return the outcome."""
    decision = decide(now, recent_executions(client, config.pipeline_name), config.cooldown)
    if decision.start:
        arn = client.start_pipeline_execution(**start_request(config, trigger))["PipelineExecutionArn"]
        result = {"decision": "started", "reason": decision.reason, "execution_arn": arn}
    else:
        result = {"decision": "skipped", "reason": decision.reason, "execution_arn": decision.execution_arn}
    print(json.dumps({"pipeline": config.pipeline_name, "event": trigger.event_id,
                      "schedule": trigger.schedule, **result}))
    return result
