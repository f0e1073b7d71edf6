"""The architecture picture (tools/review/architecture.py): DOT laid out left to right in lifecycle
order, every endpoint, pipeline and bucket drawn, hand-offs derived from the templates, and a
deterministic SVG + PNG rendered without a system Graphviz."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tools.review.architecture import architecture_dot, render_architecture
from tools.review.architecture_edges import build_architecture
from tools.review.architecture_model import MAX_INDIVIDUAL, STAGE_ORDER, strip_hash

ROOT = Path(__file__).resolve().parents[2]
ENVS = ("dev", "staging", "prod")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Stages each committed environment has (its config decides: dev labels, prod monitors).
EXPECTED_STAGES = {
    "dev": ["lake", "preparation", "training", "serving", "labeling", "return"],
    "staging": ["lake", "preparation", "training", "serving", "monitoring", "return"],
    "prod": ["lake", "preparation", "training", "serving", "monitoring", "return"],
}
CFN_TOKENS = re.compile(r"Fn::|\bRef\b|\$\{|<GetAtt|<Output|AWS::")


def snapshot(env: str) -> dict[str, dict]:
    return {p.name.removesuffix(".template.json"): json.loads(p.read_text())
            for p in sorted((ROOT / "tests" / "snapshots" / env).glob("*.template.json"))}


def clusters(dot: str) -> list[str]:
    return re.findall(r"subgraph cluster_(\w+)", dot)


def labels(dot: str) -> str:
    """Every label text of a DOT source (node, cluster, edge and graph labels)."""
    return "\n".join(re.findall(r"label=(<.*?>|\"[^\"]*\")[;,\]]", dot))


# -- committed environments ----------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVS)
def test_lifecycle_left_to_right_in_stage_order(env: str) -> None:
    dot = architecture_dot(env, snapshot(env))
    assert "rankdir=LR" in dot
    lifecycle = [c for c in clusters(dot) if c in STAGE_ORDER]
    assert lifecycle == EXPECTED_STAGES[env]
    assert lifecycle == sorted(lifecycle, key=STAGE_ORDER.__getitem__)
    assert "alerts" in clusters(dot)  # the side lane


@pytest.mark.parametrize("env", ENVS)
def test_every_endpoint_pipeline_and_bucket_is_drawn(env: str) -> None:
    templates = snapshot(env)
    dot = architecture_dot(env, templates)
    wanted = {strip_hash(lid) for t in templates.values() for lid, r in t["Resources"].items()
              if r["Type"] in ("AWS::SageMaker::Endpoint", "AWS::SageMaker::Pipeline", "AWS::S3::Bucket")}
    assert wanted and all(name in dot for name in wanted), sorted(n for n in wanted if n not in dot)


@pytest.mark.parametrize("env", ENVS)
def test_labels_have_no_cloudformation_tokens(env: str) -> None:
    text = labels(architecture_dot(env, snapshot(env)))
    assert text and not CFN_TOKENS.search(text), CFN_TOKENS.search(text)


def test_prod_reads_as_a_lifecycle() -> None:
    arch = build_architecture("prod", snapshot("prod"))
    nodes = arch.nodes
    edges = {(nodes[e.src].title, nodes[e.dst].title, e.label) for e in arch.edges}
    assert ("churn", "churn", "registers") in edges  # pipeline -> registry group
    assert ("churn", "churn", "serves the approved") in edges  # registry group -> endpoint
    assert ("churn retrain gate", "churn", "starts") in edges  # retraining
    assert ("churn feedback", "churn", "curated: churn/feedback/") in edges  # labelled feedback -> pipeline
    assert ("raw zone", "2 Glue ETL jobs", "accounts/\nsales/") in edges
    assert ("2 Glue ETL jobs", "processed zone", "accounts/\nsales/") in edges
    assert len(nodes) < 40


# -- rendering -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[bytes, bytes]]:
    out = {}
    for env in ENVS:
        svg, png = render_architecture(env, snapshot(env), tmp_path_factory.mktemp(env))
        out[env] = (svg.read_bytes(), png.read_bytes())
    return out


def _cluster_left_edges(svg: bytes) -> dict[str, float]:
    """The leftmost x of each cluster's outline in a Graphviz SVG."""
    ns = {"svg": "http://www.w3.org/2000/svg"}
    left = {}
    for group in ET.fromstring(svg).iter("{http://www.w3.org/2000/svg}g"):
        if group.get("class") != "cluster":
            continue
        title = group.find("svg:title", ns).text.removeprefix("cluster_")
        outline = group.find("svg:path", ns) if group.find("svg:path", ns) is not None else group.find("svg:polygon", ns)
        numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", outline.get("d") or outline.get("points"))]
        left[title] = min(numbers[0::2])
    return left


