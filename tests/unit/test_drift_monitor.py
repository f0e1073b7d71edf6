"""ProcessingDriftMonitor: the schedule and its launcher, the metrics rule, alarms, least privilege, gates and errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk import App, Duration, Stack, Token
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Template

from ml_platform.constructs.core.alerting import AlertPath, AlertRoutes
from ml_platform.constructs.lake.data_lake import DataLake, Zone
from ml_platform.constructs.lake.lake_locations import LakeDataset
from ml_platform.constructs.monitoring.drift_monitor import (
    DEFAULT_INSTANCE_TYPE,
    DEFAULT_MAX_RUNTIME_MINUTES,
    DEFAULT_VOLUME_SIZE_GB,
    HEADERS_MAX_CHARS,
    JOB_PREFIX_MAX,
    SCHEDULE_MINUTE,
    SKLEARN_IMAGE_VERSION,
    ProcessingDriftMonitor,
)
from ml_platform.constructs.preparation.glue_security import allow_cloudwatch_logs
from ml_platform.constructs.training.ml_network import MlNetwork, NetworkSettings
from ml_platform.constructs.training.sagemaker_images import builtin_image
from ml_platform.constructs.training.sagemaker_roles import LakeLocation, LakeObject, RoleSettings, SageMakerRoles
from tests.conftest import assert_gates_pass, synth_gated
from tests.iam_eval import LAKE_KEY_ARN, Resolver, obj, permitted

ENV = {"account": "111111111111", "region": "eu-west-1"}
B = "churn/monitoring/baselines/"
STATISTICS = LakeObject(zone="artifacts", key=B + "statistics.json")
CONSTRAINTS = LakeObject(zone="artifacts", key=B + "constraints.json")
REPORTS = LakeLocation(zone="artifacts", prefix="churn/reports/")
HEADERS = ("age", "amount", "tenure")
ENDPOINTS = ["sagemaker_api", "monitoring"]


def build(scope, *, endpoint_name="t-churn", env=ENV, endpoints=ENDPOINTS, capture=None, shared_role=False, **options):
    stack = Stack(scope, "Monitoring", env=env)
    lake = DataLake(stack, "Lake")  # in the same stack: tests/iam_eval.Resolver names its buckets and key
    network = MlNetwork(stack, "Net", settings=NetworkSettings(az_count=2, interface_endpoints=endpoints))
    key = kms.Key(stack, "Key", enable_key_rotation=True)
    allow_cloudwatch_logs(key)
    path = AlertPath(stack, "AlertPath")
    alerts = AlertRoutes(stack, "Alerts", topic=path.topic, key=path.key)
    if shared_role:
        options["role"] = SageMakerRoles(stack, "Roles", lake=lake, settings={"monitoring": RoleSettings()},
                                         network=network).role("monitoring")
    monitor = ProcessingDriftMonitor(
        stack, "Drift", endpoint_name=endpoint_name,
        capture=capture or LakeDataset(Zone.RAW, f"data-capture/{endpoint_name}/", "capture"),
        statistics=STATISTICS, constraints=CONSTRAINTS, headers=HEADERS, reports=REPORTS, lake=lake,
        network=network, alerts=alerts, key=key, **options)
    alerts.cover_functions()
    return stack, monitor, alerts, lake


def resources(stack) -> dict[str, dict]:
    return Template.from_stack(stack).to_json()["Resources"]


def of_type(found, kind):
    return [r for r in found.values() if r["Type"] == kind]


def function_env(stack, found, function) -> dict:
    return found[stack.resolve(function.function.node.default_child.logical_id)]["Properties"]["Environment"]["Variables"]


def policy_of(stack, found, role, lake) -> dict:
    """The role's managed policies merged, tokens replaced by fixed names (tests/iam_eval.py)."""
    resolve = Resolver(stack, lake, ENV)
    statements = [s for p in role.policies for s in
                  found[stack.resolve(p.node.default_child.logical_id)]["Properties"]["PolicyDocument"]["Statement"]]
    return {"Version": "2012-10-17", "Statement": resolve(statements)}


@pytest.fixture(scope="module")
def default():
    stack, monitor, alerts, lake = build(App())
    return stack, monitor, alerts, resources(stack), lake


@pytest.fixture(scope="module")
def every():
    stack, monitor, alerts, lake = build(
        App(), schedule="every 6 hours", instance_type="ml.c5.xlarge", volume_size_gb=50, max_runtime_minutes=90,
        drift_alarms={"amount": 0.2, "age": 0.5}, job_prefix="churn-dq", shared_role=True)
    return stack, monitor, alerts, resources(stack)


