"""The drift launcher (window, job name, request against botocore's SageMaker model) and the drift
metrics function (moto's S3 and CloudWatch).

The CreateProcessingJob request goes through a botocore Stubber: the client validates it against
the SageMaker service model before the stub answers, so a wrong or missing parameter fails here.
moto lists S3 for the capture windows.
"""

from __future__ import annotations

import datetime
import json

import boto3
import pytest
from botocore.exceptions import ParamValidationError
from botocore.stub import Stubber

from ml_platform.lambdas.drift_launcher import handler as launcher
from ml_platform.lambdas.drift_metrics import handler as metrics

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 11, 29, 13, 10, 42, tzinfo=UTC)
CAPTURE = "lake-raw"
REPORTS = "lake-artifacts"
KEY = "arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ENV = {
    "JOB_PREFIX": "t-churn-drift", "ENDPOINT_NAME": "t-churn", "SCHEDULE_NAME": "t-churn-data-quality",
    "IMAGE_URI": "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-cpu-py3",
    "ROLE_ARN": "arn:aws:iam::111111111111:role/monitoring", "INSTANCE_TYPE": "ml.m5.large",
    "VOLUME_SIZE_GB": "30", "MAX_RUNTIME_SECONDS": "3600", "KMS_KEY_ARN": KEY,
    "SUBNETS": "subnet-0aaaaaaaaaaaaaaaa,subnet-0bbbbbbbbbbbbbbbb", "SECURITY_GROUP": "sg-0cccccccccccccccc",
    "CODE_URI": "s3://cdk-hnb659fds-assets-111111111111-eu-west-1/5569e750.zip",
    "STATISTICS_URI": "s3://lake-artifacts/churn/monitoring/baselines/statistics.json",
    "CONSTRAINTS_URI": "s3://lake-artifacts/churn/monitoring/baselines/constraints.json",
    "CAPTURE_BUCKET": CAPTURE, "CAPTURE_PREFIX": "data-capture/t-churn/",
    "REPORTS_URI": "s3://lake-artifacts/churn/reports/t-churn/data-quality/", "HEADERS": "age,amount,tenure",
}
CONFIG = launcher.LaunchConfig.from_environment(ENV)
#: The event the schedule sends (its input, with the context attribute replaced).
SCHEDULED = {"scheduled_time": "2026-11-29T13:10:00Z"}
ARN = "arn:aws:sagemaker:eu-west-1:111111111111:processing-job/t-churn-drift-2026112912"


@pytest.fixture
def s3(mocked_aws):
    client = boto3.client("s3")
    for bucket in (CAPTURE, REPORTS):
        client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    return client


def capture(s3, variant: str, hour: str, name: str = "a.jsonl") -> None:
    s3.put_object(Bucket=CAPTURE, Key=f"data-capture/t-churn/{variant}/{hour}/{name}", Body=b"{}\n")


