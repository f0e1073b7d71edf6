"""TrainingPipeline's Evaluate step: it runs in an image its role may pull, and only for models it loads."""

from __future__ import annotations

import re

import pytest
from aws_cdk import App, Stack


from ml_platform.constructs.lake.data_lake import DataLake
from ml_platform.constructs.training.image_repositories import ImageRepositories, RepositorySettings
from ml_platform.constructs.training.ml_network import MlNetwork, NetworkSettings
from ml_platform.constructs.training.model_registry import ModelRegistry
from ml_platform.constructs.training.sagemaker_images import builtin_image
from ml_platform.constructs.training.sagemaker_roles import RoleSettings, SageMakerRoles
from ml_platform.constructs.training.training_pipeline import (
    ALGORITHM_VERSIONS,
    UNEVALUABLE_ALGORITHMS,
    PipelineSettings,
    TrainingPipeline,
)
from ml_platform.constructs.training.training_settings import TrainingSettings
from tests.iam_eval import Resolver, permitted

ENV = {"account": "111111111111", "region": "eu-west-1"}
BASE = {"model": "churn", "input": {"zone": "curated", "prefix": "churn/features/"}}
PULL = ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")
#: ``<account>.dkr.ecr.<region>.<suffix>/<repository>:<tag>``
IMAGE_URI = re.compile(r"^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com/([^:@]+)[:@].+$")


class _Resolver(Resolver):
    """:class:`tests.iam_eval.Resolver` that also knows the repositories (their ARN and name as
    deployed) and evaluates ``Fn::Select``/``Fn::Split``, with which CDK builds an image URI."""

    def __init__(self, stack: Stack, images: ImageRepositories):
        super().__init__(stack, None, ENV)
        for repository in images.repositories.values():
            logical_id = stack.resolve(repository.node.default_child.logical_id)
            name = stack.resolve(repository.repository_name)
            name = name if isinstance(name, str) else repository.node.default_child.repository_name
            self.refs[logical_id] = name
            self.arns[logical_id] = f"arn:aws:ecr:{ENV['region']}:{ENV['account']}:repository/{name}"

    def __call__(self, value):
        if isinstance(value, dict) and set(value) == {"Fn::Split"}:
            separator, text = value["Fn::Split"]
            return self(text).split(separator)
        if isinstance(value, dict) and set(value) == {"Fn::Select"}:
            index, items = value["Fn::Select"]
            return self(items)[index]
        return super().__call__(value)


def build(**settings):
    app = App()
    lake = DataLake(Stack(app, "Lake", env=ENV), "Lake")
    stack = Stack(app, "Training", env=ENV)
    network = MlNetwork(stack, "Net", settings=NetworkSettings(az_count=2, interface_endpoints=[]))
    images = ImageRepositories(stack, "Images", name_prefix="t-dev",
                               repositories={"trainer": RepositorySettings(), "other": RepositorySettings()})
    roles = SageMakerRoles(stack, "Roles", lake=lake, network=network, images=images,
                           settings={a: RoleSettings() for a in ("processing", "training", "pipeline")})
    registry = ModelRegistry(stack, "Registry", models=["churn"], name_prefix="t-dev")
    pipeline = TrainingPipeline(stack, "Pipeline", settings=PipelineSettings(**{**BASE, **settings}), lake=lake,
                                roles=roles, network=network, registry=registry, name_prefix="t-dev", images=images)
    return stack, images, roles, pipeline


def step(stack: Stack, pipeline: TrainingPipeline, name: str) -> dict:
    [found] = [s for s in stack.resolve(pipeline.definition)["Steps"] if s["Name"] == name]
    return found


def runner(stack: Stack, roles: SageMakerRoles, resolve: _Resolver, role_arn) -> tuple[str, dict]:
    """The activity whose role ``role_arn`` is, and that role's resolved policy document."""
    [activity] = [a for a, r in roles.roles.items() if resolve(stack.resolve(r.role_arn)) == resolve(role_arn)]
    return activity, resolve(stack.resolve(roles.roles[activity].policy.document))


def repository_arn(image_uri: str) -> str:
    account, region, repository = IMAGE_URI.match(image_uri).groups()
    return f"arn:aws:ecr:{region}:{account}:repository/{repository}"


