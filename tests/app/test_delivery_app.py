"""pipeline_app.py with the committed configuration: it synthesizes offline through the CDK CLI,
deploys what ``make synth`` writes, and reports a bad settings file in one line."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, stack_templates

CDK = ROOT / "node_modules" / ".bin" / "cdk"


def _cli_synth(outdir: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(CDK), "--no-notices", "--app", "python3 pipeline_app.py", "--output", str(outdir), "synth", "--quiet"],
        cwd=ROOT, capture_output=True, text=True,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},  # no credentials: offline
             "AWS_EC2_METADATA_DISABLED": "true", "CDK_DISABLE_CLI_TELEMETRY": "true", **env},
    )


@pytest.fixture(scope="module")
def pipeline_assembly(tmp_path_factory) -> Path:
    outdir = tmp_path_factory.mktemp("cdk.out.pipeline")
    result = _cli_synth(outdir)
    assert result.returncode == 0, result.stderr[-3000:]
    return outdir


def test_the_committed_pipeline_synthesizes_offline_with_prod_behind_an_approval(pipeline_assembly):
    template = json.loads((pipeline_assembly / "Delivery.template.json").read_text())
    (pipeline,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::CodePipeline::Pipeline"]
    stages = {s["Name"]: s for s in pipeline["Properties"]["Stages"]}
    settings_stages = ["dev", "staging", "prod"]  # config/delivery/pipeline.yaml
    assert [n for n in stages if n in settings_stages] == settings_stages
    manual = {n for n, s in stages.items() if any(a["ActionTypeId"]["Provider"] == "Manual" for a in s["Actions"])}
    assert manual == {"prod"}
    assert json.loads((pipeline_assembly / "validation-report.json").read_text())["pluginReports"] == []


def test_the_pipeline_deploys_the_templates_make_synth_writes(pipeline_assembly, assembly):
    """Stage assemblies of the pipeline app have the same stacks and template files as the platform app's."""
    ours, platform = stack_templates(pipeline_assembly), stack_templates(assembly)
    assert set(ours) == set(platform)
    for env in ours:
        assert {n: p.name for n, p in ours[env].items()} == {n: p.name for n, p in platform[env].items()}
        for name, path in ours[env].items():
            assert _without_cli_metadata(path) == _without_cli_metadata(platform[env][name]), name


def _without_cli_metadata(path: Path) -> dict:
    """A template without what the CLI adds (CDKMetadata, aws:cdk:path, aws:asset:* metadata); the
    session fixture synthesizes without the CLI."""
    template = json.loads(path.read_text())
    template["Resources"].pop("CDKMetadata", None)
    for resource in template["Resources"].values():
        for key in [k for k in resource.get("Metadata", {}) if k == "aws:cdk:path" or k.startswith("aws:asset:")]:
            del resource["Metadata"][key]
        if resource.get("Metadata") == {}:
            del resource["Metadata"]
    template.get("Conditions", {}).pop("CDKMetadataAvailable", None)
    if not template.get("Conditions", True):
        del template["Conditions"]
    return template


def test_a_bad_settings_file_fails_in_one_line(tmp_path):
    bad = tmp_path / "pipeline.yaml"
    text = (ROOT / "config/delivery/pipeline.yaml").read_text().replace("stages: [dev, staging, prod]", "stages: [dev, qa]")
    bad.write_text(text)
    result = _cli_synth(tmp_path / "out", ML_PLATFORM_DELIVERY_SETTINGS=str(bad))
    assert result.returncode != 0
    assert f"{bad}: stages[1]: 'qa' is not an environment file; allowed: dev, prod, staging (config/<env>.yaml)" \
        in result.stderr
    assert "Traceback" not in result.stderr


# --- the seam: each environment forwards its approvals to the bus whose rule starts the pipeline ---


def test_every_environments_approvals_reach_the_bus_that_starts_the_pipeline(pipeline_assembly, templates):
    from ml_platform.config import load_environments
    from ml_platform.delivery.settings import load_delivery_settings

    environments = load_environments(ROOT / "config")
    settings = load_delivery_settings(ROOT / "config" / "delivery" / "pipeline.yaml", environments)
    pipeline = json.loads((pipeline_assembly / "Delivery.template.json").read_text())["Resources"]
    [bus] = [r["Properties"] for r in pipeline.values() if r["Type"] == "AWS::Events::EventBus"]
    assert bus["Name"] == settings.event_bus_name
    admitted = json.dumps([r["Properties"] for r in pipeline.values() if r["Type"] == "AWS::Events::EventBusPolicy"])
    [start] = [r["Properties"] for r in pipeline.values() if r["Type"] == "AWS::Events::Rule"
               and ":codepipeline:" in json.dumps(r["Properties"].get("Targets", []))
               and r["Properties"].get("EventBusName")]
    wanted = start["EventPattern"]
    for name in settings.stages:
        config = environments[name]
        assert config.account in admitted, name  # the bus lets the environment's account put events
        training = templates[name][config.stack_name("Training")]["Resources"]
        forwarding = [r["Properties"] for r in training.values() if r["Type"] == "AWS::Events::Rule"
                      and settings.event_bus_name in json.dumps(r["Properties"].get("Targets", []))]
        assert forwarding, f"{name} forwards no approval to {settings.event_bus_name}"
        for rule in forwarding:
            pattern = rule["EventPattern"]
            # what the environment forwards is what the pipeline's rule starts on
            assert pattern["source"] == wanted["source"] and pattern["detail-type"] == wanted["detail-type"], name
            assert pattern["detail"]["ModelApprovalStatus"] == wanted["detail"]["ModelApprovalStatus"] == ["Approved"]
            [target] = [t for t in rule["Targets"] if settings.event_bus_name in json.dumps(t)]
            arn = json.dumps(target["Arn"])
            assert settings.tooling.account in arn and settings.tooling.region in arn, name
