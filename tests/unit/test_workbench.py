"""The workbench: Studio domain (VPC only, IAM, lake key, idle shutdown), user profiles per persona,
Canvas for analysts (workspace in the lake, no direct deploy, registry hand-off), settings' rules, gates."""

from __future__ import annotations

import json

import pytest
from aws_cdk import App, Stack
from aws_cdk.assertions import Template

from ml_platform.constructs.core.alerting import AlertPath
from ml_platform.constructs.core.validation import SettingsError
from ml_platform.constructs.lake.data_lake import DataLake
from ml_platform.constructs.training.ml_network import MlNetwork, NetworkSettings
from ml_platform.constructs.training.studio_domain import CANVAS_ENDPOINTS, NFS_PORT, REQUIRED_ENDPOINTS
from ml_platform.constructs.training.training_settings import TrainingSettings
from ml_platform.constructs.training.workbench_settings import (
    DEFAULT_CANVAS_PREFIX,
    DEFAULT_IDLE_TIMEOUT_MINUTES,
    DEFAULT_MAX_SPACE_EBS_GB,
    DEFAULT_SPACE_EBS_GB,
    WorkbenchSettings,
)
from ml_platform.stacks.training_stack import TrainingStack
from ml_platform.stacks.workbench_stack import WorkbenchStack
from tests.conftest import assert_gates_pass, synth_gated
from tests.iam_eval import Resolver, permitted

ENV = {"account": "111111111111", "region": "eu-west-1"}
USERS = {"alice": {"persona": "data_scientist"}, "bob": {"persona": "ml_engineer"}, "carol": {"persona": "analyst"}}


def build(scope, settings: dict, *, personas: bool = True, endpoints=REQUIRED_ENDPOINTS):
    base = Stack(scope, "Base", env=ENV)
    lake = DataLake(base, "Lake")
    network = MlNetwork(base, "Net", settings=NetworkSettings(az_count=2, interface_endpoints=list(endpoints)))
    parts = {"name_prefix": "t-dev", "lake": lake, "network": network, "alerts": AlertPath(base, "Alerts"),
             "allow_data_deletion": False, "env": ENV}
    training = TrainingStack(scope, "Training", settings=TrainingSettings.model_validate(
        {"models": ["churn"], "roles": {"processing": {}, "training": {}}, **({"personas": {}} if personas else {})}),
        **parts)
    stack = WorkbenchStack(scope, "Workbench", settings=WorkbenchSettings.model_validate(settings),
                           training=training, **parts)
    return stack, training, lake, network


def resources(stack) -> dict[str, dict]:
    return Template.from_stack(stack).to_json()["Resources"]


def of_type(found: dict, kind: str) -> list[dict]:
    return [r for r in found.values() if r["Type"] == kind]


def canvas_call(found: dict) -> dict:
    """The UpdateDomain call of the Canvas settings, its references replaced by markers."""
    [custom] = of_type(found, "Custom::StudioCanvasSettings")
    parts = custom["Properties"]["Create"]["Fn::Join"][1]
    return json.loads("".join(p if isinstance(p, str) else "REF" for p in parts))


@pytest.fixture(scope="module")
def built():
    stack, training, lake, network = build(App(), {"users": USERS})
    return stack, training, lake, network, resources(stack)


def test_domain_is_vpc_only_with_iam_sign_in_the_isolated_subnets_and_the_lake_key(built):
    stack, _, lake, network, found = built
    [domain] = of_type(found, "AWS::SageMaker::Domain")
    props = domain["Properties"]
    assert props["AuthMode"] == "IAM" and props["AppNetworkAccessType"] == "VpcOnly"
    assert props["DomainName"] == "t-dev" and domain["DeletionPolicy"] == "Retain"
    assert props["SubnetIds"] == [stack.resolve(s.subnet_id) for s in network.vpc.isolated_subnets]
    assert props["VpcId"] == stack.resolve(network.vpc.vpc_id)
    assert "LakeKey" in json.dumps(props["KmsKeyId"])
    settings = props["DefaultUserSettings"]
    assert "PersonasDataScientist" in json.dumps(settings["ExecutionRole"])
    assert settings["SharingSettings"] == {"NotebookOutputOption": "Disabled"}
    assert settings["StudioWebPortal"] == "ENABLED"


