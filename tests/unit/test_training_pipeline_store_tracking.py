"""TrainingPipeline with a feature group (the Ingest step) and a tracking server (the Track step):
the steps appear only when given, their arguments parse with the scripts' own command lines, and
the processing role may write exactly that group and log to exactly that server."""

from __future__ import annotations

import ast
import json
import sys

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_glue as glue
from aws_cdk.assertions import Template

from ml_platform.constructs.lake.data_lake import DataLake
from ml_platform.constructs.preparation.feature_settings import FeatureSettings
from ml_platform.constructs.training.experiment_tracking import LOG_ACTIONS, ExperimentTracking
from ml_platform.constructs.training.feature_store import FeatureStore
from ml_platform.constructs.training.feature_store_settings import FeatureStoreSettings
from ml_platform.constructs.training.ml_network import MlNetwork, NetworkSettings
from ml_platform.constructs.training.model_registry import ModelRegistry
from ml_platform.constructs.training.sagemaker_roles import RoleSettings, SageMakerRoles
from ml_platform.constructs.training.training_pipeline import RECORDS_DIR, SCRIPTS, PipelineSettings, TrainingPipeline
from ml_platform.constructs.training.training_settings import TrainingSettings
from ml_platform.jobs.training_pipeline import features as features_script
from ml_platform.jobs.training_pipeline import ingest as ingest_script
from ml_platform.jobs.training_pipeline import tracking as tracking_script
from tests.iam_eval import Resolver, permitted
from tests.unit.test_training_features import ENV, FEATURES, datasets

GROUP_ARN = "arn:aws:sagemaker:eu-west-1:111111111111:feature-group/t-dev-churn"
SERVER = "ExperimentTrackingServer3D7A8FD7.TrackingServerArn"  # how the Resolver writes the server's ARN


class Built:
    """A features pipeline in one stack, with the feature group of its derived set and/or a tracking server."""

    def __init__(self, *, group: bool = True, server: bool = True, features=FEATURES, **settings):
        app = App()
        stack = self.stack = Stack(app, "Training", env=ENV)
        self.lake = DataLake(stack, "Lake")
        network = MlNetwork(stack, "Net", settings=NetworkSettings(az_count=2, interface_endpoints=[]))
        self.roles = SageMakerRoles(stack, "Roles", lake=self.lake, network=network, settings={
            a: RoleSettings() for a in ("processing", "training", "pipeline", "inference")})
        registry = ModelRegistry(stack, "Registry", models=["churn"], name_prefix="t-dev")
        self.settings = PipelineSettings(model="churn", features=features, **settings)
        self.store = None
        if group:
            store = FeatureStoreSettings(feature_sets={"churn": {"pipeline": "churn"}})
            resolved = store.resolve({"churn": FeatureSettings(**FEATURES)})
            self.store = FeatureStore(stack, "FeatureStore", feature_sets=resolved, lake=self.lake, name_prefix="t-dev",
                                      database=glue.Database(stack, "Curated", database_name="t_dev_curated"))
        self.tracking = ExperimentTracking(stack, "ExperimentTracking", lake=self.lake, name_prefix="t-dev") \
            if server else None
        self.pipeline = TrainingPipeline(
            stack, "Pipeline", settings=self.settings, lake=self.lake, roles=self.roles, network=network,
            registry=registry, name_prefix="t-dev", sources=datasets(), experiment_tracking=self.tracking,
            feature_group=self.store.groups["churn"] if self.store else None)
        self.resources = Template.from_stack(stack).to_json()["Resources"]
        self.resolve = Resolver(stack, self.lake, ENV)
        [resource] = [r for r in self.resources.values() if r["Type"] == "AWS::SageMaker::Pipeline"]
        self.definition = json.loads(self.resolve(resource["Properties"]["PipelineDefinition"]["PipelineDefinitionBody"]))
        self.steps = {s["Name"]: s for s in self.definition["Steps"]}

    def policy(self, activity: str) -> dict:
        statements = []
        for policy in self.roles.roles[activity].policies:
            document = self.resources[self.stack.resolve(policy.node.default_child.logical_id)]["Properties"]
            statements += self.resolve(document["PolicyDocument"])["Statement"]
        return {"Statement": statements}

    def arguments(self, step: str) -> list:
        return self.steps[step]["Arguments"]["AppSpecification"]["ContainerArguments"]

    def inputs(self, step: str) -> dict[str, dict]:
        return {i["InputName"]: i["S3Input"] for i in self.steps[step]["Arguments"]["ProcessingInputs"]}


