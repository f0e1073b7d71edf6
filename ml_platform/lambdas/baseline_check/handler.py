"""Lambda entry point (``handler.on_event``) of ``Custom::MonitoringBaselines``, invoked by CloudFormation.

On create and update it first copies, when ``ModelPackageArn`` is given, each baseline the model
package version registered (``DriftCheckBaselines``, e.g. ``ModelDataQuality.Statistics``) to
the object ``Copies`` names for it (``{"ModelDataQuality.Statistics": "s3://bucket/key"}``), so
that the monitors read the baselines of the version the endpoint serves; then it checks that
every object in ``Objects`` (``s3://bucket/key``) exists and answers FAILED, naming the missing
ones, if any does not; on delete it answers SUCCESS. The
answer goes to CloudFormation's pre-signed ``ResponseURL`` (through the VPC's S3 gateway
endpoint). Only the Lambda runtime's boto3 and the standard library are used.
"""

import json
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from typing import Any

import boto3
from botocore.exceptions import ClientError

NOT_FOUND = {"404", "NoSuchKey", "NotFound"}


def missing_objects(uris: Iterable[str], s3: Any) -> list[str]:
    """The URIs among ``uris`` whose object does not exist; other S3 errors are raised."""
    missing: list[str] = []
    for uri in uris:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        try:
            s3.head_object(Bucket=bucket, Key=key)
        except ClientError as error:
            if error.response["Error"]["Code"] not in NOT_FOUND:
                raise
            missing.append(uri)
    return missing


def _split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def copy_registered_baselines(package_arn: str, copies: Mapping[str, str], sagemaker: Any, s3: Any) -> list[str]:
    """Copy each of ``copies`` (``DriftCheckBaselines`` path to target URI) that the package version
    registered; the paths it did not register, as ``<path>`` lines for the answer."""
    baselines = sagemaker.describe_model_package(ModelPackageName=package_arn).get("DriftCheckBaselines", {})
    absent: list[str] = []
    for path, target in sorted(copies.items()):
        found: Any = baselines
        for part in path.split("."):
            found = found.get(part, {}) if isinstance(found, Mapping) else {}
        source = found.get("S3Uri") if isinstance(found, Mapping) else None
        if not source:
            absent.append(path)
            continue
        bucket, key = _split(source)
        target_bucket, target_key = _split(target)
        # the lake bucket's default encryption (the lake key) applies to the copy
        s3.copy_object(CopySource={"Bucket": bucket, "Key": key}, Bucket=target_bucket, Key=target_key)
    return absent


def verdict(event: Mapping[str, Any], s3: Any, sagemaker: Any = None) -> tuple[str, str]:
    """``(status, reason)`` of the check ``event`` asks for."""
    if event["RequestType"] == "Delete":
        return "SUCCESS", "nothing to check on delete"
    properties = event["ResourceProperties"]
    absent: list[str] = []
    if properties.get("ModelPackageArn"):
        absent = copy_registered_baselines(properties["ModelPackageArn"], properties.get("Copies", {}),
                                           sagemaker or boto3.client("sagemaker"), s3)
    missing = missing_objects(properties["Objects"], s3)
    if missing and absent:
        return "FAILED", (f"{properties['ModelPackageArn']} registered no {', '.join(absent)} baseline; "
                          "Model Monitor baselines do not exist yet: " + ", ".join(missing)
                          + "; register a version trained by the platform's pipeline or create them, then deploy again "
                          "(docs/monitoring.md)")
    if missing:
        return "FAILED", ("Model Monitor baselines do not exist yet: " + ", ".join(missing)
                          + "; create them, then deploy again (docs/monitoring.md)")
    return "SUCCESS", "every baseline exists"


def response(event: Mapping[str, Any], status: str, reason: str) -> dict[str, str]:
    """The JSON body CloudFormation expects at ``ResponseURL``."""
    return {
        "Status": status,
        "Reason": reason[:3000],
        "PhysicalResourceId": event.get("PhysicalResourceId") or event["LogicalResourceId"],
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
    }


def on_event(event: Mapping[str, Any], context: object, s3: Any = None,
             urlopen: Callable[..., AbstractContextManager[object]] = urllib.request.urlopen,
             sagemaker: Any = None) -> str:
    try:
        status, reason = verdict(event, s3 or boto3.client("s3"), sagemaker)
    except Exception as error:  # answer rather than leave the stack waiting for an hour
        status, reason = "FAILED", f"{type(error).__name__}: {error}"
    body = json.dumps(response(event, status, reason)).encode()
    request = urllib.request.Request(event["ResponseURL"], data=body, method="PUT",
                                     headers={"Content-Type": "", "Content-Length": str(len(body))})
    with urlopen(request, timeout=30):
        pass
    return status
