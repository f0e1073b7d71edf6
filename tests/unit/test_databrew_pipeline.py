"""DataBrewPipeline, its rules, the generated secret and the recipe publisher wiring."""

from __future__ import annotations

import datetime
import json
import re

import pytest
from aws_cdk import RemovalPolicy, Validations

from ml_platform.constructs.preparation.databrew_pipeline import (
    DEFAULT_PII_ENTITY_TYPES,
    DataBrewDatasetSettings,
    DataBrewPipeline,
    PiiSecret,
    schedule_period_days,
    steps_digest,
)
from ml_platform.constructs.lake.data_lake import Zone
from ml_platform.constructs.lake.lake_locations import DAILY, LakeDataset
from ml_platform.constructs.preparation.databrew_rules import AnyRule
from pydantic import TypeAdapter
from tests.unit.glue_fixtures import Catalog, actions

PII_ONLY = [{"action": "delete_columns", "columns": ["ssn"]}]
FULL = [
    {"action": "hash", "columns": ["email"]},
    {"action": "encrypt", "columns": ["address"]},
    {"action": "remove_duplicate_rows"},
]


def build(recipe=PII_ONLY, **settings):
    catalog = Catalog()
    secret = PiiSecret(catalog.stack, "Pii", key=catalog.lake.encryption_key, removal_policy=RemovalPolicy.RETAIN)
    pipeline = DataBrewPipeline(
        catalog.stack, "Customers", dataset="customers", lake=catalog.lake,
        settings=DataBrewDatasetSettings(format=settings.pop("format", "csv"), recipe=recipe, **settings),
        secret=secret.secret, logs_key=catalog.security.logs_key, name_prefix="t-dev",
    )
    return catalog, pipeline


@pytest.fixture(scope="module")
def default():
    return build()


def by_type(catalog, resource_type):
    return {v["Properties"].get("Name", k): v for k, v in catalog.resources(resource_type).items()}


def test_dataset_reads_the_dated_layout_and_captures_partitions(default):
    catalog, _ = default
    dataset = catalog.one("AWS::DataBrew::Dataset")["Properties"]
    assert dataset["Name"] == "t-dev-customers" and dataset["Format"] == "CSV"
    assert dataset["FormatOptions"] == {"Csv": {"Delimiter": ",", "HeaderRow": True}}
    assert dataset["Input"]["S3InputDefinition"]["Key"] == "customers/year={year}/month={month}/day={day}/"
    assert dataset["Input"]["S3InputDefinition"]["BucketOwner"] == "111111111111"
    parameters = dataset["PathOptions"]["Parameters"]
    assert [(p["PathParameterName"], p["DatasetParameter"]) for p in parameters] == [
        (k, {"Name": k, "Type": "String", "CreateColumn": True}) for k in ("year", "month", "day")
    ]


def test_recipe_steps_and_the_published_version_the_job_runs(default):
    catalog, pipeline = default
    recipe = catalog.one("AWS::DataBrew::Recipe")["Properties"]
    assert recipe["Steps"] == [{"Action": {"Operation": "DELETE", "Parameters": {"sourceColumns": '["ssn"]'}}}]
    [published] = catalog.resources("Custom::DataBrewRecipeVersion").values()
    assert published["Properties"]["RecipeName"] == "t-dev-customers"
    assert published["Properties"]["StepsDigest"] == steps_digest(pipeline_settings(PII_ONLY))
    job = by_type(catalog, "AWS::DataBrew::Job")["t-dev-customers-recipe"]["Properties"]
    published_id = catalog.stack.resolve(pipeline.published.node.default_child.logical_id)
    assert job["Recipe"] == {"Name": "t-dev-customers", "Version": {"Fn::GetAtt": [published_id, "RecipeVersion"]}}


def pipeline_settings(recipe):
    return DataBrewDatasetSettings(format="csv", recipe=recipe)


def test_steps_digest_changes_with_the_steps_only():
    first = steps_digest(pipeline_settings(PII_ONLY))
    assert first == steps_digest(pipeline_settings(PII_ONLY))
    assert first != steps_digest(pipeline_settings([{"action": "delete_columns", "columns": ["ssn", "dob"]}]))


