"""Both monitoring engines in the committed environments: prod on Model Monitor, staging on the
platform's processing jobs, each reading the baselines its served version registered."""

from __future__ import annotations

import json

from tests.conftest import CONFIG_DIR
from ml_platform.config import load_environment


def _resources(templates, env: str, stack: str, kind: str) -> dict:
    template = templates[env][f"mlp-{env}-{stack}"]
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


def test_staging_runs_drift_as_scheduled_processing_jobs_and_no_model_monitor(templates):
    assert load_environment(CONFIG_DIR / "staging.yaml").monitoring.engine == "processing"
    assert _resources(templates, "staging", "Monitoring", "AWS::SageMaker::MonitoringSchedule") == {}
    [schedule] = _resources(templates, "staging", "Monitoring", "AWS::Scheduler::Schedule").values()
    assert schedule["Properties"]["ScheduleExpression"].startswith("cron(")
    functions = json.dumps(_resources(templates, "staging", "Monitoring", "AWS::Lambda::Function"))
    assert "drift" in functions.lower()


def test_prod_keeps_model_monitor(templates):
    assert load_environment(CONFIG_DIR / "prod.yaml").monitoring.engine == "model_monitor"
    assert _resources(templates, "prod", "Monitoring", "AWS::SageMaker::MonitoringSchedule")
    assert _resources(templates, "prod", "Monitoring", "AWS::Scheduler::Schedule") == {}


def test_drift_alarms_going_into_alarm_start_the_retrain_gate(templates):
    rules = _resources(templates, "staging", "Monitoring", "AWS::Events::Rule")
    [rule] = [r for r in rules.values() if r["Properties"]["EventPattern"].get("source") == ["aws.cloudwatch"]]
    pattern = rule["Properties"]["EventPattern"]
    alarms = _resources(templates, "staging", "Monitoring", "AWS::CloudWatch::Alarm")
    drift = {k for k, a in alarms.items() if "feature_baseline_drift_" in a["Properties"].get("MetricName", "")}
    assert len(drift) == 2 and sorted(a["Ref"] for a in pattern["detail"]["alarmName"]) == sorted(drift)
    assert pattern["detail"]["state"] == {"value": ["ALARM"]}
    [target] = rule["Properties"]["Targets"]
    assert "RetrainGate" in json.dumps(target["Arn"])


def test_each_engine_copies_the_served_versions_registered_baselines(templates):
    for env in ("staging", "prod"):
        checks = _resources(templates, env, "Monitoring", "Custom::MonitoringBaselines")
        assert checks, env
        for check in checks.values():
            properties = check["Properties"]
            # the served version: the parameter its promotion writes (version: approved), read at deploy
            parameter = templates[env][f"mlp-{env}-Monitoring"]["Parameters"][properties["ModelPackageArn"]["Ref"]]
            assert parameter["Default"] == f"/mlp/{env}/models/churn/approved-package", env
            assert "ModelDataQuality.Statistics" in properties["Copies"], env
