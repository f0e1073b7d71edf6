"""Builds the delivery pipeline's CDK app (``pipeline_app.py``): every environment file and the
pipeline's settings validated, the stages of ``stages`` built under the app (so that their cloud
assemblies are those ``make synth`` writes), the pipeline stack in the tooling account, and the
platform's compliance gates. It synthesizes offline: nothing is looked up.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from aws_cdk import Aws, App

from ml_platform.config import load_environments
from ml_platform.constructs.core.iam_limits import check_iam_sizes
from ml_platform.delivery.pipeline_stack import DeliveryPipelineStack
from ml_platform.delivery.settings import DEFAULT_SETTINGS_FILE, load_delivery_settings
from ml_platform.platform_app import (
    BUILTIN_VALIDATION_DEFAULT,
    CONFIG_DIR_VARIABLE,
    ENFORCED_VALIDATION_CONTEXT,
    add_compliance_gates,
    build_or_exit,
    synthesize,
)
from ml_platform.stacks.stage import PlatformStage

#: Environment variable naming the pipeline's settings file. Default: :data:`DEFAULT_SETTINGS_FILE`.
SETTINGS_FILE_VARIABLE = "ML_PLATFORM_DELIVERY_SETTINGS"
#: Construct id of the pipeline stack (``cdk deploy Delivery``); its stack name is ``<prefix>-delivery``.
PIPELINE_STACK_ID = "Delivery"


def build_pipeline_app(config_dir: Path, settings_file: Path = DEFAULT_SETTINGS_FILE, **app_props: Any) -> App:
    """An App with the delivery pipeline stack and one :class:`PlatformStage` per entry of its ``stages``.

    :param app_props: passed to ``App``; ``builtin_cloud_formation_validation`` defaults to
        :data:`~ml_platform.platform_app.BUILTIN_VALIDATION_DEFAULT` (off), as for the platform app.
    :raises ConfigError: if an environment file or the settings file is invalid, or ``stages``
        names an environment without a file.
    """
    environments = load_environments(config_dir)
    settings = load_delivery_settings(settings_file, environments)
    app_props.setdefault("builtin_cloud_formation_validation", BUILTIN_VALIDATION_DEFAULT)
    app = App(**app_props)
    for key, value in ENFORCED_VALIDATION_CONTEXT.items():
        app.node.set_context(key, value)
    bus = settings.bus_arn(Aws.PARTITION)
    stages = [PlatformStage(app, environments[name], delivery_bus_arn=bus) for name in settings.stages]
    # Before the pipeline stack: CDK Pipelines synthesizes each stage when it adds it, so the
    # stages' aspects (the nag metadata writer) must be in place by then.
    add_compliance_gates(app)
    check_iam_sizes(app)
    DeliveryPipelineStack(app, PIPELINE_STACK_ID, settings=settings, stages=stages)
    return app


def main() -> None:
    """Entry point of ``pipeline_app.py``: synthesize, or print configuration errors and exit 1."""
    config_dir = Path(os.environ.get(CONFIG_DIR_VARIABLE, "config"))
    settings_file = Path(os.environ.get(SETTINGS_FILE_VARIABLE, str(DEFAULT_SETTINGS_FILE)))
    synthesize(build_or_exit(
        lambda builtin: build_pipeline_app(config_dir, settings_file, builtin_cloud_formation_validation=builtin)))
