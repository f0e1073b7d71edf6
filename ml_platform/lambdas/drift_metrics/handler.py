"""Lambda entry point (``handler.on_event``) of the drift metrics, invoked by an EventBridge rule.

Event: "SageMaker Processing Job State Change" of a drift job (``detail.ProcessingJobName``
starting with ``JOB_PREFIX-``) that is ``Completed``. The job wrote
``<METRICS_PREFIX><job name>/metrics.json``::

    {"Namespace": "aws/sagemaker/Endpoints/data-metrics",
     "Metrics": {"feature_baseline_drift_<feature>": <number>, ...}}

and each metric is put to CloudWatch with the dimensions ``Endpoint`` (``ENDPOINT_NAME``) and
``MonitoringSchedule`` (``SCHEDULE_NAME``), as Model Monitor publishes them, at the event's time.
An empty window's ``{}`` puts nothing. A metric that is not a finite number is skipped and named
in the log line. Events of other jobs or statuses are ignored.

Environment: ``METRICS_BUCKET``, ``METRICS_PREFIX`` (ending in ``/``), ``JOB_PREFIX``,
``ENDPOINT_NAME``, ``SCHEDULE_NAME``.

Only boto3 (shipped with the Lambda runtime) and the standard library are used.
"""

from __future__ import annotations

import datetime
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3

#: The namespace Model Monitor publishes data quality metrics to; the only one accepted.
NAMESPACE = "aws/sagemaker/Endpoints/data-metrics"
#: Metrics per PutMetricData request (the API takes up to 1000).
BATCH = 1000
METRIC_NAME_MAX = 255


@dataclass(frozen=True)
class MetricsConfig:
    """The function's environment."""

    metrics_bucket: str
    metrics_prefix: str
    job_prefix: str
    endpoint_name: str
    schedule_name: str

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> MetricsConfig:
        """:raises ValueError: naming every missing variable."""
        names = {f: f.upper() for f in cls.__dataclass_fields__}
        missing = [n for f, n in names.items() if not (env.get(n) or "").strip() and f != "metrics_prefix"]
        if missing:
            raise ValueError(f"environment variables not set: {', '.join(missing)}")
        return cls(**{f: (env.get(n) or "").strip() for f, n in names.items()})


def completed_job(event: Any, config: MetricsConfig) -> str | None:
    """The name of the completed drift job the event reports, or ``None`` for any other event."""
    detail = event.get("detail") if isinstance(event, dict) else None
    if not isinstance(detail, dict) or detail.get("ProcessingJobStatus") != "Completed":
        return None
    name = detail.get("ProcessingJobName")
    return name if isinstance(name, str) and name.startswith(f"{config.job_prefix}-") else None


def metric_data(report: Any, when: datetime.datetime, config: MetricsConfig) -> tuple[list[dict[str, Any]], list[str]]:
    """The MetricData of a ``metrics.json`` document, and the names skipped (not finite numbers).

    :raises ValueError: if the document is not the drift job's, or names another namespace.
    """
    if not isinstance(report, dict) or not isinstance(report.get("Metrics"), dict):
        raise ValueError("metrics.json must be an object with Namespace and Metrics (an object)")
    if report.get("Namespace") != NAMESPACE:
        raise ValueError(f"metrics.json names namespace {report.get('Namespace')!r}; allowed: {NAMESPACE}")
    dimensions = [{"Name": "Endpoint", "Value": config.endpoint_name},
                  {"Name": "MonitoringSchedule", "Value": config.schedule_name}]
    data, skipped = [], []
    for name, value in sorted(report["Metrics"].items()):
        number = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
        if number is None or not math.isfinite(number) or not 1 <= len(name) <= METRIC_NAME_MAX:
            skipped.append(name)
            continue
        data.append({"MetricName": name, "Dimensions": dimensions, "Timestamp": when, "Value": float(number)})
    return data, skipped


def publish(s3: Any, cloudwatch: Any, config: MetricsConfig, event: Any) -> dict[str, Any]:
    """Read the job's metrics.json and put its metrics; log one line and return the outcome."""
    job = completed_job(event, config)
    if job is None:
        result: dict[str, Any] = {"outcome": "ignored: not a completed drift job of this monitor"}
    else:
        key = f"{config.metrics_prefix}{job}/metrics.json"
        report = json.loads(s3.get_object(Bucket=config.metrics_bucket, Key=key)["Body"].read())
        raw = event.get("time")
        when = (datetime.datetime.fromisoformat(raw) if isinstance(raw, str)
                else datetime.datetime.now(datetime.timezone.utc))
        data, skipped = metric_data(report, when, config)
        for start in range(0, len(data), BATCH):
            cloudwatch.put_metric_data(Namespace=NAMESPACE, MetricData=data[start:start + BATCH])
        result = {"outcome": "published", "job": job, "metrics": len(data), "skipped": skipped,
                  "report": f"s3://{config.metrics_bucket}/{key}"}
    print(json.dumps({"endpoint": config.endpoint_name, **result}))
    return result


def on_event(event: Any, context: object) -> dict[str, Any]:
    config = MetricsConfig.from_environment(os.environ)
    return publish(boto3.client("s3"), boto3.client("cloudwatch"), config, event)
