"""Drift job: Model Monitor's data-quality baseline and its ``baseline_drift_check``, for accounts
without Model Monitor. One file run by a SageMaker processing job in the scikit-learn image (1.2-1:
Python 3.9, numpy 1.24; newer images have numpy 2): it uses numpy and the standard library only.

Usage::

    python3 drift.py baseline --dataset DIR --output DIR [--label COLUMN] [--headers a,b,c]
    python3 drift.py check --capture DIR --statistics FILE --constraints FILE --output DIR --headers a,b,c

``baseline`` reads every ``*.csv`` below ``--dataset`` (sorted by path; a header row in each file
unless ``--headers`` names the columns), drops ``--label``, and writes ``statistics.json`` and
``constraints.json`` in Model Monitor's formats ("Schema for Statistics", "Schema for Constraints"):

* ``inferred_type``: ``Integral`` when every present value is an integer, ``Fractional`` when every
  one is a number, else ``String``. An empty field is missing.
* Numbers: ``common`` (``num_present``, ``num_missing``), ``mean``, ``sum``, ``std_dev`` (population),
  ``min``, ``max`` and ``distribution.kll``: ``buckets`` are :data:`BUCKETS` equal-width buckets from
  min to max, ``[lower, upper)`` and the last ``[lower, upper]``, counted exactly from the data;
  ``sketch`` is Deequ's KLL sketch (the library Model Monitor's analyzer is built on), ported:
  ``parameters`` ``c`` = :data:`KLL_C`, ``k`` = :data:`KLL_K`, ``data`` the compactors' items, the
  items of compactor ``i`` weighing ``2**i`` (Deequ's compaction, deterministic here).
* Strings: ``common``, ``distinct_count`` and ``distribution.categorical.buckets`` (value, count)
  of the :data:`MAX_CATEGORIES` most frequent values. Constraints carry ``completeness`` (share
  present), ``num_constraints.is_non_negative`` or ``string_constraints.domains`` (when at most
  :data:`MAX_DOMAIN_VALUES` values), and ``monitoring_config`` with :data:`DISTRIBUTION_CONSTRAINTS`.

``check`` reads the data-capture JSON Lines files (``*.jsonl``) below ``--capture``: each record's
``captureData.endpointInput`` (``CSV`` or ``JSON`` encoding, or ``BASE64`` of a text/csv or JSON
content type; records without an input are skipped). A CSV payload holds one row per line, in
``--headers`` order; a JSON payload is a row (list of values, or object by feature name), a list
of rows, or ``{"instances": [...]}`` (an instance may be ``{"features": [...]}``). Rows whose number
of values differs from ``--headers`` are skipped and reported as ``missing_column_check`` /
``extra_column_check``; a baseline feature absent from ``--headers`` as ``missing_column_check``.

For every baseline feature with present values in the window, the distance is Model Monitor's
(constraints table: "maximum absolute difference between the cumulative distribution functions of
two distributions"; Deequ ``Distance``): numbers, the L-infinity distance between the baseline's
CDF (its KLL sketch, or its buckets when a file has no sketch) and the window's exact CDF;
strings, the largest difference of a category's share. ``comparison_method`` ``Simple`` reports
that ``linf_simple``; ``Robust`` (the default) ``linf_robust = max(0, linf_simple - 1.8 *
sqrt((n + m) / (n * m)))`` (two-sample Kolmogorov-Smirnov, n and m the two counts). A distance
above ``comparison_threshold`` (strings: ``categorical_comparison_threshold``, default the former)
is a ``baseline_drift_check`` violation. Outputs, sorted keys: ``constraint_violations.json``
(``{"violations": [...]}``) and ``metrics.json`` (``{"Namespace": NAMESPACE, "Metrics":
{"feature_baseline_drift_<feature>": distance}}``); a window without records has no violations and
no metrics. ``evaluate_constraints`` / ``emit_metrics`` ``Disabled`` turn off the violations /
metrics, ``perform_comparison`` ``Disabled`` a feature's comparison; ``monitoringConfigOverrides``
of a feature override ``monitoring_config`` for it. Violations are data: exit 0. A bad argument or
input exits 2 with one line naming it.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import csv
import io
import json
import math
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import numpy.typing as npt

NAMESPACE = "aws/sagemaker/Endpoints/data-metrics"
METRIC_PREFIX = "feature_baseline_drift_"
STATISTICS, CONSTRAINTS = "statistics.json", "constraints.json"
VIOLATIONS, METRICS = "constraint_violations.json", "metrics.json"
#: "By default, the distribution is materialized in 10 buckets" (Schema for Statistics).
BUCKETS = 10
#: Deequ's KLL sketch parameters: shrinking factor c and sketch size k.
KLL_C, KLL_K = 0.64, 2048
#: c(alpha) of linf_robust (Deequ's default, alpha = 0.003).
C_ALPHA = 1.8
MAX_CATEGORIES = 1000
MAX_DOMAIN_VALUES = 20
COMPARISON_THRESHOLD = 0.1
COMPARISON_METHODS = ("Robust", "Simple")
DISTRIBUTION_CONSTRAINTS: Dict[str, Any] = {
    "perform_comparison": "Enabled",
    "comparison_threshold": COMPARISON_THRESHOLD,
    "comparison_method": "Robust",
}
MONITORING_CONFIG: Dict[str, Any] = {
    "evaluate_constraints": "Enabled",
    "emit_metrics": "Enabled",
    "datatype_check_threshold": 1.0,
    "domain_content_threshold": 1.0,
    "distribution_constraints": DISTRIBUTION_CONSTRAINTS,
}
NUMERIC_TYPES = ("Integral", "Fractional")

_INTEGRAL = re.compile(r"[+-]?\d+")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
Floats = npt.NDArray[np.float64]


class DriftError(Exception):
    """A bad argument or input: one line naming it, what was found and what is allowed."""


# -- KLL sketch (Deequ's QuantileNonSample and NonSampleCompactor) ----------------------------------

class KllSketch:
    """Deequ's KLL sketch: compactor ``h`` holds items of weight ``2**h``; a full compactor sorts
    its items and promotes every other one (alternating offsets, as Deequ does without randomness)."""

    def __init__(self, k: int = KLL_K, c: float = KLL_C) -> None:
        self.k, self.c = k, c
        self.compactors: List[List[float]] = [[]]
        self._compressions: List[int] = [0]
        self._offsets: List[int] = [0]

    def _capacity(self, height: int) -> int:
        return 2 * (math.ceil(self.k * self.c ** height / 2) + 1)

    def _total_capacity(self) -> int:
        return sum(self._capacity(h) for h in range(len(self.compactors)))

    def _size(self) -> int:
        return sum(len(c) for c in self.compactors)

    def update(self, values: Sequence[float]) -> KllSketch:
        """Add ``values`` in order; the same as Deequ's one-by-one update, a chunk at a time."""
        i = 0
        while i < len(values):
            take = max(1, self._total_capacity() - self._size() + 1)
            self.compactors[0].extend(values[i:i + take])
            i += take
            if self._size() > self._total_capacity():
                self._condense()
        return self

    def _condense(self) -> None:
        for height, items in enumerate(self.compactors):
            if len(items) >= self._capacity(height):
                if height + 1 >= len(self.compactors):
                    self.compactors.append([])
                    self._compressions.append(0)
                    self._offsets.append(0)
                self.compactors[height + 1].extend(self._compact(height))
                return

    def _compact(self, height: int) -> List[float]:
        items = self.compactors[height]
        even = len(items) - len(items) % 2
        if self._compressions[height] % 2 == 1:
            self._offsets[height] = 1 - self._offsets[height]
        output = sorted(items[:even])[self._offsets[height]:even:2]
        self.compactors[height] = items[even:]
        self._compressions[height] += 1
        return output


