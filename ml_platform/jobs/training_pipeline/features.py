"""Processing step "Features": one model's training set from lake datasets and labeled feedback.

Runs in the SageMaker scikit-learn image (1.4-2: Python 3.10, pandas 2.3, pyarrow 17, numpy 2.1)
as one file, with pandas and pyarrow only; the code avoids the APIs that differ between pandas 2
and 3. Usage::

    python3 features.py --spec /opt/ml/processing/spec/features.json \\
        [--input /opt/ml/processing/input] [--feedback /opt/ml/processing/feedback] \\
        [--output /opt/ml/processing/features] [--as-of YYYY-MM-DD] \\
        [--records /opt/ml/processing/records [--record-identifier COLUMN]]

* Source ``name`` of the spec is read from ``<input>/<name>/``: every ``*.parquet`` below it in
  Hive layout (``year=YYYY/month=MM/day=DD/``; folders and files starting with ``.`` or ``_``,
  such as Spark's ``_temporary``, are skipped). The partition date comes from the path; the
  columns ``year``, ``month`` and ``day`` are added from the path (as strings) when a file lacks
  them. Only partitions of the window are read: ``as_of - window_days < date <= as_of`` (without
  ``window_days``, every partition up to ``as_of``).
* With ``join_on``, the first source (the base) keeps its newest row per key (newest partition
  wins; rows without a key are dropped); every other source is reduced to one row per key by its
  ``aggregate`` (``sum``, ``mean``, ``min``, ``max`` skip missing values; ``count`` counts the
  present values, 0 for a key the source lacks; ``last`` is the value of the newest row) and
  left-joined onto the base. Without ``join_on`` there is one source, read as it is.
* Rows without a label are dropped; the label becomes 0/1. Each feature is imputed (statistics of
  the rows written) and encoded; a missing value left (``impute: none``) is an empty CSV field,
  which XGBoost reads as missing.
* ``<output>/data.csv``: label first, then the feature columns, no header (text/csv of the
  built-in algorithms), then the feedback rows of the window appended as they are.
  ``<output>/schema.json``: the columns, encodings and imputed values, to encode served requests
  the same way. The same inputs give byte-identical files.
* With ``--records DIR``: ``DIR/records.csv``, the feature records of the run for a feature group
  (``ingest.py``): a header (the record identifier, the label, the features), then one row per
  labeled row of the sources (one per key with ``join_on``), its values imputed but not encoded
  (a category as its text; outside declared categories it is empty, as the model sees it). The
  record identifier is ``--record-identifier`` (default ``join_on``), a column of the joined
  table; rows without one are left out and a repeated one keeps its last (newest) row. Feedback
  rows have no key and are not records.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import pandas as pd
import pyarrow.parquet as pq

SPEC = Path("/opt/ml/processing/spec/features.json")
INPUT = Path("/opt/ml/processing/input")
FEEDBACK = Path("/opt/ml/processing/feedback")
OUTPUT = Path("/opt/ml/processing/features")
#: The file of feature records ``--records`` names the folder of.
RECORDS_FILE = "records.csv"

AGGREGATES = ("count", "last", "max", "mean", "min", "sum")
IMPUTES = ("constant", "mean", "median", "mode", "none")
ENCODINGS = ("one_hot", "ordinal")
PARTITION_KEYS = ("year", "month", "day")
TRUE_LABELS = ("1", "true", "yes")
FALSE_LABELS = ("0", "false", "no")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.=-]*$")
_DATE = "__partition_date"  # internal column: the partition date (proleptic ordinal)


# -- the spec ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Source:
    name: str
    columns: tuple[str, ...]
    aggregate: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Feature:
    column: str
    impute: str = "none"
    value: Any = None
    encode: str | None = None
    #: Declared categories (in code order); None: the sorted categories of the window.
    categories: tuple[str, ...] | None = None


@dataclass(frozen=True)
class FeatureSpec:
    """The parsed ``--spec`` document (see :meth:`parse` for the checks)."""

    label: str
    sources: tuple[Source, ...]
    features: tuple[Feature, ...]
    join_on: str | None = None
    window_days: int | None = None

    @classmethod
    def load(cls, path: Path) -> FeatureSpec:
        try:
            data = json.loads(Path(path).read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"spec {path} is not valid JSON: {exc}") from exc
        return cls.parse(data)

    @classmethod
    def parse(cls, data: Any) -> FeatureSpec:
        """Check ``data`` and build the spec. :raises ValueError: naming the first problem."""
        _keys(data, "spec", {"label", "sources", "features"}, {"join_on", "window_days"})
        label = _name(data["label"], "spec 'label'")
        join_on = None if data.get("join_on") is None else _name(data["join_on"], "spec 'join_on'")
        window_days = data.get("window_days")
        if window_days is not None and (type(window_days) is not int or window_days < 1):
            raise ValueError(f"spec 'window_days' must be a whole number of days >= 1, got {window_days!r}")
        raw_sources = data["sources"]
        if not isinstance(raw_sources, list) or not raw_sources:
            raise ValueError("spec 'sources' must be a non-empty list of {name, columns, aggregate}")
        if join_on is None and len(raw_sources) != 1:
            raise ValueError(f"without 'join_on' the spec takes exactly one source, got {len(raw_sources)}")
        sources = tuple(_source(raw, i, join_on) for i, raw in enumerate(raw_sources))
        names = [s.name for s in sources]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"source {name!r} is listed twice")
        owner: dict[str, str] = {}
        for source in sources:
            for column in source.columns:
                if column != join_on and column in owner:
                    raise ValueError(f"column {column!r} comes from both source {owner[column]!r} "
                                     f"and source {source.name!r}")
                owner.setdefault(column, source.name)
        if label not in owner:
            raise ValueError(f"label {label!r} is not a column of any source")
        raw_features = data["features"]
        if not isinstance(raw_features, list) or not raw_features:
            raise ValueError("spec 'features' must be a non-empty list of {column, impute, value, encode}")
        features = tuple(_feature(raw, i) for i, raw in enumerate(raw_features))
        seen: set[str] = set()
        for feature in features:
            if feature.column not in owner:
                raise ValueError(f"feature {feature.column!r} is not a column of any source")
            if feature.column == label:
                raise ValueError(f"feature {feature.column!r} is the label")
            if feature.column in seen:
                raise ValueError(f"feature {feature.column!r} is listed twice")
            seen.add(feature.column)
        return cls(label=label, sources=sources, features=features, join_on=join_on, window_days=window_days)


def _keys(data: Any, where: str, required: set[str], optional: set[str]) -> None:
    if not isinstance(data, dict):
        raise ValueError(f"{where} must be a JSON object")
    missing = sorted(required - set(data))
    if missing:
        raise ValueError(f"{where} needs {', '.join(repr(k) for k in missing)}")
    unknown = sorted(set(data) - required - optional)
    if unknown:
        raise ValueError(f"{where} has unknown key(s) {', '.join(repr(k) for k in unknown)} "
                         f"(known: {', '.join(sorted(required | optional))})")


def _name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{where} must be a non-empty string, got {value!r}")
    return value


def _source(raw: Any, index: int, join_on: str | None) -> Source:
    where = f"sources[{index}]"
    _keys(raw, where, {"name", "columns"}, {"aggregate"})
    name = raw["name"]
    if not isinstance(name, str) or not _NAME.match(name) or ".." in name:
        raise ValueError(f"{where} 'name' must be a dataset folder name (letters, digits, _ . = -), got {name!r}")
    columns = raw["columns"]
    if not isinstance(columns, list) or not columns:
        raise ValueError(f"source {name!r} 'columns' must be a non-empty list of column names")
    for column in columns:
        _name(column, f"source {name!r} column")
        if columns.count(column) > 1:
            raise ValueError(f"source {name!r} lists column {column!r} twice")
    if join_on is not None and join_on not in columns:
        raise ValueError(f"source {name!r} must list the join key {join_on!r} in its columns")
    aggregate = raw.get("aggregate") or {}
    if not isinstance(aggregate, dict):
        raise ValueError(f"source {name!r} 'aggregate' must map column names to one of {', '.join(AGGREGATES)}")
    if index == 0 and aggregate:
        raise ValueError(f"source {name!r} is the base (the first source): it keeps its newest row per key "
                         "and takes no 'aggregate'")
    for column, function in aggregate.items():
        if column not in columns:
            raise ValueError(f"source {name!r} aggregates {column!r}, which is not in its columns")
        if column == join_on:
            raise ValueError(f"source {name!r} cannot aggregate the join key {join_on!r}")
        if function not in AGGREGATES:
            raise ValueError(f"source {name!r} aggregate {column!r}: unknown function {function!r} "
                             f"(one of {', '.join(AGGREGATES)})")
    if index > 0:
        for column in columns:
            if column != join_on and column not in aggregate:
                raise ValueError(f"source {name!r} column {column!r} needs an aggregate (one of "
                                 f"{', '.join(AGGREGATES)}): the source is reduced to one row per {join_on!r}")
    return Source(name=name, columns=tuple(columns), aggregate={c: aggregate[c] for c in columns if c in aggregate})


def _feature(raw: Any, index: int) -> Feature:
    _keys(raw, f"features[{index}]", {"column"}, {"impute", "value", "encode", "categories"})
    column = _name(raw["column"], f"features[{index}] 'column'")
    impute = raw.get("impute") or "none"
    if impute not in IMPUTES:
        raise ValueError(f"feature {column!r}: unknown impute {impute!r} (one of {', '.join(IMPUTES)})")
    value = raw.get("value")
    if impute == "constant":
        if value is None:
            raise ValueError(f"feature {column!r}: impute 'constant' needs 'value'")
        if isinstance(value, bool) or not isinstance(value, (int, float, str)) or (
                isinstance(value, float) and not math.isfinite(value)):
            raise ValueError(f"feature {column!r}: constant 'value' must be a number or a string, got {value!r}")
    elif value is not None:
        raise ValueError(f"feature {column!r}: 'value' is only used with impute 'constant'")
    encode = raw.get("encode")
    if encode in (None, "none"):
        encode = None
    elif encode not in ENCODINGS:
        raise ValueError(f"feature {column!r}: unknown encode {encode!r} (one of {', '.join(ENCODINGS)})")
    categories = raw.get("categories")
    if categories is not None:
        if encode is None:
            raise ValueError(f"feature {column!r}: 'categories' needs encode (ordinal or one_hot)")
        if (not isinstance(categories, list) or not categories or not all(isinstance(c, str) for c in categories)
                or len(set(categories)) != len(categories)):
            raise ValueError(f"feature {column!r}: 'categories' must be a non-empty list of distinct strings")
        if impute == "constant" and _text(value) not in categories:
            raise ValueError(f"feature {column!r}: constant {value!r} is not one of its categories")
        categories = tuple(categories)
    return Feature(column=column, impute=impute, value=value, encode=encode, categories=categories)


# -- values -----------------------------------------------------------------------------------------

def _missing(value: Any) -> bool:
    if value is None or isinstance(value, (str, bytes, list, tuple, dict)):
        return value is None
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _is_number(value: Any) -> bool:
    return isinstance(value, (bool, int, float, Decimal)) or getattr(getattr(value, "dtype", None), "kind", "") in (
        "b", "i", "u", "f")


def number_text(value: float) -> str:
    """A number as the CSV writes it: ``3`` for whole numbers, else the shortest round trip."""
    value = float(value)
    if math.isnan(value):
        return ""
    if value.is_integer() and abs(value) < 2 ** 53:
        return str(int(value))
    return repr(value)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if _is_number(value) and not isinstance(value, bool):
        return number_text(float(value))
    return str(value)


def normalize(series: pd.Series) -> pd.Series:
    """``float64`` when every present value is a number (bools as 0/1, decimals as floats), else
    ``object`` holding ``str`` values and ``None`` for missing ones: one representation whatever
    pandas (2 or 3) and pyarrow made of the column."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        series = series.astype(object)
    elif pd.api.types.is_bool_dtype(dtype) or (
            pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype)):
        return series.astype("float64")
    values = series.tolist()
    present = [v for v in values if not _missing(v)]
    if all(_is_number(v) for v in present) and present:
        return pd.Series([math.nan if _missing(v) else float(v) for v in values], index=series.index, dtype="float64")
    return pd.Series([None if _missing(v) else _text(v) for v in values], index=series.index, dtype=object)


