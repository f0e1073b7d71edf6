"""FeatureStore: a feature group per set, offline in the lake (Iceberg, lake key, Glue), grants from the flow."""

from __future__ import annotations

import pytest
from aws_cdk import App, RemovalPolicy, Stack
from aws_cdk import aws_glue as glue
from aws_cdk.assertions import Match, Template
from pydantic import ValidationError

from ml_platform.constructs.core.iam_roles import ManagedPolicyRole
from ml_platform.constructs.core.validation import SettingsError
from ml_platform.constructs.lake.data_lake import DataLake
from ml_platform.constructs.lake.lake_access import Zone
from ml_platform.constructs.preparation.feature_settings import FeatureSettings
from ml_platform.constructs.training.feature_store import (
    DATA_CATALOG,
    OFFLINE_PREFIX,
    TABLE_FORMAT,
    FeatureStore,
)
from ml_platform.constructs.training.feature_store_settings import (
    DEFAULT_EVENT_TIME,
    FeatureSetSettings,
    FeatureStoreSettings,
    derive_feature_set,
)
from tests.conftest import assert_gates_pass, synth_gated
from tests.iam_eval import BUCKETS, LAKE_KEY_ARN, Resolver, permitted

ENV = {"account": "111111111111", "region": "eu-west-1"}
GROUP_ARN = "arn:aws:sagemaker:eu-west-1:111111111111:feature-group/{}"
CUSTOMERS = {"record_identifier": "customer_id", "features": [
    {"name": "customer_id", "type": "String"}, {"name": "tenure", "type": "Fractional"}]}
PIPELINE_FEATURES = FeatureSettings.model_validate({
    "sources": [{"dataset": "customers", "columns": ["customer_id", "tenure", "plan", "churned"]},
                {"dataset": "orders", "columns": ["customer_id", "amount"], "aggregate": {"amount": "sum"}}],
    "join_on": "customer_id", "label": "churned",
    "features": [{"column": "tenure", "impute": "median"}, {"column": "plan", "encode": "one_hot"},
                 {"column": "amount"}]})
SETTINGS = {"feature_sets": {"customers": CUSTOMERS,
                             "churn": {"pipeline": "churn", "online": {"ttl_hours": 48}}}}


def build(scope, settings=SETTINGS, *, removal_policy=RemovalPolicy.RETAIN):
    stack = Stack(scope, "Training", env=ENV)
    lake = DataLake(stack, "Lake")
    database = glue.Database(stack, "Curated", database_name="t_dev_curated")
    sets = FeatureStoreSettings.model_validate(settings).resolve({"churn": PIPELINE_FEATURES})
    store = FeatureStore(stack, "FeatureStore", feature_sets=sets, lake=lake, database=database,
                         name_prefix="t-dev", removal_policy=removal_policy)
    roles = {name: ManagedPolicyRole.for_service(stack, f"{name.title()}Role", service="sagemaker.amazonaws.com",
                                                 description=f"{name} role")
             for name in ("processing", "inference", "analyst")}
    if "churn" in store.groups:
        store.groups["churn"].grant_write(roles["processing"])
        store.groups["churn"].grant_read_online(roles["inference"])
        store.groups["customers"].grant_read_offline(roles["analyst"])
    return stack, store, lake, roles


@pytest.fixture(scope="module")
def built():
    stack, store, lake, roles = build(App())
    return stack, store, lake, roles, Template.from_stack(stack)


def groups(template) -> dict[str, dict]:
    return {r["Properties"]["FeatureGroupName"]: r for r in
            template.find_resources("AWS::SageMaker::FeatureGroup").values()}


def policy_of(stack, template, role, lake) -> dict:
    found = template.to_json()["Resources"]
    statements = [s for p in role.policies for s in
                  found[stack.resolve(p.node.default_child.logical_id)]["Properties"]["PolicyDocument"]["Statement"]]
    return {"Version": "2012-10-17", "Statement": Resolver(stack, lake, ENV)(statements)}


# -- settings ---------------------------------------------------------------------------------------

def test_settings_defaults():
    feature_set = FeatureSetSettings(**CUSTOMERS)
    assert feature_set.event_time == DEFAULT_EVENT_TIME == "event_time"
    assert feature_set.online is None and feature_set.description is None
    assert [(d.name, d.type) for d in feature_set.definitions()][-1] == ("event_time", "String")


def test_a_listed_string_event_time_is_not_added_twice():
    feature_set = FeatureSetSettings(record_identifier="id", event_time="ts",
                                     features=[{"name": "id", "type": "Integral"}, {"name": "ts", "type": "String"}])
    assert [d.name for d in feature_set.definitions()] == ["id", "ts"]


