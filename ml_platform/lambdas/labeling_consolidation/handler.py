"""Lambda entry point (``handler.on_event``) Ground Truth calls after workers answered a batch of objects.

Request (Ground Truth's documented contract)::

    {"version": "2018-10-16", "labelingJobArn": "arn:...:labeling-job/<name>",
     "labelCategories": [...], "labelAttributeName": "<attribute>", "roleArn": "...",
     "payload": {"s3Uri": "s3://<output>/.../consolidation-request"}, "outputConfig": "s3://..."}

The payload object is a JSON list of ``{"datasetObjectId", "dataObject", "annotations": [{"workerId",
"annotationData": {"content": "<JSON string>"}}]}``; each answer's content is the task form,
``{"category": {"label": "<label>"}}``. The response is a list of
``{"datasetObjectId", "consolidatedAnnotation": {"content": {<attribute>: {"label": ...},
<attribute>-metadata: {...}}}}``: the label most workers chose (ties go to the label listed
first in ``labelCategories``) and the share of workers who chose it as ``confidence``. An object
nobody answered is left out, which Ground Truth records as a failed object.
"""

import datetime
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import boto3


def read_payload(uri: str, s3: Any) -> Any:
    """The JSON document at ``s3://bucket/key``."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def answer(annotation: Any) -> str | None:
    """The label of one worker's answer, or None if the answer has none."""
    try:
        content = json.loads(annotation["annotationData"]["content"])
        label = content["category"]["label"]
    except (KeyError, TypeError, ValueError):
        return None
    return label if isinstance(label, str) and label else None


def majority(labels: Sequence[str], categories: Sequence[str]) -> tuple[str, float]:
    """``(label, confidence)`` of the most chosen of ``labels``; ties go to the earlier category."""
    counts = Counter(labels)
    order = {c: i for i, c in enumerate(categories)}
    winner = min(counts, key=lambda label: (-counts[label], order.get(label, len(order)), label))
    return winner, round(counts[winner] / len(labels), 2)


def consolidate(event: Mapping[str, Any], objects: Iterable[Mapping[str, Any]], now: str) -> list[dict[str, Any]]:
    """Ground Truth's response for the answered ``objects`` of ``event``."""
    attribute = event["labelAttributeName"]
    job = event["labelingJobArn"].rsplit("/", 1)[-1]
    categories = event.get("labelCategories") or []
    result: list[dict[str, Any]] = []
    for item in objects:
        labels = [label for label in map(answer, item.get("annotations") or []) if label is not None]
        if not labels:
            continue
        label, confidence = majority(labels, categories)
        result.append({"datasetObjectId": item["datasetObjectId"], "consolidatedAnnotation": {"content": {
            attribute: {"label": label},
            f"{attribute}-metadata": {
                "class-name": label, "confidence": confidence, "workers": len(labels), "job-name": job,
                "type": "groundtruth/custom", "human-annotated": "yes", "creation-date": now,
            },
        }}})
    return result


def on_event(event: Mapping[str, Any], context: object, s3: Any = None) -> list[dict[str, Any]]:
    objects = read_payload(event["payload"]["s3Uri"], s3 or boto3.client("s3"))
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")
    return consolidate(event, objects, now)
