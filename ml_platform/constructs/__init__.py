"""Reusable constructs of the ML platform, one module per unit."""

from ml_platform.constructs.data_lake import DataLake, Zone, dataset_prefix, partition_prefix
from ml_platform.constructs.lake_lifecycle import LifecyclePolicy, Transition
from ml_platform.constructs.removal import REMOVE_DATA_ON_DESTROY_CONTEXT, data_removal_policy

__all__ = [
    "REMOVE_DATA_ON_DESTROY_CONTEXT",
    "DataLake",
    "LifecyclePolicy",
    "Transition",
    "Zone",
    "data_removal_policy",
    "dataset_prefix",
    "partition_prefix",
]