def stubbed_sagemaker():
    client = boto3.client("sagemaker", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    return client, Stubber(client)


# --- window and job name ---------------------------------------------------------------------


def test_a_scheduled_run_checks_the_hour_before_its_scheduled_time_not_its_delivery():
    window = launcher.parse_window(SCHEDULED, NOW + datetime.timedelta(minutes=50))  # delivered late, retried
    assert window == launcher.Window(datetime.datetime(2026, 11, 29, 12, tzinfo=UTC), False)
    assert launcher.job_name("t-churn-drift", window, NOW) == "t-churn-drift-2026112912"


def test_without_a_scheduled_time_the_hour_before_now_is_checked():
    assert launcher.parse_window({}, NOW).hour == datetime.datetime(2026, 11, 29, 12, tzinfo=UTC)
    assert launcher.parse_window(None, NOW).hour == datetime.datetime(2026, 11, 29, 12, tzinfo=UTC)


def test_an_explicit_hour_is_a_rerun_with_its_own_job_name():
    window = launcher.parse_window({"hour": "2026-11-28T07:00:00Z"}, NOW)
    assert window == launcher.Window(datetime.datetime(2026, 11, 28, 7, tzinfo=UTC), True)
    assert launcher.job_name("t-churn-drift", window, NOW) == "t-churn-drift-2026112807-131042"


@pytest.mark.parametrize(("event", "message"), [
    ({"hour": "2026-11-29T13:00:00Z"}, "hour 2026-11-29T13:00:00Z has not ended yet"),
    ({"hour": "2026-11-29T12:30:00Z"}, "expected a whole hour"),
    ({"hour": "yesterday"}, "hour is 'yesterday'; expected a UTC timestamp"),
    ({"scheduled_time": "2026-11-29T13:10:00"}, "scheduled_time is '2026-11-29T13:10:00'; expected a UTC timestamp"),
    (["x"], "the event must be an object, got list"),
])
def test_bad_events_are_named(event, message):
    with pytest.raises(ValueError, match=message):
        launcher.parse_window(event, NOW)


def test_a_job_name_over_63_characters_is_refused():
    window = launcher.Window(datetime.datetime(2026, 11, 29, 12, tzinfo=UTC), True)
    with pytest.raises(ValueError, match="is longer than 63 characters; shorten JOB_PREFIX"):
        launcher.job_name("p" * 46, window, NOW)
    assert len(launcher.job_name("p" * 45, window, NOW)) == 63


def test_missing_environment_is_named():
    with pytest.raises(ValueError, match="environment variables not set: ROLE_ARN, HEADERS"):
        launcher.LaunchConfig.from_environment({k: v for k, v in ENV.items() if k not in ("ROLE_ARN", "HEADERS")})


# --- capture windows (moto S3) ---------------------------------------------------------------


def test_only_variants_with_objects_in_the_hour_are_inputs(s3):
    capture(s3, "AllTraffic", "2026/11/29/12")
    capture(s3, "Challenger", "2026/11/29/11")  # another hour
    capture(s3, "Shadow", "2026/11/29/12", "b.jsonl")
    s3.put_object(Bucket=CAPTURE, Key="data-capture/t-churn-2/AllTraffic/2026/11/29/12/c.jsonl", Body=b"{}")
    found = launcher.captured_variants(s3, CAPTURE, "data-capture/t-churn/", datetime.datetime(2026, 11, 29, 12, tzinfo=UTC))
    assert found == {"AllTraffic": "data-capture/t-churn/AllTraffic/2026/11/29/12/",
                     "Shadow": "data-capture/t-churn/Shadow/2026/11/29/12/"}


# --- the request (botocore's model through a Stubber) ----------------------------------------


def test_a_scheduled_event_starts_the_documented_request(s3):
    capture(s3, "AllTraffic", "2026/11/29/12")
    client, stub = stubbed_sagemaker()
    expected = {
        "ProcessingJobName": "t-churn-drift-2026112912",
        "ProcessingInputs": [
            {"InputName": "code", "S3Input": {
                "S3Uri": ENV["CODE_URI"], "LocalPath": "/opt/ml/processing/input/code", "S3DataType": "S3Prefix",
                "S3InputMode": "File", "S3DataDistributionType": "FullyReplicated"}},
            {"InputName": "statistics", "S3Input": {
                "S3Uri": ENV["STATISTICS_URI"], "LocalPath": "/opt/ml/processing/input/baseline/statistics",
                "S3DataType": "S3Prefix", "S3InputMode": "File", "S3DataDistributionType": "FullyReplicated"}},
            {"InputName": "constraints", "S3Input": {
                "S3Uri": ENV["CONSTRAINTS_URI"], "LocalPath": "/opt/ml/processing/input/baseline/constraints",
                "S3DataType": "S3Prefix", "S3InputMode": "File", "S3DataDistributionType": "FullyReplicated"}},
            {"InputName": "capture-0", "S3Input": {
                "S3Uri": "s3://lake-raw/data-capture/t-churn/AllTraffic/2026/11/29/12/",
                "LocalPath": "/opt/ml/processing/input/capture/AllTraffic", "S3DataType": "S3Prefix",
                "S3InputMode": "File", "S3DataDistributionType": "FullyReplicated"}},
        ],
        "ProcessingOutputConfig": {"Outputs": [{"OutputName": "report", "S3Output": {
            "S3Uri": "s3://lake-artifacts/churn/reports/t-churn/data-quality/t-churn-drift-2026112912/",
            "LocalPath": "/opt/ml/processing/output", "S3UploadMode": "EndOfJob"}}], "KmsKeyId": KEY},
        "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                                  "VolumeSizeInGB": 30, "VolumeKmsKeyId": KEY}},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "AppSpecification": {
            "ImageUri": ENV["IMAGE_URI"],
            "ContainerEntrypoint": ["/bin/sh", "-c", 'cd /opt/ml/processing/input/code && python3 -m zipfile -e "$0" . '
                                    '&& exec python3 /opt/ml/processing/input/code/drift.py "$@"', "5569e750.zip"],
            "ContainerArguments": ["check", "--capture", "/opt/ml/processing/input/capture",
                                   "--statistics", "/opt/ml/processing/input/baseline/statistics/statistics.json",
                                   "--constraints", "/opt/ml/processing/input/baseline/constraints/constraints.json",
                                   "--output", "/opt/ml/processing/output", "--headers", "age,amount,tenure"]},
        "NetworkConfig": {"EnableInterContainerTrafficEncryption": True, "EnableNetworkIsolation": True,
                          "VpcConfig": {"SecurityGroupIds": ["sg-0cccccccccccccccc"],
                                        "Subnets": ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]}},
        "RoleArn": ENV["ROLE_ARN"],
        "Tags": [{"Key": "ml-platform:endpoint", "Value": "t-churn"},
                 {"Key": "ml-platform:monitoring-schedule", "Value": "t-churn-data-quality"},
                 {"Key": "ml-platform:window", "Value": "2026-11-29T12:00:00Z"}],
    }
    stub.add_response("create_processing_job", {"ProcessingJobArn": ARN}, expected)
    with stub:
        result = launcher.launch(client, s3, CONFIG, SCHEDULED, NOW)
    stub.assert_no_pending_responses()
    assert result == {"job": "t-churn-drift-2026112912", "window": "2026-11-29T12:00:00Z", "variants": ["AllTraffic"],
                      "arn": ARN, "outcome": "started"}