@pytest.mark.parametrize("env", ENVS)
def test_render_writes_valid_svg_and_png_with_stages_left_to_right(env: str, rendered: dict) -> None:
    svg, png = rendered[env]
    assert ET.fromstring(svg).tag == "{http://www.w3.org/2000/svg}svg"
    assert png.startswith(PNG_SIGNATURE) and len(png) > 10_000
    left = _cluster_left_edges(svg)
    xs = [left[stage] for stage in EXPECTED_STAGES[env]]
    assert xs == sorted(xs) and len(set(xs)) == len(xs)


def test_render_is_byte_identical(rendered: dict, tmp_path: Path) -> None:
    svg, png = render_architecture("prod", snapshot("prod"), tmp_path)
    assert (svg.read_bytes(), png.read_bytes()) == rendered["prod"]
    assert [p.name for p in (svg, png)] == ["architecture.svg", "architecture.png"]


# -- features on small hand-written templates ----------------------------------------------------

ENV = "t"
LAKE, CATALOG, SERVING, TRAINING, MONITORING, LABELING, ALERTING = (
    f"p-{ENV}-{s}" for s in ("DataLake", "DataCatalog", "Serving", "Training", "Monitoring", "Labeling", "Alerting"))


def _lake() -> dict:
    buckets = {f"DataLake{z}Bucket{i:08X}": {"Type": "AWS::S3::Bucket", "Properties": {}}
               for i, z in enumerate(("Raw", "Processed", "Curated", "Artifacts"), 0xA0000000)}
    outputs = {f"Out{lid}": {"Value": {"Ref": lid}} for lid in buckets}
    return {"Resources": buckets, "Outputs": outputs}


def _bucket(zone: str) -> dict:
    lid = next(k for k in _lake()["Resources"] if f"DataLake{zone}Bucket" in k)
    return {"Fn::GetStackOutput": {"StackName": LAKE, "OutputName": f"Out{lid}"}}


def _function(env: dict, **extra: object) -> dict:
    return {"Type": "AWS::Lambda::Function", "Properties": {"Environment": {"Variables": env}, **extra}}


def _endpoint(name: str) -> dict:
    return {"Type": "AWS::SageMaker::Endpoint", "Properties": {"EndpointName": f"p-{ENV}-{name}"}}


def _dot_edge(dot: str, src_title: str, dst_title: str) -> str:
    arch_ids = dict(re.findall(r"^\s+(\w+) \[label=<<B>([^<]*)</B>", dot, re.M))
    ids = {title: node for node, title in arch_ids.items()}
    lines = [line for line in dot.splitlines() if "style=invis" not in line and (
        f"{ids[src_title]} -> {ids[dst_title]} " in line or f"{ids[dst_title]} -> {ids[src_title]} " in line)]
    assert lines, (src_title, dst_title)
    return lines[0]


