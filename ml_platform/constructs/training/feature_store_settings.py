"""Settings of the ``training.feature_store`` section: one SageMaker feature group per feature set.

A feature set either lists its features (data written by something outside the platform's
pipelines, through ``PutRecord``) or names a training pipeline (``pipeline: <model>``), whose
``features`` it is derived from by :func:`derive_feature_set` and whose Features step ingests it
(``ml_platform/jobs/training_pipeline/ingest.py``). Every set has an offline store (Iceberg, in
the lake's curated zone, registered in the curated Glue database); an online store is optional.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import Field, model_validator

from ml_platform.constructs.core.validation import StrictSettings
from ml_platform.constructs.preparation.feature_settings import FeatureSettings

#: A feature name as Feature Store accepts it (CreateFeatureGroup, FeatureDefinition.FeatureName).
FEATURE_NAME_PATTERN = r"^[a-zA-Z0-9]([-_]*[a-zA-Z0-9]){0,63}$"
#: Names Feature Store adds to every offline record, so no feature may take them.
RESERVED_FEATURE_NAMES = ("is_deleted", "write_time", "api_invocation_time")
#: Default name of the event time feature (an ISO-8601 string: the Iceberg table format needs String).
DEFAULT_EVENT_TIME = "event_time"
#: Feature definitions a feature group takes at most (AWS::SageMaker::FeatureGroup FeatureDefinitions).
MAX_FEATURES = 2500
FeatureName = Annotated[str, Field(pattern=FEATURE_NAME_PATTERN)]
FeatureType = Literal["Integral", "Fractional", "String"]
#: Feature set names: lower case (the group name ``<name_prefix>-<set>`` is in its ARN, and the Glue
#: table name is lower case), digits and hyphens, at most 41 characters like model names.
FeatureSetName = Annotated[str, Field(pattern=r"^[a-z0-9](-*[a-z0-9]){0,40}$")]


class FeatureDefinition(StrictSettings):
    """One feature: ``name`` and ``type`` (``Integral``, ``Fractional`` or ``String``)."""

    name: FeatureName
    type: FeatureType


class OnlineStoreSettings(StrictSettings):
    """An online store (``Standard`` storage, encrypted with the lake key) for low-latency reads.

    :ivar ttl_hours: hours after a record's event time when the online store deletes it
        (``TtlDuration``). Default: none, records stay until overwritten or deleted.
    """

    ttl_hours: Annotated[int, Field(ge=1)] | None = None


class FeatureSetSettings(StrictSettings):
    """One feature group. Give ``features`` (with ``record_identifier``) or ``pipeline``.

    :ivar pipeline: derive the set from the ``features`` of this model's training pipeline
        (:func:`derive_feature_set`); its Features step ingests it. Default: none.
    :ivar record_identifier: the feature that identifies a record. With ``features``, required and
        one of them; with ``pipeline``, default the pipeline's ``features.join_on``.
    :ivar event_time: the event time feature, an ISO-8601 string (``yyyy-MM-ddTHH:mm:ssZ``). Added
        as a ``String`` feature when ``features`` does not list it. Default:
        :data:`DEFAULT_EVENT_TIME`.
    :ivar features: the features, in order (at most :data:`MAX_FEATURES`). Default: none.
    :ivar online: an online store. Default: none (offline store only).
    :ivar description: the feature group's description (at most 128 characters). Default: none.
    """

    pipeline: Annotated[str, Field(pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,40}$")] | None = None
    record_identifier: FeatureName | None = None
    event_time: FeatureName = DEFAULT_EVENT_TIME
    features: Annotated[tuple[FeatureDefinition, ...], Field(strict=False, max_length=MAX_FEATURES)] = ()
    online: OnlineStoreSettings | None = None
    description: Annotated[str, Field(max_length=128)] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> FeatureSetSettings:
        if (self.pipeline is None) == (not self.features):
            raise ValueError("give exactly one of features (with record_identifier) and pipeline (a training "
                             "pipeline whose features the set is derived from)")
        if self.pipeline is not None:
            return self
        names = [f.name for f in self.features]
        problems = []
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            problems.append(f"features list {', '.join(twice)} twice")
        reserved = [n for n in names if n in RESERVED_FEATURE_NAMES]
        if reserved:
            problems.append(f"features {', '.join(reserved)} take names Feature Store reserves "
                            f"({', '.join(RESERVED_FEATURE_NAMES)})")
        if self.record_identifier is None:
            problems.append("record_identifier is missing; name the feature that identifies a record")
        elif self.record_identifier not in names:
            problems.append(f"record_identifier {self.record_identifier!r} is not one of features")
        types = {f.name: f.type for f in self.features}
        if types.get(self.event_time, "String") != "String":
            problems.append(f"event_time {self.event_time!r} has type {types[self.event_time]}; the Iceberg "
                            "offline store needs String (ISO-8601)")
        if self.event_time == self.record_identifier:
            problems.append("event_time and record_identifier name the same feature")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def definitions(self) -> tuple[FeatureDefinition, ...]:
        """The features with the event time feature (a ``String``) added if they do not list it.

        :raises ValueError: for a set that names a ``pipeline`` (derive it first).
        """
        if self.pipeline is not None:
            raise ValueError(f"feature set of pipeline {self.pipeline!r} has no features yet; derive it with "
                             "FeatureStoreSettings.resolve or derive_feature_set")
        if any(f.name == self.event_time for f in self.features):
            return self.features
        return (*self.features, FeatureDefinition(name=self.event_time, type="String"))


def derive_feature_set(features: FeatureSettings, settings: FeatureSetSettings | None = None) -> FeatureSetSettings:
    """The feature set of a training pipeline's ``features``: one record per key.

    Mapping: the record identifier (``settings.record_identifier``, default ``features.join_on``)
    is a ``String``; the label is ``Integral`` (0/1); a numeric feature (``encode: none``) is
    ``Fractional``; an encoded feature (``ordinal``/``one_hot``) is a ``String`` holding its
    category, before encoding (the Features step's ``schema.json`` encodes it the way the model
    reads it); the event time is a ``String``. Values are imputed as the Features step imputes them.

    :param settings: the set's ``online``, ``event_time``, ``description`` and
        ``record_identifier``. Default: none of them.
    :raises ValueError: in one line, naming each column that cannot be a feature name, a missing
        record identifier, or a name used twice.
    """
    record = settings.record_identifier if settings is not None else None
    record = record or features.join_on
    event_time = settings.event_time if settings is not None else DEFAULT_EVENT_TIME
    columns: list[tuple[str, FeatureType]] = []
    problems = []
    if record is None:
        problems.append("the pipeline's features have no join_on; give the feature set a record_identifier")
    else:
        columns.append((record, "String"))
    columns.append((features.label, "Integral"))
    for feature in features.features:
        if feature.column != record:
            columns.append((feature.column, "Fractional" if feature.encode == "none" else "String"))
    columns.append((event_time, "String"))
    names = [n for n, _ in columns]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        problems.append(f"{', '.join(twice)} would be two features (record identifier, label, features and "
                        "event_time need distinct names)")
    bad = [n for n in names if re.fullmatch(FEATURE_NAME_PATTERN, n) is None or n in RESERVED_FEATURE_NAMES]
    if bad:
        problems.append(f"columns {', '.join(bad)} cannot be feature names (letters and digits, '-' or '_' between "
                        f"them, at most 64 characters; not {', '.join(RESERVED_FEATURE_NAMES)})")
    if problems:
        raise ValueError("; ".join(problems))
    return FeatureSetSettings(
        record_identifier=record, event_time=event_time,
        features=tuple(FeatureDefinition(name=n, type=t) for n, t in columns),
        online=settings.online if settings is not None else None,
        description=settings.description if settings is not None else None,
    )


class FeatureStoreSettings(StrictSettings):
    """The ``training.feature_store`` section.

    :ivar feature_sets: feature set name to settings; at least one. The feature group is named
        ``<name_prefix>-<set>``.
    """

    feature_sets: Annotated[dict[FeatureSetName, FeatureSetSettings], Field(min_length=1)]

    def resolve(self, pipelines: Mapping[str, FeatureSettings | None]) -> dict[str, FeatureSetSettings]:
        """Every set with its features: a ``pipeline`` set derived from ``pipelines[model]`` (the
        training pipelines' ``features``, by model).

        :raises ValueError: in one line, naming each set whose pipeline is unknown, has no
            ``features``, or does not map to a feature group.
        """
        resolved: dict[str, FeatureSetSettings] = {}
        problems = []
        for name, feature_set in self.feature_sets.items():
            source = pipelines.get(feature_set.pipeline) if feature_set.pipeline is not None else None
            if feature_set.pipeline is None:
                resolved[name] = feature_set
            elif feature_set.pipeline not in pipelines:
                problems.append(f"feature_sets.{name}.pipeline {feature_set.pipeline!r} is not a training pipeline "
                                f"({', '.join(sorted(pipelines)) or 'none'})")
            elif source is None:
                problems.append(f"feature_sets.{name}.pipeline {feature_set.pipeline!r} reads ready input, not "
                                "features; only a pipeline with features feeds a feature set")
            else:
                try:
                    resolved[name] = derive_feature_set(source, feature_set)
                except ValueError as error:
                    problems.append(f"feature_sets.{name}: {error}")
        fed = [s.pipeline for s in self.feature_sets.values() if s.pipeline is not None]
        problems += [f"pipeline {p!r} feeds several feature sets; give it one" for p in sorted(set(fed))
                     if fed.count(p) > 1]
        if problems:
            raise ValueError("; ".join(problems))
        return resolved
