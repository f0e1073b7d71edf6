"""Lambda entry point (``handler.on_event``) of the drift launcher, invoked by an EventBridge Scheduler schedule.

It starts the drift job (``ml_platform/jobs/drift/drift.py check``) as a SageMaker processing job
over one hour of an endpoint's data capture.

Event: ``{"scheduled_time": "2026-11-29T13:10:00Z"}`` (the schedule's ``<aws.scheduler.scheduled-time>``)
checks the full UTC hour before that time, and a retry of that event (same input) maps to the same
job name, so it never starts a second job (``ResourceInUse`` counts as started). ``{}`` checks the
hour before now, the same way. ``{"hour": "2026-11-29T12:00:00Z"}`` re-checks that hour under a new
job name (suffix ``-HHMMSS`` of now).

Environment (set by ``ProcessingDriftMonitor``): ``JOB_PREFIX``, ``ENDPOINT_NAME``,
``SCHEDULE_NAME``, ``IMAGE_URI``, ``ROLE_ARN``, ``INSTANCE_TYPE``, ``VOLUME_SIZE_GB``,
``MAX_RUNTIME_SECONDS``, ``KMS_KEY_ARN`` (volumes and reports), ``SUBNETS`` (comma-separated),
``SECURITY_GROUP``, ``CODE_URI`` (the zipped ``ml_platform/jobs/drift/`` folder), ``STATISTICS_URI``,
``CONSTRAINTS_URI``, ``CAPTURE_BUCKET``, ``CAPTURE_PREFIX`` (``<root>/<endpoint>/``), ``REPORTS_URI``
(``s3://bucket/prefix/``; each job writes under ``<REPORTS_URI><job name>/``) and ``HEADERS``
(comma-separated feature columns).

Capture: SageMaker writes ``<CAPTURE_PREFIX><variant>/yyyy/mm/dd/hh/*.jsonl``. The variants are
the folders under ``CAPTURE_PREFIX``; each variant with objects in the hour is one job input
(at most :data:`MAX_CAPTURE_INPUTS`). An hour without any captured object starts no job (SageMaker
rejects or fails jobs whose S3 input matches no object), so it publishes no metric either; the
drift alarms treat missing data as not breaching.

Only boto3 (shipped with the Lambda runtime) and the standard library are used.
"""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import ClientError

HOUR = datetime.timedelta(hours=1)
#: Where the job's inputs and output are in the container.
CODE_DIR = "/opt/ml/processing/input/code"
CAPTURE_DIR = "/opt/ml/processing/input/capture"
STATISTICS_DIR = "/opt/ml/processing/input/baseline/statistics"
CONSTRAINTS_DIR = "/opt/ml/processing/input/baseline/constraints"
OUTPUT_DIR = "/opt/ml/processing/output"
#: CreateProcessingJob takes at most 10 inputs: code, statistics and constraints leave 7 for variants.
MAX_PROCESSING_INPUTS = 10
MAX_CAPTURE_INPUTS = MAX_PROCESSING_INPUTS - 3
JOB_NAME_MAX = 63
#: The code asset is a zip (CDK zips a folder asset): unpack it where SageMaker put it, as the
#: SageMaker SDK's FrameworkProcessor does with its sourcedir.tar.gz, then run drift.py there.
UNPACK_AND_RUN = (f'cd {CODE_DIR} && python3 -m zipfile -e "$0" . '
                  f'&& exec python3 {CODE_DIR}/drift.py "$@"')


def _utc(value: datetime.datetime) -> str:
    return value.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _time(raw: Any, what: str) -> datetime.datetime:
    try:
        value = datetime.datetime.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise ValueError(f"{what} is {raw!r}; expected a UTC timestamp such as '2026-11-29T13:00:00Z'")
    return value.astimezone(datetime.timezone.utc)


