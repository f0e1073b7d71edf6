"""Settings of Model Monitor: the monitoring types offered, their schedules, baselines and alarms.

Data quality, model quality and bias are offered; explainability (feature attribution drift) is
not, and a setting of it is refused with :data:`EXPLAINABILITY_NOT_OFFERED` (docs/monitoring.md,
"Why no explainability monitoring"). Schedules are the shapes Model Monitor accepts (``hourly``, ``daily``, ``every N hours``, or the
equivalent ``cron(0 ...)`` expressions), checked before anything is synthesized; instance types
are the ones botocore's SageMaker model lists for processing jobs.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from ml_platform.constructs.serving.endpoint_settings import offered_instance_types
from ml_platform.constructs.training.sagemaker_roles import LakeLocation, LakeObject
from ml_platform.constructs.core.validation import StrictSettings

_CRON = re.compile(r"^cron\(0 (\*|(?P<hour>[01]?\d|2[0-3])(/(?P<every>[1-9]|1\d|2[0-4]))?) \? \* \* \*\)$")
_EVERY = re.compile(r"^every (?P<hours>[1-9]|1\d|2[0-4]) hours?$")


def monitoring_cron(value: str) -> str:
    """The ``cron(...)`` expression of ``hourly``, ``daily``, ``every N hours`` or a cron that
    Model Monitor accepts; a ``ValueError`` naming the allowed shapes otherwise."""
    if value == "hourly":
        return "cron(0 * ? * * *)"
    if value == "daily":
        return "cron(0 0 ? * * *)"
    every = _EVERY.match(value)
    if every:
        return f"cron(0 0/{every['hours']} ? * * *)" if every["hours"] != "1" else "cron(0 * ? * * *)"
    if _CRON.match(value):
        return value
    raise ValueError(f"schedule {value!r} is not one Model Monitor runs; use hourly, daily, 'every N hours' "
                     "(N 1-24), cron(0 * ? * * *), cron(0 H ? * * *) or cron(0 H/N ? * * *)")


def interval_hours(cron: str) -> int:
    """Hours between two runs of a schedule :func:`monitoring_cron` accepted."""
    match = _CRON.match(cron)
    assert match, cron
    if match["hour"] is None:
        return 1
    return int(match["every"]) if match["every"] else 24


def _schedule(value: str) -> str:
    monitoring_cron(value)
    return value


def _processing_instance_type(value: str) -> str:
    if value not in offered_instance_types("ProcessingInstanceType"):
        raise ValueError(f"instance type {value!r} is not offered by SageMaker for processing (monitoring) jobs")
    return value


MonitorSchedule = Annotated[str, AfterValidator(_schedule)]
ColumnName = Annotated[str, Field(min_length=1, max_length=256)]
#: Names of metrics and features as Model Monitor publishes them to CloudWatch.
METRIC_NAME_PATTERN = r"^[A-Za-z0-9_.\-]{1,200}$"
MetricName = Annotated[str, Field(pattern=METRIC_NAME_PATTERN)]
Scalar = str | int | float


class MonitorJob(StrictSettings):
    """How and when one monitoring type runs.

    :ivar schedule: ``hourly``, ``daily`` (00:00 UTC), ``every N hours`` or a Model Monitor cron.
        Default: daily.
    :ivar instance_type: a processing instance type. Default: ``ml.m5.xlarge``.
    :ivar instance_count: Default: 1.
    :ivar volume_size_gb: Default: 30.
    :ivar max_runtime_minutes: at most the time between two runs. Default: 60.
    :ivar constraints: the baseline constraints file in the lake (must exist before the deploy).
    """

    schedule: MonitorSchedule = "daily"
    instance_type: Annotated[str, AfterValidator(_processing_instance_type)] = "ml.m5.xlarge"
    instance_count: Annotated[int, Field(ge=1, le=100)] = 1
    volume_size_gb: Annotated[int, Field(ge=1, le=16384)] = 30
    max_runtime_minutes: Annotated[int, Field(ge=1, le=1440)] = 60
    constraints: LakeObject

    @model_validator(mode="after")
    def _runtime_fits(self) -> MonitorJob:
        hours = interval_hours(monitoring_cron(self.schedule))
        if self.max_runtime_minutes > hours * 60:
            raise ValueError(f"max_runtime_minutes {self.max_runtime_minutes} exceeds the {hours * 60} minutes "
                             f"between two runs of schedule {self.schedule!r}")
        return self

    @property
    def cron(self) -> str:
        return monitoring_cron(self.schedule)


class DataQuality(MonitorJob):
    """Live inputs against the training data's statistics.

    :ivar statistics: the baseline statistics file in the lake (must exist before the deploy).
    :ivar drift_alarms: feature name to the ``feature_baseline_drift_<feature>`` value (0-1) above
        which an alarm fires. Default: none (violations still notify).
    :ivar headers: the column names of the captured CSV requests, in order (the features, no
        label); the processing engine needs them (``monitoring.engine``). Default: none.
    """

    statistics: LakeObject
    drift_alarms: dict[MetricName, Annotated[float, Field(gt=0, le=1, strict=False)]] = {}
    headers: Annotated[tuple[MetricName, ...], Field(strict=False)] = ()


class MetricAlarm(StrictSettings):
    """Alarm when a published metric is ``below`` or ``above`` a value (exactly one)."""

    below: Annotated[float, Field(strict=False)] | None = None
    above: Annotated[float, Field(strict=False)] | None = None

    @model_validator(mode="after")
    def _one_bound(self) -> MetricAlarm:
        if (self.below is None) == (self.above is None):
            raise ValueError("give below or above, exactly one")
        return self


class ModelQuality(MonitorJob):
    """Predictions against ground truth labels that arrive later in the lake.

    :ivar problem_type: ``BinaryClassification``, ``MulticlassClassification`` or ``Regression``.
    :ivar inference_attribute: where the prediction is in the response (index or JSON path).
    :ivar probability_attribute: where the probability is (classification only). Default: none.
    :ivar probability_threshold: above it a probability means the positive class (binary only).
        Default: none.
    :ivar ground_truth: where the labels are merged from (``<prefix>yyyy/mm/dd/hh/``). Default: the
        location the endpoint's feedback loop writes (``feedback`` of :class:`MonitorSettings`).
    :ivar metric_alarms: metric (``auc``, ``accuracy``, ``f1``, ``rmse``, ...) to its alarm bound.
        Default: none.
    """

    problem_type: Literal["BinaryClassification", "MulticlassClassification", "Regression"]
    inference_attribute: Annotated[str, Field(min_length=1, max_length=256)]
    probability_attribute: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    probability_threshold: Annotated[float, Field(ge=0, le=1, strict=False)] | None = None
    ground_truth: LakeLocation | None = None
    metric_alarms: dict[MetricName, MetricAlarm] = {}

    @model_validator(mode="after")
    def _attributes(self) -> ModelQuality:
        if self.problem_type == "Regression" and (self.probability_attribute or self.probability_threshold is not None):
            raise ValueError("Regression has no probability_attribute or probability_threshold")
        if self.probability_threshold is not None and self.problem_type != "BinaryClassification":
            raise ValueError("probability_threshold is for BinaryClassification only")
        if self.probability_threshold is not None and self.probability_attribute is None:
            raise ValueError("probability_threshold needs probability_attribute")
        return self


class Facet(StrictSettings):
    """A sensitive column and the group bias is measured against (values, or a numeric threshold).

    :ivar column: a column of ``headers``.
    :ivar values: the sensitive group's values (or ``[threshold]`` for a numeric column).
        Default: every value on its own.
    """

    column: ColumnName
    values: Annotated[tuple[Scalar, ...], Field(strict=False)] = ()


class Bias(MonitorJob):
    """Post-training bias of predictions against ground truth, by Clarify.

    :ivar ground_truth: where the labels are merged from. Default: the location the endpoint's
        feedback loop writes.
    :ivar headers: the dataset's columns, the label last.
    :ivar label: the label column, one of ``headers``.
    :ivar positive_label_values: label values that mean the positive outcome.
    :ivar facets: sensitive columns, at least one.
    :ivar probability_threshold: above it a predicted probability is the positive label. Default: 0.5.
    """

    ground_truth: LakeLocation | None = None
    headers: Annotated[tuple[ColumnName, ...], Field(strict=False, min_length=2)]
    label: ColumnName
    positive_label_values: Annotated[tuple[Scalar, ...], Field(strict=False, min_length=1)]
    facets: Annotated[tuple[Facet, ...], Field(strict=False, min_length=1)]
    probability_threshold: Annotated[float, Field(ge=0, le=1, strict=False)] = 0.5

    @model_validator(mode="after")
    def _columns(self) -> Bias:
        unknown = [c for c in (self.label, *(f.column for f in self.facets)) if c not in self.headers]
        if unknown:
            raise ValueError(f"columns {', '.join(map(repr, unknown))} are not in headers ({', '.join(self.headers)})")
        if self.headers[-1] != self.label:
            raise ValueError(f"the label {self.label!r} must be the last of headers")
        return self

    def analysis_config(self) -> dict[str, Any]:
        """Clarify's analysis configuration for bias monitoring (documented parameters)."""
        return {
            "version": "1.0",
            "headers": list(self.headers),
            "label": self.label,
            "label_values_or_threshold": list(self.positive_label_values),
            "facet": [{"name_or_index": f.column, **({"value_or_threshold": list(f.values)} if f.values else {})}
                      for f in self.facets],
            "methods": {"post_training_bias": {"methods": "all"}},
            "predictor": {"probability_threshold": self.probability_threshold},
        }