def sketch_points(data: Sequence[Sequence[float]]) -> Tuple[Floats, Floats]:
    """The items of a KLL ``data`` list and their weights (``2**level``)."""
    values = [float(v) for level in data for v in level]
    weights = [float(2 ** h) for h, level in enumerate(data) for _ in level]
    return np.array(values, dtype=np.float64), np.array(weights, dtype=np.float64)


# -- the baseline -----------------------------------------------------------------------------------

def infer_type(values: Sequence[str]) -> str:
    """``Integral``, ``Fractional`` or ``String`` for the present (non-empty) values."""
    present = [v for v in values if v != ""]
    if present and all(_INTEGRAL.fullmatch(v) for v in present):
        return "Integral"
    if present and all(_NUMBER.fullmatch(v) for v in present):
        return "Fractional"
    return "String"


def _buckets(values: Floats, low: float, high: float) -> List[Dict[str, float]]:
    ordered = np.sort(values)

    def below(x: float, inclusive: bool = False) -> int:
        return int(np.searchsorted(ordered, x, "right" if inclusive else "left"))

    buckets = []
    for i in range(BUCKETS):
        lower = low + (high - low) * i / BUCKETS
        upper = low + (high - low) * (i + 1) / BUCKETS
        last = i == BUCKETS - 1
        count = below(max(upper, high) if last else upper, inclusive=last) - below(lower)
        buckets.append({"lower_bound": lower, "upper_bound": upper, "count": float(count)})
    return buckets


