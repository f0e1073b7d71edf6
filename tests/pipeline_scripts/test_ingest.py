"""The Ingest step: one run's feature records into a feature group, typed as the group defines them."""

from __future__ import annotations

from datetime import datetime, timezone

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from ml_platform.jobs.training_pipeline import ingest

GROUP = "t-dev-churn"
TIME = "2024-05-01T06:00:00Z"
SCHEMA = ingest.GroupSchema(name=GROUP, record_identifier="customer_id", event_time="event_time",
                            types={"customer_id": "String", "churned": "Integral", "tenure": "Fractional",
                                   "plan": "String", "event_time": "String"})


def write(tmp_path, text: str):
    path = tmp_path / "records.csv"
    path.write_text(text)
    return path


def test_records_are_typed_and_get_the_run_event_time(tmp_path):
    path = write(tmp_path, "customer_id,churned,tenure,plan\nc1,1.0,12.5,gold\nc2,0,,basic\n")
    first, second = ingest.read_records(path, SCHEMA, TIME)
    assert first == [{"FeatureName": "customer_id", "ValueAsString": "c1"},
                     {"FeatureName": "churned", "ValueAsString": "1"},
                     {"FeatureName": "tenure", "ValueAsString": "12.5"},
                     {"FeatureName": "plan", "ValueAsString": "gold"},
                     {"FeatureName": "event_time", "ValueAsString": TIME}]
    # an empty field is left out: Feature Store keeps the feature null
    assert "tenure" not in {f["FeatureName"] for f in second}


def test_an_event_time_column_with_a_value_wins(tmp_path):
    path = write(tmp_path, "customer_id,event_time\nc1,2024-01-02T03:04:05Z\nc2,\n")
    first, second = ingest.read_records(path, SCHEMA, TIME)
    assert first[-1] == {"FeatureName": "event_time", "ValueAsString": "2024-01-02T03:04:05Z"}
    assert second[-1] == {"FeatureName": "event_time", "ValueAsString": TIME}


@pytest.mark.parametrize(("text", "message"), [
    ("customer_id,churned\nc1,0.5\n", "line 2, churned (Integral): '0.5' is not a whole number"),
    ("customer_id,tenure\nc1,abc\n", "line 2, tenure (Fractional): 'abc' is not a number"),
    ("customer_id,tenure\nc1,inf\n", "'inf' is not a number"),
    ("customer_id,age\nc1,3\n", "columns age are not features of t-dev-churn"),
    ("churned\n1\n", "no column 'customer_id', the record identifier of t-dev-churn"),
    ("customer_id,plan,plan\nc1,a,b\n", "the header names plan twice"),
    ("customer_id\nc1\nc1\n", "line 3 repeats customer_id 'c1' of line 2"),
    ("customer_id,plan\n,gold\n", "line 2 has no 'customer_id'"),
    ("customer_id,plan\nc1\n", "line 2 has 1 fields, the header 2"),
    ("customer_id,event_time\nc1,2024-01-02\n", "'2024-01-02' is not yyyy-MM-ddTHH:mm:ssZ"),
    ("", "empty file"),
])
def test_bad_records_name_the_line_column_and_value(tmp_path, text, message):
    with pytest.raises(ValueError) as error:
        ingest.read_records(write(tmp_path, text), SCHEMA, TIME)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_a_run_event_time_in_another_form_is_refused(tmp_path):
    with pytest.raises(ValueError, match="is not yyyy-MM-ddTHH:mm:ssZ"):
        ingest.read_records(write(tmp_path, "customer_id\nc1\n"), SCHEMA, "2024-05-01 06:00")


def test_event_time_text_is_utc_iso_8601():
    moment = datetime(2024, 5, 1, 8, 30, 15, 999, tzinfo=timezone.utc)
    assert ingest.event_time_text(moment) == "2024-05-01T08:30:15Z"
    assert ingest.EVENT_TIME.match(ingest.event_time_text(moment))


@mock_aws
def test_the_schema_comes_from_describe_feature_group():
    client = boto3.client("sagemaker", region_name="eu-west-1")
    client.create_feature_group(
        FeatureGroupName=GROUP, RecordIdentifierFeatureName="customer_id", EventTimeFeatureName="event_time",
        FeatureDefinitions=[{"FeatureName": n, "FeatureType": t} for n, t in SCHEMA.types.items()],
        OfflineStoreConfig={"S3StorageConfig": {"S3Uri": "s3://curated/feature-store/churn/"}},
        RoleArn="arn:aws:iam::123456789012:role/offline-store")
    description = client.describe_feature_group(FeatureGroupName=GROUP)
    assert ingest.GroupSchema.from_description(description) == SCHEMA


def test_a_group_that_is_not_created_is_refused():
    with pytest.raises(ValueError, match="'t-dev-churn' is Creating, not Created"):
        ingest.GroupSchema.from_description({"FeatureGroupName": GROUP, "FeatureGroupStatus": "Creating"})


def runtime_stub(records):
    """A real featurestore-runtime client whose PutRecord requests botocore validates against the API model."""
    client = boto3.client("sagemaker-featurestore-runtime", region_name="eu-west-1",
                          aws_access_key_id="x", aws_secret_access_key="x")
    stubber = Stubber(client)
    for record in records:
        stubber.add_response("put_record", {}, {"FeatureGroupName": GROUP, "Record": record})
    return client, stubber


def test_each_record_is_one_valid_put_record(tmp_path):
    records = ingest.read_records(write(tmp_path, "customer_id,churned\nc1,1\nc2,0\n"), SCHEMA, TIME)
    client, stubber = runtime_stub(records)
    with stubber:
        assert ingest.put_records(client, GROUP, records, workers=1) == 2
        stubber.assert_no_pending_responses()


class Failing:
    def __init__(self, fail: set[str]):
        self.fail, self.calls = fail, []

    def put_record(self, FeatureGroupName, Record):  # noqa: N803 - boto3's keyword names
        self.calls.append(Record[0]["ValueAsString"])
        if Record[0]["ValueAsString"] in self.fail:
            raise RuntimeError("ThrottlingException")


def test_failed_puts_fail_the_step_after_trying_every_record():
    records = [[{"FeatureName": "customer_id", "ValueAsString": f"c{i}"}] for i in range(5)]
    runtime = Failing({"c1", "c3"})
    with pytest.raises(RuntimeError, match=r"^2 of 5 records were not written to t-dev-churn; first error: "
                                           r"RuntimeError: ThrottlingException$"):
        ingest.put_records(runtime, GROUP, records, workers=2)
    assert sorted(runtime.calls) == [f"c{i}" for i in range(5)]


class Describing:
    def describe_feature_group(self, FeatureGroupName):  # noqa: N803 - boto3's keyword names
        return {"FeatureGroupName": FeatureGroupName, "FeatureGroupStatus": "Created",
                "RecordIdentifierFeatureName": SCHEMA.record_identifier, "EventTimeFeatureName": SCHEMA.event_time,
                "FeatureDefinitions": [{"FeatureName": n, "FeatureType": t} for n, t in SCHEMA.types.items()]}


def test_main_describes_reads_and_puts(tmp_path, capsys):
    path = write(tmp_path, "customer_id,plan\nc1,gold\n")
    runtime = Failing(set())
    written = ingest.main(["--feature-group", GROUP, "--records", str(path), "--event-time", TIME],
                          sagemaker=Describing(), runtime=runtime)
    assert written == 1 and runtime.calls == ["c1"]
    assert capsys.readouterr().out == f"ingest: 1 records into {GROUP} at event time {TIME}\n"
