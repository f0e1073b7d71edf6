"""Typed environment configuration: one ``config/<env>.yaml`` per environment, validated on load.

A file that does not validate raises :class:`ConfigError`, whose message has one line per
problem: ``<file>: <key path>: <what is wrong> (got <value>)``. Every file of a directory is read
before raising, so that all problems show at once.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import AfterValidator, Field, ValidationError, model_validator

from ml_platform.constructs.core.governance_settings import GovernanceSettings
from ml_platform.constructs.training.studio_domain import REQUIRED_ENDPOINTS as STUDIO_ENDPOINTS
from ml_platform.constructs.training.workbench_settings import WorkbenchSettings
from ml_platform.constructs.lake.athena_workgroup import AthenaSettings
from ml_platform.constructs.lake.data_lake import DEFAULT_ACCESS_LOG_RETENTION_DAYS, lifecycle_problems
from ml_platform.constructs.lake.lake_access import Zone
from ml_platform.constructs.preparation.databrew_pipeline import DataBrewDatasetSettings
from ml_platform.constructs.preparation.dataset_pipeline import DatasetName, DatasetSettings
from ml_platform.constructs.lake.lake_locations import DAILY as PARTITION_KEYS
from ml_platform.constructs.lake.lake_lifecycle import LifecyclePolicy
from ml_platform.constructs.training.ml_network import NetworkSettings
from ml_platform.constructs.core.alerting import AlertSettings
from ml_platform.constructs.core.validation import StrictSettings, describe_errors, public_fields
from ml_platform.constructs.labeling.labeling_settings import LabelingSettings
from ml_platform.constructs.monitoring.monitoring_settings import MonitoringSection
from ml_platform.region_services import region_problems
from ml_platform.constructs.serving.serving_settings import ServingSettings
from ml_platform.constructs.training.training_settings import TrainingSettings


class ConfigError(Exception):
    """A configuration file is missing, unreadable or invalid; ``str()`` is one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


# -- identifiers ----------------------------------------------------------------------------------

ENVIRONMENT_NAME = re.compile(r"^[a-z][a-z0-9]{1,15}$")
_ACCOUNT = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-(central|north|south|east|west|northeast|northwest|southeast|southwest)-\d$")
_PREFIX = re.compile(r"^[a-z][a-z0-9-]{0,13}[a-z0-9]$")
# Tag values: up to 256 Unicode letters, digits, spaces and _ . : / = + - @ (AWS tagging rules).
_TAG_VALUE = re.compile(r"^[\w .:/=+\-@]{1,256}$")


def _matching(pattern: re.Pattern[str], allowed: str) -> AfterValidator:
    def check(value: str) -> str:
        if not pattern.match(value):
            raise ValueError(allowed)
        return value

    return AfterValidator(check)


AccountId = Annotated[
    str, _matching(_ACCOUNT, "must be a 12-digit AWS account ID in quotes, e.g. '111111111111'")
]
Region = Annotated[
    str, _matching(_REGION, "must be an AWS region code such as 'us-east-1' or 'eu-west-2'")
]
NamePrefix = Annotated[
    str,
    _matching(
        _PREFIX,
        "must be 2-15 lower-case letters, digits or '-', starting with a letter and not ending "
        "with '-' (it starts stack and resource names)",
    ),
]
TagValue = Annotated[
    str,
    _matching(
        _TAG_VALUE, "must be 1-256 letters, digits, spaces or _ . : / = + - @ (AWS tag values)"
    ),
]


# -- sections -------------------------------------------------------------------------------------


class Tags(StrictSettings):
    """Tags applied to every taggable resource of the environment."""

    project: TagValue
    environment: TagValue
    owner: TagValue
    cost_center: TagValue

    def as_aws_tags(self) -> dict[str, str]:
        """Tag keys as they appear on resources."""
        return {
            "Project": self.project,
            "Environment": self.environment,
            "Owner": self.owner,
            "CostCenter": self.cost_center,
        }


class DataLakeSettings(StrictSettings):
    """Settings of the environment's :class:`~ml_platform.constructs.lake.data_lake.DataLake`."""

    lifecycle: LifecyclePolicy = LifecyclePolicy()
    zone_lifecycle: dict[Annotated[Zone, Field(strict=False)], LifecyclePolicy] = {}
    access_log_retention_days: Annotated[int, Field(ge=1, le=36500)] = (
        DEFAULT_ACCESS_LOG_RETENTION_DAYS
    )

    def problems(self) -> list[str]:
        """``<key path>: <problem>`` for each archive storage class on a zone the platform reads."""
        return [f"data_lake.{p}" for p in lifecycle_problems(self.lifecycle, self.zone_lifecycle)]


