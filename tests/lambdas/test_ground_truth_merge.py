"""The ground truth merge against moto's S3: labels of one hour -> Model Monitor ground truth and feedback rows.

moto stamps an object's LastModified from its own clock; the ``clock`` fixture sets that clock so
that label files can be written "at" a chosen time of the processed hour.
"""

from __future__ import annotations

import base64
import datetime
import importlib
import json
import re
import sys
from pathlib import Path

import boto3
import moto.s3.models
import pytest

from ml_platform.lambdas.ground_truth_merge import merge as merge_module
from ml_platform.lambdas.ground_truth_merge.merge import Location, MergeConfig, merge, parse_hour

UTC = datetime.timezone.utc
H = datetime.datetime(2026, 11, 29, 13, tzinfo=UTC)
MINUTE = datetime.timedelta(minutes=1)
HOUR = datetime.timedelta(hours=1)
BUCKETS = {"capture": "mlp-raw", "labels": "mlp-labels", "ground_truth": "mlp-monitoring", "feedback": "mlp-curated"}
CONFIG = MergeConfig(capture=Location("mlp-raw", "datacapture/"), endpoint_name="churn",
                     labels=Location("mlp-labels", "labels/churn/"),
                     ground_truth=Location("mlp-monitoring", "churn/ground-truth/"),
                     feedback=Location("mlp-curated", "churn/feedback/"))
GROUND_TRUTH_KEY = "churn/ground-truth/2026/11/29/13/labels.jsonl"
FEEDBACK_KEY = "churn/feedback/year=2026/month=11/day=29/feedback-13.csv"


class Clock:
    """Stands in for moto's S3 clock (naive UTC), which stamps LastModified."""

    def __init__(self, real):
        self.real, self.now = real, None

    def __call__(self):
        return self.now.astimezone(UTC).replace(tzinfo=None) if self.now else self.real()


@pytest.fixture
def clock(monkeypatch):
    found = Clock(moto.s3.models.utcnow)
    monkeypatch.setattr(moto.s3.models, "utcnow", found)
    return found


@pytest.fixture
def s3(mocked_aws, clock):
    client = boto3.client("s3")
    for bucket in BUCKETS.values():
        client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    return client


def put_labels(s3, clock, key: str, lines: list, at: datetime.datetime) -> None:
    clock.now = at
    body = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n"
    s3.put_object(Bucket="mlp-labels", Key=f"labels/churn/{key}", Body=body.encode())
    clock.now = None


def record(row: str, event_id: str, inference_id: str | None = None, encoding: str = "BASE64",
           content_type: str = "text/csv") -> dict:
    data = base64.b64encode(row.encode()).decode() if encoding == "BASE64" else row
    metadata = {"eventId": event_id, "inferenceTime": "2026-11-29T12:00:00Z"}
    if inference_id is not None:
        metadata["inferenceId"] = inference_id
    return {"captureData": {
        "endpointInput": {"observedContentType": content_type, "mode": "INPUT", "data": data, "encoding": encoding},
        "endpointOutput": {"observedContentType": "text/csv; charset=utf-8", "mode": "OUTPUT",
                           "data": base64.b64encode(b"0.87").decode(), "encoding": "BASE64"}},
        "eventMetadata": metadata, "eventVersion": "0"}


def put_capture(s3, hour: datetime.datetime, records: list[dict], variant: str = "AllTraffic",
                name: str = "00-00-000-capture.jsonl", endpoint: str = "churn") -> None:
    key = f"datacapture/{endpoint}/{variant}/{hour:%Y/%m/%d/%H}/{name}"
    s3.put_object(Bucket="mlp-raw", Key=key, Body="".join(json.dumps(r) + "\n" for r in records).encode())


def read(s3, bucket: str, key: str) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def ground_truth(s3) -> list[dict]:
    return [json.loads(line) for line in read(s3, "mlp-monitoring", GROUND_TRUTH_KEY).decode().splitlines()]


def expected_ground_truth(*pairs: tuple[str, str]) -> list[dict]:
    """Model Monitor's documented ground truth record for each (inference id, label)."""
    return [{"groundTruthData": {"data": label, "encoding": "CSV"}, "eventMetadata": {"eventId": event_id},
             "eventVersion": "0"} for event_id, label in pairs]


