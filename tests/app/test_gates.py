"""The review gates on every committed environment: cfn-lint, cdk-nag packs, aws-cdk-lib's built-in
CloudFormation validation, checkov, determinism; and where each one runs (README, "The gates")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from aws_cdk import CfnResource, Stack
from aws_cdk import aws_s3 as s3

from ml_platform import platform_app
from ml_platform.config import ConfigError
from ml_platform.platform_app import (
    BUILTIN_VALIDATION_DEFAULT,
    BUILTIN_VALIDATION_VARIABLE,
    CONFIG_DIR_VARIABLE,
    ENVIRONMENTS_VARIABLE,
    NAG_PACKS,
    build_app,
    builtin_validation_requested,
)
from tests.conftest import (
    CDK_CONTEXT,
    CONFIG_DIR,
    ROOT,
    run_cfn_lint,
    run_checkov,
    stack_templates,
)

ENVIRONMENTS = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
#: The name aws-cdk-lib's built-in validation plugin reports under.
BUILTIN_PLUGIN = "CloudFormation Validate"


@pytest.fixture(scope="module")
def validated_assembly(tmp_path_factory) -> Path:
    """The committed environments synthesized again, with aws-cdk-lib's built-in validation on
    (off in `make synth` and in the ``assembly`` fixture: :data:`BUILTIN_VALIDATION_DEFAULT`)."""
    out = tmp_path_factory.mktemp("validated")
    build_app(CONFIG_DIR, outdir=str(out), context=CDK_CONTEXT, builtin_cloud_formation_validation=True).synth()
    return out


def _all_template_paths(assembly: Path) -> list[Path]:
    return [path for stacks in stack_templates(assembly).values() for path in stacks.values()]


def test_every_environment_file_is_synthesized(assembly):
    assert sorted(stack_templates(assembly)) == ENVIRONMENTS


def test_cfn_lint_reports_nothing(assembly):
    result = run_cfn_lint(_all_template_paths(assembly))
    assert result.returncode == 0 and result.stdout == "", result.stdout + result.stderr


def test_every_nag_pack_passed_every_environment(assembly):
    report = json.loads((assembly / "validation-report.json").read_text())
    assert report["pluginReports"] == []  # a report lists only packs with violations


def test_nag_gate_covers_every_environment_and_pack(tmp_path):
    """A careless bucket added to each environment fails synth, once per environment and pack."""
    app = build_app(CONFIG_DIR, outdir=str(tmp_path), context=CDK_CONTEXT)
    for env in ENVIRONMENTS:
        s3.Bucket(app.node.find_child(env).data_lake, "Careless")
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    assert sorted(r["pluginName"] for r in report["pluginReports"]) == sorted(
        ["AwsSolutions", "HIPAA.Security", "NIST.800.53.R5", "PCI.DSS.321"]
    )
    assert len(report["pluginReports"]) == len(NAG_PACKS)
    for plugin in report["pluginReports"]:
        paths = {c["constructPath"] for v in plugin["violations"] for c in v["violatingConstructs"]}
        assert paths == {f"{env}/DataLake/Careless/Resource" for env in ENVIRONMENTS}, plugin[
            "pluginName"
        ]


def test_findings_fail_synth_under_the_cdk_cli_too(tmp_path):
    """Under the CLI (CDK_APP_MODE=process) the app itself must exit 1 with the report."""
    script = tmp_path / "careless_app.py"
    script.write_text(
        "from pathlib import Path\n"
        "from aws_cdk import aws_s3 as s3\n"
        "from ml_platform.platform_app import build_app, synthesize\n"
        f"app = build_app(Path({str(CONFIG_DIR)!r}))\n"
        "s3.Bucket(app.node.find_child('dev').data_lake, 'Careless')\n"
        "synthesize(app)\n"
    )
    cli_context = {**CDK_CONTEXT, "@aws-cdk/core:failSynthOnValidationErrors": False}  # as the CLI sends
    env = {**os.environ, "CDK_APP_MODE": "process", "CDK_OUTDIR": str(tmp_path / "out"),
           "CDK_CONTEXT_JSON": json.dumps(cli_context), "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "AwsSolutions-S1" in result.stderr and "dev/DataLake/Careless/Resource" in result.stderr


def test_acknowledgments_are_written_beside_their_resources_with_reasons(templates):
    acknowledged = 0
    for stacks in templates.values():
        for template in stacks.values():
            for resource in template["Resources"].values():
                rules = resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
                for rule in rules:
                    assert len(rule["reason"]) >= 40, rule
                acknowledged += len(rules)
    assert acknowledged > 0


PACK_FILES = {"aws-solutions": "AwsSolutions", "hipaa-security": "HIPAA.Security",
              "nist-800-53-r5": "NIST.800.53.R5", "pci-dss-321": "PCI.DSS.321"}


def _rules_of_packs() -> dict[str, set[str]]:
    """Rule names per pack, read from the installed cdk-nag's JavaScript (ruleSuffixOverride or rule)."""
    import re
    import tarfile

    import cdk_nag

    [bundle] = (Path(cdk_nag.__file__).parent / "_jsii").glob("*.tgz")
    found: dict[str, set[str]] = {}
    with tarfile.open(bundle) as tar:
        for file_name, pack in PACK_FILES.items():
            source = tar.extractfile(f"package/lib/packs/{file_name}.js").read().decode()
            rules = set()
            for block in source.split("this.applyRule(")[1:]:
                override = re.search(r"ruleSuffixOverride: '(\w+)'", block.split("});")[0])
                rules.add(override.group(1) if override else re.search(r"rule: \w+\.(\w+)", block).group(1))
            found[pack] = rules
    return found


