"""Construct IDs made from configuration keys."""

from __future__ import annotations

import re


def pascal_case(key: str) -> str:
    """``churn-nightly``, ``data_quality`` or ``churn.inference`` as ``ChurnNightly``, ``DataQuality``,
    ``ChurnInference``: a construct ID that reads like the key."""
    return "".join(part.title() for part in re.split(r"[-_.]", key))