def test_the_request_is_valid_for_botocores_model_and_a_wrong_one_is_not():
    window = launcher.Window(datetime.datetime(2026, 11, 29, 12, tzinfo=UTC), False)
    request = launcher.build_request(CONFIG, "t-churn-drift-2026112912", window, {"A": "p/A/2026/11/29/12/"})
    client, stub = stubbed_sagemaker()
    stub.add_response("create_processing_job", {"ProcessingJobArn": ARN})
    stub.add_response("create_processing_job", {"ProcessingJobArn": ARN})  # never reached: validation fails first
    with stub:
        client.create_processing_job(**request)  # validated against the service model
        with pytest.raises(ParamValidationError):
            client.create_processing_job(**{**request, "ProcessingResources": {"ClusterConfig": {
                **request["ProcessingResources"]["ClusterConfig"], "VolumeSizeGB": 30}}})
    assert all(len(item) <= 256 for item in request["AppSpecification"]["ContainerEntrypoint"])


def test_an_empty_window_starts_no_job(s3):
    capture(s3, "AllTraffic", "2026/11/29/11")
    client, stub = stubbed_sagemaker()
    with stub:  # any SageMaker call would fail: nothing is stubbed
        result = launcher.launch(client, s3, CONFIG, SCHEDULED, NOW)
    assert result["outcome"] == "skipped: no data captured in the window" and result["variants"] == []


def test_a_retried_event_whose_job_exists_counts_as_started(s3):
    capture(s3, "AllTraffic", "2026/11/29/12")
    client, stub = stubbed_sagemaker()
    stub.add_client_error("create_processing_job", "ResourceInUse", "Job name must be unique")
    with stub:
        assert launcher.launch(client, s3, CONFIG, SCHEDULED, NOW)["outcome"] == "already started"


def test_other_sagemaker_errors_fail_the_invocation(s3):
    capture(s3, "AllTraffic", "2026/11/29/12")
    client, stub = stubbed_sagemaker()
    stub.add_client_error("create_processing_job", "ResourceLimitExceeded", "too many jobs")
    with stub, pytest.raises(client.exceptions.ResourceLimitExceeded):
        launcher.launch(client, s3, CONFIG, SCHEDULED, NOW)


def test_more_variants_than_inputs_are_refused():
    window = launcher.Window(datetime.datetime(2026, 11, 29, 12, tzinfo=UTC), False)
    variants = {f"v{i}": f"p/v{i}/" for i in range(8)}
    with pytest.raises(ValueError, match="8 variants captured data in 2026-11-29T12:00:00Z .*at most 7 capture inputs"):
        launcher.build_request(CONFIG, "j", window, variants)


# --- metrics (moto S3 and CloudWatch) --------------------------------------------------------

METRICS_ENV = {"METRICS_BUCKET": REPORTS, "METRICS_PREFIX": "churn/reports/t-churn/data-quality/",
               "JOB_PREFIX": "t-churn-drift", "ENDPOINT_NAME": "t-churn", "SCHEDULE_NAME": "t-churn-data-quality"}
METRICS_CONFIG = metrics.MetricsConfig.from_environment(METRICS_ENV)


def completed(job: str = "t-churn-drift-2026112912", status: str = "Completed") -> dict:
    return {"version": "0", "id": "e-1", "detail-type": "SageMaker Processing Job State Change",
            "source": "aws.sagemaker", "time": "2026-11-29T13:24:00Z",
            "detail": {"ProcessingJobName": job, "ProcessingJobStatus": status}}


def report(s3, document, job: str = "t-churn-drift-2026112912") -> None:
    s3.put_object(Bucket=REPORTS, Key=f"churn/reports/t-churn/data-quality/{job}/metrics.json",
                  Body=json.dumps(document).encode())


