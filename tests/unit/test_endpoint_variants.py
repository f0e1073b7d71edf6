"""ModelEndpoint beyond one real-time variant: serverless, asynchronous, A/B challengers, containers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk import App
from aws_cdk import aws_iam as iam


from ml_platform.constructs.serving.endpoint_settings import EndpointSettings
from ml_platform.constructs.serving.model_endpoint import ModelEndpoint
from ml_platform.constructs.serving.serving_model import ModelContainer, ModelSource
from tests.conftest import assert_gates_pass, synth_gated
from tests.unit.test_model_endpoint import BASE, PACKAGE, build, logical_id, of_type, resources, serving_parts

SERVERLESS = {"serverless": {"memory_mb": 2048, "max_concurrency": 20, "provisioned_concurrency": 2,
                             "provisioned_scaling": {"min_capacity": 1, "max_capacity": 10, "target_utilization": 0.6}}}
ASYNC = {**BASE, "initial_instance_count": 1, "guardrails": {"traffic": "all_at_once"},
         "async_inference": {"input": {"zone": "curated", "prefix": "churn/requests/"},
                             "output": {"zone": "curated", "prefix": "churn/responses/"},
                             "max_concurrent_invocations_per_instance": 4,
                             "scaling": {"max_capacity": 3, "backlog_per_instance": 8}}}
CHALLENGER = "arn:aws:sagemaker:eu-west-1:111111111111:model-package/t-churn/4"
AB = {**BASE, "variant_name": "champion", "weight": 9,
      "autoscaling": {"min_capacity": 2, "max_capacity": 4, "max_rps_per_instance": 10},
      "challengers": {"challenger": {"weight": 1, "instance_type": "ml.c5.large",
                                     "autoscaling": {"min_capacity": 2, "max_capacity": 3, "max_rps_per_instance": 20}}}}


def challenger_models():
    return {"challenger": ModelSource.package(CHALLENGER)}


@pytest.fixture(scope="module")
def serverless():
    stack, endpoint, _ = build(App(), **SERVERLESS)
    return stack, endpoint, resources(stack)


@pytest.fixture(scope="module")
def asynchronous():
    stack, endpoint, alerts = build(App(), **ASYNC)
    return stack, endpoint, alerts, resources(stack)


@pytest.fixture(scope="module")
def ab():
    stack, endpoint, _ = build(App(), challenger_models=challenger_models(), **AB)
    return stack, endpoint, resources(stack)


# -- serverless ------------------------------------------------------------------------------


def test_serverless_variant_runs_outside_the_vpc_without_capture(serverless):
    stack, endpoint, found = serverless
    [config] = of_type(found, "AWS::SageMaker::EndpointConfig")
    assert config["Properties"]["ProductionVariants"] == [{
        "VariantName": "AllTraffic", "InitialVariantWeight": 1,
        "ModelName": {"Fn::GetAtt": [logical_id(stack, endpoint.model), "ModelName"]},
        "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 20, "ProvisionedConcurrency": 2}}]
    assert "DataCaptureConfig" not in config["Properties"] and "KmsKeyId" in config["Properties"]
    [model] = of_type(found, "AWS::SageMaker::Model")
    assert "VpcConfig" not in model["Properties"] and model["Properties"]["EnableNetworkIsolation"] is False
    assert [s["id"] for s in model["Metadata"]["checkov"]["skip"]] == ["CKV_AWS_370"]


def test_serverless_provisioned_concurrency_tracks_its_utilization(serverless):
    _, _, found = serverless
    [target] = of_type(found, "AWS::ApplicationAutoScaling::ScalableTarget")
    props = target["Properties"]
    assert props["ScalableDimension"] == "sagemaker:variant:DesiredProvisionedConcurrency"
    assert (props["MinCapacity"], props["MaxCapacity"]) == (1, 10)
    [policy] = of_type(found, "AWS::ApplicationAutoScaling::ScalingPolicy")
    assert policy["Properties"]["TargetTrackingScalingPolicyConfiguration"] == {
        "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantProvisionedConcurrencyUtilization"},
        "TargetValue": 0.6}
    [endpoint] = of_type(found, "AWS::SageMaker::Endpoint")
    assert endpoint["Properties"]["RetainAllVariantProperties"] is True
    assert "DeploymentConfig" not in endpoint["Properties"]  # SageMaker has no guardrails for serverless


def test_serverless_has_no_instance_alarms_shows_cold_starts_and_grants_sync_invoke_only(serverless):
    stack, endpoint, found = serverless
    namespaces = sorted(a["Properties"]["Namespace"] for a in of_type(found, "AWS::CloudWatch::Alarm"))
    assert namespaces == ["AWS/SageMaker", "AWS/SageMaker"]  # errors and latency, which only notify here
    assert all("rolls back" not in a["Properties"]["AlarmDescription"] for a in of_type(found, "AWS::CloudWatch::Alarm"))
    body = json.dumps(of_type(found, "AWS::CloudWatch::Dashboard")[0]["Properties"]["DashboardBody"])
    assert "ModelSetupTime" in body and "CPUUtilization" not in body
    client = iam.Role(stack, "Client", assumed_by=iam.AccountRootPrincipal())
    endpoint.grant_invoke(client)
    [statement] = stack.resolve(client.node.find_child("DefaultPolicy").document)["Statement"]
    assert statement["Action"] == "sagemaker:InvokeEndpoint"


def test_serverless_without_provisioned_concurrency_has_no_scaling():
    stack, _, _ = build(App(), serverless={"memory_mb": 1024})
    found = resources(stack)
    [config] = of_type(found, "AWS::SageMaker::EndpointConfig")
    assert config["Properties"]["ProductionVariants"][0]["ServerlessConfig"] == {"MemorySizeInMB": 1024, "MaxConcurrency": 5}
    assert not of_type(found, "AWS::ApplicationAutoScaling::ScalableTarget")
    assert of_type(found, "AWS::SageMaker::Endpoint")[0]["Properties"]["RetainAllVariantProperties"] is False


# -- asynchronous ----------------------------------------------------------------------------


def test_async_writes_results_and_failures_to_the_lake_and_notifies_its_topic(asynchronous):
    stack, endpoint, alerts, found = asynchronous
    [config] = of_type(found, "AWS::SageMaker::EndpointConfig")
    settings = config["Properties"]["AsyncInferenceConfig"]
    assert settings["ClientConfig"] == {"MaxConcurrentInvocationsPerInstance": 4}
    output = settings["OutputConfig"]
    assert json.dumps(output["S3OutputPath"]).endswith('"/churn/responses/"]]}')
    assert json.dumps(output["S3FailurePath"]).endswith('"/churn/responses/failures/"]]}')
    assert "LakeCuratedBucket" in json.dumps(output["S3OutputPath"])
    assert output["KmsKeyId"] == config["Properties"]["KmsKeyId"]
    topic = {"Ref": logical_id(stack, endpoint.results_topic.node.default_child)}
    assert output["NotificationConfig"] == {"SuccessTopic": topic, "ErrorTopic": topic}
    [sns_topic] = [r for k, r in found.items() if r["Type"] == "AWS::SNS::Topic" and k == topic["Ref"]]
    assert sns_topic["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [logical_id(stack, alerts.key.node.default_child), "Arn"]}


def test_async_role_reads_requests_writes_responses_and_may_publish_only_its_topic(asynchronous):
    stack, endpoint, alerts, found = asynchronous
    statements = [s for k, p in found.items() if p["Type"] == "AWS::IAM::ManagedPolicy" and "Inference" in k
                  for s in p["Properties"]["PolicyDocument"]["Statement"]]
    reads = [s for s in statements if "s3:GetObject" in json.dumps(s["Action"])]
    writes = [s for s in statements if "s3:PutObject" in json.dumps(s["Action"])]
    assert any("/churn/requests/*" in json.dumps(s["Resource"]) for s in reads)
    assert any("/churn/responses/*" in json.dumps(s["Resource"]) for s in writes)
    assert not any("/churn/requests/*" in json.dumps(s["Resource"]) for s in writes)
    publish = found[logical_id(stack, endpoint.publish_policy.node.default_child)]["Properties"]
    assert publish["PolicyDocument"]["Statement"] == [
        {"Action": "sns:Publish", "Effect": "Allow",
         "Resource": {"Ref": logical_id(stack, endpoint.results_topic.node.default_child)}},
        {"Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Effect": "Allow",
         "Resource": {"Fn::GetAtt": [logical_id(stack, alerts.key.node.default_child), "Arn"]}}]
    assert len(publish["Roles"]) == 1


def test_async_scales_on_backlog_to_zero_and_wakes_on_backlog_without_capacity(asynchronous):
    stack, endpoint, _, found = asynchronous
    [target] = of_type(found, "AWS::ApplicationAutoScaling::ScalableTarget")
    assert (target["Properties"]["MinCapacity"], target["Properties"]["MaxCapacity"]) == (0, 3)
    policies = {p["Properties"]["PolicyType"]: p["Properties"] for p in of_type(found, "AWS::ApplicationAutoScaling::ScalingPolicy")}
    tracking = policies["TargetTrackingScaling"]["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["CustomizedMetricSpecification"] == {
        "MetricName": "ApproximateBacklogSizePerInstance", "Namespace": "AWS/SageMaker", "Statistic": "Average",
        "Dimensions": [{"Name": "EndpointName", "Value": "t-churn"}]}
    assert (tracking["TargetValue"], tracking["ScaleInCooldown"], tracking["ScaleOutCooldown"]) == (8, 600, 300)
    step = policies["StepScaling"]["StepScalingPolicyConfiguration"]
    assert step["AdjustmentType"] == "ChangeInCapacity"
    assert step["StepAdjustments"] == [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}]
    wake = found[logical_id(stack, endpoint.wake_alarm.node.default_child)]["Properties"]
    assert (wake["MetricName"], wake["Threshold"], wake["ComparisonOperator"]) == (
        "HasBacklogWithoutCapacity", 1, "GreaterThanOrEqualToThreshold")
    assert wake["AlarmActions"] == [{"Ref": [k for k, p in found.items() if p["Type"] == "AWS::ApplicationAutoScaling::ScalingPolicy"
                                              and p["Properties"]["PolicyType"] == "StepScaling"][0]}]
    body = json.dumps(of_type(found, "AWS::CloudWatch::Dashboard")[0]["Properties"]["DashboardBody"])
    assert "ApproximateBacklogSize" in body


def test_async_with_a_minimum_has_no_wake_alarm_and_without_notify_no_topic():
    asynchronous = {**ASYNC["async_inference"], "notify": False, "scaling": {"min_capacity": 1, "max_capacity": 2}}
    stack, endpoint, _ = build(App(), **{**ASYNC, "async_inference": asynchronous})
    found = resources(stack)
    assert endpoint.wake_alarm is None and endpoint.results_topic is None
    assert [p["Properties"]["PolicyType"] for p in of_type(found, "AWS::ApplicationAutoScaling::ScalingPolicy")] == [
        "TargetTrackingScaling"]
    output = of_type(found, "AWS::SageMaker::EndpointConfig")[0]["Properties"]["AsyncInferenceConfig"]["OutputConfig"]
    assert "NotificationConfig" not in output


def test_async_grant_invoke_lets_a_client_submit_and_collect(asynchronous):
    stack, endpoint, _, _ = asynchronous
    client = iam.Role(stack, "Client", assumed_by=iam.AccountRootPrincipal())
    endpoint.grant_invoke(client)
    statements = stack.resolve(client.node.find_child("DefaultPolicy").document)["Statement"]
    invoke = [s for s in statements if str(s["Action"]).startswith("sagemaker")]
    assert [s["Action"] for s in invoke] == ["sagemaker:InvokeEndpointAsync"]
    text = json.dumps(statements)
    assert "/churn/requests/*" in text and "/churn/responses/*" in text
    puts = [s for s in statements if "s3:PutObject" in json.dumps(s["Action"])]
    assert puts and all("/churn/requests/*" in json.dumps(s["Resource"]) for s in puts)


# -- A/B challengers -------------------------------------------------------------------------


def test_challengers_are_weighted_variants_with_their_own_models(ab):
    stack, endpoint, found = ab
    [config] = of_type(found, "AWS::SageMaker::EndpointConfig")
    variants = config["Properties"]["ProductionVariants"]
    assert [(v["VariantName"], v["InstanceType"], v["InitialInstanceCount"], v["InitialVariantWeight"]) for v in variants] == [
        ("champion", "ml.m5.large", 2, 9), ("challenger", "ml.c5.large", 2, 1)]
    assert [v["ModelName"] for v in variants] == [
        {"Fn::GetAtt": [logical_id(stack, endpoint.models[n]), "ModelName"]} for n in ("champion", "challenger")]
    packages = sorted(m["Properties"]["Containers"][0]["ModelPackageName"] for m in of_type(found, "AWS::SageMaker::Model"))
    assert packages == [PACKAGE, CHALLENGER]


def test_each_challenger_scales_and_the_rollback_alarms_cover_every_variant(ab):
    _, endpoint, found = ab
    targets = sorted((t["Properties"]["ResourceId"], t["Properties"]["MaxCapacity"])
                     for t in of_type(found, "AWS::ApplicationAutoScaling::ScalableTarget"))
    assert targets == [("endpoint/t-churn/variant/challenger", 3), ("endpoint/t-churn/variant/champion", 4)]
    values = sorted(p["Properties"]["TargetTrackingScalingPolicyConfiguration"]["TargetValue"]
                    for p in of_type(found, "AWS::ApplicationAutoScaling::ScalingPolicy"))
    assert values == [300, 600]  # 10 x 0.5 x 60 and 20 x 0.5 x 60
    rollback = {a["Properties"]["AlarmName"]: a["Properties"] for a in of_type(found, "AWS::CloudWatch::Alarm")
                if "Metrics" in a["Properties"]}
    assert sorted(rollback) == ["t-churn-5xx-errors", "t-churn-p99-latency"]
    errors = rollback["t-churn-5xx-errors"]["Metrics"]
    assert errors[0]["Expression"] == "SUM([v0, v1])"
    assert [m["MetricStat"]["Metric"]["Dimensions"][1]["Value"] for m in errors[1:]] == ["champion", "challenger"]
    assert rollback["t-churn-p99-latency"]["Metrics"][0]["Expression"] == "MAX([v0, v1])"
    health = [a["Properties"]["Dimensions"][1]["Value"] for a in of_type(found, "AWS::CloudWatch::Alarm")
              if a["Properties"].get("Namespace") == "/aws/sagemaker/Endpoints"]
    assert sorted(health) == ["challenger", "challenger", "champion", "champion"]
    assert endpoint.metric_invocations("challenger").dimensions["VariantName"] == "challenger"


def test_challenger_models_must_match_the_settings():
    with pytest.raises(ValueError, match=(
            "ModelEndpoint Serving/Churn: challenger_models names none; settings.challengers names challenger; "
            "give one model per challenger$")):
        build(App(), **AB)
    with pytest.raises(ValueError, match="challenger_models.challenger: model_package_arn 'v4' is not the ARN"):
        build(App(), challenger_models={"challenger": ModelSource.package("v4")}, **AB)


# -- containers ------------------------------------------------------------------------------


def test_containers_make_a_serial_inference_pipeline_with_merged_environments():
    model = ModelSource.pipeline(
        ModelContainer(image_uri="111111111111.dkr.ecr.eu-west-1.amazonaws.com/features:v1",
                       environment={"STAGE": "features", "LOG_LEVEL": "debug"}),
        ModelContainer(image_uri="111111111111.dkr.ecr.eu-west-1.amazonaws.com/churn:v7",
                       model_data_url="s3://artifacts-bucket/churn/models/v7/model.tar.gz"))
    stack, _, _ = build(App(), model=model, **BASE, environment={"LOG_LEVEL": "info"})
    [resource] = of_type(resources(stack), "AWS::SageMaker::Model")
    props = resource["Properties"]
    assert props["Containers"] == [
        {"Image": "111111111111.dkr.ecr.eu-west-1.amazonaws.com/features:v1",
         "Environment": {"LOG_LEVEL": "debug", "STAGE": "features"}},
        {"Image": "111111111111.dkr.ecr.eu-west-1.amazonaws.com/churn:v7",
         "ModelDataUrl": "s3://artifacts-bucket/churn/models/v7/model.tar.gz", "Environment": {"LOG_LEVEL": "info"}}]
    assert props["InferenceExecutionConfig"] == {"Mode": "Serial"}
    assert props["EnableNetworkIsolation"] is True and "VpcConfig" in props


def test_one_container_is_not_a_pipeline():
    model = ModelSource.pipeline(ModelContainer(image_uri="111111111111.dkr.ecr.eu-west-1.amazonaws.com/churn:v7"))
    stack, _, _ = build(App(), model=model, **BASE)
    [resource] = of_type(resources(stack), "AWS::SageMaker::Model")
    assert "InferenceExecutionConfig" not in resource["Properties"]


@pytest.mark.parametrize(("source", "message"), [
    (ModelSource(), "a model needs 1-15 containers, not 0"),
    (ModelSource.pipeline(*[ModelContainer(image_uri="i")] * 16), "a model needs 1-15 containers, not 16"),
    (ModelSource.pipeline(ModelContainer(image_uri="i", model_data_url="bucket/model.tar.gz")),
     "containers\\[0\\].model_data_url 'bucket/model.tar.gz' is not s3://<bucket>/<key>"),
    (ModelSource(package_arn=PACKAGE, containers=(ModelContainer(image_uri="i"),)),
     "give a model package or containers, not both"),
])
def test_model_source_errors(source, message):
    with pytest.raises(ValueError, match=f"ModelEndpoint Serving/Churn: {message}"):
        build(App(), model=source, **BASE)


# -- settings rules --------------------------------------------------------------------------


@pytest.mark.parametrize(("settings", "message"), [
    ({"serverless": {"memory_mb": 1500}}, "memory_mb 1500 is not offered; allowed: 1024, 2048, 3072, 4096, 5120, 6144"),
    ({"serverless": {"memory_mb": 8192}}, "memory_mb 8192 is not offered"),
    ({"serverless": {"memory_mb": 1024, "max_concurrency": 201}}, "less than or equal to 200"),
    ({"serverless": {"memory_mb": 1024, "max_concurrency": 2, "provisioned_concurrency": 3}},
     "provisioned_concurrency 3 exceeds max_concurrency 2"),
    ({"serverless": {"memory_mb": 1024, "provisioned_scaling": {"max_capacity": 2}}},
     "provisioned_scaling needs provisioned_concurrency"),
    ({"serverless": {"memory_mb": 1024, "provisioned_concurrency": 4, "provisioned_scaling": {"max_capacity": 3}}},
     "provisioned_concurrency 4 must lie between provisioned_scaling min_capacity 1 and max_capacity 3"),
    ({"serverless": {"memory_mb": 1024, "max_concurrency": 5, "provisioned_concurrency": 1,
                     "provisioned_scaling": {"max_capacity": 8}}}, "provisioned_scaling max_capacity 8 exceeds max_concurrency 5"),
    ({"serverless": {"memory_mb": 1024, "provisioned_concurrency": 1,
                     "provisioned_scaling": {"max_capacity": 2, "target_utilization": 0.05}}}, "greater than or equal to 0.1"),
    ({"serverless": {"memory_mb": 1024}, **BASE}, "serverless endpoints do not support instance_type; remove it"),
    ({"serverless": {"memory_mb": 1024}, "data_capture": {}, "network_isolation": True},
     "serverless endpoints do not support data_capture, network_isolation; remove them"),
    ({"serverless": {"memory_mb": 1024}, "challengers": {"b": AB["challengers"]["challenger"]}},
     "serverless endpoints do not support challengers"),
    ({"serverless": {"memory_mb": 1024}, "guardrails": {"traffic": "all_at_once"}},
     "serverless endpoints do not support guardrails; remove it"),
    ({}, "give instance_type \\(instances\\) or serverless"),
    ({**ASYNC, "autoscaling": {"min_capacity": 1, "max_capacity": 2, "max_rps_per_instance": 5}},
     "an asynchronous endpoint scales on its backlog \\(async_inference.scaling\\); remove autoscaling"),
    ({**ASYNC, "initial_instance_count": 4}, "initial_instance_count 4 must lie between max\\(1, async_inference.scaling "
                                             "min_capacity 0\\) and max_capacity 3"),
    ({**ASYNC, "async_inference": {**ASYNC["async_inference"], "scaling": {"min_capacity": 3, "max_capacity": 2}}},
     "min_capacity 3 exceeds max_capacity 2"),
    ({**ASYNC, "async_inference": {**ASYNC["async_inference"], "max_concurrent_invocations_per_instance": 1001}},
     "less than or equal to 1000"),
    ({**ASYNC, "async_inference": {**ASYNC["async_inference"], "output": {"zone": "gold", "prefix": "x/"}}},
     "output.zone"),
    ({**ASYNC, "challengers": AB["challengers"], "initial_instance_count": 2},
     "challengers are for real-time endpoints; an asynchronous endpoint has one variant"),
    ({**ASYNC, "guardrails": {"traffic": "canary"}}, "canary traffic needs a fleet of at least 2 instances .* AllTraffic may"),
    ({**AB, "challengers": {"champion": AB["challengers"]["challenger"]}},
     "challengers: 'champion' is already the name of the first variant"),
    ({**AB, "challengers": {"b": {**AB["challengers"]["challenger"], "instance_type": "ml.t2.medium"}}},
     "challengers.b.instance_type 'ml.t2.medium' is burstable"),
    ({**AB, "challengers": {"b": {**AB["challengers"]["challenger"], "initial_instance_count": 5}}},
     "challengers.b.initial_instance_count 5 must lie between autoscaling min_capacity 2 and max_capacity 3"),
    ({**AB, "challengers": {"b": {"weight": 1, "instance_type": "ml.c5.large", "initial_instance_count": 1}}},
     "canary traffic needs .* in every variant, and b may have fewer"),
    ({**AB, "challengers": {"b": {"weight": 0, "instance_type": "ml.c5.large"}}}, "greater than 0"),
    ({**AB, "challengers": {"b_2": AB["challengers"]["challenger"]}}, "should match pattern"),
    ({**AB, "variant_name": "-x"}, "should match pattern"),
])
def test_settings_errors(settings, message):
    with pytest.raises(ValueError, match=message):
        EndpointSettings.model_validate(settings)


def test_serverless_defaults_turn_capture_and_isolation_off():
    settings = EndpointSettings.model_validate({"serverless": {"memory_mb": 3072}})
    assert settings.data_capture is None and settings.network_isolation is False
    assert settings.serverless.max_concurrency == 5 and settings.serverless.provisioned_concurrency is None
    assert EndpointSettings.model_validate(BASE).data_capture is not None  # instances keep capturing by default
    backlog = EndpointSettings.model_validate({**ASYNC, "async_inference": {**ASYNC["async_inference"], "scaling": {}}})
    scaling = backlog.async_inference.scaling
    assert (scaling.min_capacity, scaling.max_capacity, scaling.backlog_per_instance) == (0, 2, 5)
    assert backlog.async_inference.notify is True and backlog.variants == {"AllTraffic": 1}


# -- gates -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gated(tmp_path_factory) -> Path:
    """A serverless, an asynchronous (containers, scale to zero) and an A/B endpoint in a stage,
    synthesized with the platform's nag packs."""
    containers = ModelSource.pipeline(ModelContainer(
        image_uri="111111111111.dkr.ecr.eu-west-1.amazonaws.com/churn:v7",
        model_data_url="s3://artifacts-bucket/churn/models/v7/model.tar.gz"))

    def endpoints(stage):
        stack, parts = serving_parts(stage)
        for key, settings, model, challengers in (
                ("serverless", SERVERLESS, ModelSource.package(PACKAGE), None),
                ("async", ASYNC, containers, None),
                ("ab", AB, ModelSource.package(PACKAGE), challenger_models())):
            ModelEndpoint(stack, key, name=f"t-{key}", model=model, challenger_models=challengers,
                          settings=EndpointSettings.model_validate(settings), **parts)

    return synth_gated(tmp_path_factory.mktemp("variants"), endpoints)


