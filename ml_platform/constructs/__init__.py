"""Reusable constructs of the ML platform, one subpackage per lifecycle stage.

``core`` (validation, naming, compliance, alerting, removal), ``lake`` (the data lake and its
hand-off locations), ``preparation`` (Glue, Data Quality, DataBrew, feature sets), ``training``
(network, roles, registry, pipelines), ``serving`` (models, endpoints, batch transform),
``monitoring`` (Model Monitor, feedback loop, retrain gate) and ``labeling`` (Ground Truth). Each
exports its constructs and settings types; the data lake's are also exported here.
"""

from ml_platform.constructs.core.removal import REMOVE_DATA_ON_DESTROY_CONTEXT, data_removal_policy
from ml_platform.constructs.lake.data_lake import DataLake, dataset_prefix, partition_prefix
from ml_platform.constructs.lake.lake_access import Zone
from ml_platform.constructs.lake.lake_lifecycle import LifecyclePolicy, Transition

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
