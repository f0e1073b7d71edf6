"""The lifecycle's seams across stacks, in the synthesized platform app.

Each test takes what one stack writes (a Glue job's target, the pipeline's training output, an
endpoint's capture destination, the feedback loop's environment) and what another stack reads or
grants (the Features inputs, the inference role's policy, the monitors' ground truth input, the
pipeline's ``--feedback-uri``), resolves both to plain strings the same way and compares them, or
evaluates the reader's policy with moto's IAM evaluator. Also the configuration's cross-section
rules that keep these seams whole.
"""

from __future__ import annotations

import json

import pytest

from ml_platform.constructs.training.promotion import approved_package_parameter
from ml_platform.config import EnvironmentConfig, load_environment, load_environments
from ml_platform.jobs.training_pipeline import features as features_script
from tests.conftest import CONFIG_DIR, stack_templates, synth_platform
from tests.unit.test_config import MINIMAL, problems_of, write
from tests.iam_eval import permitted

#: An hour and a day of the lake layouts, for object keys below a prefix.
HOUR, DAY = "2026/03/01/10/", "year=2026/month=03/day=01/"


class Env:
    """One environment's templates with intrinsic functions resolved to fixed strings.

    Buckets become ``<stack>-<logical id>`` (lower case), roles ``arn:aws:iam::<account>:role/<stack>/<id>``,
    other references ``ref:<stack>:<id>``; a cross-stack reference (``Fn::GetStackOutput`` or
    ``Fn::ImportValue``) resolves to what the producing stack's output resolves to, so that both
    sides of a seam are comparable strings.
    """

    def __init__(self, config: EnvironmentConfig, stacks: dict[str, dict]):
        self.config, self.stacks = config, stacks
        self.pseudo = {"AWS::Partition": "aws", "AWS::Region": config.region, "AWS::AccountId": config.account,
                       "AWS::URLSuffix": "amazonaws.com"}
        self.exports = {output["Export"]["Name"]: (name, output["Value"])
                        for name, template in stacks.items() for output in template.get("Outputs", {}).values()
                        if isinstance(output.get("Export", {}).get("Name"), str)}

    def name(self, stack: str) -> str:
        return self.config.stack_name(stack)

    def resources(self, stack: str, kind: str) -> dict[str, dict]:
        return {k: r for k, r in self.stacks[self.name(stack)]["Resources"].items() if r["Type"] == kind}

    def resolve(self, stack: str, value):
        """``value`` of stack ``stack`` (its full name) with every intrinsic function resolved."""
        if isinstance(value, list):
            return [self.resolve(stack, v) for v in value]
        if not isinstance(value, dict):
            return value
        [(function, argument)] = value.items() if len(value) == 1 else [(None, None)]
        resources = self.stacks[stack]["Resources"]
        if function == "Ref":
            if argument in self.pseudo:
                return self.pseudo[argument]
            kind = resources[argument]["Type"]
            return f"{stack}-{argument}".lower() if kind == "AWS::S3::Bucket" else f"ref:{stack}:{argument}"
        if function == "Fn::GetAtt":
            logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
            kind = resources[logical_id]["Type"]
            if attribute == "Arn" and kind == "AWS::S3::Bucket":
                return f"arn:aws:s3:::{stack}-{logical_id}".lower()
            if attribute == "Arn" and kind == "AWS::IAM::Role":
                return f"arn:aws:iam::{self.config.account}:role/{stack}/{logical_id}"
            return f"{attribute}:{stack}:{logical_id}"
        if function == "Fn::GetStackOutput":
            producer = argument["StackName"]
            return self.resolve(producer, self.stacks[producer]["Outputs"][argument["OutputName"]]["Value"])
        if function == "Fn::ImportValue":
            producer, exported = self.exports[self.resolve(stack, argument)]
            return self.resolve(producer, exported)
        if function == "Fn::Join":
            separator, parts = argument
            return separator.join(self.resolve(stack, parts))
        if function == "Fn::Sub":
            text = argument
            for name, replacement in self.pseudo.items():
                text = text.replace("${" + name + "}", replacement)
            return text
        if function == "Fn::Select":
            index, items = argument
            return self.resolve(stack, items)[index]
        if function == "Fn::Split":
            separator, text = argument
            return self.resolve(stack, text).split(separator)
        return {k: self.resolve(stack, v) for k, v in value.items()}

    def policy(self, role_arn: str) -> dict:
        """Every identity policy statement of the role ``role_arn`` (as :meth:`resolve` names roles),
        from whichever stack attaches it."""
        stack, logical_id = role_arn.split(":role/", 1)[1].split("/")
        role = f"ref:{stack}:{logical_id}"
        statements = []
        for name, template in self.stacks.items():
            for resource in template["Resources"].values():
                if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy") and role in self.resolve(
                        name, resource["Properties"].get("Roles", [])):
                    statements += self.resolve(name, resource["Properties"]["PolicyDocument"]["Statement"])
        for inline in self.stacks[stack]["Resources"][logical_id]["Properties"].get("Policies", []):
            statements += self.resolve(stack, inline["PolicyDocument"]["Statement"])
        assert statements, f"no policy of {role_arn}"
        return {"Version": "2012-10-17", "Statement": statements}

    def definition(self, model: str = "churn") -> dict:
        """The training pipeline's definition as SageMaker reads it."""
        [pipeline] = [r for r in self.resources("Training", "AWS::SageMaker::Pipeline").values()
                      if r["Properties"]["PipelineName"] == f"{self.config.prefix}-{self.config.name}-{model}"]
        body = self.resolve(self.name("Training"), pipeline["Properties"]["PipelineDefinition"]["PipelineDefinitionBody"])
        return json.loads(body)

    def steps(self, model: str = "churn") -> dict[str, dict]:
        found = {s["Name"]: s for s in self.definition(model)["Steps"]}
        for nested in found["CheckMetric"]["Arguments"]["IfSteps"]:
            found[nested["Name"]] = nested
        return found

    def feedback_loop(self) -> tuple[dict[str, str], str]:
        """The FeedbackLoop function's environment and role ARN."""
        [function] = [r for r in self.resources("Monitoring", "AWS::Lambda::Function").values()
                      if "GROUND_TRUTH_PREFIX" in r["Properties"].get("Environment", {}).get("Variables", {})]
        stack = self.name("Monitoring")
        return (self.resolve(stack, function["Properties"]["Environment"]["Variables"]),
                self.resolve(stack, function["Properties"]["Role"]))


