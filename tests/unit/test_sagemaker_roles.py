"""SageMakerRoles: what each activity's role may touch, and the settings' errors."""

from __future__ import annotations

import json

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Template


from ml_platform.constructs.lake.data_lake import DataLake
from ml_platform.constructs.training.image_repositories import ImageRepositories, RepositorySettings
from ml_platform.constructs.training.ml_network import MlNetwork, NetworkSettings
from ml_platform.constructs.training.sagemaker_roles import LakeLocation, RoleSettings, SageMakerRoles
from ml_platform.constructs.training.training_settings import TrainingSettings

ENV = {"account": "111111111111", "region": "eu-west-1"}


def build(settings: dict, *, network: bool = True, boundary: bool = False):
    app = App()
    lake = DataLake(Stack(app, "Lake", env=ENV), "Lake")
    stack = Stack(app, "Training", env=ENV)
    net = MlNetwork(stack, "Net", settings=NetworkSettings(az_count=1, interface_endpoints=[])) if network else None
    images = ImageRepositories(stack, "Images", repositories={"trainer": RepositorySettings()}, name_prefix="t")
    policy = iam.ManagedPolicy(stack, "Boundary", statements=[iam.PolicyStatement(actions=["s3:*"], resources=["*"])]) if boundary else None
    roles = SageMakerRoles(stack, "Roles", lake=lake, settings={k: RoleSettings(**v) for k, v in settings.items()},
                           network=net, images=images, permissions_boundary=policy)
    return stack, roles, Template.from_stack(stack).to_json()["Resources"]


def statements(stack, resources, role) -> list[dict]:
    return resources[stack.resolve(role.policy.node.default_child.logical_id)]["Properties"]["PolicyDocument"]["Statement"]


def actions_of(found: list[dict]) -> set[str]:
    return {a for s in found for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}


@pytest.fixture(scope="module")
def full():
    return build({
        "training": {"reads": [{"zone": "curated", "prefix": "churn/"}], "writes": [{"zone": "artifacts", "prefix": "models/"}],
                     "images": ["trainer"]},
        "processing": {"reads": [{"zone": "processed"}]},
        "inference": {}, "monitoring": {}, "pipeline": {},
    })


def test_one_sagemaker_role_per_activity_with_a_managed_policy(full):
    stack, roles, resources = full
    assert sorted(roles.roles) == ["inference", "monitoring", "pipeline", "processing", "training"]
    for role in roles.roles.values():
        trust = resources[stack.resolve(role.node.default_child.logical_id)]["Properties"]["AssumeRolePolicyDocument"]
        assert trust["Statement"][0]["Principal"] == {"Service": "sagemaker.amazonaws.com"}
        assert "ManagedPolicyArns" not in resources[stack.resolve(role.node.default_child.logical_id)]["Properties"]
    assert not [r for r in resources.values() if r["Type"] == "AWS::IAM::Policy"]


def test_training_reads_and_writes_only_its_prefixes_and_pulls_only_its_image(full):
    stack, roles, resources = full
    found = statements(stack, resources, roles.roles["training"])
    reads = next(s for s in found if "s3:GetObject" in s["Action"])
    writes = next(s for s in found if "s3:PutObject" in s["Action"])
    assert json.dumps(reads["Resource"]).endswith('/churn/*"]]}') and json.dumps(writes["Resource"]).endswith('/models/*"]]}')
    pulls = next(s for s in found if "ecr:BatchGetImage" in s["Action"])
    assert pulls["Resource"] == {"Fn::GetAtt": [stack.resolve(stack.node.find_child("Images").repositories["trainer"].node.default_child.logical_id), "Arn"]}
    logs = next(s for s in found if "logs:PutLogEvents" in s["Action"])
    assert json.dumps(logs["Resource"]).endswith(':logs:eu-west-1:111111111111:log-group:/aws/sagemaker/TrainingJobs:*"]]}')


def test_no_write_action_on_a_star_resource_and_star_only_with_reason(full):
    stack, roles, resources = full
    for role in roles.roles.values():
        for statement in statements(stack, resources, role):
            if statement["Resource"] == "*" or statement["Resource"] == ["*"]:
                granted = actions_of([statement])
                assert granted <= {"cloudwatch:PutMetricData", "ecr:GetAuthorizationToken", "ec2:DescribeNetworkInterfaces",
                                   "ec2:DescribeVpcs", "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups", "ec2:DescribeDhcpOptions"}, granted
                if "cloudwatch:PutMetricData" in granted:
                    assert statement["Condition"]["StringLike"]["cloudwatch:namespace"] == ["/aws/sagemaker/*", "aws/sagemaker/*"]


