"""The lifecycle stage of each of the platform's stacks, shared by the report and the architecture picture."""

from __future__ import annotations

#: Lifecycle stages in report order.
STAGES = ("lake", "catalog/preparation", "training", "serving", "monitoring", "labeling", "workbench",
          "governance", "network", "alerting", "other")
#: Stage of a stack, by the words in its short name (first match wins; partitions such as
#: ``DataCatalog2`` and ``TrainingPipelines2`` included).
STACK_STAGES = (("lake", "lake"), ("catalog", "catalog/preparation"), ("prep", "catalog/preparation"),
                ("quality", "catalog/preparation"),
                ("train", "training"), ("serv", "serving"), ("monitor", "monitoring"), ("label", "labeling"),
                ("workbench", "workbench"), ("govern", "governance"), ("network", "network"), ("alert", "alerting"))


def stack_stage(short_name: str) -> str:
    """The stage of the stack ``short_name`` (e.g. ``DataCatalog2``), ``other`` when no word names one."""
    lower = short_name.lower()
    return next((stage for word, stage in STACK_STAGES if word in lower), "other")