def _numeric(series: pd.Series) -> bool:
    return bool(series.dtype == "float64")


def _series(value: object) -> pd.Series:
    """``value``, one column (a frame's column by name, or a per-key aggregate of one).

    pandas ships no type information (no ``py.typed``; pandas-stubs is not installed here), so
    pyright infers its return types from the source, wider than what these calls return on frames
    with unique column names: ``frame[name]`` as ``Series | DataFrame``, a group's ``sum()`` as
    any scalar too.
    """
    return cast(pd.Series, value)


def _examples(values: list[Any], limit: int = 5) -> str:
    distinct = sorted({repr(v) for v in values})
    return ", ".join(distinct[:limit]) + (f" and {len(distinct) - limit} more" if len(distinct) > limit else "")


# -- reading ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Window:
    """The partitions read: ``as_of - days < date <= as_of`` (every date up to ``as_of`` without days)."""

    as_of: date
    days: int | None = None

    def __contains__(self, day: date) -> bool:
        return day <= self.as_of and (self.days is None or day > self.as_of - timedelta(days=self.days))

    @property
    def first(self) -> date | None:
        return None if self.days is None else self.as_of - timedelta(days=self.days - 1)

    def describe(self) -> str:
        return f"{self.first.isoformat() if self.first else 'start'}..{self.as_of.isoformat()}"


