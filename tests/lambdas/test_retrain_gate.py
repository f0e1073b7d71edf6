"""The retrain gate: the decision on plain data, the SageMaker calls against moto and botocore's Stubber.

moto (5.2.5) runs create/start/list/describe of pipeline executions, but every execution it starts
is ``Succeeded`` at once and it ignores SortBy/SortOrder/MaxResults and ClientRequestToken; the
running branch and the exact requests are therefore checked with a Stubber.
"""

from __future__ import annotations

import datetime
import importlib
import json
import re
import sys
from pathlib import Path

import boto3
import pytest
from botocore.stub import ANY, Stubber

from ml_platform.lambdas.retrain_gate import gate
from ml_platform.lambdas.retrain_gate.gate import Decision, Execution, GateConfig, Trigger, decide, handle

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 11, 29, 13, 30, tzinfo=UTC)
ARN = "arn:aws:sagemaker:eu-west-1:123456789012:pipeline/churn-training/execution/"
SCHEDULE_ARN = "arn:aws:sagemaker:eu-west-1:123456789012:monitoring-schedule/churn-model-quality"
HOUR = datetime.timedelta(hours=1)


def execution(name: str, status: str, minutes_ago: float) -> Execution:
    return Execution(ARN + name, status, NOW - datetime.timedelta(minutes=minutes_ago))


def event(event_id: str = "5e1c6f0a-1111-2222-3333-444455556666", time: str = "2026-11-29T13:25:07Z",
          detail: dict | None = None) -> dict:
    return {"version": "0", "id": event_id, "detail-type": "SageMaker Processing Job State Change",
            "source": "aws.sagemaker", "time": time,
            "detail": {"MonitoringScheduleArn": SCHEDULE_ARN, "ProcessingJobStatus": "Completed",
                       "ExitMessage": "CompletedWithViolations: found violations"} if detail is None else detail}


# --- the decision -------------------------------------------------------------------------


def test_a_pipeline_that_never_ran_starts():
    assert decide(NOW, [], HOUR) == Decision(True, "clear: the pipeline has no execution yet")


@pytest.mark.parametrize("status", ["Executing", "Stopping"])
def test_a_running_execution_skips_and_is_named_even_behind_newer_ones(status):
    runs = [execution("new", "Failed", 5), execution("old", status, 600), execution("older", "Succeeded", 900)]
    decision = decide(NOW, runs, datetime.timedelta(0))
    assert (decision.start, decision.execution_arn) == (False, ARN + "old")
    assert decision.reason == f"running: execution {ARN}old is {status}"


def test_running_wins_over_cooldown():
    decision = decide(NOW, [execution("a", "Executing", 1)], HOUR)
    assert decision.reason.startswith("running:")


@pytest.mark.parametrize("status", ["Succeeded", "Failed", "Stopped"])
def test_a_recent_finished_execution_skips_until_the_cooldown_ends(status):
    runs = [execution("older", "Succeeded", 300), execution("newest", status, 10)]
    decision = decide(NOW, runs, HOUR)
    assert (decision.start, decision.execution_arn) == (False, ARN + "newest")
    assert decision.reason == (f"cooldown: the newest execution {ARN}newest started at 2026-11-29T13:20:00Z; "
                               "the cooldown of 60 minutes ends at 2026-11-29T14:20:00Z")


def test_the_newest_execution_is_found_by_start_time_not_by_list_order():
    runs = [execution("old", "Succeeded", 120), execution("new", "Succeeded", 30), execution("mid", "Failed", 90)]
    assert decide(NOW, runs, HOUR).execution_arn == ARN + "new"


def test_the_cooldown_ends_exactly_cooldown_after_the_newest_start():
    just_inside = decide(NOW, [execution("a", "Succeeded", 59.99)], HOUR)
    at_the_end = decide(NOW, [execution("a", "Succeeded", 60)], HOUR)
    assert (just_inside.start, at_the_end.start) == (False, True)
    assert at_the_end.reason == f"clear: nothing runs; the newest execution {ARN}a started at " \
                                "2026-11-29T12:30:00Z, at least 60 minutes ago"


def test_no_cooldown_starts_right_after_a_finished_run_even_one_stamped_after_now():
    assert decide(NOW, [execution("a", "Succeeded", 0)], datetime.timedelta(0)).start
    assert decide(NOW, [execution("a", "Succeeded", -0.5)], datetime.timedelta(0)).start  # clocks differ
    assert not decide(NOW, [execution("a", "Succeeded", -0.5)], datetime.timedelta(minutes=1)).start


