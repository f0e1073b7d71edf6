"""Logic of the ground truth merge: one hour of labels -> Model Monitor ground truth and labeled training rows.

Environment:

* ``BUCKET_CAPTURE``, ``CAPTURE_PREFIX`` (``""`` or ending in ``/``) and ``ENDPOINT_NAME``: the
  endpoint's data capture, JSON Lines under
  ``<CAPTURE_PREFIX><ENDPOINT_NAME>/<variant>/yyyy/mm/dd/hh/<file>.jsonl``.
* ``BUCKET_LABELS``, ``LABELS_PREFIX``: label files (JSON Lines) written by Ground Truth labeling
  jobs (output manifests) or by a business system; each line an object holding an inference id
  (attribute ``ID_ATTRIBUTE``, default ``inference-id``) and a label (``LABEL_ATTRIBUTE``, default
  ``label``). A label is a string or a number, or ``{"label": <string or number>}`` as this
  platform's consolidation function writes it.
* ``BUCKET_GROUND_TRUTH``, ``GROUND_TRUTH_PREFIX`` (``""`` or ending in ``/``): where Model
  Monitor's model quality and bias jobs read ground truth.
* ``BUCKET_FEEDBACK``, ``FEEDBACK_PREFIX`` (``""`` or ending in ``/``): labeled rows for training.
* ``LOOKBACK_DAYS`` (optional, whole days >= 0, default 7): how far before the label's hour its
  captured record may be.

For the hour H processed (see :func:`parse_hour`):

1. Labels: every object under ``LABELS_PREFIX`` last modified in [H, H+1h), read in order of
   modification (then key); lines without a usable id or label are counted as skipped. A later
   label for the same id replaces an earlier one, so ``labels`` counts distinct ids.
2. Ground truth, ``GROUND_TRUTH_PREFIX + yyyy/mm/dd/hh/labels.jsonl`` (H): one line per label,
   ``{"groundTruthData": {"data": "<label>", "encoding": "CSV"}, "eventMetadata": {"eventId":
   "<inference id>"}, "eventVersion": "0"}`` - the record and the path Model Monitor documents
   ("Ingest Ground Truth labels and merge them with predictions"; the path's date is when the
   label was collected). Labels never captured are kept: Model Monitor reports them unmatched.
3. Join: a captured record's id is ``eventMetadata.inferenceId`` when the caller passed an
   InferenceId, else ``eventMetadata.eventId`` (what Model Monitor itself merges on). Capture
   hours H+1h down to H - LOOKBACK_DAYS are searched newest first, each hour prefix of each
   variant listed on its own, until every label is found. H+1h is included because a capture
   file lands under the hour it is written in, just after the inference. Only a ``text/csv``
   input of one row (``CSV`` or ``BASE64`` encoding) makes a training row.
4. Feedback, ``FEEDBACK_PREFIX + year=YYYY/month=MM/day=DD/feedback-HH.csv`` (H): per matched
   label, the label then the captured CSV input fields; no header.

Both outputs are overwritten on a re-run of the hour, with the same bytes for the same inputs.
Nothing is written without labels, and no feedback file without a matched label. Only boto3
(shipped with the Lambda runtime) and the standard library are used.
"""

from __future__ import annotations

import base64
import binascii
import csv
import datetime
import io
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

HOUR = datetime.timedelta(hours=1)
DEFAULT_LOOKBACK_DAYS = 7


def _utc(value: datetime.datetime) -> str:
    return value.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Location:
    bucket: str
    prefix: str