def test_volume_key_only_as_a_grant_for_aws_resources(full):
    stack, roles, resources = full
    found = statements(stack, resources, roles.roles["inference"])
    grant = next(s for s in found if "kms:CreateGrant" in s["Action"])
    assert grant["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}


def test_describe_key_is_not_conditioned_on_a_grant_only_key(full):
    """kms:GrantIsForAWSResource is in the request context of CreateGrant, ListGrants and RevokeGrant
    only (KMS condition keys): no other action may depend on it, or it is never allowed."""
    grant_actions = {"kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"}
    stack, roles, resources = full
    for activity, role in roles.roles.items():
        found = statements(stack, resources, role)
        for statement in found:
            if "kms:GrantIsForAWSResource" in json.dumps(statement.get("Condition", {})):
                assert actions_of([statement]) <= grant_actions, (activity, statement)
        assert any("kms:DescribeKey" in actions_of([s]) and "Condition" not in s for s in found), activity


def test_network_interfaces_only_in_the_platform_subnets_and_vpc(full):
    stack, roles, resources = full
    found = statements(stack, resources, roles.roles["processing"])
    create = next(s for s in found if s["Action"] == "ec2:CreateNetworkInterface")
    assert any("subnet/" in json.dumps(r) for r in create["Resource"]) and any("security-group/" in json.dumps(r) for r in create["Resource"])
    delete = next(s for s in found if "ec2:DeleteNetworkInterface" in s["Action"])
    assert "ec2:Vpc" in delete["Condition"]["ArnEquals"]
    assert not [s for s in statements(stack, resources, roles.roles["pipeline"]) if "ec2:CreateNetworkInterface" in actions_of([s])]


def test_pipeline_runs_jobs_and_passes_only_processing_and_training_roles(full):
    stack, roles, resources = full
    found = statements(stack, resources, roles.roles["pipeline"])
    passing = next(s for s in found if s["Action"] == "iam:PassRole")
    assert passing["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    passed = {json.dumps(r) for r in passing["Resource"]}
    for activity in ("processing", "training"):
        assert json.dumps({"Fn::GetAtt": [stack.resolve(roles.roles[activity].node.default_child.logical_id), "Arn"]}) in passed
    assert len(passed) == 2
    assert {"sagemaker:CreateTrainingJob", "sagemaker:CreateProcessingJob"} <= actions_of(found)
    assert "logs:PutLogEvents" not in actions_of(found)


def test_without_network_no_vpc_permissions_and_boundary_applies():
    stack, roles, resources = build({"training": {}}, network=False, boundary=True)
    found = statements(stack, resources, roles.roles["training"])
    assert not [a for a in actions_of(found) if a.startswith("ec2:")]
    role = resources[stack.resolve(roles.roles["training"].node.default_child.logical_id)]["Properties"]
    assert role["PermissionsBoundary"] == {"Ref": stack.resolve(stack.node.find_child("Boundary").node.default_child.logical_id)}


def test_grant_pass_lets_a_person_pass_named_roles_only(full):
    stack, roles, _ = full
    person = iam.Role(stack, "Scientist", assumed_by=iam.AccountRootPrincipal())
    assert roles.grant_pass(person, "training").success


@pytest.mark.parametrize(("settings", "message"), [
    ({"labeling": {}}, "activity 'labeling' is unknown; allowed: processing, training, inference, monitoring, pipeline"),
    ({"training": {"images": ["missing"]}}, "training.images names 'missing', which is not a platform repository (trainer)"),
])
def test_role_errors(settings, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build(settings)


@pytest.mark.parametrize(("location", "message"), [
    ({"zone": "gold"}, "'raw', 'processed', 'curated' or 'artifacts'"),
    ({"zone": "raw", "prefix": "sales"}, "prefix 'sales' is invalid"),
])
def test_lake_location_errors(location, message):
    with pytest.raises(ValueError, match=message):
        LakeLocation(**location)


def test_training_settings_check_images_and_boundary():
    with pytest.raises(ValueError, match="roles name images nope that are not in repositories"):
        TrainingSettings(models=["m"], roles={"training": {"images": ["nope"]}})
    with pytest.raises(ValueError, match="should match pattern"):
        TrainingSettings(models=["m"], permissions_boundary="bad policy name!")
    with pytest.raises(ValueError, match="'processing', 'training'"):
        TrainingSettings(models=["m"], roles={"labeling": {}})
