"""Environments: one stage per config file, stack names, termination protection and tags."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

from ml_platform.config import ConfigError, load_environment
from ml_platform.platform_app import CONFIG_DIR_VARIABLE, build_app
from ml_platform.stacks.partition import GROUP_SIZES
from tests.conftest import CDK_CONTEXT, CONFIG_DIR, ROOT, stack_templates

REQUIRED_TAGS = ("Project", "Environment", "Owner", "CostCenter")


def _recommended(config) -> list[str]:
    """The Glue datasets of ``config`` with ``quality.recommendations``, in config order."""
    datasets = config.data_catalog.datasets if config.data_catalog is not None else {}
    return [d for d, s in datasets.items() if s.quality is not None and s.quality.recommendations is not None]


def _manifest_stacks(assembly, env):
    manifest = json.loads((assembly / f"assembly-{env}" / "manifest.json").read_text())
    return {
        a["properties"]["stackName"]: a
        for a in manifest["artifacts"].values()
        if a["type"] == "aws:cloudformation:stack"
    }


def test_stack_names_follow_prefix_env_stack(assembly):
    for path in CONFIG_DIR.glob("*.yaml"):
        config = load_environment(path)
        stacks = ["Alerting", "DataLake", "Network"] + ["DataCatalog"] * bool(config.data_catalog) + ["DataQuality"] * bool(_recommended(config)) + ["Training"] * bool(config.training) + ["Serving"] * bool(config.serving) + ["Monitoring"] * bool(config.monitoring) + ["Labeling"] * bool(config.labeling) + ["Workbench"] * bool(config.workbench) + ["Governance"] * bool(config.governance)
        expected = [f"{config.prefix}-{path.stem}-{stack}" for stack in stacks]
        assert sorted(_manifest_stacks(assembly, path.stem)) == sorted(expected)


def test_stacks_deploy_to_the_configured_account_and_region(assembly):
    for path in CONFIG_DIR.glob("*.yaml"):
        config = load_environment(path)
        for artifact in _manifest_stacks(assembly, path.stem).values():
            assert artifact["environment"] == f"aws://{config.account}/{config.region}"


def test_termination_protection_follows_config_and_prod_is_protected(assembly):
    protection = {
        env: {n: a["properties"].get("terminationProtection", False) for n, a in _manifest_stacks(assembly, env).items()}
        for env in ("dev", "staging", "prod")
    }
    assert set(protection["prod"].values()) == {True}
    assert set(protection["dev"].values()) == {False}
    assert set(protection["staging"].values()) == {False}


def _is_taggable(resource_type: str, region: str) -> bool:
    if resource_type.startswith("Custom::") or resource_type == "AWS::CloudFormation::CustomResource":
        return False
    schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema(region, resource_type)
    return "Tags" in schema.schema.get("properties", {})


def test_every_taggable_resource_carries_the_environment_tags(templates):
    checked = 0
    for env, stacks in templates.items():
        config = load_environment(CONFIG_DIR / f"{env}.yaml")
        expected = config.tags.as_aws_tags()
        for template in stacks.values():
            for logical_id, resource in template["Resources"].items():
                if not _is_taggable(resource["Type"], config.region):
                    continue
                tags = resource["Properties"].get("Tags", [])
                tags = {t["Key"]: t["Value"] for t in tags} if isinstance(tags, list) else tags
                for key in REQUIRED_TAGS:
                    assert tags.get(key) == expected[key], f"{env}/{logical_id} lacks tag {key}"
                checked += 1
    assert checked >= 3 * 6  # at least the key and five buckets of each environment


def test_a_new_config_file_adds_an_environment_without_code_changes(tmp_path):
    config_dir = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, config_dir)
    qa = (config_dir / "staging.yaml").read_text().replace("environment: staging", "environment: qa")
    (config_dir / "qa.yaml").write_text(qa)
    app = build_app(config_dir, outdir=str(tmp_path / "out"), context=CDK_CONTEXT)
    stage = app.node.find_child("qa")
    assert stage.data_lake.stack_name == "mlp-qa-DataLake"
    assert [c.node.id for c in app.node.children if hasattr(c, "data_lake")] == [
        "dev", "prod", "qa", "staging"
    ]


def test_an_environment_without_data_catalog_has_no_catalog_stack(tmp_path):
    text = (CONFIG_DIR / "staging.yaml").read_text().replace("environment: staging", "environment: qa")
    (tmp_path / "qa.yaml").write_text(text.split("data_catalog:")[0])
    app = build_app(tmp_path, outdir=str(tmp_path / "out"), context=CDK_CONTEXT)
    assert app.node.find_child("qa").data_catalog is None
    assert app.node.find_child("qa").node.try_find_child("DataCatalog") is None


def test_app_py_prints_one_line_per_problem_and_no_traceback(tmp_path):
    (tmp_path / "dev.yaml").write_text(
        (CONFIG_DIR / "dev.yaml").read_text().replace('account: "111111111111"', "account: 42")
        + "colour: blue\n"
    )
    result = subprocess.run(
        [sys.executable, str(ROOT / "app.py")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, CONFIG_DIR_VARIABLE: str(tmp_path), "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0] == "Invalid configuration (2 problem(s)):"
    assert lines[1:] == [
        f"{tmp_path / 'dev.yaml'}: account: input should be a valid string; put the value in quotes (got 42)",
        f"{tmp_path / 'dev.yaml'}: colour: unknown key; allowed keys: account, region, prefix, tags, "
        "allow_data_deletion, termination_protection, requires_approval, alerts, data_lake, network, data_catalog, training, serving, "
        "monitoring, labeling, governance, workbench",
    ]
    assert not (tmp_path / "cdk.out").exists()


def test_committed_environments_exercise_every_databrew_step_type():
    from ml_platform.constructs.preparation import databrew_steps

    every = {cls.model_fields["action"].default for cls in databrew_steps.AnyStep.__origin__.__args__}
    for path in CONFIG_DIR.glob("*.yaml"):
        config = load_environment(path)
        used = {step.action for brew in config.data_catalog.databrew.values() for step in brew.recipe}
        assert used == every, f"{path.name} does not exercise {sorted(every - used)}"


def test_serving_endpoints_serve_the_configured_registry_version(templates):
    """prod and staging serve the ``churn`` version approved last in their own registry (the
    parameter its promotion writes, read at deploy), as the inference role."""
    for env in ("prod", "staging"):
        config = load_environment(CONFIG_DIR / f"{env}.yaml")
        template = templates[env][config.stack_name("Serving")]
        serving = template["Resources"]
        [model] = [r["Properties"] for r in serving.values() if r["Type"] == "AWS::SageMaker::Model"]
        [container] = model["Containers"]
        parameter = template["Parameters"][container["ModelPackageName"]["Ref"]]
        assert parameter == {"Type": "AWS::SSM::Parameter::Value<String>",
                             "Default": f"/mlp/{env}/models/churn/approved-package"}
        assert "InferenceRole" in json.dumps(model["ExecutionRoleArn"])
        [endpoint] = [r["Properties"] for r in serving.values() if r["Type"] == "AWS::SageMaker::Endpoint"]
        assert endpoint["EndpointName"] == f"mlp-{env}-churn"
    prod = templates["prod"]["mlp-prod-Serving"]["Resources"]
    [policy] = [r["Properties"] for r in prod.values() if r["Type"] == "AWS::ApplicationAutoScaling::ScalingPolicy"]
    assert policy["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] == 40 * 0.5 * 60
    [target] = [r["Properties"] for r in prod.values() if r["Type"] == "AWS::ApplicationAutoScaling::ScalableTarget"]
    assert sorted((a["Schedule"], a["ScalableTargetAction"]["MinCapacity"], a["Timezone"])
                  for a in target["ScheduledActions"]) == [
        ("cron(0 19 ? * MON-FRI *)", 2, "America/New_York"), ("cron(0 7 ? * MON-FRI *)", 3, "America/New_York")]
    dev = templates["dev"]["mlp-dev-Serving"]["Resources"]
    configs = {json.dumps(r["Properties"]["ProductionVariants"][0]["ModelName"]): r["Properties"]
               for r in dev.values() if r["Type"] == "AWS::SageMaker::EndpointConfig"}
    models = {k: r["Properties"] for k, r in dev.items() if r["Type"] == "AWS::SageMaker::Model"}
    by_kind = {("serverless" if "ServerlessConfig" in c["ProductionVariants"][0] else "async"): (c, models[json.loads(m)["Fn::GetAtt"][0]])
               for m, c in configs.items()}
    assert sorted(by_kind) == ["async", "serverless"]  # nothing billed while idle (docs/serving.md)
    serverless, serverless_model = by_kind["serverless"]
    assert serverless["ProductionVariants"][0]["ServerlessConfig"] == {"MemorySizeInMB": 2048, "MaxConcurrency": 5}
    assert "VpcConfig" not in serverless_model and "DataCaptureConfig" not in serverless
    _, async_model = by_kind["async"]
    [container] = async_model["Containers"]
    assert container["Image"] == "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"  # SDK's registry
    assert json.dumps(container["ModelDataUrl"]).endswith('"/churn/models/release/model.tar.gz"]]}')
    [target] = [r["Properties"] for r in dev.values() if r["Type"] == "AWS::ApplicationAutoScaling::ScalableTarget"]
    assert (target["MinCapacity"], target["ResourceId"]) == (0, "endpoint/mlp-dev-churn-async/variant/AllTraffic")
    [schedule] = [r["Properties"] for r in dev.values() if r["Type"] == "AWS::Scheduler::Schedule"]
    assert '"TransformJobName\\":\\"mlp-dev-churn-nightly-<aws.scheduler.execution-id>' in json.dumps(schedule["Target"]["Input"])


def test_every_stack_alerts_through_the_environments_one_topic(tmp_path):
    """The configured addresses subscribe to the one alert topic of the Alerting stack, and every
    other stack's routes publish to that topic."""
    (tmp_path / "prod.yaml").write_text((CONFIG_DIR / "prod.yaml").read_text().replace(
        "data_lake:\n", "alerts: {emails: [oncall@example.com]}\ndata_lake:\n", 1))
    app = build_app(tmp_path, outdir=str(tmp_path / "out"), context=CDK_CONTEXT)
    stage = app.node.find_child("prod")
    subscriptions = [r for r in stage.node.find_all() if r.node.id == "oncall@example.com"]
    assert len(subscriptions) == 1
    alerting = stage.alerting
    assert alerting.resolve(subscriptions[0].node.default_child.topic_arn) == alerting.resolve(
        alerting.path.topic.topic_arn)
    for stack in (stage.data_lake, stage.network, stage.data_catalog, stage.training, stage.serving, stage.monitoring,
                  stage.data_quality):
        assert stack.alerts.topic is alerting.path.topic, stack.stack_name


