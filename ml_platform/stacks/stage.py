"""One CDK Stage per environment: the same stacks everywhere, differing only in configuration."""

from __future__ import annotations

from typing import TypedDict

from aws_cdk import Environment, Stack, Stage
from constructs import Construct

from ml_platform.config import EnvironmentConfig
from ml_platform.constructs.lake.lake_access import Zone
from ml_platform.stacks.alerting_stack import AlertingStack
from ml_platform.stacks.data_catalog_stack import DataCatalogStack
from ml_platform.stacks.data_lake_stack import DataLakeStack
from ml_platform.stacks.data_quality_stack import DataQualityStack
from ml_platform.stacks.labeling_stack import LabelingStack
from ml_platform.stacks.monitoring_stack import MonitoringStack
from ml_platform.stacks.network_stack import NetworkStack
from ml_platform.stacks.partition import partition, stack_id
from ml_platform.stacks.serving_stack import ServingStack
from ml_platform.stacks.training_stack import TrainingStack
from ml_platform.constructs.training.promotion import PromotionTarget
from ml_platform.stacks.governance_stack import GovernanceStack
from ml_platform.stacks.tagging import tag_everything
from ml_platform.stacks.workbench_stack import WorkbenchStack


class _StackProps(TypedDict):
    """What every stack of the stage takes besides its own settings."""

    stack_name: str
    description: str
    termination_protection: bool
    allow_data_deletion: bool


