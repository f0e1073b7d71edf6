"""tools.review.cost: the idle cost of every committed environment and of small hand-written templates.

The committed checks walk the snapshots independently of the module: every priced resource type
present has a line, the counts are the templates' counts, dev's total is the README's range. The
hand-written templates prove the endpoint rules (fixed fleet, autoscaling minimum, scheduled
minimum, challengers, serverless and asynchronous scale-to-zero), free tiers and missing prices.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
import yaml

from tools.review.cost import PriceTableError, idle_cost, idle_total, render_cost
from tools.review.cost_catalog import classify
from tools.review.cost_prices import HOURS_PER_MONTH, PRICES_DIR
from tools.review.cost_schedule import weekly_minimum

ROOT = Path(__file__).resolve().parents[2]
SNAPSHOTS = ROOT / "tests" / "snapshots"
ENVS = ("dev", "staging", "prod")
REGION = "us-east-1"
TABLE = json.loads((PRICES_DIR / f"{REGION}.json").read_text())
M5 = TABLE["prices"]["sagemaker_instance:ml.m5.large"]["value"]
#: README.md, "What dev costs while idle": "about 142 to 149" USD per month.
README_DEV_RANGE = (142, 149)


def snapshot(env: str) -> dict[str, dict]:
    return {path.name.removesuffix(".template.json"): json.loads(path.read_text())
            for path in sorted((SNAPSHOTS / env).glob("*.template.json"))}


def resources(templates: dict[str, dict], resource_type: str) -> list[dict]:
    return [body for template in templates.values() for body in template["Resources"].values()
            if body["Type"] == resource_type]


def lines_of(lines, resource_type):
    return [line for line in lines if line.resource_type == resource_type]


# -- committed environments -----------------------------------------------------------------------

@pytest.mark.parametrize("env", ENVS)
def test_every_priced_resource_type_in_the_templates_has_a_line(env):
    templates = snapshot(env)
    present = {body["Type"] for template in templates.values() for body in template["Resources"].values()}
    covered = {line.resource_type for line in idle_cost(env, templates, REGION)}
    priced_present = set(TABLE["resource_types"]) & present
    assert priced_present, "the snapshots hold no priced type at all"
    assert priced_present <= covered


@pytest.mark.parametrize("env", ENVS)
def test_counts_are_the_templates_counts(env):
    templates = snapshot(env)
    lines = idle_cost(env, templates, REGION)
    [endpoints] = lines_of(lines, "AWS::EC2::VPCEndpoint")
    interface = [e for e in resources(templates, "AWS::EC2::VPCEndpoint")
                 if e["Properties"].get("VpcEndpointType") == "Interface"]
    assert endpoints.count == sum(len(e["Properties"]["SubnetIds"]) for e in interface)
    [keys] = lines_of(lines, "AWS::KMS::Key")
    assert keys.count == len(resources(templates, "AWS::KMS::Key"))
    [alarms] = lines_of(lines, "AWS::CloudWatch::Alarm")
    tracking = [p for p in resources(templates, "AWS::ApplicationAutoScaling::ScalingPolicy")
                if p["Properties"]["PolicyType"] == "TargetTrackingScaling"]
    assert alarms.count == len(resources(templates, "AWS::CloudWatch::Alarm")) + 2 * len(tracking)
    [dashboards] = lines_of(lines, "AWS::CloudWatch::Dashboard")
    assert dashboards.count == len(resources(templates, "AWS::CloudWatch::Dashboard"))
    [secrets] = lines_of(lines, "AWS::SecretsManager::Secret")
    assert secrets.count == len(resources(templates, "AWS::SecretsManager::Secret"))
    variants = [v for c in resources(templates, "AWS::SageMaker::EndpointConfig")
                for v in c["Properties"]["ProductionVariants"]]
    assert len(lines_of(lines, "AWS::SageMaker::Endpoint")) == len(variants)


def test_dev_endpoints_cost_nothing_idle_and_prod_bills_its_scheduled_minimum():
    dev = lines_of(idle_cost("dev", snapshot("dev"), REGION), "AWS::SageMaker::Endpoint")
    assert sorted(line.count for line in dev) == [0, 0]
    expected = {"serving.endpoints.churn.serverless",
                "serving.endpoints.churn-async.async_inference.scaling.min_capacity"}
    assert expected <= {key for line in dev for key in line.keys}
    [prod] = lines_of(idle_cost("prod", snapshot("prod"), REGION), "AWS::SageMaker::Endpoint")
    assert prod.count == pytest.approx(2 + 60 / 168)  # 3 instead of 2 during MON-FRI 07:00-19:00
    assert "serving.endpoints.churn.autoscaling.schedules" in prod.keys
    [staging] = lines_of(idle_cost("staging", snapshot("staging"), REGION), "AWS::SageMaker::Endpoint")
    assert (staging.count, staging.per_month) == (1, pytest.approx(M5 * HOURS_PER_MONTH))


def test_dev_total_is_the_readme_range():
    low, high = idle_total(idle_cost("dev", snapshot("dev"), REGION))
    assert "about {} to {}".format(*README_DEV_RANGE) in (ROOT / "README.md").read_text()
    assert (round(low), round(high)) == README_DEV_RANGE
    [endpoints] = lines_of(idle_cost("dev", snapshot("dev"), REGION), "AWS::EC2::VPCEndpoint")
    assert endpoints.keys == ("network.az_count", "network.interface_endpoints", "workbench.users")


@pytest.mark.parametrize("env", ENVS)
def test_no_resource_type_of_the_snapshots_is_unclassified(env):
    templates = snapshot(env)
    covered = {line.resource_type for line in idle_cost(env, templates, REGION)}
    types = {body["Type"] for template in templates.values() for body in template["Resources"].values()}
    assert [t for t in sorted(types - covered) if classify(t) is None] == []
    assert "Unclassified" not in render_cost(env, templates, REGION)


@pytest.mark.parametrize("env", ENVS)
def test_render_is_deterministic_fast_and_totals(env):
    templates = snapshot(env)
    start = time.perf_counter()
    first = render_cost(env, templates, REGION)
    assert time.perf_counter() - start < 1
    assert first == render_cost(env, templates, REGION)
    low, high = idle_total(idle_cost(env, templates, REGION))
    assert f"**{low:,.2f} to {high:,.2f}** |" in first
    assert "`AWS::IAM::Role`" in first  # listed as free, not skipped


# -- price tables ---------------------------------------------------------------------------------

def test_every_committed_region_has_a_price_table():
    regions = {yaml.safe_load(path.read_text())["region"] for path in (ROOT / "config").glob("*.yaml")}
    assert regions <= {path.stem for path in PRICES_DIR.glob("*.json")}


@pytest.mark.parametrize("path", sorted(PRICES_DIR.glob("*.json")), ids=lambda p: p.stem)
def test_price_tables_cite_a_source_for_every_price(path):
    table = json.loads(path.read_text())
    assert (table["region"], table["source_date"], table["hours_per_month"]) == (path.stem, "2026-11", HOURS_PER_MONTH)
    assert "list prices" in table["note"].lower()
    for name, price in table["prices"].items():
        assert price["value"] > 0 and price["unit"] and price["period"] in ("hour", "month"), name
        assert price["source"].startswith("https://aws.amazon.com/"), name


def test_a_region_without_a_price_table_is_a_one_line_error():
    with pytest.raises(PriceTableError) as raised:
        render_cost("dev", snapshot("dev"), "eu-central-2")
    message = str(raised.value)
    assert "\n" not in message and "'eu-central-2'" in message and "us-east-1" in message


# -- hand-written templates -----------------------------------------------------------------------

def endpoint_stack(*variants, async_config=False, targets=()):
    config = {"ProductionVariants": list(variants)}
    if async_config:
        config["AsyncInferenceConfig"] = {"OutputConfig": {"S3OutputPath": "s3://b/o/"}}
    body = {
        "EpConfigAAAA1111": {"Type": "AWS::SageMaker::EndpointConfig", "Properties": config},
        "EpBBBB2222": {"Type": "AWS::SageMaker::Endpoint", "Properties": {
            "EndpointName": "p-t-scorer",
            "EndpointConfigName": {"Fn::GetAtt": ["EpConfigAAAA1111", "EndpointConfigName"]}}},
    }
    for index, target in enumerate(targets):
        body[f"Scaling{index}CCCC333{index}"] = {"Type": "AWS::ApplicationAutoScaling::ScalableTarget",
                                                 "Properties": {"ServiceNamespace": "sagemaker", **target}}
    return {"p-t-Serving": {"Resources": body}}


def instance(variant="AllTraffic", count=2, instance_type="ml.m5.large"):
    return {"VariantName": variant, "InstanceType": instance_type, "InitialInstanceCount": count}


def target(variant="AllTraffic", minimum=1, **more):
    name = {"Fn::GetAtt": ["EpBBBB2222", "EndpointName"]}
    resource_id = {"Fn::Join": ["", ["endpoint/", name, f"/variant/{variant}"]]}
    return {"ResourceId": resource_id, "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
            "MinCapacity": minimum, "MaxCapacity": 6, **more}


def test_a_fixed_real_time_fleet_bills_its_initial_count():
    [line] = idle_cost("t", endpoint_stack(instance(count=3)), REGION)
    assert (line.count, line.per_month) == (3, pytest.approx(3 * M5 * HOURS_PER_MONTH))
    assert line.keys == ("serving.endpoints.scorer.instance_type", "serving.endpoints.scorer.initial_instance_count")


def test_an_autoscaled_variant_bills_its_minimum_and_a_challenger_its_own_fleet():
    lines = idle_cost("t", endpoint_stack(instance(count=4), instance("Challenger", count=1),
                                          targets=[target(minimum=2)]), REGION)
    by_variant = {line.what.split("variant ")[1].split(":")[0]: line for line in lines}
    assert by_variant["AllTraffic"].count == 2
    assert "serving.endpoints.scorer.autoscaling.min_capacity" in by_variant["AllTraffic"].keys
    assert by_variant["Challenger"].count == 1
    assert "serving.endpoints.scorer.challengers.Challenger.initial_instance_count" in by_variant["Challenger"].keys
    assert idle_total(lines) == (round(3 * M5 * HOURS_PER_MONTH, 2),) * 2


def test_a_real_time_variant_keeps_one_instance_even_with_a_minimum_of_zero():
    [line] = idle_cost("t", endpoint_stack(instance(), targets=[target(minimum=0)]), REGION)
    assert line.count == 1 and "inference components" in line.note


def test_scheduled_minimums_are_averaged_over_the_week():
    actions = [{"Schedule": "cron(0 7 ? * MON-FRI *)", "ScalableTargetAction": {"MinCapacity": 4}},
               {"Schedule": "cron(0 19 ? * MON-FRI *)", "ScalableTargetAction": {"MinCapacity": 1}}]
    [line] = idle_cost("t", endpoint_stack(instance(), targets=[target(minimum=1, ScheduledActions=actions)]), REGION)
    assert line.count == pytest.approx(1 + 3 * 60 / 168)


def test_serverless_and_asynchronous_scale_to_zero_cost_nothing_idle():
    serverless = {"VariantName": "AllTraffic", "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 5}}
    [line] = idle_cost("t", endpoint_stack(serverless), REGION)
    assert (line.count, line.per_month, line.missing) == (0, 0, False)
    [line] = idle_cost("t", endpoint_stack(instance(count=1), async_config=True, targets=[target(minimum=0)]), REGION)
    assert (line.count, line.per_month) == (0, 0)
    assert line.keys[-1] == "serving.endpoints.scorer.async_inference.scaling.min_capacity"
    [line] = idle_cost("t", endpoint_stack(instance(count=1), async_config=True), REGION)
    assert line.count == 1  # asynchronous without scaling: a fixed fleet


def test_what_bills_without_a_price_is_flagged_and_left_out_of_the_total():
    provisioned = {"VariantName": "AllTraffic",
                   "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 5, "ProvisionedConcurrency": 2}}
    templates = endpoint_stack(provisioned)
    templates["p-t-Serving"]["Resources"]["OtherDDDD4444"] = {"Type": "AWS::SageMaker::Endpoint", "Properties": {
        "EndpointName": "p-t-big", "EndpointConfigName": {"Ref": "BigConfigEEEE5555"}}}
    templates["p-t-Serving"]["Resources"]["BigConfigEEEE5555"] = {
        "Type": "AWS::SageMaker::EndpointConfig",
        "Properties": {"ProductionVariants": [instance(instance_type="ml.zz9.huge")]}}
    lines = idle_cost("t", templates, REGION)
    assert sorted(line.count for line in lines if line.missing) == [2, 2]
    assert idle_total(lines) == (0, 0)
    text = render_cost("t", templates, REGION)
    assert "**Incomplete:**" in text and "ml.zz9.huge" in text


def test_free_tiers_make_the_total_a_range():
    alarm = {"Type": "AWS::CloudWatch::Alarm", "Properties": {"MetricName": "Errors", "Period": 300}}
    body = {f"Alarm{i}FFFF{i:04d}": alarm for i in range(12)}
    body["FastAAAA0000"] = {"Type": "AWS::CloudWatch::Alarm", "Properties": {"MetricName": "Errors", "Period": 10}}
    body["BoardAAAA0000"] = {"Type": "AWS::CloudWatch::Dashboard", "Properties": {}}
    lines = idle_cost("t", {"p-t-Alerting": {"Resources": body}}, REGION)
    standard, high = sorted(lines_of(lines, "AWS::CloudWatch::Alarm"), key=lambda line: line.count)[::-1]
    assert standard.count == 12
    assert (standard.per_month_after_free_tier, standard.per_month) == (pytest.approx(0.2), pytest.approx(1.2))
    assert (high.count, high.per_month_after_free_tier) == (1, pytest.approx(0.3))
    assert idle_total(lines) == (0.5, 4.5)


def test_interface_endpoints_bill_per_subnet_and_gateways_not_at_all():
    body = {
        "ApiAAAA0001": {"Type": "AWS::EC2::VPCEndpoint", "Properties": {
            "VpcEndpointType": "Interface", "ServiceName": "com.amazonaws.us-east-1.sts",
            "SubnetIds": ["a", "b", "c"]}},
        "S3AAAA0002": {"Type": "AWS::EC2::VPCEndpoint", "Properties": {"ServiceName": "com.amazonaws.us-east-1.s3"}},
        "NatAAAA0003": {"Type": "AWS::EC2::NatGateway", "Properties": {}},
    }
    lines = idle_cost("t", {"p-t-Network": {"Resources": body}}, REGION)
    [endpoints] = lines_of(lines, "AWS::EC2::VPCEndpoint")
    assert (endpoints.count, endpoints.per_month) == (3, pytest.approx(3 * 0.01 * HOURS_PER_MONTH))
    assert "1 gateway" in endpoints.note
    [nat] = lines_of(lines, "AWS::EC2::NatGateway")
    assert nat.per_month == pytest.approx(0.045 * HOURS_PER_MONTH)


def test_an_unknown_resource_type_is_reported_not_skipped():
    body = {"ThingAAAA0001": {"Type": "AWS::Example::Thing", "Properties": {}}}
    text = render_cost("t", {"p-t-Network": {"Resources": body}}, REGION)
    assert re.search(r"Unclassified.*\n\n- `AWS::Example::Thing` \(1\)", text)


@pytest.mark.parametrize(("schedule", "expected"), [
    ("cron(0 7 ? * MON-FRI *)", 1 + 60 / 168),  # 2 on weekdays 07:00-19:00, else 1
    ("cron(0 7 * * ? *)", (60 * 1 + 108 * 2) / 168),  # 2 from 07:00 daily, back to 1 only on weekday evenings
    ("rate(1 hour)", None),
    ("cron(0 7 1 * ? *)", None),  # a day of the month is not a weekly pattern
])
def test_weekly_minimum(schedule, expected):
    actions = [{"Schedule": schedule, "ScalableTargetAction": {"MinCapacity": 2}},
               {"Schedule": "cron(0 19 ? * MON-FRI *)", "ScalableTargetAction": {"MinCapacity": 1}}]
    result = weekly_minimum(actions)
    assert result == (pytest.approx(expected) if expected is not None else None)


def test_an_mlflow_tracking_server_bills_by_the_hour_and_is_flagged_without_a_price():
    server = {"Type": "AWS::SageMaker::MlflowTrackingServer", "Properties": {"TrackingServerSize": "Medium"}}
    templates = {"p-t-Training": {"Resources": {"ServerAAAA0001": server}}}
    [line] = lines_of(idle_cost("t", templates, REGION), "AWS::SageMaker::MlflowTrackingServer")
    assert (line.count, line.missing, line.unit) == (1, True, "tracking server-hour")
    assert "Medium" in line.what
    text = render_cost("t", templates, REGION)
    assert "**Incomplete:**" in text and "Unclassified" not in text
