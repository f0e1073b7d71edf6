"""How an environment's units are spread over stacks so that no template nears CloudFormation's quotas.

A *unit* is what one config key creates: a Glue dataset (``data_catalog.datasets``), a DataBrew
dataset (``data_catalog.databrew``), an endpoint (``serving.endpoints``), a batch transform
(``serving.batch``), a monitored endpoint (``monitoring.endpoints``), a training pipeline
(``training.pipelines``) or a Glue dataset's rule recommendations (``quality.recommendations``
of ``data_catalog.datasets``). The rule, for each kind:

* units are placed in **config order** into groups of at most :data:`GROUP_SIZES` ``[kind]``;
  group 1 holds the first N, group 2 the next N, and so on;
* group *i* of every kind that shares a stack family (Glue and DataBrew datasets: ``DataCatalog``;
  endpoints and batch transforms: ``Serving``; monitored endpoints: ``Monitoring``; pipelines:
  ``TrainingPipelines``; recommendations: ``DataQuality``) goes to stack *i* of that family; stack
  1 is today's stack (same construct id and name: :data:`FIRST_STACKS`, ``Training`` for the
  pipelines), stack *i* > 1 is ``<Family><i>`` (``mlp-prod-DataCatalog2``,
  ``mlp-prod-TrainingPipelines2``);
* so **appending** a unit never moves an existing one: it joins the last group, or opens the next
  stack. Removing or reordering units moves the ones after them (a replacement of their resources:
  append instead, and see docs/partitioning.md).

The sizes were measured (docs/partitioning.md) so that a full stack stays under
:data:`QUOTA_SHARE` of each CloudFormation quota (500 resources, 1 MB template, 200 outputs,
200 parameters), counting the shared resources the first stack of a family also holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TypeVar

K = TypeVar("K")

#: Share of each CloudFormation quota that a full stack may use at most.
QUOTA_SHARE = 0.8

#: Units per stack, by kind (the config key they come from).
GROUP_SIZES: Mapping[str, int] = {
    # DataCatalog: Glue dataset 20 resources / 33 KB, DataBrew dataset 14 / 25 KB, the first
    # stack's shared resources 25 / 40 KB: 15 x 20 + 4 x 14 + 25 = 381 resources, ~640 KB.
    "datasets": 15,
    "databrew": 4,
    # Serving: endpoint 10 resources / 16 KB (real-time), 16 / 25 KB (async, the largest),
    # batch transform 4 / 6 KB: 20 x 16 + 10 x 4 + 3 = 363 resources, ~560 KB at worst.
    "endpoints": 20,
    "batch": 10,
    # Monitoring: every monitor type plus a feedback loop, 30 resources / 72 KB with the
    # stack's share (its functions' log and network grants included): 10 x 30 + 10 = 310
    # resources, ~730 KB (12 made 877 KB, 84% of the limit).
    "monitoring": 10,
    # Training: a pipeline with its model's promotion is ~39 KB of template (definition inlined,
    # baselines step included) and ~14 resources; the first stack also holds the roles, whose
    # managed policies grow with every pipeline and endpoint of the environment (~640 KB at 20
    # pipelines and 50 endpoints): 4 x 39 + 640 = ~800 KB (76%; 5 made 832 KB, 79%).
    "pipelines": 4,
    # DataQuality: a dataset's recommendations (run role with its managed policy, schedule) 3
    # resources / ~7.2 KB (its share of the workflow role's policies included), the stack's shared
    # resources (logs key, dead-letter queue with its policy and alarm, the workflow: state
    # machine, log group, failure rule, role and scheduler role with their policies) ~11 / ~18 KB,
    # plus a policy of the workflow role per ~14 datasets: 100 made 318 resources (64%),
    # 743,641 bytes (71%), 7 of the workflow role's 10 managed policies; the bytes set the size
    # (113 would reach 80%).
    "recommendations": 100,
}

#: The stack family each kind is placed in.
FAMILIES: Mapping[str, str] = {
    "datasets": "DataCatalog", "databrew": "DataCatalog",
    "endpoints": "Serving", "batch": "Serving", "monitoring": "Monitoring",
    "pipelines": "TrainingPipelines", "recommendations": "DataQuality",
}

#: The construct id of a family's first stack where it is not the family's name.
FIRST_STACKS: Mapping[str, str] = {"TrainingPipelines": "Training"}


def groups(units: Iterable[K], size: int) -> list[list[K]]:
    """``units`` in order, in consecutive groups of at most ``size`` (the last may be smaller)."""
    if size < 1:
        raise ValueError(f"size: must be at least 1 (got {size})")
    ordered = list(units)
    return [ordered[start:start + size] for start in range(0, len(ordered), size)]


def partition(units: Mapping[str, Sequence[K]], sizes: Mapping[str, int] = GROUP_SIZES) -> list[dict[str, list[K]]]:
    """Stack *i*'s units by kind, for the kinds of one family: ``units`` maps a kind to its units in
    config order. At least one stack, even without units (the first stack always exists)."""
    by_kind = {kind: groups(members, sizes[kind]) for kind, members in units.items()}
    count = max([1, *(len(g) for g in by_kind.values())])
    return [{kind: (g[index] if index < len(g) else []) for kind, g in by_kind.items()} for index in range(count)]


def stack_id(family: str, index: int) -> str:
    """Construct id (and stack name suffix) of stack ``index`` (0-based) of ``family``:
    ``DataCatalog``, ``DataCatalog2``, ...; ``Training``, ``TrainingPipelines2``, ... (:data:`FIRST_STACKS`)."""
    return FIRST_STACKS.get(family, family) if index == 0 else f"{family}{index + 1}"
