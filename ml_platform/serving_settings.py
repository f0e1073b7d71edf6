"""Settings of the ``serving`` section: real-time endpoints for approved model versions."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from ml_platform.constructs.batch_transform import TransformSettings
from ml_platform.constructs.endpoint_settings import EndpointSettings
from ml_platform.constructs.pipeline_alerts import AlertSettings
from ml_platform.constructs.validation import StrictSettings
from ml_platform.training_settings import ModelName

#: Endpoint names are ``<prefix>-<env>-<key>``; SageMaker allows 63 characters.
EndpointKey = Annotated[str, Field(pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,30}$")]


class ServedModel(EndpointSettings):
    """An endpoint serving ``version`` of ``model`` from the registry (see :class:`EndpointSettings`).

    :ivar model: a model of the ``training`` section.
    :ivar version: the approved model package version to serve; change it to deploy another.
    """

    model: ModelName
    version: Annotated[int, Field(ge=1)]


class ScheduledScoring(TransformSettings):
    """A batch transform of ``version`` of ``model`` on a schedule (see :class:`TransformSettings`).

    :ivar model: a model of the ``training`` section.
    :ivar version: the approved model package version that scores.
    """

    model: ModelName
    version: Annotated[int, Field(ge=1)]


class ServingSettings(StrictSettings):
    """:ivar endpoints: endpoint key (its name is ``<prefix>-<env>-<key>``) to what it serves.
        Default: none.
    :ivar batch: scheduled batch transforms, key (jobs are named ``<prefix>-<env>-<key>-<run>``)
        to what they score. Default: none.
    :ivar alerts: who is emailed when an endpoint's alarms change state. Default: nobody.

    At least one endpoint or batch transform."""

    endpoints: dict[EndpointKey, ServedModel] = {}
    batch: dict[EndpointKey, ScheduledScoring] = {}
    alerts: AlertSettings = AlertSettings()

    @model_validator(mode="after")
    def _something_to_serve(self) -> ServingSettings:
        if not self.endpoints and not self.batch:
            raise ValueError("give at least one of endpoints and batch")
        return self

    def served(self) -> dict[str, ServedModel | ScheduledScoring]:
        """Every endpoint and batch transform by its key path, e.g. ``endpoints.churn``."""
        return {**{f"endpoints.{k}": e for k, e in self.endpoints.items()},
                **{f"batch.{k}": b for k, b in self.batch.items()}}