def feature_statistics(name: str, raw: Sequence[str], inferred_type: str) -> Dict[str, Any]:
    """One feature of ``statistics.json``; ``raw`` holds stripped strings, ``""`` for missing."""
    present = [v for v in raw if v != ""]
    common = {"num_present": len(present), "num_missing": len(raw) - len(present)}
    if inferred_type in NUMERIC_TYPES and present:
        values = np.array([float(v) for v in present], dtype=np.float64)
        low, high = float(values.min()), float(values.max())
        sketch = KllSketch().update(values.tolist())
        numerical = {
            "common": common, "mean": float(values.mean()), "sum": float(values.sum()),
            "std_dev": float(values.std()), "min": low, "max": high,
            "distribution": {"kll": {
                "buckets": _buckets(values, low, high),
                "sketch": {"parameters": {"c": KLL_C, "k": float(KLL_K)}, "data": sketch.compactors},
            }},
        }
        return {"name": name, "inferred_type": inferred_type, "numerical_statistics": numerical}
    counts = Counter(present)
    top = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:MAX_CATEGORIES]
    strings = {
        "common": common, "distinct_count": len(counts),
        "distribution": {"categorical": {"buckets": [{"value": v, "count": c} for v, c in top]}},
    }
    return {"name": name, "inferred_type": "String", "string_statistics": strings}


def feature_constraints(stats: Dict[str, Any], rows: int) -> Dict[str, Any]:
    """The ``constraints.json`` entry of a feature's statistics."""
    kind = "numerical_statistics" if "numerical_statistics" in stats else "string_statistics"
    body = stats[kind]
    entry: Dict[str, Any] = {
        "name": stats["name"], "inferred_type": stats["inferred_type"],
        "completeness": body["common"]["num_present"] / rows if rows else 0.0,
    }
    if kind == "numerical_statistics":
        entry["num_constraints"] = {"is_non_negative": body["min"] >= 0}
    elif 0 < body["distinct_count"] <= MAX_DOMAIN_VALUES:
        buckets = body["distribution"]["categorical"]["buckets"]
        entry["string_constraints"] = {"domains": sorted(b["value"] for b in buckets)}
    return entry


def read_dataset(directory: Path, headers: Optional[List[str]]) -> Tuple[List[str], List[List[str]]]:
    """The columns and rows (stripped strings) of every ``*.csv`` below ``directory``."""
    files = sorted(p for p in directory.rglob("*.csv") if p.is_file())
    if not files:
        raise DriftError(f"--dataset {directory}: no *.csv file below it; expected CSV files")
    columns, rows = headers, []
    for path in files:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            if headers is None:
                header = [h.strip() for h in next(reader, [])]
                if not header:
                    continue
                if columns is None:
                    columns = _check_names(header, f"header of {path}")
                elif header != columns:
                    raise DriftError(f"--dataset {path}: header {','.join(header)} differs from "
                                     f"{','.join(columns)}; every file needs the same header")
            for row in reader:
                if not row:
                    continue
                if len(row) != len(columns or []):
                    raise DriftError(f"--dataset {path} line {reader.line_num}: {len(row)} values, "
                                     f"expected {len(columns or [])} ({','.join(columns or [])})")
                rows.append([v.strip() for v in row])
    return columns or [], rows