def test_every_kind_of_endpoint_passes_the_nag_packs_cfn_lint_and_checkov(gated):
    reports = assert_gates_pass(gated)
    skipped = [c["check_id"] for r in reports for c in r["results"]["skipped_checks"]
               if c["resource"].startswith("AWS::SageMaker::Model")]
    assert skipped == ["CKV_AWS_370"]  # only the serverless model, which SageMaker cannot isolate


def test_provisioned_concurrency_bounds_change_on_a_schedule_in_its_time_zone():
    scaling = {**SERVERLESS["serverless"]["provisioned_scaling"], "time_zone": "Europe/Berlin",
               "schedules": [{"schedule": "cron(0 8 ? * MON-FRI *)", "min_capacity": 4}]}
    stack, _, _ = build(App(), serverless={**SERVERLESS["serverless"], "provisioned_scaling": scaling})
    [target] = of_type(resources(stack), "AWS::ApplicationAutoScaling::ScalableTarget")
    assert [(a["Schedule"], a["ScalableTargetAction"], a["Timezone"]) for a in target["Properties"]["ScheduledActions"]] == [
        ("cron(0 8 ? * MON-FRI *)", {"MinCapacity": 4}, "Europe/Berlin")]


def test_backlog_cooldowns_reach_the_tracking_policy_and_the_wake_step():
    backlog = {**ASYNC["async_inference"]["scaling"], "scale_in_cooldown_seconds": 1200, "scale_out_cooldown_seconds": 120}
    stack, _, _ = build(App(), **{**ASYNC, "async_inference": {**ASYNC["async_inference"], "scaling": backlog}})
    policies = {p["Properties"]["PolicyType"]: p["Properties"] for p in of_type(resources(stack), "AWS::ApplicationAutoScaling::ScalingPolicy")}
    tracking = policies["TargetTrackingScaling"]["TargetTrackingScalingPolicyConfiguration"]
    assert (tracking["ScaleInCooldown"], tracking["ScaleOutCooldown"]) == (1200, 120)
    assert policies["StepScaling"]["StepScalingPolicyConfiguration"]["Cooldown"] == 120
