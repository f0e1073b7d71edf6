"""Builds the platform's CDK app from a directory of environment files, with the compliance gates."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from collections.abc import Callable, Collection
from typing import Any

from aws_cdk import App, Aspects, Aws, Stage, Validations
from cdk_nag import (
    AwsSolutionsChecks,
    HIPAASecurityChecks,
    NIST80053R5Checks,
    PCIDSS321Checks,
    WriteNagSuppressionsToCloudFormationAspect,
)

from ml_platform.config import ConfigError, load_environments
from ml_platform.delivery.settings import DeliverySettings, load_delivery_settings
from ml_platform.constructs.core.iam_limits import check_iam_sizes
from ml_platform.stacks.stage import PlatformStage

#: The cdk-nag packs every environment must pass.
NAG_PACKS = (AwsSolutionsChecks, HIPAASecurityChecks, NIST80053R5Checks, PCIDSS321Checks)
#: Environment variable naming the directory of environment files. Default: ``config``.
CONFIG_DIR_VARIABLE = "ML_PLATFORM_CONFIG_DIR"
#: Environment variable naming the environments to synthesize, comma-separated (``dev`` or
#: ``dev,staging``). Default: every file of the directory. Every file is validated either way.
ENVIRONMENTS_VARIABLE = "ML_PLATFORM_ENVIRONMENTS"
#: Whether :func:`build_app` runs aws-cdk-lib's built-in CloudFormation validation plugin (a
#: WebAssembly engine: about a third of synth CPU and 400 MiB of peak memory). Default: off.
#: cfn-lint checks every template's schema in ``make test``, and tests/app/test_gates.py runs the
#: plugin once on every environment; cdk-nag's packs run on every synth either way.
BUILTIN_VALIDATION_DEFAULT = False
#: Environment variable that turns the built-in validation on for one ``cdk synth`` (``true`` or
#: ``false``). Default: :data:`BUILTIN_VALIDATION_DEFAULT`. ``CDK_VALIDATION=false`` still wins.
BUILTIN_VALIDATION_VARIABLE = "ML_PLATFORM_BUILTIN_VALIDATION"
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
        ``builtin_cloud_formation_validation`` defaults to :data:`BUILTIN_VALIDATION_DEFAULT`
        (off); pass ``True`` to run aws-cdk-lib's built-in CloudFormation validation too.
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
    app_props.setdefault("builtin_cloud_formation_validation", BUILTIN_VALIDATION_DEFAULT)
    app = App(**app_props)
    for key, value in ENFORCED_VALIDATION_CONTEXT.items():
        app.node.set_context(key, value)
    delivery = delivery_settings(config_dir)
    for config in environments.values():
        bus = delivery.bus_arn(Aws.PARTITION) if delivery is not None and config.name in delivery.stages else None
        PlatformStage(app, config, delivery_bus_arn=bus)
    add_compliance_gates(app)
    check_iam_sizes(app)
    return app


def delivery_settings(config_dir: Path) -> DeliverySettings | None:
    """The delivery pipeline's settings (``<config_dir>/delivery/pipeline.yaml``), if the file exists:
    the environments it deploys forward their approvals to its event bus, in this app as in the
    pipeline's, so that both synthesize the same templates.

    :raises ConfigError: if the file is invalid.
    """
    path = config_dir / "delivery" / "pipeline.yaml"
    # its stages are checked against every environment by the pipeline app (this app may build a few)
    return load_delivery_settings(path) if path.exists() else None


def builtin_validation_requested(value: str | None) -> bool:
    """What :data:`BUILTIN_VALIDATION_VARIABLE` asks for: ``"true"`` or ``"false"``; unset or empty
    gives :data:`BUILTIN_VALIDATION_DEFAULT`.

    :raises ConfigError: in one line naming the variable, the value and what is allowed.
    """
    if value is None or not value.strip():
        return BUILTIN_VALIDATION_DEFAULT
    allowed = {"true": True, "false": False}
    if value.strip().lower() not in allowed:
        raise ConfigError([f"{BUILTIN_VALIDATION_VARIABLE}: {value!r} is not allowed; allowed: true, false "
                           f"(unset: {str(BUILTIN_VALIDATION_DEFAULT).lower()})"])
    return allowed[value.strip().lower()]


def synthesize(app: App) -> None:
    """``app.synth()``; on unacknowledged findings print the report and exit 1 (no traceback)."""
    try:
        app.synth()
    except RuntimeError as error:
        message = str(error)
        if "Validation failed with the following errors:" in message:  # construct validations
            # One "[<construct path>] <problem>" line each; jsii appends a JavaScript stack trace.
            problems = [line.strip() for line in message.splitlines() if re.match(r"^\s+\[[^\]]+\] ", line)]
            print("\n".join(problems), file=sys.stderr)
        elif message.startswith("ValidationFailed"):  # the policy-validation report (nag packs)
            print(message.removeprefix("ValidationFailed: "), file=sys.stderr)
        else:
            raise
        raise SystemExit(1) from None


def main() -> None:
    """Entry point of ``app.py``: synthesize, or print configuration errors and exit 1."""
    config_dir = Path(os.environ.get(CONFIG_DIR_VARIABLE, "config"))
    chosen = os.environ.get(ENVIRONMENTS_VARIABLE, "").strip()
    only = [name.strip() for name in chosen.split(",") if name.strip()] if chosen else None
    synthesize(build_or_exit(lambda builtin: build_app(config_dir, only, builtin_cloud_formation_validation=builtin)))


def build_or_exit(build: Callable[[bool], App]) -> App:
    """``build(builtin)`` with ``builtin`` from :data:`BUILTIN_VALIDATION_VARIABLE`; on configuration
    errors print them, one line each, and exit 1 (no traceback)."""
    try:
        return build(builtin_validation_requested(os.environ.get(BUILTIN_VALIDATION_VARIABLE)))
    except ConfigError as error:
        print(f"Invalid configuration ({len(error.problems)} problem(s)):", file=sys.stderr)
        print(error, file=sys.stderr)
        raise SystemExit(1) from None