class DataCatalogSettings(StrictSettings):
    """Glue catalog, per-dataset pipelines, DataBrew preparation and Athena."""

    datasets: Annotated[dict[DatasetName, DatasetSettings], Field(min_length=1)]
    databrew: dict[DatasetName, DataBrewDatasetSettings] = {}
    athena: AthenaSettings = AthenaSettings()

    @model_validator(mode="after")
    def _one_preparation_per_dataset(self) -> DataCatalogSettings:
        both = sorted(set(self.datasets) & set(self.databrew))
        if both:
            raise ValueError(
                f"{', '.join(both)} prepared by both Glue (datasets) and DataBrew (databrew); they "
                "would write the same prefix, keep one"
            )
        return self


class EnvironmentConfig(StrictSettings):
    """One environment: where it deploys, how it is named and tagged, and what it enables.

    :ivar requires_approval: whether the delivery pipeline (``pipeline_app.py``) waits for a
        manual approval before deploying this environment's stage. Default: false.
    """

    name: Annotated[str, Field(exclude=True)]
    account: AccountId
    region: Region
    prefix: NamePrefix
    tags: Tags
    allow_data_deletion: bool = False
    termination_protection: bool = True
    requires_approval: bool = False
    alerts: AlertSettings = AlertSettings()
    data_lake: DataLakeSettings = DataLakeSettings()
    network: NetworkSettings = NetworkSettings()
    data_catalog: DataCatalogSettings | None = None
    training: TrainingSettings | None = None
    serving: ServingSettings | None = None
    monitoring: MonitoringSection | None = None
    labeling: LabelingSettings | None = None
    governance: GovernanceSettings | None = None
    workbench: WorkbenchSettings | None = None

    def cross_section_problems(self) -> list[str]:
        """``<key path>: <problem>`` for each rule that spans keys or sections, or needs the region:
        checked after every section validated."""
        problems = region_problems(self) + self.data_lake.problems()
        if self.tags.environment != self.name:
            problems.append(f"tags.environment: must be the environment name {self.name!r}, the file's "
                            f"name (got {self.tags.environment!r})")
        problems += self._feature_source_problems()
        problems += self._feedback_encoding_problems()
        if self.serving is not None:
            problems += self.serving.problems_with(self.training, f"{self.prefix}-{self.name}", self.region)
        if self.monitoring is not None:
            problems += self.monitoring.problems_with(self.serving, self.training)
        if (self.training is not None and self.training.experiment_tracking is not None
                and "sagemaker_experiments" not in self.network.interface_endpoints):
            problems.append("training.experiment_tracking: needs sagemaker_experiments in "
                            "network.interface_endpoints (pipeline jobs and Studio reach MLflow through it)")
        problems += self._feature_store_problems()
        if self.workbench is not None:
            people = sorted(n for n, u in self.workbench.users.items() if u.persona in ("data_scientist", "ml_engineer"))
            if self.training is None:
                problems.append("workbench: needs a training section (its registry, roles and personas)")
            elif people and self.training.personas is None:
                problems.append(f"workbench.users: {', '.join(people)} need training.personas (their roles)")
            lacking = [e for e in STUDIO_ENDPOINTS if e not in self.network.interface_endpoints]
            if lacking:
                problems.append(f"workbench: Studio in VPC-only mode needs network.interface_endpoints to include "
                                f"{', '.join(lacking)} (got {', '.join(self.network.interface_endpoints)})")
        return problems

    def _feature_store_problems(self) -> list[str]:
        """``training.feature_store`` needs the curated Glue database (``data_catalog``), and a set a
        pipeline feeds needs the ``featurestore_runtime`` endpoint (the Ingest step's PutRecord)."""
        store = self.training.feature_store if self.training is not None else None
        if store is None:
            return []
        problems = []
        if self.data_catalog is None:
            problems.append("training.feature_store: needs a data_catalog section (the offline stores' tables go to "
                            "its curated Glue database)")
        fed = sorted(n for n, s in store.feature_sets.items() if s.pipeline is not None)
        if fed and "featurestore_runtime" not in self.network.interface_endpoints:
            problems.append(f"training.feature_store: feature sets {', '.join(fed)} are fed by pipelines, whose Ingest "
                            "steps need featurestore_runtime in network.interface_endpoints (PutRecord from the "
                            "isolated subnets)")
        return problems

    def _feature_source_problems(self) -> list[str]:
        """A consumer whose source does not exist: a feature set reading a dataset that no Glue or
        DataBrew pipeline of ``data_catalog`` writes, or a column a Glue dataset does not have."""
        catalog = self.data_catalog
        glue: dict[str, tuple[str, ...]] = (
            {name: (*d.columns, *PARTITION_KEYS) for name, d in catalog.datasets.items()} if catalog else {}
        )
        brewed: set[str] = set(catalog.databrew) if catalog else set()
        known = sorted({*glue, *brewed})
        problems = []
        for index, pipeline in enumerate(self.training.pipelines if self.training else ()):
            for number, source in enumerate(pipeline.features.sources if pipeline.features else ()):
                where = f"training.pipelines[{index}].features.sources[{number}]"
                if source.dataset not in known:
                    problems.append(f"{where}.dataset: {source.dataset!r} is not a dataset of data_catalog "
                                    f"(datasets or databrew: {', '.join(known) or 'none'})")
                elif source.dataset in glue:
                    problems += [f"{where}.columns: {column!r} is not a column of dataset {source.dataset!r} "
                                 f"({', '.join(glue[source.dataset])})"
                                 for column in source.columns if column not in glue[source.dataset]]
        return problems

    def feedback_models(self) -> set[str]:
        """Models whose endpoints have a monitoring feedback loop: their pipelines read its rows."""
        if self.monitoring is None or self.serving is None:
            return set()
        endpoints = self.serving.endpoints
        models = (endpoints[key].model for key, monitor in self.monitoring.endpoints.items()
                  if monitor.feedback is not None and key in endpoints)
        return {model for model in models if model is not None}

    def _feedback_encoding_problems(self) -> list[str]:
        """Encoded features of a model that trains on feedback rows must declare their categories:
        those rows were encoded when they were served, and a run's own categories may differ."""
        if self.training is None:
            return []
        models = self.feedback_models()
        problems = []
        for index, pipeline in enumerate(self.training.pipelines):
            if pipeline.model in models and pipeline.features is not None:
                for number, feature in enumerate(pipeline.features.features):
                    if feature.column in pipeline.features.undeclared_categories():
                        problems.append(
                            f"training.pipelines[{index}].features.features[{number}].categories: required, because "
                            f"model {pipeline.model!r} trains on monitoring feedback rows, which keep the codes of "
                            f"{feature.column!r} they were served with (got none)")
        return problems

    def stack_name(self, stack: str) -> str:
        """``<prefix>-<env>-<Stack>``, the CloudFormation name of one of this environment's stacks."""
        return f"{self.prefix}-{self.name}-{stack}"