@pytest.fixture(scope="module")
def both() -> Built:
    return Built()


@pytest.fixture(scope="module")
def neither() -> Built:
    return Built(group=False, server=False)


def test_ingest_follows_features_and_track_follows_evaluate_only_when_given(both, neither):
    assert [s["Name"] for s in both.definition["Steps"]] == [
        "Features", "Ingest", "Prepare", "Train", "Evaluate", "Baselines", "Track", "CheckMetric"]
    assert [s["Name"] for s in neither.definition["Steps"]] == [
        "Features", "Prepare", "Train", "Evaluate", "Baselines", "CheckMetric"]
    assert "--records" not in neither.arguments("Features")
    assert set(neither.pipeline.scripts) == {"features", "prepare", "evaluate", "baselines"}
    assert set(both.pipeline.scripts) == {"features", "ingest", "prepare", "evaluate", "baselines", "tracking"}
    only_track = Built(group=False)
    assert [s["Name"] for s in only_track.definition["Steps"]][-3:] == ["Baselines", "Track", "CheckMetric"]
    assert "Ingest" not in only_track.steps


def test_features_writes_the_records_and_ingest_reads_them_as_the_processing_role(both):
    arguments = both.arguments("Features")
    assert arguments[-4:] == ["--records", RECORDS_DIR, "--record-identifier", "customer_id"]
    outputs = {o["OutputName"]: o["S3Output"] for o in both.steps["Features"]["Arguments"]["ProcessingOutputConfig"]["Outputs"]}
    assert outputs["records"]["LocalPath"] == RECORDS_DIR
    parsed = features_script.parse_args(arguments)
    assert (str(parsed.records), parsed.record_identifier) == (RECORDS_DIR, "customer_id")
    ingest = both.steps["Ingest"]["Arguments"]
    assert both.inputs("Ingest")["records"]["S3Uri"] == {
        "Get": "Steps.Features.ProcessingOutputConfig.Outputs['records'].S3Output.S3Uri"}
    assert both.inputs("Ingest")["records"]["LocalPath"] == RECORDS_DIR
    assert ingest["RoleArn"] == both.steps["Features"]["Arguments"]["RoleArn"]
    assert ingest["AppSpecification"]["ImageUri"] == both.pipeline.processing_image
    assert "ProcessingOutputConfig" not in ingest  # it writes to the group only
    parsed = ingest_script.parse_args(both.arguments("Ingest"))
    assert (parsed.feature_group, str(parsed.records)) == ("t-dev-churn", f"{RECORDS_DIR}/records.csv")


def test_the_processing_role_may_write_exactly_the_group_and_no_other_role_any(both):
    processing = both.policy("processing")
    for action in ("sagemaker:PutRecord", "sagemaker:DescribeFeatureGroup"):
        assert permitted(processing, action, GROUP_ARN)
        assert not permitted(processing, action, GROUP_ARN.replace("t-dev-churn", "t-dev-other"))
    for activity in ("training", "inference", "pipeline"):
        text = json.dumps(both.policy(activity))
        assert "feature-group" not in text and "sagemaker-mlflow" not in text, activity