def test_cross_stack_lake_reads_and_writes_name_the_producer() -> None:
    job = {"Type": "AWS::Glue::Job", "Properties": {"Name": f"p-{ENV}-sales-to-processed", "DefaultArguments": {
        "--target_path": {"Fn::Join": ["", ["s3://", _bucket("Processed"), "/sales/"]]}}}}
    arch = build_architecture(ENV, {LAKE: _lake(), CATALOG: {"Resources": {"SalesJobAAAAAAAA": job}}})
    edges = {(arch.nodes[e.src].title, arch.nodes[e.dst].title, e.label) for e in arch.edges}
    assert ("Glue ETL job", "processed zone", "sales/") in edges
    assert arch.nodes["preparation_job"].detail == "sales-to-processed"  # physical name, no <prefix>-<env>-


def test_many_similar_resources_are_one_node_with_every_name_in_its_tooltip() -> None:
    many = {f"E{i}EndpointAAAAAAA{i}": _endpoint(f"e{i}") for i in range(MAX_INDIVIDUAL + 1)}
    dot = architecture_dot(ENV, {LAKE: _lake(), SERVING: {"Resources": many}})
    assert f"<B>{MAX_INDIVIDUAL + 1} endpoints</B>" in dot
    assert all(strip_hash(lid) in dot for lid in many)
    few = dict(list(many.items())[:MAX_INDIVIDUAL])
    arch = build_architecture(ENV, {LAKE: _lake(), SERVING: {"Resources": few}})
    assert sorted(n.title for n in arch.stage_nodes("serving")) == [f"e{i}" for i in range(MAX_INDIVIDUAL)]


def test_registry_hand_off_from_pipeline_to_the_endpoint_that_serves_it() -> None:
    body = json.dumps({"Steps": [{"Name": "Register", "Arguments": {"ModelPackageGroupName": f"p-{ENV}-churn"}}]})
    training = {"Resources": {
        "ChurnPipelineAAAAAAAA": {"Type": "AWS::SageMaker::Pipeline", "Properties": {
            "PipelineName": f"p-{ENV}-churn", "PipelineDefinition": {"PipelineDefinitionBody": body}}},
        "RegistryChurnGroupAAAAAAAA": {"Type": "AWS::SageMaker::ModelPackageGroup",
                                       "Properties": {"ModelPackageGroupName": f"p-{ENV}-churn"}}}}
    serving = {"Resources": {
        "ChurnModelAAAAAAAA": {"Type": "AWS::SageMaker::Model", "Properties": {"Containers": [
            {"ModelPackageName": f"arn:aws:sagemaker:us-east-1:1:model-package/p-{ENV}-churn/3"}]}},
        "ChurnConfigAAAAAAAA": {"Type": "AWS::SageMaker::EndpointConfig", "Properties": {"ProductionVariants": [
            {"ModelName": {"Fn::GetAtt": ["ChurnModelAAAAAAAA", "ModelName"]}, "InstanceType": "ml.m5.large",
             "InitialInstanceCount": 2}]}},
        "ChurnEndpointAAAAAAAA": {"Type": "AWS::SageMaker::Endpoint", "Properties": {
            "EndpointName": {"Fn::ImportValue": "elsewhere"},  # an unresolvable name: the logical ID stands in
            "EndpointConfigName": {"Fn::GetAtt": ["ChurnConfigAAAAAAAA", "EndpointConfigName"]}}}}}
    arch = build_architecture(ENV, {LAKE: _lake(), TRAINING: training, SERVING: serving})
    edges = {(e.src, e.dst, e.label) for e in arch.edges}
    assert ("training_pipeline_0", "training_registry_0", "registers") in edges
    assert ("training_registry_0", "serving_endpoint_0", "serves v3") in edges
    assert arch.nodes["serving_endpoint_0"].title == "ChurnEndpoint"
    assert "ml.m5.large ×2" in arch.nodes["serving_endpoint_0"].detail