@dataclass(frozen=True)
class MergeConfig:
    """The function's environment."""

    capture: Location
    endpoint_name: str
    labels: Location
    ground_truth: Location
    feedback: Location
    id_attribute: str = "inference-id"
    label_attribute: str = "label"
    lookback_days: int = DEFAULT_LOOKBACK_DAYS

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> MergeConfig:
        """:raises ValueError: naming the missing or invalid variable."""
        endpoint = _required(env, "ENDPOINT_NAME")
        if "/" in endpoint:
            raise ValueError(f"ENDPOINT_NAME is {endpoint!r}; an endpoint name has no '/'")
        labels = Location(_required(env, "BUCKET_LABELS"), env.get("LABELS_PREFIX", ""))
        config = cls(
            capture=Location(_required(env, "BUCKET_CAPTURE"), _folder(env, "CAPTURE_PREFIX")),
            endpoint_name=endpoint,
            labels=labels,
            ground_truth=Location(_required(env, "BUCKET_GROUND_TRUTH"), _folder(env, "GROUND_TRUTH_PREFIX")),
            feedback=Location(_required(env, "BUCKET_FEEDBACK"), _folder(env, "FEEDBACK_PREFIX")),
            id_attribute=env.get("ID_ATTRIBUTE") or "inference-id",
            label_attribute=env.get("LABEL_ATTRIBUTE") or "label",
            lookback_days=_lookback_days(env.get("LOOKBACK_DAYS")),
        )
        if config.id_attribute == config.label_attribute:
            raise ValueError(f"ID_ATTRIBUTE and LABEL_ATTRIBUTE are both {config.id_attribute!r}")
        for name, output in (("GROUND_TRUTH_PREFIX", config.ground_truth), ("FEEDBACK_PREFIX", config.feedback)):
            if output.bucket == labels.bucket and (output.prefix.startswith(labels.prefix)
                                                   or labels.prefix.startswith(output.prefix)):
                raise ValueError(f"{name} {output.prefix!r} and LABELS_PREFIX {labels.prefix!r} overlap in bucket "
                                 f"{labels.bucket}: the outputs would be read back as labels, or the labels as outputs")
        return config


def _required(env: Mapping[str, str], name: str) -> str:
    value = (env.get(name) or "").strip()
    if not value:
        raise ValueError(f"{name} is not set")
    return value


def _folder(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "")
    if value and not value.endswith("/"):
        raise ValueError(f"{name} is {value!r}; it must end with '/' (or be empty for the bucket's root)")
    return value


def _lookback_days(raw: str | None) -> int:
    if raw is None or not raw.strip():
        return DEFAULT_LOOKBACK_DAYS
    try:
        days = int(raw.strip())
    except ValueError:
        days = -1
    if days < 0:
        raise ValueError(f"LOOKBACK_DAYS is {raw!r}; expected whole days >= 0")
    return days


def _scheduled_time(event: Mapping[str, Any]) -> datetime.datetime | None:
    """The ``time`` of an EventBridge scheduled event (``2026-11-29T14:15:00Z``), or None."""
    if event.get("source") != "aws.events" or event.get("detail-type") != "Scheduled Event":
        return None
    raw = event.get("time")
    try:
        when = datetime.datetime.fromisoformat(raw.replace("Z", "+00:00")) if isinstance(raw, str) else None
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise ValueError(f"the scheduled event's time is {raw!r}; expected e.g. '2026-11-29T14:15:00Z'")
    return when.astimezone(datetime.timezone.utc)


def parse_hour(event: Any, now: datetime.datetime) -> datetime.datetime:
    """The hour to process: the event's ``hour``, else the previous full UTC hour before the
    scheduled event's ``time`` (so a retry of that event, delivered later, processes the same
    hour), else before ``now``.

    :raises ValueError: if ``hour`` is not a whole hour with a time zone, or has not ended yet.
    """
    if event is None:
        event = {}
    if not isinstance(event, dict):
        raise ValueError(f"the event must be an object, got {type(event).__name__}")
    now = now.astimezone(datetime.timezone.utc)
    raw = event.get("hour")
    if raw is None:
        scheduled = _scheduled_time(event)
        return (scheduled or now).replace(minute=0, second=0, microsecond=0) - HOUR
    try:
        hour = datetime.datetime.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        hour = None
    if hour is None or hour.tzinfo is None or (hour.minute, hour.second, hour.microsecond) != (0, 0, 0):
        raise ValueError(f"hour is {raw!r}; expected a whole UTC hour such as '2026-11-29T13:00:00Z'")
    hour = hour.astimezone(datetime.timezone.utc)
    if hour + HOUR > now:
        raise ValueError(f"hour {_utc(hour)} has not ended yet (now {_utc(now)})")
    return hour


# --- labels ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Label:
    inference_id: str
    value: str


#: Label words of a binary outcome, as the training pipeline's feature step reads them.
TRUE_LABELS = ("1", "true", "yes")
FALSE_LABELS = ("0", "false", "no")