#: Default hours after a training pipeline execution starts before violations may start another.
DEFAULT_RETRAIN_COOLDOWN_HOURS = 24
#: Default days the feedback loop looks back for the captured request of a label.
DEFAULT_LOOKBACK_DAYS = 7


class FeedbackSettings(StrictSettings):
    """Labels that arrive after the prediction, merged with the captured requests every hour.

    Label files are JSON Lines, one object per prediction with its inference ID and its label:
    the output manifest of a Ground Truth labeling job whose input manifest carried the inference
    ID, or an export of a business system. The loop writes them as Model Monitor ground truth
    (what model quality and bias read) and, joined with the captured request, as label-first rows
    the model's next training run reads.

    :ivar labels: where label files land (written from outside the platform).
    :ivar id_attribute: the attribute holding the inference ID. Default: ``inference-id``.
    :ivar label_attribute: the attribute holding the label. Default: ``label``.
    :ivar lookback_days: how far back a label's captured request is looked for, 1-30.
        Default: :data:`DEFAULT_LOOKBACK_DAYS`.
    """

    labels: LakeLocation
    id_attribute: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,128}$")] = "inference-id"
    label_attribute: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,128}$")] = "label"
    lookback_days: Annotated[int, Field(ge=1, le=30)] = DEFAULT_LOOKBACK_DAYS


