"""DataLake: defaults, each option, grants, removal and validation errors."""

from __future__ import annotations

import datetime
import json

import pytest
from aws_cdk import App, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Annotations, Match, Template

from ml_platform.constructs.lake.data_lake import (
    DEFAULT_ACCESS_LOG_RETENTION_DAYS,
    ZONE_READERS,
    DataLake,
    Zone,
    dataset_prefix,
    partition_prefix,
)
from ml_platform.constructs.lake.lake_lifecycle import (
    ARCHIVE_CLASSES,
    DEFAULT_ABORT_INCOMPLETE_UPLOAD_DAYS,
    DEFAULT_NONCURRENT_VERSION_EXPIRATION_DAYS,
    READABLE_CLASSES,
    WATERFALL,
    LifecyclePolicy,
    Transition,
)
from ml_platform.constructs.core.removal import REMOVE_DATA_ON_DESTROY_CONTEXT
from tests.conftest import CDK_CONTEXT, ROOT

ENV = {"account": "111111111111", "region": "eu-west-1"}
ZONE_BUCKET_IDS = ("RawBucket", "ProcessedBucket", "CuratedBucket", "ArtifactsBucket")


def make_lake(context: dict | None = None, **props) -> tuple[Stack, DataLake]:
    app = App(context=context or {})
    stack = Stack(app, "Lake", env=ENV)
    return stack, DataLake(stack, "Lake", **props)


def logical_id(stack: Stack, construct) -> str:
    return stack.resolve(construct.node.default_child.logical_id)


@pytest.fixture(scope="module")
def default_lake():
    stack, lake = make_lake()
    return stack, lake, Template.from_stack(stack)


def zone_bucket_props(stack, lake, template, zone: Zone) -> dict:
    return template.to_json()["Resources"][logical_id(stack, lake.bucket(zone))]["Properties"]


# -- defaults ---------------------------------------------------------------------------------------


def test_defaults_create_one_rotating_key_four_zones_and_a_log_bucket(default_lake):
    stack, lake, template = default_lake
    template.resource_count_is("AWS::KMS::Key", 1)
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    template.resource_count_is("AWS::S3::Bucket", 5)
    assert [lake.bucket(z) for z in Zone] == [
        lake.raw_bucket, lake.processed_bucket, lake.curated_bucket, lake.artifacts_bucket
    ]


@pytest.mark.parametrize("zone", list(Zone))
def test_zone_buckets_are_locked_down_by_default(default_lake, zone):
    stack, lake, template = default_lake
    props = zone_bucket_props(stack, lake, template, zone)
    key_id = stack.resolve(lake.encryption_key.node.default_child.logical_id)
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"] == [
        {
            "BucketKeyEnabled": True,
            "ServerSideEncryptionByDefault": {
                "SSEAlgorithm": "aws:kms",
                "KMSMasterKeyID": {"Fn::GetAtt": [key_id, "Arn"]},
            },
        }
    ]
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True,
        "IgnorePublicAcls": True, "RestrictPublicBuckets": True,
    }
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert props["LoggingConfiguration"] == {
        "DestinationBucketName": {"Ref": logical_id(stack, lake.access_log_bucket)},
        "LogFilePrefix": f"{zone.value}/",
    }


@pytest.mark.parametrize("zone", list(Zone))
def test_zone_buckets_deny_plain_http_and_old_tls(default_lake, zone):
    stack, lake, template = default_lake
    bucket_id = logical_id(stack, lake.bucket(zone))
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "Bucket": {"Ref": bucket_id},
            "PolicyDocument": {
                "Statement": Match.array_with([
                    Match.object_like({
                        "Effect": "Deny",
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    }),
                    Match.object_like({
                        "Effect": "Deny",
                        "Condition": {"NumericLessThan": {"s3:TlsVersion": 1.2}},
                    }),
                ])
            },
        },
    )


