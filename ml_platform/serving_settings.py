"""Settings of the ``serving`` section: real-time endpoints for approved model versions."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

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


class ServingSettings(StrictSettings):
    """:ivar endpoints: endpoint key (its name is ``<prefix>-<env>-<key>``) to what it serves. At
        least one.
    :ivar alerts: who is emailed when an endpoint's alarms change state. Default: nobody."""

    endpoints: Annotated[dict[EndpointKey, ServedModel], Field(min_length=1)]
    alerts: AlertSettings = AlertSettings()
