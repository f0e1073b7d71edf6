"""TrainingPipeline with ``automl``: the Autopilot branch's place in the definition, its hand-offs
(Prepare -> AutoML -> AutoMLModel -> Predict -> Evaluate -> CheckMetric/Register), its grants, its
settings errors, and an environment file that enables it."""

from __future__ import annotations

import json

import pytest
from aws_cdk import App, Stack
from aws_cdk.assertions import Template

from ml_platform.config import ConfigError, load_environment
from ml_platform.constructs.lake.data_lake import DataLake
from ml_platform.constructs.training import automl
from ml_platform.constructs.training.image_repositories import ImageRepositories, RepositorySettings
from ml_platform.constructs.training.ml_network import MlNetwork, NetworkSettings
from ml_platform.constructs.training.model_registry import ModelRegistry
from ml_platform.constructs.training.sagemaker_images import builtin_image
from ml_platform.constructs.training.sagemaker_roles import RoleSettings, SageMakerRoles
from ml_platform.constructs.training.training_pipeline import SKLEARN_VERSION, PipelineSettings, TrainingPipeline
from ml_platform.jobs.training_pipeline import prepare
from ml_platform.platform_app import build_app
from tests.conftest import CDK_CONTEXT, CONFIG_DIR, assert_gates_pass, synth_gated
from tests.unit.test_training_pipeline import steps

ENV = {"account": "111111111111", "region": "eu-west-1"}
BASE = {"model": "churn", "input": {"zone": "curated", "prefix": "churn/features/"}, "automl": {}}


def construct(scope, **settings):
    lake = DataLake(Stack(scope, "Lake", env=ENV), "Lake")
    stack = Stack(scope, "Training", env=ENV)
    network = MlNetwork(stack, "Net", settings=NetworkSettings(az_count=2, interface_endpoints=[]))
    images = ImageRepositories(stack, "Images", repositories={"trainer": RepositorySettings()}, name_prefix="t-dev")
    roles = SageMakerRoles(stack, "Roles", lake=lake, network=network, images=images,
                           settings={a: RoleSettings() for a in ("processing", "training", "pipeline")})
    registry = ModelRegistry(stack, "Registry", models=["churn"], name_prefix="t-dev")
    pipeline = TrainingPipeline(stack, "Pipeline", settings=PipelineSettings(**{**BASE, **settings}), lake=lake,
                                roles=roles, network=network, registry=registry, name_prefix="t-dev", images=images)
    return stack, pipeline, roles


def build(**settings):
    stack, pipeline, roles = construct(App(), **settings)
    return stack, pipeline, roles, stack.resolve(pipeline.definition), Template.from_stack(stack).to_json()["Resources"]


@pytest.fixture(scope="module")
def default():
    return build()




def output_of(step: str, output: str) -> dict:
    return {"Get": f"Steps.{step}.ProcessingOutputConfig.Outputs['{output}'].S3Output.S3Uri"}


def role_ref(stack, role) -> dict:
    return {"Fn::GetAtt": [stack.resolve(role.node.default_child.logical_id), "Arn"]}


def test_autopilot_replaces_training_between_prepare_and_evaluate(default):
    _, _, _, definition, _ = default
    assert [(s["Name"], s["Type"]) for s in definition["Steps"]] == [
        ("Prepare", "Processing"), ("AutoML", "AutoML"), ("AutoMLModel", "Model"), ("Predict", "Transform"),
        ("Evaluate", "Processing"), ("Baselines", "Processing"), ("CheckMetric", "Condition")]
    found = steps(definition)
    assert (found["Register"]["Type"], found["MetricTooLow"]["Type"]) == ("RegisterModel", "Fail")
    assert "Train" not in found and "Tune" not in found


def test_prepare_writes_the_header_copies_autopilot_reads(default):
    _, _, _, definition, _ = default
    found = steps(definition)
    prepare_step = found["Prepare"]["Arguments"]
    outputs = [o["OutputName"] for o in prepare_step["ProcessingOutputConfig"]["Outputs"]]
    assert outputs == ["train", "validation", "test", *prepare.AUTOML_SPLITS.values()]
    assert prepare_step["AppSpecification"]["ContainerArguments"] == ["--automl", "label"]
    channels = {c["ChannelType"]: c for c in found["AutoML"]["Arguments"]["InputDataConfig"]}
    assert channels["training"]["DataSource"]["S3DataSource"]["S3Uri"] == output_of("Prepare", "automl-train")
    assert channels["validation"]["DataSource"]["S3DataSource"]["S3Uri"] == output_of("Prepare", "automl-validation")
    assert {c["TargetAttributeName"] for c in channels.values()} == {"label"}