# --- token and request --------------------------------------------------------------------


def test_the_token_is_deterministic_per_event_and_pipeline_and_within_the_api_limits():
    token = gate.client_request_token("churn-training", "event-1")
    assert token == gate.client_request_token("churn-training", "event-1")
    assert token != gate.client_request_token("churn-training", "event-2")
    assert token != gate.client_request_token("fraud-training", "event-1")
    long_id = gate.client_request_token("churn-training", "x" * 5000)
    for found in (token, long_id, gate.client_request_token("p", "")):
        assert 32 <= len(found) <= 128 and re.fullmatch(r"[0-9a-f]+", found)


def test_the_request_follows_from_the_event_so_a_redelivery_repeats_it():
    config = GateConfig("churn-training", HOUR, (("InstanceType", "ml.m5.xlarge"), ("Retrain", "true")))
    trigger = Trigger.from_event(event())
    request = gate.start_request(config, trigger)
    assert request == gate.start_request(config, Trigger.from_event(event()))
    assert request == {
        "PipelineName": "churn-training",
        "PipelineExecutionDisplayName": "retrain-20261129132507",
        "PipelineExecutionDescription": "Retraining after Model Monitor violations: event "
                                        "5e1c6f0a-1111-2222-3333-444455556666, monitoring schedule churn-model-quality",
        "PipelineParameters": [{"Name": "InstanceType", "Value": "ml.m5.xlarge"}, {"Name": "Retrain", "Value": "true"}],
        "ClientRequestToken": gate.client_request_token("churn-training", "5e1c6f0a-1111-2222-3333-444455556666"),
    }
    assert re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,81}", request["PipelineExecutionDisplayName"])


def test_a_huge_schedule_name_keeps_the_description_within_its_limit():
    trigger = Trigger.from_event(event(detail={"MonitoringScheduleName": "s" * 5000}))
    assert len(gate.start_request(GateConfig("p", HOUR), trigger)["PipelineExecutionDescription"]) == 3072


@pytest.mark.parametrize(("detail", "schedule"), [
    ({"MonitoringScheduleName": "churn-data-quality", "MonitoringScheduleArn": SCHEDULE_ARN}, "churn-data-quality"),
    ({"MonitoringScheduleArn": SCHEDULE_ARN}, "churn-model-quality"),
    ({}, "an unnamed schedule"),
])
def test_the_schedule_comes_from_the_detail_when_it_names_one(detail, schedule):
    assert Trigger.from_event(event(detail=detail)).schedule == schedule


@pytest.mark.parametrize(("bad", "message"), [
    ([], "must be an EventBridge event"),
    ({"time": "2026-11-29T13:25:07Z", "detail": {}}, "the event has no id"),
    ({"id": "e", "time": "yesterday", "detail": {}}, "the event's time is 'yesterday'"),
    ({"id": "e", "time": "2026-11-29T13:25:07", "detail": {}}, "expected a UTC timestamp"),
    ({"id": "e", "time": "2026-11-29T13:25:07Z", "detail": "CompletedWithViolations"}, "detail must be an object"),
])
def test_malformed_events_are_rejected(bad, message):
    with pytest.raises(ValueError, match=message):
        Trigger.from_event(bad)


# --- environment --------------------------------------------------------------------------


def test_the_environment_with_parameters():
    config = GateConfig.from_environment({"PIPELINE_NAME": "churn-training", "COOLDOWN_MINUTES": " 90 ",
                                          "PIPELINE_PARAMETERS": '{"Retrain": "true", "Epochs": "20"}'})
    assert config == GateConfig("churn-training", datetime.timedelta(minutes=90),
                                (("Retrain", "true"), ("Epochs", "20")))


def test_parameters_default_to_none():
    assert GateConfig.from_environment({"PIPELINE_NAME": "p", "COOLDOWN_MINUTES": "0"}).parameters == ()


