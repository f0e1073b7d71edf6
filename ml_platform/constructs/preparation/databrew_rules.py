"""Typed DataBrew data quality rules, rendered as ``AWS::DataBrew::Ruleset`` rules.

Each rule uses a check from DataBrew's "available checks" with a substitution map; a profile job
validates them. In YAML a rule is a mapping with ``check`` and its fields::

    - check: completeness
      column: email
      max_missing_percent: 1
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, ClassVar, Literal, Union

from aws_cdk import aws_databrew as databrew
from pydantic import Field, model_validator

from ml_platform.constructs.core.validation import StrictSettings

ColumnName = Annotated[str, Field(min_length=1, max_length=255)]
Percent = Annotated[float, Field(strict=False, ge=0, le=100)]


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


class QualityRule(StrictSettings):
    """A ruleset rule. Subclasses declare ``check``, a ``Literal`` of the rule's name in YAML (the
    discriminator of :data:`AnyRule`), and give the check expression and its values."""

    expression: ClassVar[str]

    def name(self) -> str:
        # Each subclass narrows check to its own Literal: a str field declared here could not be
        # narrowed by a subclass (fields are mutable to type checkers).
        check: str = getattr(self, "check")
        column = getattr(self, "column", None)
        return f"{check}-{column}" if column else check

    def values(self) -> dict[str, float]:
        raise NotImplementedError

    def to_rule(self) -> databrew.CfnRuleset.RuleProperty:
        column = getattr(self, "column", None)
        return databrew.CfnRuleset.RuleProperty(
            name=self.name(),
            check_expression=self.expression,
            column_selectors=[databrew.CfnRuleset.ColumnSelectorProperty(name=column)] if column else None,
            substitution_map=[
                databrew.CfnRuleset.SubstitutionValueProperty(value_reference=ref, value=_number(v))
                for ref, v in self.values().items()
            ],
        )


class RowCount(QualityRule):
    """At least ``min_rows`` rows (``AGG(ROWS_COUNT) >= :val``)."""

    check: Literal["row_count"] = "row_count"
    expression: ClassVar[str] = "AGG(ROWS_COUNT) >= :val"
    min_rows: Annotated[int, Field(ge=1)]

    def values(self) -> dict[str, float]:
        return {":val": self.min_rows}


class DuplicateRows(QualityRule):
    """At most ``max_percent`` of rows repeat another (``AGG(DUPLICATE_ROWS_PERCENTAGE) <= :val``)."""

    check: Literal["duplicate_rows"] = "duplicate_rows"
    expression: ClassVar[str] = "AGG(DUPLICATE_ROWS_PERCENTAGE) <= :val"
    max_percent: Percent = 0

    def values(self) -> dict[str, float]:
        return {":val": self.max_percent}


class Completeness(QualityRule):
    """At most ``max_missing_percent`` of the column is missing (``AGG(MISSING_VALUES_PERCENTAGE) <= :val``)."""

    check: Literal["completeness"] = "completeness"
    expression: ClassVar[str] = "AGG(MISSING_VALUES_PERCENTAGE) <= :val"
    column: ColumnName
    max_missing_percent: Percent = 0

    def values(self) -> dict[str, float]:
        return {":val": self.max_missing_percent}


class Uniqueness(QualityRule):
    """At most ``max_duplicate_percent`` of the column's values repeat (``AGG(DUPLICATE_VALUES_PERCENTAGE) <= :val``)."""

    check: Literal["uniqueness"] = "uniqueness"
    expression: ClassVar[str] = "AGG(DUPLICATE_VALUES_PERCENTAGE) <= :val"
    column: ColumnName
    max_duplicate_percent: Percent = 0

    def values(self) -> dict[str, float]:
        return {":val": self.max_duplicate_percent}


class ValueRange(QualityRule):
    """Every value of the column lies in ``[min, max]`` (``is_between :val1 and :val2``)."""

    check: Literal["value_range"] = "value_range"
    expression: ClassVar[str] = "is_between :val1 and :val2"
    column: ColumnName
    min: Annotated[float, Field(strict=False)]
    max: Annotated[float, Field(strict=False)]

    @model_validator(mode="after")
    def _ordered(self) -> ValueRange:
        if self.min >= self.max:
            raise ValueError(f"min {self.min:g} must be less than max {self.max:g}")
        return self

    def values(self) -> dict[str, float]:
        return {":val1": self.min, ":val2": self.max}


AnyRule = Annotated[
    Union[RowCount, DuplicateRows, Completeness, Uniqueness, ValueRange], Field(discriminator="check")
]


def rule_names_problem(rules: Sequence[QualityRule]) -> str | None:
    """Rule names must be unique within a ruleset."""
    names = [r.name() for r in rules]
    repeated = sorted({n for n in names if names.count(n) > 1})
    return f"rules {', '.join(repeated)} are given more than once" if repeated else None