def label_value(raw: Any) -> str | None:
    """``raw`` as the label's text, or None if it is no label (missing, empty, not a scalar).

    Binary outcomes (``true``/``false``, ``yes``/``no``, 1/0, ``1.0``/``0.0``) become ``1``/``0``:
    what a binary model predicts, what Model Monitor compares with, and what training reads.
    """
    if isinstance(raw, dict) and set(raw) == {"label"}:
        raw = raw["label"]
    if isinstance(raw, bool):
        return "1" if raw else "0"
    if raw is None:
        return None
    if isinstance(raw, str):
        word = raw.strip().lower()
        if word in TRUE_LABELS or word in FALSE_LABELS:
            return "1" if word in TRUE_LABELS else "0"
        return raw if raw.strip() else None
    if isinstance(raw, int):
        return str(raw)
    if isinstance(raw, float) and math.isfinite(raw):
        return str(int(raw)) if raw in (0.0, 1.0) else repr(raw)
    return None


def is_binary(value: str) -> bool:
    """Whether a label can be a training row's label (the feature step takes 0/1 only)."""
    return value in ("0", "1")


def record_id(raw: Any) -> str | None:
    if isinstance(raw, str) and raw.strip():
        return raw
    if isinstance(raw, int) and not isinstance(raw, bool):
        return str(raw)
    return None


def parse_labels(text: str, id_attribute: str, label_attribute: str) -> tuple[list[Label], int]:
    """The labels in a JSON Lines text, and how many non-blank lines hold none."""
    labels: list[Label] = []
    skipped = 0
    for line in json_lines(text):
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        inference_id, value = (record_id(record.get(id_attribute)), label_value(record.get(label_attribute))) \
            if isinstance(record, dict) else (None, None)
        if inference_id is None or value is None:
            skipped += 1
        else:
            labels.append(Label(inference_id, value))
    return labels, skipped


def json_lines(text: str) -> Iterator[str]:
    """The non-blank lines of ``text`` (split on newlines only: JSON strings may hold U+2028)."""
    for line in text.split("\n"):
        if line.strip():
            yield line


def list_objects(s3: Any, bucket: str, prefix: str) -> Iterator[dict[str, Any]]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        yield from page.get("Contents", [])


def read_text(s3: Any, bucket: str, key: str) -> str:
    body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return body.decode("utf-8", errors="replace")


def label_objects(s3: Any, labels: Location, hour: datetime.datetime) -> list[str]:
    """Keys under the labels prefix last modified within the hour, oldest first (then by key)."""
    found = [o for o in list_objects(s3, labels.bucket, labels.prefix)
             if hour <= o["LastModified"] < hour + HOUR and not o["Key"].endswith("/")]
    return [o["Key"] for o in sorted(found, key=lambda o: (o["LastModified"], o["Key"]))]


def read_labels(s3: Any, config: MergeConfig, hour: datetime.datetime) -> tuple[list[Label], int]:
    """The hour's labels, one per id (the latest wins), and the number of skipped lines."""
    labels: dict[str, Label] = {}
    skipped = 0
    for key in label_objects(s3, config.labels, hour):
        found, bad = parse_labels(read_text(s3, config.labels.bucket, key), config.id_attribute,
                                  config.label_attribute)
        skipped += bad
        for label in found:
            labels[label.inference_id] = label
    return list(labels.values()), skipped


# --- outputs --------------------------------------------------------------------------------


def ground_truth_key(prefix: str, hour: datetime.datetime) -> str:
    return f"{prefix}{hour:%Y/%m/%d/%H}/labels.jsonl"


def feedback_key(prefix: str, hour: datetime.datetime) -> str:
    return f"{prefix}year={hour:%Y}/month={hour:%m}/day={hour:%d}/feedback-{hour:%H}.csv"


def ground_truth_record(label: Label) -> dict[str, Any]:
    return {"groundTruthData": {"data": label.value, "encoding": "CSV"},
            "eventMetadata": {"eventId": label.inference_id}, "eventVersion": "0"}


def ground_truth_body(labels: Sequence[Label]) -> bytes:
    return "".join(json.dumps(ground_truth_record(label)) + "\n" for label in labels).encode()


def feedback_line(label: str, row: str) -> str:
    """The label (quoted if CSV needs it), then the captured row."""
    field = io.StringIO()
    csv.writer(field, lineterminator="").writerow([label])
    return f"{field.getvalue()},{row}\n"


def feedback_body(rows: Sequence[tuple[str, str]]) -> bytes:
    return "".join(feedback_line(label, row) for label, row in rows).encode()


# --- captures -------------------------------------------------------------------------------


def capture_hours(hour: datetime.datetime, lookback_days: int) -> list[datetime.datetime]:
    """H+1h down to H - ``lookback_days``, newest first."""
    first, current, hours = hour - datetime.timedelta(days=lookback_days), hour + HOUR, []
    while current >= first:
        hours.append(current)
        current -= HOUR
    return hours


