"""The stack that holds what training produces and consumes: image repositories and the model registry."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from constructs import Construct

from ml_platform.constructs.image_repositories import ImageRepositories
from ml_platform.constructs.model_registry import ModelRegistry
from ml_platform.constructs.removal import data_removal_policy
from ml_platform.training_settings import TrainingSettings


class TrainingStack(Stack):
    """:class:`ImageRepositories` and :class:`ModelRegistry` from the ``training`` settings."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: TrainingSettings,
        name_prefix: str,
        allow_data_deletion: bool,
        **stack_props: Any,
    ) -> None:
        super().__init__(scope, construct_id, **stack_props)
        removal = data_removal_policy(self, allow_data_deletion=allow_data_deletion)
        self.images = ImageRepositories(self, "Images", repositories=settings.repositories,
                                        name_prefix=name_prefix, removal_policy=removal)
        self.registry = ModelRegistry(self, "Registry", models=settings.models, name_prefix=name_prefix,
                                      settings=settings.approvals, removal_policy=removal)
