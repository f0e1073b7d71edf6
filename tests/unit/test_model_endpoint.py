"""ModelEndpoint: model, endpoint config, guardrails, rollback alarms, autoscaling; its settings' rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Template


from ml_platform.constructs.lake.data_lake import DataLake
from ml_platform.constructs.serving.endpoint_settings import (
    BURSTABLE,
    EndpointSettings,
    instance_types,
)
from ml_platform.constructs.training.ml_network import MlNetwork, NetworkSettings
from ml_platform.constructs.serving.model_endpoint import ModelEndpoint
from ml_platform.constructs.serving.serving_model import ModelSource
from ml_platform.constructs.core.alerting import AlertPath, AlertRoutes
from ml_platform.constructs.training.sagemaker_roles import RoleSettings, SageMakerRoles
from tests.conftest import assert_gates_pass, synth_gated

ENV = {"account": "111111111111", "region": "eu-west-1"}
PACKAGE = "arn:aws:sagemaker:eu-west-1:111111111111:model-package/t-churn/3"
BASE = {"instance_type": "ml.m5.large"}
SCALED = {**BASE, "initial_instance_count": 2,
          "autoscaling": {"min_capacity": 2, "max_capacity": 6, "max_rps_per_instance": 10, "safety_factor": 0.7}}


def serving_parts(scope):
    """A lake stack and a serving stack with a network, an inference role and an alert topic."""
    lake = DataLake(Stack(scope, "Lake", env=ENV), "Lake")
    stack = Stack(scope, "Serving", env=ENV)
    network = MlNetwork(stack, "Net", settings=NetworkSettings(az_count=2, interface_endpoints=[]))
    roles = SageMakerRoles(stack, "Roles", lake=lake, settings={"inference": RoleSettings()}, network=network)
    path = AlertPath(stack, "AlertPath")
    alerts = AlertRoutes(stack, "Alerts", topic=path.topic, key=path.key)
    return stack, {"role": roles.role("inference"), "lake": lake, "network": network, "alerts": alerts}


def build(scope, package=PACKAGE, *, model=None, challenger_models=None, **settings):
    stack, parts = serving_parts(scope)
    endpoint = ModelEndpoint(stack, "Churn", name="t-churn", model=model or ModelSource.package(package),
                             challenger_models=challenger_models, settings=EndpointSettings.model_validate(settings),
                             **parts)
    return stack, endpoint, parts["alerts"]


def resources(stack) -> dict[str, dict]:
    return Template.from_stack(stack).to_json()["Resources"]


def of_type(found: dict, kind: str) -> list[dict]:
    return [r for r in found.values() if r["Type"] == kind]


def logical_id(stack, cfn) -> str:
    return stack.resolve(cfn.logical_id)


@pytest.fixture(scope="module")
def default():
    stack, endpoint, alerts = build(App(), **BASE)
    return stack, endpoint, alerts, resources(stack)


@pytest.fixture(scope="module")
def scaled():
    stack, endpoint, _ = build(App(), **SCALED)
    return stack, endpoint, resources(stack)


def test_model_serves_the_package_isolated_in_the_platform_vpc(default):
    stack, endpoint, _, found = default
    [model] = of_type(found, "AWS::SageMaker::Model")
    props = model["Properties"]
    assert props["Containers"] == [{"ModelPackageName": PACKAGE}]
    assert props["EnableNetworkIsolation"] is True
    assert props["VpcConfig"]["Subnets"] == [stack.resolve(s.subnet_id) for s in endpoint_network(endpoint)]
    assert "ModelName" not in props
    roles = [k for k, r in found.items() if r["Type"] == "AWS::IAM::Role" and "Inference" in k]
    assert props["ExecutionRoleArn"] == {"Fn::GetAtt": [roles[0], "Arn"]}


def endpoint_network(endpoint):
    return endpoint.node.scope.node.find_child("Net").vpc.isolated_subnets


def test_config_has_no_fixed_name_one_variant_lake_key_and_full_capture(default):
    stack, endpoint, _, found = default
    [config] = of_type(found, "AWS::SageMaker::EndpointConfig")
    props = config["Properties"]
    assert "EndpointConfigName" not in props  # replaced on every change
    assert props["ProductionVariants"] == [{
        "VariantName": "AllTraffic", "InstanceType": "ml.m5.large", "InitialInstanceCount": 2,
        "InitialVariantWeight": 1, "ModelName": {"Fn::GetAtt": [logical_id(stack, endpoint.model), "ModelName"]}}]
    capture = props["DataCaptureConfig"]
    assert capture["EnableCapture"] is True and capture["InitialSamplingPercentage"] == 100
    assert capture["CaptureOptions"] == [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]
    # SageMaker appends <endpoint>/<variant>/yyyy/mm/dd/hh/: the destination is the capture root,
    # and the hand-off names where the files land.
    assert json.dumps(capture["DestinationS3Uri"]).endswith('"/data-capture/"]]}')
    assert (endpoint.capture.zone.value, endpoint.capture.prefix) == ("raw", "data-capture/t-churn/")
    assert endpoint.capture.partitioning == ("variant", "yyyy", "mm", "dd", "hh")
    assert "LakeRawBucket" in json.dumps(capture["DestinationS3Uri"])
    assert "LakeKey" in json.dumps(props["KmsKeyId"]) and capture["KmsKeyId"] == props["KmsKeyId"]


def test_inference_role_may_write_only_the_capture_prefix(default):
    _, _, _, found = default
    policies = [p for k, p in found.items() if p["Type"] == "AWS::IAM::ManagedPolicy" and "Inference" in k]
    puts = [s for p in policies for s in p["Properties"]["PolicyDocument"]["Statement"]
            if "s3:PutObject" in json.dumps(s["Action"])]
    assert puts and all(json.dumps(s["Resource"]).count("/data-capture/t-churn/*") for s in puts)


def test_endpoint_defaults_canary_of_ten_percent_rolling_back_on_its_alarms(default):
    stack, endpoint, alerts, found = default
    [resource] = of_type(found, "AWS::SageMaker::Endpoint")
    props = resource["Properties"]
    assert props["EndpointName"] == "t-churn" and props["RetainAllVariantProperties"] is False
    assert props["EndpointConfigName"] == {"Fn::GetAtt": [logical_id(stack, endpoint.config), "EndpointConfigName"]}
    policy = props["DeploymentConfig"]["BlueGreenUpdatePolicy"]
    assert policy == {"TerminationWaitInSeconds": 600, "TrafficRoutingConfiguration": {
        "Type": "CANARY", "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10}, "WaitIntervalInSeconds": 300}}
    alarms = {k: r["Properties"] for k, r in found.items() if r["Type"] == "AWS::CloudWatch::Alarm"
              and r["Properties"]["Namespace"] == "AWS/SageMaker"}
    assert props["DeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"] == [
        {"AlarmName": {"Ref": k}} for k in alarms]
    by_metric = {a["MetricName"]: a for a in alarms.values()}
    assert set(by_metric) == {"Invocation5XXErrors", "ModelLatency"}
    errors, latency = by_metric["Invocation5XXErrors"], by_metric["ModelLatency"]
    assert (errors["Statistic"], errors["Threshold"], errors["Period"]) == ("Sum", 5, 60)
    assert (latency["ExtendedStatistic"], latency["Threshold"]) == ("p99", 1_000_000)  # microseconds
    topic = {"Ref": logical_id(stack, alerts.topic.node.default_child)}
    for alarm in alarms.values():
        assert alarm["Dimensions"] == [{"Name": "EndpointName", "Value": "t-churn"},
                                       {"Name": "VariantName", "Value": "AllTraffic"}]
        assert alarm["AlarmActions"] == [topic] and alarm["OKActions"] == [topic]
        assert alarm["TreatMissingData"] == "notBreaching"
    assert not of_type(found, "AWS::ApplicationAutoScaling::ScalableTarget")


def test_autoscaling_tracks_the_documented_target_and_keeps_the_scaled_count(scaled):
    stack, endpoint, found = scaled
    [target] = of_type(found, "AWS::ApplicationAutoScaling::ScalableTarget")
    props = target["Properties"]
    assert (props["MinCapacity"], props["MaxCapacity"]) == (2, 6)
    assert props["ResourceId"] == "endpoint/t-churn/variant/AllTraffic"
    assert props["ScalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
    assert json.dumps(props["RoleARN"]).endswith(
        ':iam::111111111111:role/aws-service-role/sagemaker.application-autoscaling.amazonaws.com/'
        'AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"]]}')
    assert logical_id(stack, endpoint.endpoint) in target["DependsOn"]
    [policy] = of_type(found, "AWS::ApplicationAutoScaling::ScalingPolicy")
    tracking = policy["Properties"]["TargetTrackingScalingPolicyConfiguration"]
    assert tracking == {"PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
                        "TargetValue": 420,  # 10 requests/s x 0.7 x 60 s
                        "ScaleInCooldown": 300, "ScaleOutCooldown": 60}
    [resource] = of_type(found, "AWS::SageMaker::Endpoint")
    assert resource["Properties"]["RetainAllVariantProperties"] is True
    [config] = of_type(found, "AWS::SageMaker::EndpointConfig")
    assert config["Properties"]["ProductionVariants"][0]["InitialInstanceCount"] == 2


def test_options_linear_traffic_partial_capture_thresholds_and_no_isolation():
    stack, _, _ = build(App(), **BASE, network_isolation=False,
                        guardrails={"traffic": "linear", "step_percent": 25, "wait_seconds": 600,
                                    "termination_wait_seconds": 0, "max_5xx_errors_per_minute": 0,
                                    "max_p99_latency_ms": 250},
                        data_capture={"sampling_percent": 20, "capture": ["output"], "prefix": "capture/"})
    found = resources(stack)
    props = of_type(found, "AWS::SageMaker::Endpoint")[0]["Properties"]
    assert props["DeploymentConfig"]["BlueGreenUpdatePolicy"] == {"TerminationWaitInSeconds": 0, "TrafficRoutingConfiguration": {
        "Type": "LINEAR", "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 25}, "WaitIntervalInSeconds": 600}}
    thresholds = sorted(a["Properties"]["Threshold"] for a in of_type(found, "AWS::CloudWatch::Alarm")
                        if a["Properties"]["Namespace"] == "AWS/SageMaker")
    assert thresholds == [0, 250_000]
    capture = of_type(found, "AWS::SageMaker::EndpointConfig")[0]["Properties"]["DataCaptureConfig"]
    assert capture["InitialSamplingPercentage"] == 20 and capture["CaptureOptions"] == [{"CaptureMode": "Output"}]
    assert json.dumps(capture["DestinationS3Uri"]).endswith('"/capture/"]]}')  # SageMaker adds <endpoint>/
    assert of_type(found, "AWS::SageMaker::Model")[0]["Properties"]["EnableNetworkIsolation"] is False


def test_all_at_once_and_no_capture():
    stack, _, _ = build(App(), **BASE, guardrails={"traffic": "all_at_once"}, data_capture=None)
    found = resources(stack)
    routing = of_type(found, "AWS::SageMaker::Endpoint")[0]["Properties"]["DeploymentConfig"]["BlueGreenUpdatePolicy"]
    assert routing["TrafficRoutingConfiguration"] == {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 300}
    assert "DataCaptureConfig" not in of_type(found, "AWS::SageMaker::EndpointConfig")[0]["Properties"]


def test_grant_invoke_and_metrics(default):
    stack, endpoint, _, _ = default
    user = iam.Role(stack, "Client", assumed_by=iam.AccountRootPrincipal())
    endpoint.grant_invoke(user)
    [statement] = stack.resolve(user.node.find_child("DefaultPolicy").document)["Statement"]
    assert statement["Action"] == ["sagemaker:InvokeEndpoint", "sagemaker:InvokeEndpointWithResponseStream"]
    assert statement["Resource"]["Fn::Join"][1][-1] == ":sagemaker:eu-west-1:111111111111:endpoint/t-churn"
    assert endpoint.metric_invocations().metric_name == "Invocations"
    assert endpoint.metric_model_latency("p50").statistic == "p50"


@pytest.mark.parametrize(("changes", "message"), [
    ({"instance_type": "ml.m5.huge"}, "instance type 'ml.m5.huge' is not offered by SageMaker for endpoints; e.g. ml.m5.large"),
    ({"instance_type": "m5.large"}, "is not offered by SageMaker for endpoints"),
    ({"initial_instance_count": 1, "autoscaling": None}, "canary traffic needs a fleet of at least 2 instances"),
    ({"autoscaling": {"min_capacity": 1, "max_capacity": 3, "max_rps_per_instance": 5}, "guardrails": {"traffic": "linear", "step_percent": 50}},
     "linear traffic needs a fleet of at least 2 instances"),
    ({"initial_instance_count": 1}, "initial_instance_count 1 must lie between autoscaling min_capacity 2 and max_capacity 6"),
    ({"initial_instance_count": 7}, "initial_instance_count 7 must lie between"),
    ({"instance_type": "ml.t2.medium"}, "instance_type 'ml.t2.medium' is burstable"),
    ({"guardrails": {"step_percent": 60}}, "less than or equal to 50"),
    ({"guardrails": {"traffic": "linear", "step_percent": 5}}, "step_percent 5 is too small for linear traffic; allowed: 10-50"),
    ({"guardrails": {"wait_seconds": 3601}}, "less than or equal to 3600"),
    ({"data_capture": {"sampling_percent": 0}}, "greater than or equal to 1"),
    ({"data_capture": {"capture": []}}, "at least 1 item"),
    ({"data_capture": {"prefix": "capture"}}, "prefix 'capture' is invalid"),
    ({"autoscaling": {"max_rps_per_instance": 10, "safety_factor": 1.5}}, "less than or equal to 1"),
    ({"autoscaling": {"max_rps_per_instance": 0}}, "greater than 0"),
    ({"autoscaling": {"max_rps_per_instance": 5, "min_capacity": 3, "max_capacity": 2}}, "min_capacity 3 exceeds max_capacity 2"),
    ({"autoscaling": {**SCALED["autoscaling"], "schedules": [{"schedule": "cron(0 7 ? * MON-FRI *)"}]}},
     "give min_capacity, max_capacity or both"),
    ({"autoscaling": {**SCALED["autoscaling"], "schedules": [{"schedule": "cron(0 7 ? * MON-FRI *)", "min_capacity": 5, "max_capacity": 4}]}},
     "min_capacity 5 exceeds max_capacity 4"),
    ({"autoscaling": {**SCALED["autoscaling"], "schedules": [{"schedule": "0 7 * * 1-5", "min_capacity": 3}]}},
     "schedule '0 7 \\* \\* 1-5' must look like cron"),
    ({"autoscaling": {**SCALED["autoscaling"], "time_zone": "Berlin"}}, "time zone 'Berlin' is unknown; use an IANA name"),
])
def test_settings_errors(changes, message):
    with pytest.raises(ValueError, match=message):
        EndpointSettings.model_validate({**SCALED, **changes})


def test_burstable_means_ml_t_families_only():
    assert all(t in instance_types() for t in ("ml.t2.medium", "ml.trn1.2xlarge", "ml.g5.xlarge"))
    assert BURSTABLE.match("ml.t3.large") and not BURSTABLE.match("ml.trn1.2xlarge")
    EndpointSettings.model_validate({**SCALED, "instance_type": "ml.trn1.2xlarge"})  # not burstable
    EndpointSettings.model_validate({**BASE, "instance_type": "ml.t2.medium"})  # fine without autoscaling
    EndpointSettings.model_validate({**BASE, "initial_instance_count": 1, "guardrails": {"traffic": "all_at_once"}})


def test_construct_rejects_an_invalid_name_and_package_arn():
    app = App()
    lake = DataLake(Stack(app, "Lake", env=ENV), "Lake")
    stack = Stack(app, "Serving", env=ENV)
    group = "arn:aws:sagemaker:eu-west-1:111111111111:model-package-group/t-churn"
    with pytest.raises(ValueError) as caught:
        ModelEndpoint(stack, "Churn", name="churn_v2", model=ModelSource.package(group), settings=EndpointSettings.model_validate(BASE),
                      role=iam.Role(stack, "R", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com")),
                      lake=lake, network=MlNetwork(stack, "Net", settings=NetworkSettings(az_count=2)),
                      alerts=AlertRoutes(stack, "Alerts", topic=(p := AlertPath(stack, "P")).topic, key=p.key))
    assert str(caught.value) == (
        "ModelEndpoint Serving/Churn: name 'churn_v2' is invalid; use letters, digits and '-', 63 characters at most; "
        f"model_package_arn '{group}' is not the ARN of a model package version "
        "(arn:aws:sagemaker:<region>:<account>:model-package/<group>/<version>)")


@pytest.fixture(scope="module")
def gated(tmp_path_factory) -> Path:
    """An autoscaled endpoint in a stage, synthesized with the platform's nag packs."""
    return synth_gated(tmp_path_factory.mktemp("endpoint"), lambda stage: build(stage, **SCALED))