def arn(uri: str) -> str:
    """``s3://bucket/key`` as the object's ARN."""
    assert uri.startswith("s3://"), uri
    return f"arn:aws:s3:::{uri.removeprefix('s3://')}"


def training_output(steps: dict[str, dict]) -> str:
    job = steps["Train"]["Arguments"] if "Train" in steps else steps["Tune"]["Arguments"]["TrainingJobDefinition"]
    return job["OutputDataConfig"]["S3OutputPath"]


def feature_inputs(steps: dict[str, dict]) -> dict[str, str]:
    return {i["InputName"].removeprefix("source-"): i["S3Input"]["S3Uri"]
            for i in steps["Features"]["Arguments"]["ProcessingInputs"] if i["InputName"].startswith("source-")}


def catalog_writes(env: Env) -> dict[str, str]:
    """What the data catalog's Glue jobs and DataBrew recipe jobs write, by dataset folder."""
    stack = env.name("DataCatalog")
    uris = [env.resolve(stack, job["Properties"]["DefaultArguments"]["--target_path"])
            for job in env.resources("DataCatalog", "AWS::Glue::Job").values()]
    uris += [f"s3://{env.resolve(stack, o['Location']['Bucket'])}/{o['Location']['Key']}"
             for job in env.resources("DataCatalog", "AWS::DataBrew::Job").values() if job["Properties"]["Type"] == "RECIPE"
             for o in job["Properties"]["Outputs"]]
    return {uri.rstrip("/").rsplit("/", 1)[1]: uri for uri in uris}


