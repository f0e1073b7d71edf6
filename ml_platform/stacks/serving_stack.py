"""The stack that serves approved model versions: one :class:`ModelEndpoint` per ``serving`` endpoint."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import Stack
from constructs import Construct

from ml_platform.constructs.core.alerting import AlertPath
from ml_platform.constructs.serving.batch_transform import BatchTransform
from ml_platform.constructs.lake.lake_locations import LakeDataset, object_folder
from ml_platform.constructs.lake.data_lake import DataLake
from ml_platform.constructs.training.ml_network import MlNetwork
from ml_platform.constructs.serving.model_endpoint import ModelEndpoint
from ml_platform.constructs.core.naming import pascal_case
from ml_platform.constructs.serving.serving_model import ModelContainer, ModelSource
from ml_platform.constructs.training.sagemaker_images import builtin_image
from ml_platform.constructs.training.training_pipeline import TrainingPipeline
from ml_platform.constructs.serving.serving_settings import ModelChoice, ServedContainer, ServingSettings
from ml_platform.stacks.alerting_stack import alert_routes
from ml_platform.stacks.training_stack import TrainingStack


class ServingStack(Stack):
    """Endpoints ``<name_prefix>-<key>`` and scheduled batch transforms running as the training
    stack's inference role; the endpoints' alarms, the schedules' undeliverable runs and the
    functions' errors go to ``alerts``.

    A registry ``version`` is served as ``<name_prefix>-<model>/<version>``, so that version must
    exist and be approved before this stack is deployed; ``version: approved`` serves the package ARN
    in the SSM parameter the training stack's :class:`ModelPromotion` of that model writes (a stack
    parameter of type ``AWS::SSM::Parameter::Value<String>``, resolved again at every deploy, so
    the deploy role must be allowed ``ssm:GetParameters`` on it). The inference role is granted the model
    data that model's training pipeline registers (a model without a pipeline needs
    ``training.roles.inference.reads``); ``containers`` name images of the
    training stack's repositories (or built-in algorithms) and model data in the lake, which must
    exist too (see docs/serving.md). ``pipelines`` are every model's pipeline, by model, whichever
    Training stack holds it (the stage's ``pipelines``); default: ``training.pipelines``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: ServingSettings,
        name_prefix: str,
        lake: DataLake,
        network: MlNetwork,
        training: TrainingStack,
        alerts: AlertPath,
        pipelines: Mapping[str, TrainingPipeline] | None = None,
        allow_data_deletion: bool,
        **stack_props: Any,
    ) -> None:
        super().__init__(scope, construct_id, **stack_props)
        pipelines = training.pipelines if pipelines is None else pipelines
        self.alerts = alert_routes(self, alerts)
        role = training.roles.role("inference")

        def source(model: str | None, choice: ModelChoice) -> ModelSource:
            """What runs, with the lake locations its model data comes from: what the model's
            pipeline registers, or the objects the containers name."""
            if choice.version is not None:
                assert model is not None  # the configuration requires a model with a version
                pipeline = pipelines.get(model)
                return ModelSource.package(self._package_arn(training, model, choice.version),
                                           artifacts=pipeline.model_artifacts if pipeline is not None else None)
            return ModelSource.pipeline(*(ModelContainer(
                image_uri=self._image(training, c),
                model_data_url=lake.s3_uri(c.model_data.zone, c.model_data.key) if c.model_data else None,
                environment=c.environment) for c in choice.containers),
                artifacts=tuple(LakeDataset.landing(c.model_data.zone, object_folder(c.model_data.key), "model")
                                for c in choice.containers if c.model_data))

        self.endpoints = {
            key: ModelEndpoint(
                self, pascal_case(key), name=f"{name_prefix}-{key}", model=source(endpoint.model, endpoint),
                challenger_models={n: source(endpoint.model, c) for n, c in endpoint.challengers.items()},
                settings=endpoint, role=role, lake=lake, network=network, alerts=self.alerts,
            )
            for key, endpoint in settings.endpoints.items()
        }
        self.batch = {
            key: BatchTransform(
                self, f"{pascal_case(key)}Batch", name=f"{name_prefix}-{key}", model=source(scoring.model, scoring),
                settings=scoring, role=role, lake=lake, network=network, alerts=self.alerts,
            )
            for key, scoring in settings.batch.items()
        }
        self.alerts.cover_functions()

    def _package_arn(self, training: TrainingStack, model: str, version: int | str) -> str:
        return training.served_package_arn(self, model, version)

    def _image(self, training: TrainingStack, container: ServedContainer) -> str:
        """The URI of a platform repository's tag, or of a built-in algorithm in this region."""
        if container.repository is not None:
            return training.images.repositories[container.repository].repository_uri_for_tag(container.tag)
        assert container.algorithm is not None  # the configuration requires a repository or an algorithm
        return builtin_image(container.algorithm, self.region, container.algorithm_version)