def test_default_lifecycle_matches_the_documented_defaults(default_lake):
    stack, lake, template = default_lake
    # The documented defaults (README, docs/configuration.md): IA after 30 days, Glacier IR after
    # 90, noncurrent versions kept 90 days, incomplete uploads aborted after 7.
    assert (DEFAULT_NONCURRENT_VERSION_EXPIRATION_DAYS, DEFAULT_ABORT_INCOMPLETE_UPLOAD_DAYS) == (90, 7)
    for zone in Zone:
        [rule] = zone_bucket_props(stack, lake, template, zone)["LifecycleConfiguration"]["Rules"]
        assert rule["Transitions"] == [
            {"StorageClass": "STANDARD_IA", "TransitionInDays": 30},
            {"StorageClass": "GLACIER_IR", "TransitionInDays": 90},
        ]
        assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 90}
        assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}
        assert rule["Status"] == "Enabled"


def test_access_log_bucket_defaults(default_lake):
    stack, lake, template = default_lake
    props = template.to_json()["Resources"][logical_id(stack, lake.access_log_bucket)]["Properties"]
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"] == [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    ]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    [rule] = props["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] == DEFAULT_ACCESS_LOG_RETENTION_DAYS == 365
    assert "LoggingConfiguration" not in props


def test_data_is_retained_by_default_without_warning(default_lake):
    stack, lake, template = default_lake
    for resource_type in ("AWS::S3::Bucket", "AWS::KMS::Key"):
        for resource in template.find_resources(resource_type).values():
            assert resource["DeletionPolicy"] == "Retain"
    template.resource_count_is("Custom::S3AutoDeleteObjects", 0)
    Annotations.from_stack(stack).has_no_warning("*", Match.any_value())


def acknowledged_rules(construct) -> set[str]:
    return {
        rule.split("::")[-1]
        for entry in construct.node.metadata
        if entry.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY
        for rule in entry.data
    }


REPLICATION = {f"{p}-S3BucketReplicationEnabled" for p in ("HIPAA.Security", "NIST.800.53.R5", "PCI.DSS.321")}
LOG_BUCKET_SSE_S3 = {f"{p}-S3DefaultEncryptionKMS" for p in ("HIPAA.Security", "NIST.800.53.R5", "PCI.DSS.321")}


def test_compliance_exceptions_are_recorded_on_the_resources_they_concern(default_lake):
    stack, lake, _ = default_lake
    for zone in Zone:
        assert acknowledged_rules(lake.bucket(zone).node.default_child) == REPLICATION
    assert acknowledged_rules(lake.access_log_bucket.node.default_child) == REPLICATION | LOG_BUCKET_SSE_S3
    for construct in (lake, stack, lake.encryption_key.node.default_child):
        assert acknowledged_rules(construct) == set()


# -- options ----------------------------------------------------------------------------------------


def test_imported_key_is_used_and_no_key_is_created():
    app = App()
    key_stack = Stack(app, "Keys", env=ENV)
    key = kms.Key(key_stack, "Shared", enable_key_rotation=True)
    stack = Stack(app, "Lake", env=ENV)
    lake = DataLake(stack, "Lake", encryption_key=key)
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::KMS::Key", 0)
    assert lake.encryption_key is key
    props = template.to_json()["Resources"][logical_id(stack, lake.raw_bucket)]["Properties"]
    kms_key = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
        "ServerSideEncryptionByDefault"]["KMSMasterKeyID"]
    assert "Fn::ImportValue" in kms_key