@pytest.fixture(scope="module")
def configs() -> dict[str, EnvironmentConfig]:
    return load_environments(CONFIG_DIR)


@pytest.fixture(scope="module")
def envs(configs, templates) -> dict[str, Env]:
    assert sorted(templates) == sorted(configs) == sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
    return {name: Env(configs[name], templates[name]) for name in configs}


@pytest.fixture(scope="module")
def brewed(tmp_path_factory) -> Env:
    """dev, with the churn features also reading the DataBrew dataset ``customers``."""
    config_dir = tmp_path_factory.mktemp("config")
    text = (CONFIG_DIR / "dev.yaml").read_text()
    sales = "          - {dataset: sales, columns: [customer_id, amount], aggregate: {amount: sum}}\n"
    assert sales in text
    text = text.replace(sales, sales + "          - {dataset: customers, columns: [customer_id, visits], "
                                       "aggregate: {visits: max}}\n")
    (config_dir / "dev.yaml").write_text(text)
    assembly = synth_platform(tmp_path_factory.mktemp("cdk.out"), config_dir)
    [(env, stacks)] = stack_templates(assembly).items()
    return Env(load_environment(config_dir / "dev.yaml"),
               {name: json.loads(path.read_text()) for name, path in stacks.items()})


ENVS = ("dev", "staging", "prod")


# --- (a) served = registered ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ENVS)
def test_the_inference_role_reads_what_the_pipeline_trains(envs, name):
    env = envs[name]
    served = [e for e in (*env.config.serving.endpoints.values(), *env.config.serving.batch.values())
              if e.version is not None]
    assert served, f"{name} serves no registry version"
    steps = env.steps()
    output = training_output(steps)
    group = steps["Register"]["Arguments"]["ModelPackageGroupName"]
    models = [m for m in env.resources("Serving", "AWS::SageMaker::Model").values()
              if "ModelPackageName" in m["Properties"]["Containers"][0]]
    assert len(models) == len(served)
    serving = env.name("Serving")
    for model in models:
        name_value = model["Properties"]["Containers"][0]["ModelPackageName"]
        if isinstance(name_value, dict) and "Ref" in name_value:  # version: approved
            parameter = env.stacks[serving]["Parameters"][name_value["Ref"]]
            assert parameter["Type"] == "AWS::SSM::Parameter::Value<String>"
            # the parameter the promotion of the group the pipeline registers into writes
            [rule] = [r for r in env.resources("Training", "AWS::Events::Rule").values()
                      if r["Properties"]["EventPattern"].get("detail", {}).get("ModelApprovalStatus") == ["Approved"]
                      and "ModelPackageGroupName" in r["Properties"]["EventPattern"]["detail"]
                      and "Promotion" in json.dumps(r["Properties"]["Targets"])]
            assert env.resolve(env.name("Training"), rule["Properties"]["EventPattern"]["detail"]["ModelPackageGroupName"]) == [group]
            assert parameter["Default"] == approved_package_parameter(env.config.prefix, name, group.rsplit("-", 1)[1])
        else:
            package = env.resolve(serving, name_value)
            assert package.rsplit("/", 2)[1] == group  # a version of the group the pipeline registers into
        policy = env.policy(env.resolve(serving, model["Properties"]["ExecutionRoleArn"]))
        # SageMaker writes <S3OutputPath>/<training job name>/output/model.tar.gz
        assert permitted(policy, "s3:GetObject", arn(f"{output}/pipelines-a1b2c3-Train-x9/output/model.tar.gz"))
        bucket, prefix = output.removeprefix("s3://").split("/", 1)
        assert permitted(policy, "s3:ListBucket", f"arn:aws:s3:::{bucket}", {"s3:prefix": f"{prefix}/pipelines-a1b2c3/"})
        # ...and nothing else the pipeline writes
        work = output.removesuffix("models")
        assert not permitted(policy, "s3:GetObject", arn(f"{work}runs/exec-1/test/data.csv"))
        assert not permitted(policy, "s3:PutObject", arn(f"{output}/pipelines-a1b2c3-Train-x9/output/model.tar.gz"))


