"""TrainingPipeline with ``features``: the Features step, its wiring to Prepare, its grants, and its assets.

Everything is built in one stack, so that the lake's tokens are local references a
:class:`Resolver` turns into fixed names; the definition is then read as SageMaker reads it (the
``PipelineDefinitionBody`` JSON) and the processing role's policy evaluated with moto's IAM
evaluator. The step's arguments are parsed by the scripts' own command lines.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Template


from ml_platform.constructs.lake.data_lake import DataLake, Zone
from ml_platform.constructs.preparation.feature_settings import FeatureSettings
from ml_platform.constructs.core.json_asset import json_asset
from ml_platform.constructs.lake.lake_locations import DAILY, LakeDataset
from ml_platform.constructs.training.ml_network import MlNetwork, NetworkSettings
from ml_platform.constructs.training.model_registry import ModelRegistry
from ml_platform.constructs.core.python_bundle import package_directory, python_bundle
from ml_platform.constructs.training.sagemaker_images import builtin_image
from ml_platform.constructs.training.sagemaker_roles import RoleSettings, SageMakerRoles
from ml_platform.constructs.training.training_pipeline import (
    REBALANCE_PACKAGES,
    SKLEARN_VERSION,
    PipelineSettings,
    TrainingPipeline,
    feature_source_problems,
)
from ml_platform.jobs.training_pipeline import features as features_script
from ml_platform.jobs.training_pipeline import prepare as prepare_script
from tests.iam_eval import BUCKETS, Resolver, obj, permitted

ENV = {"account": "111111111111", "region": "eu-west-1"}
FEATURES = {
    "sources": [
        {"dataset": "accounts", "columns": ["customer_id", "age", "segment", "tenure_months", "churned"]},
        {"dataset": "sales", "columns": ["customer_id", "amount"], "aggregate": {"amount": "sum"}},
    ],
    "join_on": "customer_id",
    "label": "churned",
    "features": [{"column": "age", "impute": "median"}, {"column": "amount", "impute": "constant", "value": 0},
                 {"column": "segment", "impute": "mode", "encode": "ordinal",
                  "categories": ["basic", "standard", "premium"]}],
    "window_days": 90,
    "rebalance": {"sampling_strategy": 0.5},
}
WITHOUT_REBALANCE = {k: v for k, v in FEATURES.items() if k != "rebalance"}


def datasets() -> dict[str, LakeDataset]:
    """What the data catalog writes: two Glue outputs with columns, a DataBrew output without."""
    return {
        "accounts": LakeDataset(Zone.PROCESSED, "accounts/", "parquet", DAILY,
                                ("customer_id", "age", "segment", "tenure_months", "churned"), "Glue job accounts"),
        "sales": LakeDataset(Zone.PROCESSED, "sales/", "parquet", DAILY,
                             ("order_id", "customer_id", "amount"), "Glue job sales"),
        "customers": LakeDataset(Zone.PROCESSED, "customers/", "parquet", DAILY, producer="DataBrew customers"),
    }


class Built:
    def __init__(self, features=FEATURES, sources=None, reads_feedback=True, **settings):
        self.app = App()
        stack = self.stack = Stack(self.app, "Training", env=ENV)
        self.lake = DataLake(stack, "Lake")
        network = MlNetwork(stack, "Net", settings=NetworkSettings(az_count=2, interface_endpoints=[]))
        self.roles = SageMakerRoles(stack, "Roles", lake=self.lake, network=network,
                                    settings={a: RoleSettings() for a in ("processing", "training", "pipeline")})
        registry = ModelRegistry(stack, "Registry", models=["churn"], name_prefix="t-dev")
        self.settings = PipelineSettings(model="churn", features=features, **settings)
        self.pipeline = TrainingPipeline(stack, "Pipeline", settings=self.settings, lake=self.lake, roles=self.roles,
                                         network=network, registry=registry, name_prefix="t-dev",
                                         sources=datasets() if sources is None else sources,
                                         reads_feedback=reads_feedback)
        self.resources = Template.from_stack(stack).to_json()["Resources"]
        self.resolve = Resolver(stack, self.lake, ENV)
        [resource] = [r for r in self.resources.values() if r["Type"] == "AWS::SageMaker::Pipeline"]
        self.resource = resource
        body = self.resolve(resource["Properties"]["PipelineDefinition"]["PipelineDefinitionBody"])
        self.definition = json.loads(body)  # what SageMaker reads
        self.steps = {s["Name"]: s for s in self.definition["Steps"]}

    def policy(self, activity: str) -> dict:
        role = self.roles.roles[activity]
        return self.resolve(self.resources[self.stack.resolve(role.policy.node.default_child.logical_id)]
                            ["Properties"]["PolicyDocument"])

    def inputs(self, step: str) -> dict[str, dict]:
        return {i["InputName"]: i["S3Input"] for i in self.steps[step]["Arguments"]["ProcessingInputs"]}

    def asset_url(self, asset) -> str:
        return self.resolve(self.stack.resolve(asset.s3_object_url))


@pytest.fixture(scope="module")
def built() -> Built:
    return Built()


@pytest.fixture(scope="module")
def plain() -> Built:
    return Built(features=WITHOUT_REBALANCE)


# --- the definition --------------------------------------------------------------------------------


def test_steps_features_prepare_train_evaluate_check(built):
    assert [(s["Name"], s["Type"]) for s in built.definition["Steps"]] == [
        ("Features", "Processing"), ("Prepare", "Processing"), ("Train", "Training"), ("Evaluate", "Processing"),
        ("Baselines", "Processing"), ("CheckMetric", "Condition")]
    assert [p["Name"] for p in built.definition["Parameters"]] == ["ModelApprovalStatus"]
    assert built.resource["Properties"]["PipelineDescription"] == "Build features, prepare, train, evaluate and register churn"


def test_tuning_replaces_train_after_the_feature_step():
    tuned = Built(tuning={"ranges": {"eta": {"min": 0.1, "max": 0.5}}})
    assert [s["Name"] for s in tuned.definition["Steps"]] == ["Features", "Prepare", "Tune", "Evaluate", "Baselines",
                                                                  "CheckMetric"]


def test_input_data_parameter_only_with_input():
    built = Built(features=None, reads_feedback=False, input={"zone": "curated", "prefix": "churn/ready/"})
    assert [s["Name"] for s in built.definition["Steps"]][0] == "Prepare"
    assert built.definition["Parameters"][0] == {"Name": "InputData", "Type": "String",
                                                 "DefaultValue": "s3://fake-curated/churn/ready/"}
    assert built.inputs("Prepare")["data"]["S3Uri"] == {"Get": "Parameters.InputData"}
    assert built.pipeline.feature_spec is None and built.pipeline.libraries is None and built.pipeline.sources == {}
    assert set(built.pipeline.scripts) == {"prepare", "evaluate", "baselines"}
    assert built.resource["Properties"]["PipelineDescription"] == "Prepare, train, evaluate and register churn"


def test_features_reads_one_input_per_source_and_the_spec(built):
    inputs = built.inputs("Features")
    assert list(inputs) == ["code", "source-accounts", "source-sales", "spec"]
    for name in ("accounts", "sales"):
        assert inputs[f"source-{name}"] == {
            "S3Uri": f"s3://fake-processed/{name}/", "LocalPath": f"/opt/ml/processing/input/{name}",
            "S3DataType": "S3Prefix", "S3InputMode": "File", "S3DataDistributionType": "FullyReplicated",
            "S3CompressionType": "None"}
        assert inputs[f"source-{name}"]["S3Uri"] == f"s3://fake-processed/{built.pipeline.sources[name].prefix}"
    spec = built.pipeline.feature_spec
    assert inputs["spec"]["S3Uri"] == built.asset_url(spec) and inputs["spec"]["LocalPath"] == "/opt/ml/processing/spec"
    assert built.pipeline.sources == {n: datasets()[n] for n in ("accounts", "sales")}  # not customers


def test_features_arguments_are_what_the_script_parses(built):
    app = built.steps["Features"]["Arguments"]["AppSpecification"]
    key = built.pipeline.feature_spec.s3_object_key
    assert app["ContainerArguments"] == ["--spec", f"/opt/ml/processing/spec/{key}",
                                         "--feedback-uri", "s3://fake-curated/churn/feedback/"]
    args = features_script.parse_args(app["ContainerArguments"])
    assert args.spec == Path("/opt/ml/processing/spec") / key
    assert args.feedback_uri == built.resolve(built.stack.resolve(built.pipeline.feedback.uri(built.lake)))
    # the script's default input and output folders are where the inputs and the output are
    inputs = built.inputs("Features")
    assert {inputs[f"source-{n}"]["LocalPath"] for n in ("accounts", "sales")} == {
        str(args.input / n) for n in ("accounts", "sales")}
    [output] = built.steps["Features"]["Arguments"]["ProcessingOutputConfig"]["Outputs"]
    assert output["S3Output"]["LocalPath"] == str(args.output) == "/opt/ml/processing/features"
    code = built.pipeline.scripts["features"]
    assert app["ContainerEntrypoint"] == ["python3", f"/opt/ml/processing/code/{code.s3_object_key}"]
    assert built.inputs("Features")["code"]["S3Uri"] == built.asset_url(code)


def test_the_spec_asset_is_the_settings_spec(built):
    spec = built.pipeline.feature_spec
    staged = Path(built.app.outdir) / spec.asset_path
    assert json.loads(staged.read_text()) == built.settings.features.spec()
    assert features_script.FeatureSpec.load(staged).sources[1].aggregate == {"amount": "sum"}


def test_features_output_goes_under_the_curated_features_prefix_per_execution(built):
    [output] = built.steps["Features"]["Arguments"]["ProcessingOutputConfig"]["Outputs"]
    assert output["OutputName"] == "features"
    assert output["S3Output"] == {
        "S3Uri": {"Std:Join": {"On": "", "Values": ["s3://fake-curated/churn/features/",
                                                   {"Get": "Execution.PipelineExecutionId"}, "/"]}},
        "LocalPath": "/opt/ml/processing/features", "S3UploadMode": "EndOfJob"}


def test_prepare_reads_the_feature_output_by_step_property(built):
    assert built.inputs("Prepare")["data"] == {
        "S3Uri": {"Get": "Steps.Features.ProcessingOutputConfig.Outputs['features'].S3Output.S3Uri"},
        "LocalPath": "/opt/ml/processing/input", "S3DataType": "S3Prefix", "S3InputMode": "File",
        "S3DataDistributionType": "FullyReplicated", "S3CompressionType": "None"}
    assert str(prepare_script.INPUT) == "/opt/ml/processing/input"


def test_rebalance_gives_prepare_the_libraries_and_its_argument(built, monkeypatch):
    inputs = built.inputs("Prepare")
    assert list(inputs) == ["code", "data", "libraries"]
    assert inputs["libraries"]["S3Uri"] == built.asset_url(built.pipeline.libraries)
    assert inputs["libraries"]["LocalPath"] == "/opt/ml/processing/libs"
    arguments = built.steps["Prepare"]["Arguments"]["AppSpecification"]["ContainerArguments"]
    assert arguments == ["--rebalance", '{"k_neighbors": 5, "method": "smote", "sampling_strategy": 0.5}',
                         "--libs", "/opt/ml/processing/libs"]
    monkeypatch.setattr(prepare_script, "main", lambda *a: a)
    input_dir, output_dir, rebalance, libs = prepare_script.cli(arguments)
    assert (input_dir, output_dir, libs) == (prepare_script.INPUT, prepare_script.OUTPUT, Path(inputs["libraries"]["LocalPath"]))
    assert prepare_script.parse_rebalance(rebalance) == {"method": "smote", "sampling_strategy": 0.5,
                                                         "k_neighbors": 5, "random_state": 42}


def test_without_rebalance_prepare_gets_neither(plain):
    assert list(plain.inputs("Prepare")) == ["code", "data"]
    assert "ContainerArguments" not in plain.steps["Prepare"]["Arguments"]["AppSpecification"]
    assert plain.pipeline.libraries is None
    assert not [k for k in plain.resources if "RebalanceLibraries" in k]


def test_processing_steps_run_the_sklearn_image(built):
    image = builtin_image("sklearn", ENV["region"], SKLEARN_VERSION)
    assert SKLEARN_VERSION == "1.4-2" and image.endswith(".amazonaws.com/sagemaker-scikit-learn:1.4-2-cpu-py3")
    for step in ("Features", "Prepare"):
        assert built.steps[step]["Arguments"]["AppSpecification"]["ImageUri"] == image
        assert built.steps[step]["Arguments"]["RoleArn"] == built.resolve(
            built.stack.resolve(built.roles.roles["processing"].role_arn))


def test_hand_offs_it_exposes(built):
    pipeline = built.pipeline
    producer = "training pipeline t-dev-churn"
    assert pipeline.model_artifacts == LakeDataset(Zone.ARTIFACTS, "churn/pipeline/models/", "model", producer=producer)
    assert pipeline.features_output == LakeDataset(Zone.CURATED, "churn/features/", "training-csv", producer=producer)
    assert pipeline.feedback == LakeDataset(Zone.CURATED, "churn/feedback/", "training-csv", DAILY,
                                            producer="feedback loop of churn")
    # what it registers is under model_artifacts: Train writes there
    output = built.steps["Train"]["Arguments"]["OutputDataConfig"]["S3OutputPath"]
    assert output + "/" == f"s3://fake-artifacts/{pipeline.model_artifacts.prefix}"


# --- grants ------------------------------------------------------------------------------------------


def test_processing_role_reads_the_sources_and_feedback_and_writes_the_features(built):
    policy = built.policy("processing")
    day = "year=2026/month=03/day=01/"
    for name in ("accounts", "sales"):
        assert permitted(policy, "s3:GetObject", obj(Zone.PROCESSED, f"{name}/{day}part-0.parquet"))
        assert permitted(policy, "s3:ListBucket", "arn:aws:s3:::fake-processed", {"s3:prefix": f"{name}/{day}"})
        assert not permitted(policy, "s3:PutObject", obj(Zone.PROCESSED, f"{name}/{day}part-0.parquet"))
    assert not permitted(policy, "s3:GetObject", obj(Zone.PROCESSED, f"customers/{day}part-0.parquet"))
    assert not permitted(policy, "s3:ListBucket", "arn:aws:s3:::fake-processed", {"s3:prefix": "customers/"})
    assert permitted(policy, "s3:GetObject", obj(Zone.CURATED, f"churn/feedback/{day}labels.csv"))
    assert permitted(policy, "s3:ListBucket", "arn:aws:s3:::fake-curated", {"s3:prefix": "churn/feedback/"})
    assert not permitted(policy, "s3:PutObject", obj(Zone.CURATED, f"churn/feedback/{day}labels.csv"))
    assert permitted(policy, "s3:PutObject", obj(Zone.CURATED, "churn/features/exec-1/data.csv"))
    assert permitted(policy, "s3:GetObject", obj(Zone.CURATED, "churn/features/exec-1/data.csv"))  # Prepare
    assert not permitted(policy, "s3:PutObject", obj(Zone.CURATED, "churn/other/data.csv"))


def test_processing_role_reads_exactly_its_assets(built):
    policy = built.policy("processing")
    for asset in (built.pipeline.feature_spec, built.pipeline.libraries, *built.pipeline.scripts.values()):
        bucket_and_key = built.asset_url(asset).removeprefix("s3://")
        assert permitted(policy, "s3:GetObject", f"arn:aws:s3:::{bucket_and_key}")
    bucket = built.asset_url(built.pipeline.feature_spec).removeprefix("s3://").split("/")[0]
    assert not permitted(policy, "s3:GetObject", f"arn:aws:s3:::{bucket}/another-asset.zip")


def test_without_features_the_processing_role_reads_no_feedback():
    built = Built(features=None, reads_feedback=False, input={"zone": "curated", "prefix": "churn/ready/"})
    policy = built.policy("processing")
    assert permitted(policy, "s3:GetObject", obj(Zone.CURATED, "churn/ready/data.csv"))
    assert not permitted(policy, "s3:GetObject", obj(Zone.CURATED, "churn/feedback/x.csv"))
    assert not permitted(policy, "s3:PutObject", obj(Zone.CURATED, "churn/features/x/data.csv"))


# --- errors ------------------------------------------------------------------------------------------


def test_a_source_that_is_not_a_dataset_of_the_platform():
    sources = {k: v for k, v in datasets().items() if k != "sales"}
    with pytest.raises(ValueError) as caught:
        Built(sources=sources)
    assert str(caught.value) == ("TrainingPipeline Training/Pipeline: features source 'sales' is not a dataset of "
                                 "the platform (accounts, customers)")


def test_without_any_sources():
    with pytest.raises(ValueError, match=r"features source 'accounts' is not a dataset of the platform \(none\); "
                                         r"features source 'sales' is not a dataset of the platform \(none\)$"):
        Built(sources={})


def test_a_column_the_source_lacks():
    sources = datasets()
    sources["accounts"] = LakeDataset(Zone.PROCESSED, "accounts/", "parquet", DAILY,
                                      ("customer_id", "age", "churned"), "Glue job accounts")
    with pytest.raises(ValueError) as caught:
        Built(sources=sources)
    assert str(caught.value) == (
        "TrainingPipeline Training/Pipeline: features source 'accounts' has no column 'segment' "
        "(customer_id, age, churned); features source 'accounts' has no column 'tenure_months' "
        "(customer_id, age, churned)")


def test_partition_keys_and_unknown_schemas_are_accepted():
    features = FeatureSettings.model_validate({
        "sources": [{"dataset": "accounts", "columns": ["customer_id", "churned", "age", "year"]},
                    {"dataset": "customers", "columns": ["customer_id", "anything"], "aggregate": {"anything": "max"}}],
        "join_on": "customer_id", "label": "churned", "features": [{"column": "age"}]})
    assert feature_source_problems(features, datasets()) == []
    assert feature_source_problems(None, {}) == []


def test_without_a_feedback_loop_the_features_step_reads_no_feedback():
    built = Built(reads_feedback=False)
    assert built.pipeline.feedback is None
    arguments = built.steps["Features"]["Arguments"]["AppSpecification"]["ContainerArguments"]
    assert arguments == ["--spec", f"/opt/ml/processing/spec/{built.pipeline.feature_spec.s3_object_key}"]
    assert features_script.parse_args(arguments).feedback_uri is None
    policy = built.policy("processing")
    assert not permitted(policy, "s3:GetObject", obj(Zone.CURATED, "churn/feedback/year=2026/month=03/day=01/x.csv"))
    assert permitted(policy, "s3:PutObject", obj(Zone.CURATED, "churn/features/exec-1/data.csv"))


def test_reading_feedback_needs_declared_categories():
    """Feedback rows keep the codes they were served with; a run's own sorted categories may differ."""
    undeclared = {**FEATURES, "features": [*FEATURES["features"][:2], {"column": "segment", "encode": "ordinal"}]}
    with pytest.raises(ValueError, match="reads_feedback needs declared categories on the encoded features segment"):
        Built(features=undeclared)
    Built(features=undeclared, reads_feedback=False)  # without feedback, each run's own codes are consistent


