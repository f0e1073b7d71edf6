"""Builds the platform's CDK app from a directory of environment files, with the compliance gates."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from collections.abc import Collection
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
#: Environment variable naming the environments to synthesize, comma-separated (``dev`` or
#: ``dev,staging``). Default: every file of the directory. Every file is validated either way.
ENVIRONMENTS_VARIABLE = "ML_PLATFORM_ENVIRONMENTS"
#: The CDK CLI (2.1148) tells the app that it reports validation itself
#: (``@aws-cdk/core:failSynthOnValidationErrors: false``) and then neither prints nor fails on the
#: report; outside "inmemory" mode aws-cdk-lib would only set the exit code of its Node.js
#: process, which a Python app run through jsii never returns. Either way synth would succeed
#: with findings. So the app keeps the reporting and asks for inmemory mode, and
#: :func:`synthesize` turns the error into a printed report and exit code 1.
ENFORCED_VALIDATION_CONTEXT = {
    "@aws-cdk/core:failSynthOnValidationErrors": True,
    "@aws-cdk/core:appMode": "inmemory",
}


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


def build_app(config_dir: Path, only: Collection[str] | None = None, **app_props: Any) -> App:
    """An App with one :class:`PlatformStage` per ``config_dir/*.yaml``, gated by the nag packs.

    :param only: the environments to build (file names without ``.yaml``). Default: all.
    :param app_props: passed to ``App`` (``outdir``, ``context``, ...).
    :raises ConfigError: if any environment file is invalid, or ``only`` names an environment
        that has no file; nothing is synthesized then.
    """
    environments = load_environments(config_dir)
    if only is not None:
        unknown = sorted(set(only) - set(environments))
        if unknown:
            raise ConfigError([f"{ENVIRONMENTS_VARIABLE}: {', '.join(unknown)} has no file in {config_dir}; "
                               f"environments: {', '.join(environments)}"])
        environments = {name: config for name, config in environments.items() if name in only}
    app = App(**app_props)
    for key, value in ENFORCED_VALIDATION_CONTEXT.items():
        app.node.set_context(key, value)
    for config in environments.values():
        PlatformStage(app, config)
    add_compliance_gates(app)
    return app


def synthesize(app: App) -> None:
    """``app.synth()``; on unacknowledged findings print the report and exit 1 (no traceback)."""
    try:
        app.synth()
    except RuntimeError as error:
        message = str(error)
        if not message.startswith("ValidationFailed"):
            raise
        print(message.removeprefix("ValidationFailed: "), file=sys.stderr)
        raise SystemExit(1) from None


def main() -> None:
    """Entry point of ``app.py``: synthesize, or print configuration errors and exit 1."""
    config_dir = Path(os.environ.get(CONFIG_DIR_VARIABLE, "config"))
    chosen = os.environ.get(ENVIRONMENTS_VARIABLE, "").strip()
    only = [name.strip() for name in chosen.split(",") if name.strip()] if chosen else None
    try:
        app = build_app(config_dir, only)
    except ConfigError as error:
        print(f"Invalid configuration ({len(error.problems)} problem(s)):", file=sys.stderr)
        print(error, file=sys.stderr)
        raise SystemExit(1) from None
    synthesize(app)
