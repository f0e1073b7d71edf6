"""Settings of the feature step: from processed datasets to one model's training set.

The step (``ml_platform/jobs/training_pipeline/features.py``) reads each source dataset's Parquet partitions of the
window, keeps the base source's newest row per key, reduces the other sources to one row per key
and left-joins them, imputes and encodes each feature column, appends the labeled feedback rows of
the window, and writes label-first CSV without a header: what SageMaker's built-in algorithms
read. Rebalancing (SMOTE) happens in the Prepare step, on the train split only, so that the
validation and test splits keep real rows only.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from ml_platform.constructs.core.validation import StrictSettings

Column = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")]
Aggregate = Literal["sum", "mean", "min", "max", "count", "last"]
#: Default number of neighbours SMOTE interpolates between.
DEFAULT_K_NEIGHBORS = 5


class FeatureSource(StrictSettings):
    """One dataset the feature set reads.

    :ivar dataset: a dataset of ``data_catalog`` (Glue ``datasets`` or ``databrew``): its
        processed output is read, never a prefix typed by hand.
    :ivar columns: the columns read (the join key included). At least one.
    :ivar aggregate: for every source but the first, column to ``sum``, ``mean``, ``min``, ``max``,
        ``count`` or ``last`` (the newest partition's value): how its rows reduce to one per key.
        Default: none.
    """

    dataset: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.=-]{0,127}$")]
    columns: Annotated[tuple[Column, ...], Field(strict=False, min_length=1)]
    aggregate: dict[Column, Aggregate] = {}

    @model_validator(mode="after")
    def _aggregates_read_columns(self) -> FeatureSource:
        unknown = sorted(set(self.aggregate) - set(self.columns))
        if unknown:
            raise ValueError(f"aggregate names {', '.join(unknown)}, which columns does not list")
        twice = sorted({c for c in self.columns if self.columns.count(c) > 1})
        if twice:
            raise ValueError(f"columns lists {', '.join(twice)} twice")
        return self


class FeatureColumn(StrictSettings):
    """One feature of the training set, in output order.

    :ivar column: a column of a source.
    :ivar impute: how a missing value is filled: ``median``, ``mean``, ``mode``, ``constant``
        (with ``value``) or ``none`` (left empty; XGBoost treats it as missing). Default: ``none``.
    :ivar value: the constant of ``impute: constant``.
    :ivar encode: ``ordinal`` (categories coded 0..n-1), ``one_hot`` (a column per category) or
        ``none`` (numeric). Default: ``none``.
    :ivar categories: the categories of an encoded feature, in code order; a value outside them is
        missing. Default: the sorted categories of each run's window (codes may then differ
        between runs, so a model that reads feedback rows needs them declared).
    """

    column: Column
    impute: Literal["none", "median", "mean", "mode", "constant"] = "none"
    value: Annotated[float, Field(strict=False, allow_inf_nan=False)] | str | None = None
    encode: Literal["none", "ordinal", "one_hot"] = "none"
    categories: Annotated[tuple[Annotated[str, Field(min_length=1, max_length=256)], ...],
                          Field(strict=False, min_length=1)] | None = None

    @model_validator(mode="after")
    def _constant_has_value(self) -> FeatureColumn:
        if self.categories is not None:
            if self.encode == "none":
                raise ValueError("categories need encode (ordinal or one_hot)")
            if len(set(self.categories)) != len(self.categories):
                raise ValueError("categories list a category twice")
            if self.impute == "constant" and _category_text(self.value) not in self.categories:
                raise ValueError(f"the constant {self.value!r} is not one of categories")
        if (self.impute == "constant") != (self.value is not None):
            raise ValueError("give value exactly when impute is constant")
        if self.encode == "none" and isinstance(self.value, str):
            raise ValueError("a numeric feature cannot take a text value")
        return self


def _category_text(value: float | str | None) -> str:
    """A constant as the feature step writes it as a category (``2.0`` -> ``2``)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class Rebalance(StrictSettings):
    """Oversample the minority class of the train split with SMOTE (imbalanced-learn).

    :ivar sampling_strategy: minority/majority ratio after resampling, in (0, 1]. Default: 1.0.
    :ivar k_neighbors: neighbours SMOTE interpolates between. Default: :data:`DEFAULT_K_NEIGHBORS`.
    """

    method: Literal["smote"] = "smote"
    sampling_strategy: Annotated[float, Field(strict=False, gt=0, le=1)] = 1.0
    k_neighbors: Annotated[int, Field(ge=1, le=100)] = DEFAULT_K_NEIGHBORS


