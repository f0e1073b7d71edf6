"""Builds the platform's CDK app from a directory of environment files, with the compliance gates."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from aws_cdk import App, Aspects, Stage, Validations
from cdk_nag import (
    AwsSolutionsChecks,
    HIPAASecurityChecks,
    NIST80053R5Checks,
    PCIDSS321Checks,
    WriteNagSuppressionsToCloudFormationAspect,
)

from ml_platform.config import ConfigError, load_environments
from ml_platform.stacks.stage import PlatformStage

#: The cdk-nag packs every environment must pass.
NAG_PACKS = (AwsSolutionsChecks, HIPAASecurityChecks, NIST80053R5Checks, PCIDSS321Checks)
#: Environment variable naming the directory of environment files. Default: ``config``.
CONFIG_DIR_VARIABLE = "ML_PLATFORM_CONFIG_DIR"


def add_compliance_gates(app: App) -> None:
    """Fail synthesis on any unacknowledged finding of :data:`NAG_PACKS`.

    Acknowledgments are written into the template metadata (``cdk_nag.rules_to_suppress``)
    beside the resource they concern, so that reviewers see each exception and its reason.
    Call it after the stages are added: aspects do not cross Stage boundaries, so the writer is
    added to the app and to each stage (the packs' own ``write_suppressions_to_cloud_formation``
    option only reaches top-level stacks).
    """
    Validations.of(app).add_plugins(*(pack(app) for pack in NAG_PACKS))
    for scope in (app, *(c for c in app.node.children if isinstance(c, Stage))):
        Aspects.of(scope).add(WriteNagSuppressionsToCloudFormationAspect())


def build_app(config_dir: Path, **app_props: Any) -> App:
    """An App with one :class:`PlatformStage` per ``config_dir/*.yaml``, gated by the nag packs.

    :param app_props: passed to ``App`` (``outdir``, ``context``, ...).
    :raises ConfigError: if any environment file is invalid; nothing is synthesized then.
    """
    environments = load_environments(config_dir)
    app = App(**app_props)
    for config in environments.values():
        PlatformStage(app, config)
    add_compliance_gates(app)
    return app


def main() -> None:
    """Entry point of ``app.py``: synthesize, or print configuration errors and exit 1."""
    config_dir = Path(os.environ.get(CONFIG_DIR_VARIABLE, "config"))
    try:
        app = build_app(config_dir)
    except ConfigError as error:
        print(f"Invalid configuration ({len(error.problems)} problem(s)):", file=sys.stderr)
        print(error, file=sys.stderr)
        raise SystemExit(1) from None
    app.synth()