def test_track_logs_the_execution_to_the_server_after_evaluate(both):
    track = both.steps["Track"]
    assert track["DependsOn"] == ["Evaluate"]
    assert both.inputs("Track")["evaluation"]["S3Uri"] == {
        "Get": "Steps.Evaluate.ProcessingOutputConfig.Outputs['evaluation'].S3Output.S3Uri"}
    assert track["Arguments"]["RoleArn"] == both.steps["Evaluate"]["Arguments"]["RoleArn"]
    assert track["Arguments"]["AppSpecification"]["ImageUri"] == both.pipeline.processing_image
    assert "ProcessingOutputConfig" not in track["Arguments"]
    arguments = both.arguments("Track")
    # the server's own ARN attribute, not a name typed again
    assert SERVER.startswith(both.stack.resolve(both.tracking.server.logical_id) + ".")
    assert both.stack.resolve(both.pipeline.definition)["Steps"][6]["Arguments"]["AppSpecification"][
        "ContainerArguments"][1] == both.stack.resolve(both.tracking.server_arn)
    assert arguments[:6] == ["--server-arn", SERVER, "--experiment", "churn", "--run-name",
                             {"Get": "Execution.PipelineExecutionId"}]
    assert arguments[-3:] == ["--tag", "pipeline=t-dev-churn", "--best-effort"]


def test_track_arguments_run_through_tracking_py(both, tmp_path):
    """What the job would log: tracking.py's own command line with the execution id filled in."""
    (tmp_path / "evaluation.json").write_text(json.dumps({"metrics": {"auc": {"value": 0.81}}}))
    arn = "arn:aws:sagemaker:eu-west-1:111111111111:mlflow-tracking-server/t-dev-mlflow"
    argv = [arn if a == SERVER else "exec-1" if isinstance(a, dict) else str(tmp_path) if a == "/opt/ml/processing/evaluation"
            else a for a in both.arguments("Track")]

    class Client:
        calls: list = []

        def call(self, method, path, body=None, query=None):
            self.calls.append((path, body))
            return {"experiment": {"experiment_id": "7"}, "run": {"info": {"run_id": "r1"}}}

    client = Client()
    assert tracking_script.main(argv, client=client) == 0
    paths = [p for p, _ in client.calls]
    assert paths == ["experiments/get-by-name", "runs/create", "runs/log-batch", "runs/update"]
    assert client.calls[1][1]["run_name"] == "exec-1"
    batch = client.calls[2][1]
    assert {p["key"]: p["value"] for p in batch["params"]} == {
        "algorithm": "xgboost", "instance_type": "ml.m5.xlarge", "instance_count": "1"}
    assert batch["metrics"][0]["key"] == "auc" and batch["tags"] == [{"key": "pipeline", "value": "t-dev-churn"}]
    assert {a.split(":")[1] for a in LOG_ACTIONS} == {"GetExperimentByName", "CreateExperiment", "CreateRun",
                                                      "LogBatch", "UpdateRun"}


def test_hyperparameters_are_logged_as_params():
    built = Built(group=False, hyperparameters={"max_depth": 5, "eta": 0.2})
    params = [a for i, a in enumerate(built.arguments("Track")) if built.arguments("Track")[i - 1] == "--param"]
    assert params == ["eta=0.2", "max_depth=5", "algorithm=xgboost", "instance_type=ml.m5.xlarge", "instance_count=1"]


def test_the_processing_role_may_log_to_exactly_the_server(both):
    processing = both.policy("processing")
    for action in LOG_ACTIONS:
        assert permitted(processing, action, SERVER)
    assert not permitted(processing, "sagemaker-mlflow:DeleteRun", SERVER)
    assert not permitted(processing, "sagemaker-mlflow:CreateRun", SERVER.replace("ExperimentTracking", "Other"))


def test_required_tracking_fails_the_execution_before_registration():
    built = Built(group=False, tracking="required")
    assert "--best-effort" not in built.arguments("Track")
    assert built.steps["CheckMetric"]["DependsOn"] == ["Track"]