def keys(s3, bucket: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


# --- the hour's merge ---------------------------------------------------------------------


def test_labels_become_ground_truth_and_captured_rows_become_feedback(s3, clock, capsys):
    put_capture(s3, H - 3 * HOUR, [record("42,0,19.5", "ev-1", inference_id="order-1"),
                                   record("7,1,3.25", "ev-2", encoding="CSV")])
    put_labels(s3, clock, "batch-1.jsonl", [
        {"source": "42,0,19.5", "inference-id": "order-1", "label": 1, "label-metadata": {"class-name": "churn"}},
        {"inference-id": "ev-2", "label": 0},
        {"inference-id": "never-captured", "label": 1},
    ], H + 10 * MINUTE)
    result = merge(s3, CONFIG, H)
    assert result == {"hour": "2026-11-29T13:00:00Z", "labels": 3, "skipped_lines": 0, "matched": 2, "unmatched": 1,
                      "not_binary": 0, "ground_truth_key": GROUND_TRUTH_KEY, "feedback_key": FEEDBACK_KEY}
    assert ground_truth(s3) == expected_ground_truth(("order-1", "1"), ("ev-2", "0"), ("never-captured", "1"))
    assert read(s3, "mlp-curated", FEEDBACK_KEY).decode() == "1,42,0,19.5\n0,7,1,3.25\n"
    [line] = capsys.readouterr().out.splitlines()
    assert json.loads(line) == {"endpoint": "churn", **result, "captured_but_not_one_csv_row": 0}


def test_a_record_with_an_inference_id_is_joined_on_it_not_on_its_event_id(s3, clock):
    put_capture(s3, H, [record("1,2,3", "ev-9", inference_id="order-9")])
    put_labels(s3, clock, "a.jsonl", [{"inference-id": "ev-9", "label": 1}, {"inference-id": "order-9", "label": 0}], H)
    result = merge(s3, CONFIG, H)
    assert (result["matched"], result["unmatched"]) == (1, 1)
    assert read(s3, "mlp-curated", FEEDBACK_KEY).decode() == "0,1,2,3\n"


def test_lines_without_an_id_or_a_label_are_skipped_and_counted(s3, clock):
    put_capture(s3, H, [record("5,5", "a"), record("6,6", "b"), record("7,7", "c"), record("8,8", "d")])
    put_labels(s3, clock, "mixed.jsonl", [
        {"inference-id": "a", "label": "retained"},
        {"inference-id": "b", "label": {"label": "churned"}},  # this platform's consolidation shape
        {"inference-id": "c", "label": 0.5},
        {"inference-id": 4, "label": 1},                        # a numeric id
        {"label": 1}, {"inference-id": "x"}, {"inference-id": "", "label": 1}, {"inference-id": "y", "label": ""},
        {"inference-id": "y", "label": None}, {"inference-id": "z", "label": True},
        {"inference-id": "y", "label": {"class": 1}}, {"inference-id": "y", "label": [1]},
        "not json", "[1, 2]", "", "   ",
    ], H)
    result = merge(s3, CONFIG, H)
    assert (result["labels"], result["skipped_lines"]) == (5, 9)
    assert ground_truth(s3) == expected_ground_truth(("a", "retained"), ("b", "churned"), ("c", "0.5"), ("4", "1"),
                                                     ("z", "1"))


def test_other_attribute_names_are_read_when_configured(s3, clock):
    put_labels(s3, clock, "a.jsonl", [{"recordId": "r-1", "churn-label": 1, "inference-id": "ignored", "label": 0}], H)
    config = MergeConfig(**{**CONFIG.__dict__, "id_attribute": "recordId", "label_attribute": "churn-label"})
    merge(s3, config, H)
    assert ground_truth(s3) == expected_ground_truth(("r-1", "1"))


def test_only_label_files_last_modified_within_the_hour_count(s3, clock):
    for name, at in (("before.jsonl", H - datetime.timedelta(seconds=1)), ("first.jsonl", H),
                     ("last.jsonl", H + HOUR - datetime.timedelta(seconds=1)), ("after.jsonl", H + HOUR)):
        put_labels(s3, clock, name, [{"inference-id": name, "label": 1}], at)
    merge(s3, CONFIG, H)
    assert [r["eventMetadata"]["eventId"] for r in ground_truth(s3)] == ["first.jsonl", "last.jsonl"]


def test_a_later_label_for_the_same_id_in_the_hour_replaces_the_earlier(s3, clock):
    put_labels(s3, clock, "z-first.jsonl", [{"inference-id": "a", "label": 0}, {"inference-id": "b", "label": 0}], H)
    put_labels(s3, clock, "a-second.jsonl", [{"inference-id": "a", "label": 1}], H + MINUTE)
    result = merge(s3, CONFIG, H)
    assert result["labels"] == 2
    assert ground_truth(s3) == expected_ground_truth(("a", "1"), ("b", "0"))


def test_captures_are_searched_from_lookback_days_before_the_hour_to_the_hour_after(s3, clock):
    config = MergeConfig(**{**CONFIG.__dict__, "lookback_days": 1})
    put_capture(s3, H - 25 * HOUR, [record("1", "too-old")])
    put_capture(s3, H - 24 * HOUR, [record("2", "oldest")])
    put_capture(s3, H + HOUR, [record("3", "next-hour")])
    put_capture(s3, H + 2 * HOUR, [record("4", "too-new")])
    ids = ("too-old", "oldest", "next-hour", "too-new")
    put_labels(s3, clock, "a.jsonl", [{"inference-id": i, "label": 1} for i in ids], H)
    result = merge(s3, config, H)
    assert (result["matched"], result["unmatched"]) == (2, 2)
    assert read(s3, "mlp-curated", FEEDBACK_KEY).decode() == "1,2\n1,3\n"


def test_inputs_that_are_not_one_csv_row_are_not_training_rows(s3, clock, capsys):
    put_capture(s3, H, [
        record('{"tenure": 3}', "json", content_type="application/json"),
        record("1,2\n3,4", "two-rows"),
        record("9,9", "jsonl-encoding", encoding="JSON"),
        record("5,6\n", "charset", content_type="text/csv; charset=utf-8"),
    ])
    broken = record("x", "bad-base64")
    broken["captureData"]["endpointInput"]["data"] = "***"
    put_capture(s3, H, [broken], name="second.jsonl")
    ids = ["json", "two-rows", "jsonl-encoding", "bad-base64", "charset"]
    put_labels(s3, clock, "a.jsonl", [{"inference-id": i, "label": 1} for i in ids], H)
    result = merge(s3, CONFIG, H)
    assert (result["labels"], result["matched"], result["unmatched"]) == (5, 1, 4)
    assert read(s3, "mlp-curated", FEEDBACK_KEY).decode() == "1,5,6\n"
    assert json.loads(capsys.readouterr().out)["captured_but_not_one_csv_row"] == 4


def test_a_label_that_is_no_binary_outcome_goes_to_ground_truth_but_not_to_training(s3, clock):
    """The feature step takes 0/1 labels only: one such row would fail every retraining run."""
    put_capture(s3, H, [record("1,2", "a"), record("3,4", "b")])
    put_labels(s3, clock, "a.jsonl", [{"inference-id": "a", "label": 'gold, "premium"'},
                                      {"inference-id": "b", "label": 1}], H)
    result = merge(s3, CONFIG, H)
    assert (result["matched"], result["unmatched"], result["not_binary"]) == (1, 1, 1)
    assert ground_truth(s3) == expected_ground_truth(("a", 'gold, "premium"'), ("b", "1"))
    assert read(s3, "mlp-curated", FEEDBACK_KEY).decode() == "1,3,4\n"


@pytest.mark.parametrize(("raw", "expected"), [
    (True, "1"), (False, "0"), ("yes", "1"), ("No", "0"), (" TRUE ", "1"), ("false", "0"), (1.0, "1"), (0.0, "0"),
    ({"label": "yes"}, "1"), (1, "1"), ("0", "0"),
])
def test_binary_outcomes_become_one_and_zero_in_ground_truth_and_feedback(s3, clock, raw, expected):
    """What the model predicts, what Model Monitor compares with, and what the feature step reads."""
    put_capture(s3, H, [record("5,6", "a")])
    put_labels(s3, clock, "a.jsonl", [{"inference-id": "a", "label": raw}], H)
    merge(s3, CONFIG, H)
    assert ground_truth(s3) == expected_ground_truth(("a", expected))
    assert read(s3, "mlp-curated", FEEDBACK_KEY).decode() == f"{expected},5,6\n"


def test_every_variant_of_the_endpoint_and_no_other_endpoint_is_searched(s3, clock):
    put_capture(s3, H, [record("1,1", "blue")], variant="Blue")
    put_capture(s3, H - HOUR, [record("2,2", "green")], variant="Green")
    put_capture(s3, H, [record("3,3", "other")], endpoint="churn-v2")
    put_labels(s3, clock, "a.jsonl", [{"inference-id": i, "label": 0} for i in ("blue", "green", "other")], H)
    result = merge(s3, CONFIG, H)
    assert (result["matched"], result["unmatched"]) == (2, 1)
    assert read(s3, "mlp-curated", FEEDBACK_KEY).decode() == "0,1,1\n0,2,2\n"


def test_capture_listings_are_per_hour_prefix_and_stop_once_every_label_is_found(s3, clock):
    put_capture(s3, H, [record("1,1", "a")])
    put_capture(s3, H - 2 * HOUR, [record("2,2", "b")])
    put_labels(s3, clock, "a.jsonl", [{"inference-id": "a", "label": 0}, {"inference-id": "b", "label": 1}], H)
    listed = []
    s3.meta.events.register("provide-client-params.s3.ListObjectsV2", lambda params, **_: listed.append(
        (params["Bucket"], params["Prefix"], params.get("Delimiter"))))
    merge(s3, CONFIG, H)
    captures = [(prefix, delimiter) for bucket, prefix, delimiter in listed if bucket == "mlp-raw"]
    assert captures == [("datacapture/churn/", "/")] + [
        (f"datacapture/churn/AllTraffic/{hour:%Y/%m/%d/%H}/", None) for hour in (H + HOUR, H, H - HOUR, H - 2 * HOUR)]


def test_a_rerun_of_the_hour_overwrites_both_outputs_with_the_same_bytes(s3, clock):
    put_capture(s3, H, [record("1,2", "a"), record("3,4", "b")])
    put_labels(s3, clock, "a.jsonl", [{"inference-id": i, "label": 1} for i in ("b", "a", "c")], H)
    first = merge(s3, CONFIG, H)
    before = (read(s3, "mlp-monitoring", GROUND_TRUTH_KEY), read(s3, "mlp-curated", FEEDBACK_KEY))
    second = merge(s3, CONFIG, H)
    assert first == second
    assert (read(s3, "mlp-monitoring", GROUND_TRUTH_KEY), read(s3, "mlp-curated", FEEDBACK_KEY)) == before
    assert (keys(s3, "mlp-monitoring"), keys(s3, "mlp-curated")) == ([GROUND_TRUTH_KEY], [FEEDBACK_KEY])


def test_nothing_is_written_without_labels(s3, clock):
    put_capture(s3, H, [record("1,2", "a")])
    put_labels(s3, clock, "a.jsonl", ["garbage"], H)
    put_labels(s3, clock, "old.jsonl", [{"inference-id": "a", "label": 1}], H - HOUR)
    result = merge(s3, CONFIG, H)
    assert result == {"hour": "2026-11-29T13:00:00Z", "labels": 0, "skipped_lines": 1, "matched": 0, "unmatched": 0,
                      "not_binary": 0, "ground_truth_key": None, "feedback_key": None}
    assert keys(s3, "mlp-monitoring") == keys(s3, "mlp-curated") == []


def test_labels_never_captured_go_to_ground_truth_only(s3, clock):
    put_labels(s3, clock, "a.jsonl", [{"inference-id": "a", "label": 1}], H)
    result = merge(s3, CONFIG, H)
    assert (result["matched"], result["unmatched"], result["feedback_key"]) == (0, 1, None)
    assert ground_truth(s3) == expected_ground_truth(("a", "1"))
    assert keys(s3, "mlp-curated") == []


def test_outputs_may_share_a_bucket_with_the_labels_when_the_prefixes_are_apart(s3, clock):
    config = MergeConfig(**{**CONFIG.__dict__, "ground_truth": Location("mlp-labels", "ground-truth/")})
    put_labels(s3, clock, "a.jsonl", [{"inference-id": "a", "label": 1}], H)
    assert merge(s3, config, H)["ground_truth_key"] == "ground-truth/2026/11/29/13/labels.jsonl"


# --- the hour -----------------------------------------------------------------------------


@pytest.mark.parametrize(("now", "hour"), [
    (datetime.datetime(2026, 11, 29, 14, 5, 17, tzinfo=UTC), H),
    (datetime.datetime(2026, 11, 29, 14, 0, tzinfo=UTC), H),
    (datetime.datetime(2026, 11, 29, 15, 5, tzinfo=datetime.timezone(datetime.timedelta(hours=1))), H),
    (datetime.datetime(2026, 11, 30, 0, 10, tzinfo=UTC), datetime.datetime(2026, 11, 29, 23, tzinfo=UTC)),
])
def test_an_empty_event_processes_the_previous_full_utc_hour(now, hour):
    assert parse_hour({}, now) == hour
    assert parse_hour(None, now) == hour


@pytest.mark.parametrize("value", ["2026-11-29T13:00:00Z", "2026-11-29T13:00:00+00:00", "2026-11-29T14:00:00+01:00"])
def test_an_hour_in_the_event_is_processed(value):
    assert parse_hour({"hour": value}, datetime.datetime(2026, 12, 1, tzinfo=UTC)) == H


@pytest.mark.parametrize("value", ["2026-11-29T13:30:00Z", "2026-11-29T13:00:01Z", "2026-11-29T13:00:00",
                                   "2026-11-29", "13:00", "yesterday", 1764421200, ""])
def test_a_bad_hour_is_rejected_with_the_expected_form(value):
    with pytest.raises(ValueError, match=re.escape(f"hour is {value!r}; expected a whole UTC hour such as "
                                                   "'2026-11-29T13:00:00Z'")):
        parse_hour({"hour": value}, datetime.datetime(2026, 12, 1, tzinfo=UTC))


def scheduled_event(time: str) -> dict:
    """An EventBridge scheduled event as a rule with a schedule delivers it."""
    return {"version": "0", "id": "e-1", "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "111111111111", "time": time, "region": "eu-west-1", "resources": [], "detail": {}}


def test_a_scheduled_event_processes_the_hour_before_its_time_even_when_retried_late():
    event = scheduled_event("2026-11-29T14:15:00Z")
    assert parse_hour(event, datetime.datetime(2026, 11, 29, 14, 15, 3, tzinfo=UTC)) == H
    # EventBridge retried it after the next hour began: still the same hour, never a skipped one
    assert parse_hour(event, datetime.datetime(2026, 11, 29, 15, 40, tzinfo=UTC)) == H


def test_a_scheduled_event_with_a_bad_time_is_rejected():
    with pytest.raises(ValueError, match="the scheduled event's time is 'soon'"):
        parse_hour(scheduled_event("soon"), datetime.datetime(2026, 11, 29, 15, tzinfo=UTC))


def test_an_hour_that_has_not_ended_is_rejected():
    with pytest.raises(ValueError, match="hour 2026-11-29T13:00:00Z has not ended yet"):
        parse_hour({"hour": "2026-11-29T13:00:00Z"}, datetime.datetime(2026, 11, 29, 13, 59, tzinfo=UTC))
    assert parse_hour({"hour": "2026-11-29T13:00:00Z"}, datetime.datetime(2026, 11, 29, 14, tzinfo=UTC)) == H


def test_an_event_that_is_not_an_object_is_rejected():
    with pytest.raises(ValueError, match="the event must be an object"):
        parse_hour(["2026-11-29T13:00:00Z"], datetime.datetime(2026, 12, 1, tzinfo=UTC))


# --- environment --------------------------------------------------------------------------


ENV = {"BUCKET_CAPTURE": "mlp-raw", "CAPTURE_PREFIX": "datacapture/", "ENDPOINT_NAME": "churn",
       "BUCKET_LABELS": "mlp-labels", "LABELS_PREFIX": "labels/churn/", "BUCKET_GROUND_TRUTH": "mlp-monitoring",
       "GROUND_TRUTH_PREFIX": "churn/ground-truth/", "BUCKET_FEEDBACK": "mlp-curated",
       "FEEDBACK_PREFIX": "churn/feedback/"}


def test_the_environment_with_defaults():
    assert MergeConfig.from_environment(ENV) == CONFIG
    assert (CONFIG.id_attribute, CONFIG.label_attribute, CONFIG.lookback_days) == ("inference-id", "label", 7)


def test_the_environment_with_every_option():
    config = MergeConfig.from_environment({**ENV, "ID_ATTRIBUTE": "recordId", "LABEL_ATTRIBUTE": "churned",
                                           "LOOKBACK_DAYS": "0", "CAPTURE_PREFIX": ""})
    assert (config.id_attribute, config.label_attribute, config.lookback_days, config.capture.prefix) == \
           ("recordId", "churned", 0, "")


@pytest.mark.parametrize(("change", "message"), [
    *[({name: ""}, f"{name} is not set") for name in
      ("BUCKET_CAPTURE", "ENDPOINT_NAME", "BUCKET_LABELS", "BUCKET_GROUND_TRUTH", "BUCKET_FEEDBACK")],
    ({"CAPTURE_PREFIX": "datacapture"}, "CAPTURE_PREFIX is 'datacapture'; it must end with '/'"),
    ({"GROUND_TRUTH_PREFIX": "churn/gt"}, "GROUND_TRUTH_PREFIX is 'churn/gt'; it must end with '/'"),
    ({"FEEDBACK_PREFIX": "fb"}, "FEEDBACK_PREFIX is 'fb'; it must end with '/'"),
    ({"LOOKBACK_DAYS": "a week"}, "LOOKBACK_DAYS is 'a week'; expected whole days >= 0"),
    ({"LOOKBACK_DAYS": "-1"}, "LOOKBACK_DAYS is '-1'"),
    ({"LOOKBACK_DAYS": "1.5"}, "LOOKBACK_DAYS is '1.5'"),
    ({"ENDPOINT_NAME": "churn/prod"}, "ENDPOINT_NAME is 'churn/prod'"),
    ({"ID_ATTRIBUTE": "label"}, "ID_ATTRIBUTE and LABEL_ATTRIBUTE are both 'label'"),
    ({"BUCKET_GROUND_TRUTH": "mlp-labels", "GROUND_TRUTH_PREFIX": "labels/churn/gt/"},
     "GROUND_TRUTH_PREFIX 'labels/churn/gt/' and LABELS_PREFIX 'labels/churn/' overlap in bucket mlp-labels"),
    ({"BUCKET_FEEDBACK": "mlp-labels", "FEEDBACK_PREFIX": ""}, "FEEDBACK_PREFIX '' and LABELS_PREFIX"),
])
def test_a_bad_environment_names_the_variable(change, message):
    env = {**ENV, **change}
    with pytest.raises(ValueError, match=re.escape(message)):
        MergeConfig.from_environment(env)


def test_a_missing_variable_is_named():
    env = dict(ENV)
    del env["BUCKET_LABELS"]
    with pytest.raises(ValueError, match="BUCKET_LABELS is not set"):
        MergeConfig.from_environment(env)


# --- entry point --------------------------------------------------------------------------


def test_lambda_entry_point_processes_the_previous_hour_with_the_flat_module_layout(s3, clock, monkeypatch):
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    previous = datetime.datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - HOUR
    put_capture(s3, previous, [record("1,2", "a")])
    put_labels(s3, clock, "a.jsonl", [{"inference-id": "a", "label": 1}], previous + 30 * MINUTE)
    monkeypatch.syspath_prepend(str(Path(merge_module.__file__).parent))
    for name in ("handler", "merge"):
        sys.modules.pop(name, None)
    try:
        handler = importlib.import_module("handler")
        result = handler.on_event({}, None)
        rerun = handler.on_event({"hour": f"{previous:%Y-%m-%dT%H}:00:00Z"}, None)
    finally:
        for name in ("handler", "merge"):
            sys.modules.pop(name, None)
    assert result == rerun
    assert (result["hour"], result["labels"], result["matched"]) == (f"{previous:%Y-%m-%dT%H}:00:00Z", 1, 1)
    assert read(s3, "mlp-curated", result["feedback_key"]).decode() == "1,1,2\n"


def test_binary_words_are_the_feature_steps_own():
    """The seam to training: the merge writes 1/0 for exactly the words the feature step reads."""
    from ml_platform.jobs.training_pipeline import features

    assert merge_module.TRUE_LABELS == features.TRUE_LABELS
    assert merge_module.FALSE_LABELS == features.FALSE_LABELS