def test_endpoint_passes_the_nag_packs_cfn_lint_and_checkov(gated):
    assert len(list(gated.glob("assembly-Test/*.template.json"))) == 2
    assert_gates_pass(gated)


def test_scheduled_bounds_in_a_time_zone(scaled):
    scaling = {**SCALED["autoscaling"], "time_zone": "Europe/Berlin", "schedules": [
        {"schedule": "cron(0 7 ? * MON-FRI *)", "min_capacity": 4},
        {"schedule": "cron(0 19 ? * MON-FRI *)", "min_capacity": 2, "max_capacity": 6}]}
    stack, _, _ = build(App(), **{**SCALED, "autoscaling": scaling})
    [target] = of_type(resources(stack), "AWS::ApplicationAutoScaling::ScalableTarget")
    actions = sorted(target["Properties"]["ScheduledActions"], key=lambda a: a["Schedule"])
    assert [(a["Schedule"], a["ScalableTargetAction"], a["Timezone"]) for a in actions] == [
        ("cron(0 19 ? * MON-FRI *)", {"MinCapacity": 2, "MaxCapacity": 6}, "Europe/Berlin"),
        ("cron(0 7 ? * MON-FRI *)", {"MinCapacity": 4}, "Europe/Berlin")]
    assert "ScheduledActions" not in of_type(scaled[2], "AWS::ApplicationAutoScaling::ScalableTarget")[0]["Properties"]