@dataclass(frozen=True)
class LaunchConfig:
    """The function's environment."""

    job_prefix: str
    endpoint_name: str
    schedule_name: str
    image_uri: str
    role_arn: str
    instance_type: str
    volume_size_gb: int
    max_runtime_seconds: int
    kms_key_arn: str
    subnets: tuple[str, ...]
    security_group: str
    code_uri: str
    statistics_uri: str
    constraints_uri: str
    capture_bucket: str
    capture_prefix: str
    reports_uri: str
    headers: str

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> LaunchConfig:
        """:raises ValueError: naming every missing variable."""
        names = {f: f.upper() for f in cls.__dataclass_fields__}
        missing = [n for n in names.values() if not (env.get(n) or "").strip()]
        if missing:
            raise ValueError(f"environment variables not set: {', '.join(missing)}")
        values: dict[str, Any] = {f: env[n].strip() for f, n in names.items()}
        values["subnets"] = tuple(s for s in values["subnets"].split(",") if s)
        for number in ("volume_size_gb", "max_runtime_seconds"):
            values[number] = int(values[number])
        return cls(**values)


@dataclass(frozen=True)
class Window:
    """The hour checked, and whether it was asked for explicitly (a re-run)."""

    hour: datetime.datetime
    rerun: bool


def parse_window(event: Any, now: datetime.datetime) -> Window:
    """The hour before the event's ``scheduled_time`` (else before ``now``), or the event's ``hour``.

    :raises ValueError: if a time is not a UTC timestamp, or ``hour`` is not a whole hour that has ended.
    """
    event = {} if event is None else event
    if not isinstance(event, dict):
        raise ValueError(f"the event must be an object, got {type(event).__name__}")
    now = now.astimezone(datetime.timezone.utc)
    if "hour" in event:
        hour = _time(event["hour"], "hour")
        if (hour.minute, hour.second, hour.microsecond) != (0, 0, 0):
            raise ValueError(f"hour is {event['hour']!r}; expected a whole hour such as '2026-11-29T12:00:00Z'")
        if hour + HOUR > now:
            raise ValueError(f"hour {_utc(hour)} has not ended yet (now {_utc(now)})")
        return Window(hour, True)
    scheduled = _time(event["scheduled_time"], "scheduled_time") if "scheduled_time" in event else now
    return Window(scheduled.replace(minute=0, second=0, microsecond=0) - HOUR, False)


def job_name(prefix: str, window: Window, now: datetime.datetime) -> str:
    """``<prefix>-<yyyymmddhh>`` of the window, plus ``-<hhmmss>`` of now for a re-run."""
    name = f"{prefix}-{window.hour:%Y%m%d%H}" + (f"-{now.astimezone(datetime.timezone.utc):%H%M%S}"
                                                  if window.rerun else "")
    if len(name) > JOB_NAME_MAX:
        raise ValueError(f"job name {name!r} is longer than {JOB_NAME_MAX} characters; shorten JOB_PREFIX")
    return name


def captured_variants(s3: Any, bucket: str, prefix: str, hour: datetime.datetime) -> dict[str, str]:
    """Variant name -> its hour prefix, for the variants with at least one object in ``hour``."""
    found: dict[str, str] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
        for common in page.get("CommonPrefixes", []):
            variant = common["Prefix"][len(prefix):].rstrip("/")
            folder = f"{common['Prefix']}{hour:%Y/%m/%d/%H}/"
            if s3.list_objects_v2(Bucket=bucket, Prefix=folder, MaxKeys=1).get("KeyCount", 0):
                found[variant] = folder
    return dict(sorted(found.items()))


def _s3_input(name: str, uri: str, local_path: str) -> dict[str, Any]:
    return {"InputName": name, "S3Input": {"S3Uri": uri, "LocalPath": local_path, "S3DataType": "S3Prefix",
                                           "S3InputMode": "File", "S3DataDistributionType": "FullyReplicated"}}


def _file_name(uri: str) -> str:
    return uri.rsplit("/", 1)[1]