def test_recipe_job_writes_encrypted_partitioned_parquet_to_the_target_prefix(default):
    catalog, _ = default
    job = by_type(catalog, "AWS::DataBrew::Job")["t-dev-customers-recipe"]["Properties"]
    [output] = job["Outputs"]
    assert (output["Format"], output["CompressionFormat"], output["PartitionColumns"], output["Overwrite"]) == (
        "PARQUET", "SNAPPY", ["year", "month", "day"], False)
    assert output["Location"]["Key"] == "customers/"
    assert job["EncryptionMode"] == "SSE-KMS" and "EncryptionKeyArn" in job
    assert (job["MaxCapacity"], job["Timeout"], job["MaxRetries"], job["LogSubscription"]) == (5, 60, 0, "ENABLE")


def test_profile_job_detects_pii_and_reports_to_artifacts(default):
    catalog, _ = default
    job = by_type(catalog, "AWS::DataBrew::Job")["t-dev-customers-profile"]["Properties"]
    assert job["Type"] == "PROFILE"
    assert job["OutputLocation"]["Key"] == "databrew-profiles/customers/"
    assert job["ProfileConfiguration"]["EntityDetectorConfiguration"]["EntityTypes"] == list(DEFAULT_PII_ENTITY_TYPES)
    assert "ValidationConfigurations" not in job
    assert catalog.resources("AWS::DataBrew::Ruleset") == {}
    assert catalog.resources("AWS::DataBrew::Schedule") == {}


def test_roles_read_the_source_prefix_and_write_only_their_output(default):
    catalog, pipeline = default
    recipe = catalog.policy_of(pipeline.recipe_role)
    writes = next(s for s in recipe if "s3:PutObject" in s["Action"])
    assert writes["Resource"]["Fn::Join"][1][-1] == "/customers/*"
    assert "secretsmanager:GetSecretValue" not in actions(recipe)  # no step needs the secret
    profile = catalog.policy_of(pipeline.profile_role)
    writes = next(s for s in profile if "s3:PutObject" in s["Action"])
    assert writes["Resource"]["Fn::Join"][1][-1] == "/databrew-profiles/customers/*"
    assert not [a for a in actions(recipe) | actions(profile) if a.endswith("*")]


def test_each_job_logs_to_its_own_encrypted_group(default):
    catalog, _ = default
    names = sorted(g["Properties"]["LogGroupName"] for g in catalog.resources("AWS::Logs::LogGroup").values()
                   if isinstance(g["Properties"].get("LogGroupName"), str))
    assert names == ["/aws-glue-databrew/jobs/t-dev-customers-profile", "/aws-glue-databrew/jobs/t-dev-customers-recipe"]


def test_secret_and_key_are_granted_only_when_steps_need_them():
    catalog, pipeline = build(recipe=FULL)
    statements = catalog.policy_of(pipeline.recipe_role)
    secret = next(s for s in statements if "secretsmanager:GetSecretValue" in s["Action"])
    assert secret["Resource"] == {"Ref": catalog.stack.resolve(
        catalog.stack.node.find_child("Pii").secret.node.default_child.logical_id)}
    via_secrets = [s for s in statements if s.get("Condition", {}).get("StringEquals", {}).get("kms:ViaService", "").startswith("secretsmanager.")]
    assert via_secrets and via_secrets[0]["Action"] == "kms:Decrypt"
    assert any(s["Action"] == ["kms:GenerateDataKey", "kms:Decrypt"] and "Condition" not in s for s in statements)
    steps = catalog.one("AWS::DataBrew::Recipe")["Properties"]["Steps"]
    assert steps[0]["Action"]["Parameters"]["secretId"] == {"Ref": secret["Resource"]["Ref"]}