def captured_id(record: Any) -> str | None:
    """The id Model Monitor merges a captured record on: ``inferenceId`` if present, else ``eventId``."""
    metadata = record.get("eventMetadata") if isinstance(record, dict) else None
    if not isinstance(metadata, dict):
        return None
    return record_id(metadata.get("inferenceId")) or record_id(metadata.get("eventId"))


def csv_input(record: Mapping[str, Any]) -> str | None:
    """The captured request as one CSV row, or None if it is not a ``text/csv`` input of one row."""
    endpoint_input = (record.get("captureData") or {}).get("endpointInput")
    if not isinstance(endpoint_input, dict):
        return None
    content_type = str(endpoint_input.get("observedContentType") or "").split(";")[0].strip().lower()
    data, encoding = endpoint_input.get("data"), endpoint_input.get("encoding")
    if content_type != "text/csv" or not isinstance(data, str):
        return None
    if encoding == "BASE64":
        try:
            data = base64.b64decode(data, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
    elif encoding != "CSV":
        return None
    row = data.rstrip("\r\n")
    return row if row and "\n" not in row and "\r" not in row else None


def capture_variants(s3: Any, config: MergeConfig) -> list[str]:
    """The endpoint's variant folders, ``<CAPTURE_PREFIX><endpoint>/<variant>/``."""
    folders = []
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=config.capture.bucket, Prefix=f"{config.capture.prefix}{config.endpoint_name}/", Delimiter="/")
    for page in pages:
        folders += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    return sorted(folders)


def find_captures(s3: Any, config: MergeConfig, hour: datetime.datetime, wanted: set[str]) -> dict[str, str | None]:
    """For each id of ``wanted`` captured in the lookback window: its CSV row, or None if unusable."""
    found: dict[str, str | None] = {}
    if not wanted:
        return found
    variants = capture_variants(s3, config)
    for capture_hour in capture_hours(hour, config.lookback_days):
        for variant in variants:
            folder = f"{variant}{capture_hour:%Y/%m/%d/%H}/"
            keys = sorted(o["Key"] for o in list_objects(s3, config.capture.bucket, folder))
            for key in keys:
                for line in json_lines(read_text(s3, config.capture.bucket, key)):
                    try:
                        record = json.loads(line)
                    except ValueError:
                        continue
                    event_id = captured_id(record)
                    if event_id in wanted and event_id not in found:
                        found[event_id] = csv_input(record)
                if len(found) == len(wanted):
                    return found
    return found


# --- the hour -------------------------------------------------------------------------------


def merge(s3: Any, config: MergeConfig, hour: datetime.datetime) -> dict[str, Any]:
    """Process ``hour``: write ground truth and feedback, log one line and return the counts.

    ``matched`` labels made a training row; ``unmatched`` ones did not: never captured within the
    window, captured with an input that is not one CSV row (the log line counts those apart), or
    not a binary outcome (``not_binary``: they still go to ground truth).
    """
    labels, skipped = read_labels(s3, config, hour)
    result: dict[str, Any] = {"hour": _utc(hour), "labels": len(labels), "skipped_lines": skipped, "matched": 0,
                              "unmatched": len(labels), "not_binary": 0, "ground_truth_key": None,
                              "feedback_key": None}
    not_csv = 0
    if labels:
        key = ground_truth_key(config.ground_truth.prefix, hour)
        s3.put_object(Bucket=config.ground_truth.bucket, Key=key, Body=ground_truth_body(labels),
                      ContentType="application/jsonlines")
        result["ground_truth_key"] = key
        captures = find_captures(s3, config, hour, {label.inference_id for label in labels})
        rows = [(label.value, row) for label in labels
                if (row := captures.get(label.inference_id)) and is_binary(label.value)]
        not_csv = sum(1 for label in labels if label.inference_id in captures and captures[label.inference_id] is None)
        not_binary = sum(1 for label in labels if captures.get(label.inference_id) and not is_binary(label.value))
        result.update(matched=len(rows), unmatched=len(labels) - len(rows), not_binary=not_binary)
        if rows:
            key = feedback_key(config.feedback.prefix, hour)
            s3.put_object(Bucket=config.feedback.bucket, Key=key, Body=feedback_body(rows), ContentType="text/csv")
            result["feedback_key"] = key
    print(json.dumps({"endpoint": config.endpoint_name, **result, "captured_but_not_one_csv_row": not_csv}))
    return result