def test_every_acknowledgment_names_a_rule_its_pack_has(templates):
    """No exception is recorded for a rule that cannot fire (a reviewer would chase a ghost)."""
    rules = _rules_of_packs()
    assert "S3BucketReplicationEnabled" in rules["PCI.DSS.321"] and "SMG4" in rules["AwsSolutions"]
    for stacks in templates.values():
        for template in stacks.values():
            for logical_id, resource in template["Resources"].items():
                for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", []):
                    if rule["id"].startswith("CloudFormation-Validate::"):
                        continue  # aws-cdk-lib's own acknowledgment of its built-in schema check
                    pack, name = rule["id"].split("[")[0].split("-", 1)
                    assert name in rules[pack], f"{logical_id}: {rule['id']} is not a rule of {pack}"


def test_checkov_reports_no_failed_check(assembly):
    reports, result = run_checkov(assembly)
    assert all(r["summary"]["parsing_errors"] == 0 for r in reports), result.stderr
    assert sum(r["summary"]["passed"] for r in reports) > 0, "checkov checked nothing"
    failed = [c for r in reports for c in r["results"]["failed_checks"]]
    assert not failed, [(c["check_id"], c["resource"], c["file_path"]) for c in failed]
    skipped = [c for r in reports for c in r["results"]["skipped_checks"]]
    assert all(len(c["check_result"].get("suppress_comment", "")) >= 40 for c in skipped), skipped


def test_synthesis_is_deterministic(assembly, validated_assembly):
    """Two synths give byte-identical templates. The second runs the built-in validation: it
    changes nothing, so the gates here check the very templates `make synth` writes."""
    first, second = _all_template_paths(assembly), _all_template_paths(validated_assembly)
    assert [p.relative_to(assembly) for p in first] == [p.relative_to(validated_assembly) for p in second]
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes(), f"{a.name} differs between two synths"


def test_no_exception_is_recorded_above_a_resource(tmp_path):
    """Every acknowledgment sits on a construct that holds resources, and none on an app, stage or
    stack: an exception made there would cover resources a reviewer never sees it beside.
    (aws-cdk-lib's own provider functions and roles are plain CfnResources that cdk-nag's rules do
    not inspect; their checkov and cfn-lint exceptions are in their own metadata.)"""
    from aws_cdk import App, CfnResource, Stack, Stage, Validations

    app = build_app(CONFIG_DIR, outdir=str(tmp_path), context=CDK_CONTEXT)
    holders = [c for c in app.node.find_all()
               if any(e.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY for e in c.node.metadata)]
    assert holders
    for construct in holders:
        assert not isinstance(construct, (App, Stage, Stack)), construct.node.path
        assert isinstance(construct, CfnResource) or any(
            isinstance(c, CfnResource) for c in construct.node.find_all()), construct.node.path