def baseline(dataset: Path, output: Path, label: Optional[str], headers: Optional[List[str]]) -> Dict[str, Any]:
    """Write ``statistics.json`` and ``constraints.json`` of the dataset; return the statistics."""
    columns, rows = read_dataset(dataset, headers)
    if label is not None and label not in columns:
        raise DriftError(f"--label {label!r}: not a column; columns: {', '.join(columns)}")
    features = []
    for index, name in enumerate(columns):
        if name == label:
            continue
        raw = [row[index] for row in rows]
        features.append(feature_statistics(name, raw, infer_type(raw)))
    statistics = {"version": 0, "dataset": {"item_count": len(rows)}, "features": features}
    constraints = {
        "version": 0,
        "features": [feature_constraints(f, len(rows)) for f in features],
        "monitoring_config": MONITORING_CONFIG,
    }
    _write(output / STATISTICS, statistics)
    _write(output / CONSTRAINTS, constraints)
    return statistics


# -- the window: captured records -------------------------------------------------------------------

@dataclass
class Window:
    """The captured rows of a window, one list of raw values (None when missing) per column."""

    columns: Dict[str, List[Any]]
    rows: int = 0
    records: int = 0
    short_rows: List[int] = field(default_factory=list)  # value counts of rows with too few values
    long_rows: List[int] = field(default_factory=list)


def _payload(record: Dict[str, Any], where: str) -> Optional[Tuple[str, str]]:
    """``(kind, text)`` of a record's ``endpointInput``: kind ``CSV`` or ``JSON``; None without one."""
    captured = record.get("captureData") if isinstance(record, dict) else None
    endpoint_input = captured.get("endpointInput") if isinstance(captured, dict) else None
    if not isinstance(endpoint_input, dict):
        return None
    encoding = str(endpoint_input.get("encoding", "")).upper()
    data = str(endpoint_input.get("data", ""))
    content_type = str(endpoint_input.get("observedContentType", "")).lower()
    if encoding in ("CSV", "JSON"):
        return encoding, data
    if encoding == "BASE64":
        try:
            text = base64.b64decode(data, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as error:
            raise DriftError(f"{where}: endpointInput.data is not base64 of UTF-8 text ({error})") from error
        if "csv" in content_type:
            return "CSV", text
        if "json" in content_type:
            return "JSON", text
        raise DriftError(f"{where}: observedContentType {content_type!r} of a BASE64 record; "
                         f"expected a CSV or JSON content type")
    raise DriftError(f"{where}: endpointInput.encoding {encoding!r}; expected CSV, JSON or BASE64")


def _json_rows(document: Any) -> List[Any]:
    """The rows of a JSON payload: lists (positional) or objects (by name)."""
    if isinstance(document, dict) and isinstance(document.get("instances"), list):
        return [_json_row(item) for item in document["instances"]]
    if isinstance(document, list) and document and all(isinstance(i, (list, dict)) for i in document):
        return [_json_row(item) for item in document]
    return [_json_row(document)]


def _json_row(item: Any) -> Any:
    if isinstance(item, dict) and isinstance(item.get("features"), list):
        return item["features"]
    return item if isinstance(item, (list, dict)) else [item]


def _add_row(window: Window, row: Any, headers: List[str]) -> None:
    if isinstance(row, dict):
        values = [row.get(name) for name in headers]
    elif len(row) < len(headers):
        window.short_rows.append(len(row))
        return
    elif len(row) > len(headers):
        window.long_rows.append(len(row))
        return
    else:
        values = list(row)
    for name, value in zip(headers, values):
        window.columns[name].append(value)
    window.rows += 1


def read_capture(directory: Path, headers: List[str]) -> Window:
    """Every captured input row below ``directory`` (``*.jsonl``, sorted by path)."""
    window = Window({name: [] for name in headers})
    files = sorted(p for p in directory.rglob("*.jsonl") if p.is_file()) if directory.is_dir() else []
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            where = f"--capture {path} line {number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise DriftError(f"{where}: not JSON ({error.msg}); expected one capture record a line") from error
            payload = _payload(record, where)
            if payload is None:
                continue
            window.records += 1
            kind, text = payload
            if kind == "CSV":
                rows: List[Any] = [r for r in csv.reader(io.StringIO(text)) if r]
            else:
                try:
                    rows = _json_rows(json.loads(text))
                except json.JSONDecodeError:  # JSON Lines content: one document a line
                    try:
                        rows = [r for part in text.splitlines() if part.strip() for r in _json_rows(json.loads(part))]
                    except json.JSONDecodeError as error:
                        raise DriftError(f"{where}: endpointInput.data is not JSON ({error.msg})") from error
            for row in rows:
                _add_row(window, row, headers)
    return window


def _numbers(values: Sequence[Any]) -> Floats:
    out = []
    for value in values:
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, (int, float)):
            number = float(value)
        elif isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
            number = float(value.strip())
        else:
            continue  # missing, or not a number (Model Monitor's data_type_check, not done here)
        if math.isfinite(number):
            out.append(number)
    return np.array(out, dtype=np.float64)