class FeatureSettings(StrictSettings):
    """A model's training set, built from lake datasets in the training pipeline.

    :ivar sources: the datasets read; the first is the base (one output row per base key).
    :ivar join_on: the key column the other sources join on. Default: none (one source only).
    :ivar label: the label column (0/1, true/false or yes/no), written first.
    :ivar features: the feature columns in order, at least one.
    :ivar window_days: read only partitions of the last N days before the run. Default: every
        partition.
    :ivar rebalance: SMOTE on the train split. Default: none.
    """

    sources: Annotated[tuple[FeatureSource, ...], Field(strict=False, min_length=1)]
    join_on: Column | None = None
    label: Column
    features: Annotated[tuple[FeatureColumn, ...], Field(strict=False, min_length=1)]
    window_days: Annotated[int, Field(ge=1, le=3650)] | None = None
    rebalance: Rebalance | None = None

    @model_validator(mode="after")
    def _consistent(self) -> FeatureSettings:
        problems = []
        base = self.sources[0]  # sources has at least one item (min_length)
        if len(self.sources) > 1 and self.join_on is None:
            problems.append("several sources need join_on, the key they join on")
        names = [s.dataset for s in self.sources]
        if len(set(names)) != len(names):
            problems.append(f"sources name a dataset twice ({', '.join(names)})")
        if self.join_on is not None:
            problems += [f"source {s.dataset!r} does not read the join_on column {self.join_on!r}"
                         for s in self.sources if self.join_on not in s.columns]
        shared = sorted({c for s in self.sources for c in s.columns if c != self.join_on
                         and sum(c in o.columns for o in self.sources) > 1})
        if shared:
            problems.append(f"columns {', '.join(shared)} are read by several sources; read each from one")
        features = [f.column for f in self.features]
        if len(set(features)) != len(features):
            problems.append("features list a column twice")
        if self.join_on is not None:
            problems += [f"source {s.dataset!r} aggregates the join_on key {self.join_on!r}"
                         for s in self.sources if self.join_on in s.aggregate]
        problems += [f"source {s.dataset!r} column {c!r} needs an aggregate (its rows reduce to one per key)"
                     for s in self.sources[1:] for c in s.columns if c != self.join_on and c not in s.aggregate]
        if base.aggregate:
            problems.append(f"the base source {base.dataset!r} takes no aggregate (it keeps its newest "
                            "row per key)")
        read = {c for s in self.sources for c in s.columns}
        wanted = [self.label, *(f.column for f in self.features)]
        problems += [f"column {c!r} is not read by any source" for c in wanted if c not in read]
        if self.label in {f.column for f in self.features}:
            problems.append(f"the label {self.label!r} is also a feature")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def spec(self) -> dict[str, Any]:
        """The JSON document the feature step reads (``--spec``)."""
        spec: dict[str, Any] = {
            "label": self.label,
            "sources": [{"name": s.dataset, "columns": list(s.columns),
                         **({"aggregate": dict(sorted(s.aggregate.items()))} if s.aggregate else {})}
                        for s in self.sources],
            "features": [{"column": f.column, "impute": f.impute,
                          **({"value": f.value} if f.value is not None else {}),
                          **({"encode": f.encode} if f.encode != "none" else {}),
                          **({"categories": list(f.categories)} if f.categories is not None else {})}
                         for f in self.features],
        }
        if self.join_on is not None:
            spec["join_on"] = self.join_on
        if self.window_days is not None:
            spec["window_days"] = self.window_days
        return spec

    def undeclared_categories(self) -> list[str]:
        """Encoded features without declared ``categories``: their codes may change between runs."""
        return [f.column for f in self.features if f.encode != "none" and f.categories is None]

    def rebalance_argument(self) -> dict[str, Any] | None:
        """The Prepare step's ``--rebalance`` JSON, or None."""
        if self.rebalance is None:
            return None
        return {"method": self.rebalance.method, "sampling_strategy": self.rebalance.sampling_strategy,
                "k_neighbors": self.rebalance.k_neighbors}