# --- defaults --------------------------------------------------------------------------------


def test_defaults_reach_the_launcher(default):
    stack, monitor, _, found, _ = default
    env = function_env(stack, found, monitor.launcher)
    assert (env["INSTANCE_TYPE"], env["VOLUME_SIZE_GB"], env["MAX_RUNTIME_SECONDS"]) == (
        DEFAULT_INSTANCE_TYPE, str(DEFAULT_VOLUME_SIZE_GB), str(DEFAULT_MAX_RUNTIME_MINUTES * 60)) == (
        "ml.m5.large", "30", "3600")
    assert env["IMAGE_URI"] == builtin_image("sklearn", "eu-west-1", SKLEARN_IMAGE_VERSION)
    assert env["IMAGE_URI"].endswith(".dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-cpu-py3")
    assert (env["JOB_PREFIX"], env["ENDPOINT_NAME"], env["SCHEDULE_NAME"], env["HEADERS"]) == (
        "t-churn-drift", "t-churn", "t-churn-data-quality", "age,amount,tenure")
    assert env["CAPTURE_PREFIX"] == "data-capture/t-churn/"
    assert json.dumps(env["REPORTS_URI"]).endswith('/churn/reports/t-churn/data-quality/"]]}')
    assert json.dumps(env["STATISTICS_URI"]).endswith(f'/{B}statistics.json"]]}}')
    assert "LakeKey" in json.dumps(env["KMS_KEY_ARN"]) and "Subnet" in json.dumps(env["SUBNETS"])
    assert monitor.alarms == [] and monitor.schedule_name == "t-churn-data-quality"


def test_the_schedule_runs_hourly_past_the_minute_and_invokes_the_launcher_with_its_time(default):
    stack, monitor, alerts, found, _ = default
    [schedule] = of_type(found, "AWS::Scheduler::Schedule")
    props = schedule["Properties"]
    assert (props["ScheduleExpression"], props["ScheduleExpressionTimezone"]) == (
        f"cron({SCHEDULE_MINUTE} * ? * * *)", "Etc/UTC")
    target = props["Target"]
    function = stack.resolve(monitor.launcher.function.node.default_child.logical_id)
    assert target["Arn"] == {"Fn::GetAtt": [function, "Arn"]}
    assert json.loads(target["Input"]) == {"scheduled_time": "<aws.scheduler.scheduled-time>"}
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": 2}
    queue = stack.resolve(alerts.dead_letters.node.default_child.logical_id)
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [queue, "Arn"]}}
    check = stack.resolve(monitor.baseline_check.resource.node.default_child.logical_id)
    assert check in schedule["DependsOn"]


