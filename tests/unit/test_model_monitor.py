"""ModelMonitor: job definitions, schedules, baseline check, images, alarms and events; its settings' rules."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from aws_cdk import App, Stack
from aws_cdk.assertions import Template


from ml_platform.constructs.lake.data_lake import DataLake, Zone
from ml_platform.constructs.lake.lake_locations import LakeDataset
from ml_platform.constructs.preparation.glue_security import allow_cloudwatch_logs
from ml_platform.constructs.training.ml_network import MlNetwork, NetworkSettings
from ml_platform.constructs.monitoring.model_monitor import ModelMonitor, monitor_image
from ml_platform.constructs.monitoring.monitor_settings import (
    DEFAULT_LOOKBACK_DAYS,
    DEFAULT_RETRAIN_COOLDOWN_HOURS,
    FeedbackSettings,
    MonitorSettings,
    interval_hours,
    monitoring_cron,
)
from ml_platform.constructs.core.alerting import AlertPath, AlertRoutes
from ml_platform.constructs.training.sagemaker_roles import RoleSettings, SageMakerRoles
from tests.conftest import assert_gates_pass, synth_gated

ENV = {"account": "111111111111", "region": "eu-west-1"}
B = "churn/monitoring/baselines/"
GROUND_TRUTH = {"zone": "curated", "prefix": "churn/ground-truth/"}
DATA_QUALITY = {"statistics": {"zone": "artifacts", "key": B + "statistics.json"},
                "constraints": {"zone": "artifacts", "key": B + "constraints.json"}}
MINIMAL = {"reports": {"zone": "artifacts", "prefix": "churn/reports/"}, "data_quality": DATA_QUALITY}
MODEL_QUALITY = {"schedule": "every 6 hours", "problem_type": "BinaryClassification", "inference_attribute": "0",
                 "probability_attribute": "0", "probability_threshold": 0.6, "ground_truth": GROUND_TRUTH,
                 "constraints": {"zone": "artifacts", "key": B + "quality.json"}, "metric_alarms": {"auc": {"below": 0.75}}}
BIAS = {"ground_truth": GROUND_TRUTH, "headers": ["age", "amount", "churned"], "label": "churned",
        "positive_label_values": [1], "facets": [{"column": "age", "values": [65]}, {"column": "amount"}],
        "constraints": {"zone": "artifacts", "key": B + "bias.json"}, "probability_threshold": 0.7}
EVERY = {**MINIMAL, "retrain_on_violations": True,
         "data_quality": {**DATA_QUALITY, "schedule": "hourly", "drift_alarms": {"amount": 0.2}},
         "model_quality": MODEL_QUALITY, "bias": BIAS}


def build(scope, settings, *, endpoint_name="t-churn", pipeline_name="t-churn", env=ENV, ground_truth=None,
          capture=None):
    lake = DataLake(Stack(scope, "Lake", env=env), "Lake")
    stack = Stack(scope, "Monitoring", env=env)
    network = MlNetwork(stack, "Net", settings=NetworkSettings(az_count=2, interface_endpoints=["sagemaker_api"]))
    roles = SageMakerRoles(stack, "Roles", lake=lake, settings={"monitoring": RoleSettings()}, network=network)
    from aws_cdk import aws_kms as kms
    key = kms.Key(stack, "Key", enable_key_rotation=True)
    allow_cloudwatch_logs(key)
    path = AlertPath(stack, "AlertPath")
    alerts = AlertRoutes(stack, "Alerts", topic=path.topic, key=path.key)
    capture = capture or LakeDataset(Zone.RAW, f"data-capture/{endpoint_name}/", "capture")
    monitor = ModelMonitor(stack, "Churn", endpoint_name=endpoint_name, capture=capture,
                           settings=MonitorSettings.model_validate(settings), role=roles.role("monitoring"), lake=lake,
                           network=network, alerts=alerts, key=key, pipeline_name=pipeline_name, ground_truth=ground_truth)
    return stack, monitor, alerts


def resources(stack) -> dict[str, dict]:
    return Template.from_stack(stack).to_json()["Resources"]


def of_type(found, kind):
    return [r for r in found.values() if r["Type"] == kind]


@pytest.fixture(scope="module")
def minimal():
    stack, monitor, alerts = build(App(), MINIMAL)
    return stack, monitor, alerts, resources(stack)


@pytest.fixture(scope="module")
def every():
    stack, monitor, alerts = build(App(), EVERY)
    return stack, monitor, alerts, resources(stack)


def test_data_quality_job_runs_isolated_encrypted_in_the_vpc_with_the_sdk_image(minimal):
    stack, monitor, _, found = minimal
    [job] = of_type(found, "AWS::SageMaker::DataQualityJobDefinition")
    props = job["Properties"]
    assert props["DataQualityAppSpecification"] == {"ImageUri": monitor_image("model-monitor", "eu-west-1"),
                                                    "Environment": {"publish_cloudwatch_metrics": "Enabled"}}
    network = props["NetworkConfig"]
    assert network["EnableNetworkIsolation"] is True and network["EnableInterContainerTrafficEncryption"] is True
    assert len(network["VpcConfig"]["Subnets"]) == 2 and len(network["VpcConfig"]["SecurityGroupIds"]) == 1
    cluster = props["JobResources"]["ClusterConfig"]
    assert (cluster["InstanceType"], cluster["InstanceCount"], cluster["VolumeSizeInGB"]) == ("ml.m5.xlarge", 1, 30)
    assert "LakeKey" in json.dumps(cluster["VolumeKmsKeyId"])
    output = props["DataQualityJobOutputConfig"]
    assert output["KmsKeyId"] == cluster["VolumeKmsKeyId"]
    assert json.dumps(output["MonitoringOutputs"][0]["S3Output"]["S3Uri"]).endswith('"/churn/reports/t-churn/data-quality/"]]}')
    assert props["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600}
    assert props["DataQualityJobInput"]["EndpointInput"]["EndpointName"] == "t-churn"
    baseline = json.dumps(props["DataQualityBaselineConfig"])
    assert B + "constraints.json" in baseline and B + "statistics.json" in baseline
    assert "JobDefinitionName" not in props  # replaced on change, like endpoint configurations


def test_schedule_is_daily_named_after_the_endpoint_and_waits_for_the_baseline_check(minimal):
    stack, monitor, _, found = minimal
    [schedule] = of_type(found, "AWS::SageMaker::MonitoringSchedule")
    props = schedule["Properties"]
    assert props["MonitoringScheduleName"] == "t-churn-data-quality" and props["EndpointName"] == "t-churn"
    config = props["MonitoringScheduleConfig"]
    assert (config["MonitoringType"], config["ScheduleConfig"]) == ("DataQuality", {"ScheduleExpression": "cron(0 0 ? * * *)"})
    job = stack.resolve(monitor.job_definitions["data_quality"].logical_id)
    assert config["MonitoringJobDefinitionName"] == {"Fn::Select": [1, {"Fn::Split": ["/", {"Fn::GetAtt": [job, "JobDefinitionArn"]}]}]}
    assert stack.resolve(monitor.baseline_check.resource.node.default_child.logical_id) in schedule["DependsOn"]


def test_baseline_check_names_every_baseline_and_its_function_reads_only_their_folder(minimal):
    stack, monitor, _, found = minimal
    [check] = of_type(found, "Custom::MonitoringBaselines")
    objects = json.dumps(check["Properties"]["Objects"])
    assert objects.count('"/' + B) == 2
    [function] = of_type(found, "AWS::Lambda::Function")
    assert function["Properties"]["Handler"] == "handler.on_event" and "VpcConfig" in function["Properties"]
    policy = stack.resolve(monitor.baseline_check.role.policy.node.default_child.logical_id)
    statements = found[policy]["Properties"]["PolicyDocument"]["Statement"]
    reads = [s for s in statements if "s3:GetObject" in json.dumps(s["Action"])]
    assert reads and all(json.dumps(s["Resource"]).endswith(f'"/{B}*"]]}}') for s in reads)


def test_monitoring_role_reads_capture_and_baselines_and_writes_only_its_reports(minimal):
    _, _, _, found = minimal
    statements = [s for k, p in found.items() if p["Type"] == "AWS::IAM::ManagedPolicy" and "MonitoringRole" in k
                  for s in p["Properties"]["PolicyDocument"]["Statement"]]
    text = json.dumps([s for s in statements if "s3:GetObject" in json.dumps(s["Action"])])
    assert "/data-capture/t-churn/*" in text and f"/{B}*" in text
    puts = [s for s in statements if "s3:PutObject" in json.dumps(s["Action"])]
    assert puts and all("/churn/reports/t-churn/*" in json.dumps(s["Resource"]) for s in puts)


def test_every_type_gets_its_job_image_and_schedule(every):
    _, _, _, found = every
    schedules = {s["Properties"]["MonitoringScheduleName"]: s["Properties"]["MonitoringScheduleConfig"]
                 for s in of_type(found, "AWS::SageMaker::MonitoringSchedule")}
    assert {n: (c["MonitoringType"], c["ScheduleConfig"]["ScheduleExpression"]) for n, c in schedules.items()} == {
        "t-churn-data-quality": ("DataQuality", "cron(0 * ? * * *)"),
        "t-churn-model-quality": ("ModelQuality", "cron(0 0/6 ? * * *)"),
        "t-churn-bias": ("ModelBias", "cron(0 0 ? * * *)")}
    clarify = monitor_image("clarify", "eu-west-1")
    [bias] = of_type(found, "AWS::SageMaker::ModelBiasJobDefinition")
    assert bias["Properties"]["ModelBiasAppSpecification"]["ImageUri"] == clarify
    assert bias["Properties"]["NetworkConfig"]["EnableNetworkIsolation"] is True


def test_model_quality_reads_ground_truth_with_its_attributes(every):
    _, _, _, found = every
    [job] = of_type(found, "AWS::SageMaker::ModelQualityJobDefinition")
    props = job["Properties"]
    assert props["ModelQualityAppSpecification"]["ProblemType"] == "BinaryClassification"
    endpoint = props["ModelQualityJobInput"]["EndpointInput"]
    assert (endpoint["InferenceAttribute"], endpoint["ProbabilityAttribute"], endpoint["ProbabilityThresholdAttribute"]) == (
        "0", "0", 0.6)
    assert json.dumps(props["ModelQualityJobInput"]["GroundTruthS3Input"]["S3Uri"]).endswith('"/churn/ground-truth/"]]}')


@pytest.fixture(scope="module")
def assembly(tmp_path_factory) -> Path:
    outdir = tmp_path_factory.mktemp("monitor")
    app = App(outdir=str(outdir))
    build(app, EVERY)
    app.synth()
    return outdir


def asset_json(assembly: Path, config_uri: str) -> dict:
    return json.loads((assembly / f"asset.{config_uri.rsplit('/', 1)[1]}").read_text())


def test_clarify_analysis_config_ships_as_an_asset_the_role_may_read_alone(assembly):
    found = json.loads((assembly / "Monitoring.template.json").read_text())["Resources"]
    [bias] = of_type(found, "AWS::SageMaker::ModelBiasJobDefinition")
    bias_uri = bias["Properties"]["ModelBiasAppSpecification"]["ConfigUri"]
    assert asset_json(assembly, bias_uri) == {
        "version": "1.0", "headers": ["age", "amount", "churned"], "label": "churned", "label_values_or_threshold": [1],
        "facet": [{"name_or_index": "age", "value_or_threshold": [65]}, {"name_or_index": "amount"}],
        "methods": {"post_training_bias": {"methods": "all"}}, "predictor": {"probability_threshold": 0.7}}
    gets = [s for k, p in found.items() if p["Type"] == "AWS::IAM::ManagedPolicy" and "MonitoringRole" in k
            for s in p["Properties"]["PolicyDocument"]["Statement"] if s["Action"] == "s3:GetObject"]
    objects = sorted(json.dumps(s["Resource"]) for s in gets if "cdk-" in json.dumps(s["Resource"]))
    assert len(objects) == 1 and objects[0].endswith('.json"]]}')  # the config object, not the bucket


def test_alarms_watch_the_named_drift_and_quality_metrics(every):
    stack, monitor, alerts, found = every
    alarms = {a["Properties"]["MetricName"]: a["Properties"] for a in of_type(found, "AWS::CloudWatch::Alarm")}
    drift, auc = alarms["feature_baseline_drift_amount"], alarms["auc"]
    assert (drift["Namespace"], drift["Threshold"], drift["ComparisonOperator"], drift["Statistic"], drift["Period"]) == (
        "aws/sagemaker/Endpoints/data-metrics", 0.2, "GreaterThanThreshold", "Maximum", 3600)
    assert (auc["Namespace"], auc["Threshold"], auc["ComparisonOperator"], auc["Statistic"], auc["Period"]) == (
        "aws/sagemaker/Endpoints/model-metrics", 0.75, "LessThanThreshold", "Minimum", 6 * 3600)
    assert auc["Dimensions"] == [{"Name": "Endpoint", "Value": "t-churn"},
                                 {"Name": "MonitoringSchedule", "Value": "t-churn-model-quality"}]
    topic = {"Ref": stack.resolve(alerts.topic.node.default_child.logical_id)}
    assert all(a["AlarmActions"] == [topic] for a in alarms.values())


def test_failed_executions_and_violations_notify_and_violations_start_the_pipeline(every):
    stack, monitor, alerts, found = every
    rules = {r["Properties"]["Description"]: r["Properties"] for r in of_type(found, "AWS::Events::Rule")}
    failed = rules["A monitoring execution of t-churn failed"]
    violations = rules["A monitoring execution of t-churn found violations"]
    assert failed["EventPattern"]["detail"]["ProcessingJobStatus"] == ["Failed"]
    assert violations["EventPattern"]["detail"]["ExitMessage"] == [{"prefix": "CompletedWithViolations"}]
    arns = [{"Fn::GetAtt": [stack.resolve(s.logical_id), "MonitoringScheduleArn"]} for s in monitor.schedules.values()]
    assert failed["EventPattern"]["detail"]["MonitoringScheduleArn"] == arns
    assert len(failed["Targets"]) == 1
    [_, gate] = violations["Targets"]
    function = stack.resolve(monitor.retrain_gate.function.node.default_child.logical_id)
    assert gate["Arn"] == {"Fn::GetAtt": [function, "Arn"]}
    props = found[function]["Properties"]
    assert props["ReservedConcurrentExecutions"] == 1  # single flight
    assert props["Environment"]["Variables"] == {"PIPELINE_NAME": "t-churn", "COOLDOWN_MINUTES": str(24 * 60)}
    policy = found[stack.resolve(monitor.retrain_gate.role.policy.node.default_child.logical_id)]["Properties"]
    [statement] = [s for s in policy["PolicyDocument"]["Statement"]
                   if s["Action"] == ["sagemaker:ListPipelineExecutions", "sagemaker:StartPipelineExecution"]]
    assert statement["Resource"]["Fn::Join"][1][-1] == ":sagemaker:eu-west-1:111111111111:pipeline/t-churn"


def test_retrain_cooldown_reaches_the_gate():
    stack, monitor, _ = build(App(), {**EVERY, "retrain_cooldown_hours": 0})
    found = resources(stack)
    function = found[stack.resolve(monitor.retrain_gate.function.node.default_child.logical_id)]
    assert function["Properties"]["Environment"]["Variables"]["COOLDOWN_MINUTES"] == "0"


def test_ground_truth_defaults_to_the_feedback_loop_location():
    feedback = LakeDataset(Zone.CURATED, "churn/ground-truth/t-churn/", "ground-truth")
    settings = {**MINIMAL, "model_quality": {k: v for k, v in MODEL_QUALITY.items() if k != "ground_truth"},
                "feedback": {"labels": {"zone": "raw", "prefix": "churn/labels/"}}}
    stack, monitor, _ = build(App(), settings, ground_truth=feedback)
    found = resources(stack)
    [job] = of_type(found, "AWS::SageMaker::ModelQualityJobDefinition")
    uri = json.dumps(job["Properties"]["ModelQualityJobInput"]["GroundTruthS3Input"]["S3Uri"])
    assert uri.endswith('"/churn/ground-truth/t-churn/"]]}')


def test_model_quality_without_any_ground_truth_is_a_construct_error():
    settings = {**MINIMAL, "model_quality": {k: v for k, v in MODEL_QUALITY.items() if k != "ground_truth"},
                "feedback": {"labels": {"zone": "raw", "prefix": "churn/labels/"}}}
    with pytest.raises(ValueError, match="model_quality need ground truth: pass ground_truth or set it"):
        build(App(), settings)


def test_without_retraining_violations_only_notify(minimal):
    _, monitor, _, found = minimal
    assert all(len(r["Properties"]["Targets"]) == 1 for r in of_type(found, "AWS::Events::Rule"))
    # Only the dead-letter queue's depth alarm: no metric alarm without drift or quality bounds.
    assert [a["Properties"]["MetricName"] for a in of_type(found, "AWS::CloudWatch::Alarm")] == [
        "ApproximateNumberOfMessagesVisible"] and monitor.retrain_gate is None
    assert not of_type(found, "AWS::Lambda::Function") or all(
        "PIPELINE_NAME" not in f["Properties"].get("Environment", {}).get("Variables", {})
        for f in of_type(found, "AWS::Lambda::Function"))


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1", "ap-southeast-2", "sa-east-1"])
def test_images_resolve_per_region_from_the_sdk(region):
    analyzer, clarify = monitor_image("model-monitor", region), monitor_image("clarify", region)
    assert re.fullmatch(rf"\d{{12}}\.dkr\.ecr\.{region}\.amazonaws\.com/sagemaker-model-monitor-analyzer", analyzer)
    assert re.fullmatch(rf"\d{{12}}\.dkr\.ecr\.{region}\.amazonaws\.com/sagemaker-clarify-processing:1\.0", clarify)


def test_images_differ_by_region_and_match_aws_documented_us_east_1_account():
    # AWS's documentation of prebuilt Model Monitor images lists 156813124566 for us-east-1.
    assert monitor_image("model-monitor", "us-east-1").startswith("156813124566.")
    assert monitor_image("model-monitor", "us-east-1") != monitor_image("model-monitor", "eu-west-1")


def test_a_region_the_sdk_does_not_list_is_a_synth_error():
    with pytest.raises(ValueError, match="the SageMaker SDK lists no model-monitor image in region 'xx-nowhere-1'"):
        build(App(), MINIMAL, env={"account": "111111111111", "region": "xx-nowhere-1"})


def test_construct_errors_name_the_construct():
    with pytest.raises(ValueError, match=(
            "ModelMonitor Monitoring/Churn: schedule name '.{51}-data-quality' is longer than 63 characters; use a "
            "shorter endpoint name; retrain_on_violations needs pipeline_name, the training pipeline to start$")):
        build(App(), {**MINIMAL, "retrain_on_violations": True}, endpoint_name="e" * 51, pipeline_name=None)
    with pytest.raises(ValueError, match="the stack needs an explicit region"):
        build(App(), MINIMAL, env=None)


@pytest.mark.parametrize("prefix", ["data-capture/other/", "data-capture/churn/"])
def test_a_capture_of_another_endpoint_is_refused_in_one_line(prefix):
    """The same rule as the feedback loop's: the capture's last folder is the endpoint's name
    ('churn/' is not 't-churn/', though 't-churn/' ends with it)."""
    with pytest.raises(ValueError, match=(
            rf"^ModelMonitor Monitoring/Churn: capture raw/{prefix} is not the capture of endpoint 't-churn' "
            r"\(its last folder must be 't-churn/'\)$")):
        build(App(), MINIMAL, capture=LakeDataset(Zone.RAW, prefix, "capture"))


@pytest.mark.parametrize(("value", "cron", "hours"), [
    ("hourly", "cron(0 * ? * * *)", 1), ("daily", "cron(0 0 ? * * *)", 24), ("every 1 hour", "cron(0 * ? * * *)", 1),
    ("every 12 hours", "cron(0 0/12 ? * * *)", 12), ("cron(0 17/12 ? * * *)", "cron(0 17/12 ? * * *)", 12),
    ("cron(0 5 ? * * *)", "cron(0 5 ? * * *)", 24),
])
def test_schedule_shapes(value, cron, hours):
    assert monitoring_cron(value) == cron and interval_hours(cron) == hours


@pytest.mark.parametrize(("settings", "message"), [
    ({**MINIMAL, "data_quality": {**DATA_QUALITY, "schedule": "weekly"}}, "schedule 'weekly' is not one Model Monitor runs"),
    ({**MINIMAL, "data_quality": {**DATA_QUALITY, "schedule": "cron(0 12 ? * MON *)"}}, "is not one Model Monitor runs"),
    ({**MINIMAL, "data_quality": {**DATA_QUALITY, "schedule": "every 25 hours"}}, "is not one Model Monitor runs"),
    ({**MINIMAL, "data_quality": {**DATA_QUALITY, "schedule": "hourly", "max_runtime_minutes": 90}},
     "max_runtime_minutes 90 exceeds the 60 minutes between two runs of schedule 'hourly'"),
    ({**MINIMAL, "data_quality": {**DATA_QUALITY, "instance_type": "ml.m5.huge"}},
     "instance type 'ml.m5.huge' is not offered by SageMaker for processing"),
    ({**MINIMAL, "data_quality": {**DATA_QUALITY, "drift_alarms": {"amount": 1.5}}}, "less than or equal to 1"),
    ({**MINIMAL, "data_quality": {"constraints": DATA_QUALITY["constraints"]}}, "statistics\n  Field required"),
    ({**MINIMAL, "data_quality": {**DATA_QUALITY, "constraints": {"zone": "artifacts", "key": "/abs.json"}}},
     "should match pattern"),
    ({"reports": MINIMAL["reports"]}, "give at least one of data_quality, model_quality, bias \\["),
    ({**MINIMAL, "model_quality": {**MODEL_QUALITY, "metric_alarms": {"auc": {}}}}, "give below or above, exactly one"),
    ({**MINIMAL, "model_quality": {**MODEL_QUALITY, "metric_alarms": {"auc": {"below": 0.7, "above": 0.9}}}},
     "give below or above, exactly one"),
    ({**MINIMAL, "model_quality": {**MODEL_QUALITY, "problem_type": "Regression", "probability_threshold": None}},
     "Regression has no probability_attribute or probability_threshold"),
    ({**MINIMAL, "model_quality": {**MODEL_QUALITY, "problem_type": "MulticlassClassification"}},
     "probability_threshold is for BinaryClassification only"),
    ({**MINIMAL, "model_quality": {**MODEL_QUALITY, "probability_attribute": None}},
     "probability_threshold needs probability_attribute"),
    ({**MINIMAL, "model_quality": {**MODEL_QUALITY, "problem_type": "Ranking"}}, "BinaryClassification"),
    ({**MINIMAL, "bias": {**BIAS, "facets": [{"column": "gender"}]}}, "columns 'gender' are not in headers"),
    ({**MINIMAL, "bias": {**BIAS, "headers": ["churned", "age", "amount"]}}, "the label 'churned' must be the last of headers"),
    ({**MINIMAL, "bias": {**BIAS, "facets": []}}, "at least 1 item"),
    ({**MINIMAL, "bias": {**BIAS, "positive_label_values": []}}, "at least 1 item"),
    ({**MINIMAL, "bias": {k: v for k, v in BIAS.items() if k != "ground_truth"}},
     "bias need ground truth: give feedback"),
    ({**MINIMAL, "retrain_cooldown_hours": 721}, "less than or equal to 720"),
    ({**MINIMAL, "feedback": {"labels": {"zone": "raw", "prefix": "l/"}, "lookback_days": 31}},
     "less than or equal to 30"),
    ({**MINIMAL, "feedback": {"labels": {"zone": "raw", "prefix": "l/"}, "id_attribute": "a b"}}, "should match"),
])
def test_settings_errors(settings, message):
    with pytest.raises(ValueError, match=message):
        MonitorSettings.model_validate(settings)


def test_defaults():
    settings = MonitorSettings.model_validate({**MINIMAL, "bias": BIAS})
    job = settings.data_quality
    assert (job.schedule, job.instance_type, job.instance_count, job.volume_size_gb, job.max_runtime_minutes) == (
        "daily", "ml.m5.xlarge", 1, 30, 60)
    assert job.drift_alarms == {} and settings.retrain_on_violations is False
    assert settings.retrain_cooldown_hours == DEFAULT_RETRAIN_COOLDOWN_HOURS == 24 and settings.feedback is None
    feedback = FeedbackSettings.model_validate({"labels": {"zone": "raw", "prefix": "l/"}})
    assert (feedback.id_attribute, feedback.label_attribute, feedback.lookback_days) == (
        "inference-id", "label", DEFAULT_LOOKBACK_DAYS)
    assert list(settings.jobs()) == ["data_quality", "bias"]
    assert MonitorSettings.model_validate({**MINIMAL, "bias": {k: v for k, v in BIAS.items() if k != "probability_threshold"}}
                                          ).bias.probability_threshold == 0.5


@pytest.fixture(scope="module")
def gated(tmp_path_factory) -> Path:
    """Every monitoring type in a stage, synthesized with the platform's nag packs."""
    return synth_gated(tmp_path_factory.mktemp("monitor-gated"), lambda stage: build(stage, EVERY))


def test_monitoring_passes_the_nag_packs_cfn_lint_and_checkov(gated):
    assert_gates_pass(gated)


def test_job_resources_and_runtime_options_reach_the_job_definition():
    job = {**DATA_QUALITY, "schedule": "every 2 hours", "instance_type": "ml.c5.2xlarge", "instance_count": 2,
           "volume_size_gb": 100, "max_runtime_minutes": 90}
    stack, _, _ = build(App(), {**MINIMAL, "data_quality": job})
    [definition] = of_type(resources(stack), "AWS::SageMaker::DataQualityJobDefinition")
    cluster = definition["Properties"]["JobResources"]["ClusterConfig"]
    assert (cluster["InstanceType"], cluster["InstanceCount"], cluster["VolumeSizeInGB"]) == ("ml.c5.2xlarge", 2, 100)
    assert definition["Properties"]["StoppingCondition"] == {"MaxRuntimeInSeconds": 5400}
    [schedule] = of_type(resources(stack), "AWS::SageMaker::MonitoringSchedule")
    assert schedule["Properties"]["MonitoringScheduleConfig"]["ScheduleConfig"] == {"ScheduleExpression": "cron(0 0/2 ? * * *)"}