def test_ruleset_schedules_options():
    catalog, _ = build(
        format="json", recipe_schedule="cron(0 3 * * ? *)", profile_schedule="cron(0 4 ? * MON *)",
        ruleset=[{"check": "completeness", "column": "email", "max_missing_percent": 2},
                 {"check": "row_count", "min_rows": 10}],
        job={"capacity": 2, "timeout_minutes": 30, "max_retries": 1}, pii_entity_types=["EMAIL"],
    )
    assert catalog.one("AWS::DataBrew::Dataset")["Properties"]["FormatOptions"] == {"Json": {"MultiLine": False}}
    rules = catalog.one("AWS::DataBrew::Ruleset")["Properties"]["Rules"]
    assert rules[0] == {"Name": "completeness-email", "CheckExpression": "AGG(MISSING_VALUES_PERCENTAGE) <= :val",
                        "ColumnSelectors": [{"Name": "email"}], "SubstitutionMap": [{"ValueReference": ":val", "Value": "2"}]}
    assert rules[1] == {"Name": "row_count", "CheckExpression": "AGG(ROWS_COUNT) >= :val",
                        "SubstitutionMap": [{"ValueReference": ":val", "Value": "10"}]}
    profile = by_type(catalog, "AWS::DataBrew::Job")["t-dev-customers-profile"]["Properties"]
    assert profile["ValidationConfigurations"][0]["ValidationMode"] == "CHECK_ALL"
    assert profile["ProfileConfiguration"]["EntityDetectorConfiguration"]["EntityTypes"] == ["EMAIL"]
    schedules = {s["Properties"]["Name"]: s["Properties"] for s in catalog.resources("AWS::DataBrew::Schedule").values()}
    assert schedules["t-dev-customers-recipe"]["CronExpression"] == "cron(0 3 * * ? *)"
    assert schedules["t-dev-customers-profile"]["JobNames"] == ["t-dev-customers-profile"]
    recipe_job = by_type(catalog, "AWS::DataBrew::Job")["t-dev-customers-recipe"]["Properties"]
    assert (recipe_job["MaxCapacity"], recipe_job["Timeout"], recipe_job["MaxRetries"]) == (2, 30, 1)


def test_latest_files_reads_only_the_newest_drops():
    catalog, _ = build(latest_files=24)
    assert catalog.one("AWS::DataBrew::Dataset")["Properties"]["PathOptions"]["FilesLimit"] == {
        "MaxFiles": 24, "OrderedBy": "LAST_MODIFIED_DATE", "Order": "DESCENDING"}


def test_every_file_is_read_by_default(default):
    catalog, _ = default
    path_options = catalog.one("AWS::DataBrew::Dataset")["Properties"]["PathOptions"]
    assert "FilesLimit" not in path_options and "LastModifiedDateCondition" not in path_options


DAILY_CRON, WEEKLY_CRON = "cron(0 3 * * ? *)", "cron(30 1 ? * MON *)"
_UNITS = {"h": "hours", "d": "days", "w": "weeks"}


def read_window(catalog) -> datetime.timedelta | None:
    """How far back from the job's start the dataset reads (DataBrew's relative_after), or None."""
    condition = catalog.one("AWS::DataBrew::Dataset")["Properties"]["PathOptions"].get("LastModifiedDateCondition")
    if condition is None:
        return None
    operator, reference = condition["Expression"].split()
    assert operator == "relative_after"  # files modified after now minus the window, up to now
    [value] = [v["Value"] for v in condition["ValuesMap"] if v["ValueReference"] == reference]
    amount, unit = re.fullmatch(r"-(\d+)([hdw])", value).groups()
    return datetime.timedelta(**{_UNITS[unit]: int(amount)})


def runs_reading(modified: datetime.datetime, starts: list[datetime.datetime], window: datetime.timedelta) -> int:
    return sum(start - window < modified <= start for start in starts)


@pytest.mark.parametrize(("settings", "period"), [
    ({"recipe_schedule": DAILY_CRON}, datetime.timedelta(days=1)),
    ({"recipe_schedule": WEEKLY_CRON, "incremental_days": 7}, datetime.timedelta(days=7)),
])
def test_each_scheduled_run_reads_only_what_landed_since_the_previous_run(settings, period):
    catalog, _ = build(**settings)
    window = read_window(catalog)
    assert window == period
    first = datetime.datetime(2024, 3, 4, 3, 0, 7)
    starts = [first + i * period for i in range(4)]
    landed = [first + datetime.timedelta(hours=h) for h in range(1, int(3 * period / datetime.timedelta(hours=1)), 5)]
    assert [runs_reading(m, starts, window) for m in landed] == [1] * len(landed)