def partitions(relative: Path) -> dict[str, str]:
    """``{"year": ..., "month": ..., "day": ...}`` of the Hive folders of ``relative`` (what is there)."""
    found = {}
    for part in relative.parts[:-1]:
        key, sep, value = part.partition("=")
        if sep and key in PARTITION_KEYS:
            found[key] = value
    return found


def partition_date(relative: Path) -> date | None:
    """The date of the ``year=/month=/day=`` folders of ``relative``, None if it has not all three."""
    values = partitions(relative)
    if len(values) < len(PARTITION_KEYS):
        return None
    try:
        return date(int(values["year"]), int(values["month"]), int(values["day"]))
    except ValueError as exc:
        raise ValueError(f"{relative}: year={values['year']}/month={values['month']}/day={values['day']} "
                         "is not a date") from exc


def _files(root: Path, suffix: str) -> list[Path]:
    """Files ``*<suffix>`` under ``root`` (none hidden: ``.`` or ``_`` starts no part), sorted."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob(f"*{suffix}") if p.is_file() and not any(
        part.startswith((".", "_")) for part in p.relative_to(root).parts))


def read_source(input_dir: Path, source: Source, window: Window) -> pd.DataFrame:
    """The rows of ``source`` in ``window``, its columns plus the partition date, oldest first."""
    root = input_dir / source.name
    if not root.is_dir():
        raise ValueError(f"source {source.name!r}: no folder {root}")
    dated = []
    for path in _files(root, ".parquet"):
        relative = path.relative_to(root)
        day = partition_date(relative)
        if day is None:
            raise ValueError(f"source {source.name!r}: {relative} has no year=/month=/day= partition in its path")
        if day in window:
            dated.append((day, relative.as_posix(), path))
    frames = []
    for day, shown, path in sorted(dated):
        parquet = pq.ParquetFile(path)
        names = set(parquet.schema_arrow.names)
        from_path = partitions(Path(shown))
        for column in source.columns:
            if column not in names and column not in from_path:
                raise ValueError(f"source {source.name!r}: column {column!r} is missing in {shown} "
                                 f"(it has {', '.join(sorted(names))})")
        in_file = [c for c in source.columns if c in names]
        if in_file:
            frame = parquet.read(columns=in_file).to_pandas().reset_index(drop=True)
        else:
            frame = pd.DataFrame(index=pd.RangeIndex(parquet.metadata.num_rows))
        for column in source.columns:
            if column not in names:
                frame[column] = pd.Series([from_path[column]] * len(frame), index=frame.index, dtype=object)
        frame[_DATE] = day.toordinal()
        frames.append(frame[[*source.columns, _DATE]])
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in [*source.columns, _DATE]})
    table = pd.concat(frames, ignore_index=True)
    for column in source.columns:
        if isinstance(table[column].dtype, pd.CategoricalDtype):
            table[column] = table[column].astype(object)
    return table


# -- joining ----------------------------------------------------------------------------------------

def newest_per_key(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    """The newest row (latest partition, last read) of each key; rows without a key dropped."""
    return frame.dropna(subset=[key]).sort_values(_DATE, kind="stable").drop_duplicates(subset=[key], keep="last")


def reduce(frame: pd.DataFrame, source: Source, key: str) -> pd.DataFrame:
    """One row per key of ``source``: its ``aggregate`` of each column, the key as a column."""
    frame = frame.dropna(subset=[key]).sort_values(_DATE, kind="stable")
    if not len(frame):
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in [key, *source.aggregate]})
    keys = pd.Index(pd.unique(_series(frame[key])), name=key)
    columns = {}
    for column, function in source.aggregate.items():
        values = normalize(_series(frame[column]))
        if function in ("sum", "mean") and not _numeric(values):
            raise ValueError(f"source {source.name!r}: {function} of {column!r} needs numbers, got values like "
                             f"{_examples([v for v in values.tolist() if v is not None][:20])}")
        data = pd.DataFrame({key: frame[key], column: values})
        if function == "last":
            result = data.drop_duplicates(subset=[key], keep="last").set_index(key)[column]
        elif function == "count":
            result = data.groupby(key, sort=False)[column].count()
        else:
            present = data[data[column].notna()]
            grouped = present.groupby(key, sort=False)[column]
            result = grouped.sum(min_count=1) if function == "sum" else getattr(grouped, function)()
        columns[column] = _series(result).reindex(keys)
    reduced = pd.DataFrame(columns, index=keys)
    return reduced.reset_index()


def join(spec: FeatureSpec, frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The base source's rows with every other source's columns (see the module)."""
    base = spec.sources[0]
    if spec.join_on is None:
        return frames[base.name].reset_index(drop=True)
    key = spec.join_on
    table = newest_per_key(frames[base.name], key).reset_index(drop=True)
    for source in spec.sources[1:]:
        reduced = reduce(frames[source.name], source, key)
        if len(table) and len(reduced):
            left, right = pd.api.types.is_numeric_dtype(table[key]), pd.api.types.is_numeric_dtype(reduced[key])
            if left != right:
                kinds = {True: "numbers", False: "text"}
                raise ValueError(f"join key {key!r} holds {kinds[left]} in source {base.name!r} but "
                                 f"{kinds[right]} in source {source.name!r}")
            table = table.merge(reduced, how="left", on=key, sort=False, validate="one_to_one")
        else:
            for column in source.aggregate:
                table[column] = pd.Series([math.nan] * len(table), index=table.index, dtype="float64")
        for column, function in source.aggregate.items():
            if function == "count":
                table[column] = table[column].astype("float64").fillna(0.0)
    return table