def test_lifecycle_and_zone_override_and_log_retention():
    archive = LifecyclePolicy(
        transitions=(Transition(storage_class="GLACIER_IR", days=1),),
        noncurrent_version_expiration_days=3,
        abort_incomplete_multipart_upload_days=2,
    )
    stack, lake = make_lake(
        lifecycle=LifecyclePolicy(transitions=()),
        zone_lifecycle={"raw": archive},
        access_log_retention_days=30,
    )
    resources = Template.from_stack(stack).to_json()["Resources"]
    [raw] = resources[logical_id(stack, lake.raw_bucket)]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert raw["Transitions"] == [{"StorageClass": "GLACIER_IR", "TransitionInDays": 1}]
    assert raw["NoncurrentVersionExpiration"] == {"NoncurrentDays": 3}
    assert raw["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 2}
    [curated] = resources[logical_id(stack, lake.curated_bucket)]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert "Transitions" not in curated
    assert curated["NoncurrentVersionExpiration"] == {"NoncurrentDays": 90}
    [logs] = resources[logical_id(stack, lake.access_log_bucket)]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert logs["ExpirationInDays"] == 30


def test_deletion_allowed_and_flag_set_destroys_data_and_empties_buckets():
    stack, lake = make_lake({REMOVE_DATA_ON_DESTROY_CONTEXT: True}, allow_data_deletion=True)
    template = Template.from_stack(stack)
    for resource_type in ("AWS::S3::Bucket", "AWS::KMS::Key"):
        for resource in template.find_resources(resource_type).values():
            assert resource["DeletionPolicy"] == "Delete"
    template.resource_count_is("Custom::S3AutoDeleteObjects", 5)
    handler = template.find_resources("AWS::Lambda::Function")
    [metadata] = [r["Metadata"] for r in handler.values()]
    assert {s["id"] for s in metadata["checkov"]["skip"]} == {"CKV_AWS_115", "CKV_AWS_116", "CKV_AWS_117"}
    assert metadata["cfn-lint"]["config"]["ignore_checks"] == ["W3005"]
    Annotations.from_stack(stack).has_no_warning("*", Match.any_value())


def test_deletion_allowed_without_flag_retains_and_says_so():
    """A note, not a warning: a warning would fail the gated synth of every environment that only
    allows deletion (the second key, the context flag, is off in cdk.json)."""
    stack, lake = make_lake({}, allow_data_deletion=True)
    template = Template.from_stack(stack)
    for resource in template.find_resources("AWS::S3::Bucket").values():
        assert resource["DeletionPolicy"] == "Retain"
    Annotations.from_stack(stack).has_info(
        "/Lake/Lake", Match.string_like_regexp("Data is RETAINED on stack removal.*removeDataOnDestroy")
    )
    Annotations.from_stack(stack).has_no_warning("*", Match.any_value())


def test_cdk_json_keeps_the_second_key_off():
    """The environment file alone must never delete data: cdk.json may name the flag, not turn it."""
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    assert REMOVE_DATA_ON_DESTROY_CONTEXT in context
    assert context[REMOVE_DATA_ON_DESTROY_CONTEXT] is False


def test_the_apps_context_alone_retains_data_an_environment_may_delete():
    stack, lake = make_lake(dict(CDK_CONTEXT), allow_data_deletion=True)
    for resource in Template.from_stack(stack).find_resources("AWS::S3::Bucket").values():
        assert resource["DeletionPolicy"] == "Retain"
    Annotations.from_stack(stack).has_info("/Lake/Lake", Match.string_like_regexp("Data is RETAINED"))


def test_flag_without_environment_permission_retains_silently():
    stack, lake = make_lake({REMOVE_DATA_ON_DESTROY_CONTEXT: "true"}, allow_data_deletion=False)
    template = Template.from_stack(stack)
    for resource in template.find_resources("AWS::S3::Bucket").values():
        assert resource["DeletionPolicy"] == "Retain"
    Annotations.from_stack(stack).has_no_warning("*", Match.any_value())


# -- grants -----------------------------------------------------------------------------------------


def _policy_statements(stack: Stack) -> list[dict]:
    [policy] = Template.from_stack(stack).find_resources("AWS::IAM::Policy").values()
    return policy["Properties"]["PolicyDocument"]["Statement"]


def _role(stack: Stack) -> iam.Role:
    return iam.Role(stack, "Reader", assumed_by=iam.ServicePrincipal("glue.amazonaws.com"))


def test_grant_read_is_limited_to_the_prefix_and_the_key_through_s3():
    stack, lake = make_lake()
    role = _role(stack)
    grant = lake.grant_read(role, "raw", dataset_prefix("sales"))
    assert grant.success
    raw = logical_id(stack, lake.raw_bucket)
    key = stack.resolve(lake.encryption_key.node.default_child.logical_id)
    assert _policy_statements(stack) == [
        {"Action": ["s3:GetObject", "s3:GetObjectVersion"], "Effect": "Allow",
         "Resource": {"Fn::Join": ["", [{"Fn::GetAtt": [raw, "Arn"]}, "/sales/*"]]}},
        {"Action": "s3:ListBucket", "Effect": "Allow", "Resource": {"Fn::GetAtt": [raw, "Arn"]},
         "Condition": {"StringLike": {"s3:prefix": ["sales/*"]}}},
        {"Action": "s3:GetBucketLocation", "Effect": "Allow", "Resource": {"Fn::GetAtt": [raw, "Arn"]}},
        {"Action": "kms:Decrypt", "Effect": "Allow", "Resource": {"Fn::GetAtt": [key, "Arn"]},
         "Condition": {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}}},
    ]