def test_an_on_demand_job_reads_the_days_it_is_given():
    catalog, _ = build(incremental_days=3)
    assert read_window(catalog) == datetime.timedelta(days=3)
    assert catalog.resources("AWS::DataBrew::Schedule") == {}


def test_output_is_the_partitioned_parquet_hand_off(default):
    catalog, pipeline = default
    assert isinstance(pipeline.output, LakeDataset)
    assert (pipeline.output.zone, pipeline.output.prefix, pipeline.output.format, pipeline.output.partitioning) == (
        Zone.PROCESSED, "customers/", "parquet", DAILY)
    assert "customers" in pipeline.output.producer and "DataBrew" in pipeline.output.producer
    [output] = by_type(catalog, "AWS::DataBrew::Job")["t-dev-customers-recipe"]["Properties"]["Outputs"]
    assert output["Location"]["Key"] == pipeline.output.prefix
    assert output["Location"]["Bucket"] == catalog.stack.resolve(catalog.lake.bucket(pipeline.output.zone).bucket_name)
    assert output["PartitionColumns"] == list(pipeline.output.partitioning)
    assert output["Overwrite"] is False  # appends: an overwrite would delete every earlier day


def test_output_follows_the_target_zone():
    catalog, pipeline = build(target_zone="curated", recipe_schedule=DAILY_CRON)
    assert pipeline.output.zone == Zone.CURATED
    [output] = by_type(catalog, "AWS::DataBrew::Job")["t-dev-customers-recipe"]["Properties"]["Outputs"]
    assert output["Location"]["Bucket"] == catalog.stack.resolve(catalog.lake.bucket(Zone.CURATED).bucket_name)
    assert output["Overwrite"] is False


@pytest.mark.parametrize(("cron", "days"), [
    ("cron(0 3 * * ? *)", 1), ("cron(15 22 ? * * *)", 1), ("cron(0 3 ? * SUN *)", 7), ("cron(0 3 ? * 2 *)", 7),
    ("cron(0 */6 * * ? *)", None), ("cron(0,30 3 * * ? *)", None), ("cron(0 3 ? * MON-FRI *)", None),
    ("cron(0 3 1 * ? *)", None), ("cron(0 3 * 1-6 ? *)", None), ("cron(0 3 */2 * ? *)", None),
])
def test_schedule_period(cron, days):
    assert schedule_period_days(cron) == days


def test_parquet_datasets_take_no_format_options():
    catalog, _ = build(format="parquet")
    assert "FormatOptions" not in catalog.one("AWS::DataBrew::Dataset")["Properties"]


def test_secret_is_generated_encrypted_and_its_rotation_exception_recorded():
    catalog, _ = build()
    secret = catalog.one("AWS::SecretsManager::Secret")
    assert secret["Properties"]["GenerateSecretString"] == {"ExcludePunctuation": True, "IncludeSpace": False, "PasswordLength": 32}
    assert "KmsKeyId" in secret["Properties"]
    construct = catalog.stack.node.find_child("Pii").secret.node.default_child
    acknowledged = {k.split("::")[-1] for m in construct.node.metadata
                    if m.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY for k in m.data}
    assert acknowledged == {"AwsSolutions-SMG4", "HIPAA.Security-SecretsManagerRotationEnabled",
                            "NIST.800.53.R5-SecretsManagerRotationEnabled"}