def test_completed_jobs_of_this_prefix_invoke_the_metrics_function_and_failures_notify(default):
    stack, monitor, alerts, found, _ = default
    rules = {r["Properties"]["Description"]: r["Properties"] for r in of_type(found, "AWS::Events::Rule")}
    completed = rules["Puts the metrics of t-churn's completed drift jobs"]
    assert completed["EventPattern"] == {
        "source": ["aws.sagemaker"], "detail-type": ["SageMaker Processing Job State Change"],
        "detail": {"ProcessingJobName": [{"prefix": "t-churn-drift-"}], "ProcessingJobStatus": ["Completed"]}}
    [target] = completed["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [stack.resolve(monitor.publisher.function.node.default_child.logical_id), "Arn"]}
    assert "DeadLetterConfig" in target
    failed = rules["A drift job of t-churn failed or stopped"]
    assert failed["EventPattern"]["detail"] == {"ProcessingJobName": [{"prefix": "t-churn-drift-"}],
                                                "ProcessingJobStatus": ["Failed", "Stopped"]}
    assert failed["Targets"][0]["Arn"] == {"Ref": stack.resolve(alerts.topic.node.default_child.logical_id)}


def test_both_functions_alarm_on_errors(default):
    stack, monitor, _, found, _ = default
    alarmed = [a["Properties"]["Dimensions"][0]["Value"] for a in of_type(found, "AWS::CloudWatch::Alarm")
               if a["Properties"]["MetricName"] == "Errors"]
    for function in (monitor.launcher, monitor.publisher):
        assert {"Ref": stack.resolve(function.function.node.default_child.logical_id)} in alarmed


def test_metrics_function_reads_the_reports_and_names_the_dimensions(default):
    stack, monitor, _, found, _ = default
    env = function_env(stack, found, monitor.publisher)
    assert (env["METRICS_PREFIX"], env["JOB_PREFIX"], env["ENDPOINT_NAME"], env["SCHEDULE_NAME"]) == (
        "churn/reports/t-churn/data-quality/", "t-churn-drift", "t-churn", "t-churn-data-quality")


def test_the_drift_folder_ships_as_the_code_asset_the_launcher_names(default):
    stack, monitor, _, found, _ = default
    staged = Path(stack.node.root.outdir) / monitor.code.asset_path
    assert {p.name for p in staged.iterdir()} >= {"drift.py"} and not (staged / "__pycache__").exists()
    assert monitor.code.s3_object_key.endswith(".zip")  # a folder asset is zipped; the entrypoint unpacks it
    env = function_env(stack, found, monitor.launcher)
    assert env["CODE_URI"] == f"s3://cdk-hnb659fds-assets-111111111111-eu-west-1/{monitor.code.s3_object_key}"


# --- options ---------------------------------------------------------------------------------


def test_options_reach_the_launcher_schedule_and_alarms(every):
    stack, monitor, alerts, found = every
    env = function_env(stack, found, monitor.launcher)
    assert (env["INSTANCE_TYPE"], env["VOLUME_SIZE_GB"], env["MAX_RUNTIME_SECONDS"], env["JOB_PREFIX"]) == (
        "ml.c5.xlarge", "50", "5400", "churn-dq")
    [schedule] = of_type(found, "AWS::Scheduler::Schedule")
    assert schedule["Properties"]["ScheduleExpression"] == f"cron({SCHEDULE_MINUTE} 0/6 ? * * *)"
    alarms = {a["Properties"]["MetricName"]: a["Properties"] for a in of_type(found, "AWS::CloudWatch::Alarm")
              if a["Properties"]["MetricName"].startswith("feature_baseline_drift_")}
    assert set(alarms) == {"feature_baseline_drift_amount", "feature_baseline_drift_age"}
    amount = alarms["feature_baseline_drift_amount"]
    assert (amount["Namespace"], amount["Threshold"], amount["ComparisonOperator"], amount["Statistic"],
            amount["Period"], amount["TreatMissingData"]) == (
        "aws/sagemaker/Endpoints/data-metrics", 0.2, "GreaterThanThreshold", "Maximum", 6 * 3600, "notBreaching")
    assert amount["Dimensions"] == [{"Name": "Endpoint", "Value": "t-churn"},
                                    {"Name": "MonitoringSchedule", "Value": "t-churn-data-quality"}]
    topic = {"Ref": stack.resolve(alerts.topic.node.default_child.logical_id)}
    assert amount["AlarmActions"] == [topic]
    rules = [r["Properties"]["EventPattern"]["detail"]["ProcessingJobName"] for r in of_type(found, "AWS::Events::Rule")
             if "ProcessingJobName" in r["Properties"]["EventPattern"].get("detail", {})]
    assert rules == [[{"prefix": "churn-dq-"}]] * 2


def test_a_given_role_is_passed_and_granted_no_new_role_is_made(every):
    stack, monitor, _, found = every
    env = function_env(stack, found, monitor.launcher)
    role = stack.resolve(monitor.role.node.default_child.logical_id)
    assert env["ROLE_ARN"] == {"Fn::GetAtt": [role, "Arn"]} and "Roles/MonitoringRole" in monitor.role.node.path
    assert monitor.node.try_find_child("Roles") is None


def test_metric_feature_drift_is_the_published_metric(default):
    _, monitor, _, _, _ = default
    metric = monitor.metric_feature_drift("amount")
    assert (metric.namespace, metric.metric_name, metric.statistic, metric.period.to_seconds()) == (
        "aws/sagemaker/Endpoints/data-metrics", "feature_baseline_drift_amount", "Average", 3600)
    assert metric.dimensions == {"Endpoint": "t-churn", "MonitoringSchedule": "t-churn-data-quality"}
    assert monitor.metric_feature_drift("age", statistic="Maximum", period=Duration.hours(2)).period.to_seconds() == 7200
    with pytest.raises(ValueError, match=r"^ProcessingDriftMonitor Monitoring/Drift: metric_feature_drift: "
                                         r"feature 'a b' is not a metric name; allowed: "):
        monitor.metric_feature_drift("a b")


def test_a_token_endpoint_name_works_with_a_job_prefix():
    stack, monitor, _, _ = build(App(), endpoint_name=Token.as_string({"Ref": "EndpointName"}),
                                 capture=LakeDataset(Zone.RAW, "data-capture/any/", "capture"), job_prefix="dq")
    assert monitor.job_prefix == "dq" and Token.is_unresolved(monitor.schedule_name)


# --- least privilege -------------------------------------------------------------------------


def test_launcher_creates_only_isolated_encrypted_jobs_of_its_prefix_and_passes_only_the_job_role(default):
    stack, monitor, _, found, lake = default
    policy = policy_of(stack, found, monitor.launcher.role, lake)
    job = "arn:aws:sagemaker:eu-west-1:111111111111:processing-job/t-churn-drift-2026112912"
    [create] = [s for s in policy["Statement"] if s["Action"] == "sagemaker:CreateProcessingJob"]
    assert create["Resource"] == "arn:aws:sagemaker:eu-west-1:111111111111:processing-job/t-churn-drift-*"
    assert create["Condition"] == {"Bool": {"sagemaker:NetworkIsolation": "true"},
                                   "ArnEquals": {"sagemaker:VolumeKmsKey": LAKE_KEY_ARN,
                                                 "sagemaker:OutputKmsKey": LAKE_KEY_ARN}}
    assert permitted(policy, "sagemaker:AddTags", job, {"sagemaker:TaggingAction": "CreateProcessingJob"})
    assert not permitted(policy, "sagemaker:AddTags", job, {"sagemaker:TaggingAction": "AddTags"})
    other = "arn:aws:sagemaker:eu-west-1:111111111111:processing-job/other-2026112912"
    assert not permitted(policy, "sagemaker:AddTags", other, {"sagemaker:TaggingAction": "CreateProcessingJob"})
    role = f"arn-{stack.resolve(monitor.role.node.default_child.logical_id)}"
    assert permitted(policy, "iam:PassRole", role, {"iam:PassedToService": "sagemaker.amazonaws.com"})
    assert not permitted(policy, "iam:PassRole", role, {"iam:PassedToService": "lambda.amazonaws.com"})
    assert not permitted(policy, "iam:PassRole", "arn:aws:iam::111111111111:role/other",
                         {"iam:PassedToService": "sagemaker.amazonaws.com"})
    raw = "arn:aws:s3:::fake-raw"
    assert permitted(policy, "s3:ListBucket", raw, {"s3:prefix": "data-capture/t-churn/"})
    assert not permitted(policy, "s3:ListBucket", raw, {"s3:prefix": "data-capture/other/"})
    assert not permitted(policy, "s3:GetObject", obj(Zone.RAW, "data-capture/t-churn/v/2026/11/29/12/a.jsonl"))


def test_metrics_function_reads_only_reports_and_puts_only_data_metrics(default):
    stack, monitor, _, found, lake = default
    policy = policy_of(stack, found, monitor.publisher.role, lake)
    report = "churn/reports/t-churn/data-quality/t-churn-drift-2026112912/metrics.json"
    assert permitted(policy, "s3:GetObject", obj(Zone.ARTIFACTS, report))
    assert not permitted(policy, "s3:GetObject", obj(Zone.ARTIFACTS, B + "statistics.json"))
    assert not permitted(policy, "s3:PutObject", obj(Zone.ARTIFACTS, report))
    assert permitted(policy, "kms:Decrypt", LAKE_KEY_ARN, {"kms:ViaService": "s3.eu-west-1.amazonaws.com"})
    data = {"cloudwatch:namespace": "aws/sagemaker/Endpoints/data-metrics"}
    assert permitted(policy, "cloudwatch:PutMetricData", "*", data)
    assert not permitted(policy, "cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": "AWS/Lambda"})


