"""TrainingPipeline: the Baselines step, the pre-training bias gate, and the registered version's baselines.

The definition is read as SageMaker reads it (the resolved ``PipelineDefinitionBody``, see
tests/unit/test_training_features.py); the RegisterModel step's arguments are checked against
botocore's CreateModelPackage input shape; the scripts' command lines are run as the jobs run them.
"""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from pathlib import Path

import botocore.session
import pytest
from botocore.validate import ParamValidator

from ml_platform.constructs.core.validation import SettingsError
from ml_platform.constructs.lake.data_lake import Zone
from ml_platform.constructs.training.training_pipeline import (
    DEFAULT_BIAS_THRESHOLDS,
    DRIFT_CODE,
    INPUT_LABEL,
    BiasCheck,
    PipelineSettings,
)
from ml_platform.jobs.training_pipeline import baselines as baselines_script
from ml_platform.jobs.training_pipeline import bias as bias_script
from ml_platform.jobs.training_pipeline import evaluate as evaluate_script
from tests.iam_eval import permitted
from tests.unit.test_training_features import FEATURES, WITHOUT_REBALANCE, Built

BIAS = {"facets": [{"column": "segment", "values": ["basic"]}, {"column": "age", "threshold": 60}],
        "metrics": {"CI": 0.5, "DPL": 0.25, "KS": 0.3}}
INPUT = {"zone": "curated", "prefix": "churn/ready/"}
_EXPRESSIONS = ("Get", "Std:Join", "Std:JsonGet")


@pytest.fixture(scope="module")
def gated() -> Built:
    return Built(features=WITHOUT_REBALANCE, bias_check=BIAS)


@pytest.fixture(scope="module")
def plain() -> Built:
    return Built(features=None, reads_feedback=False, input=INPUT)


def output_of(step: str, output: str) -> dict:
    return {"Get": f"Steps.{step}.ProcessingOutputConfig.Outputs['{output}'].S3Output.S3Uri"}


def uri(step: str, output: str, *path: str) -> dict:
    return {"ContentType": "application/json",
            "S3Uri": {"Std:Join": {"On": "/", "Values": [output_of(step, output), *path]}}}


def register(built: Built) -> dict:
    [nested] = built.steps["CheckMetric"]["Arguments"]["IfSteps"]
    return nested


def arguments_of(built: Built, step: str) -> list[str]:
    return built.steps[step]["Arguments"]["AppSpecification"]["ContainerArguments"]


def with_placeholders(value):
    """Pipeline expressions (resolved at run time) as the strings they become."""
    if isinstance(value, dict):
        if len(value) == 1 and next(iter(value)) in _EXPRESSIONS:
            return "s3://bucket/placeholder"
        return {k: with_placeholders(v) for k, v in value.items()}
    if isinstance(value, list):
        return [with_placeholders(v) for v in value]
    return value


# --- step order and dependencies --------------------------------------------------------------------


def test_gated_pipeline_steps_in_order_with_their_dependencies(gated):
    assert [(s["Name"], s["Type"]) for s in gated.definition["Steps"]] == [
        ("Features", "Processing"), ("Prepare", "Processing"), ("Bias", "Processing"), ("CheckBias", "Condition"),
        ("Train", "Training"), ("Evaluate", "Processing"), ("Baselines", "Processing"), ("CheckMetric", "Condition")]
    assert gated.steps["Train"]["DependsOn"] == ["CheckBias"]
    assert gated.steps["Baselines"]["DependsOn"] == ["Evaluate"]
    assert gated.inputs("Bias")["train"]["S3Uri"] == output_of("Prepare", "train")
    assert gated.inputs("Baselines")["train"]["S3Uri"] == output_of("Prepare", "train")


def test_without_bias_check_no_bias_steps_but_baselines(plain):
    assert [s["Name"] for s in plain.definition["Steps"]] == ["Prepare", "Train", "Evaluate", "Baselines", "CheckMetric"]
    assert "DependsOn" not in plain.steps["Train"]
    assert "Bias" not in register(plain)["Arguments"]["ModelMetrics"]
    assert set(plain.pipeline.scripts) == {"prepare", "evaluate", "baselines"}