def test_reading_feedback_needs_features():
    with pytest.raises(ValueError) as caught:
        Built(features=None, input={"zone": "curated", "prefix": "churn/ready/"})
    assert str(caught.value) == ("TrainingPipeline Training/Pipeline: reads_feedback needs features (feedback rows "
                                 "join the training set the Features step builds)")


@pytest.mark.parametrize("settings", [
    {"features": FEATURES, "input": {"zone": "curated", "prefix": "churn/ready/"}}, {}])
def test_settings_need_exactly_one_of_features_and_input(settings):
    with pytest.raises(ValueError, match="give exactly one of features \\(a training set built from lake "
                                              "datasets\\) and input \\(ready CSV written from outside the platform\\)"):
        PipelineSettings(model="churn", **settings)


# --- assets ------------------------------------------------------------------------------------------


def test_python_bundle_stages_the_packages_without_compiled_files_or_tests(built):
    libraries = built.pipeline.libraries
    staged = Path(built.app.outdir) / libraries.asset_path
    assert sorted(p.name for p in staged.iterdir()) == sorted(REBALANCE_PACKAGES) == ["imblearn", "sklearn_compat"]
    found = list(staged.rglob("*"))
    assert not [p for p in found if p.name == "__pycache__" or p.suffix == ".pyc" or p.name == "tests"]
    assert (staged / "imblearn" / "over_sampling" / "__init__.py").is_file()
    installed = package_directory("imblearn")
    assert (staged / "imblearn" / "__init__.py").read_bytes() == (installed / "__init__.py").read_bytes()
    assert libraries.s3_object_key.endswith(".zip")


