"""GlueCrawler: defaults, options and validation errors."""

from __future__ import annotations

import json

import pytest

from ml_platform.constructs.preparation.glue_crawler import CrawlerSettings, GlueCrawler
from tests.unit.glue_fixtures import Catalog, actions


def make(**props):
    catalog = Catalog()
    crawler = GlueCrawler(
        catalog.stack, "Crawler", bucket=catalog.lake.raw_bucket, prefix=props.pop("prefix", "sales/"),
        data_key=catalog.lake.encryption_key, database=catalog.databases["raw"],
        security=catalog.security, **props,
    )
    return catalog, crawler


@pytest.fixture(scope="module")
def default():
    return make()


def test_defaults_crawl_incrementally_and_log_schema_changes(default):
    catalog, crawler = default
    props = catalog.one("AWS::Glue::Crawler")["Properties"]
    assert props["RecrawlPolicy"] == {"RecrawlBehavior": "CRAWL_NEW_FOLDERS_ONLY"}
    assert props["SchemaChangePolicy"] == {"UpdateBehavior": "LOG", "DeleteBehavior": "LOG"}
    assert "Schedule" not in props and "Classifiers" not in props
    assert props["CrawlerSecurityConfiguration"] == "t-glue"
    assert props["Targets"]["S3Targets"][0]["Path"]["Fn::Join"][1][-1] == "/sales/"
    assert "Exclusions" not in props["Targets"]["S3Targets"][0]
    assert crawler.table_name == "sales"


def test_partition_folders_become_keys_of_one_table(default):
    catalog, _ = default
    configuration = json.loads(catalog.one("AWS::Glue::Crawler")["Properties"]["Configuration"])
    assert configuration["Grouping"] == {"TableGroupingPolicy": "CombineCompatibleSchemas", "TableLevelConfiguration": 2}
    assert configuration["CrawlerOutput"]["Partitions"]["AddOrUpdateBehavior"] == "InheritFromTable"


def test_role_reads_only_the_prefix_and_writes_only_its_table(default):
    catalog, crawler = default
    statements = catalog.policy_of(crawler.role)
    reads = next(s for s in statements if "s3:GetObject" in s["Action"])
    assert reads["Resource"]["Fn::Join"][1][-1] == "/sales/*"
    glue_statement = next(s for s in statements if "glue:CreateTable" in s["Action"])
    assert json.dumps(glue_statement["Resource"][0]).endswith(':glue:eu-west-1:111111111111:catalog"]]}')
    assert glue_statement["Resource"][2]["Fn::Join"][1][-1] == "/sales"
    assert not {a for a in actions(statements) if a.startswith("glue:Delete")}
    assert not [a for a in actions(statements) if "*" in a]
    assert catalog.resources("AWS::IAM::Policy") == {}  # no inline policy


def test_role_is_assumable_by_glue_of_this_account_only(default):
    catalog, _ = default
    [statement] = catalog.one("AWS::IAM::Role")["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "glue.amazonaws.com"}
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": "111111111111"}}


def test_log_group_is_the_one_glue_uses_encrypted_and_retained(default):
    catalog, crawler = default
    group = catalog.one("AWS::Logs::LogGroup")
    name = group["Properties"]["LogGroupName"]["Fn::Join"][1]
    assert name[0] == "/aws-glue/crawlers-role/" and name[2:] == ["-t-glue"]
    assert name[1] == {"Ref": catalog.stack.resolve(crawler.role.node.default_child.logical_id)}
    assert group["Properties"]["RetentionInDays"] == 365
    assert "KmsKeyId" in group["Properties"]
    assert group["DeletionPolicy"] == "Retain"
    depends = catalog.one("AWS::Glue::Crawler")["DependsOn"]
    assert catalog.stack.resolve(crawler.log_group.node.default_child.logical_id) in depends


def test_options_schedule_exclusions_classifiers_name_and_full_recrawl():
    catalog, _ = make(
        prefix="sales/eu/",
        schedule="cron(0 3 * * ? *)",
        classifiers=["my-csv"],
        crawler_name="t-sales-raw",
        settings=CrawlerSettings(recrawl="everything", on_schema_update="update_in_database",
                                 on_object_delete="delete_from_database", exclusions=["**/_SUCCESS"]),
    )
    props = catalog.one("AWS::Glue::Crawler")["Properties"]
    assert props["Schedule"] == {"ScheduleExpression": "cron(0 3 * * ? *)"}
    assert props["Classifiers"] == ["my-csv"] and props["Name"] == "t-sales-raw"
    assert props["RecrawlPolicy"] == {"RecrawlBehavior": "CRAWL_EVERYTHING"}
    assert props["SchemaChangePolicy"] == {"UpdateBehavior": "UPDATE_IN_DATABASE", "DeleteBehavior": "DELETE_FROM_DATABASE"}
    assert props["Targets"]["S3Targets"][0]["Exclusions"] == ["**/_SUCCESS"]
    assert json.loads(props["Configuration"])["Grouping"]["TableLevelConfiguration"] == 3
    role_actions = actions(catalog.policy_of(catalog.stack.node.find_child("Crawler").role))
    assert {"glue:DeleteTable", "glue:BatchDeletePartition"} <= role_actions


def test_incremental_crawl_with_schema_updates_is_rejected():
    with pytest.raises(ValueError, match="recrawl 'new_folders_only' needs on_schema_update and on_object_delete both 'log'"):
        CrawlerSettings(on_schema_update="update_in_database")


@pytest.mark.parametrize(("props", "message"), [
    ({"schedule": "cron(0 2 * * * *)"}, "schedule 'cron(0 2 * * * *)' exactly one of day-of-month"),
    ({"prefix": ""}, "a crawler needs a dataset prefix"),
    ({"prefix": "sales"}, "prefix 'sales' is invalid"),
])
def test_bad_props_name_the_crawler(props, message):
    with pytest.raises(ValueError, match=r"^GlueCrawler Catalog/Crawler: .*" + message.replace("(", r"\(").replace(")", r"\)").replace("*", r"\*")):
        make(**props)
