"""Construct IDs made from configuration keys, and names AWS derives from ours."""

from __future__ import annotations

import re

from aws_cdk import Stack
from constructs import IConstruct


def pascal_case(key: str) -> str:
    """``churn-nightly``, ``data_quality`` or ``churn.inference`` as ``ChurnNightly``, ``DataQuality``,
    ``ChurnInference``: a construct ID that reads like the key."""
    return "".join(part.title() for part in re.split(r"[-_.]", key))


def sagemaker_pipeline_arn(scope: IConstruct, pipeline_name: str) -> str:
    """The ARN of SageMaker pipeline ``pipeline_name`` in ``scope``'s stack: SageMaker writes the
    name in lower case in pipeline ARNs (as events and IAM see them)."""
    return Stack.of(scope).format_arn(service="sagemaker", resource="pipeline", resource_name=pipeline_name.lower())
