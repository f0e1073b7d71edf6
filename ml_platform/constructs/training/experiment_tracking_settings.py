"""Settings of the ``training.experiment_tracking`` section: a SageMaker managed MLflow tracking server.

Example (``config/<env>.yaml``)::

    training:
      experiment_tracking:
        size: Small
        weekly_maintenance_window_start: "Sun:03:00"
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator

from ml_platform.constructs.core.validation import StrictSettings
from ml_platform.constructs.lake.s3_grants import check_prefix

TrackingServerSize = Literal["Small", "Medium", "Large"]
#: Size of the tracking server; AWS recommends Small for teams of up to 25 users.
DEFAULT_SIZE: TrackingServerSize = "Small"
#: Prefix of the lake's artifacts zone that holds the runs' artifacts.
DEFAULT_ARTIFACT_PREFIX = "mlflow/"

# The patterns of AWS::SageMaker::MlflowTrackingServer (CloudFormation resource schema).
_VERSION = re.compile(r"^\d+(\.\d+)+$")
_WINDOW = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun):([01]\d|2[0-3]):([0-5]\d)$")


def _version(value: str) -> str:
    if not _VERSION.match(value) or len(value) > 32:
        raise ValueError(f"{value!r} is not an MLflow version such as '2.16'")
    return value


def _window(value: str) -> str:
    if not _WINDOW.match(value):
        raise ValueError(f"{value!r} is not a weekly UTC start such as 'Sun:03:00' (Mon-Sun, 00:00-23:59)")
    return value


def _artifact_prefix(value: str) -> str:
    if not value:
        raise ValueError("the tracking server needs a prefix of its own, e.g. 'mlflow/', not the whole zone")
    return check_prefix(value)


class ExperimentTrackingSettings(StrictSettings):
    """The environment's MLflow tracking server.

    :ivar size: ``Small``, ``Medium`` or ``Large``. Default: ``Small`` (:data:`DEFAULT_SIZE`).
    :ivar mlflow_version: MLflow version of the server, e.g. ``2.16``. Default: the version
        SageMaker chooses when it creates the server.
    :ivar automatic_model_registration: also register models logged to MLflow's registry in the
        SageMaker Model Registry (the server's role may then create model package groups and
        versions). Default: False: the training pipeline registers evaluated versions for approval.
    :ivar weekly_maintenance_window_start: ``Day:HH:MM`` in UTC, e.g. ``Sun:03:00``. Default: the
        window SageMaker chooses.
    :ivar artifact_prefix: prefix of the lake's artifacts zone for the runs' artifacts.
        Default: ``mlflow/`` (:data:`DEFAULT_ARTIFACT_PREFIX`).
    """

    size: TrackingServerSize = DEFAULT_SIZE
    mlflow_version: Annotated[str, AfterValidator(_version)] | None = None
    automatic_model_registration: bool = False
    weekly_maintenance_window_start: Annotated[str, AfterValidator(_window)] | None = None
    artifact_prefix: Annotated[str, AfterValidator(_artifact_prefix)] = DEFAULT_ARTIFACT_PREFIX
