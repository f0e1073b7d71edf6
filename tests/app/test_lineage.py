"""Lineage across the seams: every lake location a platform resource reads is written by another
(or is a declared landing), and every acting role may do what the service needs (tests/lineage.py).

The committed environments reuse the session synth; the negative test synthesizes one environment
with one location of its config broken and expects exactly the problem that break causes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from ml_platform.config import load_environments
from tests.conftest import CONFIG_DIR, stack_templates, synth_platform
from tests.lineage import (
    LANDING_ZONES,
    ZONES,
    Location,
    Resolver,
    check_all,
    check_environment,
    declared_landings,
    render,
)

#: Resource types that move data: each one in a template must yield at least one access.
DATA_FLOW_TYPES = {
    "AWS::Glue::Job", "AWS::Glue::Crawler", "AWS::DataBrew::Job", "AWS::SageMaker::Pipeline",
    "AWS::SageMaker::Model", "AWS::SageMaker::DataQualityJobDefinition",
    "AWS::SageMaker::ModelQualityJobDefinition", "AWS::SageMaker::ModelBiasJobDefinition",
    "AWS::SageMaker::ModelExplainabilityJobDefinition",
}


@pytest.fixture(scope="module")
def configs():
    return load_environments(CONFIG_DIR)


@pytest.fixture(scope="module")
def reports(templates, configs, request):
    """The report of every committed environment; its figures go to the terminal (also without -s)."""
    found = check_all(templates, configs)
    text = render(found)
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.ensure_newline()
            reporter.write_line(text)
    else:  # an xdist worker has no terminal: shown with -s
        print(text)
    return found


# -- the committed environments -------------------------------------------------------------------


def test_every_environment_is_checked(reports, templates):
    assert [r.env for r in reports] == sorted(templates)
    for report in reports:
        assert report.accesses and report.evaluations, report.figure()


def test_every_data_flow_resource_yields_accesses(reports, templates):
    for report in reports:
        seen = {(a.stack, a.logical_id) for a in report.accesses}
        silent = [f"{stack}/{lid} ({res['Type']})"
                  for stack, template in templates[report.env].items()
                  for lid, res in template["Resources"].items()
                  if res["Type"] in DATA_FLOW_TYPES and (stack, lid) not in seen]
        assert not silent, f"{report.env}: extractors found no lake location in: {silent}"


def test_every_lake_location_is_interpreted(reports):
    """Nothing that names the lake is left to chance: extend tests/lineage.py's EXTRACTORS."""
    gaps = [str(p) for r in reports for p in r.problems if p.kind in ("uninterpreted", "unresolved")]
    assert not gaps, "\n".join(gaps)


def test_committed_environments_have_no_lineage_problems(reports):
    problems = [str(p) for r in reports for p in r.problems]
    assert not problems, "\n".join(problems)


# -- one deliberately broken location -------------------------------------------------------------