class PlatformStage(Stage):
    """The platform's stacks for one environment; the stage id is the environment name.

    Stack names are ``<prefix>-<env>-<Stack>``; termination protection and tags come from the
    environment's configuration. Datasets, training pipelines, endpoints, monitors and datasets'
    rule recommendations are spread over as many DataCatalog, Training, Serving, Monitoring and
    DataQuality stacks as :mod:`ml_platform.stacks.partition` says (``DataCatalog``,
    ``DataCatalog2``, ...; ``Training``, ``TrainingPipelines2``, ...): ``data_catalog_stacks``,
    ``training_stacks``, ``serving_stacks``, ``monitoring_stacks`` and ``data_quality_stacks`` list
    them, ``data_catalog``, ``training``, ``serving``, ``monitoring`` and ``data_quality`` are the
    first (``data_quality`` is None unless some dataset has ``quality.recommendations``), and
    consumers see the union of their units (``datasets``, ``pipelines``, ``endpoints``).

    :param delivery_bus_arn: the delivery pipeline's event bus (:meth:`DeliverySettings.bus_arn
        <ml_platform.delivery.settings.DeliverySettings.bus_arn>`): the approvals of the registry's
        models are forwarded to it. Default: none (approvals are only recorded here).
    """

    def __init__(self, scope: Construct, config: EnvironmentConfig, *, delivery_bus_arn: str | None = None) -> None:
        env = Environment(account=config.account, region=config.region)
        super().__init__(scope, config.name, env=env)
        self.config = config
        #: Where approved versions are recorded (``serving`` endpoints with ``version: approved``
        #: read it) and, with ``delivery_bus_arn``, forwarded to the delivery pipeline.
        self.promotion = PromotionTarget(prefix=config.prefix, environment=config.name,
                                         delivery_bus_arn=delivery_bus_arn)
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
        self.data_catalog_stacks: list[DataCatalogStack] = []
        catalog = config.data_catalog
        if catalog is not None:
            for index, part in enumerate(partition({"datasets": list(catalog.datasets),
                                                    "databrew": list(catalog.databrew)})):
                name = stack_id("DataCatalog", index)
                self.data_catalog_stacks.append(DataCatalogStack(
                    self,
                    name,
                    **self._stack_props(name, _part("data catalog and preparation", index)),
                    lake=self.data_lake.lake,
                    alerts=alerts,
                    settings=catalog.model_copy(update={
                        "datasets": {d: catalog.datasets[d] for d in part["datasets"]},
                        "databrew": {d: catalog.databrew[d] for d in part["databrew"]}}),
                    name_prefix=name_prefix,
                    primary=self.data_catalog_stacks[0] if self.data_catalog_stacks else None,
                ))
        self.data_catalog: DataCatalogStack | None = self.data_catalog_stacks[0] if self.data_catalog_stacks else None
        #: Every dataset's processed output by name, whichever DataCatalog stack prepares it.
        self.datasets = {d: o for stack in self.data_catalog_stacks for d, o in stack.outputs.items()}
        self.data_quality_stacks: list[DataQualityStack] = []
        recommended = {d: s.quality.recommendations for d, s in (catalog.datasets if catalog else {}).items()
                       if s.quality is not None and s.quality.recommendations is not None}
        if recommended:  # only with some dataset's quality.recommendations
            pipelines = {d: p for stack in self.data_catalog_stacks for d, p in stack.pipelines.items()}
            for index, part in enumerate(partition({"recommendations": list(recommended)})):
                name = stack_id("DataQuality", index)
                self.data_quality_stacks.append(DataQualityStack(
                    self, name, **self._stack_props(name, _part("Data Quality rule recommendations", index)),
                    lake=self.data_lake.lake, alerts=alerts, pipelines=pipelines,
                    recommendations={d: recommended[d] for d in part["recommendations"]},
                ))
        self.data_quality: DataQualityStack | None = self.data_quality_stacks[0] if self.data_quality_stacks else None
        self.training_stacks: list[TrainingStack] = []
        training = config.training
        if training is not None:
            for index, part in enumerate(partition({"pipelines": [p.model for p in training.pipelines]})):
                name = stack_id("TrainingPipelines", index)
                self.training_stacks.append(TrainingStack(
                    self,
                    name,
                    **self._stack_props(name, "image repositories and model registry" if index == 0
                                        else f"training pipelines, part {index + 1}"),
                    settings=training.model_copy(update={
                        "pipelines": tuple(p for p in training.pipelines if p.model in part["pipelines"])}),
                    name_prefix=name_prefix,
                    lake=self.data_lake.lake,
                    network=self.network.network,
                    alerts=alerts,
                    datasets=self.datasets if self.data_catalog_stacks else None,
                    feedback_models=config.feedback_models(),
                    primary=self.training_stacks[0] if self.training_stacks else None,
                    promotion=self.promotion, trained_models=[p.model for p in training.pipelines],
                    # the feature store (first stack) registers its tables in the curated database
                    feature_database=self.data_catalog.databases[Zone.CURATED] if self.data_catalog else None,
                    feature_sets=training.feature_sets(),
                ))
        self.training: TrainingStack | None = self.training_stacks[0] if self.training_stacks else None
        #: Every model's training pipeline by model, whichever Training stack holds it.
        self.pipelines = {m: p for stack in self.training_stacks for m, p in stack.pipelines.items()}
        self.serving_stacks: list[ServingStack] = []
        serving = config.serving
        if serving is not None:
            assert self.training is not None  # the configuration requires it
            for index, part in enumerate(partition({"endpoints": list(serving.endpoints),
                                                    "batch": list(serving.batch)})):
                name = stack_id("Serving", index)
                self.serving_stacks.append(ServingStack(
                    self,
                    name,
                    **self._stack_props(name, _part("model endpoints", index)),
                    settings=serving.model_copy(update={
                        "endpoints": {k: serving.endpoints[k] for k in part["endpoints"]},
                        "batch": {k: serving.batch[k] for k in part["batch"]}}),
                    name_prefix=name_prefix,
                    lake=self.data_lake.lake,
                    network=self.network.network,
                    training=self.training,
                    pipelines=self.pipelines,
                    alerts=alerts,
                ))
        self.serving: ServingStack | None = self.serving_stacks[0] if self.serving_stacks else None
        #: Every endpoint by key, whichever Serving stack holds it.
        self.endpoints = {k: e for stack in self.serving_stacks for k, e in stack.endpoints.items()}
        self.monitoring_stacks: list[MonitoringStack] = []
        monitoring = config.monitoring
        if monitoring is not None:
            # the configuration requires them
            assert serving is not None and self.training is not None and self.serving_stacks
            for index, part in enumerate(partition({"monitoring": list(monitoring.endpoints)})):
                name = stack_id("Monitoring", index)
                stack = MonitoringStack(
                    self,
                    name,
                    **self._stack_props(name, _part("model monitoring", index)),
                    settings=monitoring.model_copy(update={
                        "endpoints": {k: monitoring.endpoints[k] for k in part["monitoring"]}}),
                    serving=serving,
                    endpoints=self.endpoints,
                    lake=self.data_lake.lake,
                    network=self.network.network,
                    training=self.training,
                    pipelines=self.pipelines,
                    alerts=alerts,
                )
                for holder in dict.fromkeys(Stack.of(self.endpoints[k]) for k in part["monitoring"]):
                    stack.add_stack_dependency(holder, "the monitored endpoints must exist")
                self.monitoring_stacks.append(stack)
        self.monitoring: MonitoringStack | None = self.monitoring_stacks[0] if self.monitoring_stacks else None
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
        self.workbench: WorkbenchStack | None = None
        if config.workbench is not None:
            assert self.training is not None and config.training is not None  # the configuration requires it
            personas = config.training.personas
            self.workbench = WorkbenchStack(
                self, "Workbench", **self._stack_props("Workbench", "Studio workbench"), settings=config.workbench,
                name_prefix=name_prefix, lake=self.data_lake.lake, network=self.network.network,
                training=self.training, alerts=alerts,
                trusted_account=personas.trusted_account if personas is not None else None)
        self.governance: GovernanceStack | None = None
        if config.governance is not None:
            self.governance = GovernanceStack(
                self, "Governance", **self._stack_props("Governance", "audit and governance"),
                settings=config.governance, name_prefix=name_prefix, lake=self.data_lake.lake, alerts=alerts,
                cost_tag=("Environment", config.tags.environment))
        tag_everything(self, config.tags.as_aws_tags())

    def _stack_props(self, stack: str, what: str) -> _StackProps:
        """Name, description, protection and data-deletion setting every stack of the stage takes."""
        return {
            "stack_name": self.config.stack_name(stack),
            "description": f"ML platform {what} ({self.config.name})",
            "termination_protection": self.config.termination_protection,
            "allow_data_deletion": self.config.allow_data_deletion,
        }


def _part(what: str, index: int) -> str:
    """The description of stack ``index`` (0-based) of a family: the first keeps today's."""
    return what if index == 0 else f"{what}, part {index + 1}"