def test_metrics_of_a_completed_job_reach_cloudwatch_with_model_monitors_dimensions(s3):
    report(s3, {"Namespace": "aws/sagemaker/Endpoints/data-metrics",
                "Metrics": {"feature_baseline_drift_amount": 0.31, "feature_baseline_drift_age": 0}})
    cloudwatch = boto3.client("cloudwatch")
    result = metrics.publish(s3, cloudwatch, METRICS_CONFIG, completed())
    assert (result["outcome"], result["metrics"], result["skipped"]) == ("published", 2, [])
    dimensions = [{"Name": "Endpoint", "Value": "t-churn"}, {"Name": "MonitoringSchedule", "Value": "t-churn-data-quality"}]
    listed = cloudwatch.list_metrics(Namespace="aws/sagemaker/Endpoints/data-metrics")["Metrics"]
    assert sorted(m["MetricName"] for m in listed) == ["feature_baseline_drift_age", "feature_baseline_drift_amount"]
    assert all(sorted(m["Dimensions"], key=lambda d: d["Name"]) == dimensions for m in listed)
    stats = cloudwatch.get_metric_statistics(
        Namespace="aws/sagemaker/Endpoints/data-metrics", MetricName="feature_baseline_drift_amount",
        Dimensions=dimensions, StartTime=datetime.datetime(2026, 11, 29, 13, tzinfo=UTC),
        EndTime=datetime.datetime(2026, 11, 29, 14, tzinfo=UTC), Period=3600, Statistics=["Maximum"])
    assert [p["Maximum"] for p in stats["Datapoints"]] == [0.31]


def test_an_empty_window_publishes_nothing_and_bad_values_are_skipped(s3):
    report(s3, {"Namespace": "aws/sagemaker/Endpoints/data-metrics", "Metrics": {}})
    cloudwatch = boto3.client("cloudwatch")
    assert metrics.publish(s3, cloudwatch, METRICS_CONFIG, completed())["metrics"] == 0
    report(s3, {"Namespace": "aws/sagemaker/Endpoints/data-metrics",
                "Metrics": {"feature_baseline_drift_a": "high", "feature_baseline_drift_b": True,
                            "feature_baseline_drift_c": 0.5}}, job="t-churn-drift-2026112913")
    result = metrics.publish(s3, cloudwatch, METRICS_CONFIG, completed("t-churn-drift-2026112913"))
    assert (result["metrics"], result["skipped"]) == (1, ["feature_baseline_drift_a", "feature_baseline_drift_b"])
    listed = cloudwatch.list_metrics(Namespace="aws/sagemaker/Endpoints/data-metrics")["Metrics"]
    assert [m["MetricName"] for m in listed] == ["feature_baseline_drift_c"]


def test_non_finite_values_are_skipped():
    data, skipped = metrics.metric_data({"Namespace": metrics.NAMESPACE, "Metrics": {"x": float("nan"), "y": 1}},
                                        NOW, METRICS_CONFIG)
    assert ([d["MetricName"] for d in data], skipped) == (["y"], ["x"])


@pytest.mark.parametrize("event", [completed(status="Failed"), completed(job="other-2026112912"),
                                   completed(job="t-churn-drift2"), {"detail": "x"}, []])
def test_other_events_are_ignored_without_reading_s3(event):
    assert metrics.publish(None, None, METRICS_CONFIG, event)["outcome"].startswith("ignored")


def test_a_report_of_another_namespace_is_refused(s3):
    report(s3, {"Namespace": "AWS/Lambda", "Metrics": {"x": 1}})
    with pytest.raises(ValueError, match="metrics.json names namespace 'AWS/Lambda'; allowed: aws/sagemaker/"):
        metrics.publish(s3, boto3.client("cloudwatch"), METRICS_CONFIG, completed())


def test_a_missing_report_fails_the_invocation(s3):
    with pytest.raises(s3.exceptions.NoSuchKey):
        metrics.publish(s3, boto3.client("cloudwatch"), METRICS_CONFIG, completed())


def test_many_metrics_go_in_batches_the_api_takes():
    class Recorder:
        def __init__(self):
            self.calls = []

        def put_metric_data(self, **request):
            self.calls.append(request)

    class Reports:
        def get_object(self, **_):
            body = {"Namespace": metrics.NAMESPACE, "Metrics": {f"feature_baseline_drift_f{i}": 0.1 for i in range(1001)}}
            return {"Body": type("B", (), {"read": lambda self: json.dumps(body).encode()})()}

    cloudwatch = Recorder()
    assert metrics.publish(Reports(), cloudwatch, METRICS_CONFIG, completed())["metrics"] == 1001
    assert [len(c["MetricData"]) for c in cloudwatch.calls] == [1000, 1]


def test_metrics_environment_is_checked():
    with pytest.raises(ValueError, match="environment variables not set: JOB_PREFIX"):
        metrics.MetricsConfig.from_environment({k: v for k, v in METRICS_ENV.items() if k != "JOB_PREFIX"})
