"""AutoML (Autopilot) branch of a training pipeline: settings, step dicts and IAM grants."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import botocore
import pytest
from aws_cdk import App, Stack
from aws_cdk.assertions import Template
from ml_platform.constructs.core.validation import SettingsError

from ml_platform.constructs.lake.data_lake import DataLake
from ml_platform.constructs.training import automl
from ml_platform.constructs.training.automl import AutoMLSettings
from ml_platform.constructs.training.ml_network import MlNetwork, NetworkSettings
from ml_platform.constructs.training.sagemaker_roles import RoleSettings, SageMakerRoles

ENV = {"account": "111111111111", "region": "eu-west-1"}
NETWORK = {"SecurityGroupIds": ["sg-1"], "Subnets": ["subnet-1", "subnet-2"]}
KEY = "arn:aws:kms:eu-west-1:111111111111:key/k"
ROLE = "arn:aws:iam::111111111111:role/training"


def _shapes() -> dict:
    [path] = (Path(botocore.__file__).parent / "data" / "sagemaker").glob("*/service-2.json.gz")
    return json.loads(gzip.open(path).read())["shapes"]


def _problems(shapes: dict, shape: str, value, where: str = "") -> list[str]:
    """What of ``value`` (property references and joins count as strings) the API shape would refuse:
    unknown members, missing required ones, enum values, integer ranges."""
    spec = shapes[shape]
    if isinstance(value, dict) and ({"Get"} == set(value) or {"Std:Join"} == set(value)):
        return [] if spec["type"] == "string" else [f"{where}: a reference where a {spec['type']} goes"]
    kind = spec["type"]
    if kind == "structure":
        found = [f"{where}.{m}: unknown" for m in value if m not in spec["members"]]
        found += [f"{where}.{m}: required" for m in spec.get("required", []) if m not in value]
        return found + [p for m, v in value.items() if m in spec["members"]
                        for p in _problems(shapes, spec["members"][m]["shape"], v, f"{where}.{m}")]
    if kind == "list":
        return [p for i, v in enumerate(value) for p in _problems(shapes, spec["member"]["shape"], v, f"{where}[{i}]")]
    if kind == "map":
        return [p for k, v in value.items() for p in _problems(shapes, spec["value"]["shape"], v, f"{where}[{k}]")]
    if kind == "string" and "enum" in spec and value not in spec["enum"]:
        return [f"{where}: {value!r} not in {spec['enum']}"]
    if kind == "integer" and not spec.get("min", value) <= value <= spec.get("max", value):
        return [f"{where}: {value} out of range"]
    if kind == "boolean" and not isinstance(value, bool):
        return [f"{where}: not a boolean"]
    return []


# -- settings --------------------------------------------------------------------------------------

def test_defaults():
    settings = AutoMLSettings()
    assert (settings.problem_type, settings.objective, settings.max_candidates, settings.max_runtime_minutes,
            settings.transform_instance_type) == ("BinaryClassification", "AUC", 10, 240, "ml.m5.xlarge")


def test_binary_objectives_are_autopilots():
    assert set(automl.BINARY_OBJECTIVES) <= set(_shapes()["AutoMLMetricEnum"]["enum"])
    for objective in automl.BINARY_OBJECTIVES:
        assert AutoMLSettings(objective=objective).objective == objective


@pytest.mark.parametrize(("settings", "message"), [
    ({"problem_type": "Regression"}, "problem_type"),
    ({"objective": "MSE"}, "objective"),
    ({"max_candidates": 0}, "max_candidates"),
    ({"max_candidates": 751}, "max_candidates"),
    ({"max_runtime_minutes": 0}, "max_runtime_minutes"),
    ({"transform_instance_type": "m5.large"}, "transform_instance_type"),
    ({"mode": "HYPERPARAMETER_TUNING"}, "mode"),
])
def test_bad_settings(settings, message):
    with pytest.raises(SettingsError, match=message):
        AutoMLSettings(**settings)


# -- steps -----------------------------------------------------------------------------------------

def _automl_step(**settings):
    return automl.automl_step(AutoMLSettings(**settings), label="churned", train_uri={"Get": "train"},
                              validation_uri={"Get": "validation"}, output_uri="s3://artifacts/churn/pipeline/models/automl",
                              role_arn=ROLE, key_arn=KEY, network=NETWORK)


def test_automl_step_is_a_create_automl_job_request_in_ensembling_mode():
    step = _automl_step()
    assert (step["Name"], step["Type"]) == ("AutoML", "AutoML")
    arguments = step["Arguments"]
    assert "AutoMLJobName" not in arguments  # the pipeline names the job
    assert _problems(_shapes(), "CreateAutoMLJobRequest", {**arguments, "AutoMLJobName": "x"}) == []
    assert arguments["AutoMLJobConfig"]["Mode"] == "ENSEMBLING"
    assert "ModelDeployConfig" not in arguments and "GenerateCandidateDefinitionsOnly" not in arguments
    assert arguments["ProblemType"] == "BinaryClassification"
    assert arguments["AutoMLJobObjective"] == {"MetricName": "AUC"}
    assert arguments["AutoMLJobConfig"]["CompletionCriteria"] == {"MaxCandidates": 10, "MaxAutoMLJobRuntimeInSeconds": 14400}


def test_automl_step_reads_header_csv_channels_with_the_label_as_target():
    channels = {c["ChannelType"]: c for c in _automl_step()["Arguments"]["InputDataConfig"]}
    assert channels["training"]["DataSource"]["S3DataSource"] == {"S3DataType": "S3Prefix", "S3Uri": {"Get": "train"}}
    assert channels["validation"]["DataSource"]["S3DataSource"]["S3Uri"] == {"Get": "validation"}
    for channel in channels.values():
        assert channel["TargetAttributeName"] == "churned"
        assert channel["ContentType"] == "text/csv;header=present"


def test_automl_step_is_encrypted_in_the_vpc_as_the_given_role():
    arguments = _automl_step()["Arguments"]
    assert arguments["RoleArn"] == ROLE
    assert arguments["OutputDataConfig"] == {"S3OutputPath": "s3://artifacts/churn/pipeline/models/automl", "KmsKeyId": KEY}
    assert arguments["AutoMLJobConfig"]["SecurityConfig"] == {
        "VolumeKmsKeyId": KEY, "EnableInterContainerTrafficEncryption": True, "VpcConfig": NETWORK}


def test_automl_step_options():
    arguments = _automl_step(objective="F1", max_candidates=3, max_runtime_minutes=30)["Arguments"]
    assert arguments["AutoMLJobObjective"] == {"MetricName": "F1"}
    assert arguments["AutoMLJobConfig"]["CompletionCriteria"] == {"MaxCandidates": 3, "MaxAutoMLJobRuntimeInSeconds": 1800}


def test_best_containers_reference_the_best_candidates_inference_container():
    [container] = automl.best_containers()
    assert container["Image"] == {"Get": "Steps.AutoML.BestCandidate.InferenceContainers[0].Image"}
    assert container["ModelDataUrl"] == {"Get": "Steps.AutoML.BestCandidate.InferenceContainers[0].ModelDataUrl"}
    environment = container["Environment"]
    assert environment["SAGEMAKER_INFERENCE_OUTPUT"] == "predicted_label,probability"
    assert environment["MODEL_NAME"] == {"Get": "Steps.AutoML.BestCandidate.InferenceContainers[0].Environment['MODEL_NAME']"}
    assert sorted(environment) == sorted([*automl.INFERENCE_ENVIRONMENT, "SAGEMAKER_INFERENCE_OUTPUT"])
    assert _problems(_shapes(), "ModelPackageContainerDefinition", container) == []


def test_model_step_creates_a_model_of_the_best_candidate_in_the_vpc():
    step = automl.model_step(role_arn=ROLE, network=NETWORK)
    assert (step["Name"], step["Type"]) == ("AutoMLModel", "Model")
    assert step["Arguments"]["PrimaryContainer"] == automl.best_containers()[0]
    assert step["Arguments"]["ExecutionRoleArn"] == ROLE and step["Arguments"]["VpcConfig"] == NETWORK
    assert _problems(_shapes(), "CreateModelInput", {**step["Arguments"], "ModelName": "x"}) == []


def test_transform_step_joins_the_label_to_the_prediction_of_the_test_split():
    step = automl.transform_step(AutoMLSettings(transform_instance_type="ml.m5.large"), test_uri={"Get": "test"},
                                 output_uri="s3://a/runs/x/predictions", key_arn=KEY)
    assert (step["Name"], step["Type"]) == ("Predict", "Transform")
    arguments = step["Arguments"]
    assert _problems(_shapes(), "CreateTransformJobRequest", {**arguments, "TransformJobName": "x"}) == []
    assert arguments["ModelName"] == {"Get": "Steps.AutoMLModel.ModelName"}
    assert arguments["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"] == {"Get": "test"}
    assert arguments["TransformInput"]["SplitType"] == "Line"
    assert arguments["DataProcessing"] == {"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-2,-1]"}
    assert arguments["TransformOutput"]["KmsKeyId"] == KEY and arguments["TransformResources"]["VolumeKmsKeyId"] == KEY
    assert arguments["TransformResources"]["InstanceType"] == "ml.m5.large"
    assert automl.predictions_uri() == {"Get": "Steps.Predict.TransformOutput.S3OutputPath"}


# -- grants ----------------------------------------------------------------------------------------

def _roles(grant: bool):
    app = App()
    lake = DataLake(Stack(app, "Lake", env=ENV), "Lake")
    stack = Stack(app, "Training", env=ENV)
    network = MlNetwork(stack, "Net", settings=NetworkSettings(az_count=1, interface_endpoints=[]))
    roles = SageMakerRoles(stack, "Roles", lake=lake, network=network,
                           settings={a: RoleSettings() for a in ("processing", "training", "pipeline")})
    if grant:
        automl.grant_automl(roles.roles["pipeline"], roles.roles["training"])
    resources = Template.from_stack(stack).to_json()["Resources"]
    return stack, roles, {a: _statements(stack, resources, r) for a, r in roles.roles.items()}


@pytest.fixture(scope="module")
def granted():
    _, _, before = _roles(grant=False)
    stack, roles, after = _roles(grant=True)
    return stack, roles, before, after


def _statements(stack, resources, role) -> list[dict]:
    return resources[stack.resolve(role.policy.node.default_child.logical_id)]["Properties"]["PolicyDocument"]["Statement"]


def _new(granted, activity) -> list[dict]:
    _, _, before, after = granted
    return [s for s in after[activity] if s not in before[activity]]


def _actions(statement) -> list[str]:
    return [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]


def _arn(kind: str) -> dict:
    return {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, f":sagemaker:eu-west-1:111111111111:{kind}/*"]]}


def test_pipeline_role_may_run_automl_jobs_models_and_transforms_only(granted):
    new = _new(granted, "pipeline")
    by_actions = {tuple(sorted(_actions(s))): s["Resource"] for s in new}
    assert by_actions == {
        ("sagemaker:AddTags", "sagemaker:CreateAutoMLJob", "sagemaker:CreateTransformJob", "sagemaker:DescribeAutoMLJob",
         "sagemaker:DescribeTransformJob", "sagemaker:StopAutoMLJob", "sagemaker:StopTransformJob"):
            [_arn("automl-job"), _arn("transform-job")],
        ("sagemaker:AddTags", "sagemaker:CreateModel", "sagemaker:DescribeModel"): _arn("model"),
    }
    assert all(s["Effect"] == "Allow" and "Condition" not in s for s in new)


def test_automl_role_passes_itself_and_manages_autopilots_models_and_endpoints(granted):
    stack, roles, _, _ = granted
    new = _new(granted, "training")
    [passing] = [s for s in new if _actions(s) == ["iam:PassRole"]]
    assert passing["Resource"] == stack.resolve(roles.roles["training"].role_arn)
    assert passing["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    [own] = [s for s in new if "sagemaker:CreateEndpoint" in _actions(s)]
    assert sorted(_actions(own)) == sorted(automl.AUTOPILOT_ROLE_ACTIONS)
    assert own["Resource"] == [_arn("model"), _arn("endpoint-config"), _arn("endpoint")]
    [logs] = [s for s in new if "logs:PutLogEvents" in _actions(s)]
    assert json.dumps(logs["Resource"]).count("/aws/sagemaker/") == 2
    assert "ProcessingJobs" in json.dumps(logs["Resource"]) and "TransformJobs" in json.dumps(logs["Resource"])
    assert len(new) == 3


def test_no_other_role_is_granted_anything(granted):
    assert _new(granted, "processing") == []


def test_wildcards_are_acknowledged_on_the_roles(granted):
    _, roles, _, _ = granted
    for activity in ("pipeline", "training"):
        entries = roles.roles[activity]._wildcard_acknowledgments.entries  # noqa: SLF001
        assert any("Autopilot" in reason or "AutoML" in reason for _, reason in entries)
