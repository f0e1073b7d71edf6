"""Settings of the ``training`` section: image repositories, registered models, approval notices."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from ml_platform.constructs.image_repositories import RepositorySettings
from ml_platform.constructs.pipeline_alerts import AlertSettings
from ml_platform.constructs.validation import StrictSettings

RepositoryName = Annotated[str, Field(pattern=r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$", max_length=100)]
ModelName = Annotated[str, Field(pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,40}$")]


class TrainingSettings(StrictSettings):
    """:ivar repositories: ECR repositories for custom images, name to settings. Default: none.
    :ivar models: models with a package group in the registry. At least one.
    :ivar approvals: who is emailed approval decisions. Default: nobody."""

    repositories: dict[RepositoryName, RepositorySettings] = {}
    models: Annotated[tuple[ModelName, ...], Field(strict=False, min_length=1)]
    approvals: AlertSettings = AlertSettings()