def _strings(values: Sequence[Any]) -> List[str]:
    out = []
    for value in values:
        if value is None:
            continue
        text = str(value).lower() if isinstance(value, bool) else str(value).strip()
        if text:
            out.append(text)
    return out


# -- the distance -----------------------------------------------------------------------------------

def linf_numeric(values: Floats, weights: Floats, window: Floats) -> float:
    """Largest |F_baseline(x) - F_window(x)| over every item of both: the baseline's weighted
    items (a KLL sketch) against the window's values."""
    order = np.argsort(values, kind="mergesort")
    ordered, cumulative = values[order], np.cumsum(weights[order])
    current = np.sort(window)
    keys = np.union1d(ordered, current)
    index = np.searchsorted(ordered, keys, "right") - 1
    base_cdf = np.where(index >= 0, cumulative[np.maximum(index, 0)], 0.0) / cumulative[-1]
    window_cdf = np.searchsorted(current, keys, "right") / current.size
    return float(np.max(np.abs(base_cdf - window_cdf)))


def linf_categorical(baseline_counts: Dict[str, float], window_counts: Dict[str, float]) -> float:
    """Largest difference of one category's share between the two."""
    n, m = sum(baseline_counts.values()), sum(window_counts.values())
    keys = sorted(set(baseline_counts) | set(window_counts))
    return max(abs(baseline_counts.get(k, 0) / n - window_counts.get(k, 0) / m) for k in keys)


def linf_robust(linf_simple: float, n: float, m: float) -> float:
    """``max(0, linf_simple - C_ALPHA * sqrt((n + m) / (n * m)))``."""
    return max(0.0, linf_simple - C_ALPHA * math.sqrt((n + m) / (n * m)))


# -- the check --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Comparison:
    """One feature's drift figures."""

    feature: str
    inferred_type: str
    baseline_count: float
    window_count: int
    linf_simple: float
    distance: float
    threshold: float
    method: str

    @property
    def drifted(self) -> bool:
        return self.distance > self.threshold


def _config(global_config: Dict[str, Any], overrides: Any) -> Dict[str, Any]:
    config = dict(global_config)
    if isinstance(overrides, dict):
        distribution = {**config.get("distribution_constraints", {}), **overrides.get("distribution_constraints", {})}
        config.update(overrides)
        config["distribution_constraints"] = distribution
    return config


def _setting(config: Dict[str, Any], key: str, default: Any, allowed: Sequence[Any] = ()) -> Any:
    value = config.get(key, default)
    if allowed and value not in allowed:
        raise DriftError(f"--constraints: monitoring_config {key} {value!r} is not supported; "
                         f"allowed: {', '.join(map(str, allowed))}")
    if not allowed and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
        raise DriftError(f"--constraints: monitoring_config {key} {value!r}; expected a number >= 0")
    return value