def test_health_alarms_notify_without_rolling_back_and_the_dashboard_shows_everything(default):
    stack, _, alerts, found = default
    health = [r["Properties"] for r in of_type(found, "AWS::CloudWatch::Alarm")
              if r["Properties"]["Namespace"] == "/aws/sagemaker/Endpoints"]
    assert sorted(a["MetricName"] for a in health) == ["DiskUtilization", "MemoryUtilization"]
    topic = {"Ref": logical_id(stack, alerts.topic.node.default_child)}
    assert all(a["Threshold"] == 90 and a["EvaluationPeriods"] == 3 and a["AlarmActions"] == [topic] for a in health)
    rollback = of_type(found, "AWS::SageMaker::Endpoint")[0]["Properties"]["DeploymentConfig"]["AutoRollbackConfiguration"]
    assert len(rollback["Alarms"]) == 2  # the health alarms do not roll deployments back
    [dashboard] = of_type(found, "AWS::CloudWatch::Dashboard")
    assert dashboard["Properties"]["DashboardName"] == "t-churn"
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for metric in ("Invocations", "Invocation5XXErrors", "Invocation4XXErrors", "ModelLatency", "CPUUtilization",
                   "MemoryUtilization", "DiskUtilization"):
        assert metric in body, metric
    assert "p50" in body and "p90" in body and "p99" in body and "GPUUtilization" not in body