# -- label and features -----------------------------------------------------------------------------

def parse_labels(series: pd.Series, label: str) -> list[int | None]:
    """0/1 per row (None where the label is missing or empty).

    :raises ValueError: naming the values that are not a 0/1 label.
    """
    labels: list[int | None] = []
    bad = []
    for value in normalize(series).tolist():
        if _missing(value) or (isinstance(value, str) and not value.strip()):
            labels.append(None)
        elif isinstance(value, str) and value.strip().lower() in TRUE_LABELS + FALSE_LABELS:
            labels.append(1 if value.strip().lower() in TRUE_LABELS else 0)
        elif isinstance(value, float) and value in (0.0, 1.0):
            labels.append(int(value))
        else:
            labels.append(None)
            bad.append(value)
    if bad:
        raise ValueError(f"label {label!r} must be 0/1 (also true/false, yes/no); bad values: {_examples(bad)}")
    return labels


@dataclass
class Encoded:
    names: list[str]
    columns: list[list[str]]  # one list of CSV fields per output column
    categories: list[str] | None = None
    imputed: Any = None
    #: One CSV field per row: the imputed value before encoding (a category's text), "" if missing.
    values: list[str] = field(default_factory=list)


def _mode(values: list[Any]) -> Any:
    counts = Counter(values)
    top = max(counts.values())
    return min(v for v, n in counts.items() if n == top)