@pytest.mark.parametrize(("settings", "message"), [
    ({}, "give exactly one of features (with record_identifier) and pipeline"),
    ({**CUSTOMERS, "pipeline": "churn"}, "give exactly one of features"),
    ({"features": CUSTOMERS["features"]}, "record_identifier is missing"),
    ({**CUSTOMERS, "record_identifier": "id"}, "record_identifier 'id' is not one of features"),
    ({"record_identifier": "a", "features": [{"name": "a", "type": "String"}] * 2}, "features list a twice"),
    ({"record_identifier": "a", "features": [{"name": "a", "type": "String"}, {"name": "write_time", "type": "String"}]},
     "features write_time take names Feature Store reserves"),
    ({**CUSTOMERS, "event_time": "tenure"}, "event_time 'tenure' has type Fractional; the Iceberg offline store needs "
                                            "String"),
    ({**CUSTOMERS, "event_time": "customer_id"}, "event_time and record_identifier name the same feature"),
    ({"record_identifier": "a", "features": [{"name": "a b", "type": "String"}]}, "features[0].name"),
    ({"record_identifier": "a", "features": [{"name": "a", "type": "Boolean"}]}, "features[0].type"),
    ({**CUSTOMERS, "online": {"ttl_hours": 0}}, "online.ttl_hours"),
    ({**CUSTOMERS, "description": "x" * 129}, "description"),
])
def test_feature_set_errors_are_one_line_naming_the_key(settings, message):
    with pytest.raises(SettingsError) as error:
        FeatureSetSettings(**settings)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_section_errors():
    with pytest.raises(ValidationError, match="feature_sets"):
        FeatureStoreSettings.model_validate({"feature_sets": {}})
    for bad in ("bad_name", "Churn"):
        with pytest.raises(ValidationError, match=f"feature_sets.{bad}"):
            FeatureStoreSettings.model_validate({"feature_sets": {bad: CUSTOMERS}})


def test_derived_feature_set_maps_the_pipeline_features():
    derived = derive_feature_set(PIPELINE_FEATURES)
    assert derived.record_identifier == "customer_id" and derived.event_time == "event_time"
    assert [(d.name, d.type) for d in derived.features] == [
        ("customer_id", "String"), ("churned", "Integral"), ("tenure", "Fractional"), ("plan", "String"),
        ("amount", "Fractional"), ("event_time", "String")]


def test_derived_feature_set_keeps_the_set_options():
    options = FeatureSetSettings(pipeline="churn", record_identifier="key", event_time="ts", online={"ttl_hours": 2})
    features = FeatureSettings.model_validate({"sources": [{"dataset": "d", "columns": ["key", "x", "y"]}],
                                               "label": "y", "features": [{"column": "x"}]})
    derived = derive_feature_set(features, options)
    assert (derived.record_identifier, derived.event_time, derived.online.ttl_hours) == ("key", "ts", 2)
    assert derived.pipeline is None


@pytest.mark.parametrize(("features", "options", "message"), [
    ({"sources": [{"dataset": "d", "columns": ["x", "y"]}], "label": "y", "features": [{"column": "x"}]}, None,
     "the pipeline's features have no join_on; give the feature set a record_identifier"),
    ({"sources": [{"dataset": "d", "columns": ["k", "_x", "y"]}], "label": "y", "features": [{"column": "_x"}]},
     FeatureSetSettings(pipeline="p", record_identifier="k"), "columns _x cannot be feature names"),
    ({"sources": [{"dataset": "d", "columns": ["k", "x", "y"]}], "label": "y", "features": [{"column": "x"}]},
     FeatureSetSettings(pipeline="p", record_identifier="k", event_time="x"), "x would be two features"),
])
def test_derivation_errors(features, options, message):
    with pytest.raises(ValueError) as error:
        derive_feature_set(FeatureSettings.model_validate(features), options)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_resolve_names_each_set_whose_pipeline_does_not_feed_it():
    settings = FeatureStoreSettings.model_validate({"feature_sets": {
        "a": {"pipeline": "nope"}, "b": {"pipeline": "ready"}, "c": {"pipeline": "churn"}, "d": {"pipeline": "churn"}}})
    with pytest.raises(ValueError) as error:
        settings.resolve({"churn": PIPELINE_FEATURES, "ready": None})
    text = str(error.value)
    assert "feature_sets.a.pipeline 'nope' is not a training pipeline (churn, ready)" in text
    assert "feature_sets.b.pipeline 'ready' reads ready input, not features" in text
    assert "pipeline 'churn' feeds several feature sets" in text


# -- the feature groups ------------------------------------------------------------------------------