def test_check_bias_fails_the_pipeline_with_the_reports_message(gated):
    report = {"PropertyFile": {"Get": "Steps.Bias.PropertyFiles.BiasGate"}}
    assert gated.steps["Bias"]["PropertyFiles"] == [
        {"PropertyFileName": "BiasGate", "OutputName": "bias", "FilePath": "gate.json"}]
    arguments = gated.steps["CheckBias"]["Arguments"]
    assert arguments["Conditions"] == [{"Type": "LessThanOrEqualTo", "RightValue": 0,
                                        "LeftValue": {"Std:JsonGet": {**report, "Path": "violations"}}}]
    assert arguments["IfSteps"] == []
    [fail] = arguments["ElseSteps"]
    assert (fail["Name"], fail["Type"]) == ("BiasTooHigh", "Fail")
    assert {"Std:JsonGet": {**report, "Path": "message"}} in fail["Arguments"]["ErrorMessage"]["Std:Join"]["Values"]


def test_bias_step_arguments_run_the_script_on_the_train_split_with_the_schema(gated):
    arguments = arguments_of(gated, "Bias")
    config = json.loads(arguments[arguments.index("--config") + 1])
    assert config == {"label": "churned", "positive_label_values": [1], "facets": BIAS["facets"],
                      "metrics": BIAS["metrics"]}
    assert arguments[arguments.index("--schema") + 1] == "/opt/ml/processing/schema"
    schema = ["s3://fake-curated/churn/features/", {"Get": "Execution.PipelineExecutionId"}, "/schema.json"]
    assert gated.inputs("Bias")["schema"]["S3Uri"] == {"Std:Join": {"On": "", "Values": schema}}  # one object
    assert gated.inputs("Baselines")["schema"]["S3Uri"] == gated.inputs("Bias")["schema"]["S3Uri"]
    features = gated.steps["Features"]["Arguments"]["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
    assert features["Std:Join"]["Values"][:2] == schema[:2]  # the folder the Features step of this run wrote
    assert [o["OutputName"] for o in gated.steps["Bias"]["Arguments"]["ProcessingOutputConfig"]["Outputs"]] == ["bias"]


def test_baselines_step_ships_the_drift_folder_and_names_the_label(gated, plain):
    drift = gated.inputs("Baselines")["drift"]
    assert drift["S3Uri"] == gated.asset_url(gated.pipeline.drift_code) and drift["S3Uri"].endswith(".zip")
    assert drift["LocalPath"] == "/opt/ml/processing/drift"
    arguments = arguments_of(gated, "Baselines")
    assert arguments[arguments.index("--label") + 1] == "churned"
    assert "--schema" in arguments and "schema" in gated.inputs("Baselines")
    assert arguments_of(plain, "Baselines")[1] == INPUT_LABEL and "--schema" not in arguments_of(plain, "Baselines")
    entry = gated.steps["Baselines"]["Arguments"]["AppSpecification"]["ContainerEntrypoint"]
    assert entry[0] == "python3" and entry[1].endswith(".py")
    assert entry[1].split("/")[-1] == gated.pipeline.scripts["baselines"].s3_object_key
    output = gated.steps["Baselines"]["Arguments"]["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
    assert output["Std:Join"]["Values"][1] == {"Get": "Execution.PipelineExecutionId"}


def test_processing_role_reads_the_drift_code_and_the_new_scripts(gated):
    policy = gated.policy("processing")
    for asset in (gated.pipeline.drift_code, gated.pipeline.scripts["baselines"], gated.pipeline.scripts["bias"]):
        bucket, key = gated.asset_url(asset)[len("s3://"):].split("/", 1)
        assert permitted(policy, "s3:GetObject", f"arn:aws:s3:::{bucket}/{key}")


def test_new_steps_run_in_the_vpc_with_the_lake_key(gated):
    train = gated.steps["Train"]["Arguments"]
    for name in ("Bias", "Baselines"):
        arguments = gated.steps[name]["Arguments"]
        assert arguments["NetworkConfig"]["VpcConfig"] == train["VpcConfig"]
        assert arguments["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"] == train["ResourceConfig"]["VolumeKmsKeyId"]
        assert arguments["ProcessingOutputConfig"]["KmsKeyId"] == train["OutputDataConfig"]["KmsKeyId"]
        assert arguments["RoleArn"] == gated.steps["Prepare"]["Arguments"]["RoleArn"]
        assert arguments["AppSpecification"]["ImageUri"] == gated.steps["Prepare"]["Arguments"]["AppSpecification"]["ImageUri"]


# --- the registered version ------------------------------------------------------------------------


def test_register_carries_the_baselines_from_the_steps_outputs(gated):
    arguments = register(gated)["Arguments"]
    data_quality = {"Statistics": uri("Baselines", "baselines", "statistics.json"),
                    "Constraints": uri("Baselines", "baselines", "constraints.json")}
    model_quality = {"Statistics": uri("Evaluate", "evaluation", "model-quality", "statistics.json"),
                     "Constraints": uri("Evaluate", "evaluation", "model-quality", "constraints.json")}
    assert arguments["DriftCheckBaselines"] == {"ModelDataQuality": data_quality, "ModelQuality": model_quality}
    assert arguments["ModelMetrics"] == {"ModelDataQuality": data_quality, "ModelQuality": model_quality,
                                         "Bias": {"PreTrainingReport": uri("Bias", "bias", "analysis.json")}}
    assert evaluate_script.MODEL_QUALITY_DIR == "model-quality"


@pytest.mark.parametrize("which", ["gated", "plain"])
def test_register_arguments_are_a_valid_create_model_package_request(which, request):
    arguments = with_placeholders(register(request.getfixturevalue(which))["Arguments"])
    shape = botocore.session.get_session().get_service_model("sagemaker").operation_model("CreateModelPackage").input_shape
    report = ParamValidator().validate(arguments, shape)
    assert not report.has_errors(), report.generate_report()


# --- settings ---------------------------------------------------------------------------------------


def test_bias_check_defaults():
    check = BiasCheck(facets=[{"column": "_c0", "values": [1]}])
    assert check.metrics == DEFAULT_BIAS_THRESHOLDS == {"CI": 0.3, "DPL": 0.2}
    assert check.positive_label_values == (1,) and check.label is None
    assert PipelineSettings(model="churn", input=INPUT).bias_check is None
    assert check.config(INPUT_LABEL) == {"label": "label", "positive_label_values": [1],
                                         "facets": [{"column": "_c0", "values": [1]}], "metrics": {"CI": 0.3, "DPL": 0.2}}


def test_bias_check_options_every_metric_and_a_threshold_facet():
    every = {name: 0.1 for name in bias_script.METRICS}
    settings = PipelineSettings(model="churn", input=INPUT, bias_check={
        "label": "label", "positive_label_values": ["yes"], "metrics": {**every, "KL": 5},
        "facets": [{"column": "_c3", "threshold": 40.5}]})
    assert settings.bias_check.metrics["KL"] == 5 and settings.bias_check.facets[0].threshold == 40.5


@pytest.mark.parametrize(("bias_check", "features", "message"), [
    ({**BIAS, "metrics": {"XYZ": 0.1}}, FEATURES, "unknown metric 'XYZ' (allowed: CI, DPL, KL, JS, LP, TVD, KS)"),
    ({**BIAS, "metrics": {"CI": 1.5}}, FEATURES, "threshold 1.5 of CI is out of range (above 0, at most 1)"),
    ({**BIAS, "metrics": {"DPL": 0}}, FEATURES, "threshold 0 of DPL is out of range"),
    ({**BIAS, "metrics": {"JS": 0.8}}, FEATURES, "threshold 0.8 of JS is out of range (above 0, at most 0.693147)"),
    ({**BIAS, "facets": [{"column": "gender", "values": ["f"]}]}, FEATURES,
     "bias_check facet column 'gender' is not a feature of the training set (label 'churned'; features: age, amount, segment)"),
    ({**BIAS, "facets": [{"column": "churned", "values": [1]}]}, FEATURES, "facet column 'churned' is not a feature"),
    ({**BIAS, "label": "target"}, FEATURES, "bias_check label 'target' is not the training set's label 'churned'"),
    ({**BIAS, "facets": [{"column": "age", "values": [1], "threshold": 3}]}, FEATURES,
     "facet 'age': give values or threshold, exactly one"),
    ({**BIAS, "facets": [{"column": "age"}]}, FEATURES, "facet 'age': give values or threshold, exactly one"),
    ({**BIAS, "facets": []}, FEATURES, "at least 1 item"),
    ({"facets": [{"column": "age", "values": [1]}]}, None, "facet column 'age' is not a feature of the training set "
                                                           "(label 'label'; features: _c0, _c1, ... (input data"),
])
def test_bias_check_errors_are_one_line(bias_check, features, message):
    source = {"features": features} if features else {"input": INPUT}
    with pytest.raises(SettingsError, match=re.escape(message)) as caught:
        PipelineSettings(model="churn", bias_check=bias_check, **source)
    assert "\n" not in str(caught.value)


# --- the scripts as the steps run them ---------------------------------------------------------------


def cdk_zip(folder: Path, target: Path) -> Path:
    """The drift folder zipped as a CDK folder asset is: its files at the top of the archive."""
    with zipfile.ZipFile(target, "w") as bundle:
        for path in sorted(folder.rglob("*.py")):
            if "__pycache__" not in path.parts:
                bundle.write(path, path.relative_to(folder).as_posix())
    return target


def test_baselines_script_runs_drift_baseline_with_the_schemas_names(tmp_path):
    (tmp_path / "drift").mkdir()
    cdk_zip(DRIFT_CODE, tmp_path / "drift" / "asset.0123.zip")
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "data.csv").write_text("1,30,0\n0,45,2\n0,51,1\n1,28,0\n")
    (tmp_path / "schema").mkdir()
    (tmp_path / "schema" / "schema.json").write_text(json.dumps({"columns": ["age", "segment"]}))
    code = baselines_script.main(["--label", "churned", "--drift", str(tmp_path / "drift"), "--dataset",
                                  str(tmp_path / "train"), "--output", str(tmp_path / "out"),
                                  "--schema", str(tmp_path / "schema")])
    assert code == 0
    statistics = json.loads((tmp_path / "out" / "statistics.json").read_text())
    constraints = json.loads((tmp_path / "out" / "constraints.json").read_text())
    assert [f["name"] for f in statistics["features"]] == ["age", "segment"]  # the label left out
    assert [f["name"] for f in constraints["features"]] == ["age", "segment"]
    assert statistics["dataset"]["item_count"] == 4


def test_baselines_headers_without_schema_are_model_monitors_positional_names(tmp_path):
    (tmp_path / "data.csv").write_text("1,0.5,3,x\n")
    assert baselines_script.headers(tmp_path, "label") == ["label", "_c0", "_c1", "_c2"]
    (tmp_path / "schema.json").write_text(json.dumps({"columns": ["a", "b"]}))
    with pytest.raises(ValueError, match="names 2 feature columns, the rows have 3"):
        baselines_script.headers(tmp_path, "label", tmp_path)
    with pytest.raises(FileNotFoundError, match="no drift.py"):
        baselines_script.drift_script(tmp_path, tmp_path / "scratch")
    shutil.copy(DRIFT_CODE / "drift.py", tmp_path / "drift.py")
    assert baselines_script.drift_script(tmp_path, tmp_path / "scratch") == tmp_path / "drift.py"


def test_evaluate_writes_model_quality_in_model_monitors_format():
    # 4 positives, 4 negatives; predicted positive when the score is above 0.5.
    labels = [1, 1, 1, 1, 0, 0, 0, 0]
    scores = [0.9, 0.8, 0.7, 0.4, 0.6, 0.3, 0.2, 0.1]
    statistics, constraints = evaluate_script.model_quality(labels, scores)
    metrics = statistics["binary_classification_metrics"]
    # tp=3 fn=1 fp=1 tn=3: accuracy 6/8, precision 3/4, recall 3/4, f1 3/4; AUC 15/16 (0.4 < 0.6 only).
    assert metrics["confusion_matrix"] == {"0": {"0": 3, "1": 1}, "1": {"0": 1, "1": 3}}
    assert {k: metrics[k]["value"] for k in ("accuracy", "precision", "recall", "f1", "auc")} == {
        "accuracy": 0.75, "precision": 0.75, "recall": 0.75, "f1": 0.75, "auc": 0.9375}
    assert metrics["false_positive_rate"]["value"] == 0.25 and statistics["dataset"]["item_count"] == 8
    assert constraints["binary_classification_constraints"]["auc"] == {
        "threshold": round(0.9375 - evaluate_script.MODEL_QUALITY_TOLERANCE, 6), "comparison_operator": "LessThanThreshold"}
    assert set(constraints["binary_classification_constraints"]) == set(evaluate_script.CONSTRAINED_METRICS)


def test_lake_zone_of_the_baselines_is_the_pipelines_work_prefix(gated):
    output = gated.steps["Baselines"]["Arguments"]["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
    assert output["Std:Join"]["Values"][0] == f"s3://fake-{Zone.ARTIFACTS.value}/churn/pipeline/runs"
