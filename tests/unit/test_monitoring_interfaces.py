"""Monitoring constructs in an app's own CDK app: over the buckets, keys, VPC, security group, role
and alert topic the app already has (nothing of the library's lake or network is created), their
grants and metrics, and the misuse they refuse."""

from __future__ import annotations

import json

import pytest
from aws_cdk import App, Duration, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Template

from ml_platform.constructs.core.alerting import AlertRoutes
from ml_platform.constructs.lake.data_lake import DataLake, Zone
from ml_platform.constructs.lake.lake_locations import DAILY, HOURLY, LakeDataset
from ml_platform.constructs.monitoring import FeedbackLoop, FeedbackSettings, ModelMonitor, MonitorSettings, RetrainGate
from ml_platform.constructs.monitoring.model_monitor import DEFAULT_METRIC_STATISTIC
from ml_platform.constructs.training.ml_network import INetwork, MlNetwork
from tests.iam_eval import Resolver, permitted
from tests.unit.test_model_monitor import EVERY, MINIMAL

ENV = {"account": "111111111111", "region": "eu-west-1"}
KEY_ARN = "arn:aws:kms:eu-west-1:111111111111:key/11111111-2222-3333-4444-555555555555"
LOGS_KEY_ARN = "arn:aws:kms:eu-west-1:111111111111:key/66666666-7777-8888-9999-000000000000"
TOPIC_KEY_ARN = "arn:aws:kms:eu-west-1:111111111111:key/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
TOPIC_ARN = "arn:aws:sns:eu-west-1:111111111111:team-alerts"
ROLE_ARN = "arn:aws:iam::111111111111:role/team-monitoring"
SUBNETS = ["subnet-a", "subnet-b"]
ENDPOINT = "t-churn"
CAPTURE = LakeDataset(Zone.RAW, f"data-capture/{ENDPOINT}/", "capture", ("variant", *HOURLY))
#: Nothing of these may be created: the app brings its lake, keys, network and topic.
NOT_CREATED = ("AWS::S3::Bucket", "AWS::KMS::Key", "AWS::EC2::VPC", "AWS::EC2::Subnet", "AWS::EC2::SecurityGroup",
               "AWS::EC2::VPCEndpoint", "AWS::SNS::Topic")


def bucket_object(zone: str, key: str) -> str:
    return f"arn:aws:s3:::app-{zone}/{key}"


def app_stack(interface_endpoints=None) -> tuple[Stack, dict]:
    """A stack of the app and what it already has."""
    stack = Stack(App(), "Monitoring", env=ENV)
    lake = DataLake.from_existing(stack, "Lake", encryption_key=kms.Key.from_key_arn(stack, "LakeKey", KEY_ARN), buckets={
        zone: s3.Bucket.from_bucket_name(stack, f"{zone}Bucket", f"app-{zone}") for zone in ("raw", "curated", "artifacts")})
    subnets = [ec2.Subnet.from_subnet_attributes(stack, f"Subnet{s}", subnet_id=s, availability_zone=f"eu-west-1{s[-1]}")
               for s in SUBNETS]
    vpc = ec2.Vpc.from_vpc_attributes(stack, "Vpc", vpc_id="vpc-0123", availability_zones=["eu-west-1a", "eu-west-1b"],
                                      isolated_subnet_ids=SUBNETS)
    network = MlNetwork.from_existing(stack, "Net", vpc=vpc, subnets=ec2.SubnetSelection(subnets=subnets),
                                      security_group=ec2.SecurityGroup.from_security_group_id(stack, "Sg", "sg-0123"),
                                      interface_endpoints=interface_endpoints)
    alerts = AlertRoutes(stack, "Alerts", topic=sns.Topic.from_topic_arn(stack, "Topic", TOPIC_ARN),
                         key=kms.Key.from_key_arn(stack, "TopicKey", TOPIC_KEY_ARN))
    return stack, {"lake": lake, "network": network, "alerts": alerts,
                   "key": kms.Key.from_key_arn(stack, "LogsKey", LOGS_KEY_ARN),
                   "role": iam.Role.from_role_arn(stack, "MonitoringRole", ROLE_ARN)}


