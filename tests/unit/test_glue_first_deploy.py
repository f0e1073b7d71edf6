"""A first deploy of a dataset pipeline must not depend on anything a crawl creates later.

The output table of a dataset appears only when the target crawler first runs (after the first
workflow run), so nothing in the template may need it at create time. The Data Quality rules are
evaluated by the job itself (``--dq_ruleset``), so the ruleset needs no target table.
"""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match, Template

from ml_platform.constructs.preparation.dataset_pipeline import DatasetPipeline, DatasetSettings
from tests.unit.glue_fixtures import Catalog

QUALITY = {"rules": ['IsComplete "order_id"', "RowCount > 0"], "on_failure": "fail"}


@pytest.fixture(scope="module")
def built():
    catalog = Catalog()
    pipeline = DatasetPipeline(
        catalog.stack, "Sales", dataset="sales", lake=catalog.lake, databases=catalog.databases,
        security=catalog.security, name_prefix="t-dev",
        settings=DatasetSettings(format="csv", columns={"order_id": "string", "amount": "double"}, quality=QUALITY),
    )
    return catalog, pipeline


def test_the_ruleset_names_no_table_that_only_a_crawl_creates(built):
    catalog, _ = built
    template = Template.from_stack(catalog.stack)
    template.resource_count_is("AWS::Glue::DataQualityRuleset", 1)
    template.has_resource_properties("AWS::Glue::DataQualityRuleset", {"TargetTable": Match.absent()})


def test_every_ruleset_target_table_is_created_in_the_same_template(built):
    """The general rule: a ruleset may target only a table this template creates."""
    catalog, _ = built
    created = {
        (str(t["Properties"]["DatabaseName"]), t["Properties"]["TableInput"].get("Name"))
        for t in catalog.resources("AWS::Glue::Table").values()
    }
    for ruleset in catalog.resources("AWS::Glue::DataQualityRuleset").values():
        target = ruleset["Properties"].get("TargetTable")
        if target is not None:
            assert (str(target["DatabaseName"]), target["TableName"]) in created, target


def test_the_job_evaluates_the_same_rules_before_it_writes(built):
    catalog, pipeline = built
    ruleset = catalog.one("AWS::Glue::DataQualityRuleset")["Properties"]
    arguments = catalog.one("AWS::Glue::Job")["Properties"]["DefaultArguments"]
    assert arguments["--dq_ruleset"] == ruleset["Ruleset"] == 'Rules = [\n    IsComplete "order_id",\n    RowCount > 0\n]'
    assert arguments["--dq_on_failure"] == "fail"
    assert pipeline.ruleset is not None
    assert ruleset["Description"] == "Rules the job t-dev-sales-to-processed evaluates before writing sales to processed"

