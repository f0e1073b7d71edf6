"""Stack partitioning (docs/partitioning.md): the rule, and a mid-size environment synthesized with
the platform's gates: every template well under CloudFormation's quotas, appending a dataset leaves
the other stacks alone, and consumers read units of any stack."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from ml_platform.platform_app import build_app
from ml_platform.stacks.partition import FAMILIES, GROUP_SIZES, QUOTA_SHARE, groups, partition, stack_id
from tests.conftest import CDK_CONTEXT, ROOT, run_cfn_lint, stack_templates

sys.path.insert(0, str(ROOT / "tools"))
from scale_config import scale_config  # noqa: E402

#: CloudFormation's per-stack quotas: resources, template bytes (via S3), outputs, parameters.
QUOTAS = {"Resources": 500, "bytes": 1_048_576, "Outputs": 200, "Parameters": 200}
#: 40 Glue datasets (3 DataCatalog stacks; all but prod's ``accounts`` with rule recommendations, like
#: prod's ``sales``: 39, in one DataQuality stack reading the tables of all three), 35 endpoints (2 Serving),
#: 10 monitors (1 Monitoring: the monitoring role of more needs more than the 10 managed policies IAM
#: attaches by default).
MID = {"datasets": 40, "databrew": 6, "models": 3, "endpoints": 35, "monitored": 10}


# -- the rule ------------------------------------------------------------------------------------


def test_groups_are_consecutive_in_config_order_and_at_most_the_size():
    assert groups("abcdefg", 3) == [["a", "b", "c"], ["d", "e", "f"], ["g"]]
    assert groups([], 3) == []
    with pytest.raises(ValueError, match=r"^size: must be at least 1 \(got 0\)$"):
        groups("ab", 0)


def test_kinds_of_one_family_share_stacks_by_group_index_and_there_is_always_a_first():
    stacks = partition({"datasets": list(range(GROUP_SIZES["datasets"] + 1)), "databrew": ["b"]})
    assert [len(s["datasets"]) for s in stacks] == [GROUP_SIZES["datasets"], 1]
    assert [s["databrew"] for s in stacks] == [["b"], []]
    assert partition({"monitoring": []}) == [{"monitoring": []}]
    assert [stack_id("Serving", i) for i in range(3)] == ["Serving", "Serving2", "Serving3"]


def test_appending_a_unit_never_moves_an_existing_one():
    def placement(units: dict[str, list[str]]) -> dict[str, int]:
        return {u: i for i, stack in enumerate(partition(units)) for members in stack.values() for u in members}

    for kind in ("datasets", "databrew"):
        units = {"datasets": [f"d{n}" for n in range(37)], "databrew": [f"b{n}" for n in range(9)]}
        for _ in range(2 * GROUP_SIZES[kind]):
            before = placement(units)
            units[kind].append(f"{kind}{len(units[kind])}")
            after = placement(units)
            assert {u: after[u] for u in before} == before


def test_a_full_group_of_the_largest_units_is_planned_under_the_quota_share():
    """The sizes' arithmetic (measured per-unit resources, docs/partitioning.md) stays under 80%."""
    largest = {"datasets": 20, "databrew": 14, "endpoints": 16, "batch": 4, "monitoring": 30, "recommendations": 3}
    # DataQuality's shared resources as measured at a full stack (the workflow role's 7 policies)
    shared = {"DataCatalog": 25, "Serving": 3, "Monitoring": 10, "DataQuality": 18}
    for family, base in shared.items():
        total = base + sum(GROUP_SIZES[k] * largest[k] for k, f in FAMILIES.items() if f == family)
        assert total < QUOTA_SHARE * QUOTAS["Resources"], family


# -- a mid-size environment ------------------------------------------------------------------------


def _synth(tmp: Path, **counts: int):
    config_dir = tmp / "config"
    config_dir.mkdir(parents=True)
    (config_dir / "scale.yaml").write_text(json.dumps(scale_config("scale", **counts)))
    app = build_app(config_dir, outdir=str(tmp / "out"), context=CDK_CONTEXT)
    app.synth()  # with the platform's nag packs: any unacknowledged finding raises
    return app.node.find_child("scale"), stack_templates(tmp / "out")["scale"]


@pytest.fixture(scope="module")
def mid(tmp_path_factory):
    return _synth(tmp_path_factory.mktemp("mid"), **MID)


@pytest.fixture(scope="module")
def appended(tmp_path_factory):
    return _synth(tmp_path_factory.mktemp("appended"), **{**MID, "datasets": MID["datasets"] + 1})