def model_monitor(stack: Stack, have: dict, settings=EVERY, capture=CAPTURE) -> ModelMonitor:
    return ModelMonitor(stack, "Churn", endpoint_name=ENDPOINT, capture=capture,
                        settings=MonitorSettings.model_validate(settings), pipeline_name="t-churn", **have)


def of_type(found: dict, kind: str) -> list[dict]:
    return [r["Properties"] for r in found.values() if r["Type"] == kind]


def statements(stack: Stack, found: dict, roles=None) -> dict:
    """One policy of every statement of the stack's IAM policies (of ``roles`` if given), resolved."""
    chosen = [s for p in of_type(found, "AWS::IAM::Policy") if roles is None or p["Roles"] == roles
              for s in p["PolicyDocument"]["Statement"]]
    return Resolver(stack, None, ENV)({"Statement": chosen})


@pytest.fixture(scope="module")
def monitored():
    stack, have = app_stack()
    monitor = model_monitor(stack, have)
    return stack, monitor, Template.from_stack(stack).to_json()["Resources"]


# --- interfaces: what the app has is used, nothing of the library's lake or network is made -------


def test_the_app_network_satisfies_the_interface_and_nothing_of_lake_network_or_topic_is_created(monitored):
    stack, monitor, found = monitored
    assert isinstance(monitor._network, INetwork)
    assert not [r for r in found.values() if r["Type"] in NOT_CREATED]


def test_jobs_and_functions_run_in_the_app_subnets_with_its_security_group_and_keys(monitored):
    _, _, found = monitored
    jobs = [p for kind in ("DataQuality", "ModelQuality", "ModelBias")
            for p in of_type(found, f"AWS::SageMaker::{kind}JobDefinition")]
    assert len(jobs) == 3
    for job in jobs:
        assert job["NetworkConfig"]["VpcConfig"] == {"SecurityGroupIds": ["sg-0123"], "Subnets": SUBNETS}
        assert job["JobResources"]["ClusterConfig"]["VolumeKmsKeyId"] == KEY_ARN
    functions = of_type(found, "AWS::Lambda::Function")
    assert len(functions) == 2  # the baseline check and the retrain gate
    assert all(f["VpcConfig"] == {"SecurityGroupIds": ["sg-0123"], "SubnetIds": SUBNETS} for f in functions)
    assert [g["KmsKeyId"] for g in of_type(found, "AWS::Logs::LogGroup")] == [LOGS_KEY_ARN] * 2


def test_alarms_and_rules_go_to_the_app_topic(monitored):
    _, _, found = monitored
    alarms = of_type(found, "AWS::CloudWatch::Alarm")
    assert alarms and all(a["AlarmActions"] == [TOPIC_ARN] for a in alarms)
    rules = [r for r in of_type(found, "AWS::Events::Rule") if "monitoring execution" in r["Description"]]
    assert len(rules) == 2 and all(r["Targets"][0]["Arn"] == TOPIC_ARN for r in rules)


@pytest.mark.parametrize(("action", "resource", "allowed"), [
    ("s3:GetObject", bucket_object("raw", f"data-capture/{ENDPOINT}/AllTraffic/2024/01/01/00/c.jsonl"), True),
    ("s3:GetObject", bucket_object("artifacts", "churn/monitoring/baselines/statistics.json"), True),
    ("s3:GetObject", bucket_object("curated", "churn/ground-truth/2024/01/01/00/labels.jsonl"), True),
    ("s3:PutObject", bucket_object("artifacts", f"churn/reports/{ENDPOINT}/data-quality/report.json"), True),
    ("s3:GetObject", bucket_object("raw", "data-capture/other/AllTraffic/2024/01/01/00/c.jsonl"), False),
    ("s3:PutObject", bucket_object("artifacts", "churn/reports/other/data-quality/report.json"), False),
    ("s3:PutObject", bucket_object("raw", f"data-capture/{ENDPOINT}/x.jsonl"), False),
])
def test_the_imported_monitoring_role_gets_the_app_bucket_prefixes(monitored, action, resource, allowed):
    stack, _, found = monitored
    assert permitted(statements(stack, found, roles=["team-monitoring"]), action, resource) is allowed