def encode_feature(feature: Feature, series: pd.Series) -> Encoded:
    """Impute and encode one feature column (statistics from ``series`` itself)."""
    name = feature.column
    values = normalize(series)
    numeric = _numeric(values)
    present = [v for v in values.tolist() if not _missing(v)]
    fill: Any = None
    if feature.impute in ("mean", "median"):
        if not numeric:
            raise ValueError(f"feature {name!r}: impute {feature.impute!r} needs numbers, got values like "
                             f"{_examples(present[:20])}")
        if not present:
            raise ValueError(f"feature {name!r}: no values to take the {feature.impute} of")
        fill = float(values.median() if feature.impute == "median" else values.mean())
    elif feature.impute == "mode":
        if not present:
            raise ValueError(f"feature {name!r}: no values to take the mode of")
        fill = _mode(present)
    elif feature.impute == "constant":
        fill = feature.value
        if numeric and feature.encode is None:
            if isinstance(fill, str):
                raise ValueError(f"feature {name!r}: constant {fill!r} is not a number, but the column holds "
                                 "numbers (set encode to use it as a category)")
            fill = float(fill)
    filled = [fill if _missing(v) else v for v in values.tolist()] if fill is not None else values.tolist()
    if feature.encode is None:
        if not numeric:
            raise ValueError(f"feature {name!r} holds text (values like {_examples(present[:20])}): "
                             "set encode (ordinal or one_hot)")
        numbers = [number_text(v) if not _missing(v) else "" for v in filled]
        return Encoded([name], [numbers], imputed=fill if fill is None else float(fill), values=numbers)
    texts = [None if _missing(v) else _text(v) for v in filled]
    fill_text = None if fill is None else _text(fill)
    if feature.categories is not None:
        # Declared categories keep the codes of every run, so rows encoded by an earlier run
        # (feedback captured at the endpoint) mean the same; a value outside them is missing.
        categories = list(feature.categories)
        texts = [t if t in categories else None for t in texts]
        return _coded(feature, name, texts, categories, fill_text if fill_text in categories else None)
    categories = sorted({t for t in texts if t is not None} | ({fill_text} if fill_text is not None else set()))
    if not categories:
        raise ValueError(f"feature {name!r}: no values to encode in the window")
    return _coded(feature, name, texts, categories, fill_text)