# -- loading --------------------------------------------------------------------------------------


def read_yaml(path: Path) -> Any:
    """The YAML document of ``path`` (duplicate keys refused).

    :raises ConfigError: in one line naming the file, if it cannot be read or is not valid YAML.
    """
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except OSError as error:
        raise ConfigError([f"{path}: cannot read the file: {error.strerror}"]) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError([f"{path}: {where}invalid YAML: {problem}"]) from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """A YAML loader that rejects a key given twice in one mapping (PyYAML keeps the last)."""


def _construct_unique_mapping(
    loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False
) -> dict[Hashable, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} is given twice", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping
)


def load_environment(path: Path) -> EnvironmentConfig:
    """Read and validate one environment file; the file's stem is the environment name.

    :raises ConfigError: one line per problem, each naming the file.
    """
    name = path.stem
    if not ENVIRONMENT_NAME.match(name):
        raise ConfigError(
            [
                f"{path}: file name {path.name!r} is not a valid environment name; use 2-16 "
                "lower-case letters or digits starting with a letter, e.g. dev.yaml"
            ]
        )
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(
            [
                f"{path}: expected a mapping of settings at the top level, got "
                f"{type(data).__name__ if data is not None else 'an empty file'}; "
                f"allowed keys: {', '.join(public_fields(EnvironmentConfig))}"
            ]
        )
    if "name" in data:
        raise ConfigError([f"{path}: name: unknown key; the environment name is the file name"])
    try:
        config = EnvironmentConfig.model_validate({**data, "name": name})
    except ValidationError as error:
        raise ConfigError([f"{path}: {problem}" for problem in describe_errors(error, EnvironmentConfig)]) from None
    problems = config.cross_section_problems()
    if problems:
        raise ConfigError([f"{path}: {problem}" for problem in problems])
    return config


def load_environments(config_dir: Path) -> dict[str, EnvironmentConfig]:
    """Read every ``*.yaml`` file of ``config_dir``, sorted by environment name.

    :raises ConfigError: one line per problem across all files.
    """
    files = sorted(config_dir.glob("*.yaml"))
    if not files:
        raise ConfigError([f"{config_dir}: no environment files (*.yaml) found"])
    environments: dict[str, EnvironmentConfig] = {}
    problems: list[str] = []
    for path in files:
        try:
            environments[path.stem] = load_environment(path)
        except ConfigError as error:
            problems.extend(error.problems)
    if problems:
        raise ConfigError(problems)
    return environments
