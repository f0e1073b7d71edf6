"""DatasetWorkflow, DatasetPipeline and AthenaWorkgroup (their failure routes: tests/unit/test_alerting.py)."""

from __future__ import annotations

import pytest
from aws_cdk import RemovalPolicy

from ml_platform.constructs.lake.athena_workgroup import AthenaSettings, AthenaWorkgroup
from ml_platform.constructs.preparation.dataset_pipeline import DatasetPipeline, DatasetSettings
from tests.unit.glue_fixtures import Catalog

SETTINGS = {"format": "csv", "columns": {"order_id": "string", "amount": "double"}}


def pipeline(**settings):
    catalog = Catalog()
    built = DatasetPipeline(
        catalog.stack, "Sales", dataset="sales", lake=catalog.lake, databases=catalog.databases,
        security=catalog.security, settings=DatasetSettings(**{**SETTINGS, **settings}), name_prefix="t-dev",
    )
    return catalog, built


@pytest.fixture(scope="module")
def scheduled():
    return pipeline(schedule="cron(0 2 * * ? *)", quality={"rules": ['IsComplete "order_id"'], "on_failure": "log"})


def triggers(catalog) -> dict[str, dict]:
    return {v["Properties"].get("Description", ""): v["Properties"] for v in catalog.resources("AWS::Glue::Trigger").values()}


def test_scheduled_workflow_chains_crawl_transform_crawl_and_every_trigger_is_active(scheduled):
    catalog, built = scheduled
    ref = catalog.stack.resolve
    found = triggers(catalog)
    start = found["Starts the workflow on cron(0 2 * * ? *) (UTC)"]
    assert (start["Type"], start["StartOnCreation"], start["Schedule"]) == ("SCHEDULED", True, "cron(0 2 * * ? *)")
    assert start["Actions"] == [{"CrawlerName": ref(built.source_crawler.crawler.ref)}]
    transform = found["Runs the job when the source crawl succeeded"]
    assert transform["Type"] == "CONDITIONAL" and transform["StartOnCreation"] is True
    assert transform["Predicate"]["Conditions"] == [
        {"CrawlerName": ref(built.source_crawler.crawler.ref), "CrawlState": "SUCCEEDED", "LogicalOperator": "EQUALS"}
    ]
    assert transform["Actions"][0]["JobName"] == ref(built.job.job_name)
    output = found["Crawls the output when the job succeeded"]
    assert output["StartOnCreation"] is True
    assert output["Predicate"]["Conditions"][0]["State"] == "SUCCEEDED"
    assert output["Actions"] == [{"CrawlerName": ref(built.target_crawler.crawler.ref)}]
    assert catalog.one("AWS::Glue::Workflow")["Properties"]["Name"] == "t-dev-sales"


def test_names_zones_classifier_and_ruleset(scheduled):
    catalog, _ = scheduled
    crawlers = sorted(c["Properties"]["Name"] for c in catalog.resources("AWS::Glue::Crawler").values())
    assert crawlers == ["t-dev-sales-processed", "t-dev-sales-raw"]
    assert catalog.one("AWS::Glue::Job")["Properties"]["Name"] == "t-dev-sales-to-processed"
    classifier = catalog.one("AWS::Glue::Classifier")["Properties"]["CsvClassifier"]
    assert (classifier["Name"], classifier["ContainsHeader"], classifier["Delimiter"]) == ("t-dev-sales-csv", "PRESENT", ",")
    ruleset = catalog.one("AWS::Glue::DataQualityRuleset")["Properties"]
    assert ruleset["Name"] == "t-dev-sales-processed"
    assert ruleset["Ruleset"] == 'Rules = [\n    IsComplete "order_id"\n]'
    assert catalog.one("AWS::Glue::Job")["Properties"]["DefaultArguments"]["--dq_on_failure"] == "log"


def test_on_demand_json_pipeline_without_quality():
    catalog, built = pipeline(format="json", target_zone="curated")
    [start] = [t for t in triggers(catalog).values() if t["Type"] == "ON_DEMAND"]
    assert "StartOnCreation" not in start  # CloudFormation rejects it for on-demand triggers
    assert catalog.resources("AWS::Glue::Classifier") == {}
    assert catalog.resources("AWS::Glue::DataQualityRuleset") == {}
    assert built.ruleset is None
    assert catalog.one("AWS::Glue::Job")["Properties"]["Name"] == "t-dev-sales-to-curated"


@pytest.mark.parametrize(("settings", "message"), [
    ({"source_zone": "processed"}, "source_zone and target_zone are both 'processed'; they must differ"),
    ({"schedule": "daily"}, "schedule 'daily' must look like cron("),
    ({"format": "parquet"}, "'csv' or 'json'"),
    ({"columns": {}}, "at least 1 item"),
    ({"columns": {"amount": "money"}}, "type 'money' is not supported"),
])
def test_dataset_settings_errors(settings, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        DatasetSettings(**{**SETTINGS, **settings})


def athena(**props):
    catalog = Catalog()
    workgroup = AthenaWorkgroup(catalog.stack, "Athena", name="t-lake", results_bucket=catalog.lake.artifacts_bucket,
                                key=catalog.lake.encryption_key, **props)
    return catalog, workgroup


def test_athena_defaults_enforce_encrypted_results_and_a_10_gb_cap():
    catalog, _ = athena()
    resource = catalog.one("AWS::Athena::WorkGroup")
    config = resource["Properties"]["WorkGroupConfiguration"]
    assert config["EnforceWorkGroupConfiguration"] is True
    assert config["PublishCloudWatchMetricsEnabled"] is True
    assert config["BytesScannedCutoffPerQuery"] == 10_240_000_000
    result = config["ResultConfiguration"]
    assert result["EncryptionConfiguration"]["EncryptionOption"] == "SSE_KMS"
    assert result["OutputLocation"]["Fn::Join"][1][-1] == "/athena-results/"
    assert result["ExpectedBucketOwner"] == "111111111111"
    assert resource["DeletionPolicy"] == "Retain" and resource["Properties"]["RecursiveDeleteOption"] is False


def test_athena_options_and_grant_query():
    catalog, workgroup = athena(settings=AthenaSettings(bytes_scanned_cutoff_mb=10), results_prefix="queries/",
                                removal_policy=RemovalPolicy.DESTROY)
    from aws_cdk import aws_iam as iam

    role = iam.Role(catalog.stack, "Analyst", assumed_by=iam.AccountRootPrincipal())
    assert workgroup.grant_query(role).success
    config = catalog.one("AWS::Athena::WorkGroup")["Properties"]["WorkGroupConfiguration"]
    assert config["BytesScannedCutoffPerQuery"] == 10_000_000
    assert config["ResultConfiguration"]["OutputLocation"]["Fn::Join"][1][-1] == "/queries/"
    assert catalog.one("AWS::Athena::WorkGroup")["Properties"]["RecursiveDeleteOption"] is True
    statements = catalog.one("AWS::IAM::Policy")["Properties"]["PolicyDocument"]["Statement"]
    assert statements[0]["Resource"] == {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":athena:eu-west-1:111111111111:workgroup/t-lake"]]}


def test_athena_errors():
    with pytest.raises(ValueError, match="greater than or equal to 10"):
        AthenaSettings(bytes_scanned_cutoff_mb=9)
    with pytest.raises(ValueError, match="AthenaWorkgroup Catalog/Athena: results_prefix 'x' is invalid"):
        athena(results_prefix="x")


