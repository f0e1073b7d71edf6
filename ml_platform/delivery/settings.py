"""Typed settings of the delivery pipeline: ``config/delivery/pipeline.yaml``, validated on load.

A file that does not validate raises :class:`~ml_platform.config.ConfigError`, one line per problem:
``<file>: <key path>: <what is wrong> (got <value>)``. The file lives in a subfolder because
``config/*.yaml`` are the environment files.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationError

from ml_platform.config import (
    ENVIRONMENT_NAME,
    AccountId,
    ConfigError,
    EnvironmentConfig,
    NamePrefix,
    Region,
    _matching,
    read_yaml,
)
from ml_platform.constructs.core.validation import StrictSettings, describe_errors, public_fields

#: Where ``pipeline_app.py`` reads the pipeline's settings. Default path of :func:`load_delivery_settings`.
DEFAULT_SETTINGS_FILE = Path("config/delivery/pipeline.yaml")
#: The branch a connection source follows when ``source.branch`` is not given.
DEFAULT_BRANCH = "main"

_CONNECTION_ARN = re.compile(
    r"^arn:aws[a-z-]*:(codestar-connections|codeconnections):[a-z0-9-]+:\d{12}:connection/[0-9a-f-]{36}$"
)
_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_BRANCH = re.compile(r"^[A-Za-z0-9._/-]{1,255}$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_KEY = re.compile(r"^[^\s].{0,1023}$")


class ToolingSettings(StrictSettings):
    """The account and region the pipeline stack deploys to (the tooling account)."""

    account: AccountId
    region: Region


class ConnectionSource(StrictSettings):
    """A repository reached through an AWS CodeConnections (formerly CodeStar Connections) connection.

    :ivar branch: the branch whose pushes start the pipeline. Default: :data:`DEFAULT_BRANCH`.
    """

    connection_arn: Annotated[str, _matching(
        _CONNECTION_ARN,
        "must be a connection ARN, arn:aws:codeconnections:<region>:<account>:connection/<uuid> "
        "(or codestar-connections)")]
    repository: Annotated[str, _matching(_REPOSITORY, "must be owner/name, e.g. 'my-org/ml-platform'")]
    branch: Annotated[str, _matching(_BRANCH, "must be a branch name of letters, digits and . _ / -")] = DEFAULT_BRANCH


class S3Source(StrictSettings):
    """A zip of the repository as one S3 object of a versioned bucket in the tooling account."""

    bucket: Annotated[str, _matching(_BUCKET, "must be an S3 bucket name: 3-63 lower-case letters, digits, '.' or '-'")]
    key: Annotated[str, _matching(_KEY, "must be an S3 object key of 1-1024 characters, e.g. 'ml-platform.zip'")]


#: The keys that choose each kind of source.
SOURCE_KINDS: dict[type[StrictSettings], frozenset[str]] = {
    ConnectionSource: frozenset(public_fields(ConnectionSource)),
    S3Source: frozenset(public_fields(S3Source)),
}

EnvironmentName = Annotated[str, _matching(ENVIRONMENT_NAME, "must be an environment name, the stem of a config/<env>.yaml file")]


class DeliverySettings(StrictSettings):
    """The delivery pipeline: its name prefix, where it runs, what it builds and where it deploys.

    :ivar prefix: starts the pipeline's resource names (``<prefix>-delivery`` pipeline and event bus).
    :ivar tooling: the tooling account and region of the pipeline stack.
    :ivar source: a :class:`ConnectionSource` or an :class:`S3Source`.
    :ivar stages: environment names, in deploy order; each is a ``config/<env>.yaml`` file.
    """

    prefix: NamePrefix
    tooling: ToolingSettings
    source: ConnectionSource | S3Source
    stages: Annotated[tuple[EnvironmentName, ...], Field(strict=False, min_length=1)]

    def bus_arn(self, partition: str) -> str:
        """The ARN of the delivery event bus, ``<prefix>-delivery`` in the tooling account and region."""
        return f"arn:{partition}:events:{self.tooling.region}:{self.tooling.account}:event-bus/{self.event_bus_name}"

    @property
    def event_bus_name(self) -> str:
        """``<prefix>-delivery``: the bus environments forward approval events to."""
        return f"{self.prefix}-delivery"

    @property
    def pipeline_name(self) -> str:
        """``<prefix>-delivery``: the CodePipeline's name."""
        return f"{self.prefix}-delivery"

    def stage_problems(self, environments: Mapping[str, EnvironmentConfig]) -> list[str]:
        """``stages[<i>]: <problem>`` for each stage that is not an environment file, or repeats one."""
        problems = []
        for index, name in enumerate(self.stages):
            if name not in environments:
                problems.append(f"stages[{index}]: {name!r} is not an environment file; allowed: "
                                f"{', '.join(sorted(environments)) or 'none'} (config/<env>.yaml)")
            elif name in self.stages[:index]:
                problems.append(f"stages[{index}]: {name!r} is listed twice; each environment deploys once")
        return problems


def _source_kind(raw: Mapping[str, Any]) -> type[StrictSettings]:
    """The source model ``raw`` names by its keys: S3 when it has ``bucket`` or ``key``."""
    return S3Source if SOURCE_KINDS[S3Source] & set(raw) else ConnectionSource


def parse_delivery_settings(data: Any, where: str) -> DeliverySettings:
    """Validate ``data`` (the parsed YAML of ``where``) as :class:`DeliverySettings`.

    :raises ConfigError: one line per problem, each starting with ``where``.
    """
    if not isinstance(data, dict):
        raise ConfigError([f"{where}: expected a mapping of settings at the top level; allowed keys: "
                           f"{', '.join(public_fields(DeliverySettings))}"])
    problems: list[str] = []
    data = dict(data)
    raw_source = data.get("source")
    if isinstance(raw_source, dict):
        kind = _source_kind(raw_source)
        try:
            data["source"] = kind.model_validate(raw_source)
        except ValidationError as error:
            problems += [f"source.{p}" for p in describe_errors(error, kind)]
    elif raw_source is not None:
        problems.append(f"source: must be a mapping with connection_arn, repository, branch (a connection) or "
                        f"bucket, key (an S3 object) (got {raw_source!r})")
    try:
        settings = DeliverySettings.model_validate(data)
    except ValidationError as error:
        source_failed = bool(problems)  # already described, key by key
        problems += [p for p in describe_errors(error, DeliverySettings)
                     if not (source_failed and p.split(":")[0].split(".")[0] == "source")]
        raise ConfigError([f"{where}: {p}" for p in problems]) from None
    if problems:
        raise ConfigError([f"{where}: {p}" for p in problems])
    return settings


def load_delivery_settings(path: Path = DEFAULT_SETTINGS_FILE,
                           environments: Mapping[str, EnvironmentConfig] | None = None) -> DeliverySettings:
    """Read and validate the pipeline's settings file; with ``environments``, check its ``stages``.

    :raises ConfigError: one line per problem, each naming the file.
    """
    settings = parse_delivery_settings(read_yaml(path), str(path))
    if environments is not None:
        problems = settings.stage_problems(environments)
        if problems:
            raise ConfigError([f"{path}: {p}" for p in problems])
    return settings