def test_grant_read_of_a_whole_zone_lists_without_condition():
    stack, lake = make_lake()
    lake.grant_read(_role(stack), Zone.CURATED)
    listing = [s for s in _policy_statements(stack) if s["Action"] == "s3:ListBucket"]
    assert listing and "Condition" not in listing[0]


@pytest.mark.parametrize(("allow_delete", "actions"), [
    (False, ["s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]),
    (True, ["s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts", "s3:DeleteObject"]),
])
def test_grant_write_is_limited_to_the_prefix(allow_delete, actions):
    stack, lake = make_lake()
    lake.grant_write(_role(stack), "processed", "sales/", allow_delete=allow_delete)
    processed = logical_id(stack, lake.processed_bucket)
    statements = _policy_statements(stack)
    assert statements[0] == {
        "Action": actions, "Effect": "Allow",
        "Resource": {"Fn::Join": ["", [{"Fn::GetAtt": [processed, "Arn"]}, "/sales/*"]]},
    }
    assert statements[1]["Action"] == ["kms:GenerateDataKey", "kms:Decrypt"]
    assert statements[1]["Condition"] == {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}}
    assert len(statements) == 2


def test_grant_read_write_combines_both_without_delete():
    stack, lake = make_lake()
    lake.grant_read_write(_role(stack), "artifacts", "models/")
    actions = {a for s in _policy_statements(stack) for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert {"s3:GetObject", "s3:PutObject", "kms:Decrypt", "kms:GenerateDataKey"} <= actions
    assert "s3:DeleteObject" not in actions


# -- validation -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("prefix", "message"), [
    ("sales", "prefix 'sales' is invalid"),
    ("/sales/", "prefix '/sales/' is invalid"),
    ("sa les/", "prefix 'sa les/' is invalid"),
])
def test_grant_rejects_malformed_prefixes(prefix, message):
    stack, lake = make_lake()
    with pytest.raises(ValueError, match=f"^DataLake {lake.node.path}: {message}"):
        lake.grant_read(_role(stack), "raw", prefix)


def test_unknown_zone_is_rejected_with_the_allowed_zones():
    stack, lake = make_lake()
    with pytest.raises(ValueError, match=r"zone 'gold' is unknown; allowed: raw, processed, curated, artifacts"):
        lake.bucket("gold")


def test_constructor_reports_every_problem_at_once():
    with pytest.raises(ValueError) as caught:
        make_lake(zone_lifecycle={"gold": LifecyclePolicy()}, access_log_retention_days=0)
    assert str(caught.value) == (
        "DataLake Lake/Lake: zone_lifecycle has unknown zone 'gold'; allowed: raw, processed, "
        "curated, artifacts; access_log_retention_days is 0; allowed: 1 to 36500"
    )


