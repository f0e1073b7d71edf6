"""Audit and governance: the CloudTrail trail (created or existing), Data Catalog encryption, the monthly
budget on the alert path; settings' defaults and one-line errors; the gates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Template
from pydantic import ValidationError

from ml_platform.constructs.core.alerting import AlertPath
from ml_platform.constructs.core.governance import (
    ACCESS_LOG_PREFIX,
    BUDGETS_KEY_ACTIONS,
    CATALOG_KEY_ACTIONS,
    TRAIL_TAMPERING_CALLS,
    AuditTrail,
    CatalogEncryption,
    CostBudget,
    allow_budgets_to_publish,
)
from ml_platform.constructs.core.governance_settings import (
    DEFAULT_ARCHIVE_AFTER_DAYS,
    DEFAULT_THRESHOLDS_PERCENT,
    DEFAULT_TRAIL_RETENTION_DAYS,
    TRAIL_NONCURRENT_VERSION_DAYS,
    BudgetSettings,
    CatalogEncryptionSettings,
    GovernanceSettings,
    TrailSettings,
)
from ml_platform.constructs.core.removal import REMOVE_DATA_ON_DESTROY_CONTEXT
from ml_platform.constructs.core.validation import SettingsError, describe_errors
from ml_platform.constructs.lake.data_lake import DataLake
from ml_platform.constructs.lake.lake_access import Zone
from ml_platform.stacks.governance_stack import GovernanceStack
from tests.conftest import assert_gates_pass, synth_gated

ENV = {"account": "111111111111", "region": "eu-west-1"}
ORG_TRAIL = "arn:aws:cloudtrail:us-east-1:222222222222:trail/org-trail"
TRAIL_ARN = {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":cloudtrail:eu-west-1:111111111111:trail/t-dev-audit"]]}
CLOUDTRAIL = {"Service": "cloudtrail.amazonaws.com"}
BUDGETS = {"Service": "budgets.amazonaws.com"}


def build(scope, settings: dict, *, stack_id="Governance", lake=None, alerts=None, context=None, allow_data_deletion=False,
          cost_tag=("Environment", "dev")):
    if lake is None:
        lake_stack = Stack(scope, "Lake", env=ENV)
        lake, alerts = DataLake(lake_stack, "Lake"), AlertPath(lake_stack, "Alerts")
    stack = GovernanceStack(scope, stack_id, env=ENV, settings=GovernanceSettings.model_validate(settings),
                            name_prefix="t-dev", lake=lake, alerts=alerts, allow_data_deletion=allow_data_deletion,
                            cost_tag=cost_tag)
    return stack, lake, alerts


def template(settings: dict, **kwargs) -> tuple[Template, Stack, DataLake, AlertPath]:
    stack, lake, alerts = build(App(context=kwargs.pop("context", None) or {}), settings, **kwargs)
    return Template.from_stack(stack), stack, lake, alerts


def only(found: dict) -> dict:
    [value] = found.values()
    return value


def statements(document: dict) -> list[dict]:
    return document["Statement"]


def problems(settings: dict) -> list[str]:
    with pytest.raises(ValidationError) as error:
        GovernanceSettings.model_validate(settings)
    return describe_errors(error.value, GovernanceSettings)


# -- settings -----------------------------------------------------------------------------------


def test_defaults_create_a_trail_encrypt_the_catalog_and_make_no_budget():
    settings = GovernanceSettings.model_validate({})
    assert settings.trail == TrailSettings() and settings.trail.creates
    assert settings.trail.data_events == "all" and settings.trail.cloudwatch_logs_retention_days is None
    assert settings.trail.retention_days == DEFAULT_TRAIL_RETENTION_DAYS == 2557
    assert settings.trail.archive_after_days == DEFAULT_ARCHIVE_AFTER_DAYS == 90
    assert settings.catalog_encryption == CatalogEncryptionSettings() and settings.budget is None
    assert settings.catalog_encryption.service_role is True
    budget = BudgetSettings.model_validate({"monthly_usd": 500})
    assert budget.thresholds_percent == DEFAULT_THRESHOLDS_PERCENT == (80, 100) and budget.forecast is True
    assert budget.notifications() == [("ACTUAL", 80), ("FORECASTED", 80), ("ACTUAL", 100), ("FORECASTED", 100)]


@pytest.mark.parametrize(("settings", "expected"), [
    ({"trail": {"create": True, "existing_trail_arn": ORG_TRAIL}},
     f"trail: create: true and existing_trail_arn {ORG_TRAIL!r} exclude each other; keep one"),
    ({"trail": {"create": False}},
     "trail: create: false needs existing_trail_arn (the organization trail recording this account); "
     "for no trail at all write trail: null"),
    ({"trail": {"existing_trail_arn": ORG_TRAIL, "data_events": "all", "cloudwatch_logs_retention_days": 30}},
     "trail: data_events, cloudwatch_logs_retention_days configure a created trail; with existing_trail_arn nothing "
     "is created, remove them"),
    ({"trail": {"archive_after_days": 400, "retention_days": 365}},
     "trail: archive_after_days 400 must be less than retention_days 365"),
    ({"trail": {"existing_trail_arn": "org-trail"}},
     "trail.existing_trail_arn: string should match pattern"),
    ({"trail": {"cloudwatch_logs_retention_days": 10}},
     "trail.cloudwatch_logs_retention_days: input should be 1, 3, 5"),
    ({"trail": {"data_events": "read_only"}}, "trail.data_events: input should be 'all' or 'write_only' (got 'read_only')"),
    ({"budget": {}}, "budget.monthly_usd: required key is missing"),
    ({"budget": {"monthly_usd": 0}}, "budget.monthly_usd: input should be greater than 0 (got 0)"),
    ({"budget": {"monthly_usd": 10, "thresholds_percent": [50, 80, 100]}},
     "budget: 3 thresholds make 6 actual and forecast notifications; a budget takes at most 5"),
    ({"budget": {"monthly_usd": 10, "thresholds_percent": [80, 80], "forecast": False}},
     "budget: thresholds_percent names 80 more than once"),
    ({"budget": {"monthly_usd": 10, "thresholds_percent": []}}, "budget.thresholds_percent: tuple should have at least 1 item"),
    ({"budgets": {}}, "budgets: unknown key; allowed keys: trail, catalog_encryption, budget"),
    ({"catalog_encryption": "yes"},
     "catalog_encryption: input should be a valid dictionary or instance of CatalogEncryptionSettings (got 'yes')"),
    ({"catalog_encryption": {"service_role": "no"}}, "catalog_encryption.service_role: input should be a valid boolean"),
    ({"catalog_encryption": {"role": "arn:aws:iam::111111111111:role/r"}},
     "catalog_encryption.role: unknown key; allowed keys: service_role"),
])
def test_each_bad_value_is_one_line_naming_the_key(settings, expected):
    [problem] = problems(settings)
    assert problem.startswith(expected) and "\n" not in problem, problem


@pytest.mark.parametrize(("value", "expected"), [
    (True, CatalogEncryptionSettings()), ({}, CatalogEncryptionSettings()),
    ({"service_role": False}, CatalogEncryptionSettings(service_role=False)), (False, None), (None, None),
])
def test_catalog_encryption_true_is_the_default_settings_and_false_or_null_is_none(value, expected):
    assert GovernanceSettings.model_validate({"catalog_encryption": value}).catalog_encryption == expected


def test_an_existing_trail_and_settings_from_python_fail_the_same_way():
    assert GovernanceSettings.model_validate({"trail": {"existing_trail_arn": ORG_TRAIL}}).trail.creates is False
    assert BudgetSettings(monthly_usd=10, thresholds_percent=[50, 80, 90, 100, 120], forecast=False).forecast is False
    with pytest.raises(SettingsError, match=r"^TrailSettings: \(top level\): create: false needs existing_trail_arn"):
        TrailSettings(create=False)


# -- the trail ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def default():
    return template({})


def test_the_trail_records_management_events_and_every_lake_bucket_with_validation_and_its_key(default):
    found, stack, lake, _ = default
    trail = only(found.find_resources("AWS::CloudTrail::Trail"))
    props = trail["Properties"]
    assert props["TrailName"] == "t-dev-audit" and props["IsLogging"] is True
    assert props["IsMultiRegionTrail"] is True and props["IncludeGlobalServiceEvents"] is True
    assert props["EnableLogFileValidation"] is True
    key_id = stack.resolve(stack.node.find_child("Trail").key.node.default_child.logical_id)
    assert props["KMSKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    management, data = props["EventSelectors"]
    assert management == {"IncludeManagementEvents": True, "ReadWriteType": "All"}
    assert data["IncludeManagementEvents"] is False and data["ReadWriteType"] == "All"
    [resource] = data["DataResources"]
    assert resource["Type"] == "AWS::S3::Object" and len(resource["Values"]) == len(Zone)
    assert all(v["Fn::Join"][1][1] == "/" for v in resource["Values"])
    assert "CloudWatchLogsLogGroupArn" not in props
    bucket_policy = only(found.find_resources("AWS::S3::BucketPolicy"))["Properties"]["PolicyDocument"]
    assert any(dep.startswith("TrailBucketPolicy") for dep in trail["DependsOn"])
    assert bucket_policy  # the dependency is on the policy that admits CloudTrail


def test_the_key_admits_cloudtrail_for_this_trail_only(default):
    found, *_ = default
    [key] = [k for k in found.find_resources("AWS::KMS::Key").values()
             if "CloudTrail" in k["Properties"]["Description"]]
    by_action = {s["Action"]: s for s in statements(key["Properties"]["KeyPolicy"]) if s.get("Principal") == CLOUDTRAIL}
    assert set(by_action) == {"kms:GenerateDataKey*", "kms:DescribeKey"}
    encrypt = by_action["kms:GenerateDataKey*"]["Condition"]
    assert encrypt["StringEquals"] == {"aws:SourceArn": TRAIL_ARN}
    assert encrypt["StringLike"] == {"kms:EncryptionContext:aws:cloudtrail:arn": {"Fn::Join": [
        "", ["arn:", {"Ref": "AWS::Partition"}, ":cloudtrail:*:111111111111:trail/*"]]}}
    assert by_action["kms:DescribeKey"]["Condition"] == {"StringEquals": {"aws:SourceArn": TRAIL_ARN}}
    assert key["Properties"]["EnableKeyRotation"] is True and key["DeletionPolicy"] == "Retain"


def test_the_bucket_is_its_own_versioned_encrypted_logged_retained_and_archives(default):
    found, _, lake, _ = default
    bucket = only(found.find_resources("AWS::S3::Bucket"))
    props = bucket["Properties"]
    assert bucket["DeletionPolicy"] == "Retain" and props["VersioningConfiguration"] == {"Status": "Enabled"}
    [encryption] = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert encryption["BucketKeyEnabled"] is False  # CloudTrail's encryption context must reach KMS
    assert props["LoggingConfiguration"]["LogFilePrefix"] == ACCESS_LOG_PREFIX
    assert "ExportsOutputRefLakeAccessLogs" in json.dumps(props["LoggingConfiguration"]["DestinationBucketName"])
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    [rule] = props["LifecycleConfiguration"]["Rules"]
    assert props["LifecycleConfiguration"]["TransitionDefaultMinimumObjectSize"] == "varies_by_storage_class"
    assert rule["ExpirationInDays"] == DEFAULT_TRAIL_RETENTION_DAYS
    assert rule["Transitions"] == [{"StorageClass": "GLACIER", "TransitionInDays": DEFAULT_ARCHIVE_AFTER_DAYS}]
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": TRAIL_NONCURRENT_VERSION_DAYS}


def test_the_bucket_policy_admits_cloudtrail_for_this_trail_only_and_requires_tls(default):
    found, *_ = default
    policy = statements(only(found.find_resources("AWS::S3::BucketPolicy"))["Properties"]["PolicyDocument"])
    allowed = [s for s in policy if s["Effect"] == "Allow"]
    assert {s["Action"] for s in allowed} == {"s3:GetBucketAcl", "s3:PutObject"}
    assert all(s["Principal"] == CLOUDTRAIL and s["Condition"]["StringEquals"]["aws:SourceArn"] == TRAIL_ARN
               for s in allowed)
    [write] = [s for s in allowed if s["Action"] == "s3:PutObject"]
    assert write["Condition"]["StringEquals"]["s3:x-amz-acl"] == "bucket-owner-full-control"
    assert write["Resource"]["Fn::Join"][1][-1] == "/AWSLogs/111111111111/*"
    assert any(s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in policy)


def test_stopping_or_changing_the_trail_alerts_and_its_arn_is_an_output(default):
    found, *_ = default
    found.has_resource_properties("AWS::Events::Rule", {"EventPattern": {
        "source": ["aws.cloudtrail"], "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {"eventSource": ["cloudtrail.amazonaws.com"], "eventName": list(TRAIL_TAMPERING_CALLS),
                   "requestParameters": {"name": ["t-dev-audit", TRAIL_ARN]}}}})
    assert found.find_outputs("TrailArn")["TrailArn"]["Value"] == TRAIL_ARN


def test_write_only_data_events_no_archive_and_cloudwatch_logs_when_asked():
    found, *_ = template({"trail": {"data_events": "write_only", "archive_after_days": None,
                                    "cloudwatch_logs_retention_days": 400}})
    props = only(found.find_resources("AWS::CloudTrail::Trail"))["Properties"]
    assert props["EventSelectors"][1]["ReadWriteType"] == "WriteOnly"
    [rule] = only(found.find_resources("AWS::S3::Bucket"))["Properties"]["LifecycleConfiguration"]["Rules"]
    assert "Transitions" not in rule
    group_id, group = next(iter(found.find_resources("AWS::Logs::LogGroup").items()))
    assert group["Properties"]["RetentionInDays"] == 400 and "KmsKeyId" in group["Properties"]
    assert props["CloudWatchLogsLogGroupArn"] == {"Fn::GetAtt": [group_id, "Arn"]}
    role_id, role = next(iter(found.find_resources("AWS::IAM::Role", {"Properties": {"AssumeRolePolicyDocument": {
        "Statement": [Match.object_like({"Principal": CLOUDTRAIL})]}}}).items()))
    assert props["CloudWatchLogsRoleArn"] == {"Fn::GetAtt": [role_id, "Arn"]}
    found.resource_count_is("AWS::IAM::Policy", 0)  # no inline policy (HIPAA, NIST, PCI)
    [policy] = [p for p in found.find_resources("AWS::IAM::ManagedPolicy").values()
                if p["Properties"]["Roles"] == [{"Ref": role_id}]]
    assert statements(policy["Properties"]["PolicyDocument"]) == [{
        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Effect": "Allow",
        "Resource": {"Fn::GetAtt": [group_id, "Arn"]}}]


def test_an_existing_trail_creates_nothing_and_is_recorded_as_an_output():
    found, *_ = template({"trail": {"existing_trail_arn": ORG_TRAIL}, "catalog_encryption": False})
    for kind in ("AWS::CloudTrail::Trail", "AWS::S3::Bucket", "AWS::KMS::Key", "AWS::Events::Rule"):
        found.resource_count_is(kind, 0)
    assert found.find_outputs("TrailArn")["TrailArn"]["Value"] == ORG_TRAIL
    found, *_ = template({"trail": None, "catalog_encryption": False})
    assert found.find_outputs("*") == {} and found.find_resources("AWS::CloudTrail::Trail") == {}


def test_data_deletion_needs_both_keys():
    found, *_ = template({}, allow_data_deletion=True, context={REMOVE_DATA_ON_DESTROY_CONTEXT: "true"})
    assert only(found.find_resources("AWS::S3::Bucket"))["DeletionPolicy"] == "Delete"
    found.resource_count_is("Custom::S3AutoDeleteObjects", 1)
    found, *_ = template({}, allow_data_deletion=True)
    assert only(found.find_resources("AWS::S3::Bucket"))["DeletionPolicy"] == "Retain"


def test_a_lake_without_an_access_log_bucket_records_why_the_trail_bucket_has_no_access_logs():
    app = App()
    lake_stack = Stack(app, "Lake", env=ENV)
    key = kms.Key(lake_stack, "Key")
    lake = DataLake.from_existing(lake_stack, "Existing", encryption_key=key, buckets={
        "raw": s3.Bucket.from_bucket_name(lake_stack, "Raw", "raw-bucket")})
    stack, *_ = build(app, {}, lake=lake, alerts=AlertPath(lake_stack, "Alerts"))
    found = Template.from_stack(stack)
    bucket = only(found.find_resources("AWS::S3::Bucket"))
    assert "LoggingConfiguration" not in bucket["Properties"]
    assert [s["id"] for s in bucket["Metadata"]["checkov"]["skip"]] == ["CKV_AWS_18"]
    [resource] = only(found.find_resources("AWS::CloudTrail::Trail"))["Properties"]["EventSelectors"][1]["DataResources"]
    assert resource["Values"] == [{"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":s3:::raw-bucket/"]]}]


def test_audit_trail_refuses_bad_names_and_existing_trail_settings():
    with pytest.raises(ValueError, match=r"^AuditTrail T/Trail: trail_name 'a' is invalid; use 3-128 letters.*; "
                       r"settings name the existing trail 'arn:aws:cloudtrail:us-east-1:222222222222:trail/org-trail'"):
        AuditTrail(Stack(App(), "T", env=ENV), "Trail", trail_name="a", data_buckets=[],
                   settings=TrailSettings(existing_trail_arn=ORG_TRAIL))


# -- catalog encryption -------------------------------------------------------------------------


LAKE_KEY = {"Fn::ImportValue": Match.string_like_regexp("LakeKey")}
GLUE = {"Service": "glue.amazonaws.com"}


def catalog_role(found: Template) -> tuple[str, dict]:
    [(role_id, role)] = found.find_resources("AWS::IAM::Role", {"Properties": {"AssumeRolePolicyDocument": {
        "Statement": [Match.object_like({"Principal": GLUE})]}}}).items()
    return role_id, role


def test_by_default_glue_uses_the_lake_key_through_a_service_role_of_its_own(default):
    found, stack, *_ = default
    role_id, role = catalog_role(found)
    Template.from_stack(stack).has_resource("AWS::Glue::DataCatalogEncryptionSettings", {
        "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain", "Properties": {
            "CatalogId": "111111111111", "DataCatalogEncryptionSettings": {
                "EncryptionAtRest": {"CatalogEncryptionMode": "SSE-KMS-WITH-SERVICE-ROLE",
                                     "CatalogEncryptionServiceRole": {"Fn::GetAtt": [role_id, "Arn"]},
                                     "SseAwsKmsKeyId": LAKE_KEY},
                "ConnectionPasswordEncryption": {"ReturnConnectionPasswordEncrypted": True, "KmsKeyId": LAKE_KEY}}}})
    # trusted by Glue only, with no other way in
    assert statements(role["Properties"]["AssumeRolePolicyDocument"]) == [
        {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": GLUE}]
    [(policy_id, policy)] = [(k, p) for k, p in found.find_resources("AWS::IAM::ManagedPolicy").items()
                             if p["Properties"]["Roles"] == [{"Ref": role_id}]]
    assert statements(policy["Properties"]["PolicyDocument"]) == [{
        "Action": list(CATALOG_KEY_ACTIONS), "Effect": "Allow",
        "Resource": stack.resolve(stack.catalog_encryption.key.key_arn)}]  # the lake key only, no condition
    # retained with the setting that names it, and in place before Glue is told to use it
    assert role["DeletionPolicy"] == policy["DeletionPolicy"] == "Retain"
    settings = only(found.find_resources("AWS::Glue::DataCatalogEncryptionSettings"))
    assert settings["DependsOn"] == [policy_id]
    [skip] = settings["Metadata"]["checkov"]["skip"]
    assert skip["id"] == "CKV_AWS_94" and "SSE-KMS-WITH-SERVICE-ROLE" in skip["comment"]
    found.resource_count_is("AWS::IAM::Policy", 0)  # no inline policy (HIPAA, NIST, PCI)


def test_without_the_service_role_the_catalog_is_sse_kms_and_callers_need_the_key():
    found, stack, *_ = template({"catalog_encryption": {"service_role": False}})
    settings = only(found.find_resources("AWS::Glue::DataCatalogEncryptionSettings"))
    assert settings["DeletionPolicy"] == "Retain" and "DependsOn" not in settings and "Metadata" not in settings
    assert settings["Properties"]["DataCatalogEncryptionSettings"]["EncryptionAtRest"] == {
        "CatalogEncryptionMode": "SSE-KMS", "SseAwsKmsKeyId": stack.resolve(stack.catalog_encryption.key.key_arn)}
    assert stack.catalog_encryption.role is None
    assert found.find_resources("AWS::IAM::Role", {"Properties": {"AssumeRolePolicyDocument": {
        "Statement": [Match.object_like({"Principal": GLUE})]}}}) == {}
    found, *_ = template({"catalog_encryption": False})
    found.resource_count_is("AWS::Glue::DataCatalogEncryptionSettings", 0)


def test_the_service_role_follows_the_settings_removal_policy():
    found, *_ = template({}, allow_data_deletion=True, context={REMOVE_DATA_ON_DESTROY_CONTEXT: "true"})
    role_id, role = catalog_role(found)
    [policy] = [p for p in found.find_resources("AWS::IAM::ManagedPolicy").values()
                if p["Properties"]["Roles"] == [{"Ref": role_id}]]
    settings = only(found.find_resources("AWS::Glue::DataCatalogEncryptionSettings"))
    assert role["DeletionPolicy"] == policy["DeletionPolicy"] == settings["DeletionPolicy"] == "Delete"


def test_grant_catalog_use_gives_exactly_the_documented_key_actions_on_the_key():
    stack = Stack(App(), "S", env=ENV)
    key = kms.Key(stack, "Key")
    role = iam.Role(stack, "Crawler", assumed_by=iam.ServicePrincipal("glue.amazonaws.com"))
    CatalogEncryption(stack, "Catalog", key=key).grant_catalog_use(role)
    policy = only(Template.from_stack(stack).find_resources("AWS::IAM::Policy"))
    key_id = stack.resolve(key.node.default_child.logical_id)
    assert statements(policy["Properties"]["PolicyDocument"]) == [{
        "Action": list(CATALOG_KEY_ACTIONS), "Effect": "Allow", "Resource": {"Fn::GetAtt": [key_id, "Arn"]}}]


# -- the budget ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def budgeted():
    return template({"budget": {"monthly_usd": 1500}})


def test_the_budget_is_a_monthly_cost_budget_of_the_environment_tag_notifying_the_alert_topic(budgeted):
    found, *_ = budgeted
    props = only(found.find_resources("AWS::Budgets::Budget"))["Properties"]
    assert props["Budget"] == {"BudgetName": "t-dev-monthly", "BudgetType": "COST", "TimeUnit": "MONTHLY",
                               "BudgetLimit": {"Amount": 1500, "Unit": "USD"},
                               "CostFilters": {"TagKeyValue": ["user:Environment$dev"]}}
    notifications = props["NotificationsWithSubscribers"]
    assert [(n["Notification"]["NotificationType"], n["Notification"]["Threshold"]) for n in notifications] == [
        ("ACTUAL", 80), ("FORECASTED", 80), ("ACTUAL", 100), ("FORECASTED", 100)]
    assert all(n["Notification"]["ComparisonOperator"] == "GREATER_THAN"
               and n["Notification"]["ThresholdType"] == "PERCENTAGE" for n in notifications)
    topics = {json.dumps(s) for n in notifications for s in n["Subscribers"]}
    [subscriber] = topics
    assert json.loads(subscriber)["SubscriptionType"] == "SNS" and "AlertsTopic" in subscriber


def test_without_a_cost_tag_or_forecast_the_budget_covers_the_account_on_actual_cost():
    found, *_ = template({"budget": {"monthly_usd": 10, "forecast": False}}, cost_tag=None)
    props = only(found.find_resources("AWS::Budgets::Budget"))["Properties"]
    assert "CostFilters" not in props["Budget"]
    assert [n["Notification"]["NotificationType"] for n in props["NotificationsWithSubscribers"]] == ["ACTUAL", "ACTUAL"]


def test_the_alert_topic_and_its_key_admit_budgets_of_this_account_only_when_there_is_a_budget(budgeted):
    _, _, lake, alerts = budgeted
    alerting = Template.from_stack(Stack.of(alerts))
    topic_policy = statements(only(alerting.find_resources("AWS::SNS::TopicPolicy"))["Properties"]["PolicyDocument"])
    [publish] = [s for s in topic_policy if s.get("Principal") == BUDGETS]
    assert publish["Action"] == "sns:Publish"
    assert publish["Condition"]["StringEquals"] == {"aws:SourceAccount": "111111111111"}
    assert publish["Condition"]["ArnLike"] == {"aws:SourceArn": {"Fn::Join": [
        "", ["arn:", {"Ref": "AWS::Partition"}, ":budgets::111111111111:*"]]}}
    [key] = [k for k in alerting.find_resources("AWS::KMS::Key").values() if "alerts" in k["Properties"]["Description"]]
    [use] = [s for s in statements(key["Properties"]["KeyPolicy"]) if s.get("Principal") == BUDGETS]
    assert use["Action"] == list(BUDGETS_KEY_ACTIONS)
    allow_budgets_to_publish(alerts)  # idempotent
    alerting = Template.from_stack(Stack.of(alerts))
    again = statements(only(alerting.find_resources("AWS::SNS::TopicPolicy"))["Properties"]["PolicyDocument"])
    assert [s for s in again if s.get("Principal") == BUDGETS] == [publish]
    _, _, _, plain = template({})
    plain_topic = only(Template.from_stack(Stack.of(plain)).find_resources("AWS::SNS::TopicPolicy"))
    assert BUDGETS not in [s.get("Principal") for s in statements(plain_topic["Properties"]["PolicyDocument"])]


def test_a_budget_name_with_a_colon_is_refused():
    stack = Stack(App(), "S", env=ENV)
    with pytest.raises(ValueError, match=r"^CostBudget S/Budget: budget_name 'a:b' is invalid; use 1-100 characters "):
        CostBudget(stack, "Budget", settings=BudgetSettings(monthly_usd=1), topic_arn="arn:aws:sns:eu-west-1:1:t",
                   budget_name="a:b")


# -- gates --------------------------------------------------------------------------------------


def _gated_app(stage) -> None:
    lake_stack = Stack(stage, "Lake", env=ENV)
    lake, alerts = DataLake(lake_stack, "Lake"), AlertPath(lake_stack, "Alerts")
    build(stage, {"budget": {"monthly_usd": 100}}, lake=lake, alerts=alerts)
    build(stage, {"trail": {"cloudwatch_logs_retention_days": 365, "data_events": "write_only"},
                  "catalog_encryption": False}, stack_id="GovernanceLogs", lake=lake, alerts=alerts)
    build(stage, {"trail": {"existing_trail_arn": ORG_TRAIL}, "catalog_encryption": {"service_role": False}},
          stack_id="GovernanceOrg", lake=lake, alerts=alerts)


@pytest.fixture(scope="module")
def gated(tmp_path_factory) -> Path:
    return synth_gated(tmp_path_factory.mktemp("governance"), _gated_app)


def test_governance_passes_the_nag_packs_cfn_lint_and_checkov(gated):
    assert_gates_pass(gated)
