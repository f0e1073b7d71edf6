"""TrainingPipeline: the definition's structure and its wiring to roles, buckets, keys and the VPC."""

from __future__ import annotations

import json

import pytest
from aws_cdk import App, Stack
from aws_cdk.assertions import Template


from ml_platform.constructs.lake.data_lake import DataLake
from ml_platform.constructs.training.image_repositories import ImageRepositories, RepositorySettings
from ml_platform.constructs.training.ml_network import MlNetwork, NetworkSettings
from ml_platform.constructs.training.model_registry import ModelRegistry
from ml_platform.constructs.training.sagemaker_roles import RoleSettings, SageMakerRoles
from ml_platform.constructs.training.sagemaker_images import builtin_image
from ml_platform.constructs.training.training_pipeline import PipelineSettings, TrainingPipeline
from ml_platform.constructs.training.training_settings import TrainingSettings

ENV = {"account": "111111111111", "region": "eu-west-1"}
BASE = {"model": "churn", "input": {"zone": "curated", "prefix": "churn/features/"}}


def build(activities=("processing", "training", "pipeline"), **settings):
    app = App()
    lake = DataLake(Stack(app, "Lake", env=ENV), "Lake")
    stack = Stack(app, "Training", env=ENV)
    network = MlNetwork(stack, "Net", settings=NetworkSettings(az_count=2, interface_endpoints=[]))
    images = ImageRepositories(stack, "Images", repositories={"trainer": RepositorySettings()}, name_prefix="t-dev")
    roles = SageMakerRoles(stack, "Roles", lake=lake, settings={a: RoleSettings() for a in activities}, network=network, images=images)
    registry = ModelRegistry(stack, "Registry", models=["churn"], name_prefix="t-dev")
    pipeline = TrainingPipeline(stack, "Pipeline", settings=PipelineSettings(**{**BASE, **settings}), lake=lake,
                                roles=roles, network=network, registry=registry, name_prefix="t-dev", images=images)
    definition = stack.resolve(pipeline.definition)
    return stack, pipeline, roles, definition, Template.from_stack(stack).to_json()["Resources"]


@pytest.fixture(scope="module")
def default():
    return build()


def steps(definition) -> dict[str, dict]:
    found = {s["Name"]: s for s in definition["Steps"]}
    for condition in [s for s in definition["Steps"] if s["Type"] == "Condition"]:
        for nested in condition["Arguments"]["IfSteps"] + condition["Arguments"]["ElseSteps"]:
            found[nested["Name"]] = nested
    return found


def ref(stack, construct) -> dict:
    return {"Fn::GetAtt": [stack.resolve(construct.node.default_child.logical_id), "Arn"]}


def test_steps_prepare_train_evaluate_baselines_condition_register_or_fail(default):
    _, _, _, definition, _ = default
    assert definition["Version"] == "2020-12-01"
    assert [(s["Name"], s["Type"]) for s in definition["Steps"]] == [
        ("Prepare", "Processing"), ("Train", "Training"), ("Evaluate", "Processing"), ("Baselines", "Processing"),
        ("CheckMetric", "Condition")]
    found = steps(definition)
    assert (found["Register"]["Type"], found["MetricTooLow"]["Type"]) == ("RegisterModel", "Fail")
    assert [p["Name"] for p in definition["Parameters"]] == ["InputData", "ModelApprovalStatus"]
    assert definition["Parameters"][1]["DefaultValue"] == "PendingManualApproval"


def test_data_flows_between_steps_by_property_references(default):
    _, _, _, definition, _ = default
    found = steps(definition)
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in found["Train"]["Arguments"]["InputDataConfig"]}
    assert channels == {name: {"Get": f"Steps.Prepare.ProcessingOutputConfig.Outputs['{name}'].S3Output.S3Uri"}
                        for name in ("train", "validation")}
    evaluate_inputs = {i["InputName"]: i["S3Input"]["S3Uri"] for i in found["Evaluate"]["Arguments"]["ProcessingInputs"]}
    assert evaluate_inputs["model"] == {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}
    assert found["Evaluate"]["PropertyFiles"] == [{"PropertyFileName": "EvaluationReport", "OutputName": "evaluation", "FilePath": "evaluation.json"}]
    [condition] = found["CheckMetric"]["Arguments"]["Conditions"]
    assert condition == {"Type": "GreaterThanOrEqualTo", "RightValue": 0.7, "LeftValue": {"Std:JsonGet": {
        "PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.EvaluationReport"}, "Path": "metrics.auc.value"}}}
    register = found["Register"]["Arguments"]
    assert register["ModelPackageGroupName"] == "t-dev-churn"
    assert register["ModelApprovalStatus"] == {"Get": "Parameters.ModelApprovalStatus"}
    assert register["InferenceSpecification"]["Containers"][0]["ModelDataUrl"] == {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}


