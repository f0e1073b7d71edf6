"""One CDK Stage per environment: the same stacks everywhere, differing only in configuration."""

from __future__ import annotations

from typing import TypedDict

from aws_cdk import Environment, Stage
from constructs import Construct

from ml_platform.config import EnvironmentConfig
from ml_platform.stacks.alerting_stack import AlertingStack
from ml_platform.stacks.data_catalog_stack import DataCatalogStack
from ml_platform.stacks.data_lake_stack import DataLakeStack
from ml_platform.stacks.labeling_stack import LabelingStack
from ml_platform.stacks.monitoring_stack import MonitoringStack
from ml_platform.stacks.network_stack import NetworkStack
from ml_platform.stacks.serving_stack import ServingStack
from ml_platform.stacks.training_stack import TrainingStack
from ml_platform.stacks.tagging import tag_everything


class _StackProps(TypedDict):
    """What every stack of the stage takes besides its own settings."""

    stack_name: str
    description: str
    termination_protection: bool
    allow_data_deletion: bool


class PlatformStage(Stage):
    """The platform's stacks for one environment; the stage id is the environment name.

    Stack names are ``<prefix>-<env>-<Stack>``; termination protection and tags come from the
    environment's configuration.
    """

    def __init__(self, scope: Construct, config: EnvironmentConfig) -> None:
        env = Environment(account=config.account, region=config.region)
        super().__init__(scope, config.name, env=env)
        self.config = config
        tag_everything(self, config.tags.as_aws_tags())
        name_prefix = f"{config.prefix}-{config.name}"  # of every named resource: <prefix>-<env>-...
        self.alerting = AlertingStack(
            self,
            "Alerting",
            **self._stack_props("Alerting", "alerts"),
            settings=config.alerts,
        )
        alerts = self.alerting.path
        self.data_lake = DataLakeStack(
            self,
            "DataLake",
            **self._stack_props("DataLake", "data lake"),
            settings=config.data_lake,
            alerts=alerts,
        )
        self.network = NetworkStack(
            self,
            "Network",
            **self._stack_props("Network", "network for SageMaker workloads"),
            settings=config.network,
            alerts=alerts,
        )
        self.data_catalog: DataCatalogStack | None = None
        if config.data_catalog is not None:
            self.data_catalog = DataCatalogStack(
                self,
                "DataCatalog",
                **self._stack_props("DataCatalog", "data catalog and preparation"),
                lake=self.data_lake.lake,
                alerts=alerts,
                settings=config.data_catalog,
                name_prefix=name_prefix,
            )
        self.training: TrainingStack | None = None
        if config.training is not None:
            self.training = TrainingStack(
                self,
                "Training",
                **self._stack_props("Training", "image repositories and model registry"),
                settings=config.training,
                name_prefix=name_prefix,
                lake=self.data_lake.lake,
                network=self.network.network,
                alerts=alerts,
                datasets=self.data_catalog.outputs if self.data_catalog else None,
                feedback_models=config.feedback_models(),
            )
        self.serving: ServingStack | None = None
        if config.serving is not None:
            assert self.training is not None  # the configuration requires it
            self.serving = ServingStack(
                self,
                "Serving",
                **self._stack_props("Serving", "model endpoints"),
                settings=config.serving,
                name_prefix=name_prefix,
                lake=self.data_lake.lake,
                network=self.network.network,
                training=self.training,
                alerts=alerts,
            )
        self.monitoring: MonitoringStack | None = None
        if config.monitoring is not None:
            # the configuration requires them
            assert config.serving is not None and self.training is not None and self.serving is not None
            self.monitoring = MonitoringStack(
                self,
                "Monitoring",
                **self._stack_props("Monitoring", "model monitoring"),
                settings=config.monitoring,
                serving=config.serving,
                endpoints=self.serving.endpoints,
                lake=self.data_lake.lake,
                network=self.network.network,
                training=self.training,
                alerts=alerts,
            )
            self.monitoring.add_stack_dependency(self.serving, "the monitored endpoints must exist")
        self.labeling: LabelingStack | None = None
        if config.labeling is not None:
            self.labeling = LabelingStack(
                self,
                "Labeling",
                **self._stack_props("Labeling", "Ground Truth labeling"),
                settings=config.labeling,
                name_prefix=name_prefix,
                lake=self.data_lake.lake,
                network=self.network.network,
                alerts=alerts,
            )

    def _stack_props(self, stack: str, what: str) -> _StackProps:
        """Name, description, protection and data-deletion setting every stack of the stage takes."""
        return {
            "stack_name": self.config.stack_name(stack),
            "description": f"ML platform {what} ({self.config.name})",
            "termination_protection": self.config.termination_protection,
            "allow_data_deletion": self.config.allow_data_deletion,
        }
