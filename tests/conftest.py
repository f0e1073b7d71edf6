"""Shared fixtures: the whole app is synthesized once per test session (per xdist worker)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Run jsii on the pinned Node.js (node_modules/.bin, installed by `make setup`) also when pytest is
# started directly; it must happen before the first aws_cdk import starts the jsii kernel.
if (ROOT / "node_modules" / ".bin" / "node").exists():
    os.environ["PATH"] = f"{ROOT / 'node_modules' / '.bin'}{os.pathsep}{os.environ.get('PATH', '')}"
CONFIG_DIR = ROOT / "config"
#: The context cdk.json gives the CLI; tests synthesize with the same feature flags.
CDK_CONTEXT: dict = json.loads((ROOT / "cdk.json").read_text())["context"]
#: checkov lives in its own venv (`make setup`); CHECKOV overrides where.
CHECKOV = Path(os.environ.get("CHECKOV", ROOT / ".tools/checkov/bin/checkov"))


def run_cfn_lint(paths: list[Path]) -> subprocess.CompletedProcess:
    """cfn-lint of the venv on ``paths``."""
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    return subprocess.run([str(cfn_lint), *map(str, paths)], capture_output=True, text=True)


def run_checkov(directory: Path) -> tuple[list[dict], subprocess.CompletedProcess]:
    """checkov's CloudFormation reports on ``directory``, and the run itself."""
    if not CHECKOV.exists():
        pytest.fail(f"checkov not found at {CHECKOV}; run `make setup`")
    result = subprocess.run(
        [str(CHECKOV), "-d", str(directory), "--framework", "cloudformation", "--skip-download", "-o", "json"],
        capture_output=True, text=True,
    )
    reports = json.loads(result.stdout)
    return (reports if isinstance(reports, list) else [reports]), result


def synth_gated(outdir: Path, build) -> Path:
    """``build(stage)`` in a stage ``Test`` of an app with the platform's nag packs, synthesized
    into ``outdir`` (raising on any unacknowledged nag finding)."""
    from aws_cdk import App, Stage

    from ml_platform.platform_app import ENFORCED_VALIDATION_CONTEXT, add_compliance_gates

    app = App(outdir=str(outdir), context={**CDK_CONTEXT, **ENFORCED_VALIDATION_CONTEXT})
    build(Stage(app, "Test"))
    add_compliance_gates(app)
    app.synth()
    return outdir


def assert_gates_pass(outdir: Path) -> list[dict]:
    """No nag finding, no cfn-lint output and no failed checkov check in a :func:`synth_gated`
    assembly; checkov's reports, for further checks."""
    assert json.loads((outdir / "validation-report.json").read_text())["pluginReports"] == []
    lint = run_cfn_lint(sorted(outdir.glob("assembly-Test/*.template.json")))
    assert lint.returncode == 0 and lint.stdout == "", lint.stdout
    reports, checkov = run_checkov(outdir)
    assert sum(r["summary"]["passed"] for r in reports) > 0
    failed = [(c["check_id"], c["resource"]) for r in reports for c in r["results"]["failed_checks"]]
    assert not failed and checkov.returncode == 0, failed
    return reports


def synth_platform(outdir: Path, config_dir: Path = CONFIG_DIR, **context_overrides) -> Path:
    """Synthesize the platform app (gates included) into ``outdir`` and return it."""
    from ml_platform.platform_app import build_app

    app = build_app(config_dir, outdir=str(outdir), context={**CDK_CONTEXT, **context_overrides})
    app.synth()
    return outdir


def stack_templates(assembly: Path) -> dict[str, dict[str, Path]]:
    """``{env: {stack name: template path}}`` from the cloud assembly's manifests."""
    found: dict[str, dict[str, Path]] = {}
    for manifest in sorted(assembly.glob("assembly-*/manifest.json")):
        env = manifest.parent.name.removeprefix("assembly-")
        for artifact in json.loads(manifest.read_text())["artifacts"].values():
            if artifact["type"] == "aws:cloudformation:stack":
                props = artifact["properties"]
                found.setdefault(env, {})[props["stackName"]] = manifest.parent / props["templateFile"]
    return found


@pytest.fixture(scope="session")
def assembly(tmp_path_factory) -> Path:
    """The committed environments, synthesized once."""
    return synth_platform(tmp_path_factory.mktemp("cdk.out"))


@pytest.fixture(scope="session")
def templates(assembly) -> dict[str, dict[str, dict]]:
    """``{env: {stack name: parsed template}}``."""
    return {
        env: {name: json.loads(path.read_text()) for name, path in stacks.items()}
        for env, stacks in stack_templates(assembly).items()
    }