def test_every_job_runs_in_the_vpc_with_the_lake_key_and_its_role(default):
    stack, pipeline, roles, definition, _ = default
    found = steps(definition)
    key = found["Train"]["Arguments"]["ResourceConfig"]["VolumeKmsKeyId"]
    assert "LakeKey" in json.dumps(key)  # the lake key, imported from the lake's stack
    subnets = [stack.resolve(s.subnet_id) for s in pipeline.network.vpc.isolated_subnets]
    group = stack.resolve(pipeline.network.job_security_group.security_group_id)
    for name in ("Prepare", "Evaluate", "Baselines"):
        arguments = found[name]["Arguments"]
        assert arguments["NetworkConfig"]["VpcConfig"] == {"SecurityGroupIds": [group], "Subnets": subnets}
        assert arguments["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"] == key
        assert arguments["ProcessingOutputConfig"]["KmsKeyId"] == key
        assert arguments["RoleArn"] == ref(stack, roles.roles["processing"])
    train = found["Train"]["Arguments"]
    assert train["VpcConfig"] == {"SecurityGroupIds": [group], "Subnets": subnets}
    assert train["ResourceConfig"]["VolumeKmsKeyId"] == key and train["OutputDataConfig"]["KmsKeyId"] == key
    assert train["RoleArn"] == ref(stack, roles.roles["training"])
    assert train["EnableInterContainerTrafficEncryption"] is True


