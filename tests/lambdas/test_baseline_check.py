"""The baseline check against moto's S3: it answers CloudFormation SUCCESS only when every baseline exists."""

from __future__ import annotations

import json
from contextlib import nullcontext

import boto3
import pytest

from ml_platform.lambdas.baseline_check import handler

URL = "https://cloudformation-custom-resource-response-euwest1.s3.eu-west-1.amazonaws.com/stack?sig=x"


@pytest.fixture
def s3(mocked_aws):
    client = boto3.client("s3")
    client.create_bucket(Bucket="lake-artifacts", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    client.put_object(Bucket="lake-artifacts", Key="churn/monitoring/baselines/constraints.json", Body=b"{}")
    return client


def event(request_type: str, *objects: str) -> dict:
    return {"RequestType": request_type, "ResponseURL": URL, "StackId": "arn:aws:cloudformation:eu-west-1:1:stack/s/1",
            "RequestId": "r-1", "LogicalResourceId": "Baselines", "ResourceType": "Custom::MonitoringBaselines",
            "ResourceProperties": {"ServiceToken": "arn", "Objects": list(objects)}}


class Recorder:
    """Stands in for ``urlopen``: keeps each request CloudFormation would receive."""

    def __init__(self):
        self.requests = []

    def __call__(self, request, timeout):
        self.requests.append((request.get_method(), request.full_url, json.loads(request.data), timeout))
        return nullcontext()


EXISTS = "s3://lake-artifacts/churn/monitoring/baselines/constraints.json"
MISSING = "s3://lake-artifacts/churn/monitoring/baselines/statistics.json"


def test_existing_baselines_answer_success_at_the_response_url(s3):
    sent = Recorder()
    assert handler.on_event(event("Create", EXISTS), None, s3=s3, urlopen=sent) == "SUCCESS"
    [(method, url, body, timeout)] = sent.requests
    assert (method, url, timeout) == ("PUT", URL, 30)
    assert body == {"Status": "SUCCESS", "Reason": "every baseline exists", "PhysicalResourceId": "Baselines",
                    "StackId": "arn:aws:cloudformation:eu-west-1:1:stack/s/1", "RequestId": "r-1",
                    "LogicalResourceId": "Baselines"}


def test_a_missing_baseline_fails_the_deploy_and_names_it(s3):
    sent = Recorder()
    assert handler.on_event(event("Update", EXISTS, MISSING), None, s3=s3, urlopen=sent) == "FAILED"
    reason = sent.requests[0][2]["Reason"]
    assert reason == (f"Model Monitor baselines do not exist yet: {MISSING}; create them, then deploy again "
                      "(docs/monitoring.md)")


def test_a_missing_bucket_or_other_error_fails_with_the_error_instead_of_hanging(s3):
    sent = Recorder()
    assert handler.on_event(event("Create", "s3://no-such-bucket/x.json"), None, s3=s3, urlopen=sent) == "FAILED"
    assert sent.requests[0][2]["Reason"].startswith("NoSuchBucket: An error occurred (NoSuchBucket)")


def test_delete_always_succeeds_and_keeps_the_physical_id(s3):
    sent = Recorder()
    request = {**event("Delete", MISSING), "PhysicalResourceId": "Baselines-1"}
    assert handler.on_event(request, None, s3=s3, urlopen=sent) == "SUCCESS"
    assert sent.requests[0][2]["PhysicalResourceId"] == "Baselines-1"


# --- the served version's registered baselines ---------------------------------------------------

PACKAGE = "arn:aws:sagemaker:eu-west-1:111111111111:model-package/t-churn/7"
REGISTERED = "s3://lake-artifacts/churn/pipeline/runs/exec-1/baselines/statistics.json"
TARGET = "s3://lake-artifacts/churn/monitoring/baselines/statistics.json"


class Registry:
    """Stands in for the SageMaker client: DescribeModelPackage of one version."""

    def __init__(self, baselines: dict):
        self.baselines, self.asked = baselines, []

    def describe_model_package(self, ModelPackageName):  # noqa: N803 (boto3's parameter name)
        self.asked.append(ModelPackageName)
        return {"ModelPackageArn": ModelPackageName, "DriftCheckBaselines": self.baselines}


def copy_event(*objects: str) -> dict:
    built = event("Update", *objects)
    built["ResourceProperties"] |= {"ModelPackageArn": PACKAGE, "Copies": {"ModelDataQuality.Statistics": TARGET}}
    return built


def test_the_served_versions_baselines_are_copied_before_the_check(s3):
    s3.put_object(Bucket="lake-artifacts", Key=REGISTERED.split("/", 3)[3], Body=b'{"version": 0.0}')
    registry = Registry({"ModelDataQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": REGISTERED}}})
    sent = Recorder()
    assert handler.on_event(copy_event(TARGET, EXISTS), None, s3=s3, urlopen=sent, sagemaker=registry) == "SUCCESS"
    assert registry.asked == [PACKAGE]
    copied = s3.get_object(Bucket="lake-artifacts", Key=TARGET.split("/", 3)[3])["Body"].read()
    assert copied == b'{"version": 0.0}'


def test_a_version_without_the_baseline_fails_naming_what_it_lacks(s3):
    sent = Recorder()
    assert handler.on_event(copy_event(TARGET), None, s3=s3, urlopen=sent, sagemaker=Registry({})) == "FAILED"
    reason = sent.requests[0][2]["Reason"]
    assert reason.startswith(f"{PACKAGE} registered no ModelDataQuality.Statistics baseline; "
                             f"Model Monitor baselines do not exist yet: {TARGET}")


def test_a_registered_baseline_does_not_excuse_another_missing_object(s3):
    s3.put_object(Bucket="lake-artifacts", Key=REGISTERED.split("/", 3)[3], Body=b"{}")
    registry = Registry({"ModelDataQuality": {"Statistics": {"S3Uri": REGISTERED}}})
    sent = Recorder()
    assert handler.on_event(copy_event(TARGET, MISSING.replace("statistics", "bias")), None, s3=s3, urlopen=sent,
                            sagemaker=registry) == "FAILED"