def test_apps_shut_down_when_idle_by_default(built):
    *_, found = built
    [domain] = of_type(found, "AWS::SageMaker::Domain")
    idle = {"IdleSettings": {"LifecycleManagement": "ENABLED", "IdleTimeoutInMinutes": DEFAULT_IDLE_TIMEOUT_MINUTES,
                             "MinIdleTimeoutInMinutes": 60, "MaxIdleTimeoutInMinutes": DEFAULT_IDLE_TIMEOUT_MINUTES}}
    settings = domain["Properties"]["DefaultUserSettings"]
    assert settings["JupyterLabAppSettings"]["AppLifecycleManagement"] == idle
    assert settings["CodeEditorAppSettings"]["AppLifecycleManagement"] == idle
    assert domain["Properties"]["DefaultSpaceSettings"]["JupyterLabAppSettings"]["AppLifecycleManagement"] == idle
    assert settings["SpaceStorageSettings"] == {"DefaultEbsStorageSettings": {
        "DefaultEbsVolumeSizeInGb": DEFAULT_SPACE_EBS_GB, "MaximumEbsVolumeSizeInGb": DEFAULT_MAX_SPACE_EBS_GB}}


def test_security_group_allows_nfs_among_apps_and_https_out_and_the_endpoints_admit_it(built):
    stack, *_, found = built
    group = stack.resolve(stack.studio.security_group.security_group_id)
    ingress = [r["Properties"] for r in of_type(found, "AWS::EC2::SecurityGroupIngress")]
    assert {"IpProtocol": "tcp", "FromPort": NFS_PORT, "ToPort": NFS_PORT} .items() <= next(
        i for i in ingress if i["FromPort"] == NFS_PORT).items()
    [to_endpoints] = [i for i in ingress if i["FromPort"] == 443 and "Fn::ImportValue" in i["GroupId"]]
    assert "NetEndpointSecurityGroup" in json.dumps(to_endpoints["GroupId"])
    assert to_endpoints["SourceSecurityGroupId"] == group
    [sg] = [r for r in of_type(found, "AWS::EC2::SecurityGroup") if r["Properties"]["GroupDescription"].startswith("Studio apps")]
    assert [e["FromPort"] for e in sg["Properties"]["SecurityGroupEgress"]] == [443]


def test_profiles_run_as_their_persona_role(built):
    stack, training, *_, found = built
    profiles = {p["Properties"]["UserProfileName"]: p for p in of_type(found, "AWS::SageMaker::UserProfile")}
    assert set(profiles) == set(USERS)
    role = lambda name: json.dumps(profiles[name]["Properties"]["UserSettings"]["ExecutionRole"])  # noqa: E731
    assert "PersonasDataScientist" in role("alice") and "PersonasMlEngineer" in role("bob")
    assert "CanvasAnalyst" in role("carol")
    assert profiles["carol"]["Properties"]["Tags"] == [{"Key": "persona", "Value": "analyst"}]


def test_persona_roles_trust_sagemaker_for_this_account_only(built):
    _, training, *_ = built
    trust = Template.from_stack(training).to_json()["Resources"]
    role_id = training.resolve(training.personas.data_scientist.node.default_child.logical_id)
    statements = trust[role_id]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"},
            "Condition": {"StringEquals": {"aws:SourceAccount": ENV["account"]}}} in statements


def test_people_open_only_their_personas_profiles(built):
    stack, *_, found = built
    policies = {k: v for k, v in found.items() if k.startswith("StudioDataScientistStudioPolicy")}
    [document] = [p["Properties"]["PolicyDocument"] for p in policies.values()]
    resolve = Resolver(stack, None, ENV)
    domain = stack.resolve(stack.studio.domain.logical_id)
    policy = {"Statement": [resolve(s) for s in document["Statement"]]}
    profile = f"arn:aws:sagemaker:{ENV['region']}:{ENV['account']}:user-profile/{domain}.DomainId/"
    assert permitted(policy, "sagemaker:CreatePresignedDomainUrl", profile + "alice")
    assert not permitted(policy, "sagemaker:CreatePresignedDomainUrl", profile + "bob")
    assert permitted(policy, "sagemaker:CreateApp", f"arn:aws:sagemaker:{ENV['region']}:{ENV['account']}:app/{domain}.DomainId/alice/jupyterlab/default")
    assert not permitted(policy, "sagemaker:CreateApp", f"arn:aws:sagemaker:{ENV['region']}:{ENV['account']}:app/d-other/alice/jupyterlab/default")


def test_canvas_workspace_is_in_the_lake_with_the_lake_key_and_direct_deploy_is_off(built):
    *_, found = built
    call = canvas_call(found)
    assert call["action"] == "updateDomain"
    canvas = call["parameters"]["DefaultUserSettings"]["CanvasAppSettings"]
    assert canvas["WorkspaceSettings"] == {"S3ArtifactPath": f"s3://REF/{DEFAULT_CANVAS_PREFIX}", "S3KmsKeyId": "REF"}
    assert canvas["DirectDeploySettings"] == {"Status": "DISABLED"}
    assert canvas["ModelRegisterSettings"] == {"Status": "ENABLED"}
    assert canvas["TimeSeriesForecastingSettings"] == {"Status": "DISABLED"}