@pytest.mark.parametrize(("transitions", "message"), [
    ([("ONEZONE_IA", 29)], "transitions[0]: ONEZONE_IA after 29 days is not allowed; S3 needs at least 30 days"),
    ([("GLACIER", 30), ("STANDARD_IA", 60)], "transitions[1]: STANDARD_IA cannot follow GLACIER; order transitions as"),
    ([("GLACIER_IR", 90), ("GLACIER", 90)], "transitions[1]: GLACIER after 90 days must come later than GLACIER_IR after 90 days"),
    ([("STANDARD_IA", 30), ("GLACIER", 45)], "transitions[1]: GLACIER after 45 days is too soon; objects stay at least 30 days in STANDARD_IA (day 30)"),
])
def test_lifecycle_rejects_transitions_s3_would_refuse(transitions, message):
    with pytest.raises(ValueError) as caught:
        LifecyclePolicy(transitions=[{"storage_class": c, "days": d} for c, d in transitions])
    assert message in str(caught.value)


def test_lifecycle_accepts_a_valid_waterfall():
    policy = LifecyclePolicy(transitions=[
        {"storage_class": "STANDARD_IA", "days": 30},
        {"storage_class": "GLACIER_IR", "days": 60},
        {"storage_class": "DEEP_ARCHIVE", "days": 180},
    ])
    assert [t.storage_class for t in policy.transitions] == ["STANDARD_IA", "GLACIER_IR", "DEEP_ARCHIVE"]


def test_storage_classes_are_readable_or_archive_and_every_zone_is_read():
    assert set(READABLE_CLASSES) | set(ARCHIVE_CLASSES) == set(WATERFALL)
    assert set(ARCHIVE_CLASSES) == {"GLACIER", "DEEP_ARCHIVE"}
    assert set(ZONE_READERS) == set(Zone)


@pytest.mark.parametrize("storage_class", READABLE_CLASSES)
def test_readable_classes_are_accepted_on_every_zone(storage_class):
    policy = LifecyclePolicy(transitions=[{"storage_class": storage_class, "days": 30}])
    stack, lake = make_lake(lifecycle=policy, zone_lifecycle={Zone.RAW: policy})
    rules = Template.from_stack(stack).to_json()["Resources"][logical_id(stack, lake.curated_bucket)][
        "Properties"]["LifecycleConfiguration"]["Rules"]
    assert rules[0]["Transitions"] == [{"StorageClass": storage_class, "TransitionInDays": 30}]


@pytest.mark.parametrize("storage_class", ARCHIVE_CLASSES)
def test_archive_class_on_read_zones_is_refused(storage_class):
    archive = LifecyclePolicy(transitions=[{"storage_class": "GLACIER_IR", "days": 90},
                                           {"storage_class": storage_class, "days": 365}])
    with pytest.raises(ValueError) as caught:
        make_lake(lifecycle=archive, zone_lifecycle={"raw": LifecyclePolicy(), "artifacts": archive})
    assert str(caught.value) == (
        f"DataLake Lake/Lake: lifecycle.transitions[1].storage_class: {storage_class} after 365 days makes "
        "objects unreadable until restored, and it applies to zones processed, curated, which the platform "
        "reads; allowed: STANDARD_IA, INTELLIGENT_TIERING, ONEZONE_IA, GLACIER_IR; "
        f"zone_lifecycle.artifacts.transitions[1].storage_class: {storage_class} after 365 days makes objects "
        f"unreadable until restored, and artifacts is read by {ZONE_READERS[Zone.ARTIFACTS]}; allowed: "
        "STANDARD_IA, INTELLIGENT_TIERING, ONEZONE_IA, GLACIER_IR"
    )


def test_an_archive_lifecycle_no_zone_uses_is_not_checked():
    archive = LifecyclePolicy(transitions=[{"storage_class": "DEEP_ARCHIVE", "days": 180}])
    stack, lake = make_lake(lifecycle=archive, zone_lifecycle={zone: LifecyclePolicy() for zone in Zone})
    assert lake.removal_policy is not None


# -- layout helpers ---------------------------------------------------------------------------------


def test_partition_prefix_is_hive_style_and_zero_padded():
    assert partition_prefix("sales", datetime.date(2024, 3, 7)) == "sales/year=2024/month=03/day=07/"


@pytest.mark.parametrize("name", ["Sales", "_sales", "sales/2024", "", "x" * 129])
def test_dataset_names_are_validated(name):
    with pytest.raises(ValueError, match="dataset name .* is invalid"):
        dataset_prefix(name)