def _baseline_distribution(feature: Dict[str, Any]) -> Tuple[Any, float]:
    """``((values, weights), n)`` of a numeric feature, ``(counts, n)`` of a string one."""
    if "numerical_statistics" in feature:
        kll = feature["numerical_statistics"].get("distribution", {}).get("kll", {})
        data = kll.get("sketch", {}).get("data") or []
        if any(data):
            values, weights = sketch_points(data)
        else:  # no sketch: each bucket's count at its upper bound
            buckets = [b for b in kll.get("buckets", []) if b.get("count")]
            values = np.array([float(b["upper_bound"]) for b in buckets], dtype=np.float64)
            weights = np.array([float(b["count"]) for b in buckets], dtype=np.float64)
        return (values, weights), float(weights.sum())
    buckets = feature.get("string_statistics", {}).get("distribution", {}).get("categorical", {}).get("buckets", [])
    counts = {str(b["value"]): float(b["count"]) for b in buckets if b.get("count")}
    return counts, sum(counts.values())


def compare(feature: Dict[str, Any], values: Sequence[Any], config: Dict[str, Any]) -> Optional[Comparison]:
    """The drift figures of one baseline feature against the window's values; None when either
    side has no values or the comparison is disabled."""
    distribution = config.get("distribution_constraints", {})
    if _setting(distribution, "perform_comparison", "Enabled", ("Enabled", "Disabled")) == "Disabled":
        return None
    method = _setting(distribution, "comparison_method", "Robust", COMPARISON_METHODS)
    threshold = float(_setting(distribution, "comparison_threshold", COMPARISON_THRESHOLD))
    reference, n = _baseline_distribution(feature)
    numeric = "numerical_statistics" in feature
    if numeric:
        window = _numbers(values)
        m = int(window.size)
        linf = linf_numeric(reference[0], reference[1], window) if n and m else 0.0
    else:
        _setting(distribution, "categorical_drift_method", "LInfinity", ("LInfinity",))
        threshold = float(_setting(distribution, "categorical_comparison_threshold", threshold))
        counts = Counter(_strings(values))
        m = sum(counts.values())
        linf = linf_categorical(reference, dict(counts)) if n and m else 0.0
    if not n or not m:
        return None
    distance = linf_robust(linf, n, m) if method == "Robust" else linf
    return Comparison(feature["name"], feature.get("inferred_type", ""), n, m, linf, distance, threshold, method)


def _read_json(path: Path, option: str) -> Dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise DriftError(f"{option} {path}: cannot read it as JSON ({error})") from error
    if not isinstance(document, dict) or not isinstance(document.get("features"), list):
        raise DriftError(f"{option} {path}: no 'features' list; expected Model Monitor's format")
    return document


def _column_violations(window: Window, columns: int) -> List[Dict[str, str]]:
    violations = []
    for rows, check, name, word in ((window.short_rows, "missing_column_check", "Missing columns", "missing"),
                                    (window.long_rows, "extra_column_check", "Extra columns", "extra")):
        if rows:
            seen = min(rows) if word == "missing" else max(rows)
            violations.append({
                "feature_name": name, "constraint_check_type": check,
                "description": f"There are {word} columns in current dataset. Number of columns in current "
                               f"dataset: {seen}, Number of columns in baseline constraints: {columns} "
                               f"({len(rows)} rows skipped)",
            })
    return violations


