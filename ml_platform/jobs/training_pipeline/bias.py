"""Processing step "Bias": SageMaker Clarify's pre-training bias metrics of the train split, and a gate.

Runs in the SageMaker scikit-learn image (pandas) on the Prepare step's train split (label first,
no header)::

    python3 bias.py --config JSON [--dataset DIR] [--output DIR] [--schema DIR]

``--config`` (what :class:`~ml_platform.constructs.training.training_pipeline.BiasCheck` emits)::

    {"label": "churned", "positive_label_values": [1],
     "facets": [{"column": "segment", "values": ["basic"]}, {"column": "age", "threshold": 60}],
     "metrics": {"CI": 0.3, "DPL": 0.2}}

Column names: the feature step's ``schema.json`` under ``--schema`` (its ``columns``; a facet on a
one-hot feature ``f`` is a member when any of its ``f=<value>`` columns is 1, a facet on an
ordinal feature is given by category and matched on its code); without it the features are
``_c0``, ``_c1``, ... (the names Model Monitor gives headerless CSV columns). A facet's
``values`` are the sensitive group d (equal as numbers when both sides are numbers, else as
text); ``threshold`` makes d the rows whose value is greater than it. Every other row is facet a.

Why computed here and not by the Clarify processing container: Clarify's analysis configuration
needs the dataset's headers when the pipeline is defined, which the platform knows only at run
time (one-hot columns of undeclared categories, ``input`` data without names); Clarify writes no
pass/fail result, so a gate would still need this step's JSON; and SageMaker Clarify is closed to
new customers (AWS, "Class Imbalance (CI)" page), as Model Monitor is. The formulas are Clarify's
("Pre-training Bias Metrics" pages), on the binary label distribution (positive or not), with
``n_a``, ``n_d`` the facet sizes and ``q_a``, ``q_d`` their shares of positive labels:

* CI = (n_a - n_d) / (n_a + n_d); DPL = q_a - q_d
* KL = sum_y P_a(y) ln(P_a(y) / P_d(y)); JS = (KL(P_a, P) + KL(P_d, P)) / 2 with P = (P_a + P_d) / 2
* LP = sqrt(sum_y (P_a(y) - P_d(y))^2); TVD = sum_y |P_a(y) - P_d(y)| / 2; KS = max_y |P_a(y) - P_d(y)|

Writes ``<output>/analysis.json`` in Clarify's analysis format (``pre_training_bias_metrics``:
``label``, ``label_value_or_threshold``, ``facets`` -> column -> ``[{value_or_threshold, metrics:
[{name, description, value}]}]``) and ``<output>/gate.json``: ``{"violations": N, "message":
"..."}``, the property file the pipeline's CheckBias condition reads. A configured metric whose
absolute value exceeds its threshold, or that is undefined (a facet without rows: ``null`` in the
report), is a violation. The step itself exits 0: the pipeline's Fail step reports violations.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

DATASET = Path("/opt/ml/processing/train")
OUTPUT = Path("/opt/ml/processing/bias")
SCHEMA = Path("/opt/ml/processing/schema")

#: Clarify's pre-training metrics this step computes, with their description and the largest
#: absolute value each can take (a threshold above it could never be exceeded).
METRICS: dict[str, tuple[str, float]] = {
    "CI": ("Class Imbalance (CI)", 1.0),
    "DPL": ("Difference in Positive Proportions in Labels (DPL)", 1.0),
    "KL": ("Kullback-Liebler Divergence (KL)", math.inf),
    "JS": ("Jensen-Shannon Divergence (JS)", math.log(2)),
    "LP": ("L-p Norm (LP)", math.sqrt(2)),
    "TVD": ("Total Variation Distance (TVD)", 1.0),
    "KS": ("Kolmogorov-Smirnov Distance (KS)", 1.0),
}


# -- metrics ------------------------------------------------------------------------------------------

def _kl(p: Sequence[float], q: Sequence[float]) -> float | None:
    total = 0.0
    for pi, qi in zip(p, q):
        if pi == 0:
            continue
        if qi == 0:
            return None  # infinite: P_a has a label value P_d never has
        total += pi * math.log(pi / qi)
    return total


def metrics(n_a: int, n_d: int, positive_a: int, positive_d: int) -> dict[str, float | None]:
    """Every metric of :data:`METRICS` from the facet sizes and their positive counts (None where
    undefined: a facet without rows, or KL with a label value only facet a has)."""
    ci = (n_a - n_d) / (n_a + n_d) if n_a + n_d else None
    if not n_a or not n_d:
        return {"CI": ci, **{name: None for name in METRICS if name != "CI"}}
    q_a, q_d = positive_a / n_a, positive_d / n_d
    p_a, p_d = (q_a, 1 - q_a), (q_d, 1 - q_d)
    mean = tuple((a + d) / 2 for a, d in zip(p_a, p_d))
    left, right = _kl(p_a, mean), _kl(p_d, mean)
    gaps = [abs(a - d) for a, d in zip(p_a, p_d)]
    return {
        "CI": ci,
        "DPL": q_a - q_d,
        "KL": _kl(p_a, p_d),
        "JS": (left + right) / 2 if left is not None and right is not None else None,
        "LP": math.sqrt(sum(g * g for g in gaps)),
        "TVD": sum(gaps) / 2,
        "KS": max(gaps),
    }


# -- reading ------------------------------------------------------------------------------------------

def _number(text: Any) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _matches(value: Any, wanted: Sequence[Any]) -> bool:
    """``value`` equals one of ``wanted``: as numbers when both are numbers, else as text."""
    number = _number(value)
    for item in wanted:
        other = _number(item)
        if number is not None and other is not None:
            if number == other:
                return True
        elif str(value) == str(item):
            return True
    return False


def column_names(width: int, schema: Mapping[str, Any] | None, label: str) -> list[str]:
    """The label, then the feature names (``schema.json``'s columns, else ``_c0``, ``_c1``, ...).

    :raises ValueError: when the schema's columns do not fit the data's width.
    """
    if schema is None:
        return [label, *(f"_c{i}" for i in range(width - 1))]
    columns = [str(c) for c in schema.get("columns", [])]
    if len(columns) != width - 1:
        raise ValueError(f"schema.json names {len(columns)} feature columns, the data has {width - 1}")
    return [label, *columns]


def read_rows(dataset: Path) -> list[list[str]]:
    """The rows of every ``*.csv`` under ``dataset`` (no header), in path order."""
    import csv

    rows: list[list[str]] = []
    for path in sorted(dataset.rglob("*.csv")):
        with path.open(newline="") as handle:
            rows += [row for row in csv.reader(handle) if row]
    if not rows:
        raise ValueError(f"no CSV rows under {dataset}")
    return rows


def membership(frame: Any, facet: Mapping[str, Any], schema: Mapping[str, Any] | None) -> list[bool]:
    """Per row, whether it belongs to the facet's sensitive group d.

    :raises ValueError: naming the facet when the data has no such column (nor its one-hot columns),
        or when a value is not a category of an encoded feature.
    """
    column = facet["column"]
    encodings = (schema or {}).get("encodings", {})
    values: list[Any] = list(facet.get("values") or [])
    if column in frame.columns:
        series = frame[column]
        if "threshold" in facet:
            limit = float(facet["threshold"])
            return [(n := _number(v)) is not None and n > limit for v in series]
        if column in encodings:  # ordinal: values are categories, the data holds their codes
            categories = [str(c) for c in encodings[column]]
            unknown = [v for v in values if str(v) not in categories]
            if unknown:
                raise ValueError(f"facet {column!r}: values {unknown} are not categories of the feature "
                                 f"({', '.join(categories)})")
            values = [categories.index(str(v)) for v in values]
        return [_matches(v, values) for v in series]
    one_hot = [c for c in frame.columns if c.startswith(f"{column}=")]
    if one_hot and values:
        wanted = [f"{column}={v}" for v in values]
        unknown = [w for w in wanted if w not in one_hot]
        if unknown:
            raise ValueError(f"facet {column!r}: no one-hot columns {', '.join(unknown)} ({', '.join(one_hot)})")
        return [any(_number(frame.at[i, w]) == 1 for w in wanted) for i in frame.index]
    raise ValueError(f"facet {column!r} is not a column of the training set ({', '.join(frame.columns[1:])})")


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


# -- the step -----------------------------------------------------------------------------------------

def analyze(rows: list[list[str]], config: Mapping[str, Any], schema: Mapping[str, Any] | None = None
            ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Clarify's ``analysis.json`` document and the gate document for ``rows`` (label first)."""
    import pandas as pd

    label = config["label"]
    names = column_names(len(rows[0]), schema, label)
    frame = pd.DataFrame(rows, columns=names, dtype=str)
    positive = [_matches(v, config["positive_label_values"]) for v in frame[label]]
    thresholds = dict(config["metrics"])
    facets: dict[str, list[dict[str, Any]]] = {}
    violations: list[str] = []
    for facet in config["facets"]:
        member = membership(frame, facet, schema)
        n_d = sum(member)
        n_a = len(member) - n_d
        positive_d = sum(p for p, m in zip(positive, member) if m)
        positive_a = sum(p for p, m in zip(positive, member) if not m)
        values = metrics(n_a, n_d, positive_a, positive_d)
        group = str(facet["threshold"]) if "threshold" in facet else ",".join(str(v) for v in facet["values"])
        facets.setdefault(facet["column"], []).append({"value_or_threshold": group, "metrics": [
            {"name": name, "description": METRICS[name][0], "value": _rounded(values[name])} for name in METRICS]})
        for name, limit in thresholds.items():
            value = values[name]
            if value is None:
                violations.append(f"{name} of {facet['column']}={group} is undefined (n_a={n_a}, n_d={n_d})")
            elif abs(value) > limit:
                violations.append(f"|{name}| of {facet['column']}={group} is {abs(value):.4f} > {limit:g}")
    analysis = {"version": "1.0", "pre_training_bias_metrics": {
        "label": label,
        "label_value_or_threshold": ",".join(str(v) for v in config["positive_label_values"]),
        "facets": facets}}
    message = "; ".join(violations) if violations else "every configured pre-training bias metric is within its threshold"
    return analysis, {"violations": len(violations), "message": message}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--config", required=True, help="the check as JSON (see the module)")
    parser.add_argument("--dataset", type=Path, default=DATASET)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--schema", type=Path, default=None, help="a folder with the feature step's schema.json")
    args = parser.parse_args(argv)
    config = json.loads(args.config)
    schema = None
    if args.schema is not None:
        found = sorted(args.schema.rglob("schema.json"))
        schema = json.loads(found[0].read_text()) if found else None
    analysis, gate = analyze(read_rows(args.dataset), config, schema)
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "analysis.json").write_text(json.dumps(analysis, indent=2) + "\n")
    (args.output / "gate.json").write_text(json.dumps(gate) + "\n")
    print(f"bias: {gate['violations']} violation(s): {gate['message']}")
    return gate


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