def test_prod_monitors_every_type_once_its_endpoint_is_deployed(assembly, templates):
    """prod runs the three offered Model Monitor types on its endpoint; the stack deploys after Serving."""
    monitoring = templates["prod"]["mlp-prod-Monitoring"]["Resources"]
    schedules = sorted((r["Properties"]["MonitoringScheduleConfig"]["MonitoringType"], r["Properties"]["EndpointName"])
                       for r in monitoring.values() if r["Type"] == "AWS::SageMaker::MonitoringSchedule")
    assert schedules == [(t, "mlp-prod-churn") for t in ("DataQuality", "ModelBias", "ModelQuality")]
    stacks = _manifest_stacks(assembly, "prod")
    assert any("Serving" in d for d in stacks["mlp-prod-Monitoring"]["dependencies"])
    assert "mlp-dev-Monitoring" not in templates["dev"]  # staging monitors on the processing engine


def test_dev_enables_labeling_with_a_cognito_workforce_one_team_and_the_task(templates):
    labeling = templates["dev"]["mlp-dev-Labeling"]["Resources"]
    kinds = sorted({r["Type"] for r in labeling.values()} & {
        "AWS::Cognito::UserPool", "AWS::SageMaker::Workforce", "AWS::SageMaker::Workteam", "AWS::SageMaker::HumanTaskUi"})
    assert kinds == ["AWS::Cognito::UserPool", "AWS::SageMaker::Workforce", "AWS::SageMaker::Workteam"]
    [team] = [r["Properties"] for r in labeling.values() if r["Type"] == "AWS::SageMaker::Workteam"]
    assert team["WorkteamName"] == "mlp-dev-radiologists"
    assert "mlp-prod-Labeling" not in templates["prod"]


