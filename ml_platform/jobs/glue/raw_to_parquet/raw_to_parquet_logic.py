"""Plain-Python logic of the raw-to-Parquet Glue job: no Spark or Glue imports, tested locally.

The job script ships this module next to it (``--extra-py-files``) and imports it by name.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

#: Hive partition keys of the lake layout <dataset>/year=YYYY/month=MM/day=DD/.
PARTITION_KEYS = ("year", "month", "day")
#: Spark SQL types a column may be cast to.
SIMPLE_TYPES = frozenset(
    {"string", "int", "bigint", "smallint", "tinyint", "double", "float", "boolean", "date", "timestamp"}
)
_DECIMAL = re.compile(r"^decimal\((\d{1,2}),(\d{1,2})\)$")
_COLUMN_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,127}$")
QUALITY_ACTIONS = ("fail", "log")


def column_type_problem(column_type: str) -> str | None:
    """Why ``column_type`` is not a supported Spark SQL type, or None."""
    if column_type in SIMPLE_TYPES:
        return None
    decimal = _DECIMAL.match(column_type)
    if decimal and 1 <= int(decimal.group(1)) <= 38 and int(decimal.group(2)) <= int(decimal.group(1)):
        return None
    return (
        f"type {column_type!r} is not supported; use one of {', '.join(sorted(SIMPLE_TYPES))} "
        "or decimal(p,s) with 1 <= p <= 38 and s <= p"
    )


def column_name_problem(name: str) -> str | None:
    """Why ``name`` is not a usable column name, or None."""
    if not _COLUMN_NAME.match(name):
        return f"column name {name!r} is invalid; use lower-case letters, digits and '_', not starting with a digit"
    if name in PARTITION_KEYS:
        return f"column name {name!r} is a partition key of the lake layout; it is added by the job"
    return None


def parse_columns(text: str) -> list[tuple[str, str]]:
    """The ``--columns`` job argument: a JSON list of ``[name, type]`` pairs, in output order.

    :raises ValueError: if the JSON is malformed, empty, or names a bad column or type.
    """
    try:
        pairs = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"--columns is not JSON: {error}") from None
    if not isinstance(pairs, list) or not pairs:
        raise ValueError("--columns must be a non-empty JSON list of [name, type] pairs")
    columns: list[tuple[str, str]] = []
    for pair in pairs:
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)):
            raise ValueError(f"--columns entry {pair!r} is not a [name, type] pair")
        problem = column_name_problem(pair[0]) or column_type_problem(pair[1])
        if problem:
            raise ValueError(f"--columns: {problem}")
        columns.append((pair[0], pair[1]))
    names = [name for name, _ in columns]
    if len(set(names)) != len(names):
        raise ValueError(f"--columns names a column twice: {names}")
    return columns


def select_expressions(columns: list[tuple[str, str]]) -> list[str]:
    """Spark SQL ``selectExpr`` arguments: each column cast to its type, then the partition keys.

    A value that cannot be cast becomes NULL (Spark's non-ANSI cast); Data Quality rules such as
    ``IsComplete`` catch that.
    """
    casts = [f"CAST(`{name}` AS {column_type}) AS `{name}`" for name, column_type in columns]
    return casts + [f"`{key}`" for key in PARTITION_KEYS]


@dataclass(frozen=True)
class QualityVerdict:
    """What the job does after Data Quality evaluation."""

    fail_job: bool
    message: str


def quality_verdict(outcomes: list[tuple[str, str, str | None]], action: str) -> QualityVerdict:
    """Decide from ``(rule, outcome, failure reason)`` rows whether the job fails.

    :param action: ``fail`` (a failed rule fails the job before anything is written) or ``log``
        (failures are logged and published to CloudWatch, and the data is written anyway).
    """
    if action not in QUALITY_ACTIONS:
        raise ValueError(f"--dq_on_failure is {action!r}; allowed: {', '.join(QUALITY_ACTIONS)}")
    failed = [(rule, reason) for rule, outcome, reason in outcomes if outcome != "Passed"]
    if not failed:
        return QualityVerdict(False, f"Data Quality: all {len(outcomes)} rules passed")
    details = "; ".join(f"{rule} ({reason or 'failed'})" for rule, reason in failed)
    summary = f"Data Quality: {len(failed)} of {len(outcomes)} rules failed: {details}"
    if action == "fail":
        return QualityVerdict(True, summary + "; failing the job, nothing written")
    return QualityVerdict(False, summary + "; writing the data anyway (on_failure: log)")
