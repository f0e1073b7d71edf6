"""Typed DataBrew recipe steps: each emits one DataBrew operation with exactly encoded parameters.

DataBrew recipe parameters are a map of string to string: lists are JSON strings, booleans are
``"true"``/``"false"``, numbers are decimal strings. Each step class names its operation and checks
its parameters (per the DataBrew recipe action reference) when it is built, so a bad recipe fails
at synth. In YAML a step is a mapping with ``action`` (the snake-case name below) and its fields::

    - action: mask_range
      columns: [card_number]
      stop: -4

Steps that need a secret or a key (hashing, deterministic and probabilistic encryption) get it
from the :class:`RecipeContext` the recipe is rendered with: the environment's generated secret
and the lake key, never a value in the recipe.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal, Self, Union

from pydantic import Field, model_validator

from ml_platform.constructs.core.validation import StrictSettings

ColumnName = Annotated[str, Field(min_length=1, max_length=255)]
Columns = Annotated[tuple[ColumnName, ...], Field(strict=False, min_length=1)]
Symbol = Annotated[str, Field(min_length=1, max_length=1)]
CharacterSet = Literal["SYMBOLS", "WHITESPACE"]
OutlierStrategy = Literal["Z_SCORE", "MODIFIED_Z_SCORE", "IQR"]
Percentile = Annotated[float, Field(strict=False, ge=0, le=100)]
Threshold = Annotated[float, Field(strict=False, gt=0)]


@dataclass(frozen=True)
class RecipeContext:
    """What steps that protect data reference: the hashing/encryption secret and a KMS key ARN."""

    secret_arn: str
    kms_key_arn: str


def _encode(value: Any) -> str:
    """One DataBrew parameter value as a string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return json.dumps(list(value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class RecipeStep(StrictSettings):
    """A step of a DataBrew recipe. Subclasses set :attr:`operation` and :meth:`parameters`."""

    operation: ClassVar[str]
    #: Whether the step needs :class:`RecipeContext.secret_arn` (its role reads the secret).
    uses_secret: ClassVar[bool] = False
    #: Whether the step needs :class:`RecipeContext.kms_key_arn` (its role uses the key).
    uses_key: ClassVar[bool] = False

    def parameters(self, context: RecipeContext) -> dict[str, Any]:
        raise NotImplementedError

    def render(self, context: RecipeContext) -> dict[str, Any]:
        """``{"Action": {"Operation": ..., "Parameters": {...}}}`` with string parameters."""
        action: dict[str, Any] = {"Operation": self.operation}
        parameters = {k: _encode(v) for k, v in self.parameters(context).items() if v is not None}
        if parameters:
            action["Parameters"] = parameters
        return {"Action": action}


def _distinct(columns: tuple[str, ...]) -> tuple[str, ...]:
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        raise ValueError(f"columns name {', '.join(map(repr, repeated))} more than once")
    return columns


class _MultiColumn(RecipeStep):
    columns: Columns

    @model_validator(mode="after")
    def _columns_distinct(self) -> Self:
        _distinct(self.columns)
        return self


# -- personal data -----------------------------------------------------------------------------------


class DeleteColumns(_MultiColumn):
    """Drop the columns (``DELETE``)."""

    action: Literal["delete_columns"] = "delete_columns"
    operation: ClassVar[str] = "DELETE"

    def parameters(self, context: RecipeContext) -> dict[str, Any]:
        return {"sourceColumns": self.columns}


class _Mask(_MultiColumn):
    mask_symbol: Symbol = "#"


class MaskCustom(_Mask):
    """Mask every occurrence of ``value`` (a regex when ``regex``) with ``mask_symbol`` (``MASK_CUSTOM``)."""

    action: Literal["mask_custom"] = "mask_custom"
    operation: ClassVar[str] = "MASK_CUSTOM"
    value: Annotated[str, Field(min_length=1)]
    regex: bool = False

    def parameters(self, context: RecipeContext) -> dict[str, Any]:
        return {"sourceColumns": self.columns, "maskSymbol": self.mask_symbol,
                "customValue": self.value, "regex": self.regex}


class MaskRange(_Mask):
    """Mask characters from ``start`` (inclusive) to ``stop`` (exclusive); negative counts from the
    end; either may be omitted, not both (``MASK_RANGE``). ``preserve`` keeps symbols or whitespace."""

    action: Literal["mask_range"] = "mask_range"
    operation: ClassVar[str] = "MASK_RANGE"
    start: int | None = None
    stop: int | None = None
    preserve: Annotated[tuple[CharacterSet, ...], Field(strict=False)] = ()

    @model_validator(mode="after")
    def _range(self) -> MaskRange:
        if self.start is None and self.stop is None:
            raise ValueError("give start, stop or both; to mask whole values use mask_custom or delete_columns")
        if self.start is not None and self.stop is not None and (self.start >= 0) == (self.stop >= 0) and self.start >= self.stop:
            raise ValueError(f"start {self.start} must come before stop {self.stop}")
        return self

    def parameters(self, context: RecipeContext) -> dict[str, Any]:
        return {"sourceColumns": self.columns, "maskSymbol": self.mask_symbol, "start": self.start,
                "stop": self.stop, "alphabet": self.preserve or None}


class MaskDelimiter(_Mask):
    """Mask between ``start_delimiter`` and ``end_delimiter`` (``MASK_DELIMITER``); at least one is needed."""

    action: Literal["mask_delimiter"] = "mask_delimiter"
    operation: ClassVar[str] = "MASK_DELIMITER"
    start_delimiter: Symbol | None = None
    end_delimiter: Symbol | None = None
    preserve_delimiters: bool = False
    preserve: Annotated[tuple[CharacterSet, ...], Field(strict=False)] = ()

    @model_validator(mode="after")
    def _delimiters(self) -> MaskDelimiter:
        if self.start_delimiter is None and self.end_delimiter is None:
            raise ValueError("give start_delimiter, end_delimiter or both")
        return self

    def parameters(self, context: RecipeContext) -> dict[str, Any]:
        return {"sourceColumns": self.columns, "maskSymbol": self.mask_symbol,
                "startDelimiter": self.start_delimiter, "endDelimiter": self.end_delimiter,
                "preserveDelimiters": self.preserve_delimiters, "alphabet": self.preserve or None}


class MaskDate(_Mask):
    """Mask date components (``MASK_DATE``)."""

    action: Literal["mask_date"] = "mask_date"
    operation: ClassVar[str] = "MASK_DATE"
    redact: Annotated[
        tuple[Literal["YEAR", "MONTH", "DAY", "HOUR", "MINUTE", "SECOND", "MILLISECOND"], ...],
        Field(strict=False, min_length=1),
    ]
    locale: Annotated[str, Field(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")] | None = None

    def parameters(self, context: RecipeContext) -> dict[str, Any]:
        return {"sourceColumns": self.columns, "maskSymbol": self.mask_symbol,
                "redact": self.redact, "locale": self.locale}


class HashColumns(_MultiColumn):
    """Keyed hash (HMAC) with the environment's secret (``CRYPTOGRAPHIC_HASH``).

    Only HMAC algorithms are offered: an unkeyed hash of personal data is reversible by trying
    every likely value. Default: ``HMAC_SHA256``.
    """

    action: Literal["hash"] = "hash"
    operation: ClassVar[str] = "CRYPTOGRAPHIC_HASH"
    uses_secret: ClassVar[bool] = True
    algorithm: Literal["HMAC_SHA256", "HMAC_SHA512", "HMAC_SHA1", "HMAC_MD5"] = "HMAC_SHA256"

    def parameters(self, context: RecipeContext) -> dict[str, Any]:
        return {"sourceColumns": self.columns, "secretId": context.secret_arn, "algorithm": self.algorithm}


class DeterministicEncrypt(_MultiColumn):
    """AES-GCM-SIV with the environment's secret; equal values stay equal (``DETERMINISTIC_ENCRYPT``)."""

    action: Literal["deterministic_encrypt"] = "deterministic_encrypt"
    operation: ClassVar[str] = "DETERMINISTIC_ENCRYPT"
    uses_secret: ClassVar[bool] = True

    def parameters(self, context: RecipeContext) -> dict[str, Any]:
        return {"sourceColumns": self.columns, "secretId": context.secret_arn}


class Encrypt(_MultiColumn):
    """Probabilistic encryption with the KMS key via the AWS Encryption SDK (``ENCRYPT``).

    :ivar preserve_data_type: keep the data type for decryption. Default: True.
    """

    action: Literal["encrypt"] = "encrypt"
    operation: ClassVar[str] = "ENCRYPT"
    uses_key: ClassVar[bool] = True
    preserve_data_type: bool = True

    def parameters(self, context: RecipeContext) -> dict[str, Any]:
        return {"sourceColumns": self.columns, "kmsKeyArn": context.kms_key_arn,
                "preserveDataType": self.preserve_data_type}


class ReplaceWithRandomNumbers(_MultiColumn):
    """Replace values with random numbers between ``lower`` and ``upper`` (``REPLACE_WITH_RANDOM_BETWEEN``)."""

    action: Literal["random_numbers"] = "random_numbers"
    operation: ClassVar[str] = "REPLACE_WITH_RANDOM_BETWEEN"
    lower: Annotated[float, Field(strict=False)]
    upper: Annotated[float, Field(strict=False)]

    @model_validator(mode="after")
    def _bounds(self) -> ReplaceWithRandomNumbers:
        if self.lower >= self.upper:
            raise ValueError(f"lower {self.lower:g} must be less than upper {self.upper:g}")
        return self

    def parameters(self, context: RecipeContext) -> dict[str, Any]:
        return {"sourceColumns": self.columns, "lowerBound": self.lower, "upperBound": self.upper}


class ReplaceWithRandomDates(_MultiColumn):
    """Replace values with random dates between ``start`` and ``end`` (``REPLACE_WITH_RANDOM_DATE_BETWEEN``)."""

    action: Literal["random_dates"] = "random_dates"
    operation: ClassVar[str] = "REPLACE_WITH_RANDOM_DATE_BETWEEN"
    start: Annotated[datetime.datetime, Field(strict=False)]
    end: Annotated[datetime.datetime, Field(strict=False)]

    @model_validator(mode="after")
    def _range(self) -> ReplaceWithRandomDates:
        if self.start >= self.end:
            raise ValueError(f"start {self.start:%Y-%m-%d %H:%M:%S} must be before end {self.end:%Y-%m-%d %H:%M:%S}")
        return self

    def parameters(self, context: RecipeContext) -> dict[str, Any]:
        return {"sourceColumns": self.columns, "startDate": f"{self.start:%Y-%m-%d %H:%M:%S}",
                "endDate": f"{self.end:%Y-%m-%d %H:%M:%S}"}


class ShuffleRows(_MultiColumn):
    """Shuffle the columns' values across rows, optionally within groups (``SHUFFLE_ROWS``)."""

    action: Literal["shuffle_rows"] = "shuffle_rows"
    operation: ClassVar[str] = "SHUFFLE_ROWS"
    group_by: Annotated[tuple[ColumnName, ...], Field(strict=False)] = ()

    @model_validator(mode="after")
    def _groups(self) -> ShuffleRows:
        both = sorted(set(self.columns) & set(self.group_by))
        if both:
            raise ValueError(f"{', '.join(map(repr, both))} cannot be both shuffled and a group_by column")
        return self

    def parameters(self, context: RecipeContext) -> dict[str, Any]:
        return {"sourceColumns": self.columns, "groupByColumns": self.group_by or None}


# -- cleaning ----------------------------------------------------------------------------------------


class _SingleColumn(RecipeStep):
    column: ColumnName

    def parameters(self, context: RecipeContext) -> dict[str, Any]:
        return {"sourceColumn": self.column}


class FillWithMedian(_SingleColumn):
    """Fill missing values with the column's median (``FILL_WITH_MEDIAN``)."""

    action: Literal["fill_with_median"] = "fill_with_median"
    operation: ClassVar[str] = "FILL_WITH_MEDIAN"


class FillWithAverage(_SingleColumn):
    """Fill missing values with the column's mean (``FILL_WITH_AVERAGE``)."""

    action: Literal["fill_with_average"] = "fill_with_average"
    operation: ClassVar[str] = "FILL_WITH_AVERAGE"


class FillWithMode(_SingleColumn):
    """Fill missing values with the column's mode; ``tie`` resolves equal counts (``FILL_WITH_MODE``).
    Default tie: ``MINIMUM``."""

    action: Literal["fill_with_mode"] = "fill_with_mode"
    operation: ClassVar[str] = "FILL_WITH_MODE"
    tie: Literal["MINIMUM", "MAXIMUM", "AVERAGE", "NONE"] = "MINIMUM"

    def parameters(self, context: RecipeContext) -> dict[str, Any]:
        return {"sourceColumn": self.column, "modeType": self.tie}


class RemoveDuplicateRows(RecipeStep):
    """Delete rows that exactly repeat an earlier row (``DELETE_DUPLICATE_ROWS``)."""

    action: Literal["remove_duplicate_rows"] = "remove_duplicate_rows"
    operation: ClassVar[str] = "DELETE_DUPLICATE_ROWS"

    def parameters(self, context: RecipeContext) -> dict[str, Any]:
        return {}


class RemoveDuplicateValues(_SingleColumn):
    """Delete rows whose value in the column repeats an earlier row's (``REMOVE_DUPLICATES``)."""

    action: Literal["remove_duplicate_values"] = "remove_duplicate_values"
    operation: ClassVar[str] = "REMOVE_DUPLICATES"


class RemoveMissing(_SingleColumn):
    """Keep only rows whose value in the column is present (``REMOVE_MISSING``)."""

    action: Literal["remove_missing"] = "remove_missing"
    operation: ClassVar[str] = "REMOVE_MISSING"


class _Outliers(_SingleColumn):
    strategy: OutlierStrategy = "Z_SCORE"
    threshold: Threshold = 3.0

    def _detection(self) -> dict[str, Any]:
        return {"sourceColumn": self.column, "outlierStrategy": self.strategy, "threshold": self.threshold}


class _Trimmed(_Outliers):
    percentiles: Annotated[tuple[Percentile, Percentile], Field(strict=False)] | None = None

    @model_validator(mode="after")
    def _percentiles(self) -> Self:
        if self.percentiles is not None and self.percentiles[0] >= self.percentiles[1]:
            low, high = self.percentiles
            raise ValueError(f"percentiles [{low:g}, {high:g}]: the lower must be less than the upper")
        return self

    def _trim(self) -> dict[str, Any]:
        if self.percentiles is None:
            return {}
        return {"trimValue": True, "minValue": self.percentiles[0], "maxValue": self.percentiles[1]}


class FlagOutliers(_Outliers):
    """Add ``target_column`` holding ``true_string``/``false_string`` per row (``FLAG_OUTLIERS``).
    Defaults: Z-score above 3, ``"True"``/``"False"``."""

    action: Literal["flag_outliers"] = "flag_outliers"
    operation: ClassVar[str] = "FLAG_OUTLIERS"
    target_column: ColumnName
    true_string: str = "True"
    false_string: str = "False"

    @model_validator(mode="after")
    def _target(self) -> FlagOutliers:
        if self.target_column == self.column:
            raise ValueError("target_column must differ from column")
        return self

    def parameters(self, context: RecipeContext) -> dict[str, Any]:
        return {**self._detection(), "targetColumn": self.target_column,
                "trueString": self.true_string, "falseString": self.false_string}


class RemoveOutliers(_Trimmed):
    """Delete outlier rows or clear outlier values (``REMOVE_OUTLIERS``); with ``percentiles``
    only outliers outside them. Defaults: Z-score above 3, ``DELETE_ROWS``."""

    action: Literal["remove_outliers"] = "remove_outliers"
    operation: ClassVar[str] = "REMOVE_OUTLIERS"
    remove: Literal["DELETE_ROWS", "CLEAR"] = "DELETE_ROWS"

    def parameters(self, context: RecipeContext) -> dict[str, Any]:
        return {**self._detection(), "removeType": self.remove, **self._trim()}


class ReplaceOutliers(_Trimmed):
    """Replace outlier values (``REPLACE_OUTLIERS``). ``value`` is needed for ``REPLACE_WITH_CUSTOM``
    only; ``mode_tie`` applies to ``REPLACE_WITH_MODE`` only. Defaults: Z-score above 3, winsorize."""

    action: Literal["replace_outliers"] = "replace_outliers"
    operation: ClassVar[str] = "REPLACE_OUTLIERS"
    replace: Literal[
        "WINSORIZE_VALUES", "REPLACE_WITH_CUSTOM", "REPLACE_WITH_EMPTY", "REPLACE_WITH_NULL",
        "REPLACE_WITH_MODE", "REPLACE_WITH_AVERAGE", "REPLACE_WITH_MEDIAN", "REPLACE_WITH_SUM",
        "REPLACE_WITH_MAX",
    ] = "WINSORIZE_VALUES"
    value: str | None = None
    mode_tie: Literal["MIN", "MAX", "AVERAGE"] | None = None

    @model_validator(mode="after")
    def _replacement(self) -> ReplaceOutliers:
        if (self.replace == "REPLACE_WITH_CUSTOM") != (self.value is not None):
            raise ValueError("value is required with replace REPLACE_WITH_CUSTOM and allowed only with it")
        if self.mode_tie is not None and self.replace != "REPLACE_WITH_MODE":
            raise ValueError("mode_tie is allowed only with replace REPLACE_WITH_MODE")
        return self

    def parameters(self, context: RecipeContext) -> dict[str, Any]:
        return {**self._detection(), "replaceType": self.replace, "value": self.value,
                "modeType": self.mode_tie, **self._trim()}


class RenameColumn(_SingleColumn):
    """Rename ``column`` to ``new_name`` (``RENAME``)."""

    action: Literal["rename"] = "rename"
    operation: ClassVar[str] = "RENAME"
    new_name: ColumnName

    @model_validator(mode="after")
    def _different(self) -> RenameColumn:
        if self.new_name == self.column:
            raise ValueError("new_name must differ from column")
        return self

    def parameters(self, context: RecipeContext) -> dict[str, Any]:
        return {"sourceColumn": self.column, "targetColumn": self.new_name}


class ChangeType(_SingleColumn):
    """Change the column's type; values that do not convert become NULL (``CHANGE_DATA_TYPE``)."""

    action: Literal["change_type"] = "change_type"
    operation: ClassVar[str] = "CHANGE_DATA_TYPE"
    to: Literal["byte", "short", "int", "long", "float", "double", "decimal", "string", "boolean", "timestamp", "date"]

    def parameters(self, context: RecipeContext) -> dict[str, Any]:
        return {"sourceColumn": self.column, "columnDataType": self.to}


#: Every step type, keyed in YAML by its ``action``.
AnyStep = Annotated[
    Union[
        DeleteColumns, MaskCustom, MaskRange, MaskDelimiter, MaskDate, HashColumns,
        DeterministicEncrypt, Encrypt, ReplaceWithRandomNumbers, ReplaceWithRandomDates, ShuffleRows,
        FillWithMedian, FillWithAverage, FillWithMode, RemoveDuplicateRows, RemoveDuplicateValues,
        RemoveMissing, FlagOutliers, RemoveOutliers, ReplaceOutliers, RenameColumn, ChangeType,
    ],
    Field(discriminator="action"),
]