def test_analyst_builds_and_registers_but_cannot_deploy(built):
    stack, training, lake, _, found = built
    document = found[stack.resolve(stack.analyst.policy.node.default_child.logical_id)]["Properties"]["PolicyDocument"]
    # the lake's and registry's statements (imports of other stacks) are left out
    policy = {"Statement": [Resolver(stack, None, ENV)(s) for s in document["Statement"]
                            if "Fn::ImportValue" not in json.dumps(s)]}
    sagemaker = f"arn:aws:sagemaker:{ENV['region']}:{ENV['account']}"
    assert permitted(policy, "sagemaker:CreateAutoMLJobV2", f"{sagemaker}:automl-job/canvas-1")
    for action, kind in (("CreateEndpoint", "endpoint"), ("CreateEndpointConfig", "endpoint-config"),
                         ("CreateModel", "model")):
        assert not permitted(policy, f"sagemaker:{action}", f"{sagemaker}:{kind}/canvas-1")
    registers = [s for s in document["Statement"] if "sagemaker:CreateModelPackage" in s["Action"]]
    assert registers and "ChurnGroup" in json.dumps(registers)


def test_canvas_endpoints_only_with_an_analyst():
    stack, *_ = build(App(), {"users": {"alice": {"persona": "data_scientist"}}})
    found = resources(stack)
    assert not of_type(found, "AWS::EC2::VPCEndpoint") and stack.analyst is None
    stack, *_ = build(App(), {"users": USERS})
    assert len(of_type(resources(stack), "AWS::EC2::VPCEndpoint")) == len(CANVAS_ENDPOINTS)


def test_options_change_idle_storage_and_canvas():
    stack, *_ = build(App(), {"users": USERS, "idle_timeout_minutes": 120, "space_ebs_gb": 20, "max_space_ebs_gb": 50,
                              "canvas": {"workspace_prefix": "team/canvas/", "model_registry": False, "time_series": True}})
    found = resources(stack)
    [domain] = of_type(found, "AWS::SageMaker::Domain")
    settings = domain["Properties"]["DefaultUserSettings"]
    assert settings["JupyterLabAppSettings"]["AppLifecycleManagement"]["IdleSettings"]["IdleTimeoutInMinutes"] == 120
    assert settings["SpaceStorageSettings"]["DefaultEbsStorageSettings"] == {
        "DefaultEbsVolumeSizeInGb": 20, "MaximumEbsVolumeSizeInGb": 50}
    canvas = canvas_call(found)["parameters"]["DefaultUserSettings"]["CanvasAppSettings"]
    assert canvas["WorkspaceSettings"]["S3ArtifactPath"] == "s3://REF/team/canvas/"
    assert canvas["ModelRegisterSettings"] == {"Status": "DISABLED"}
    assert canvas["TimeSeriesForecastingSettings"] == {"Status": "ENABLED"}
    analyst = json.dumps(found[stack.resolve(stack.analyst.policy.node.default_child.logical_id)])
    assert "sagemaker:CreateModelPackage" not in analyst


@pytest.mark.parametrize(("settings", "message"), [
    ({"users": {"a_b": {"persona": "data_scientist"}}}, "users.a_b: string should match pattern"),
    ({"users": {"al": {"persona": "admin"}}}, "users.al.persona: input should be 'data_scientist', 'ml_engineer' or 'analyst'"),
    ({"idle_timeout_minutes": 30}, "idle_timeout_minutes: input should be greater than or equal to 60 (got 30)"),
    ({"space_ebs_gb": 50, "max_space_ebs_gb": 10}, "max_space_ebs_gb 10 is below space_ebs_gb 50"),
    ({"canvas": {"workspace_prefix": "canvas"}}, "canvas.workspace_prefix: prefix 'canvas' is invalid"),
    ({"canvas": {"direct_deploy": True}}, "canvas.direct_deploy: unknown key"),
])
def test_settings_errors_are_one_line(settings, message):
    with pytest.raises(SettingsError) as error:
        WorkbenchSettings(**settings)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_persona_without_a_role_fails_at_synth():
    with pytest.raises(ValueError, match=r"users\.alice: persona 'data_scientist' has no role .*training\.personas"):
        build(App(), {"users": {"alice": {"persona": "data_scientist"}}}, personas=False)


def test_a_network_without_the_sagemaker_endpoints_fails_at_synth():
    with pytest.raises(ValueError, match="does not reach the sagemaker_runtime interface endpoint.*network.interface_endpoints"):
        build(App(), {}, endpoints=("sagemaker_api", "sts", "logs"))


def test_gates_pass(tmp_path):
    assert_gates_pass(synth_gated(tmp_path, lambda stage: build(stage, {"users": USERS})))
