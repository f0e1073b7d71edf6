"""Serving: models from the registry or containers, endpoints with scaling and guardrails, batch transform."""

from __future__ import annotations

from ml_platform.constructs.serving.batch_transform import BatchTransform, TransformSettings
from ml_platform.constructs.serving.endpoint_settings import (
    AsyncInferenceSettings,
    AutoScalingSettings,
    ChallengerSettings,
    DataCaptureSettings,
    EndpointSettings,
    GuardrailSettings,
    ModelOptions,
    ServerlessSettings,
)
from ml_platform.constructs.serving.model_endpoint import ModelEndpoint
from ml_platform.constructs.serving.serving_model import ModelContainer, ModelSource
from ml_platform.constructs.serving.serving_settings import ScheduledScoring, ServedModel, ServingSettings

__all__ = [
    "AsyncInferenceSettings",
    "AutoScalingSettings",
    "BatchTransform",
    "ChallengerSettings",
    "DataCaptureSettings",
    "EndpointSettings",
    "GuardrailSettings",
    "ModelContainer",
    "ModelEndpoint",
    "ModelOptions",
    "ModelSource",
    "ScheduledScoring",
    "ServedModel",
    "ServerlessSettings",
    "ServingSettings",
    "TransformSettings",
]