@pytest.fixture(scope="module")
def custom():
    return build(algorithm=None, image="trainer", image_tag="2024.1")


def test_custom_image_evaluate_runs_as_a_role_that_may_pull_exactly_that_image(custom):
    stack, images, roles, pipeline = custom
    resolve = _Resolver(stack, images)
    arguments = step(stack, pipeline, "Evaluate")["Arguments"]
    image = resolve(arguments["AppSpecification"]["ImageUri"])
    assert image == "111111111111.dkr.ecr.eu-west-1.amazonaws.com/t-dev/trainer:2024.1"
    activity, policy = runner(stack, roles, resolve, arguments["RoleArn"])
    assert activity == "processing"
    repository = repository_arn(image)
    assert all(permitted(policy, action, repository) for action in PULL)
    assert permitted(policy, "ecr:GetAuthorizationToken", "*")  # the registry login has no resource
    other = repository_arn("111111111111.dkr.ecr.eu-west-1.amazonaws.com/t-dev/other:1")
    assert not any(permitted(policy, action, other) for action in PULL)
    assert not permitted(policy, "ecr:BatchGetImage", "arn:aws:ecr:eu-west-1:111111111111:repository/*")


def test_custom_image_train_and_evaluate_use_the_same_image(custom):
    stack, images, roles, pipeline = custom
    resolve = _Resolver(stack, images)
    train = step(stack, pipeline, "Train")["Arguments"]
    evaluate = step(stack, pipeline, "Evaluate")["Arguments"]
    image = resolve(train["AlgorithmSpecification"]["TrainingImage"])
    assert resolve(evaluate["AppSpecification"]["ImageUri"]) == image
    activity, policy = runner(stack, roles, resolve, train["RoleArn"])
    assert activity == "training"
    assert all(permitted(policy, action, repository_arn(image)) for action in PULL)


def test_builtin_xgboost_is_evaluated_in_its_training_image_and_grants_no_pulls():
    stack, images, roles, pipeline = build()
    resolve = _Resolver(stack, images)
    evaluate = step(stack, pipeline, "Evaluate")["Arguments"]
    xgboost = builtin_image("xgboost", "eu-west-1", ALGORITHM_VERSIONS["xgboost"])
    assert evaluate["AppSpecification"]["ImageUri"] == xgboost
    assert evaluate["AppSpecification"]["ContainerEntrypoint"][0] == "python3"
    _, policy = runner(stack, roles, resolve, evaluate["RoleArn"])
    for name in images.repositories:
        assert not permitted(policy, "ecr:BatchGetImage", repository_arn(
            f"111111111111.dkr.ecr.eu-west-1.amazonaws.com/t-dev/{name}:1"))


def test_linear_learner_is_refused_with_the_key_the_value_and_what_is_allowed():
    assert ALGORITHM_VERSIONS == {"xgboost": "1.7-1"} and "linear-learner" in UNEVALUABLE_ALGORITHMS
    with pytest.raises(ValueError) as caught:
        PipelineSettings(**BASE, algorithm="linear-learner")
    message = str(caught.value)
    assert message.startswith("PipelineSettings: algorithm: algorithm 'linear-learner' cannot be evaluated")
    assert "MXNet" in message and "allowed: 'xgboost', or a custom image" in message


def test_linear_learner_in_the_config_is_one_line_naming_the_key_path():
    with pytest.raises(ValueError) as caught:
        TrainingSettings(models=["churn"], roles={a: {} for a in ("processing", "training", "pipeline")},
                         pipelines=[{**BASE, "algorithm": "linear-learner"}])
    line = str(caught.value)
    assert "\n" not in line
    assert line.startswith("TrainingSettings: pipelines[0].algorithm: algorithm 'linear-learner' cannot be evaluated: ")
    assert line.endswith("allowed: 'xgboost', or a custom image (see image) (got 'linear-learner')")


def test_an_unknown_algorithm_names_what_is_allowed():
    with pytest.raises(ValueError, match=r"^PipelineSettings: algorithm: input should be 'xgboost' \(got 'kmeans'\)$"):
        PipelineSettings(**BASE, algorithm="kmeans")