def test_the_stage_creates_as_many_stacks_as_the_units_need(mid):
    _, templates = mid
    extra = {name.removeprefix("mlp-scale-") for name in templates} - {
        "Alerting", "DataLake", "Network", "DataCatalog", "Training", "Serving", "Monitoring", "Governance"}
    assert extra == {"DataCatalog2", "DataCatalog3", "DataQuality", "Serving2"}


def test_every_template_stays_under_the_quota_share_and_passes_cfn_lint(mid):
    _, templates = mid
    for name, path in templates.items():
        body = path.read_bytes()
        template = json.loads(body)
        used = {"bytes": len(body), **{k: len(template.get(k, {})) for k in ("Resources", "Outputs", "Parameters")}}
        for quota, limit in QUOTAS.items():
            assert used[quota] < QUOTA_SHARE * limit, f"{name}: {quota} {used[quota]} of {limit}"
    lint = run_cfn_lint(sorted(templates.values()))
    assert lint.returncode == 0 and lint.stdout == "", lint.stdout


def test_every_further_stack_routes_its_own_failures_to_the_one_topic(mid):
    stage, templates = mid
    for stack in [*stage.data_catalog_stacks, *stage.serving_stacks, *stage.monitoring_stacks,
                  *stage.data_quality_stacks]:
        assert stack.alerts.topic is stage.alerting.path.topic, stack.stack_name
    quality = json.loads(templates["mlp-scale-DataQuality"].read_text())["Resources"]
    machines = {k for k, r in quality.items() if r["Type"] == "AWS::StepFunctions::StateMachine"}
    routed = {r["Properties"]["EventPattern"]["detail"]["stateMachineArn"][0]["Ref"] for r in quality.values()
              if r["Type"] == "AWS::Events::Rule"}
    assert routed == machines and len(machines) == 1  # one workflow for the stack's 39 datasets
    assert len(stage.data_quality_stacks[0].recommendations) == 39
    resources = json.loads(templates["mlp-scale-DataCatalog3"].read_text())["Resources"]
    [crawler_names] = [r["Properties"]["EventPattern"]["detail"]["crawlerName"] for r in resources.values()
                       if r["Type"] == "AWS::Events::Rule"
                       and r["Properties"]["EventPattern"]["detail-type"] == ["Glue Crawler State Change"]]
    routed = {resources[name["Ref"]]["Properties"]["Name"] for name in crawler_names}
    crawled = {r["Properties"]["Name"] for r in resources.values() if r["Type"] == "AWS::Glue::Crawler"}
    assert routed == crawled and len(crawled) == 2 * len(stage.data_catalog_stacks[2].pipelines)


def test_units_are_placed_in_config_order_and_consumers_see_all(mid):
    stage, _ = mid
    catalog = stage.config.data_catalog
    assert [list(s.pipelines) for s in stage.data_catalog_stacks] == groups(catalog.datasets, GROUP_SIZES["datasets"])
    assert stage.data_catalog.athena is stage.data_catalog_stacks[2].athena
    recommended = [d for d, s in catalog.datasets.items() if s.quality and s.quality.recommendations]
    assert [list(s.recommendations) for s in stage.data_quality_stacks] == groups(
        recommended, GROUP_SIZES["recommendations"])
    assert stage.data_quality is stage.data_quality_stacks[0]
    assert sorted(stage.datasets) == sorted([*catalog.datasets, *catalog.databrew])
    assert sorted(stage.endpoints) == sorted(stage.config.serving.endpoints)
    monitored = {k for s in stage.monitoring_stacks for k in s.monitors}
    assert monitored == set(stage.config.monitoring.endpoints)


def test_a_training_pipeline_reads_a_dataset_of_the_second_catalog_stack(mid):
    stage, _ = mid
    second = stage.data_catalog_stacks[1]
    assert "ds014" in second.pipelines
    pipeline = stage.training.pipelines["m01"]
    assert pipeline.sources["ds014"] is second.outputs["ds014"]