def test_the_app_calls_no_deprecated_api(tmp_path):
    """jsii raises on a deprecated aws-cdk-lib API when JSII_DEPRECATED=fail (instead of printing a
    warning on every synth): building every environment must not raise."""
    code = ("import json, sys; from pathlib import Path; from ml_platform.platform_app import build_app; "
            "build_app(Path(sys.argv[1]), outdir=sys.argv[2], context=json.loads(sys.argv[3]))")
    result = subprocess.run([sys.executable, "-c", code, str(CONFIG_DIR), str(tmp_path), json.dumps(CDK_CONTEXT)],
                            capture_output=True, text=True, cwd=ROOT, env={**os.environ, "JSII_DEPRECATED": "fail"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert "deprecated" not in result.stderr.lower(), result.stderr[-2000:]


def _synth_broken_parameter(outdir: Path, **app_props) -> dict:
    """An app of :func:`build_app` with no environment and one SSM parameter of a type the
    resource schema does not allow; the validation report of its synth."""
    app = build_app(CONFIG_DIR, only=[], outdir=str(outdir), context=CDK_CONTEXT, **app_props)
    CfnResource(Stack(app, "Broken"), "Parameter", type="AWS::SSM::Parameter",
                properties={"Type": "NotAType", "Value": "x"})
    app.synth()
    return json.loads((outdir / "validation-report.json").read_text())


def test_builtin_validation_is_off_by_default_and_finds_a_broken_property_when_on(tmp_path):
    """`make synth` and `cdk synth` skip aws-cdk-lib's built-in validation; cfn-lint (on every
    template in `make test`) reports the same schema violation, as an error."""
    assert BUILTIN_VALIDATION_DEFAULT is False
    assert _synth_broken_parameter(tmp_path / "default")["pluginReports"] == []
    [plugin] = _synth_broken_parameter(tmp_path / "on", builtin_cloud_formation_validation=True)["pluginReports"]
    assert plugin["pluginName"] == BUILTIN_PLUGIN
    # a schema finding is a warning: it never failed a synth, only this module's gates
    assert [(v["ruleName"], v["severity"]) for v in plugin["violations"]] == [("W3030", "warning")]
    lint = run_cfn_lint([tmp_path / "default" / "Broken.template.json"])
    assert lint.returncode != 0 and "E3030" in lint.stdout, lint.stdout


def test_builtin_validation_reports_nothing_on_any_environment(validated_assembly):
    """The one place the built-in validation runs on the platform: no finding, warnings included."""
    assert sorted(stack_templates(validated_assembly)) == ENVIRONMENTS
    report = json.loads((validated_assembly / "validation-report.json").read_text())
    assert report["pluginReports"] == [], [(r["pluginName"], [v["ruleName"] for v in r["violations"]])
                                           for r in report["pluginReports"]]


@pytest.mark.parametrize(("value", "expected"), [(None, BUILTIN_VALIDATION_DEFAULT), ("", BUILTIN_VALIDATION_DEFAULT),
                                                 ("true", True), ("TRUE", True), ("false", False)])
def test_the_cli_app_runs_builtin_validation_only_when_the_variable_asks(monkeypatch, value, expected):
    built = []
    monkeypatch.setattr(platform_app, "build_app", lambda config_dir, only, **props: built.append(props) or "app")
    monkeypatch.setattr(platform_app, "synthesize", lambda app: None)
    monkeypatch.delenv(ENVIRONMENTS_VARIABLE, raising=False)
    monkeypatch.setenv(CONFIG_DIR_VARIABLE, str(CONFIG_DIR))
    if value is None:
        monkeypatch.delenv(BUILTIN_VALIDATION_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(BUILTIN_VALIDATION_VARIABLE, value)
    platform_app.main()
    assert built == [{"builtin_cloud_formation_validation": expected}]


def test_a_bad_builtin_validation_value_is_one_line_naming_it(monkeypatch, capsys):
    with pytest.raises(ConfigError) as error:
        builtin_validation_requested("yes")
    assert error.value.problems == [
        f"{BUILTIN_VALIDATION_VARIABLE}: 'yes' is not allowed; allowed: true, false (unset: false)"]
    monkeypatch.setenv(CONFIG_DIR_VARIABLE, str(CONFIG_DIR))
    monkeypatch.setenv(BUILTIN_VALIDATION_VARIABLE, "yes")
    with pytest.raises(SystemExit) as exit_:
        platform_app.main()
    assert exit_.value.code == 1 and error.value.problems[0] in capsys.readouterr().err


def test_make_synth_builds_env_alone_and_keeps_builtin_validation_off(tmp_path):
    """`make synth ENV=<env>` passes ENV to the app and refuses an environment without a file;
    neither form turns the built-in validation on (cdk-nag needs nothing: the app registers it)."""
    def make(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
        return subprocess.run(["make", "--no-print-directory", "-f", str(ROOT / "Makefile"), "-o", "synth-setup",
                               "synth", *args], cwd=cwd, capture_output=True, text=True)
    one, every = make("-n", f"ENV={ENVIRONMENTS[0]}").stdout, make("-n").stdout
    assert f"ML_PLATFORM_ENVIRONMENTS={ENVIRONMENTS[0]} cdk --no-notices synth" in one
    assert "ML_PLATFORM_ENVIRONMENTS" not in every and "cdk --no-notices synth" in every
    assert all(flag not in one + every for flag in ("CDK_VALIDATION", BUILTIN_VALIDATION_VARIABLE))
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "dev.yaml").write_text("")
    refused = make("ENV=nope", "CDK=false", cwd=tmp_path)  # in a scratch directory: nothing to remove
    assert refused.returncode == 2 and "config/nope.yaml does not exist; environments: dev" in refused.stderr