def test_a_group_per_set_with_its_features(built):
    *_, template = built
    found = groups(template)
    assert set(found) == {"t-dev-customers", "t-dev-churn"}
    churn = found["t-dev-churn"]["Properties"]
    assert churn["RecordIdentifierFeatureName"] == "customer_id" and churn["EventTimeFeatureName"] == "event_time"
    assert churn["FeatureDefinitions"][1] == {"FeatureName": "churned", "FeatureType": "Integral"}


def test_the_offline_store_is_iceberg_in_the_curated_zone_with_the_lake_key_and_glue_table(built):
    stack, store, lake, _, template = built
    offline = groups(template)["t-dev-customers"]["Properties"]["OfflineStoreConfig"]
    assert offline["TableFormat"] == TABLE_FORMAT == "Iceberg"
    assert offline["DisableGlueTableCreation"] is False
    assert offline["S3StorageConfig"]["KmsKeyId"] == stack.resolve(lake.encryption_key.key_arn)
    uri = Resolver(stack, lake, ENV)(offline["S3StorageConfig"]["S3Uri"])
    assert uri == f"s3://{BUCKETS[Zone.CURATED]}/{OFFLINE_PREFIX}customers/"
    assert offline["DataCatalogConfig"]["Catalog"] == DATA_CATALOG
    assert offline["DataCatalogConfig"]["TableName"] == "t_dev_customers"
    assert offline["DataCatalogConfig"]["Database"] == stack.resolve(store.groups["customers"].database.database_name)
    assert store.groups["customers"].offline_store.prefix == "feature-store/customers/"


def test_online_store_only_where_configured_with_ttl_and_the_lake_key(built):
    stack, _, lake, _, template = built
    found = groups(template)
    assert "OnlineStoreConfig" not in found["t-dev-customers"]["Properties"]
    assert found["t-dev-churn"]["Properties"]["OnlineStoreConfig"] == {
        "EnableOnlineStore": True, "StorageType": "Standard",
        "SecurityConfig": {"KmsKeyId": stack.resolve(lake.encryption_key.key_arn)},
        "TtlDuration": {"Unit": "Hours", "Value": 48}}


def test_online_store_without_ttl_has_none():
    settings = {"feature_sets": {"customers": {**CUSTOMERS, "online": {}}}}
    stack, *_ = build(App(), settings)
    template = Template.from_stack(stack)
    online = groups(template)["t-dev-customers"]["Properties"]["OnlineStoreConfig"]
    assert "TtlDuration" not in online and online["EnableOnlineStore"] is True


def test_groups_are_retained_by_default_and_follow_the_removal_policy(built):
    *_, template = built
    assert {r["DeletionPolicy"] for r in groups(template).values()} == {"Retain"}
    stack, *_ = build(App(), removal_policy=RemovalPolicy.DESTROY)
    assert {r["DeletionPolicy"] for r in groups(Template.from_stack(stack)).values()} == {"Delete"}


def test_each_group_waits_for_its_role_policy(built):
    stack, store, *_, template = built
    group = groups(template)["t-dev-churn"]
    policy = stack.resolve(store.groups["churn"].role.policy.node.default_child.logical_id)
    assert policy in group["DependsOn"]


def test_the_offline_store_role_is_least_privilege(built):
    stack, store, lake, _, template = built
    group = store.groups["customers"]
    policy = policy_of(stack, template, group.role, lake)
    curated = f"arn:aws:s3:::{BUCKETS[Zone.CURATED]}"
    inside = f"{curated}/feature-store/customers/123/sagemaker/eu-west-1/offline-store/x/data/part.parquet"
    for action in ("s3:PutObject", "s3:GetObject", "s3:PutObjectAcl"):
        assert permitted(policy, action, inside)
        assert not permitted(policy, action, f"{curated}/feature-store/churn/data.parquet")
        assert not permitted(policy, action, f"{curated}/churn/features/data.csv")
    assert permitted(policy, "s3:GetBucketAcl", curated)
    assert not permitted(policy, "s3:DeleteObject", inside)
    via_s3 = {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}
    assert permitted(policy, "kms:GenerateDataKey", LAKE_KEY_ARN, via_s3)
    assert not permitted(policy, "kms:GenerateDataKey", LAKE_KEY_ARN)
    table = "arn:aws:glue:eu-west-1:111111111111:table/{}/t_dev_customers"
    database = stack.resolve(group.database.database_name)
    resolved_db = Resolver(stack, lake, ENV)(database)
    assert permitted(policy, "glue:UpdateTable", table.format(resolved_db))
    assert not permitted(policy, "glue:UpdateTable", table.format(resolved_db).replace("customers", "churn"))
    assert not permitted(policy, "glue:DeleteTable", table.format(resolved_db))
    assert not permitted(policy, "sagemaker:PutRecord", GROUP_ARN.format("t-dev-customers"))