def _coded(feature: Feature, name: str, texts: list[str | None], categories: list[str], fill_text: Any) -> Encoded:
    """``texts`` as ordinal codes or one-hot columns of ``categories`` (missing stays empty)."""
    code = {c: i for i, c in enumerate(categories)}
    values = ["" if t is None else t for t in texts]
    if feature.encode == "ordinal":
        return Encoded([name], [["" if t is None else str(code[t]) for t in texts]], categories, fill_text, values)
    columns = [["" if t is None else "1" if t == c else "0" for t in texts] for c in categories]
    return Encoded([f"{name}={c}" for c in categories], columns, categories, fill_text, values)


# -- feedback ---------------------------------------------------------------------------------------

def read_feedback(feedback_dir: Path, window: Window, width: int) -> tuple[list[list[str]], int]:
    """The rows of every ``*.csv`` under ``feedback_dir`` whose partition date is in ``window``, as
    they are, and the number of files read. Files outside ``year=/month=/day=`` folders are skipped.

    :raises ValueError: naming a file with a row of another width than ``width`` or a bad label.
    """
    dated = []
    for path in _files(feedback_dir, ".csv"):
        relative = path.relative_to(feedback_dir)
        day = partition_date(relative)
        if day is not None and day in window:
            dated.append((day, relative.as_posix(), path))
    rows: list[list[str]] = []
    for _, shown, path in sorted(dated):
        with path.open(newline="") as handle:
            for line, row in enumerate(csv.reader(handle), start=1):
                if not row:
                    continue
                if len(row) != width:
                    raise ValueError(f"feedback file {shown}: line {line} has {len(row)} columns, expected "
                                     f"{width} (the label and {width - 1} feature columns)")
                try:
                    label = float(row[0])
                except ValueError:
                    label = math.nan
                if label not in (0.0, 1.0):
                    raise ValueError(f"feedback file {shown}: line {line} has label {row[0]!r}, not 0/1")
                rows.append(row)
    return rows, len(dated)


