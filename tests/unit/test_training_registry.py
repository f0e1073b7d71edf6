"""ImageRepositories and ModelRegistry: defaults, options, grants and errors."""

from __future__ import annotations

import json

import pytest
from aws_cdk import App, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Template


from ml_platform.constructs.training.image_repositories import (
    DEFAULT_KEEP_IMAGES,
    DEFAULT_UNTAGGED_DAYS,
    ImageRepositories,
    RepositorySettings,
)
from ml_platform.constructs.training.model_registry import ModelRegistry
from ml_platform.constructs.core.alerting import AlertPath, AlertRoutes
from ml_platform.constructs.training.training_settings import TrainingSettings

ENV = {"account": "111111111111", "region": "eu-west-1"}


def stack() -> Stack:
    return Stack(App(), "Training", env=ENV)


def resources(of: Stack, resource_type: str) -> list[dict]:
    return [r for r in Template.from_stack(of).to_json()["Resources"].values() if r["Type"] == resource_type]


def test_repositories_are_immutable_scanned_encrypted_and_expire_images():
    s = stack()
    ImageRepositories(s, "Images", repositories={"churn-training": RepositorySettings(),
                                                 "churn-inference": RepositorySettings(keep_images=5, untagged_days=2)},
                      name_prefix="t-dev")
    repos = {r["Properties"]["RepositoryName"]: r for r in resources(s, "AWS::ECR::Repository")}
    assert sorted(repos) == ["t-dev/churn-inference", "t-dev/churn-training"]
    training = repos["t-dev/churn-training"]
    assert training["Properties"]["ImageTagMutability"] == "IMMUTABLE"
    assert training["Properties"]["ImageScanningConfiguration"] == {"ScanOnPush": True}
    assert training["Properties"]["EncryptionConfiguration"]["EncryptionType"] == "KMS"
    assert training["DeletionPolicy"] == "Retain"
    rules = json.loads(training["Properties"]["LifecyclePolicy"]["LifecyclePolicyText"])["rules"]
    assert [(r["selection"]["tagStatus"], r["selection"]["countType"], r["selection"]["countNumber"]) for r in rules] == [
        ("untagged", "sinceImagePushed", DEFAULT_UNTAGGED_DAYS), ("any", "imageCountMoreThan", DEFAULT_KEEP_IMAGES)]
    inference = json.loads(repos["t-dev/churn-inference"]["Properties"]["LifecyclePolicy"]["LifecyclePolicyText"])["rules"]
    assert [r["selection"]["countNumber"] for r in inference] == [2, 5]


def test_destroy_empties_repositories_on_delete():
    s = stack()
    ImageRepositories(s, "Images", repositories={"x": RepositorySettings()}, name_prefix="t-dev",
                      removal_policy=RemovalPolicy.DESTROY)
    [repo] = resources(s, "AWS::ECR::Repository")
    assert repo["DeletionPolicy"] == "Delete" and repo["Properties"]["EmptyOnDelete"] is True


def test_grant_pull_is_limited_to_the_repository():
    s = stack()
    images = ImageRepositories(s, "Images", repositories={"a": RepositorySettings(), "b": RepositorySettings()}, name_prefix="t-dev")
    role = iam.Role(s, "Trainer", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    images.grant_pull(role, "a")
    [policy] = resources(s, "AWS::IAM::Policy")
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    pulls = [st for st in statements if "ecr:BatchGetImage" in st["Action"]]
    assert len(pulls) == 1 and pulls[0]["Resource"] == {"Fn::GetAtt": [s.resolve(images.repositories["a"].node.default_child.logical_id), "Arn"]}


@pytest.mark.parametrize(("settings", "message"), [
    ({"keep_images": 0}, "greater than or equal to 1"),
    ({"untagged_days": 0}, "greater than or equal to 1"),
])
def test_repository_settings_errors(settings, message):
    with pytest.raises(ValueError, match=message):
        RepositorySettings(**settings)


def test_bad_repository_name_is_rejected():
    with pytest.raises(ValueError, match="repository name 'Churn' is invalid"):
        ImageRepositories(stack(), "Images", repositories={"Churn": RepositorySettings()}, name_prefix="t")


def test_registry_groups_and_approval_notices():
    s = stack()
    path = AlertPath(s, "AlertPath")
    ModelRegistry(s, "Registry", models=["churn", "fraud"], name_prefix="t-dev",
                  alerts=AlertRoutes(s, "Alerts", topic=path.topic, key=path.key))
    groups = sorted(g["Properties"]["ModelPackageGroupName"] for g in resources(s, "AWS::SageMaker::ModelPackageGroup"))
    assert groups == ["t-dev-churn", "t-dev-fraud"]
    [rule] = resources(s, "AWS::Events::Rule")
    assert rule["Properties"]["EventPattern"] == {
        "source": ["aws.sagemaker"], "detail-type": ["SageMaker Model Package State Change"],
        "detail": {"ModelPackageGroupName": ["t-dev-churn", "t-dev-fraud"], "ModelApprovalStatus": ["Approved", "Rejected"]}}
    [topic] = resources(s, "AWS::SNS::Topic")
    [target] = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Ref": s.resolve(path.topic.node.default_child.logical_id)} and "DeadLetterConfig" in target
    assert all(g["DeletionPolicy"] == "Retain" for g in resources(s, "AWS::SageMaker::ModelPackageGroup"))


def test_registry_grants_register_and_approve_one_model():
    s = stack()
    registry = ModelRegistry(s, "Registry", models=["churn"], name_prefix="t-dev")
    pipeline = iam.Role(s, "Pipeline", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    approver = iam.Role(s, "Approver", assumed_by=iam.AccountRootPrincipal())
    registry.grant_register(pipeline, "churn")
    registry.grant_approve(approver, "churn")
    by_role = {json.dumps(p["Properties"]["Roles"]): p["Properties"]["PolicyDocument"]["Statement"]
               for p in resources(s, "AWS::IAM::Policy")}
    actions = {k: {a for st in v for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])} for k, v in by_role.items()}
    assert {"sagemaker:CreateModelPackage"} < set().union(*actions.values())
    assert any("sagemaker:UpdateModelPackage" in a and "sagemaker:CreateModelPackage" not in a for a in actions.values())
    resource = json.dumps(list(by_role.values()))
    assert "model-package/t-dev-churn/*" in resource


@pytest.mark.parametrize(("models", "message"), [
    ([], "models is empty"),
    (["x" * 60], "use letters, digits and '-', 63 characters at most"),
])
def test_registry_errors(models, message):
    with pytest.raises(ValueError, match=message):
        ModelRegistry(stack(), "Registry", models=models, name_prefix="t-dev")


@pytest.mark.parametrize(("settings", "message"), [
    ({"models": []}, "at least 1 item"),
    ({"models": ["churn_model"]}, "should match pattern"),
    ({"models": ["churn"], "repositories": {"Churn": {}}}, "should match pattern"),
])
def test_training_settings_errors(settings, message):
    with pytest.raises(ValueError, match=message):
        TrainingSettings(**settings)