def _lake_locations(value, path=()):
    """``(key path, {zone, prefix})`` of every lake location a config file names."""
    if isinstance(value, dict):
        if isinstance(value.get("zone"), str) and isinstance(value.get("prefix"), str):
            yield path, value
        for key, item in value.items():
            yield from _lake_locations(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _lake_locations(item, (*path, index))


def _choose_break(reports):
    """A landing (raw) location of a config file that a resource of the templates reads, and a zone
    it can move to where nothing is written: moved there, it is no landing and has no writer.

    Prefixes in configuration name only landings now (every other grant and location derives from
    a producer's hand-off), so a broken prefix inside the raw zone would still be a landing; the
    break moves the location out of the landing zone instead. Returns ``(report, raw config, key
    path, entry, new zone, affected reads)`` of the first match, preferring dev.
    """
    for report in sorted(reports, key=lambda r: r.env != "dev"):
        raw = yaml.safe_load((CONFIG_DIR / f"{report.env}.yaml").read_text())
        for path, entry in _lake_locations(raw):
            if entry["zone"] not in LANDING_ZONES:
                continue
            here = Location(entry["zone"], entry["prefix"])
            affected = [a for a in report.accesses if a.mode == "read" and a.location == here]
            writes = [a.location for a in report.accesses if a.mode == "write"]
            zone = next((z for z in ZONES if z not in LANDING_ZONES
                         and not any(w.hands_over_to(Location(z, entry["prefix"])) for w in writes)), None)
            if affected and zone:
                return report, raw, path, entry, zone, affected
    return None


def test_a_broken_location_is_reported_exactly(reports, tmp_path):
    """Move one landing location that a resource reads out of the landing zone: the check reports
    that the resource now reads what nothing writes, and nothing else changes."""
    chosen = _choose_break(reports)
    if chosen is None:
        pytest.fail("no config/<env>.yaml names a raw-zone {zone, prefix} location that a resource of the templates "
                    "reads; choose another location to break in this test")
    baseline, raw, path, entry, zone, affected = chosen
    target = raw
    for key in path:
        target = target[key]
    target["zone"] = zone
    where = f"{baseline.env}.yaml {'.'.join(map(str, path))}: {entry['zone']}/{entry['prefix']} -> {zone}/{entry['prefix']}"
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    (config_dir / f"{baseline.env}.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))

    assembly = synth_platform(tmp_path / "cdk.out", config_dir=config_dir)
    stacks = {name: json.loads(path.read_text()) for name, path in stack_templates(assembly)[baseline.env].items()}
    after = check_environment(baseline.env, stacks, load_environments(config_dir)[baseline.env])

    before = {str(p) for p in baseline.problems}
    new = [p for p in after.problems if str(p) not in before]
    gone = before - {str(p) for p in after.problems}
    assert not gone, f"breaking {where} removed problems: {sorted(gone)}"
    assert sorted((p.kind, p.logical_id) for p in new) == sorted(("unwritten", a.logical_id) for a in affected), (
        f"breaking {where}: expected only 'written by no platform resource' for the readers "
        f"{[a.logical_id for a in affected]}, got:\n" + "\n".join(map(str, new)))
    for problem in new:
        assert f"reads s3://bucket:{zone}/{entry['prefix']} as " in problem.message, problem
        assert problem.message.endswith("written by no platform resource and not a declared landing"), problem


# -- the engine on hand-made templates ------------------------------------------------------------

LAKE_STACK, JOBS_STACK = "t-dev-DataLake", "t-dev-Jobs"
KEY_ARN = "arn:aws:kms:eu-west-1:111122223333:key/lake"


def _out(name: str) -> dict:
    return {"Fn::GetStackOutput": {"StackName": LAKE_STACK, "OutputName": name}}


def _uri(bucket_output: str, prefix: str) -> dict:
    return {"Fn::Join": ["", ["s3://", _out(bucket_output), f"/{prefix}"]]}


def _arn(arn_output: str, suffix: str) -> dict:
    return {"Fn::Join": ["", [_out(arn_output), suffix]]}


def _bucket(extra: dict | None = None) -> dict:
    encryption = {"ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {
        "KMSMasterKeyID": {"Fn::GetAtt": ["DataLakeKey0A1B2C3D", "Arn"]}, "SSEAlgorithm": "aws:kms"}}]}
    return {"Type": "AWS::S3::Bucket", "Properties": {"BucketEncryption": encryption}, **(extra or {})}


def _lake() -> dict:
    return {
        "Resources": {
            "DataLakeKey0A1B2C3D": {"Type": "AWS::KMS::Key", "Properties": {}},
            # zone from the logical id CDK derives (path metadata off) ...
            "DataLakeRawBucket881B694B": _bucket(),
            # ... or from the construct path
            "Processed": _bucket({"Metadata": {"aws:cdk:path": "dev/DataLake/DataLake/ProcessedBucket/Resource"}}),
            "Other": {"Type": "AWS::S3::Bucket", "Properties": {}},
        },
        "Outputs": {
            "RawName": {"Value": {"Ref": "DataLakeRawBucket881B694B"}},
            "RawArn": {"Value": {"Fn::GetAtt": ["DataLakeRawBucket881B694B", "Arn"]}},
            "ProcessedName": {"Value": {"Ref": "Processed"}},
            "ProcessedArn": {"Value": {"Fn::GetAtt": ["Processed", "Arn"]}},
            "KeyArn": {"Value": {"Fn::GetAtt": ["DataLakeKey0A1B2C3D", "Arn"]}},
        },
    }


