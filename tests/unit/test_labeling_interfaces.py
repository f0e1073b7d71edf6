"""Labeling constructs in an app's own CDK app: over the buckets, key, VPC and security group the app
already has (nothing of the library's lake or network is created), their grants, and the misuse
they refuse (an imported key whose policy they cannot extend, an imported bucket without CORS)."""

from __future__ import annotations

import re

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Template

from ml_platform.constructs.labeling import LabelingTask, LabelingWorkforce, TaskSettings, WorkforceSettings
from ml_platform.constructs.lake.data_lake import DataLake
from ml_platform.constructs.training.ml_network import MlNetwork
from tests.iam_eval import Resolver, permitted

ENV = {"account": "111111111111", "region": "eu-west-1"}
ARN = f"arn:aws:sagemaker:{ENV['region']}:{ENV['account']}"
KEY_ARN = f"arn:aws:kms:{ENV['region']}:{ENV['account']}:key/11111111-2222-3333-4444-555555555555"
TASK = TaskSettings.model_validate({"input": {"zone": "raw", "prefix": "labeling/images/"},
                                    "output": {"zone": "curated", "prefix": "labeling/labels/"},
                                    "labels": ["cat", "dog"]})
TEAMS = WorkforceSettings.model_validate({"teams": {"reviewers": {}}})
EXISTING = WorkforceSettings.model_validate({"teams": {"reviewers": {}}, "existing": {
    "workforce_name": "shared", "user_pool_id": "eu-west-1_AbC123", "client_id": "7abc123def"}})
#: Nothing of these may be created: the app brings its lake, key and network.
NOT_CREATED = ("AWS::S3::Bucket", "AWS::KMS::Key", "AWS::EC2::VPC", "AWS::EC2::Subnet", "AWS::EC2::SecurityGroup")


def app_stack() -> tuple[Stack, dict]:
    """A stack of the app and what it already has: buckets, a key, a VPC and a security group."""
    stack = Stack(App(), "App", env=ENV)
    key = kms.Key.from_key_arn(stack, "LakeKey", KEY_ARN)
    lake = DataLake.from_existing(stack, "Lake", encryption_key=key, buckets={
        zone: s3.Bucket.from_bucket_name(stack, f"{zone}Bucket", f"app-{zone}") for zone in ("raw", "curated")})
    subnets = [ec2.Subnet.from_subnet_attributes(stack, f"Subnet{z}", subnet_id=f"subnet-{z}", availability_zone=f"eu-west-1{z}")
               for z in "ab"]
    vpc = ec2.Vpc.from_vpc_attributes(stack, "Vpc", vpc_id="vpc-0123", availability_zones=["eu-west-1a", "eu-west-1b"],
                                      isolated_subnet_ids=["subnet-a", "subnet-b"])
    network = MlNetwork.from_existing(stack, "Net", vpc=vpc, subnets=ec2.SubnetSelection(subnets=subnets),
                                      security_group=ec2.SecurityGroup.from_security_group_id(stack, "Sg", "sg-0123"))
    return stack, {"lake": lake, "network": network, "key": key}


def task(stack: Stack, have: dict, **options) -> LabelingTask:
    return LabelingTask(stack, "Task", name="scans", settings=TASK, input_cors_configured=True, **{**have, **options})


def policy_of(stack: Stack, principal: iam.IRole | iam.User) -> dict:
    """The grantee's resolved policy document."""
    resources = Template.from_stack(stack).to_json()["Resources"]
    resolve = Resolver(stack, None, ENV)
    statements = [resolve(s) for r in resources.values() if r["Type"] == "AWS::IAM::Policy"
                  and {"Ref": stack.resolve(principal.node.default_child.logical_id)} in r["Properties"].get(
                      "Roles", r["Properties"].get("Users", []))
                  for s in r["Properties"]["PolicyDocument"]["Statement"]]
    return {"Statement": statements}


