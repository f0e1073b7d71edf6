"""source_model: the model's role is granted the lake locations its model data comes from."""

from __future__ import annotations

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Template

from ml_platform.constructs.lake.data_lake import DataLake, Zone
from ml_platform.constructs.serving.endpoint_settings import ModelOptions
from ml_platform.constructs.lake.lake_locations import LakeDataset
from ml_platform.constructs.serving.serving_model import ModelContainer, ModelSource, source_model
from tests.iam_eval import LAKE_KEY_ARN, Resolver, obj, permitted

ENV = {"account": "111111111111", "region": "eu-west-1"}
PACKAGE = "arn:aws:sagemaker:eu-west-1:111111111111:model-package/t-churn/3"
REGISTERED = LakeDataset(Zone.ARTIFACTS, "churn/pipeline/models/", "model", producer="training pipeline t-churn")


def role_policy(source: ModelSource) -> dict:
    stack = Stack(App(), "Serving", env=ENV)
    lake = DataLake(stack, "Lake")
    role = iam.Role(stack, "Inference", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    source_model(stack, "Model", source=source, role=role, network=None, options=ModelOptions(), lake=lake)
    resources = Template.from_stack(stack).to_json()["Resources"]
    policy = resources[stack.resolve(role.node.find_child("DefaultPolicy").node.default_child.logical_id)]
    return Resolver(stack, lake, ENV)(policy["Properties"]["PolicyDocument"])


def test_a_registered_version_lets_the_role_read_what_the_pipeline_registered_and_nothing_else():
    policy = role_policy(ModelSource.package(PACKAGE, artifacts=REGISTERED))
    model = obj(Zone.ARTIFACTS, "churn/pipeline/models/pipelines-x-Train-y/output/model.tar.gz")
    assert permitted(policy, "s3:GetObject", model)
    assert permitted(policy, "kms:Decrypt", LAKE_KEY_ARN, {"kms:ViaService": "s3.eu-west-1.amazonaws.com"})
    assert not permitted(policy, "s3:GetObject", obj(Zone.ARTIFACTS, "churn/pipeline/runs/e/test/data.csv"))
    assert not permitted(policy, "s3:PutObject", model)


def test_containers_let_the_role_read_each_model_data_folder():
    data = LakeDataset.landing(Zone.ARTIFACTS, "churn/models/release/", "model")
    source = ModelSource.pipeline(ModelContainer(image_uri="i", model_data_url="s3://b/churn/models/release/m.tar.gz"),
                                  artifacts=(data,))
    policy = role_policy(source)
    assert permitted(policy, "s3:GetObject", obj(Zone.ARTIFACTS, "churn/models/release/model.tar.gz"))
    assert not permitted(policy, "s3:GetObject", obj(Zone.ARTIFACTS, "churn/models/other/model.tar.gz"))


def test_a_source_without_artifacts_grants_nothing_in_the_lake():
    stack = Stack(App(), "Serving", env=ENV)
    role = iam.Role(stack, "Inference", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    source_model(stack, "Model", source=ModelSource.package(PACKAGE), role=role, network=None, options=ModelOptions())
    assert role.node.try_find_child("DefaultPolicy") is None


def test_artifacts_without_the_lake_they_are_in_is_an_error():
    stack = Stack(App(), "Serving", env=ENV)
    role = iam.Role(stack, "Inference", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    with pytest.raises(ValueError, match="source_model Model: a source with artifacts needs the lake they are in"):
        source_model(stack, "Model", source=ModelSource.package(PACKAGE, artifacts=REGISTERED), role=role,
                     network=None, options=ModelOptions())