def test_defaults_spot_with_checkpoints_file_mode_and_the_regions_builtin_image(default):
    stack, pipeline, _, definition, _ = default
    train = steps(definition)["Train"]["Arguments"]
    assert train["EnableManagedSpotTraining"] is True
    assert train["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200}
    assert json.dumps(train["CheckpointConfig"]["S3Uri"]).endswith('/churn/checkpoints/"]]}')
    assert train["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert train["AlgorithmSpecification"]["TrainingImage"] == builtin_image("xgboost", "eu-west-1", "1.7-1")
    assert train["AlgorithmSpecification"]["TrainingImage"].endswith(".dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:1.7-1")
    assert train["ResourceConfig"]["InstanceType"] == "ml.m5.xlarge"


def test_cfn_pipeline_uses_the_pipeline_role_and_the_definition(default):
    stack, pipeline, roles, _, resources = default
    [resource] = [r for r in resources.values() if r["Type"] == "AWS::SageMaker::Pipeline"]
    assert resource["Properties"]["PipelineName"] == "t-dev-churn"
    assert resource["Properties"]["RoleArn"] == ref(stack, roles.roles["pipeline"])
    assert "Fn::Join" in resource["Properties"]["PipelineDefinition"]["PipelineDefinitionBody"]


def test_roles_get_exactly_the_pipeline_locations(default):
    stack, _, roles, _, resources = default
    def writes(activity):
        document = resources[stack.resolve(roles.roles[activity].policy.node.default_child.logical_id)]["Properties"]["PolicyDocument"]
        return {json.dumps(s["Resource"])[-40:] for s in document["Statement"] if "s3:PutObject" in s["Action"]}
    assert any("/churn/pipeline/*" in w for w in writes("processing"))
    assert any("/churn/checkpoints/*" in w for w in writes("training"))
    assert not writes("pipeline")


def test_options_custom_image_fast_file_no_spot_hyperparameters_and_metric():
    stack, pipeline, _, definition, _ = build(algorithm=None, image="trainer", image_tag="2024.1", spot=False,
                                              input_mode="FastFile", hyperparameters={"num_round": 50, "eta": 0.2},
                                              metric={"path": "metrics.rmse.value", "comparison": "<", "threshold": 3})
    train = steps(definition)["Train"]["Arguments"]
    assert train["AlgorithmSpecification"]["TrainingImage"] == stack.resolve(
        stack.node.find_child("Images").repositories["trainer"].repository_uri_for_tag("2024.1"))
    assert train["EnableManagedSpotTraining"] is False and "CheckpointConfig" not in train
    assert "MaxWaitTimeInSeconds" not in train["StoppingCondition"]
    assert all(c["InputMode"] == "FastFile" for c in train["InputDataConfig"])
    assert train["HyperParameters"] == {"eta": "0.2", "num_round": "50"}
    [condition] = steps(definition)["CheckMetric"]["Arguments"]["Conditions"]
    assert (condition["Type"], condition["RightValue"], condition["LeftValue"]["Std:JsonGet"]["Path"]) == ("LessThan", 3.0, "metrics.rmse.value")


def test_tuning_with_warm_start_replaces_training():
    _, _, _, definition, _ = build(hyperparameters={"num_round": 100, "eta": 0.1},
                                   tuning={"ranges": {"eta": {"min": 0.05, "max": 0.5}}, "max_jobs": 4,
                                           "warm_start_parent": "churn-tuning-1"})
    found = steps(definition)
    assert "Train" not in found and found["Tune"]["Type"] == "Tuning"
    arguments = found["Tune"]["Arguments"]
    config = arguments["HyperParameterTuningJobConfig"]
    assert config["ResourceLimits"] == {"MaxNumberOfTrainingJobs": 4, "MaxParallelTrainingJobs": 2}
    assert config["HyperParameterTuningJobObjective"] == {"Type": "Maximize", "MetricName": "validation:auc"}
    assert config["ParameterRanges"]["ContinuousParameterRanges"] == [{"Name": "eta", "MinValue": "0.05", "MaxValue": "0.5", "ScalingType": "Auto"}]
    assert arguments["TrainingJobDefinition"]["StaticHyperParameters"] == {"num_round": "100"}
    assert arguments["WarmStartConfig"]["ParentHyperParameterTuningJobs"] == [{"HyperParameterTuningJobName": "churn-tuning-1"}]
    model = found["Register"]["Arguments"]["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
    assert {"Get": "Steps.Tune.BestTrainingJob.TrainingJobName"} in json.loads(json.dumps(model))["Std:Join"]["Values"]


@pytest.mark.parametrize(("settings", "message"), [
    ({"algorithm": None}, "give exactly one of algorithm"),
    ({"image": "trainer"}, "give exactly one of algorithm"),
    ({"max_wait_minutes": 30}, "max_wait_minutes 30 must be at least max_runtime_minutes 60"),
    ({"instance_type": "m5.xlarge"}, "should match pattern"),
    ({"input_mode": "Stream"}, "'File', 'FastFile' or 'Pipe'"),
    ({"metric": {"comparison": "=="}}, "'>=', '>', '<=' or '<'"),
    ({"tuning": {"ranges": {}}}, "at least 1 item"),
    ({"tuning": {"ranges": {"eta": {"min": 1, "max": 1}}}}, "min 1 must be less than max 1"),
    ({"tuning": {"ranges": {"eta": {"min": 0, "max": 1}}, "max_jobs": 2, "max_parallel_jobs": 3}}, "max_parallel_jobs 3 exceeds max_jobs 2"),
])
def test_pipeline_settings_errors(settings, message):
    with pytest.raises(ValueError, match=message):
        PipelineSettings(**{**BASE, **settings})


def test_construct_errors_name_every_missing_piece():
    with pytest.raises(ValueError) as caught:
        build(activities=("training",), model="fraud")
    message = str(caught.value)
    assert message.startswith("TrainingPipeline Training/Pipeline: needs a processing execution role")
    assert "needs a pipeline execution role" in message and "model 'fraud' is not in the registry (churn)" in message


def test_training_settings_check_pipelines():
    with pytest.raises(ValueError, match="pipeline of 'fraud': the model is not in models"):
        TrainingSettings(models=["churn"], roles={a: {} for a in ("processing", "training", "pipeline")},
                         pipelines=[{**BASE, "model": "fraud"}])
    with pytest.raises(ValueError, match="pipelines need the execution roles processing, pipeline in roles"):
        TrainingSettings(models=["churn"], roles={"training": {}}, pipelines=[BASE])