def test_the_baseline_check_reads_only_the_baselines_folder_of_the_app_bucket(monitored):
    stack, monitor, found = monitored
    policy_id = stack.resolve(monitor.baseline_check.role.policy.node.default_child.logical_id)
    policy = Resolver(stack, None, ENV)(found[policy_id]["Properties"]["PolicyDocument"])
    assert permitted(policy, "s3:GetObject", bucket_object("artifacts", "churn/monitoring/baselines/constraints.json"))
    assert not permitted(policy, "s3:GetObject", bucket_object("artifacts", "churn/model.tar.gz"))


# --- grants --------------------------------------------------------------------------------------


def test_grant_read_reports_lets_a_reader_read_this_endpoints_reports_only():
    stack, have = app_stack()
    monitor = model_monitor(stack, have, settings=MINIMAL)
    reader = iam.Role(stack, "Reader", assumed_by=iam.AccountRootPrincipal())
    grant = monitor.grant_read_reports(reader)
    assert isinstance(grant, iam.Grant) and grant.success
    found = Template.from_stack(stack).to_json()["Resources"]
    policy = statements(stack, found, roles=[{"Ref": stack.resolve(reader.node.default_child.logical_id)}])
    report = bucket_object("artifacts", f"churn/reports/{ENDPOINT}/data-quality/2024/01/01/00/constraint_violations.json")
    assert permitted(policy, "s3:GetObject", report)
    assert permitted(policy, "kms:Decrypt", KEY_ARN, {"kms:ViaService": "s3.eu-west-1.amazonaws.com"})
    assert permitted(policy, "s3:ListBucket", "arn:aws:s3:::app-artifacts", {"s3:prefix": f"churn/reports/{ENDPOINT}/"})
    assert not permitted(policy, "s3:PutObject", report)
    assert not permitted(policy, "s3:GetObject", bucket_object("artifacts", "churn/reports/other/x.json"))
    assert not permitted(policy, "s3:GetObject", bucket_object("artifacts", "churn/monitoring/baselines/statistics.json"))


# --- metrics -------------------------------------------------------------------------------------


def test_metric_feature_drift_names_the_data_quality_metric_and_its_dimensions(monitored):
    stack, monitor, _ = monitored
    metric = monitor.metric_feature_drift("amount")
    assert (metric.namespace, metric.metric_name, metric.statistic) == (
        "aws/sagemaker/Endpoints/data-metrics", "feature_baseline_drift_amount", DEFAULT_METRIC_STATISTIC)
    assert metric.dimensions == {"Endpoint": ENDPOINT, "MonitoringSchedule": f"{ENDPOINT}-data-quality"}
    assert metric.period.to_hours() == 1  # the hourly schedule's interval
    custom = monitor.metric_feature_drift("amount", statistic="Maximum", period=Duration.days(1))
    assert (custom.statistic, custom.period.to_hours()) == ("Maximum", 24)


def test_metric_model_quality_names_the_model_quality_metric_and_its_dimensions(monitored):
    _, monitor, _ = monitored
    metric = monitor.metric_model_quality("auc")
    assert (metric.namespace, metric.metric_name) == ("aws/sagemaker/Endpoints/model-metrics", "auc")
    assert metric.dimensions == {"Endpoint": ENDPOINT, "MonitoringSchedule": f"{ENDPOINT}-model-quality"}
    assert metric.period.to_hours() == 6  # every 6 hours


def test_metric_methods_create_no_resources():
    stack, have = app_stack()
    monitor = model_monitor(stack, have)
    before = Template.from_stack(stack).to_json()["Resources"]
    monitor.metric_feature_drift("age").create_alarm(Stack(App(), "Other", env=ENV), "Alarm", threshold=1,
                                                     evaluation_periods=1)
    monitor.metric_model_quality("f1")
    assert Template.from_stack(stack).to_json()["Resources"] == before


def test_metrics_of_a_type_the_settings_do_not_enable_are_refused_in_one_line():
    stack, have = app_stack()
    monitor = model_monitor(stack, have, settings=MINIMAL)
    with pytest.raises(ValueError, match=r"^ModelMonitor Monitoring/Churn: metric_model_quality needs model_quality, "
                                         r"which the settings do not enable$"):
        monitor.metric_model_quality("auc")
    with pytest.raises(ValueError, match=r"^ModelMonitor Monitoring/Churn: metric_feature_drift: feature 'a b' is not a "
                                         r"metric name; allowed: 1-200 letters, digits, '_', '.', '-'$"):
        monitor.metric_feature_drift("a b")


