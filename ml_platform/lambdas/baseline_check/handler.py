"""Lambda entry point (``handler.on_event``) of ``Custom::MonitoringBaselines``, invoked by CloudFormation.

On create and update it checks that every object in ``Objects`` (``s3://bucket/key``) exists and
answers FAILED, naming the missing ones, if any does not; on delete it answers SUCCESS. The
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


def verdict(event: Mapping[str, Any], s3: Any) -> tuple[str, str]:
    """``(status, reason)`` of the check ``event`` asks for."""
    if event["RequestType"] == "Delete":
        return "SUCCESS", "nothing to check on delete"
    missing = missing_objects(event["ResourceProperties"]["Objects"], s3)
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
             urlopen: Callable[..., AbstractContextManager[object]] = urllib.request.urlopen) -> str:
    try:
        status, reason = verdict(event, s3 or boto3.client("s3"))
    except Exception as error:  # answer rather than leave the stack waiting for an hour
        status, reason = "FAILED", f"{type(error).__name__}: {error}"
    body = json.dumps(response(event, status, reason)).encode()
    request = urllib.request.Request(event["ResponseURL"], data=body, method="PUT",
                                     headers={"Content-Type": "", "Content-Length": str(len(body))})
    with urlopen(request, timeout=30):
        pass
    return status