def test_the_best_candidate_is_modelled_transformed_on_the_test_split_and_evaluated(default):
    stack, pipeline, _, definition, _ = default
    found = steps(definition)
    assert found["AutoMLModel"]["Arguments"]["PrimaryContainer"] == stack.resolve(automl.best_containers()[0])
    predict = found["Predict"]["Arguments"]
    assert predict["ModelName"] == {"Get": "Steps.AutoMLModel.ModelName"}
    assert predict["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"] == output_of("Prepare", "test")
    assert predict["TransformOutput"]["S3OutputPath"]["Std:Join"]["Values"][1:] == [
        {"Get": "Execution.PipelineExecutionId"}, "predictions"]  # runs/<execution id>/predictions
    evaluate = found["Evaluate"]["Arguments"]
    inputs = {i["InputName"]: i["S3Input"]["S3Uri"] for i in evaluate["ProcessingInputs"]}
    assert inputs["predictions"] == {"Get": "Steps.Predict.TransformOutput.S3OutputPath"}
    assert "model" not in inputs and "test" not in inputs
    assert evaluate["AppSpecification"]["ImageUri"] == builtin_image("sklearn", "eu-west-1", SKLEARN_VERSION)
    assert evaluate["AppSpecification"]["ContainerArguments"] == ["--predictions", "/opt/ml/processing/predictions"]
    assert found["Evaluate"]["PropertyFiles"] == [
        {"PropertyFileName": "EvaluationReport", "OutputName": "evaluation", "FilePath": "evaluation.json"}]


def test_the_condition_and_register_use_the_autopilot_branch(default):
    stack, _, _, definition, _ = default
    found = steps(definition)
    [condition] = found["CheckMetric"]["Arguments"]["Conditions"]
    assert condition["LeftValue"]["Std:JsonGet"]["PropertyFile"] == {"Get": "Steps.Evaluate.PropertyFiles.EvaluationReport"}
    register = found["Register"]["Arguments"]
    assert register["ModelApprovalStatus"] == {"Get": "Parameters.ModelApprovalStatus"}
    assert register["InferenceSpecification"]["Containers"] == stack.resolve(automl.best_containers())
    assert "Evaluate" in json.dumps(register["ModelMetrics"]["ModelQuality"])
    assert found["Baselines"]["DependsOn"] == ["Evaluate"]


def test_autopilot_runs_as_the_training_role_in_the_vpc_writing_under_model_artifacts(default):
    stack, pipeline, roles, definition, _ = default
    found = steps(definition)
    arguments = found["AutoML"]["Arguments"]
    training = role_ref(stack, roles.roles["training"])
    assert arguments["RoleArn"] == training and found["AutoMLModel"]["Arguments"]["ExecutionRoleArn"] == training
    subnets = [stack.resolve(s.subnet_id) for s in pipeline.network.vpc.isolated_subnets]
    group = stack.resolve(pipeline.network.job_security_group.security_group_id)
    network = {"SecurityGroupIds": [group], "Subnets": subnets}
    security = arguments["AutoMLJobConfig"]["SecurityConfig"]
    assert security["VpcConfig"] == network and found["AutoMLModel"]["Arguments"]["VpcConfig"] == network
    assert security["EnableInterContainerTrafficEncryption"] is True
    key = arguments["OutputDataConfig"]["KmsKeyId"]
    assert "LakeKey" in json.dumps(key) and security["VolumeKmsKeyId"] == key
    assert found["Predict"]["Arguments"]["TransformOutput"]["KmsKeyId"] == key
    output = json.dumps(arguments["OutputDataConfig"]["S3OutputPath"])
    assert f"/{pipeline.model_artifacts.prefix}{automl.OUTPUT_FOLDER}" in output
    assert pipeline.model_artifacts.prefix == "churn/pipeline/models/"


