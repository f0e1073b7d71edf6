"""The data lake: zones, lifecycle, grants, the hand-off locations and Athena over it."""

from __future__ import annotations

from ml_platform.constructs.lake.athena_workgroup import AthenaSettings, AthenaWorkgroup
from ml_platform.constructs.lake.data_lake import DataLake, dataset_prefix, partition_prefix
from ml_platform.constructs.lake.lake_access import ExistingLake, ILake, Zone
from ml_platform.constructs.lake.lake_lifecycle import LifecyclePolicy, Transition
from ml_platform.constructs.lake.lake_locations import DAILY, HOURLY, LakeDataset

__all__ = [
    "ExistingLake",
    "ILake",
    "AthenaSettings",
    "AthenaWorkgroup",
    "DAILY",
    "DataLake",
    "HOURLY",
    "LakeDataset",
    "LifecyclePolicy",
    "Transition",
    "Zone",
    "dataset_prefix",
    "partition_prefix",
]
