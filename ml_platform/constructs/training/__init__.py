"""Training: the network, execution roles, personas, image repositories, registry and pipelines."""

from __future__ import annotations

from ml_platform.constructs.training.image_repositories import ImageRepositories, RepositorySettings
from ml_platform.constructs.training.ml_network import (
    ExistingNetwork,
    ExistingVpc,
    INetwork,
    MlNetwork,
    NetworkSettings,
    subnet_ids,
)
from ml_platform.constructs.training.model_registry import ModelRegistry
from ml_platform.constructs.training.promotion import ModelPromotion, PromotionTarget, approved_package_parameter
from ml_platform.constructs.training.sagemaker_personas import SageMakerPersonas
from ml_platform.constructs.training.sagemaker_roles import LakeLocation, LakeObject, RoleSettings, SageMakerRoles
from ml_platform.constructs.training.training_pipeline import (
    MetricCheck,
    ParameterRange,
    PipelineSettings,
    TrainingPipeline,
    TuningSettings,
)
from ml_platform.constructs.training.training_settings import PersonaSettings, TrainingSettings

__all__ = [
    "ExistingNetwork",
    "INetwork",
    "subnet_ids",
    "ExistingVpc",
    "ImageRepositories",
    "LakeLocation",
    "LakeObject",
    "MetricCheck",
    "MlNetwork",
    "ModelPromotion",
    "ModelRegistry",
    "NetworkSettings",
    "ParameterRange",
    "PersonaSettings",
    "PipelineSettings",
    "PromotionTarget",
    "RepositorySettings",
    "RoleSettings",
    "SageMakerPersonas",
    "SageMakerRoles",
    "TrainingPipeline",
    "TrainingSettings",
    "TuningSettings",
    "approved_package_parameter",
]