#: Why a setting of ``explainability`` is refused (one line; docs/monitoring.md says more).
EXPLAINABILITY_NOT_OFFERED = (
    "explainability monitoring is not offered: Clarify computes SHAP values on a shadow endpoint of the served "
    "model, which needs the model's name before the deploy creates it, plus network access and endpoint "
    "permissions the monitoring job does not have; remove the key and use data_quality, model_quality or bias "
    "(docs/monitoring.md#why-no-explainability-monitoring)"
)


class MonitorSettings(StrictSettings):
    """What is monitored on one endpoint; at least one type.

    :ivar data_quality: Default: off.
    :ivar model_quality: Default: off.
    :ivar bias: Default: off.
    :ivar explainability: not offered: any value is refused with
        :data:`EXPLAINABILITY_NOT_OFFERED`. Default: none.
    :ivar reports: where every execution writes its reports (``<prefix><endpoint>/<type>/``).
    :ivar retrain_on_violations: start the model's training pipeline when an execution finds
        violations, unless an execution of it is running or started less than
        ``retrain_cooldown_hours`` ago. Default: False.
    :ivar retrain_cooldown_hours: 0-720. Default: :data:`DEFAULT_RETRAIN_COOLDOWN_HOURS`.
    :ivar feedback: merge late labels with the captured requests. Default: none (then model
        quality and bias need their own ``ground_truth``).
    :ivar baselines_from_served_version: at each deploy, copy the baselines that the served model
        package version registered (the platform's training pipeline registers data quality
        statistics and constraints and model quality constraints) to the objects
        ``data_quality`` and ``model_quality`` name, before the deploy-time check. Needs an endpoint
        that serves a registry ``version``. Default: False (the objects are made by hand).
    """

    data_quality: DataQuality | None = None
    model_quality: ModelQuality | None = None
    bias: Bias | None = None
    # Kept as a key only to refuse it with the reason (``exclude``: not listed as an allowed key).
    explainability: None = Field(default=None, exclude=True)
    reports: LakeLocation
    retrain_on_violations: bool = False
    retrain_cooldown_hours: Annotated[int, Field(ge=0, le=720)] = DEFAULT_RETRAIN_COOLDOWN_HOURS
    feedback: FeedbackSettings | None = None
    baselines_from_served_version: bool = False

    @model_validator(mode="after")
    def _something(self) -> MonitorSettings:
        if not self.jobs():
            raise ValueError("give at least one of data_quality, model_quality, bias")
        blind = [kind for kind in ("model_quality", "bias")
                 if getattr(self, kind) is not None and getattr(self, kind).ground_truth is None]
        if blind and self.feedback is None:
            raise ValueError(f"{' and '.join(blind)} need ground truth: give feedback (labels merged by the "
                             "platform) or their ground_truth")
        return self

    @field_validator("explainability", mode="before")
    @classmethod
    def _not_offered(cls, value: object) -> None:
        if value is not None:
            raise ValueError(EXPLAINABILITY_NOT_OFFERED)
        return None

    def jobs(self) -> dict[str, MonitorJob]:
        """The enabled types by name, in a fixed order."""
        found = {"data_quality": self.data_quality, "model_quality": self.model_quality, "bias": self.bias}
        return {name: job for name, job in found.items() if job is not None}
