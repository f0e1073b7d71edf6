"""Settings of the ``training`` section: image repositories, registered models, approval notices."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from ml_platform.constructs.training.experiment_tracking_settings import ExperimentTrackingSettings
from ml_platform.constructs.training.feature_store_settings import FeatureSetSettings, FeatureStoreSettings
from ml_platform.constructs.training.image_repositories import RepositorySettings
from ml_platform.constructs.training.sagemaker_roles import Activity, RoleSettings
from ml_platform.constructs.training.training_pipeline import PipelineSettings
from ml_platform.constructs.core.validation import StrictSettings

RepositoryName = Annotated[str, Field(pattern=r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$", max_length=100)]
ModelName = Annotated[str, Field(pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,40}$")]


class PersonaSettings(StrictSettings):
    """:ivar trusted_account: account whose people may assume the persona roles. Default: this one."""

    trusted_account: Annotated[str, Field(pattern=r"^\d{12}$")] | None = None


class TrainingSettings(StrictSettings):
    """:ivar repositories: ECR repositories for custom images, name to settings. Default: none.
    :ivar models: models with a package group in the registry. At least one.
    :ivar roles: execution roles to create, per activity (processing, training, inference,
        monitoring, pipeline), with what each may touch. Default: none.
    :ivar permissions_boundary: name of a customer-managed policy set as the permissions boundary
        of every execution and persona role. Default: none.
    :ivar personas: create the data scientist and ML engineer roles. Default: none.
    :ivar pipelines: training pipelines, one per model at most. Default: none.
    :ivar experiment_tracking: a managed MLflow tracking server (docs/experiment-tracking.md); needs
        ``sagemaker_experiments`` in ``network.interface_endpoints``. Every pipeline then logs each
        execution as an MLflow run (its Track step). Default: none.
    :ivar feature_store: feature groups, one per feature set (docs/feature-store.md); a set with
        ``pipeline: <model>`` is derived from that pipeline's ``features`` and fed by its Ingest
        step, which needs ``featurestore_runtime`` in ``network.interface_endpoints``. Needs
        ``data_catalog`` (the curated Glue database holds the offline stores' tables). Default: none."""

    repositories: dict[RepositoryName, RepositorySettings] = {}
    models: Annotated[tuple[ModelName, ...], Field(strict=False, min_length=1)]
    roles: dict[Activity, RoleSettings] = {}
    permissions_boundary: Annotated[str, Field(pattern=r"^[\w+=,.@-]{1,128}$")] | None = None
    personas: PersonaSettings | None = None
    pipelines: Annotated[tuple[PipelineSettings, ...], Field(strict=False)] = ()
    experiment_tracking: ExperimentTrackingSettings | None = None
    feature_store: FeatureStoreSettings | None = None

    @model_validator(mode="after")
    def _images_exist(self) -> TrainingSettings:
        unknown = sorted({i for r in self.roles.values() for i in r.images if i not in self.repositories})
        if unknown:
            raise ValueError(f"roles name images {', '.join(unknown)} that are not in repositories")
        problems = [f"pipeline of {p.model!r}: the model is not in models" for p in self.pipelines if p.model not in self.models]
        problems += [f"pipeline of {p.model!r}: image {p.image!r} is not in repositories"
                     for p in self.pipelines if p.image and p.image not in self.repositories]
        missing = [a for a in ("processing", "training", "pipeline") if a not in self.roles]
        if self.pipelines and missing:
            problems.append(f"pipelines need the execution roles {', '.join(missing)} in roles")
        if self.experiment_tracking is None:
            problems += [f"pipeline of {p.model!r}: tracking {p.tracking!r} needs experiment_tracking"
                         for p in self.pipelines if p.tracking != "best_effort"]
        if self.feature_store is not None:
            problems += [f"feature_store.{p}" for p in self._feature_set_problems(self.feature_store)]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _feature_set_problems(self, store: FeatureStoreSettings) -> list[str]:
        """A set naming an unknown pipeline or one without features (:meth:`feature_sets`), or a
        ``record_identifier`` the pipeline's Features step does not keep (``join_on`` or a column
        of its first source)."""
        try:
            self.feature_sets()
        except ValueError as error:
            return [str(error)]
        problems = []
        features = {p.model: p.features for p in self.pipelines}
        for name, feature_set in store.feature_sets.items():
            source = features.get(feature_set.pipeline) if feature_set.pipeline is not None else None
            identifier = feature_set.record_identifier
            if source is None or identifier is None or identifier == source.join_on:
                continue
            base = source.sources[0].columns
            if identifier not in base:
                problems.append(f"feature_sets.{name}.record_identifier {identifier!r} is not join_on or a column of "
                                f"the first source {source.sources[0].dataset!r} of pipeline {feature_set.pipeline!r} "
                                f"({', '.join(base)})")
        return problems

    def feature_sets(self) -> dict[str, FeatureSetSettings]:
        """Every feature set of ``feature_store`` with its features, a ``pipeline`` set derived from
        that pipeline's ``features`` (:meth:`FeatureStoreSettings.resolve`). Empty without a feature store.

        :raises ValueError: in one line (see :meth:`FeatureStoreSettings.resolve`).
        """
        if self.feature_store is None:
            return {}
        return self.feature_store.resolve({p.model: p.features for p in self.pipelines})

    def fed_feature_sets(self) -> dict[str, str]:
        """The feature set each pipeline's Ingest step feeds, by model (pipelines of this settings only)."""
        sets = self.feature_store.feature_sets.items() if self.feature_store is not None else ()
        models = {p.model for p in self.pipelines}
        return {s.pipeline: name for name, s in sets if s.pipeline is not None and s.pipeline in models}