def test_the_task_runs_over_the_apps_buckets_key_and_network_and_creates_none_of_them():
    stack, have = app_stack()
    task(stack, have)
    found = Template.from_stack(stack).to_json()["Resources"]
    assert not [r["Type"] for r in found.values() if r["Type"] in NOT_CREATED]
    functions = [r["Properties"] for r in found.values() if r["Type"] == "AWS::Lambda::Function"]
    assert len(functions) == 2 and all(f["VpcConfig"] == {"SubnetIds": ["subnet-a", "subnet-b"], "SecurityGroupIds": ["sg-0123"]}
                                       for f in functions)
    assert all(f["KmsKeyArn"] == KEY_ARN for f in functions if "Environment" in f)


def test_the_task_adds_the_cors_rule_unless_the_apps_bucket_has_it():
    stack, have = app_stack()
    with pytest.raises(ValueError, match=r"^ExistingLake App/Lake: the raw bucket is imported, so its CORS rules are not "
                       r"this app's; add Ground Truth's rule .* where the bucket is defined$"):
        LabelingTask(stack, "Task", name="scans", settings=TASK, **have)


def test_grant_start_labeling_job_creates_the_tasks_jobs_and_passes_its_role_to_sagemaker_only():
    stack, have = app_stack()
    labeling = task(stack, have)
    starter = iam.Role(stack, "Starter", assumed_by=iam.AccountRootPrincipal())
    grant = labeling.grant_start_labeling_job(starter)
    assert isinstance(grant, iam.Grant) and grant.success
    policy = policy_of(stack, starter)
    assert permitted(policy, "sagemaker:CreateLabelingJob", f"{ARN}:labeling-job/scans-2026-11")
    assert not permitted(policy, "sagemaker:CreateLabelingJob", f"{ARN}:labeling-job/other-2026-11")
    assert not permitted(policy, "sagemaker:CreateTrainingJob", f"{ARN}:training-job/scans-2026-11")
    role = f"arn-{stack.resolve(labeling.role.node.default_child.logical_id)}"
    sagemaker = {"iam:PassedToService": "sagemaker.amazonaws.com"}
    assert permitted(policy, "iam:PassRole", role, sagemaker)
    assert not permitted(policy, "iam:PassRole", role, {"iam:PassedToService": "lambda.amazonaws.com"})
    assert not permitted(policy, "iam:PassRole", "arn:aws:iam::111111111111:role/other", sagemaker)
    assert not permitted(policy, "s3:GetObject", "arn:aws:s3:::app-raw/labeling/images/a.jpg")  # the job's role reads


def test_grant_start_labeling_job_takes_another_prefix():
    stack, have = app_stack()
    starter = iam.Role(stack, "Starter", assumed_by=iam.AccountRootPrincipal())
    task(stack, have).grant_start_labeling_job(starter, job_name_prefix="review-")
    policy = policy_of(stack, starter)
    assert permitted(policy, "sagemaker:CreateLabelingJob", f"{ARN}:labeling-job/review-1")
    assert not permitted(policy, "sagemaker:CreateLabelingJob", f"{ARN}:labeling-job/scans-1")


@pytest.mark.parametrize(("name", "prefix", "shown"), [("Scans", None, "'Scans'"), ("scans", "Review", "'Review'"),
                                                      ("scans", "-x", "'-x'"), ("scans", "a_b", "'a_b'")])
def test_a_job_name_prefix_that_no_lowercase_job_name_starts_with_is_refused(name, prefix, shown):
    stack, have = app_stack()
    labeling = LabelingTask(stack, "Task", name=name, settings=TASK, input_cors_configured=True, **have)
    starter = iam.Role(stack, "Starter", assumed_by=iam.AccountRootPrincipal())
    with pytest.raises(ValueError, match="^" + re.escape(
            f"LabelingTask App/Task: job_name_prefix {shown} is not the start of a labeling job name in lowercase; "
            "allowed: lowercase letters, digits and hyphens, at most 63, starting with a letter or digit (pass "
            "job_name_prefix when the task's name does not qualify)") + "$"):
        labeling.grant_start_labeling_job(starter, job_name_prefix=prefix)