@pytest.mark.parametrize(("env", "message"), [
    ({"COOLDOWN_MINUTES": "5"}, "PIPELINE_NAME is not set"),
    ({"PIPELINE_NAME": "p"}, "COOLDOWN_MINUTES is not set"),
    ({"PIPELINE_NAME": "p", "COOLDOWN_MINUTES": "an hour"},
     "COOLDOWN_MINUTES is 'an hour'; expected whole minutes >= 0"),
    ({"PIPELINE_NAME": "p", "COOLDOWN_MINUTES": "1.5"}, "COOLDOWN_MINUTES is '1.5'"),
    ({"PIPELINE_NAME": "p", "COOLDOWN_MINUTES": "-1"}, "COOLDOWN_MINUTES is '-1'"),
    ({"PIPELINE_NAME": "p", "COOLDOWN_MINUTES": "5", "PIPELINE_PARAMETERS": "{Retrain: true}"},
     "PIPELINE_PARAMETERS is not JSON"),
    ({"PIPELINE_NAME": "p", "COOLDOWN_MINUTES": "5", "PIPELINE_PARAMETERS": '["Retrain"]'},
     "PIPELINE_PARAMETERS must be a JSON object"),
    ({"PIPELINE_NAME": "p", "COOLDOWN_MINUTES": "5", "PIPELINE_PARAMETERS": '{"Epochs": 20}'},
     "PIPELINE_PARAMETERS: the value of 'Epochs' must be a string"),
    ({"PIPELINE_NAME": "p", "COOLDOWN_MINUTES": "5", "PIPELINE_PARAMETERS": json.dumps({"Note": "x" * 1025})},
     "PIPELINE_PARAMETERS: the value of 'Note'"),
    ({"PIPELINE_NAME": "p", "COOLDOWN_MINUTES": "5", "PIPELINE_PARAMETERS": '{"instance type": "ml.m5.large"}'},
     "PIPELINE_PARAMETERS: 'instance type' is not a pipeline parameter name"),
])
def test_a_bad_environment_names_the_variable(env, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        GateConfig.from_environment(env)


# --- against moto -------------------------------------------------------------------------


DEFINITION = json.dumps({"Version": "2020-12-01", "Parameters": [
    {"Name": "Retrain", "Type": "String", "DefaultValue": "false"}], "Steps": []})


@pytest.fixture
def sagemaker(mocked_aws):
    client = boto3.client("sagemaker")
    client.create_pipeline(PipelineName="churn-training", PipelineDefinition=DEFINITION,
                           RoleArn="arn:aws:iam::123456789012:role/pipeline", ClientRequestToken="c" * 32)
    return client


def test_moto_a_first_event_starts_the_pipeline_with_the_parameters(sagemaker, capsys):
    config = GateConfig("churn-training", HOUR, (("Retrain", "true"),))
    now = datetime.datetime.now(UTC)
    result = handle(sagemaker, config, Trigger.from_event(event()), now)
    assert result["decision"] == "started"
    arn = result["execution_arn"]
    described = sagemaker.describe_pipeline_execution(PipelineExecutionArn=arn)
    assert described["PipelineExecutionDisplayName"] == "retrain-20261129132507"
    assert "5e1c6f0a-1111-2222-3333-444455556666" in described["PipelineExecutionDescription"]
    assert "churn-model-quality" in described["PipelineExecutionDescription"]
    parameters = sagemaker.list_pipeline_parameters_for_execution(PipelineExecutionArn=arn)["PipelineParameters"]
    assert parameters == [{"Name": "Retrain", "Value": "true"}]
    [line] = capsys.readouterr().out.splitlines()
    assert json.loads(line) == {"pipeline": "churn-training", "event": "5e1c6f0a-1111-2222-3333-444455556666",
                                "schedule": "churn-model-quality", **result}


def test_moto_a_second_event_within_the_cooldown_is_skipped_then_starts_after_it(sagemaker):
    config = GateConfig("churn-training", HOUR)
    now = datetime.datetime.now(UTC)
    first = handle(sagemaker, config, Trigger.from_event(event("e-1")), now)
    second = handle(sagemaker, config, Trigger.from_event(event("e-2")), now + datetime.timedelta(minutes=5))
    assert second["decision"] == "skipped"
    assert second["execution_arn"] == first["execution_arn"]
    assert second["reason"].startswith(f"cooldown: the newest execution {first['execution_arn']} started at ")
    third = handle(sagemaker, config, Trigger.from_event(event("e-3")), now + HOUR + datetime.timedelta(minutes=1))
    assert third["decision"] == "started" and third["execution_arn"] != first["execution_arn"]
    listed = sagemaker.list_pipeline_executions(PipelineName="churn-training")["PipelineExecutionSummaries"]
    assert sorted(s["PipelineExecutionArn"] for s in listed) == sorted([first["execution_arn"], third["execution_arn"]])


def test_moto_without_a_cooldown_each_event_after_a_finished_run_starts(sagemaker):
    config = GateConfig("churn-training", datetime.timedelta(0))
    now = datetime.datetime.now(UTC)
    results = [handle(sagemaker, config, Trigger.from_event(event(f"e-{i}")), now) for i in range(2)]
    assert [r["decision"] for r in results] == ["started", "started"]


def test_moto_an_unknown_pipeline_fails_loudly(mocked_aws):
    with pytest.raises(Exception, match="(?i)pipeline"):
        handle(boto3.client("sagemaker"), GateConfig("missing", HOUR), Trigger.from_event(event()),
               datetime.datetime.now(UTC))


# --- exact requests (Stubber) -------------------------------------------------------------


LIST_REQUEST = {"PipelineName": "churn-training", "SortBy": "CreationTime", "SortOrder": "Descending",
                "MaxResults": gate.LIST_PAGE}


def stubbed():
    client = boto3.client("sagemaker", region_name="eu-west-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing")
    return client, Stubber(client)


def summary(name: str, status: str, minutes_ago: float) -> dict:
    return {"PipelineExecutionArn": ARN + name, "PipelineExecutionStatus": status,
            "StartTime": NOW - datetime.timedelta(minutes=minutes_ago)}


def test_stubber_a_running_execution_skips_without_a_start_call():
    client, stub = stubbed()
    stub.add_response("list_pipeline_executions", {"PipelineExecutionSummaries": [
        summary("b", "Executing", 400), summary("c", "Succeeded", 900)]}, LIST_REQUEST)
    with stub:
        result = handle(client, GateConfig("churn-training", HOUR), Trigger.from_event(event()), NOW)
    stub.assert_no_pending_responses()
    assert result == {"decision": "skipped", "reason": f"running: execution {ARN}b is Executing",
                      "execution_arn": ARN + "b"}


def test_stubber_a_start_sends_the_token_parameters_and_names():
    client, stub = stubbed()
    config = GateConfig("churn-training", HOUR, (("Retrain", "true"),))
    stub.add_response("list_pipeline_executions", {"PipelineExecutionSummaries": [summary("a", "Failed", 61)]},
                      LIST_REQUEST)
    stub.add_response("start_pipeline_execution", {"PipelineExecutionArn": ARN + "new"}, {
        "PipelineName": "churn-training", "PipelineExecutionDisplayName": "retrain-20261129132507",
        "PipelineExecutionDescription": ANY, "PipelineParameters": [{"Name": "Retrain", "Value": "true"}],
        "ClientRequestToken": gate.client_request_token("churn-training", "5e1c6f0a-1111-2222-3333-444455556666")})
    with stub:
        result = handle(client, config, Trigger.from_event(event()), NOW)
    stub.assert_no_pending_responses()
    assert (result["decision"], result["execution_arn"]) == ("started", ARN + "new")


# --- entry point --------------------------------------------------------------------------


def test_lambda_entry_point_reads_the_environment_and_uses_the_flat_module_layout(sagemaker, monkeypatch):
    monkeypatch.setenv("PIPELINE_NAME", "churn-training")
    monkeypatch.setenv("COOLDOWN_MINUTES", "60")
    monkeypatch.setenv("PIPELINE_PARAMETERS", '{"Retrain": "true"}')
    monkeypatch.syspath_prepend(str(Path(gate.__file__).parent))
    for name in ("handler", "gate"):
        sys.modules.pop(name, None)
    try:
        handler = importlib.import_module("handler")
        started = handler.on_event(event("e-1"), None)
        skipped = handler.on_event(event("e-2"), None)
    finally:
        for name in ("handler", "gate"):
            sys.modules.pop(name, None)
    assert (started["decision"], skipped["decision"]) == ("started", "skipped")
    assert skipped["reason"].startswith("cooldown:")
    parameters = sagemaker.list_pipeline_parameters_for_execution(PipelineExecutionArn=started["execution_arn"])
    assert parameters["PipelineParameters"] == [{"Name": "Retrain", "Value": "true"}]