def check(capture: Path, statistics_file: Path, constraints_file: Path, output: Path,
          headers: List[str]) -> List[Comparison]:
    """Write ``constraint_violations.json`` and ``metrics.json`` of the window; return its figures."""
    statistics = _read_json(statistics_file, "--statistics")
    constraints = _read_json(constraints_file, "--constraints")
    global_config = constraints.get("monitoring_config") or {}
    per_feature = {f.get("name"): f for f in constraints["features"] if isinstance(f, dict)}
    window = read_capture(capture, headers)
    comparisons, violations = [], []
    if window.records:
        violations.extend(_column_violations(window, len(headers)))
        for feature in sorted(statistics["features"], key=lambda f: str(f.get("name"))):
            name = str(feature.get("name"))
            config = _config(global_config, per_feature.get(name, {}).get("monitoringConfigOverrides"))
            if name not in window.columns:
                violations.append({"feature_name": name, "constraint_check_type": "missing_column_check",
                                   "description": f"Baseline feature {name} is not a column of the window "
                                                  f"(--headers {','.join(headers)})"})
                continue
            comparison = compare(feature, window.columns[name], config)
            if comparison is not None:
                comparisons.append(comparison)
    evaluate = _setting(global_config, "evaluate_constraints", "Enabled", ("Enabled", "Disabled")) == "Enabled"
    emit = _setting(global_config, "emit_metrics", "Enabled", ("Enabled", "Disabled")) == "Enabled"
    violations.extend({
        "feature_name": c.feature, "constraint_check_type": "baseline_drift_check",
        "description": f"Baseline drift distance: {c.distance} exceeds threshold: {c.threshold}",
    } for c in comparisons if c.drifted)
    metrics = {METRIC_PREFIX + c.feature: c.distance for c in comparisons} if emit else {}
    _write(output / VIOLATIONS, {"violations": violations if evaluate else []})
    _write(output / METRICS, {"Namespace": NAMESPACE, "Metrics": metrics})
    return comparisons


# -- command line -----------------------------------------------------------------------------------

def _write(path: Path, document: Dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, sort_keys=True, allow_nan=False) + "\n", encoding="utf-8")


def _check_names(names: List[str], where: str) -> List[str]:
    if not names or any(not n for n in names):
        raise DriftError(f"{where} {','.join(names)!r}: every column needs a name")
    duplicates = sorted(n for n, count in Counter(names).items() if count > 1)
    if duplicates:
        raise DriftError(f"{where} {','.join(names)!r}: duplicate column {', '.join(duplicates)}")
    return names


def _headers(text: Optional[str]) -> Optional[List[str]]:
    return None if text is None else _check_names([h.strip() for h in text.split(",")], "--headers")


def parser() -> argparse.ArgumentParser:
    """The command line of the job."""
    root = argparse.ArgumentParser(prog="drift.py", description=(__doc__ or "").split("\n\n")[0])
    commands = root.add_subparsers(dest="command", required=True)
    base = commands.add_parser("baseline", help="statistics.json and constraints.json of a CSV dataset")
    base.add_argument("--dataset", type=Path, required=True, help="folder with the *.csv files")
    base.add_argument("--output", type=Path, required=True)
    base.add_argument("--label", help="column to leave out of the features")
    base.add_argument("--headers", help="column names (comma separated) when the files have no header row")
    run = commands.add_parser("check", help="drift of the captured window against the baseline")
    run.add_argument("--capture", type=Path, required=True, help="folder with the capture *.jsonl files")
    run.add_argument("--statistics", type=Path, required=True)
    run.add_argument("--constraints", type=Path, required=True)
    run.add_argument("--output", type=Path, required=True)
    run.add_argument("--headers", required=True, help="the captured CSV columns (comma separated)")
    return root


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run a command; 0 when done (violations included), 2 on a bad argument or input."""
    args = parser().parse_args(argv)
    try:
        if args.command == "baseline":
            stats = baseline(args.dataset, args.output, args.label, _headers(args.headers))
            print(f"baseline: {stats['dataset']['item_count']} rows, {len(stats['features'])} features")
            return 0
        comparisons = check(args.capture, args.statistics, args.constraints, args.output, _headers(args.headers) or [])
    except DriftError as error:
        print(f"drift.py: error: {error}", file=sys.stderr)
        return 2
    for c in comparisons:
        print(f"{c.feature}: {c.inferred_type}, n={c.baseline_count:g} m={c.window_count} "
              f"linf_simple={c.linf_simple:.4f} {c.method.lower()}={c.distance:.4f} "
              f"threshold={c.threshold:g}{' DRIFT' if c.drifted else ''}")
    print(f"check: {sum(c.drifted for c in comparisons)} of {len(comparisons)} features drifted")
    return 0


if __name__ == "__main__":
    sys.exit(main())
