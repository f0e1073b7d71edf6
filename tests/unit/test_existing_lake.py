"""DataLake.from_existing: a lake of the app's own buckets and key, usable wherever a lake is taken."""

from __future__ import annotations

import json

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Template

from ml_platform.constructs.lake import DataLake, Zone
from ml_platform.constructs.lake.lake_access import ExistingLake, ILake

ENV = {"account": "111111111111", "region": "eu-west-1"}
KEY_ARN = "arn:aws:kms:eu-west-1:111111111111:key/team-key"


def existing(stack, zones=("raw", "curated")):
    key = kms.Key.from_key_arn(stack, "TeamKey", KEY_ARN)
    buckets = {z: s3.Bucket.from_bucket_name(stack, f"Team{z}", f"team-{z}") for z in zones}
    return DataLake.from_existing(stack, "Lake", buckets=buckets, encryption_key=key)


def test_it_creates_nothing_and_satisfies_the_lake_interface():
    stack = Stack(App(), "S", env=ENV)
    lake = existing(stack)
    assert isinstance(lake, ExistingLake) and isinstance(lake, ILake)
    assert isinstance(DataLake(Stack(App(), "T", env=ENV), "Lake"), ILake)
    assert Template.from_stack(stack).to_json().get("Resources", {}) == {}
    assert stack.resolve(lake.s3_uri(Zone.RAW, "sales/")) == "s3://team-raw/sales/"


def test_grants_go_to_the_grantee_on_the_given_bucket_prefix_and_key():
    stack = Stack(App(), "S", env=ENV)
    lake = existing(stack)
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("glue.amazonaws.com"))
    lake.grant_read(role, "raw", "sales/")
    lake.grant_write(role, Zone.CURATED, "features/")
    policy = json.dumps(Template.from_stack(stack).find_resources("AWS::IAM::Policy"))
    assert "team-raw/sales/*" in policy and "team-curated/features/*" in policy and KEY_ARN in policy
    assert "s3:DeleteObject" not in policy


def test_a_zone_it_was_not_given_is_refused_in_one_line():
    stack = Stack(App(), "S", env=ENV)
    lake = existing(stack, zones=("raw",))
    with pytest.raises(ValueError, match=r"^ExistingLake S/Lake: zone 'artifacts' has no bucket; this lake has raw$"):
        lake.bucket("artifacts")


@pytest.mark.parametrize("buckets, message", [
    ({}, "buckets is empty"),
    ({"bronze": None}, "buckets has unknown zone 'bronze'"),
])
def test_bad_buckets_are_refused(buckets, message):
    stack = Stack(App(), "S", env=ENV)
    key = kms.Key.from_key_arn(stack, "TeamKey", KEY_ARN)
    with pytest.raises(ValueError, match=f"^ExistingLake S/Lake: {message}"):
        DataLake.from_existing(stack, "Lake", buckets=buckets, encryption_key=key)


def test_the_labeling_cors_rule_cannot_be_added_to_an_imported_bucket():
    stack = Stack(App(), "S", env=ENV)
    with pytest.raises(ValueError, match=r"^ExistingLake S/Lake: the raw bucket is imported"):
        existing(stack).allow_labeling_ui("raw")