def test_pipeline_role_is_granted_autopilot_only_with_automl(default):
    def actions(stack, roles, resources, activity):
        document = resources[stack.resolve(roles.roles[activity].policy.node.default_child.logical_id)]
        return {a for s in document["Properties"]["PolicyDocument"]["Statement"]
                for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    stack, _, roles, _, resources = default
    assert {"sagemaker:CreateAutoMLJob", "sagemaker:CreateModel", "sagemaker:CreateTransformJob"} <= actions(
        stack, roles, resources, "pipeline")
    assert "sagemaker:CreateEndpoint" in actions(stack, roles, resources, "training")
    stack, _, roles, _, resources = build(automl=None)
    assert not {a for a in actions(stack, roles, resources, "pipeline") if "AutoML" in a or "Transform" in a
                or a == "sagemaker:CreateModel"}
    assert "sagemaker:CreateEndpoint" not in actions(stack, roles, resources, "training")


def test_a_bias_gate_holds_autopilot_back():
    _, _, _, definition, _ = build(bias_check={"facets": [{"column": "_c0", "threshold": 3}]})
    names = [s["Name"] for s in definition["Steps"]]
    assert names.index("CheckBias") < names.index("AutoML")
    assert steps(definition)["AutoML"]["DependsOn"] == ["CheckBias"]


def test_options_reach_the_autopilot_steps():
    _, _, _, definition, _ = build(automl={"objective": "F1", "max_candidates": 3, "max_runtime_minutes": 90,
                                           "transform_instance_type": "ml.c5.xlarge"})
    found = steps(definition)
    arguments = found["AutoML"]["Arguments"]
    assert arguments["AutoMLJobObjective"] == {"MetricName": "F1"}
    assert arguments["AutoMLJobConfig"]["CompletionCriteria"] == {"MaxCandidates": 3, "MaxAutoMLJobRuntimeInSeconds": 5400}
    assert found["Predict"]["Arguments"]["TransformResources"]["InstanceType"] == "ml.c5.xlarge"


@pytest.mark.parametrize(("settings", "message"), [
    ({"tuning": {"ranges": {"eta": {"min": 0, "max": 1}}}}, r"automl cannot be combined with tuning \(Autopilot tunes"),
    ({"algorithm": None, "image": "trainer"}, r"automl cannot be combined with image \(Autopilot brings"),
    ({"hyperparameters": {"eta": 0.1}}, r"automl cannot be combined with hyperparameters \(Autopilot chooses them\); "
                                        "remove it or automl"),
    ({"image": "trainer", "hyperparameters": {"eta": 0.1}}, "with image .*, hyperparameters .*; remove them or automl"),
    ({"automl": {"objective": "RMSE"}}, "objective"),
])
def test_automl_settings_errors(settings, message):
    with pytest.raises(ValueError, match=message):
        PipelineSettings(**{**BASE, **settings})


def test_training_settings_ignored_by_autopilot_are_accepted():
    settings = PipelineSettings(**BASE, spot=False, instance_type="ml.c5.2xlarge", input_mode="Pipe")
    assert settings.automl == automl.AutoMLSettings()


def test_the_autopilot_branch_passes_the_nag_packs_cfn_lint_and_checkov(tmp_path):
    assert_gates_pass(synth_gated(tmp_path, lambda stage: construct(stage, bias_check={
        "facets": [{"column": "_c0", "threshold": 3}]})))


# -- an environment file with automl ---------------------------------------------------------------

DEV_TRAINING = '      algorithm: xgboost\n      hyperparameters: {objective: "binary:logistic", eval_metric: auc, num_round: 100, max_depth: 5}\n'


def test_dev_with_automl_builds_the_autopilot_branch_with_the_feature_sets_label(tmp_path):
    text = (CONFIG_DIR / "dev.yaml").read_text()
    assert text.count(DEV_TRAINING) == 1
    (tmp_path / "dev.yaml").write_text(text.replace(DEV_TRAINING, "      automl: {objective: F1, max_candidates: 5}\n"))
    config = load_environment(tmp_path / "dev.yaml")
    [pipeline_settings] = config.training.pipelines
    assert pipeline_settings.automl == automl.AutoMLSettings(objective="F1", max_candidates=5)
    app = build_app(tmp_path, outdir=str(tmp_path / "out"), context=CDK_CONTEXT)
    stage = app.node.find_child("dev")
    pipeline = stage.pipelines["churn"]
    definition = Stack.of(pipeline).resolve(pipeline.definition)
    found = steps(definition)
    assert found["AutoML"]["Arguments"]["AutoMLJobObjective"] == {"MetricName": "F1"}
    assert {c["TargetAttributeName"] for c in found["AutoML"]["Arguments"]["InputDataConfig"]} == {"churned"}
    assert found["Prepare"]["Arguments"]["AppSpecification"]["ContainerArguments"][-2:] == ["--automl", "churned"]
    assert "--rebalance" in found["Prepare"]["Arguments"]["AppSpecification"]["ContainerArguments"]
    app.synth()  # the nag packs pass: every wildcard of the AutoML grants is acknowledged
    assert json.loads((tmp_path / "out" / "validation-report.json").read_text())["pluginReports"] == []


def test_an_environment_file_combining_automl_and_hyperparameters_is_refused_in_one_line(tmp_path):
    text = (CONFIG_DIR / "dev.yaml").read_text()
    (tmp_path / "dev.yaml").write_text(text.replace(DEV_TRAINING, DEV_TRAINING + "      automl: {}\n"))
    with pytest.raises(ConfigError) as caught:
        load_environment(tmp_path / "dev.yaml")
    [line] = caught.value.problems
    assert line.startswith(f"{tmp_path / 'dev.yaml'}: ") and "automl cannot be combined with hyperparameters" in line


# -- every call the Autopilot branch makes, evaluated against the roles' policies ------------------

def test_each_call_of_the_autopilot_branch_is_allowed_to_its_caller_and_no_more():
    from tests.iam_eval import obj, permitted
    from tests.unit.test_training_pipeline_store_tracking import Built
    from ml_platform.constructs.lake.data_lake import Zone

    built = Built(group=False, server=True, automl={})
    pipeline, training, processing = (built.policy(a) for a in ("pipeline", "training", "processing"))
    arn = "arn:aws:sagemaker:eu-west-1:111111111111:{}/pipelines-x1-automl".format
    for action, kind in (("CreateAutoMLJob", "automl-job"), ("DescribeAutoMLJob", "automl-job"),
                         ("StopAutoMLJob", "automl-job"), ("CreateModel", "model"), ("DescribeModel", "model"),
                         ("CreateTransformJob", "transform-job"), ("DescribeTransformJob", "transform-job")):
        assert permitted(pipeline, f"sagemaker:{action}", arn(kind)), action
    assert not permitted(pipeline, "sagemaker:CreateEndpoint", arn("endpoint"))
    assert not permitted(pipeline, "sagemaker:DeleteModel", arn("model"))
    role = built.resolve(built.stack.resolve(built.roles.roles["training"].role_arn))
    sagemaker = {"iam:PassedToService": "sagemaker.amazonaws.com"}
    assert permitted(pipeline, "iam:PassRole", role, sagemaker)  # the AutoML job's and the model's role
    assert permitted(training, "iam:PassRole", role, sagemaker)  # Autopilot passes it to its own jobs
    assert not permitted(training, "iam:PassRole", role, {"iam:PassedToService": "glue.amazonaws.com"})
    for action in automl.AUTOPILOT_ROLE_ACTIONS:
        kind = "endpoint-config" if "EndpointConfig" in action else "endpoint" if "Endpoint" in action else "model"
        assert permitted(training, action, arn(kind)), action
    assert not permitted(processing, "sagemaker:CreateEndpoint", arn("endpoint"))
    # what Autopilot reads and writes is under the pipeline's prefix, which the training role reads and writes
    assert permitted(training, "s3:GetObject", obj(Zone.ARTIFACTS, "churn/pipeline/runs/x/automl-train/data.csv"))
    assert permitted(training, "s3:PutObject", obj(Zone.ARTIFACTS, "churn/pipeline/models/automl/job/model.tar.gz"))
    assert permitted(training, "s3:PutObject", obj(Zone.ARTIFACTS, "churn/pipeline/runs/x/predictions/data.csv.out"))


def test_track_logs_autopilots_settings_instead_of_the_unused_training_resources():
    from tests.unit.test_training_pipeline_store_tracking import Built

    built = Built(group=False, server=True, automl={"objective": "F1"})
    arguments = built.arguments("Track")
    params = [arguments[i + 1] for i, a in enumerate(arguments) if a == "--param"]
    assert params == ["automl_objective=F1", "automl_max_candidates=10", "automl_max_runtime_minutes=240"]
    assert built.steps["Track"]["DependsOn"] == ["Evaluate"]