# -- the step ---------------------------------------------------------------------------------------

@dataclass
class Result:
    rows: list[list[str]]
    schema: dict[str, Any]
    #: ``records.csv``, header first (only when :func:`build` was given a record identifier).
    records: list[list[str]] | None = None


def build(spec: FeatureSpec, input_dir: Path, feedback_dir: Path, as_of: date,
          record_identifier: str | None = None) -> Result:
    """The training set of ``spec`` as of ``as_of`` (see the module), and with
    ``record_identifier`` its feature records (:func:`feature_records`)."""
    window = Window(as_of, spec.window_days)
    frames = {s.name: read_source(input_dir, s, window) for s in spec.sources}
    read = {name: len(frame) for name, frame in frames.items()}
    table = join(spec, frames)
    labels = parse_labels(_series(table[spec.label]), spec.label) if len(table) else []
    keep = [i for i, label in enumerate(labels) if label is not None]
    if not keep:
        counts = ", ".join(f"{n}={c}" for n, c in read.items())
        raise ValueError(f"no input rows in the window {window.describe()} with a {spec.label!r} label "
                         f"(rows read: {counts})")
    table = table.iloc[keep].reset_index(drop=True)
    names: list[str] = []
    columns: list[list[str]] = []
    encodings: dict[str, list[str]] = {}
    imputed: dict[str, Any] = {}
    values: list[list[str]] = []
    for feature in spec.features:
        encoded = encode_feature(feature, table[feature.column])
        values.append(encoded.values)
        names += encoded.names
        columns += encoded.columns
        if encoded.categories is not None:
            encodings[feature.column] = encoded.categories
        if encoded.imputed is not None:
            imputed[feature.column] = encoded.imputed
    rows = [list(row) for row in zip([str(labels[i]) for i in keep], *columns)]
    feedback, _ = read_feedback(feedback_dir, window, 1 + len(names))
    rows += feedback
    classes = sorted({float(row[0]) for row in rows})
    if len(classes) < 2:
        raise ValueError(f"only one class in the training set: all {len(rows)} rows have label "
                         f"{number_text(classes[0])}; the label {spec.label!r} needs both 0 and 1")
    schema = {
        "label": spec.label,
        "columns": names,
        "encodings": encodings,
        "imputed": imputed,
        "rows": len(rows),
        "window": {"from": window.first.isoformat() if window.first else None, "to": as_of.isoformat()},
        "sources": read,
        "feedback_rows": len(feedback),
    }
    records = None
    if record_identifier is not None:
        labeled = [str(labels[i]) for i in keep]
        records = feature_records(spec, table, record_identifier, labeled, values)
    return Result(rows, schema, records)