def test_best_effort_tracking_does_not_hold_registration(both):
    assert "DependsOn" not in both.steps["CheckMetric"]
    assert PipelineSettings(model="m", input={"zone": "raw", "prefix": "p/"}).tracking == "best_effort"


def test_a_feature_group_needs_a_features_pipeline():
    with pytest.raises(ValueError, match=r"feature_group 't-dev-churn' needs features \(the Features step writes the "
                                         r"records it ingests\)"):
        Built(features=None, input={"zone": "raw", "prefix": "churn/"}, group=True)


def test_the_shipped_scripts_import_nothing_of_the_platform():
    """tracking.py and ingest.py are uploaded alone: the standard library and botocore/boto3 only."""
    for name in ("tracking.py", "ingest.py"):
        tree = ast.parse((SCRIPTS / name).read_text(), feature_version=(3, 10))
        imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert imported <= set(sys.stdlib_module_names) | {"__future__", "boto3", "botocore"}, (name, imported)


# -- settings ---------------------------------------------------------------------------------------

TRAINING = {"models": ["churn", "other"], "roles": {a: {} for a in ("processing", "training", "pipeline")},
            "pipelines": [{"model": "churn", "features": FEATURES},
                          {"model": "other", "input": {"zone": "raw", "prefix": "other/"}}]}


def test_feature_store_defaults_and_the_sets_pipelines_feed():
    settings = TrainingSettings(**TRAINING, feature_store={"feature_sets": {"churn": {"pipeline": "churn"}}})
    assert TrainingSettings(**TRAINING).feature_store is None and TrainingSettings(**TRAINING).feature_sets() == {}
    assert settings.fed_feature_sets() == {"churn": "churn"}
    [resolved] = settings.feature_sets().values()
    assert resolved.record_identifier == "customer_id" and resolved.online is None
    assert [d.name for d in resolved.definitions()] == ["customer_id", "churned", "age", "amount", "segment",
                                                        "event_time"]
    # a part of the pipelines (a further Training stack) feeds only its own sets
    part = settings.model_copy(update={"pipelines": settings.pipelines[1:]})
    assert part.fed_feature_sets() == {}


@pytest.mark.parametrize(("feature_store", "extra", "message"), [
    ({"feature_sets": {"s": {"pipeline": "nope"}}}, {},
     "feature_store.feature_sets.s.pipeline 'nope' is not a training pipeline (churn, other)"),
    ({"feature_sets": {"s": {"pipeline": "other"}}}, {},
     "feature_store.feature_sets.s.pipeline 'other' reads ready input, not features; only a pipeline with features "
     "feeds a feature set"),
    ({"feature_sets": {"s": {"pipeline": "churn", "record_identifier": "amount"}}}, {},
     "feature_store.feature_sets.s.record_identifier 'amount' is not join_on or a column of the first source "
     "'accounts' of pipeline 'churn' (customer_id, age, segment, tenure_months, churned)"),
    ({"feature_sets": {}}, {}, "feature_sets"),
    (None, {"tracking": "required"}, "pipeline of 'churn': tracking 'required' needs experiment_tracking"),
])
def test_training_settings_errors_are_one_line(feature_store, extra, message):
    pipelines = [{**TRAINING["pipelines"][0], **extra}, TRAINING["pipelines"][1]]
    with pytest.raises(ValueError) as caught:
        TrainingSettings(**{**TRAINING, "pipelines": pipelines},
                         **({"feature_store": feature_store} if feature_store is not None else {}))
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_required_tracking_with_a_server_is_accepted():
    pipelines = [{**TRAINING["pipelines"][0], "tracking": "required"}, TRAINING["pipelines"][1]]
    settings = TrainingSettings(**{**TRAINING, "pipelines": pipelines}, experiment_tracking={})
    assert settings.pipelines[0].tracking == "required"
