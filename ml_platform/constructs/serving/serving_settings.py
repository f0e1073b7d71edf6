"""Settings of the ``serving`` section: endpoints and batch transforms, and what each one runs.

What runs is either a version of a registry model (``model`` and ``version``: a number, or
``approved`` for the version most recently approved in the environment's registry, read at each
deploy) or containers given directly (``containers``: an image of a platform repository or a built-in algorithm, and
model data in the lake), chained as a serial inference pipeline when there are several.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, PlainValidator, model_validator

from ml_platform.constructs.serving.batch_transform import JOB_PREFIX_MAX, TransformSettings
from ml_platform.constructs.serving.endpoint_settings import (
    ChallengerSettings,
    EndpointSettings,
    EnvironmentName,
    EnvironmentValue,
    VariantName,
)
from ml_platform.constructs.training.sagemaker_roles import LakeObject
from ml_platform.constructs.serving.serving_model import MAX_CONTAINERS
from ml_platform.constructs.training.sagemaker_images import builtin_image
from ml_platform.constructs.core.validation import StrictSettings
from ml_platform.constructs.training.training_settings import ModelName, RepositoryName, TrainingSettings

#: ``version: approved``: serve what the environment's registry last approved (see :class:`ModelChoice`).
APPROVED = "approved"


def _served_version(value: object) -> int | str:
    """A version number (1 or more) or :data:`APPROVED`; one error line for anything else."""
    if value == APPROVED:
        return APPROVED
    if type(value) is int and value >= 1:
        return value
    if type(value) is int:
        raise ValueError("input should be greater than or equal to 1")  # as pydantic says it of other numbers
    raise ValueError(f"give a registry version number (1 or more) or {APPROVED!r}")


#: ``version``: a registry version number or ``approved``.
ServedVersion = Annotated[int | Literal["approved"], PlainValidator(_served_version)]

#: Endpoint names are ``<prefix>-<env>-<key>``; SageMaker allows 63 characters.
EndpointKey = Annotated[str, Field(pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,30}$")]
class ServedContainer(StrictSettings):
    """One container: an image of a platform repository (``repository`` and ``tag``) or of a
    built-in algorithm (``algorithm`` and ``algorithm_version``, resolved for the region by the
    SageMaker SDK), with optional model data.

    :ivar repository: a key of ``training.repositories``; the inference role must list it in ``images``.
    :ivar tag: the image tag (tags are immutable in platform repositories).
    :ivar algorithm: e.g. ``xgboost``, ``linear-learner``.
    :ivar algorithm_version: e.g. ``1.7-1``.
    :ivar model_data: the model artifacts (``.tar.gz``); the inference role must read them.
        Default: none.
    :ivar environment: variables of this container. Default: none.
    """

    repository: RepositoryName | None = None
    tag: Annotated[str, Field(pattern=r"^[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,127}$")] | None = None
    algorithm: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")] | None = None
    algorithm_version: Annotated[str, Field(pattern=r"^[a-zA-Z0-9._-]{1,64}$")] | None = None
    model_data: LakeObject | None = None
    environment: Annotated[dict[EnvironmentName, EnvironmentValue], Field(max_length=100)] = {}

    @model_validator(mode="after")
    def _one_image(self) -> ServedContainer:
        own = self.repository is not None or self.tag is not None
        builtin = self.algorithm is not None or self.algorithm_version is not None
        if own == builtin or (own and None in (self.repository, self.tag)) or (
                builtin and None in (self.algorithm, self.algorithm_version)):
            raise ValueError("give repository and tag (a platform image) or algorithm and algorithm_version "
                             "(a built-in image), not both and not one of a pair")
        return self


class ModelChoice(StrictSettings):
    """What runs: ``version`` of the registry model, or ``containers``; exactly one.

    :ivar version: the approved model package version (a number: change it to deploy another), or
        ``approved``: the package ARN the environment's promotion last wrote to the SSM parameter
        ``/<prefix>/<env>/models/<model>/approved-package`` (see
        :class:`~ml_platform.constructs.training.promotion.ModelPromotion`), which CloudFormation
        reads at every deploy of the stack, so approving a version and deploying serves it through
        the endpoint's guardrails. Until a version has been approved the parameter does not exist
        and a deploy fails before changing anything. Default: none.
    :ivar containers: 1-15 containers, a serial inference pipeline when several.
    """

    version: ServedVersion | None = None
    containers: Annotated[tuple[ServedContainer, ...], Field(strict=False, max_length=MAX_CONTAINERS)] = ()

    @model_validator(mode="after")
    def _one_source(self) -> ModelChoice:
        if (self.version is None) == (not self.containers):
            raise ValueError("give version (a registry model version) or containers, not both and not neither")
        return self


class ServedChallenger(ModelChoice, ChallengerSettings):
    """A challenger variant (see :class:`ChallengerSettings`) and what it runs; a ``version`` is
    one of the endpoint's ``model``."""