def test_grant_read_output_reads_the_output_prefix_only():
    stack, have = app_stack()
    reader = iam.Role(stack, "Reader", assumed_by=iam.AccountRootPrincipal())
    grant = task(stack, have).grant_read_output(reader)
    assert isinstance(grant, iam.Grant) and grant.success
    policy = policy_of(stack, reader)
    assert permitted(policy, "s3:GetObject", "arn:aws:s3:::app-curated/labeling/labels/job/manifests/output/output.manifest")
    assert not permitted(policy, "s3:GetObject", "arn:aws:s3:::app-curated/other/x")
    assert not permitted(policy, "s3:GetObject", "arn:aws:s3:::app-raw/labeling/images/a.jpg")
    assert not permitted(policy, "s3:PutObject", "arn:aws:s3:::app-curated/labeling/labels/x")
    assert permitted(policy, "kms:Decrypt", KEY_ARN, {"kms:ViaService": "s3.eu-west-1.amazonaws.com"})


def test_a_workforce_refuses_an_imported_key_whose_policy_it_cannot_extend():
    stack, have = app_stack()
    with pytest.raises(ValueError, match="^" + re.escape(
            f"LabelingWorkforce App/Workforce: key {KEY_ARN} is imported, so SageMaker's statement for work team "
            "notifications cannot be added to its policy; pass a kms.Key of this app, or add key_statement's "
            "permissions to the key's policy where it is defined and pass key_allows_sagemaker=True") + "$"):
        LabelingWorkforce(stack, "Workforce", name="scans", settings=EXISTING, key=have["key"], domain_prefix="scans")


def test_a_workforce_takes_an_imported_key_that_already_admits_sagemaker_and_creates_no_key():
    stack, have = app_stack()
    workforce = LabelingWorkforce(stack, "Workforce", name="scans", settings=EXISTING, key=have["key"],
                                  domain_prefix="scans", key_allows_sagemaker=True)
    found = Template.from_stack(stack).to_json()["Resources"]
    assert not [r for r in found.values() if r["Type"] in NOT_CREATED]
    [topic] = [r["Properties"] for r in found.values() if r["Type"] == "AWS::SNS::Topic"]
    assert topic["KmsMasterKeyId"] == KEY_ARN
    statement = stack.resolve(workforce.key_statement.to_statement_json())
    assert statement["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    assert sorted(statement["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]


def test_a_workforce_adds_its_statement_to_a_key_of_the_app():
    stack = Stack(App(), "App", env=ENV)
    key = kms.Key(stack, "Key")
    LabelingWorkforce(stack, "Workforce", name="scans", settings=EXISTING, key=key, domain_prefix="scans")
    [policy] = [r["Properties"]["KeyPolicy"] for r in Template.from_stack(stack).to_json()["Resources"].values()
                if r["Type"] == "AWS::KMS::Key"]
    assert [s for s in policy["Statement"] if s.get("Sid") == "AllowSageMakerWorkteamNotifications"]


def test_grant_describe_names_the_teams_and_the_imported_workforce():
    stack, have = app_stack()
    workforce = LabelingWorkforce(stack, "Workforce", name="scans", settings=EXISTING, key=have["key"],
                                  domain_prefix="scans", key_allows_sagemaker=True)
    viewer = iam.Role(stack, "Viewer", assumed_by=iam.AccountRootPrincipal())
    grant = workforce.grant_describe(viewer)
    assert isinstance(grant, iam.Grant) and grant.success
    policy = policy_of(stack, viewer)
    team = f"{stack.resolve(workforce.teams['reviewers'].logical_id)}.WorkteamArn"
    assert permitted(policy, "sagemaker:DescribeWorkteam", team)
    assert not permitted(policy, "sagemaker:UpdateWorkteam", team)
    assert permitted(policy, "sagemaker:DescribeWorkforce", f"{ARN}:workforce/shared")
    assert not permitted(policy, "sagemaker:DescribeWorkforce", f"{ARN}:workforce/other")


def test_grant_describe_names_a_created_workforce():
    stack = Stack(App(), "App", env=ENV)
    workforce = LabelingWorkforce(stack, "Workforce", name="scans", settings=TEAMS, key=kms.Key(stack, "Key"),
                                  domain_prefix="scans")
    viewer = iam.Role(stack, "Viewer", assumed_by=iam.AccountRootPrincipal())
    workforce.grant_describe(viewer)
    assert workforce.workforce is not None
    policy = policy_of(stack, viewer)
    assert permitted(policy, "sagemaker:DescribeWorkforce", f"{stack.resolve(workforce.workforce.logical_id)}.WorkforceArn")