def test_python_bundle_hash_is_stable_across_synths(built, plain):
    again = Built()
    assert again.pipeline.libraries.s3_object_key == built.pipeline.libraries.s3_object_key
    assert again.pipeline.libraries.asset_hash == built.pipeline.libraries.asset_hash
    assert again.pipeline.feature_spec.s3_object_key == built.pipeline.feature_spec.s3_object_key
    # rebalancing is not in the spec; a different window is a different object
    assert plain.pipeline.feature_spec.s3_object_key == built.pipeline.feature_spec.s3_object_key
    other = Built(features={**FEATURES, "window_days": 30})
    assert other.pipeline.feature_spec.s3_object_key != built.pipeline.feature_spec.s3_object_key


def test_the_zipped_bundle_gives_prepare_its_smote(built, tmp_path):
    """The asset as SageMaker copies it to /opt/ml/processing/libs (a zip), extracted by prepare.py."""
    staged = Path(built.app.outdir) / built.pipeline.libraries.asset_path
    libs = tmp_path / "libs"
    libs.mkdir()
    with zipfile.ZipFile(libs / built.pipeline.libraries.s3_object_key, "w") as bundle:
        for path in sorted(staged.rglob("*")):
            if path.is_file():
                bundle.write(path, path.relative_to(staged).as_posix())
    code = ("import sys; from pathlib import Path; from ml_platform.jobs.training_pipeline import prepare; "
            f"smote = prepare.load_smote(Path({str(libs)!r})); import imblearn; print(imblearn.__file__); "
            "print(smote.__name__)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=Path(__file__).resolve().parents[2])
    location, name = result.stdout.split()
    assert name == "SMOTE" and "prepare-libs-" in location and "site-packages" not in location


@pytest.mark.parametrize(("package", "why"), [("no_such_package_xyz", "not installed"), ("fnmatch", "a single module")])
def test_package_directory_refuses_what_is_not_an_installed_package(package, why):
    with pytest.raises(ValueError) as caught:
        package_directory(package)
    assert str(caught.value) == (f"python_bundle: package {package!r} is not installed as a regular package; "
                                 "install 'sagemaker-ml-platform-cdk[rebalance]'")


def test_python_bundle_of_a_missing_package_fails_at_synth():
    stack = Stack(App(), "S", env=ENV)
    role = iam.Role(stack, "Reader", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    with pytest.raises(ValueError, match="package 'no_such_package_xyz' is not installed"):
        python_bundle(stack, "Libs", ("imblearn", "no_such_package_xyz"), reader=role)


def test_json_asset_same_document_same_key_and_the_reader_gets_exactly_that_object():
    stack = Stack(App(), "S", env=ENV)
    readers = [iam.Role(stack, f"Reader{i}", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
               for i in range(2)]
    first = json_asset(stack, "First", {"b": 1, "a": [1, 2]}, reader=readers[0])
    same = json_asset(stack, "Same", {"a": [1, 2], "b": 1}, reader=readers[0])  # key order does not matter
    other = json_asset(stack, "Other", {"a": [2, 1], "b": 1}, reader=readers[1])
    assert first.s3_object_key == same.s3_object_key != other.s3_object_key
    assert first.s3_object_key.endswith(".json")
    assert json.loads((Path(stack.node.root.outdir) / first.asset_path).read_text()) == {"a": [1, 2], "b": 1}
    resources = Template.from_stack(stack).to_json()["Resources"]
    resolve = Resolver(stack, None, ENV)
    policies = [resolve(resources[stack.resolve(r.node.find_child("DefaultPolicy").node.default_child.logical_id)]
                        ["Properties"]["PolicyDocument"]) for r in readers]
    bucket = f"arn:aws:s3:::cdk-hnb659fds-assets-{ENV['account']}-{ENV['region']}"
    assert permitted(policies[0], "s3:GetObject", f"{bucket}/{first.s3_object_key}")
    assert not permitted(policies[0], "s3:GetObject", f"{bucket}/{other.s3_object_key}")
    assert permitted(policies[1], "s3:GetObject", f"{bucket}/{other.s3_object_key}")
    assert not permitted(policies[1], "s3:GetObject", f"{bucket}/{first.s3_object_key}")
    assert not permitted(policies[0], "s3:PutObject", f"{bucket}/{first.s3_object_key}")
    assert {json.dumps(s["Action"]) for p in policies for s in p["Statement"]} == {'"s3:GetObject"'}
