"""RawToParquetJob: defaults, options and validation errors."""

from __future__ import annotations

import json

import pytest

from ml_platform.constructs.preparation.glue_etl import GLUE_VERSION, JobSettings, QualitySettings, RawToParquetJob
from tests.unit.glue_fixtures import Catalog, actions

COLUMNS = {"order_id": "string", "amount": "decimal(12,2)"}


def make(**props):
    catalog = Catalog()
    job = RawToParquetJob(
        catalog.stack, "Job", source_database=catalog.databases["raw"], source_table="sales",
        source_bucket=catalog.lake.raw_bucket, source_prefix="sales/",
        target_bucket=catalog.lake.processed_bucket, target_prefix=props.pop("target_prefix", "sales/"),
        data_key=catalog.lake.encryption_key, security=catalog.security,
        columns=props.pop("columns", COLUMNS), **props,
    )
    return catalog, job


@pytest.fixture(scope="module")
def default():
    return make()


def test_defaults(default):
    catalog, _ = default
    props = catalog.one("AWS::Glue::Job")["Properties"]
    assert GLUE_VERSION.name == "V5_1" and props["GlueVersion"] == "5.1"
    assert (props["WorkerType"], props["NumberOfWorkers"], props["Timeout"], props["MaxRetries"]) == ("G.1X", 2, 60, 0)
    assert props["ExecutionProperty"] == {"MaxConcurrentRuns": 1}
    assert props["Command"]["Name"] == "glueetl"
    assert props["SecurityConfiguration"] == {"Ref": catalog.stack.resolve(catalog.security.configuration.node.default_child.logical_id)}
    arguments = props["DefaultArguments"]
    assert arguments["--job-bookmark-option"] == "job-bookmark-enable"
    assert arguments["--enable-continuous-cloudwatch-log"] == "true"
    assert arguments["--enable-observability-metrics"] == "true" and "--enable-metrics" in arguments
    assert json.loads(arguments["--columns"]) == [["order_id", "string"], ["amount", "decimal(12,2)"]]
    assert arguments["--source_table"] == "sales"
    assert arguments["--target_path"]["Fn::Join"][1][-1] == "/sales/"
    assert "--dq_ruleset" not in arguments and "--dq_on_failure" not in arguments
    assert arguments["--extra-py-files"].endswith(".zip")  # the logic module, importable by name


def test_role_least_privilege_without_quality(default):
    catalog, job = default
    statements = catalog.policy_of(job.role)
    granted = actions(statements)
    assert "glue:PublishDataQuality" not in granted
    assert not [a for a in granted if a.startswith("s3:List") and a != "s3:ListBucket" and a != "s3:ListMultipartUploadParts"]
    scripts = [r for s in statements if s["Action"] == "s3:GetObject"
               for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])]
    suffixes = sorted(json.dumps(r).rsplit(".", 1)[-1] for r in scripts)
    assert suffixes == ['py"]]}', 'zip"]]}']  # the script and the logic archive, object by object
    metrics = next(s for s in statements if s["Action"] == "cloudwatch:PutMetricData")
    assert metrics["Condition"] == {"StringEquals": {"cloudwatch:namespace": ["Glue"]}}
    writes = next(s for s in statements if "s3:PutObject" in s["Action"])
    assert writes["Resource"]["Fn::Join"][1][-1] == "/sales/*"
    assert catalog.resources("AWS::IAM::Policy") == {}


def test_three_encrypted_log_groups_and_continuous_logging_to_its_own(default):
    catalog, job = default
    groups = catalog.resources("AWS::Logs::LogGroup")
    assert len(groups) == 3 and all("KmsKeyId" in g["Properties"] for g in groups.values())
    suffixes = sorted(g["Properties"]["LogGroupName"]["Fn::Join"][1][-1] for g in groups.values())
    assert suffixes == ["/continuous", "/error", "/output"]
    arguments = catalog.one("AWS::Glue::Job")["Properties"]["DefaultArguments"]
    assert arguments["--continuous-log-logGroup"] == {"Ref": catalog.stack.resolve(job.log_group.node.default_child.logical_id)}


@pytest.mark.parametrize("on_failure", ["fail", "log"])
def test_quality_rules_and_failure_action_reach_the_job(on_failure):
    catalog, job = make(quality=QualitySettings(rules=['IsComplete "order_id"', "RowCount > 0"], on_failure=on_failure))
    arguments = catalog.one("AWS::Glue::Job")["Properties"]["DefaultArguments"]
    assert arguments["--dq_ruleset"] == 'Rules = [\n    IsComplete "order_id",\n    RowCount > 0\n]'
    assert arguments["--dq_on_failure"] == on_failure
    statements = catalog.policy_of(job.role)
    assert "glue:PublishDataQuality" in actions(statements)
    metrics = next(s for s in statements if s["Action"] == "cloudwatch:PutMetricData")
    assert metrics["Condition"]["StringEquals"]["cloudwatch:namespace"] == ["Glue", "Glue Data Quality"]


def test_size_options_and_name():
    catalog, _ = make(settings=JobSettings(worker_type="G.2X", workers=10, timeout_minutes=240, max_retries=2), job_name="t-sales")
    props = catalog.one("AWS::Glue::Job")["Properties"]
    assert (props["WorkerType"], props["NumberOfWorkers"], props["Timeout"], props["MaxRetries"], props["Name"]) == ("G.2X", 10, 240, 2, "t-sales")


def test_every_column_and_prefix_problem_is_reported_at_once():
    with pytest.raises(ValueError) as caught:
        make(columns={"Bad Name": "string", "amount": "money", "year": "int"}, target_prefix="sales")
    message = str(caught.value)
    assert message.startswith("RawToParquetJob Catalog/Job: columns: column name 'Bad Name' is invalid")
    assert "type 'money' is not supported" in message and "'year' is a partition key" in message
    assert "target_prefix: prefix 'sales' is invalid" in message


def test_no_columns_is_an_error():
    with pytest.raises(ValueError, match="columns: at least one column is needed"):
        make(columns={})


@pytest.mark.parametrize(("settings", "message"), [
    ({"worker_type": "G.16X"}, "worker_type"),
    ({"workers": 1}, "greater than or equal to 2"),
    ({"timeout_minutes": 3000}, "less than or equal to 2880"),
    ({"max_retries": -1}, "greater than or equal to 0"),
])
def test_job_settings_are_range_checked(settings, message):
    with pytest.raises(ValueError, match=message):
        JobSettings(**settings)


@pytest.mark.parametrize(("rules", "message"), [
    ([], "a ruleset needs at least one rule"),
    (['isComplete "a"'], "unknown rule type 'isComplete'"),
])
def test_quality_settings_reject_malformed_dqdl(rules, message):
    with pytest.raises(ValueError, match=message):
        QualitySettings(rules=rules)


def test_quality_on_failure_is_fail_or_log():
    assert QualitySettings(rules=["RowCount > 0"]).on_failure == "fail"
    with pytest.raises(ValueError, match="'fail' or 'log'"):
        QualitySettings(rules=["RowCount > 0"], on_failure="warn")
