"""AlertPath and AlertRoutes: the key and topic admit each publishing service, subscriptions come from
settings, rules dead-letter, functions alarm on errors, and bad input is refused in one line."""

from __future__ import annotations

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Match, Template


from ml_platform.constructs.core.alerting import (
    DEAD_LETTER_RETENTION,
    PUBLISHERS,
    AlertPath,
    AlertRoutes,
    AlertSettings,
    databrew_job_failed,
)

ENV = {"account": "111111111111", "region": "eu-west-1"}


def build(settings=None, key=None):
    app = App()
    alerts_stack = Stack(app, "Alerts", env=ENV)
    path = AlertPath(alerts_stack, "Path", settings=settings, key=key(alerts_stack) if key else None)
    user = Stack(app, "User", env=ENV)
    routes = AlertRoutes(user, "Routes", topic=path.topic, key=path.key)
    return alerts_stack, path, user, routes


def key_statements(stack):
    [key] = Template.from_stack(stack).find_resources("AWS::KMS::Key").values()
    return key["Properties"]["KeyPolicy"]["Statement"]


def test_the_key_admits_each_publisher_with_the_actions_it_needs():
    stack, *_ = build()
    for service, actions in PUBLISHERS.items():
        granted = {a for s in key_statements(stack) if s.get("Principal", {}).get("Service") == service
                   for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
        assert set(actions) <= granted, service


def test_cloudwatch_is_admitted_only_for_this_account_and_eventbridge_without_a_condition():
    """EventBridge's KMS requests carry no aws:SourceAccount (a condition would drop every event)."""
    stack, *_ = build()
    by_service = {}
    for s in key_statements(stack):
        service = s.get("Principal", {}).get("Service")
        if service:
            by_service.setdefault(service, []).append(s)
    assert all(s["Condition"] == {"StringEquals": {"aws:SourceAccount": "111111111111"}}
               for s in by_service["cloudwatch.amazonaws.com"])
    assert any("Condition" not in s for s in by_service["events.amazonaws.com"])


def test_the_topic_is_encrypted_tls_only_and_lets_alarms_publish():
    stack, *_ = build()
    template = Template.from_stack(stack)
    template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})
    template.has_resource_properties("AWS::SNS::TopicPolicy", {"PolicyDocument": {"Statement": Match.array_with([
        Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}),
        Match.object_like({"Effect": "Allow", "Principal": {"Service": "cloudwatch.amazonaws.com"},
                           "Action": "sns:Publish"}),
    ])}})


def test_no_subscriptions_by_default_and_each_configured_one():
    stack, *_ = build()
    Template.from_stack(stack).resource_count_is("AWS::SNS::Subscription", 0)
    stack, *_ = build(AlertSettings(emails=["ops@example.com"], https_endpoints=["https://hooks.example.com/x"]))
    template = Template.from_stack(stack)
    template.has_resource_properties("AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@example.com"})
    template.has_resource_properties("AWS::SNS::Subscription", {"Protocol": "https",
                                                                "Endpoint": "https://hooks.example.com/x"})


@pytest.mark.parametrize("field, value", [("emails", ["not-an-address"]), ("https_endpoints", ["http://plain.example.com"])])
def test_bad_subscriptions_are_refused(field, value):
    with pytest.raises(ValueError, match=field):
        AlertSettings(**{field: value})


def test_an_imported_key_is_refused_in_one_line():
    with pytest.raises(ValueError, match=r"^AlertPath .*imported.*pass a kms.Key of this app or none$"):
        build(key=lambda s: kms.Key.from_key_arn(s, "K", "arn:aws:kms:eu-west-1:111111111111:key/x"))


def test_a_given_key_of_this_app_is_used_and_extended():
    stack, path, *_ = build(key=lambda s: kms.Key(s, "Own"))
    assert path.key.node.id == "Own"
    assert any(s.get("Principal", {}).get("Service") == "cloudwatch.amazonaws.com" for s in key_statements(stack))


