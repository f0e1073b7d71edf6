"""The stack that holds what training produces and consumes: image repositories and the model registry."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from aws_cdk import Stack
from constructs import Construct

from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_ssm as ssm

from ml_platform.constructs.core.keys import allow_cloudwatch_logs
from ml_platform.constructs.core.alerting import SAGEMAKER_JOBS, AlertPath, pipeline_execution_failed, sagemaker_job_failed
from ml_platform.constructs.lake.data_lake import DataLake
from ml_platform.constructs.training.image_repositories import ImageRepositories
from ml_platform.constructs.lake.lake_locations import LakeDataset
from ml_platform.constructs.training.ml_network import MlNetwork
from ml_platform.constructs.core.naming import pascal_case, sagemaker_pipeline_arn
from ml_platform.constructs.training.sagemaker_personas import SageMakerPersonas
from ml_platform.constructs.training.sagemaker_roles import RoleSettings, SageMakerRoles
from ml_platform.constructs.training.training_pipeline import TrainingPipeline
from ml_platform.constructs.training.model_registry import ModelRegistry
from ml_platform.constructs.training.experiment_tracking import ExperimentTracking
from ml_platform.constructs.training.feature_store import FeatureGroup, FeatureStore
from ml_platform.constructs.training.feature_store_settings import FeatureSetSettings
from ml_platform.constructs.core.validation import check_problems
from ml_platform.constructs.training.promotion import ModelPromotion, PromotionTarget
from ml_platform.constructs.core.removal import data_removal_policy
from ml_platform.stacks.alerting_stack import alert_routes
from ml_platform.constructs.serving.serving_settings import APPROVED
from ml_platform.constructs.training.training_settings import TrainingSettings


class TrainingStack(Stack):
    """:class:`ImageRepositories`, :class:`ModelRegistry`, :class:`SageMakerRoles` and a
    :class:`TrainingPipeline` per model from ``training``; ``datasets`` are the lake datasets the
    pipelines' feature steps may read, by name (the data catalog stack's ``outputs``);
    ``feedback_models`` are the models whose served predictions come back labeled (a monitoring
    feedback loop writes their pipeline's ``feedback``). Failed pipeline executions, failed SageMaker
    jobs of the account (training, tuning, processing, transform) and approval decisions go to
    ``alerts``.

    :param promotion: where approved versions are recorded and delivered: with it, every registry
        model gets a :class:`ModelPromotion` (``promotions``, by model, shared by the family's
        stacks), so any endpoint may switch to ``version: approved`` and approvals reach the
        delivery pipeline whatever the endpoints serve. A model's promotion is made by the stack
        that holds its pipeline; the first stack makes those of the models no pipeline trains.
        Default: ``None``, no promotion.
    :param trained_models: the models the environment's pipelines train, in any stack of the
        family (the first stack promotes the others). Default: none.

    :param feature_database: the curated zone's Glue database (``DataCatalogStack.databases["curated"]``),
        where the feature groups of ``settings.feature_store`` register their offline tables; needed
        with a feature store. Default: none.
    :param feature_sets: every feature set resolved (:meth:`TrainingSettings.feature_sets` of the
        whole ``training`` section, when this stack holds only part of the pipelines). Default: the
        feature sets of ``settings``.

    With ``settings.experiment_tracking`` the first stack creates the MLflow server
    (:attr:`experiment_tracking`) and every pipeline of the family logs its executions to it; with
    ``settings.feature_store`` it creates the :class:`FeatureStore` (:attr:`feature_store`) and a
    pipeline that a feature set names ingests into that set's group.

    :param primary: the environment's first Training stack, when this is a further one
        (``TrainingPipelines2``, ...) holding only ``settings.pipelines``: it uses the primary's
        repositories, registry and roles (the primary grants every model's registration), creates no
        personas and routes only its own pipelines' failures (the primary routes the account's
        failed jobs). Default: ``None``, this is the first stack and owns them.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: TrainingSettings,
        name_prefix: str,
        lake: DataLake,
        network: MlNetwork,
        alerts: AlertPath,
        allow_data_deletion: bool,
        datasets: Mapping[str, LakeDataset] | None = None,
        feedback_models: Collection[str] = (),
        primary: TrainingStack | None = None,
        promotion: PromotionTarget | None = None,
        trained_models: Collection[str] = (),
        feature_database: glue.IDatabase | None = None,
        feature_sets: Mapping[str, FeatureSetSettings] | None = None,
        **stack_props: Any,
    ) -> None:
        super().__init__(scope, construct_id, **stack_props)
        self.alerts = alert_routes(self, alerts)
        self.primary = primary
        self.personas: SageMakerPersonas | None = None
        self.images: ImageRepositories
        self.registry: ModelRegistry
        self.roles: SageMakerRoles
        self.boundary: iam.IManagedPolicy | None
        #: The :class:`ModelPromotion` of each model, by model (none without ``promotion``).
        self.promotions: dict[str, ModelPromotion] = {}
        if primary is not None:
            self.images, self.registry, self.roles = primary.images, primary.registry, primary.roles
            # one dict for the family: each stack adds the promotions it holds
            self.boundary, self.promotions = primary.boundary, primary.promotions
        else:
            self._shared(settings, name_prefix, lake, network, allow_data_deletion)
        if promotion is not None:
            # a model's promotion lives beside its pipeline (so that it scales with the partition);
            # the first stack also promotes the registry's models that no pipeline trains
            models = [p.model for p in settings.pipelines]
            if primary is None:
                models += [m for m in self.registry.groups if m not in trained_models and m not in models]
            self._promote(models, promotion, allow_data_deletion)
        #: The MLflow tracking server (``training.experiment_tracking``), in the first stack.
        self.experiment_tracking: ExperimentTracking | None = primary.experiment_tracking if primary else None
        #: The feature groups (``training.feature_store``), in the first stack.
        self.feature_store: FeatureStore | None = primary.feature_store if primary else None
        if primary is None:
            self._track_experiments(settings, lake, name_prefix, allow_data_deletion)
            self._store_features(settings, lake, name_prefix, allow_data_deletion, feature_database, feature_sets)
        fed = settings.fed_feature_sets()
        self.pipelines = {
            pipeline.model: TrainingPipeline(
                self, f"{pascal_case(pipeline.model)}Pipeline", settings=pipeline,
                lake=lake, roles=self.roles, network=network, registry=self.registry,
                name_prefix=name_prefix, images=self.images, sources=datasets,
                reads_feedback=pipeline.model in feedback_models,
                experiment_tracking=self.experiment_tracking,
                feature_group=self._feature_group(fed.get(pipeline.model)),
            )
            for pipeline in settings.pipelines
        }
        if primary is None and settings.personas is not None:
            self.personas = SageMakerPersonas(
                self, "Personas", roles=self.roles, network=network, key=lake.encryption_key,
                registry=self.registry, models=settings.models,
                trusted_account=settings.personas.trusted_account,
                permissions_boundary=self.boundary,
            )
            if self.experiment_tracking is not None:
                for person in (self.personas.data_scientist, self.personas.ml_engineer):
                    self.experiment_tracking.grant_access(person)
        self._route_failures()

    def _shared(self, settings: TrainingSettings, name_prefix: str, lake: DataLake, network: MlNetwork,
                allow_data_deletion: bool) -> None:
        """The first stack's repositories, registry and roles, which further stacks' pipelines use."""
        removal = data_removal_policy(self, allow_data_deletion=allow_data_deletion)
        self.images = ImageRepositories(self, "Images", repositories=settings.repositories,
                                        name_prefix=name_prefix, removal_policy=removal)
        self.registry = ModelRegistry(self, "Registry", models=settings.models, name_prefix=name_prefix,
                                      alerts=self.alerts, removal_policy=removal)
        self.boundary = (
            iam.ManagedPolicy.from_managed_policy_name(self, "Boundary", settings.permissions_boundary)
            if settings.permissions_boundary
            else None
        )
        # A copy keyed by str: SageMakerRoles takes any role names (Mapping's key type is invariant).
        roles: dict[str, RoleSettings] = {activity: role for activity, role in settings.roles.items()}
        self.roles = SageMakerRoles(self, "Roles", lake=lake, settings=roles, network=network,
                                    images=self.images, permissions_boundary=self.boundary)
        if "pipeline" in self.roles.roles:
            for model in settings.models:
                self.registry.grant_register(self.roles.roles["pipeline"], model)

    def _track_experiments(self, settings: TrainingSettings, lake: DataLake, name_prefix: str,
                           allow_data_deletion: bool) -> None:
        """The tracking server, logged to as the processing role (the personas are granted access
        when they are made)."""
        if settings.experiment_tracking is None:
            return
        self.experiment_tracking = ExperimentTracking(
            self, "ExperimentTracking", lake=lake, name_prefix=name_prefix, settings=settings.experiment_tracking,
            permissions_boundary=self.boundary,
            removal_policy=data_removal_policy(self, allow_data_deletion=allow_data_deletion))
        if "processing" in self.roles.roles:
            self.experiment_tracking.grant_log(self.roles.roles["processing"])

    def _store_features(self, settings: TrainingSettings, lake: DataLake, name_prefix: str, allow_data_deletion: bool,
                        database: glue.IDatabase | None, feature_sets: Mapping[str, FeatureSetSettings] | None) -> None:
        """The feature store of every set (resolved from the whole training section), with no grant:
        each pipeline grants its processing role writes to the group it feeds."""
        if settings.feature_store is None:
            return
        check_problems(f"TrainingStack {self.node.path}", [] if database is not None else [
            "training.feature_store needs feature_database, the curated Glue database (DataCatalogStack "
            "databases['curated']; the configuration needs a data_catalog section)"])
        assert database is not None
        self.feature_store = FeatureStore(
            self, "FeatureStore", feature_sets=feature_sets if feature_sets is not None else settings.feature_sets(),
            lake=lake, database=database, name_prefix=name_prefix, permissions_boundary=self.boundary,
            removal_policy=data_removal_policy(self, allow_data_deletion=allow_data_deletion))

    def _feature_group(self, feature_set: str | None) -> FeatureGroup | None:
        """The group of ``feature_set`` (a set a pipeline feeds), or None."""
        if feature_set is None:
            return None
        assert self.feature_store is not None  # the primary made it from the same section
        return self.feature_store.groups[feature_set]

    def served_package_arn(self, consumer: Stack, model: str, version: int | str) -> str:
        """The ARN of version ``version`` of ``model`` as ``consumer`` refers to it: the version's ARN,
        or (``approved``) a reference to the parameter the model's promotion writes, which
        CloudFormation resolves at each deploy of ``consumer``.

        :raises ValueError: (``approved``) if this stack makes no promotion of ``model``.
        """
        if version != APPROVED:
            group = self.registry.groups[model].model_package_group_name
            return consumer.format_arn(service="sagemaker", resource="model-package", resource_name=f"{group}/{version}")
        promotion = self.promotions.get(model)
        if promotion is None:
            raise ValueError(f"TrainingStack {self.node.path}: version {APPROVED!r} of model {model!r} needs its "
                             "promotion; give TrainingStack promotion=PromotionTarget(prefix, environment)")
        return ssm.StringParameter.value_for_string_parameter(consumer, promotion.parameter_name)

    def _promote(self, models: Collection[str], promotion: PromotionTarget, allow_data_deletion: bool) -> None:
        """A :class:`ModelPromotion` of each of ``models``, logging with one key of this stack."""
        if not models:
            return
        removal = data_removal_policy(self, allow_data_deletion=allow_data_deletion)
        self.promotion_logs_key = kms.Key(self, "PromotionLogsKey", enable_key_rotation=True, removal_policy=removal,
                                          description=f"Encrypts the promotion logs of {self.node.path}")
        allow_cloudwatch_logs(self.promotion_logs_key)
        self.promotions.update({
            model: ModelPromotion(
                self, f"{pascal_case(model)}Promotion",
                group_name=self.registry.groups[model].model_package_group_name or "",
                parameter_name=promotion.parameter_name(model), alerts=self.alerts,
                # pyright only: jsii renames the interface's parameters (aws/aws-cdk#15584)
                logs_key=self.promotion_logs_key,  # pyright: ignore[reportArgumentType]
                delivery_bus_arn=promotion.delivery_bus_arn, removal_policy=removal)
            for model in models
        })

    def _route_failures(self) -> None:
        """Failed executions of this stack's pipelines, and (the first stack) failed SageMaker jobs of any origin."""
        if self.pipelines:
            self.alerts.route(self, "PipelineFailed", "A training pipeline execution failed", pipeline_execution_failed(
                [sagemaker_pipeline_arn(self, p.pipeline_name) for p in self.pipelines.values()]))
        if self.primary is not None:
            self.alerts.cover_functions()
            return
        for kind, (detail_type, _) in SAGEMAKER_JOBS.items():
            self.alerts.route(self, kind, f"A job failed: {detail_type}", sagemaker_job_failed(kind))
        self.alerts.cover_functions()
