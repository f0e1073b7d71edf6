"""Builds the platform's CDK app from a directory of environment files, with the compliance gates."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks, NIST80053R5Checks, PCIDSS321Checks

from ml_platform.config import ConfigError, load_environments
from ml_platform.stacks.stage import PlatformStage

#: The cdk-nag packs every environment must pass.
NAG_PACKS = (AwsSolutionsChecks, HIPAASecurityChecks, NIST80053R5Checks, PCIDSS321Checks)


def build_app(config_dir: Path, **app_props: Any) -> App:
    """An App with one :class:`PlatformStage` per ``config_dir/*.yaml`` and the cdk-nag packs.

    :param app_props: passed to ``App`` (``outdir``, ``context``, ...).
    :raises ConfigError: if any environment file is invalid.
    """
    environments = load_environments(config_dir)
    app = App(**app_props)
    for config in environments.values():
        PlatformStage(app, config)
    Validations.of(app).add_plugins(
        *(pack(app, write_suppressions_to_cloud_formation=True) for pack in NAG_PACKS)
    )
    return app


def main(config_dir: Path = Path("config")) -> None:
    """Entry point of ``app.py``: synthesize, or print configuration errors and exit 1."""
    try:
        app = build_app(config_dir)
    except ConfigError as error:
        print(f"Invalid configuration ({len(error.problems)} problem(s)):", file=sys.stderr)
        print(error, file=sys.stderr)
        raise SystemExit(1) from None
    app.synth()