def test_one_publisher_serves_every_recipe_of_a_stack():
    catalog = Catalog()
    secret = PiiSecret(catalog.stack, "Pii", key=catalog.lake.encryption_key, removal_policy=RemovalPolicy.RETAIN)
    for dataset in ("customers", "orders"):
        DataBrewPipeline(catalog.stack, dataset.title(), dataset=dataset, lake=catalog.lake,
                         settings=pipeline_settings(PII_ONLY), secret=secret.secret,
                         logs_key=catalog.security.logs_key, name_prefix="t-dev")
    functions = catalog.resources("AWS::Lambda::Function")
    assert len(functions) == 2  # the publisher and the provider framework, once
    publisher = next(f for f in functions.values() if f["Properties"].get("Handler") == "handler.on_event")
    assert publisher["Properties"]["Runtime"] == "python3.14"
    assert publisher["Properties"]["ReservedConcurrentExecutions"] == 2
    policy = catalog.policy_of(catalog.stack.node.find_child("RecipePublisher").role)
    recipes = [json.dumps(r) for s in policy if "databrew:PublishRecipe" in s["Action"] for r in
               (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])]
    assert len(recipes) == 2 and all(r.endswith(('recipe/t-dev-customers"]]}', 'recipe/t-dev-orders"]]}')) for r in recipes)


@pytest.mark.parametrize(("settings", "message"), [
    ({"recipe": []}, "at least 1 item"),
    ({"source_zone": "processed"}, "source_zone and target_zone are both 'processed'"),
    ({"recipe_schedule": "daily"}, "must look like cron("),
    ({"format": "xml"}, "'csv', 'json' or 'parquet'"),
    ({"job": {"capacity": 0}}, "greater than or equal to 1"),
    ({"pii_entity_types": ["email"]}, "should match pattern"),
    ({"latest_files": 0}, "greater than or equal to 1"),
    ({"incremental_days": 0}, "greater than or equal to 1"),
    ({"incremental_days": 32}, "less than or equal to 31"),
    ({"latest_files": 5, "incremental_days": 1}, "latest_files and incremental_days both select the files a run reads; set only one"),
    ({"latest_files": 5, "recipe_schedule": DAILY_CRON}, "would make scheduled runs re-read or skip files"),
    ({"recipe_schedule": "cron(0 */6 * * ? *)"}, "must run once a day or once a week at a fixed time"),
    ({"recipe_schedule": "cron(0 3 ? * MON-FRI *)", "incremental_days": 1}, "must run once a day or once a week"),
    ({"recipe_schedule": DAILY_CRON, "incremental_days": 2}, "runs every 1 day(s): set incremental_days: 1, or its windows read files twice"),
    ({"recipe_schedule": WEEKLY_CRON}, "incremental_days is 1 but recipe_schedule runs every 7 day(s): set incremental_days: 7, or its windows skip files"),
    ({"ruleset": [{"check": "row_count", "min_rows": 1}, {"check": "row_count", "min_rows": 2}]}, "rules row_count are given more than once"),
])
def test_dataset_settings_errors(settings, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        DataBrewDatasetSettings(**{"format": "csv", "recipe": PII_ONLY, **settings})


@pytest.mark.parametrize(("rule", "message"), [
    ({"check": "value_range", "column": "age", "min": 5, "max": 5}, "min 5 must be less than max 5"),
    ({"check": "completeness", "column": "a", "max_missing_percent": 101}, "less than or equal to 100"),
    ({"check": "row_count", "min_rows": 0}, "greater than or equal to 1"),
    ({"check": "freshness"}, "does not match any of the expected tags"),
])
def test_rule_errors(rule, message):
    with pytest.raises(ValueError, match=message):
        TypeAdapter(AnyRule).validate_python(rule)


def test_rules_render_the_documented_checks():
    rules = TypeAdapter(tuple[AnyRule, ...]).validate_python([
        {"check": "duplicate_rows"}, {"check": "uniqueness", "column": "id", "max_duplicate_percent": 0.5},
        {"check": "value_range", "column": "age", "min": 0, "max": 130},
    ])
    rendered = [(r.to_rule().check_expression, [(s.value_reference, s.value) for s in r.to_rule().substitution_map]) for r in rules]
    assert rendered == [
        ("AGG(DUPLICATE_ROWS_PERCENTAGE) <= :val", [(":val", "0")]),
        ("AGG(DUPLICATE_VALUES_PERCENTAGE) <= :val", [(":val", "0.5")]),
        ("is_between :val1 and :val2", [(":val1", "0"), (":val2", "130")]),
    ]