def test_a_section_level_alerts_key_is_refused_in_one_line(tmp_path):
    """Alerts are one environment-wide section now; the old per-section key names itself."""
    (tmp_path / "prod.yaml").write_text((CONFIG_DIR / "prod.yaml").read_text().replace(
        "\nmonitoring:\n", "\nmonitoring:\n  alerts: {emails: [ml-oncall@example.com]}\n"))
    with pytest.raises(ConfigError) as caught:
        build_app(tmp_path, outdir=str(tmp_path / "out"), context=CDK_CONTEXT)
    assert str(caught.value).endswith("prod.yaml: monitoring.alerts: unknown key; allowed keys: endpoints, engine")


def test_a_container_of_a_platform_repository_serves_its_tag_with_its_environment(tmp_path):
    (tmp_path / "dev.yaml").write_text((CONFIG_DIR / "dev.yaml").read_text().replace(
        '        - algorithm: xgboost\n          algorithm_version: "1.7-1"\n',
        "        - repository: churn-inference\n          tag: v3\n          environment: {LOG_LEVEL: info}\n"))
    serving = build_app(tmp_path, outdir=str(tmp_path / "out"), context=CDK_CONTEXT).node.find_child("dev").serving
    [container] = serving.resolve(serving.endpoints["churn-async"].model.containers)
    repository = serving.node.scope.training.images.repositories["churn-inference"]
    assert container["image"] == serving.resolve(repository.repository_uri_for_tag("v3"))
    assert container["environment"] == {"LOG_LEVEL": "info"}