def build_request(config: LaunchConfig, name: str, window: Window, variants: Mapping[str, str]) -> dict[str, Any]:
    """The CreateProcessingJob request of job ``name`` over the captured ``variants`` (name -> hour prefix).

    :raises ValueError: if there are more variants than :data:`MAX_CAPTURE_INPUTS`.
    """
    if len(variants) > MAX_CAPTURE_INPUTS:
        raise ValueError(f"{len(variants)} variants captured data in {_utc(window.hour)} ({', '.join(variants)}); "
                         f"a processing job takes at most {MAX_CAPTURE_INPUTS} capture inputs")
    arguments = ["check", "--capture", CAPTURE_DIR,
                 "--statistics", f"{STATISTICS_DIR}/{_file_name(config.statistics_uri)}",
                 "--constraints", f"{CONSTRAINTS_DIR}/{_file_name(config.constraints_uri)}",
                 "--output", OUTPUT_DIR, "--headers", config.headers]
    inputs = [_s3_input("code", config.code_uri, CODE_DIR),
              _s3_input("statistics", config.statistics_uri, STATISTICS_DIR),
              _s3_input("constraints", config.constraints_uri, CONSTRAINTS_DIR)]
    inputs += [_s3_input(f"capture-{i}", f"s3://{config.capture_bucket}/{folder}", f"{CAPTURE_DIR}/{variant}")
               for i, (variant, folder) in enumerate(variants.items())]
    return {
        "ProcessingJobName": name,
        "ProcessingInputs": inputs,
        "ProcessingOutputConfig": {
            "Outputs": [{"OutputName": "report", "S3Output": {
                "S3Uri": f"{config.reports_uri}{name}/", "LocalPath": OUTPUT_DIR, "S3UploadMode": "EndOfJob"}}],
            "KmsKeyId": config.kms_key_arn,
        },
        "ProcessingResources": {"ClusterConfig": {
            "InstanceCount": 1, "InstanceType": config.instance_type, "VolumeSizeInGB": config.volume_size_gb,
            "VolumeKmsKeyId": config.kms_key_arn}},
        "StoppingCondition": {"MaxRuntimeInSeconds": config.max_runtime_seconds},
        "AppSpecification": {"ImageUri": config.image_uri,
                             "ContainerEntrypoint": ["/bin/sh", "-c", UNPACK_AND_RUN, _file_name(config.code_uri)],
                             "ContainerArguments": arguments},
        "NetworkConfig": {"EnableInterContainerTrafficEncryption": True, "EnableNetworkIsolation": True,
                          "VpcConfig": {"SecurityGroupIds": [config.security_group], "Subnets": list(config.subnets)}},
        "RoleArn": config.role_arn,
        "Tags": [{"Key": "ml-platform:endpoint", "Value": config.endpoint_name},
                 {"Key": "ml-platform:monitoring-schedule", "Value": config.schedule_name},
                 {"Key": "ml-platform:window", "Value": _utc(window.hour)}],
    }


def launch(sagemaker: Any, s3: Any, config: LaunchConfig, event: Any, now: datetime.datetime) -> dict[str, Any]:
    """Start the job of the event's window (or skip an empty one), log one line and return the outcome."""
    window = parse_window(event, now)
    name = job_name(config.job_prefix, window, now)
    variants = captured_variants(s3, config.capture_bucket, config.capture_prefix, window.hour)
    result: dict[str, Any] = {"job": name, "window": _utc(window.hour), "variants": list(variants)}
    if not variants:
        result["outcome"] = "skipped: no data captured in the window"
    else:
        try:
            result["arn"] = sagemaker.create_processing_job(
                **build_request(config, name, window, variants))["ProcessingJobArn"]
            result["outcome"] = "started"
        except ClientError as error:
            code, message = error.response["Error"].get("Code"), error.response["Error"].get("Message", "")
            if not (code == "ResourceInUse" or code == "ValidationException" and "already exists" in message):
                raise
            result["outcome"] = "already started"  # a retried event: its job exists
    print(json.dumps({"endpoint": config.endpoint_name, **result}))
    return result


def on_event(event: Any, context: object) -> dict[str, Any]:
    config = LaunchConfig.from_environment(os.environ)
    return launch(boto3.client("sagemaker"), boto3.client("s3"), config, event,
                  datetime.datetime.now(datetime.timezone.utc))