def test_hand_offs_after_preparation_run_from_writer_to_reader_and_unread_writes_go_back_to_the_lake() -> None:
    monitoring = {"Resources": {
        "MergeFunctionAAAAAAAA": _function({"BUCKET_OUTPUT": _bucket("Curated"), "OUTPUT_PREFIX": "churn/feedback/"}),
        "ReportFunctionAAAAAAAA": _function({"BUCKET_REPORTS": _bucket("Artifacts"), "REPORTS_PREFIX": "reports/"})}}
    labeling = {"Resources": {
        "UseFunctionAAAAAAAA": _function({"BUCKET_INPUT": _bucket("Curated"), "INPUT_PREFIX": "churn/feedback/"})}}
    arch = build_architecture(ENV, {LAKE: _lake(), MONITORING: monitoring, LABELING: labeling})
    edges = {(arch.nodes[e.src].title, arch.nodes[e.dst].title, e.label) for e in arch.edges}
    assert ("merge", "use", "curated: churn/feedback/") in edges
    assert ("report", "artifacts zone", "reports/") in edges
    assert arch.nodes["return_artifacts"].stage == "return"
    assert not any(arch.nodes[e.dst].stage == "lake" for e in arch.edges)


def test_retraining_and_writes_into_the_lake_are_drawn_against_the_layout_direction() -> None:
    training = {"Resources": {"ChurnPipelineAAAAAAAA": {"Type": "AWS::SageMaker::Pipeline",
                                                        "Properties": {"PipelineName": f"p-{ENV}-churn"}}}}
    monitoring = {"Resources": {"GateFunctionAAAAAAAA": _function({"PIPELINE_NAME": f"p-{ENV}-churn"}),
                                "NotAGateFunctionAAAAAAAA": _function({"ENDPOINT_NAME": f"p-{ENV}-churn"})}}
    job = {"Type": "AWS::Glue::Job", "Properties": {"DefaultArguments": {
        "--target_path": {"Fn::Join": ["", ["s3://", _bucket("Processed"), "/sales/"]]}}}}
    templates = {LAKE: _lake(), TRAINING: training, MONITORING: monitoring, CATALOG: {"Resources": {"JobAAAAAAAA": job}}}
    arch = build_architecture(ENV, templates)
    assert [(arch.nodes[e.src].title, e.label) for e in arch.edges if e.label == "starts"] == [("gate", "starts")]
    dot = architecture_dot(ENV, templates)
    starts = _dot_edge(dot, "churn", "gate")
    assert starts.lstrip().startswith("training_pipeline_0 -> monitoring_function_0") and "dir=back" in starts
    write = _dot_edge(dot, "processed zone", "Glue ETL job")
    assert write.lstrip().startswith("lake_bucket") and "dir=back" in write


def test_alert_routes_are_a_side_lane_into_the_alerting_topic() -> None:
    topic = {"Fn::GetStackOutput": {"StackName": ALERTING, "OutputName": "Topic"}}
    alerting = {"Resources": {"AlertsTopicAAAAAAAA": {"Type": "AWS::SNS::Topic", "Properties": {}}},
                "Outputs": {"Topic": {"Value": {"Ref": "AlertsTopicAAAAAAAA"}}}}
    catalog = {"Resources": {
        "JobAAAAAAAA": {"Type": "AWS::Glue::Job", "Properties": {}},
        "JobFailedAAAAAAAA": {"Type": "AWS::Events::Rule", "Properties": {"Targets": [{"Arn": topic, "Id": "T"}]}},
        "ErrorsAAAAAAAA": {"Type": "AWS::CloudWatch::Alarm", "Properties": {"AlarmActions": [topic]}},
        "SilentAAAAAAAA": {"Type": "AWS::CloudWatch::Alarm", "Properties": {}}}}
    arch = build_architecture(ENV, {LAKE: _lake(), CATALOG: catalog, ALERTING: alerting})
    lane = arch.nodes["alerts_preparation"]
    assert (lane.stage, lane.detail) == ("alerts", "1 rule · 1 alarm")
    assert [(e.src, e.dst, e.style) for e in arch.edges if e.style == "alert"] == [("alerts_preparation", "alerts_topic_0", "alert")]
    dot = architecture_dot(ENV, {LAKE: _lake(), CATALOG: catalog, ALERTING: alerting})
    assert clusters(dot)[-1] == "alerts"