def _jobs() -> dict:
    role = {"Fn::GetAtt": ["JobRole", "Arn"]}
    statements = [
        {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": _arn("RawArn", "/sales/*")},
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": _out("RawArn"),
         "Condition": {"StringLike": {"s3:prefix": ["sales/*"]}}},
        {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": _out("KeyArn"),
         "Condition": {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}}},
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": _arn("ProcessedArn", "/other/*")},
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": [
            _arn("ProcessedArn", "/sales/*"), _out("ProcessedArn")]},
    ]
    return {"Resources": {
        "JobRole": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {}}},
        "JobPolicy": {"Type": "AWS::IAM::ManagedPolicy", "Properties": {
            "PolicyDocument": {"Version": "2012-10-17", "Statement": statements}, "Roles": [{"Ref": "JobRole"}]}},
        "RawDb": {"Type": "AWS::Glue::Database", "Properties": {"DatabaseInput": {"Name": "raw_db"}}},
        "SourceCrawler": {"Type": "AWS::Glue::Crawler", "Properties": {
            "Role": role, "DatabaseName": {"Ref": "RawDb"}, "Targets": {"S3Targets": [{"Path": _uri("RawName", "sales/")}]}}},
        "Job": {"Type": "AWS::Glue::Job", "Properties": {"Role": role, "DefaultArguments": {
            "--source_database": {"Ref": "RawDb"}, "--source_table": "sales",
            "--target_path": _uri("ProcessedName", "sales")}}},
        "TargetCrawler": {"Type": "AWS::Glue::Crawler", "Properties": {
            "Role": role, "Targets": {"S3Targets": [{"Path": _uri("ProcessedName", "sales/")}]}}},
        "OrphanCrawler": {"Type": "AWS::Glue::Crawler", "Properties": {
            "Role": role, "Targets": {"S3Targets": [{"Path": _uri("ProcessedName", "missing/")}]}}},
        "Mystery": {"Type": "AWS::Foo::Bar", "Properties": {"Where": _uri("RawName", "x/")}},
    }}


def _environment() -> dict[str, dict]:
    return {LAKE_STACK: _lake(), JOBS_STACK: _jobs()}


def test_resolver_follows_outputs_and_evaluates_functions():
    r = Resolver(_environment(), region="eu-west-1", account="111122223333")
    assert r.text(_uri("RawName", "sales/"), JOBS_STACK) == "s3://bucket:raw/sales/"
    assert r.text(_out("ProcessedArn"), JOBS_STACK) == "arn:aws:s3:::bucket:processed"
    assert r.text(_out("KeyArn"), JOBS_STACK) == KEY_ARN == r.key_arn
    assert r.text({"Fn::GetAtt": ["JobRole", "Arn"]}, JOBS_STACK) == "role:JobRole"
    assert r.text({"Ref": "RawDb"}, JOBS_STACK) == "raw_db"
    assert r.text({"Fn::Sub": ["arn:${AWS::Partition}:s3:::${B}/${!Literal}", {"B": _out("RawName")}]},
                  JOBS_STACK) == "arn:aws:s3:::bucket:raw/${Literal}"
    assert r.text({"Fn::Sub": "${JobRole.Arn} in ${AWS::Region}"}, JOBS_STACK) == "role:JobRole in eu-west-1"
    assert r.text({"Fn::Select": [1, {"Fn::Split": ["/", "a/b/c"]}]}, JOBS_STACK) == "b"
    assert r.text({"Fn::GetAtt": ["Job", "Name"]}, JOBS_STACK) == "<GetAtt t-dev-Jobs/Job.Name>"
    assert r.text({"Ref": "Other"}, LAKE_STACK) == "<Ref t-dev-DataLake/Other>"
    assert r.text({"Fn::GetStackOutput": {"StackName": "nowhere", "OutputName": "X"}}, JOBS_STACK) == "<Output nowhere.X>"
    assert r.target(_out("ProcessedArn"), JOBS_STACK) == (LAKE_STACK, "Processed")
    assert r.concrete("arn:aws:s3:::bucket:raw/runs/{execution}/x role:JobRole <Ref a/b>") == (
        "arn:aws:s3:::lake-raw/runs/execution-id/x arn:aws:iam::111122223333:role/JobRole unresolved")


@pytest.mark.parametrize(("written", "read", "handed_over"), [
    (Location("processed", "sales/"), Location("processed", "sales/year=2024/"), True),  # read inside a write
    (Location("processed", "sales/"), Location("processed", ""), True),  # a write inside a read
    (Location("processed", "sales/"), Location("curated", "sales/"), False),  # another zone
    (Location("artifacts", "churn/models/"), Location("artifacts", "churn/models-old/"), False),  # folder boundary
    (Location("curated", "churn/features/"), Location("curated", "churn/features"), True),  # S3 prefix, no slash
    (Location("artifacts", "m/"), Location("artifacts", "m/model.tar.gz", "object"), True),
    (Location("artifacts", "m/a.json", "object"), Location("artifacts", "m/a.json.gz", "object"), False),
    (Location("artifacts", "m/a.json", "object"), Location("artifacts", "m/a.json", "object"), True),
    (Location("artifacts", "runs/{execution}/train/"), Location("artifacts", "runs/{execution}/train"), True),
    (Location("artifacts", "runs/{execution}/train/"), Location("artifacts", "runs/abc/train/"), False),
])
def test_hand_off_rule(written, read, handed_over):
    assert written.hands_over_to(read) is handed_over


def test_check_finds_unwritten_reads_denials_and_gaps():
    report = check_environment("t", _environment())
    assert {(str(a.location), a.mode, a.logical_id) for a in report.accesses} == {
        ("s3://bucket:raw/sales/", "read", "SourceCrawler"),
        ("s3://bucket:raw/sales/", "read", "Job"),  # the catalog table, through its crawler
        ("s3://bucket:processed/sales/", "write", "Job"),
        ("s3://bucket:processed/sales/", "read", "TargetCrawler"),
        ("s3://bucket:processed/missing/", "read", "OrphanCrawler"),
    }
    assert report.handoffs == 1  # raw is a landing; processed/sales/ is handed over
    found = {(p.kind, p.logical_id, p.message.rsplit(": ", 1)[-1]) for p in report.problems}
    assert found == {
        ("denied", "Job", "s3:PutObject denied on arn:aws:s3:::lake-processed/sales/x"),
        ("unwritten", "OrphanCrawler", "written by no platform resource and not a declared landing"),
        ("denied", "OrphanCrawler", "s3:GetObject denied on arn:aws:s3:::lake-processed/missing/x"),
        ("uninterpreted", "Mystery", "names bucket:raw but AWS::Foo::Bar has no extractor in EXTRACTORS"),
    }
    assert "role:JobRole" in next(str(p) for p in report.problems if p.kind == "denied")


def _join(text: str, tokens: dict) -> dict:
    """``text`` as an ``Fn::Join`` with each marker of ``tokens`` replaced by its template value."""
    parts: list = [text]
    for marker, value in tokens.items():
        split = []
        for part in parts:
            pieces = part.split(marker) if isinstance(part, str) else [part]
            for i, piece in enumerate(pieces):
                split += [value, piece] if i else [piece]
        parts = split
    return {"Fn::Join": ["", parts]}


def test_pipeline_steps_hand_over_through_step_properties():
    run_folder = {"Std:Join": {"On": "/", "Values": ["s3://@OUT@/runs", {"Get": "Execution.PipelineExecutionId"}, "train"]}}
    body = {"Version": "2020-12-01",
            "Parameters": [{"Name": "Input", "Type": "String", "DefaultValue": "s3://@IN@/sales/"}],
            "Steps": [
                {"Name": "Prep", "Type": "Processing", "Arguments": {
                    "RoleArn": "@ROLE@",
                    "ProcessingInputs": [{"InputName": "d", "S3Input": {"S3Uri": {"Get": "Parameters.Input"}}}],
                    "ProcessingOutputConfig": {"Outputs": [{"OutputName": "train", "S3Output": {"S3Uri": run_folder}}]}}},
                {"Name": "Train", "Type": "Training", "Arguments": {
                    "RoleArn": "@ROLE@",
                    "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {
                        "S3Uri": {"Get": "Steps.Prep.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri"}}}}],
                    "OutputDataConfig": {"S3OutputPath": "s3://@OUT@/models"}}},
                {"Name": "Oops", "Type": "EMR", "Arguments": {}},
            ]}
    definition = _join(json.dumps(body), {"@IN@": _out("RawName"), "@OUT@": _out("ProcessedName"),
                                          "@ROLE@": {"Fn::GetAtt": ["JobRole", "Arn"]}})
    stacks = _environment()
    stacks[JOBS_STACK]["Resources"] = {
        "JobRole": stacks[JOBS_STACK]["Resources"]["JobRole"],
        "Pipeline": {"Type": "AWS::SageMaker::Pipeline", "Properties": {
            "RoleArn": {"Fn::GetAtt": ["JobRole", "Arn"]}, "PipelineDefinition": {"PipelineDefinitionBody": definition}}}}
    report = check_environment("t", stacks)
    assert {(a.mode, str(a.location), a.role) for a in report.accesses} == {
        ("read", "s3://bucket:raw/sales/", "role:JobRole"),
        ("write", "s3://bucket:processed/runs/{execution}/train/", "role:JobRole"),
        ("read", "s3://bucket:processed/runs/{execution}/train", "role:JobRole"),  # as the step passes it
        ("write", "s3://bucket:processed/models/", "role:JobRole"),
    }
    assert report.handoffs == 1
    assert [p.message for p in report.problems if p.kind == "uninterpreted"] == ["step Oops of type EMR not interpreted"]


def test_declared_landings_are_raw_and_deploy_time_artifacts():
    class Config:
        def model_dump(self, mode):
            return {"serving": {"a": {"model_data": {"zone": "artifacts", "key": "m/model.tar.gz"}}},
                    "monitoring": [{"zone": "curated", "key": "not/declared.json"}]}

    assert declared_landings(Config()) == [Location("artifacts", "m/model.tar.gz", "object"), Location("raw", "")]
    assert declared_landings(None) == [Location("raw", "")]


def test_declared_landings_of_the_committed_config(configs):
    for config in configs.values():
        assert all(d.zone in ("raw", "artifacts") for d in declared_landings(config))


def test_tool_is_importable():
    import importlib.util

    spec = importlib.util.spec_from_file_location("lineage_tool", Path(__file__).parents[2] / "tools" / "lineage.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert callable(module.main)


def test_the_feedback_loop_closes_in_prod(reports):
    """What the feedback loop writes is read by the monitors (ground truth) and by the next
    training run's Features step (feedback rows): no dead end, and each read has its writer."""
    [prod] = [r for r in reports if r.env == "prod"]
    writes = [a for a in prod.accesses if a.mode == "write"]
    for part, reader in (("/ground-truth/", "AWS::SageMaker::ModelQualityJobDefinition"),
                         ("/feedback/", "AWS::SageMaker::Pipeline")):
        reads = [a for a in prod.accesses if a.mode == "read" and part in str(a.location) and a.type == reader]
        assert reads, f"no {reader} reads {part}"
        assert all(any(w.location.hands_over_to(r.location) and w.type == "AWS::Lambda::Function" for w in writes)
                   for r in reads), reads