def test_a_tuned_pipeline_registers_the_best_job_under_the_training_output(envs):
    steps = envs["prod"].steps()
    assert "Tune" in steps
    url = steps["Register"]["Arguments"]["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]["Std:Join"]
    assert url["Values"] == [training_output(steps), {"Get": "Steps.Tune.BestTrainingJob.TrainingJobName"},
                             "output/model.tar.gz"]


# --- (b) the Features inputs are what the data catalog writes ------------------------------------------


@pytest.mark.parametrize("name", ENVS)
def test_features_read_exactly_what_the_catalog_writes(envs, name):
    env = envs[name]
    inputs = feature_inputs(env.steps())
    [pipeline] = env.config.training.pipelines
    assert list(inputs) == [s.dataset for s in pipeline.features.sources]
    writes = catalog_writes(env)
    assert {n: writes[n] for n in inputs} == inputs
    processed = {uri.removeprefix("s3://").split("/")[0] for uri in writes.values()}
    assert len(processed) == 1  # every producer writes the processed zone
    step = env.steps()["Features"]["Arguments"]
    policy = env.policy(step["RoleArn"])
    for uri in inputs.values():
        assert permitted(policy, "s3:GetObject", arn(f"{uri}{DAY}part-00000.snappy.parquet"))
        assert not permitted(policy, "s3:PutObject", arn(f"{uri}{DAY}part-00000.snappy.parquet"))
    for dataset in set(writes) - set(inputs):  # a dataset no source names is not readable
        assert not permitted(policy, "s3:GetObject", arn(f"{writes[dataset]}{DAY}part-00000.parquet"))


def test_a_databrew_dataset_feeds_the_features_step(brewed):
    inputs = feature_inputs(brewed.steps())
    assert list(inputs) == ["accounts", "sales", "customers"]
    [brew] = [j for j in brewed.resources("DataCatalog", "AWS::DataBrew::Job").values()
              if j["Properties"]["Type"] == "RECIPE"]
    [output] = brew["Properties"]["Outputs"]
    bucket = brewed.resolve(brewed.name("DataCatalog"), output["Location"]["Bucket"])
    assert inputs["customers"] == f"s3://{bucket}/{output['Location']['Key']}" == catalog_writes(brewed)["customers"]
    assert output["PartitionColumns"] == ["year", "month", "day"]  # the layout the step reads
    policy = brewed.policy(brewed.steps()["Features"]["Arguments"]["RoleArn"])
    assert permitted(policy, "s3:GetObject", arn(f"{inputs['customers']}{DAY}part-0.parquet"))


# --- (c), (d): the feedback loop, the monitors and the pipeline -------------------------------------------


def test_the_monitors_read_the_ground_truth_the_feedback_loop_writes(envs):
    env = envs["prod"]
    variables, function_role = env.feedback_loop()
    ground_truth = f"s3://{variables['BUCKET_GROUND_TRUTH']}/{variables['GROUND_TRUTH_PREFIX']}"
    monitoring = env.name("Monitoring")
    kinds = ("AWS::SageMaker::ModelQualityJobDefinition", "AWS::SageMaker::ModelBiasJobDefinition")
    definitions = [d for kind in kinds for d in env.resources("Monitoring", kind).values()]
    assert len(definitions) == 2
    for definition in definitions:
        props = definition["Properties"]
        job_input = props.get("ModelQualityJobInput") or props["ModelBiasJobInput"]
        assert env.resolve(monitoring, job_input["GroundTruthS3Input"]["S3Uri"]) == ground_truth
        role = env.resolve(monitoring, props["RoleArn"])
        assert permitted(env.policy(role), "s3:GetObject", arn(f"{ground_truth}{HOUR}labels.jsonl"))
    assert permitted(env.policy(function_role), "s3:PutObject", arn(f"{ground_truth}{HOUR}labels.jsonl"))


def test_the_pipeline_reads_the_feedback_the_loop_writes(envs):
    env = envs["prod"]
    variables, function_role = env.feedback_loop()
    feedback = f"s3://{variables['BUCKET_FEEDBACK']}/{variables['FEEDBACK_PREFIX']}"
    features = env.steps()["Features"]["Arguments"]
    arguments = features_script.parse_args(features["AppSpecification"]["ContainerArguments"])
    assert arguments.feedback_uri == feedback
    row = arn(f"{feedback}{DAY}labels-10.csv")
    assert permitted(env.policy(function_role), "s3:PutObject", row)
    assert permitted(env.policy(features["RoleArn"]), "s3:GetObject", row)
    bucket, prefix = feedback.removeprefix("s3://").split("/", 1)
    assert permitted(env.policy(features["RoleArn"]), "s3:ListBucket", f"arn:aws:s3:::{bucket}", {"s3:prefix": prefix})


@pytest.mark.parametrize("name", ["dev", "staging"])
def test_without_a_feedback_loop_the_pipeline_reads_no_feedback(envs, name):
    env = envs[name]
    monitoring = env.config.monitoring
    assert monitoring is None or all(m.feedback is None for m in monitoring.endpoints.values())
    arguments = env.steps()["Features"]["Arguments"]["AppSpecification"]["ContainerArguments"]
    assert features_script.parse_args(arguments).feedback_uri is None


# --- (e) the monitors read the endpoint's capture ---------------------------------------------------------


def test_the_monitors_and_the_feedback_loop_read_the_endpoints_capture(envs):
    env = envs["prod"]
    serving, monitoring = env.name("Serving"), env.name("Monitoring")
    configs = env.resources("Serving", "AWS::SageMaker::EndpointConfig")
    endpoints = {r["Properties"]["EndpointName"]: r for r in env.resources("Serving", "AWS::SageMaker::Endpoint").values()}
    monitored = {k: r for kind in ("DataQuality", "ModelQuality", "ModelBias")
                 for k, r in env.resources("Monitoring", f"AWS::SageMaker::{kind}JobDefinition").items()}
    assert len(monitored) == 3
    for definition in monitored.values():
        props = definition["Properties"]
        [job_input] = [v for k, v in props.items() if k.endswith("JobInput")]
        name = job_input["EndpointInput"]["EndpointName"]
        config_id = endpoints[name]["Properties"]["EndpointConfigName"]["Fn::GetAtt"][0]
        destination = env.resolve(serving, configs[config_id]["Properties"]["DataCaptureConfig"]["DestinationS3Uri"])
        captured = f"{destination}{name}/AllTraffic/{HOUR}12-34-56-789-uuid.jsonl"
        policy = env.policy(env.resolve(monitoring, props["RoleArn"]))
        assert permitted(policy, "s3:GetObject", arn(captured))
        assert not permitted(policy, "s3:GetObject", arn(f"{destination}{name}-other/AllTraffic/{HOUR}x.jsonl"))
        bucket, prefix = destination.removeprefix("s3://").split("/", 1)
        assert permitted(policy, "s3:ListBucket", f"arn:aws:s3:::{bucket}", {"s3:prefix": f"{prefix}{name}/AllTraffic/"})
    variables, function_role = env.feedback_loop()
    [name] = {d["Properties"][[k for k in d["Properties"] if k.endswith("JobInput")][0]]["EndpointInput"]["EndpointName"]
              for d in monitored.values()}
    assert variables["ENDPOINT_NAME"] == name
    config_id = endpoints[name]["Properties"]["EndpointConfigName"]["Fn::GetAtt"][0]
    destination = env.resolve(serving, configs[config_id]["Properties"]["DataCaptureConfig"]["DestinationS3Uri"])
    assert f"s3://{variables['BUCKET_CAPTURE']}/{variables['CAPTURE_PREFIX']}{name}/" == f"{destination}{name}/"
    assert permitted(env.policy(function_role), "s3:GetObject", arn(f"{destination}{name}/AllTraffic/{HOUR}x.jsonl"))


# --- configuration: the cross-section rules of these seams --------------------------------------------------

CATALOG = """\
data_catalog:
  datasets:
    accounts:
      format: csv
      columns: {customer_id: string, age: int, churned: boolean}
  databrew:
    customers:
      format: csv
      recipe:
        - {action: remove_duplicate_rows}
"""
TRAINING = """\
training:
  models: [churn]
  roles: {processing: {}, training: {}, pipeline: {}, inference: {}, monitoring: {}}
  pipelines:
    - model: churn
      features:
        sources:
          - {dataset: accounts, columns: [customer_id, age, churned]}
          - {dataset: customers, columns: [customer_id, visits], aggregate: {visits: max}}
        join_on: customer_id
        label: churned
        features: [{column: age}, {column: visits}]
"""
MONITORING = """\
serving:
  endpoints:
    churn:
      model: churn
      version: 1
      instance_type: ml.m5.large
monitoring:
  endpoints:
    churn:
      reports: {zone: artifacts, prefix: churn/reports/}
      feedback:
        labels: {zone: raw, prefix: churn/labels/}
      data_quality:
        statistics: {zone: artifacts, key: churn/baselines/statistics.json}
        constraints: {zone: artifacts, key: churn/baselines/constraints.json}
"""


def env_text(*parts: str) -> str:
    return MINIMAL.format(env="dev") + "".join(parts)


def test_declared_categories_satisfy_the_feedback_rule(tmp_path):
    text = env_text(CATALOG, TRAINING.replace("{column: visits}]", "{column: visits, encode: ordinal, categories: [a]}]"),
                    MONITORING)
    assert load_environment(write(tmp_path, text)).training.pipelines[0].features.features[1].categories == ("a",)


def test_the_seams_of_a_valid_file_load(tmp_path):
    config = load_environment(write(tmp_path, env_text(CATALOG, TRAINING, MONITORING)))
    assert [s.dataset for s in config.training.pipelines[0].features.sources] == ["accounts", "customers"]
    # a partition key of a Glue dataset is a column; a DataBrew dataset's columns are not known
    text = env_text(CATALOG, TRAINING.replace("[customer_id, age, churned]}", "[customer_id, age, churned, year]}"))
    assert "year" in load_environment(write(tmp_path, text)).training.pipelines[0].features.sources[0].columns


@pytest.mark.parametrize(("parts", "change", "expected"), [
    pytest.param((CATALOG, TRAINING), ("{dataset: customers,", "{dataset: orders,"),
                 ["training.pipelines[0].features.sources[1].dataset: 'orders' is not a dataset of data_catalog "
                  "(datasets or databrew: accounts, customers)"], id="source-not-a-dataset"),
    pytest.param((TRAINING,), ("", ""),
                 ["training.pipelines[0].features.sources[0].dataset: 'accounts' is not a dataset of data_catalog "
                  "(datasets or databrew: none)",
                  "training.pipelines[0].features.sources[1].dataset: 'customers' is not a dataset of data_catalog "
                  "(datasets or databrew: none)"], id="no-data-catalog"),
    pytest.param((CATALOG, TRAINING), ("[customer_id, age, churned]}", "[customer_id, age, segment, churned]}"),
                 ["training.pipelines[0].features.sources[0].columns: 'segment' is not a column of dataset 'accounts' "
                  "(customer_id, age, churned, year, month, day)"], id="glue-column-missing"),
    pytest.param((CATALOG, TRAINING.split("  pipelines:")[0], MONITORING), ("", ""),
                 ["monitoring.endpoints.churn.feedback: labeled rows go to the training pipeline of the served model, "
                  "and model 'churn' has none (training.pipelines)"], id="feedback-without-pipeline"),
    pytest.param((CATALOG, TRAINING, MONITORING), ("{column: visits}]", "{column: visits, encode: ordinal}]"),
                 ["training.pipelines[0].features.features[1].categories: required, because model 'churn' trains on "
                  "monitoring feedback rows, which keep the codes of 'visits' they were served with (got none)"],
                 id="feedback-needs-declared-categories"),
])
def test_cross_section_errors_name_their_key_path(tmp_path, parts, change, expected):
    text = env_text(*parts)
    assert change[0] in text
    if change[0]:
        text = text.replace(*change)
    assert problems_of(write(tmp_path, text)) == expected
