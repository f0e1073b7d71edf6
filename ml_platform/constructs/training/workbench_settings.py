"""Settings of the workbench: the SageMaker Studio domain, who may use it and how Canvas works.

Section ``workbench`` of ``config/<env>.yaml``::

    workbench:
      idle_timeout_minutes: 60
      users:
        alice: {persona: data_scientist}
        bob: {persona: ml_engineer}
        carol: {persona: analyst}
      canvas:
        workspace_prefix: canvas/
        model_registry: true
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from ml_platform.constructs.core.validation import StrictSettings
from ml_platform.constructs.lake.s3_grants import check_prefix

#: The personas a user profile can be bound to; each gives the profile its execution role.
Persona = Literal["data_scientist", "ml_engineer", "analyst"]
#: Personas whose roles the Training stack's ``SageMakerPersonas`` makes (the analyst's is the workbench's).
TRAINING_PERSONAS: tuple[Persona, ...] = ("data_scientist", "ml_engineer")
#: Minutes an idle JupyterLab or Code Editor app runs before SageMaker shuts it down (the API allows 60-525600).
DEFAULT_IDLE_TIMEOUT_MINUTES = 60
#: Size of a new private space's EBS volume, and the most a user may raise it to (GB, 5-16384).
DEFAULT_SPACE_EBS_GB = 5
DEFAULT_MAX_SPACE_EBS_GB = 100
#: Where Canvas keeps its workspace, in the lake's artifacts zone.
DEFAULT_CANVAS_PREFIX = "canvas/"

#: User profile names SageMaker accepts.
UserName = Annotated[str, Field(pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")]
IdleMinutes = Annotated[int, Field(ge=60, le=525600)]
EbsGb = Annotated[int, Field(ge=5, le=16384)]


class WorkbenchUser(StrictSettings):
    """One person of the domain.

    :ivar persona: ``data_scientist`` or ``ml_engineer`` (the Training stack's persona roles,
        which need ``training.personas``) or ``analyst`` (Canvas, the workbench's own role).
    """

    persona: Persona


class CanvasSettings(StrictSettings):
    """Canvas for the domain's users (analysts sign in to it).

    Direct deployment from Canvas is always off: models reach endpoints only through the registry.

    :ivar workspace_prefix: key prefix of Canvas's workspace in the lake's artifacts zone,
        encrypted with the lake key. Default: :data:`DEFAULT_CANVAS_PREFIX` (``canvas/``).
    :ivar model_registry: whether Canvas users may register models into the platform's model
        package groups (the hand-off to ML engineers). Default: True.
    :ivar time_series: whether Canvas's time series forecasting is on. Default: False.
    """

    workspace_prefix: Annotated[str, Field(min_length=1), AfterValidator(check_prefix)] = DEFAULT_CANVAS_PREFIX
    model_registry: bool = True
    time_series: bool = False


class WorkbenchSettings(StrictSettings):
    """The Studio domain (IAM sign-in, VPC only, in the platform's isolated subnets).

    :ivar users: a user profile per person, by profile name. Default: none.
    :ivar idle_timeout_minutes: JupyterLab and Code Editor apps idle this long are shut down;
        users may choose a shorter time but not a longer one. 60-525600. Default:
        :data:`DEFAULT_IDLE_TIMEOUT_MINUTES` (60).
    :ivar space_ebs_gb: EBS volume of a new private space. Default: :data:`DEFAULT_SPACE_EBS_GB` (5).
    :ivar max_space_ebs_gb: the most a user may grow it to, at least ``space_ebs_gb``. Default:
        :data:`DEFAULT_MAX_SPACE_EBS_GB` (100).
    :ivar canvas: see :class:`CanvasSettings`. Default: ``CanvasSettings()``.
    """

    users: Annotated[dict[UserName, WorkbenchUser], Field(strict=False)] = {}
    idle_timeout_minutes: IdleMinutes = DEFAULT_IDLE_TIMEOUT_MINUTES
    space_ebs_gb: EbsGb = DEFAULT_SPACE_EBS_GB
    max_space_ebs_gb: EbsGb = DEFAULT_MAX_SPACE_EBS_GB
    canvas: CanvasSettings = CanvasSettings()

    @model_validator(mode="after")
    def _ebs_range(self) -> WorkbenchSettings:
        if self.max_space_ebs_gb < self.space_ebs_gb:
            raise ValueError(f"max_space_ebs_gb {self.max_space_ebs_gb} is below space_ebs_gb {self.space_ebs_gb}; "
                             "allowed: at least space_ebs_gb")
        return self

    def personas(self) -> set[Persona]:
        """The personas the users are bound to."""
        return {user.persona for user in self.users.values()}