class ServedModel(ModelChoice, EndpointSettings):
    """An endpoint (see :class:`EndpointSettings`) and what it runs (:class:`ModelChoice`).

    :ivar model: a model of the ``training`` section; needed with ``version``.
    :ivar challengers: as in :class:`EndpointSettings`, each with what it runs.
    """

    model: ModelName | None = None
    challengers: dict[VariantName, ServedChallenger] = {}

    @model_validator(mode="after")
    def _model_for_versions(self) -> ServedModel:
        versioned = [c for c in (self, *self.challengers.values()) if c.version is not None]
        if versioned and self.model is None:
            raise ValueError("give model, the registry model whose version is served")
        return self


class ScheduledScoring(ModelChoice, TransformSettings):
    """A batch transform (see :class:`TransformSettings`) and what it runs (:class:`ModelChoice`;
    with ``version: approved`` the model is replaced at each deploy, and later runs score with it).

    :ivar model: a model of the ``training`` section; needed with ``version``.
    """

    model: ModelName | None = None

    @model_validator(mode="after")
    def _model_for_version(self) -> ScheduledScoring:
        if self.version is not None and self.model is None:
            raise ValueError("give model, the registry model whose version scores")
        return self


class ServingSettings(StrictSettings):
    """:ivar endpoints: endpoint key (its name is ``<prefix>-<env>-<key>``) to what it serves.
        Default: none.
    :ivar batch: scheduled batch transforms, key (jobs are named ``<prefix>-<env>-<key>-<run>``)
        to what they score. Default: none.

    At least one endpoint or batch transform."""

    endpoints: dict[EndpointKey, ServedModel] = {}
    batch: dict[EndpointKey, ScheduledScoring] = {}

    @model_validator(mode="after")
    def _something_to_serve(self) -> ServingSettings:
        if not self.endpoints and not self.batch:
            raise ValueError("give at least one of endpoints and batch")
        return self

    def served(self) -> dict[str, ServedModel | ScheduledScoring]:
        """Every endpoint and batch transform by its key path, e.g. ``endpoints.churn``."""
        return {**{f"endpoints.{k}": e for k, e in self.endpoints.items()},
                **{f"batch.{k}": b for k, b in self.batch.items()}}

    def choices(self) -> dict[str, tuple[str | None, ModelChoice]]:
        """Every model choice by key path (``endpoints.churn``, ``endpoints.churn.challengers.b``)
        with the registry model its ``version`` refers to."""
        found: dict[str, tuple[str | None, ModelChoice]] = {}
        for path, served in self.served().items():
            found[path] = (served.model, served)
            for name, challenger in getattr(served, "challengers", {}).items():
                found[f"{path}.challengers.{name}"] = (served.model, challenger)
        return found

    def problems_with(self, training: TrainingSettings | None, name_prefix: str, region: str) -> list[str]:
        """``serving.<key path>: <problem>`` for what the ``training`` section must provide, for
        built-in images the SageMaker SDK does not list in ``region``, and for names that grow
        too long with ``name_prefix`` (``<prefix>-<env>``)."""
        if training is None or "inference" not in training.roles:
            return ["serving: needs training.roles.inference, the models' execution role"]
        role = training.roles["inference"]
        problems = [f"serving.endpoints.{key}: endpoint name '{name_prefix}-{key}' is longer than 63 characters; use a "
                    "shorter key" for key in self.endpoints if len(f"{name_prefix}-{key}") > 63]
        problems += [f"serving.batch.{key}: job name prefix '{name_prefix}-{key}' is longer than {JOB_PREFIX_MAX} "
                     "characters; use a shorter key" for key in self.batch if len(f"{name_prefix}-{key}") > JOB_PREFIX_MAX]
        for path, (model, choice) in self.choices().items():
            if choice.version is not None and model not in training.models:
                problems.append(f"serving.{path}.model: {model!r} is not in training.models "
                                f"({', '.join(training.models)})")
            for index, container in enumerate(choice.containers):
                where = f"serving.{path}.containers[{index}]"
                if container.repository is not None and container.repository not in role.images:
                    problems.append(f"{where}.repository: {container.repository!r} is not in "
                                    f"training.roles.inference.images ({', '.join(role.images) or 'none'})")
                if container.algorithm is not None:
                    problems += _builtin_image_problems(where, container.algorithm, container.algorithm_version, region)
        return problems


def _builtin_image_problems(where: str, algorithm: str, version: str | None, region: str) -> list[str]:
    try:
        builtin_image(algorithm, region, version)
    except FileNotFoundError:  # the SDK keeps one JSON file per algorithm
        return [f"{where}.algorithm: the SageMaker SDK knows no built-in algorithm {algorithm!r}"]
    except ValueError as error:  # e.g. "Unsupported xgboost version: 9.9. ... Supported xgboost version(s): ..."
        supported = str(error).splitlines()[0].rpartition("Supported ")[2].rstrip(".")
        return [f"{where}: the SageMaker SDK has no image of {algorithm} "
                f"{version!r} in {region}; supported {supported or 'versions: see the SDK'}"]
    return []