def test_job_role_reads_capture_baselines_and_code_and_writes_only_its_reports(default):
    stack, monitor, _, found, lake = default
    policy = policy_of(stack, found, monitor.role, lake)
    assert permitted(policy, "s3:GetObject", obj(Zone.RAW, "data-capture/t-churn/AllTraffic/2026/11/29/12/a.jsonl"))
    assert permitted(policy, "s3:GetObject", obj(Zone.ARTIFACTS, B + "constraints.json"))
    assert not permitted(policy, "s3:GetObject", obj(Zone.RAW, "data-capture/other/x.jsonl"))
    assert permitted(policy, "s3:PutObject", obj(Zone.ARTIFACTS, "churn/reports/t-churn/data-quality/j/metrics.json"))
    assert not permitted(policy, "s3:PutObject", obj(Zone.ARTIFACTS, B + "statistics.json"))
    code = [s for s in policy["Statement"] if s["Action"] == "s3:GetObject" and "cdk-hnb659fds-assets" in json.dumps(s)]
    assert len(code) == 1 and code[0]["Resource"].endswith(monitor.code.s3_object_key)


# --- gates -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gated(tmp_path_factory) -> Path:
    return synth_gated(tmp_path_factory.mktemp("drift-gated"),
                       lambda stage: build(stage, drift_alarms={"amount": 0.2}))


