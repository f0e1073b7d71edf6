"""Every resource that can fail at run time reaches an operator: a route (rule or alarm) to an alert
topic whose key and topic policy admit the publishing service (tests/alert_coverage.py)."""

from __future__ import annotations

import copy

import pytest

from tests.alert_coverage import CLOUDWATCH, EVENTS, FAILURE_SOURCES, failure_coverage, render
from tests.conftest import CONFIG_DIR


@pytest.fixture(scope="module")
def results(templates, request):
    found = {env: failure_coverage(stacks) for env, stacks in templates.items()}
    text = render(found)
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.ensure_newline()
            reporter.write_line(text)
    else:
        print(text)
    return found


def test_every_failure_source_of_every_environment_is_routed(results, templates):
    assert set(results) == set(templates) == {p.stem for p in CONFIG_DIR.glob("*.yaml")}
    for env, coverage in results.items():
        assert coverage.sources, env
        assert not coverage.uncovered, f"{env}: {coverage.uncovered}"


def test_each_kind_of_source_is_present_somewhere(results):
    """The check runs over real sources of every kind the platform creates."""
    kinds = {s.rsplit("(", 1)[1].rstrip(")") for c in results.values() for s in c.sources}
    assert kinds <= set(FAILURE_SOURCES)
    assert {"AWS::Glue::Job", "AWS::SageMaker::Pipeline", "AWS::Lambda::Function", "AWS::Events::Rule",
            "AWS::Scheduler::Schedule", "AWS::SageMaker::Endpoint", "AWS::DataBrew::Job",
            "AWS::SageMaker::MonitoringSchedule", "AWS::SQS::Queue"} <= kinds


def _key_policies(stacks):
    for template in stacks.values():
        for res in template["Resources"].values():
            if res["Type"] == "AWS::KMS::Key":
                yield res["Properties"]["KeyPolicy"]


@pytest.mark.parametrize("service", [CLOUDWATCH, EVENTS])
def test_a_key_that_does_not_admit_the_publisher_leaves_its_routes_uncovered(templates, service):
    """The old defect: the alert key admitted only EventBridge, so every alarm notification was dropped."""
    stacks = copy.deepcopy(templates["prod"])
    for policy in _key_policies(stacks):
        policy["Statement"] = [s for s in policy["Statement"]
                               if service not in str(s.get("Principal", {}))]
    coverage = failure_coverage(stacks)
    kinds = {s.rsplit("(", 1)[1].rstrip(")") for s in coverage.uncovered}
    expected = {"AWS::SageMaker::Endpoint", "AWS::Lambda::Function"} if service == CLOUDWATCH else {
        "AWS::Glue::Job", "AWS::SageMaker::Pipeline"}
    assert expected <= kinds, coverage.uncovered


def test_a_rule_target_without_a_dead_letter_queue_is_uncovered(templates):
    stacks = copy.deepcopy(templates["dev"])
    stack, lid = next((s, lid) for s, t in stacks.items() for lid, r in t["Resources"].items()
                      if r["Type"] == "AWS::Events::Rule")
    for target in stacks[stack]["Resources"][lid]["Properties"]["Targets"]:
        target.pop("DeadLetterConfig", None)
    assert f"{stack}/{lid} (AWS::Events::Rule)" in failure_coverage(stacks).uncovered


def test_a_function_without_an_error_alarm_is_uncovered(templates):
    stacks = copy.deepcopy(templates["dev"])
    for template in stacks.values():
        for lid, res in list(template["Resources"].items()):
            if res["Type"] == "AWS::CloudWatch::Alarm" and res["Properties"].get("MetricName") == "Errors":
                del template["Resources"][lid]
    uncovered = failure_coverage(stacks).uncovered
    assert any(s.endswith("(AWS::Lambda::Function)") for s in uncovered)