# --- the feedback loop and the retrain gate ------------------------------------------------------


@pytest.fixture(scope="module")
def feedback():
    stack, have = app_stack()
    loop = FeedbackLoop(stack, "Feedback", endpoint_name=ENDPOINT, model="churn", capture=CAPTURE,
                        feedback=LakeDataset(Zone.CURATED, "churn/feedback/", "training-csv", DAILY),
                        settings=FeedbackSettings.model_validate({"labels": {"zone": "raw", "prefix": "labels/t-churn/"}}),
                        lake=have["lake"], network=have["network"], key=have["key"], alerts=have["alerts"])
    analyst, exporter = (iam.Role(stack, name, assumed_by=iam.AccountRootPrincipal()) for name in ("Analyst", "Exporter"))
    grants = loop.grant_read_ground_truth(analyst), loop.grant_write_labels(exporter)
    found = Template.from_stack(stack).to_json()["Resources"]

    def policy(role):
        return statements(stack, found, roles=[{"Ref": stack.resolve(role.node.default_child.logical_id)}])

    return {"found": found, "grants": grants, "analyst": policy(analyst), "exporter": policy(exporter)}


def test_feedback_loop_over_the_app_resources_creates_nothing_of_lake_or_network(feedback):
    found = feedback["found"]
    assert not [r for r in found.values() if r["Type"] in NOT_CREATED]
    [function] = of_type(found, "AWS::Lambda::Function")
    assert function["VpcConfig"] == {"SecurityGroupIds": ["sg-0123"], "SubnetIds": SUBNETS}
    [rule] = of_type(found, "AWS::Events::Rule")
    assert "DeadLetterConfig" in rule["Targets"][0]  # the app's alert routes dead-letter the schedule


def test_grant_read_ground_truth_lets_a_reader_read_the_ground_truth_only(feedback):
    policy = feedback["analyst"]
    assert all(isinstance(g, iam.Grant) and g.success for g in feedback["grants"])
    assert permitted(policy, "s3:GetObject", bucket_object("curated", f"churn/ground-truth/{ENDPOINT}/2024/01/01/00/l.jsonl"))
    assert not permitted(policy, "s3:PutObject", bucket_object("curated", f"churn/ground-truth/{ENDPOINT}/x.jsonl"))
    assert not permitted(policy, "s3:GetObject", bucket_object("curated", "churn/feedback/year=2024/x.csv"))


def test_grant_write_labels_lets_an_exporter_land_labels_only(feedback):
    policy = feedback["exporter"]
    assert permitted(policy, "s3:PutObject", bucket_object("raw", f"labels/{ENDPOINT}/2024-01-01.jsonl"))
    assert not permitted(policy, "s3:DeleteObject", bucket_object("raw", f"labels/{ENDPOINT}/2024-01-01.jsonl"))
    assert not permitted(policy, "s3:GetObject", bucket_object("raw", f"labels/{ENDPOINT}/2024-01-01.jsonl"))
    assert not permitted(policy, "s3:PutObject", bucket_object("raw", f"data-capture/{ENDPOINT}/x.jsonl"))


def test_the_retrain_gate_refuses_an_app_network_that_does_not_reach_sagemaker():
    stack, have = app_stack(interface_endpoints=["sts"])
    with pytest.raises(ValueError, match=r"^RetrainGate Monitoring/Gate: the network has no sagemaker_api interface "
                                         r"endpoint"):
        RetrainGate(stack, "Gate", pipeline_name="p", cooldown_hours=1, network=have["network"], key=have["key"],
                    description="d")
    stack, have = app_stack(interface_endpoints=["sagemaker_api"])
    gate = RetrainGate(stack, "Gate", pipeline_name="p", cooldown_hours=1, network=have["network"], key=have["key"],
                       description="d")
    [function] = of_type(Template.from_stack(stack).to_json()["Resources"], "AWS::Lambda::Function")
    assert function["VpcConfig"]["SubnetIds"] == SUBNETS and gate.function is not None
    assert json.dumps(function).count(LOGS_KEY_ARN) == 1  # the environment, encrypted with the app's key