def test_a_route_dead_letters_to_an_encrypted_queue_whose_depth_alarms():
    _, _, user, routes = build()
    routes.route(user, "Failed", "a failure", databrew_job_failed(["job"]))
    template = Template.from_stack(user)
    template.has_resource_properties("AWS::Events::Rule", {"Targets": [Match.object_like({
        "DeadLetterConfig": {"Arn": Match.any_value()}})]})
    template.has_resource_properties("AWS::SQS::Queue", {"KmsMasterKeyId": Match.any_value(),
                                                         "MessageRetentionPeriod": DEAD_LETTER_RETENTION.to_seconds()})
    template.has_resource_properties("AWS::CloudWatch::Alarm", {
        "MetricName": "ApproximateNumberOfMessagesVisible", "Threshold": 1, "AlarmActions": [Match.any_value()]})


def test_no_queue_without_a_route():
    _, _, user, _ = build()
    Template.from_stack(user).resource_count_is("AWS::SQS::Queue", 0)


def test_every_function_of_the_stack_gets_an_error_alarm_once():
    _, _, user, routes = build()
    for name in ("A", "B"):
        lambda_.Function(user, name, runtime=lambda_.Runtime.PYTHON_3_13, handler="h.h",
                         code=lambda_.Code.from_inline("def h(e, c): pass"))
    routes.cover_functions()
    routes.cover_functions()
    template = Template.from_stack(user)
    alarms = template.find_resources("AWS::CloudWatch::Alarm", {"Properties": {"MetricName": "Errors"}})
    assert len(alarms) == 2
    functions = set(template.find_resources("AWS::Lambda::Function"))
    assert {a["Properties"]["Dimensions"][0]["Value"]["Ref"] for a in alarms.values()} == functions


def test_lambda_targets_dead_letter_too():
    _, _, user, routes = build()
    function = lambda_.Function(user, "F", runtime=lambda_.Runtime.PYTHON_3_13, handler="h.h",
                                code=lambda_.Code.from_inline("def h(e, c): pass"))
    events.Rule(user, "Tick", schedule=events.Schedule.cron(minute="0"), targets=[routes.lambda_target(function)])
    Template.from_stack(user).has_resource_properties("AWS::Events::Rule", {"Targets": [Match.object_like({
        "DeadLetterConfig": {"Arn": Match.any_value()}})]})


def test_failure_patterns_match_each_service_s_documented_event():
    """Source, detail-type and detail fields as the EventBridge events reference gives them."""
    from ml_platform.constructs.core import alerting

    assert alerting.glue_crawler_failed(["c"]).detail == {"crawlerName": ["c"], "state": ["Failed"]}
    assert alerting.glue_job_failed(["j"]).detail == {"jobName": ["j"], "state": ["FAILED", "TIMEOUT", "ERROR", "STOPPED"]}
    assert alerting.glue_data_quality_failed(["j"]).source == ["aws.glue-dataquality"]
    assert alerting.glue_data_quality_failed(["j"]).detail == {"context": {"jobName": ["j"]}, "state": ["FAILED"]}
    assert alerting.databrew_job_failed(["d"]).detail_type == ["DataBrew Job State Change"]
    assert alerting.databrew_validation_failed(["r"]).detail == {"rulesetName": ["r"], "validationState": ["FAILED"]}
    pipeline = alerting.pipeline_execution_failed(["arn:aws:sagemaker:eu-west-1:1:pipeline/p"])
    assert pipeline.detail_type == ["SageMaker Model Building Pipeline Execution Status Change"]
    assert pipeline.detail["currentPipelineExecutionStatus"] == ["Failed"]
    for kind, (detail_type, status) in alerting.SAGEMAKER_JOBS.items():
        pattern = alerting.sagemaker_job_failed(kind)
        assert pattern.detail_type == [detail_type] and pattern.detail == {status: ["Failed"]}


def test_settings_built_from_python_fail_in_one_line_naming_class_key_and_value():
    """The same one-line form config files get, not a pydantic dump."""
    from ml_platform.constructs.core.validation import SettingsError

    with pytest.raises(SettingsError) as caught:
        AlertSettings(emails=["ops"], https_endpoints=["http://x.example.com"], pager="y")
    message = str(caught.value)
    assert "\n" not in message and message.startswith("AlertSettings: emails[0]: string should match pattern")
    assert "(got 'ops')" in message and "https_endpoints[0]: " in message
    assert "pager: unknown key; allowed keys: emails, https_endpoints" in message
