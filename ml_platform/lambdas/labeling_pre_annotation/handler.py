"""Lambda entry point (``handler.on_event``) Ground Truth calls once per data object, before workers see it.

Request (Ground Truth's documented contract)::

    {"version": "2018-10-16", "labelingJobArn": "...", "dataObject": {"source-ref": "s3://.../img.jpg"}}

Response: ``{"taskInput": {...}, "isHumanAnnotationRequired": "true"}``; ``taskInput`` is what the
task template reads as ``task.input``: the image (``taskObject``), the ``labels`` to choose from
and the ``title``, both from the function's environment (``LABELS`` as a JSON list, ``TITLE``).
"""

import json
import os
from collections.abc import Iterable, Mapping
from typing import Any


def task_input(event: Mapping[str, Any], labels: Iterable[str], title: str) -> dict[str, Any]:
    """The task input for the manifest line in ``event``; a ``ValueError`` names what is missing."""
    data = event.get("dataObject") or {}
    source = data.get("source-ref")
    if not isinstance(source, str) or not source.startswith("s3://"):
        raise ValueError(f"dataObject needs an s3:// source-ref (an image), got {json.dumps(data)[:200]}")
    return {"taskObject": source, "labels": list(labels), "title": title}


def on_event(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    labels = json.loads(os.environ["LABELS"])
    return {"taskInput": task_input(event, labels, os.environ["TITLE"]), "isHumanAnnotationRequired": "true"}