def feature_records(spec: FeatureSpec, table: pd.DataFrame, record_identifier: str, labels: list[str],
                    values: list[list[str]]) -> list[list[str]]:
    """``records.csv`` of the labeled rows of ``table``: header (identifier, label, features other
    than the identifier), then a row per identifier (the last row of a repeated one; rows without
    one left out). ``values`` holds each feature's imputed, unencoded fields.

    :raises ValueError: if ``record_identifier`` is not a column of the joined table.
    """
    if record_identifier not in table.columns:
        known = [c for c in table.columns if c != _DATE]
        raise ValueError(f"record identifier {record_identifier!r} is not a column of the joined sources "
                         f"({', '.join(map(str, known))})")
    identifiers = [None if _missing(v) else _text(v) for v in normalize(_series(table[record_identifier])).tolist()]
    features = [(f.column, column) for f, column in zip(spec.features, values) if f.column != record_identifier]
    header = [record_identifier, spec.label, *(name for name, _ in features)]
    by_key: dict[str, list[str]] = {}
    for index, identifier in enumerate(identifiers):
        if identifier is not None and identifier.strip():
            by_key.pop(identifier, None)  # a repeated identifier keeps its last row, in its place
            by_key[identifier] = [identifier, labels[index], *(column[index] for _, column in features)]
    return [header, *by_key.values()]


def write(result: Result, output_dir: Path, records_dir: Path | None = None) -> None:
    """``data.csv`` and ``schema.json`` to ``output_dir``; ``records.csv`` to ``records_dir`` if given."""
    output_dir.mkdir(parents=True, exist_ok=True)
    with (output_dir / "data.csv").open("w", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(result.rows)
    (output_dir / "schema.json").write_text(json.dumps(result.schema, indent=2) + "\n")
    if records_dir is not None and result.records is not None:
        records_dir.mkdir(parents=True, exist_ok=True)
        with (records_dir / RECORDS_FILE).open("w", newline="") as handle:
            csv.writer(handle, lineterminator="\n").writerows(result.records)


def summary(schema: dict[str, Any]) -> str:
    sources = " ".join(f"{name}={rows}" for name, rows in schema["sources"].items())
    return (f"features: sources {sources}, feedback={schema['feedback_rows']}, rows out={schema['rows']}, "
            f"columns={len(schema['columns'])}")


def download_feedback(uri: str, target: Path, s3: Any = None) -> int:
    """Copy every ``*.csv`` under ``s3://bucket/prefix`` into ``target`` (keeping the partition
    folders); the number of files.

    The feedback prefix is empty until labels arrive, and SageMaker fails a job whose processing
    input names an S3 prefix without objects, so the step reads it itself (boto3 is in the image).
    """
    if not uri.startswith("s3://"):
        raise ValueError(f"--feedback-uri {uri!r} is not s3://<bucket>/<prefix>")
    bucket, _, prefix = uri[len("s3://"):].partition("/")
    if s3 is None:  # pragma: no cover - the job's own client
        import boto3

        s3 = boto3.client("s3")
    count = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            relative = item["Key"][len(prefix):]
            if not relative.endswith(".csv") or ".." in relative.split("/"):
                continue
            destination = target / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, item["Key"], str(destination))
            count += 1
    return count


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {text!r}") from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Build the training set (label-first CSV) from lake datasets.")
    parser.add_argument("--spec", type=Path, default=SPEC)
    parser.add_argument("--input", type=Path, default=INPUT)
    parser.add_argument("--feedback", type=Path, default=FEEDBACK)
    parser.add_argument("--feedback-uri", default=None,
                        help="s3://bucket/prefix of the feedback rows, downloaded into --feedback first")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--as-of", type=_day, default=None, help="YYYY-MM-DD, default today (UTC)")
    parser.add_argument("--records", type=Path, default=None,
                        help="also write the run's feature records to DIR/records.csv (a feature group's input)")
    parser.add_argument("--record-identifier", default=None, help="with --records: the identifier column, "
                        "default the spec's join_on")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    as_of = args.as_of or datetime.now(timezone.utc).date()
    if args.feedback_uri:
        download_feedback(args.feedback_uri, args.feedback)
    spec = FeatureSpec.load(args.spec)
    identifier = args.record_identifier or spec.join_on
    if args.records is not None and identifier is None:
        raise SystemExit("--records needs --record-identifier: the spec has no join_on")
    result = build(spec, args.input, args.feedback, as_of, identifier if args.records is not None else None)
    write(result, args.output, args.records)
    print(summary(result.schema))
    return result.schema


if __name__ == "__main__":
    main(sys.argv[1:])
