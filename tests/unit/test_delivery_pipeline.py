"""The delivery pipeline (ml_platform.delivery): settings, and the pipeline stack synthesized once
from small environment files (dev us-east-1, staging eu-west-1 with approval, prod with approval)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from aws_cdk.assertions import Match, Template

from ml_platform.config import ConfigError, load_environments
from ml_platform.delivery.pipeline_stack import (
    APPROVED_MODEL_PATTERN,
    BUILD_IMAGE,
    README_COMMANDS,
    SYNTH_COMMANDS,
    SYNTH_OUTPUT_DIRECTORY,
)
from ml_platform.delivery.settings import (
    DEFAULT_BRANCH,
    ConnectionSource,
    S3Source,
    load_delivery_settings,
    parse_delivery_settings,
)
from tests.conftest import CDK_CONTEXT, ROOT, run_cfn_lint, run_checkov

ENVIRONMENTS = {  # name: (account, region, requires_approval)
    "dev": ("111111111111", "us-east-1", False),
    "staging": ("222222222222", "eu-west-1", True),
    "prod": ("333333333333", "us-east-1", True),
}
ORDER = ["dev", "staging", "prod"]
CONNECTION = "arn:aws:codeconnections:us-east-1:999999999999:connection/00000000-0000-0000-0000-000000000000"
BASE = {"prefix": "mlp", "tooling": {"account": "999999999999", "region": "us-east-1"},
        "source": {"connection_arn": CONNECTION, "repository": "my-org/ml-platform"}, "stages": ORDER}


def _write_environments(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, (account, region, approval) in ENVIRONMENTS.items():
        (directory / f"{name}.yaml").write_text(
            f'account: "{account}"\nregion: {region}\nprefix: mlp\n'
            f"tags: {{project: p, environment: {name}, owner: o, cost_center: c}}\n"
            f"requires_approval: {str(approval).lower()}\n")
    return directory


# -- settings -------------------------------------------------------------------------------------


def test_committed_settings_load_against_the_committed_environments():
    settings = load_delivery_settings(ROOT / "config/delivery/pipeline.yaml", load_environments(ROOT / "config"))
    assert settings.tooling.account == "999999999999" and settings.tooling.region == "us-east-1"
    assert isinstance(settings.source, ConnectionSource)
    assert settings.event_bus_name == "mlp-delivery"
    assert load_environments(ROOT / "config")["prod"].requires_approval is True


def test_defaults_and_the_s3_source():
    settings = parse_delivery_settings(BASE, "f.yaml")
    assert isinstance(settings.source, ConnectionSource) and settings.source.branch == DEFAULT_BRANCH
    s3 = parse_delivery_settings({**BASE, "source": {"bucket": "my-src", "key": "repo.zip"}}, "f.yaml")
    assert s3.source == S3Source(bucket="my-src", key="repo.zip")


@pytest.mark.parametrize(("change", "line"), [
    ({"tooling": {"account": 999999999999, "region": "us-east-1"}},
     "f.yaml: tooling.account: input should be a valid string; put the value in quotes (got 999999999999)"),
    ({"source": {"connection_arn": "arn:aws:iam::1:role/x", "repository": "a/b"}},
     "f.yaml: source.connection_arn: must be a connection ARN"),
    ({"source": {"connection_arn": CONNECTION, "repository": "no-owner"}},
     "f.yaml: source.repository: must be owner/name, e.g. 'my-org/ml-platform' (got 'no-owner')"),
    ({"source": {"bucket": "my-src", "kee": "x"}}, "f.yaml: source.kee: unknown key; allowed keys: bucket, key"),
    ({"stage": ["dev"]}, "f.yaml: stage: unknown key; allowed keys: prefix, tooling, source, stages"),
])
def test_errors_are_one_line_naming_file_key_value_and_allowed(change, line):
    with pytest.raises(ConfigError) as raised:
        parse_delivery_settings({**BASE, **change}, "f.yaml")
    assert any(problem.startswith(line) for problem in raised.value.problems), raised.value.problems
    assert all("\n" not in problem for problem in raised.value.problems)


def test_unknown_or_repeated_environment_is_one_line(tmp_path):
    environments = load_environments(_write_environments(tmp_path / "config"))
    path = tmp_path / "pipeline.yaml"
    path.write_text(json.dumps({**BASE, "stages": ["dev", "qa", "dev"]}))
    with pytest.raises(ConfigError) as raised:
        load_delivery_settings(path, environments)
    assert raised.value.problems == [
        f"{path}: stages[1]: 'qa' is not an environment file; allowed: dev, prod, staging (config/<env>.yaml)",
        f"{path}: stages[2]: 'dev' is listed twice; each environment deploys once",
    ]


# -- the pipeline stack ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def assembly(tmp_path_factory) -> Path:
    from ml_platform.delivery.app import build_pipeline_app

    base = tmp_path_factory.mktemp("delivery")
    settings = base / "pipeline.yaml"
    settings.write_text(json.dumps(BASE))
    outdir = base / "cdk.out"
    build_pipeline_app(_write_environments(base / "config"), settings, outdir=str(outdir), context=CDK_CONTEXT).synth()
    return outdir


@pytest.fixture(scope="module")
def template(assembly) -> Template:
    return Template.from_json(json.loads((assembly / "Delivery.template.json").read_text()))


@pytest.fixture(scope="module")
def stages(template) -> list[dict]:
    (pipeline,) = template.find_resources("AWS::CodePipeline::Pipeline").values()
    return pipeline["Properties"]["Stages"]


def _deploy_stages(stages: list[dict]) -> list[dict]:
    return [s for s in stages if s["Name"] in ENVIRONMENTS]


def test_environments_deploy_in_the_order_of_stages(stages):
    assert [s["Name"] for s in stages][:3] == ["Source", "Build", "UpdatePipeline"]
    assert [s["Name"] for s in _deploy_stages(stages)] == ORDER
    assert [s["Name"] for s in stages].index("dev") > [s["Name"] for s in stages].index("UpdatePipeline")


def test_a_manual_approval_runs_first_exactly_where_required(stages):
    for stage in _deploy_stages(stages):
        approvals = [a for a in stage["Actions"] if a["ActionTypeId"]["Provider"] == "Manual"]
        if ENVIRONMENTS[stage["Name"]][2]:
            assert len(approvals) == 1, stage["Name"]
            others = [a["RunOrder"] for a in stage["Actions"] if a is not approvals[0]]
            assert approvals[0]["RunOrder"] < min(others)
        else:
            assert approvals == [], stage["Name"]


def test_each_deploy_action_targets_its_environments_account_and_region(stages, template):
    for stage in _deploy_stages(stages):
        account, region, _ = ENVIRONMENTS[stage["Name"]]
        deploys = [a for a in stage["Actions"] if a["ActionTypeId"]["Provider"] == "CloudFormation"]
        assert deploys
        for action in deploys:
            assert action["Configuration"]["StackName"].startswith(f"mlp-{stage['Name']}-")
            if action["Configuration"]["ActionMode"] == "CHANGE_SET_REPLACE":  # the change set's execution role
                execution = json.dumps(action["Configuration"]["RoleArn"])
                assert f":iam::{account}:role/cdk-hnb659fds-cfn-exec-role-{account}-{region}" in execution
            assert f":iam::{account}:role/cdk-hnb659fds-deploy-role-{account}-{region}" in json.dumps(action["RoleArn"])
            assert action.get("Region", "us-east-1") == region
    # the artifact key (kept with its retained bucket) admits the environment accounts of its region
    (key,) = [k for k in template.find_resources("AWS::KMS::Key").values()
              if f":iam::{ENVIRONMENTS['prod'][0]}:" in json.dumps(k["Properties"]["KeyPolicy"])]
    assert key["DeletionPolicy"] == "Retain" and key["Properties"]["EnableKeyRotation"] is True
    policy = json.dumps(key["Properties"]["KeyPolicy"])
    assert all(f":iam::{account}:" in policy for account, region, _ in ENVIRONMENTS.values() if region == "us-east-1")


def test_the_build_runs_the_readme_commands_then_the_pipeline_synth(template):
    readme = (ROOT / "README.md").read_text()
    assert all(f"{command} " in readme for command in README_COMMANDS)
    assert SYNTH_COMMANDS[: len(README_COMMANDS)] == README_COMMANDS
    projects = template.find_resources("AWS::CodeBuild::Project", {"Properties": {
        "Description": Match.string_like_regexp("Build/Synth")}})
    (synth,) = projects.values()
    spec = json.loads(synth["Properties"]["Source"]["BuildSpec"])
    assert spec["phases"]["build"]["commands"] == list(SYNTH_COMMANDS)
    assert spec["artifacts"]["base-directory"] == SYNTH_OUTPUT_DIRECTORY
    makefile = (ROOT / "Makefile").read_text()
    assert "synth-pipeline:" in makefile and "--output cdk.out.pipeline" in makefile


def test_codebuild_is_pinned_unprivileged_encrypted_and_logs_to_a_retained_encrypted_group(template):
    projects = template.find_resources("AWS::CodeBuild::Project")
    assert projects
    for project in projects.values():
        props = project["Properties"]
        assert props["Environment"]["Image"] == BUILD_IMAGE.image_id
        assert props["Environment"]["PrivilegedMode"] is False
        assert "EncryptionKey" in props
    (group_id, group), = template.find_resources("AWS::Logs::LogGroup").items()
    assert group["DeletionPolicy"] == "Retain" and "KmsKeyId" in group["Properties"]
    assert all(p["Properties"]["LogsConfig"]["CloudWatchLogs"]["GroupName"] == {"Ref": group_id}
               for p in projects.values())


def test_artifact_bucket_is_kms_encrypted_versioned_logged_and_retained(template):
    buckets = template.find_resources("AWS::S3::Bucket", {"Properties": {"BucketEncryption": {
        "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {
            "SSEAlgorithm": "aws:kms", "KMSMasterKeyID": Match.any_value()}}]}}})
    (bucket,) = buckets.values()
    assert bucket["DeletionPolicy"] == "Retain" and bucket["UpdateReplacePolicy"] == "Retain"
    assert bucket["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["Properties"]["LoggingConfiguration"]["LogFilePrefix"] == "artifacts/"


def test_the_bus_admits_each_environment_account_for_sagemaker_events(template):
    template.has_resource_properties("AWS::Events::EventBus", {"Name": "mlp-delivery"})
    policies = template.find_resources("AWS::Events::EventBusPolicy")
    statements = [p["Properties"]["Statement"] for p in policies.values()]
    principals = sorted(json.dumps(s["Principal"]) for s in statements)
    assert len(statements) == len({a for a, _, _ in ENVIRONMENTS.values()})
    for account, _, _ in ENVIRONMENTS.values():
        assert any(account in p for p in principals)
    for statement in statements:
        assert statement["Action"] == "events:PutEvents"
        assert statement["Condition"] == {"ForAllValues:StringEquals": {"events:source": "aws.sagemaker"}}


def test_an_approved_model_package_starts_the_pipeline(template):
    (pipeline_id,) = template.find_resources("AWS::CodePipeline::Pipeline")
    template.has_resource_properties("AWS::Events::Rule", {
        "EventBusName": Match.any_value(),
        "EventPattern": {"source": APPROVED_MODEL_PATTERN["source"],
                         "detail-type": APPROVED_MODEL_PATTERN["detail_type"],
                         "detail": {"ModelApprovalStatus": ["Approved"]}},
        "Targets": [Match.object_like({"DeadLetterConfig": Match.any_value(), "Arn": Match.any_value()})],
    })
    rules = template.find_resources("AWS::Events::Rule", {"Properties": {"EventPattern": {
        "detail": {"ModelApprovalStatus": ["Approved"]}}}})
    (rule,) = rules.values()
    assert pipeline_id in json.dumps(rule["Properties"]["Targets"][0]["Arn"])


def test_pipeline_failures_reach_an_encrypted_topic(template):
    template.has_resource_properties("AWS::Events::Rule", {
        "EventPattern": Match.object_like({"source": ["aws.codepipeline"], "detail": {"state": ["FAILED"]}}),
        "Targets": [Match.object_like({"Arn": {"Ref": Match.string_like_regexp("AlertsTopic")}})],
    })
    template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})


def test_gates_pass_on_the_pipeline_stacks(assembly, tmp_path):
    assert json.loads((assembly / "validation-report.json").read_text())["pluginReports"] == []
    own = sorted(assembly.glob("*.template.json"))  # the pipeline stack and its cross-region support stack
    assert len(own) == 2
    lint = run_cfn_lint(own)
    assert lint.returncode == 0 and lint.stdout == "", lint.stdout
    for path in own:
        shutil.copy(path, tmp_path / path.name)
    reports, checkov = run_checkov(tmp_path)
    failed = [(c["check_id"], c["resource"]) for r in reports for c in r["results"]["failed_checks"]]
    assert not failed and checkov.returncode == 0, failed
    assert sum(r["summary"]["passed"] for r in reports) > 0
