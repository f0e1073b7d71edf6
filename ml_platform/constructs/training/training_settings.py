"""Settings of the ``training`` section: image repositories, registered models, approval notices."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from ml_platform.constructs.training.experiment_tracking_settings import ExperimentTrackingSettings
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
        ``sagemaker_experiments`` in ``network.interface_endpoints``. Default: none."""

    repositories: dict[RepositoryName, RepositorySettings] = {}
    models: Annotated[tuple[ModelName, ...], Field(strict=False, min_length=1)]
    roles: dict[Activity, RoleSettings] = {}
    permissions_boundary: Annotated[str, Field(pattern=r"^[\w+=,.@-]{1,128}$")] | None = None
    personas: PersonaSettings | None = None
    pipelines: Annotated[tuple[PipelineSettings, ...], Field(strict=False)] = ()
    experiment_tracking: ExperimentTrackingSettings | None = None

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
        if problems:
            raise ValueError("; ".join(problems))
        return self