def test_a_data_quality_stack_exists_only_with_recommendations_and_holds_exactly_those(templates):
    """dev and prod recommend rules for ``sales`` (a DataQuality stack with one workflow and a
    schedule per dataset); staging recommends none (no stack); no DataCatalog stack holds any of it."""
    with_stack = []
    for path in CONFIG_DIR.glob("*.yaml"):
        config = load_environment(path)
        stacks, recommended = templates[path.stem], _recommended(config)
        name = config.stack_name("DataQuality")
        assert (name in stacks) == bool(recommended), path.name
        catalog = stacks[config.stack_name("DataCatalog")]["Resources"].values()
        assert not any(r["Type"] == "AWS::StepFunctions::StateMachine" for r in catalog)
        if not recommended:
            continue
        with_stack.append(path.stem)
        resources = stacks[name]["Resources"].values()
        schedules = sorted(r["Properties"]["Description"] for r in resources if r["Type"] == "AWS::Scheduler::Schedule")
        assert schedules == sorted(f"Recommends Data Quality rules for {d}" for d in recommended)
        assert sum(r["Type"] == "AWS::StepFunctions::StateMachine" for r in resources) == 1  # shared
    assert sorted(with_stack) == ["dev", "prod"]


def test_recommendations_read_the_table_of_the_catalog_stack_that_holds_the_dataset(tmp_path, monkeypatch):
    """One Glue dataset a DataCatalog stack and one recommendation a DataQuality stack: ``accounts``
    is prepared in DataCatalog2, and DataQuality2 recommends on its table, deploying after it."""
    monkeypatch.setitem(GROUP_SIZES, "datasets", 1)
    monkeypatch.setitem(GROUP_SIZES, "recommendations", 1)
    text = (CONFIG_DIR / "dev.yaml").read_text()
    anchor = '          - IsComplete "customer_id"\n          - RowCount > 0\n        on_failure: fail\n'
    assert text.count(anchor) == 1
    (tmp_path / "dev.yaml").write_text(text.replace(
        anchor, anchor + '        recommendations: {schedule: "cron(0 5 ? * MON *)"}\n'))
    app = build_app(tmp_path, outdir=str(tmp_path / "out"), context=CDK_CONTEXT)
    stage = app.node.find_child("dev")
    assert [list(s.pipelines) for s in stage.data_catalog_stacks] == [["sales"], ["accounts"]]
    assert [list(s.recommendations) for s in stage.data_quality_stacks] == [["sales"], ["accounts"]]
    assert [s.stack_name for s in stage.data_quality_stacks] == ["mlp-dev-DataQuality", "mlp-dev-DataQuality2"]
    second, holder = stage.data_quality_stacks[1], stage.data_catalog_stacks[1]
    assert second.catalog_stacks == [holder] and holder in second.dependencies
    assert second.recommendations["accounts"].table == holder.pipelines["accounts"].output_table
    app.synth()
    template = json.loads(stack_templates(tmp_path / "out")["dev"]["mlp-dev-DataQuality2"].read_text())
    [run_policy] = [r["Properties"]["PolicyDocument"] for k, r in template["Resources"].items()
                    if r["Type"] == "AWS::IAM::ManagedPolicy" and "RunRole" in k]
    [catalog_read] = [s for s in run_policy["Statement"] if "glue:GetTable" in s["Action"]]
    tables = [json.dumps(r) for r in catalog_read["Resource"] if ":table/" in json.dumps(r)]
    # the processed database of the first DataCatalog stack (a weak reference), the holder's table
    assert len(tables) == 1 and '"StackName": "mlp-dev-DataCatalog"' in tables[0]
    assert tables[0].endswith('/accounts"]]}')