def test_a_data_quality_stack_reads_the_tables_of_the_catalog_stacks_that_hold_its_datasets(mid):
    """The DataQuality stack's datasets are prepared in all three DataCatalog stacks: it recommends
    on their tables (the first stack's database, the table the holder's target crawler writes),
    each schedule naming its own, and deploys after all three."""
    stage, templates = mid
    (quality,) = stage.data_quality_stacks
    holders = {d: s for s in stage.data_catalog_stacks for d in s.pipelines}
    assert quality.catalog_stacks == stage.data_catalog_stacks
    for dataset, recommendations in quality.recommendations.items():
        pipeline = holders[dataset].pipelines[dataset]
        assert recommendations.table == pipeline.output_table == pipeline.target_crawler.table_name
        assert recommendations.database_name == pipeline.output_database.database_name
    dependencies = {d.stack_name for d in quality.dependencies}
    assert {"mlp-scale-DataCatalog", "mlp-scale-DataCatalog2", "mlp-scale-DataCatalog3"} <= dependencies
    assert not any(q.stack_name in {d.stack_name for s in stage.data_catalog_stacks for d in s.dependencies}
                   for q in stage.data_quality_stacks)
    template = json.loads(templates["mlp-scale-DataQuality"].read_text())
    inputs = [r["Properties"]["Target"]["Input"] for r in template["Resources"].values()
              if r["Type"] == "AWS::Scheduler::Schedule"]
    assert len(inputs) == 39
    for text in map(json.dumps, inputs):
        assert '"StackName": "mlp-scale-DataCatalog"' in text  # the database, a weak reference
    assert "Fn::ImportValue" not in json.dumps(template)


def test_appending_a_dataset_changes_only_the_stack_it_joins(mid, appended):
    _, before = mid
    _, after = appended
    assert sorted(before) == sorted(after)
    changed = sorted(n for n in before if before[n].read_bytes() != after[n].read_bytes())
    assert changed == ["mlp-scale-DataCatalog3", "mlp-scale-DataQuality"]


# -- training pipelines over several stacks ----------------------------------------------------------

#: Two pipelines more than a Training stack holds (churn, m01...): the second stack has the last two
#: models, and endpoint ep<N> serves model m<N>, the first of them.
N = GROUP_SIZES["pipelines"]
PIPELINES = {"datasets": 2, "databrew": 1, "models": N + 2, "endpoints": N + 2, "monitored": 2}


@pytest.fixture(scope="module")
def many_pipelines(tmp_path_factory):
    return _synth(tmp_path_factory.mktemp("pipelines"), **PIPELINES)


def test_pipelines_beyond_a_group_go_to_a_training_pipelines_stack_under_the_quota_share(many_pipelines):
    stage, templates = many_pipelines
    assert [s.stack_name for s in stage.training_stacks] == ["mlp-scale-Training", "mlp-scale-TrainingPipelines2"]
    models = [p.model for p in stage.config.training.pipelines]
    assert [list(s.pipelines) for s in stage.training_stacks] == groups(models, GROUP_SIZES["pipelines"])
    assert sorted(stage.pipelines) == sorted(models)
    second = stage.training_stacks[1]
    assert second.roles is stage.training.roles and second.registry is stage.training.registry
    for name, path in templates.items():
        body = path.read_bytes()
        resources = len(json.loads(body)["Resources"])
        assert len(body) < QUOTA_SHARE * QUOTAS["bytes"] and resources < QUOTA_SHARE * QUOTAS["Resources"], name
    resources = json.loads(templates["mlp-scale-TrainingPipelines2"].read_text())["Resources"]
    pipelines = {r["Properties"]["PipelineName"] for r in resources.values() if r["Type"] == "AWS::SageMaker::Pipeline"}
    assert pipelines == {f"mlp-scale-m{N:02d}", f"mlp-scale-m{N + 1:02d}"}
    rules = [r["Properties"]["EventPattern"] for r in resources.values() if r["Type"] == "AWS::Events::Rule"]
    assert [p["detail-type"] for p in rules].count(["SageMaker Model Building Pipeline Execution Status Change"]) == 1
    # the models' promotions live beside their pipelines; the roles they run pipelines as and the
    # registry stay in the first stack
    assert not any(r["Type"] == "AWS::SageMaker::ModelPackageGroup" for r in resources.values())
    roles = [k for k, r in resources.items() if r["Type"] == "AWS::IAM::Role"]
    assert roles and all("Promotion" in k for k in roles)
    assert {f"m{N:02d}", f"m{N + 1:02d}"} <= {m for m, p in stage.training_stacks[1].promotions.items()
                                               if p.node.scope is stage.training_stacks[1]}


def test_an_endpoint_serving_a_model_of_the_second_pipelines_stack_reads_its_artifacts(many_pipelines):
    stage, templates = many_pipelines
    assert stage.config.serving.endpoints[f"ep{N:03d}"].model == f"m{N:02d}"
    training = json.loads(templates["mlp-scale-Training"].read_text())["Resources"]
    policies = json.dumps([r["Properties"] for r in training.values() if r["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")])
    assert f"m{N:02d}/pipeline/models/" in policies  # the inference role's grant, made through stage.pipelines