def test_the_monitor_passes_the_nag_packs_cfn_lint_and_checkov(gated):
    assert_gates_pass(gated)


# --- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(("options", "message"), [
    ({"schedule": "weekly"}, "schedule 'weekly' is not one Model Monitor runs; use hourly, daily"),
    ({"instance_type": "ml.m5.huge"}, "instance_type 'ml.m5.huge' is not offered by SageMaker for processing jobs"),
    ({"volume_size_gb": 0}, "volume_size_gb is 0; allowed: 1 to 16384"),
    ({"max_runtime_minutes": 61}, r"max_runtime_minutes is 61; allowed: 1 to 60 \(the minutes between two runs\)"),
    ({"drift_alarms": {"income": 0.2}}, r"drift_alarms: feature 'income' is not one of headers \(age, amount, tenure\)"),
    ({"drift_alarms": {"age": 1.5}}, r"drift_alarms: threshold 1.5 of 'age'; allowed: above 0, at most 1"),
    ({"job_prefix": "Churn_DQ"}, r"job_prefix 'Churn_DQ' is invalid; allowed: lowercase letters, digits and '-', "
                                 rf"at most {JOB_PREFIX_MAX} characters"),
    ({"endpoints": ["sagemaker_api"]}, "the network does not reach the monitoring interface endpoint"),
    ({"env": {"account": "111111111111", "region": "xx-nowhere-1"}},
     "has no sklearn 1.4-2 image in region 'xx-nowhere-1'"),
    ({"env": None}, "the stack needs an explicit region"),
    ({"endpoint_name": "e" * 40}, rf"job_prefix '{'e' * 40}-drift' is invalid"),
    ({"capture": LakeDataset(Zone.RAW, "data-capture/other/", "capture")},
     r"capture raw/data-capture/other/ is not the capture of endpoint 't-churn'"),
])
def test_each_error_is_one_line_naming_the_construct_key_value_and_allowed(options, message):
    with pytest.raises(ValueError, match=rf"^ProcessingDriftMonitor Monitoring/Drift: .*{message}") as error:
        build(App(), **options)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(("headers", "message"), [
    ((), r"headers \[\] are invalid; allowed: one or more column names without ','"),
    (("a,b", "c"), r"headers \['a,b', 'c'\] are invalid"),
    (("a", "a"), r"headers \['a', 'a'\] repeat a column"),
    (tuple(f"feature_{i:03d}" for i in range(30)), rf"headers are 359 characters joined with ','; allowed: at most "
                                                    rf"{HEADERS_MAX_CHARS}"),
])
def test_header_errors(headers, message):
    with pytest.raises(ValueError, match=rf"^ProcessingDriftMonitor Monitoring/Drift: {message}"):
        build_with_headers(App(), headers)


def build_with_headers(scope, headers):
    lake = DataLake(Stack(scope, "Lake", env=ENV), "Lake")
    stack = Stack(scope, "Monitoring", env=ENV)
    network = MlNetwork(stack, "Net", settings=NetworkSettings(az_count=2, interface_endpoints=ENDPOINTS))
    key = kms.Key(stack, "Key", enable_key_rotation=True)
    path = AlertPath(stack, "AlertPath")
    alerts = AlertRoutes(stack, "Alerts", topic=path.topic, key=path.key)
    return ProcessingDriftMonitor(
        stack, "Drift", endpoint_name="t-churn", capture=LakeDataset(Zone.RAW, "data-capture/t-churn/", "capture"),
        statistics=STATISTICS, constraints=CONSTRAINTS, headers=headers, reports=REPORTS, lake=lake,
        network=network, alerts=alerts, key=key)


def test_a_token_endpoint_name_needs_a_job_prefix():
    with pytest.raises(ValueError, match="job_prefix is required when endpoint_name is a token"):
        build(App(), endpoint_name=Token.as_string({"Ref": "EndpointName"}),
              capture=LakeDataset(Zone.RAW, "data-capture/any/", "capture"))


def test_all_problems_are_reported_together():
    with pytest.raises(ValueError, match=r"volume_size_gb is 0; .*; max_runtime_minutes is 0; "):
        build(App(), volume_size_gb=0, max_runtime_minutes=0)