def test_gpu_instances_add_gpu_metrics_to_the_dashboard():
    stack, _, _ = build(App(), **{**BASE, "instance_type": "ml.g5.xlarge"})
    [dashboard] = of_type(resources(stack), "AWS::CloudWatch::Dashboard")
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    assert "GPUUtilization" in body and "GPUMemoryUtilization" in body


def test_environment_variables_reach_the_container_and_bad_names_are_refused():
    stack, _, _ = build(App(), **BASE, environment={"SAGEMAKER_MODEL_SERVER_WORKERS": "2", "LOG_LEVEL": "info"})
    [model] = of_type(resources(stack), "AWS::SageMaker::Model")
    assert model["Properties"]["Containers"] == [{"ModelPackageName": PACKAGE, "Environment": {
        "SAGEMAKER_MODEL_SERVER_WORKERS": "2", "LOG_LEVEL": "info"}}]
    with pytest.raises(ValueError, match="should match pattern"):
        EndpointSettings.model_validate({**BASE, "environment": {"2FAST": "x"}})
    with pytest.raises(ValueError, match="at most 1024 characters"):
        EndpointSettings.model_validate({**BASE, "environment": {"X": "y" * 1025}})


def test_cooldowns_are_passed_to_target_tracking():
    scaling = {**SCALED["autoscaling"], "scale_in_cooldown_seconds": 900, "scale_out_cooldown_seconds": 30}
    stack, _, _ = build(App(), **{**SCALED, "autoscaling": scaling})
    [policy] = of_type(resources(stack), "AWS::ApplicationAutoScaling::ScalingPolicy")
    tracking = policy["Properties"]["TargetTrackingScalingPolicyConfiguration"]
    assert (tracking["ScaleInCooldown"], tracking["ScaleOutCooldown"]) == (900, 30)