def test_grant_write_allows_put_and_delete_on_its_group_only(built):
    stack, _, lake, roles, template = built
    policy = policy_of(stack, template, roles["processing"], lake)
    for action in ("sagemaker:PutRecord", "sagemaker:DeleteRecord", "sagemaker:DescribeFeatureGroup"):
        assert permitted(policy, action, GROUP_ARN.format("t-dev-churn"))
        assert not permitted(policy, action, GROUP_ARN.format("t-dev-customers"))
    assert not permitted(policy, "sagemaker:GetRecord", GROUP_ARN.format("t-dev-churn"))
    # the online store is encrypted with the lake key: data-plane calls decrypt with it
    assert permitted(policy, "kms:Decrypt", LAKE_KEY_ARN)


def test_grant_read_online_allows_get_records_only(built):
    stack, _, lake, roles, template = built
    policy = policy_of(stack, template, roles["inference"], lake)
    for action in ("sagemaker:GetRecord", "sagemaker:BatchGetRecord"):
        assert permitted(policy, action, GROUP_ARN.format("t-dev-churn"))
        assert not permitted(policy, action, GROUP_ARN.format("t-dev-customers"))
    assert not permitted(policy, "sagemaker:PutRecord", GROUP_ARN.format("t-dev-churn"))
    assert not [s for s in policy["Statement"] if str(s["Action"]).startswith(("s3:", "['s3:"))]


def test_grant_read_offline_is_the_lake_prefix_and_the_table(built):
    stack, store, lake, roles, template = built
    policy = policy_of(stack, template, roles["analyst"], lake)
    curated = f"arn:aws:s3:::{BUCKETS[Zone.CURATED]}"
    assert permitted(policy, "s3:GetObject", f"{curated}/feature-store/customers/a/data/b.parquet")
    assert not permitted(policy, "s3:GetObject", f"{curated}/feature-store/churn/a.parquet")
    assert not permitted(policy, "s3:PutObject", f"{curated}/feature-store/customers/a.parquet")
    database = Resolver(stack, lake, ENV)(stack.resolve(store.groups["customers"].database.database_name))
    assert permitted(policy, "glue:GetTable", f"arn:aws:glue:eu-west-1:111111111111:table/{database}/t_dev_customers")
    assert not [s for s in policy["Statement"] if "sagemaker:GetRecord" in str(s["Action"])]


def test_reading_online_a_group_without_online_store_is_an_error(built):
    _, store, *_ = built
    with pytest.raises(ValueError, match="t-dev-customers has no online store to read") as error:
        store.groups["customers"].grant_read_online(store.groups["churn"].role)
    assert "\n" not in str(error.value)


def test_store_grants_pick_sets_and_name_unknown_ones():
    stack, store, lake, roles = build(App())
    store.grant_read(roles["analyst"], "churn")
    template = Template.from_stack(stack)
    policy = policy_of(stack, template, roles["analyst"], lake)
    assert permitted(policy, "sagemaker:GetRecord", GROUP_ARN.format("t-dev-churn"))
    with pytest.raises(ValueError, match="feature set 'nope' is unknown; allowed: customers, churn"):
        store.grant_write(roles["analyst"], "nope")


def test_unresolved_sets_and_long_names_are_refused():
    stack = Stack(App(), "S", env=ENV)
    lake = DataLake(stack, "Lake")
    database = glue.Database(stack, "Curated", database_name="d")
    raw = FeatureStoreSettings.model_validate(SETTINGS).feature_sets
    with pytest.raises(ValueError, match="feature set 'churn' still names pipeline 'churn'; resolve it first"):
        FeatureStore(stack, "A", feature_sets=raw, lake=lake, database=database, name_prefix="t-dev")
    long = FeatureStoreSettings.model_validate({"feature_sets": {"a" * 41: CUSTOMERS}}).feature_sets
    with pytest.raises(ValueError, match="is 65 characters long; at most 64"):
        FeatureStore(stack, "B", feature_sets=long, lake=lake, database=database, name_prefix="x" * 23)


def test_each_group_writes_its_offline_store_as_its_own_role(built):
    stack, store, *_, template = built
    for group in store.groups.values():
        template.has_resource_properties("AWS::SageMaker::FeatureGroup", Match.object_like({
            "FeatureGroupName": group.feature_group_name, "RoleArn": stack.resolve(group.role.role_arn)}))


# -- the gates ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def gated(tmp_path_factory):
    return synth_gated(tmp_path_factory.mktemp("feature-store-gated"), lambda stage: build(stage))


def test_the_gates_pass(gated):
    assert_gates_pass(gated)
