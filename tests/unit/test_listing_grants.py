"""grant_read_prefix: one s3:ListBucket statement per role and bucket, its prefix list the union,
grown only while the role's managed policy fits (ManagedPolicyRole.try_grow)."""

from __future__ import annotations

import json

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Template

from ml_platform.constructs.core import iam_limits
from ml_platform.constructs.core.iam_limits import MANAGED_POLICY_MAX_CHARS, iam_size_problems, template_problems
from ml_platform.constructs.core.iam_roles import ManagedPolicyRole
from ml_platform.constructs.lake.data_lake import DataLake, Zone
from ml_platform.constructs.lake.s3_grants import grant_read_prefix
from tests.conftest import CDK_CONTEXT
from tests.iam_eval import BUCKETS, Resolver, obj, permitted

ENV = {"account": "111111111111", "region": "eu-west-1"}
RAW, PROCESSED = (f"arn:aws:s3:::{BUCKETS[zone]}" for zone in (Zone.RAW, Zone.PROCESSED))
GRANTED = ["sales/", "churn/features/", "churn/", "sales/", "a=1/b/", "sales/year=2024/"]
#: listed prefixes: granted ones and below them (allowed), and their siblings, parents and the root (denied)
PROBES = {"sales/": True, "sales/2024/x": True, "churn/": True, "churn/features/v1/": True, "a=1/b/": True,
          "a=1/b/c/": True, "": False, "sale": False, "sales": False, "a=1/": False, "a=1/c/": False,
          "chur": False, "customers/": False, "x/sales/": False}


def _build(make_role, *, grants=GRANTED, context=None) -> tuple[Stack, DataLake, iam.IRole]:
    stack = Stack(App(context={**CDK_CONTEXT, **(context or {})}), "S", env=ENV)
    lake = DataLake(stack, "Lake")  # in the same stack: tests/iam_eval.Resolver names its buckets and key
    role = make_role(stack)
    for prefix in grants:
        grant_read_prefix(role, lake.raw_bucket, lake.encryption_key, prefix)
    grant_read_prefix(role, lake.processed_bucket, lake.encryption_key, "sales/")
    return stack, lake, role


def _managed_role(stack: Stack) -> ManagedPolicyRole:
    return ManagedPolicyRole(stack, "Role", assumed_by=iam.ServicePrincipal("glue.amazonaws.com"))


def _plain_role(stack: Stack) -> iam.Role:
    return iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("glue.amazonaws.com"))


def _documents(stack: Stack, lake: DataLake | None = None, *, resolved: bool = True) -> list[dict]:
    """The IAM policy documents of ``stack`` in template order, tokens replaced (tests/iam_eval.py)
    if ``resolved``."""
    resolve = Resolver(stack, lake, ENV) if resolved else (lambda document: document)
    found = Template.from_stack(stack).to_json()["Resources"]
    return [resolve(r["Properties"]["PolicyDocument"]) for r in found.values()
            if r["Type"] in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy")]


def _policy(documents: list[dict]) -> dict:
    return {"Version": "2012-10-17", "Statement": [s for d in documents for s in d["Statement"]]}


def _listing(documents: list[dict], bucket: str | None = None) -> list[dict]:
    """The statements that allow s3:ListBucket (on ``bucket``)."""
    def listed(value) -> list:
        return value if isinstance(value, list) else [value]

    return [s for d in documents for s in d["Statement"] if "s3:ListBucket" in listed(s["Action"])
            and (bucket is None or bucket in listed(s["Resource"]))]


def test_one_listing_statement_per_bucket_holds_the_sorted_union_of_its_prefixes():
    stack, lake, _ = _build(_managed_role)
    assert _listing(_documents(stack, lake)) == [
        {"Action": "s3:ListBucket", "Effect": "Allow", "Resource": RAW,
         "Condition": {"StringLike": {"s3:prefix": ["a=1/b/*", "churn/*", "churn/features/*", "sales/*",
                                                    "sales/year=2024/*"]}}},
        {"Action": "s3:ListBucket", "Effect": "Allow", "Resource": PROCESSED,
         "Condition": {"StringLike": {"s3:prefix": ["sales/*"]}}},
    ]


def test_the_whole_bucket_stays_a_listing_without_condition():
    stack, lake, _ = _build(_managed_role, grants=["sales/", "", "churn/"])
    # aws-cdk-lib merges the unconditioned one with s3:GetBucketLocation on the bucket
    assert _listing(_documents(stack, lake), RAW) == [
        {"Action": "s3:ListBucket", "Effect": "Allow", "Resource": RAW,
         "Condition": {"StringLike": {"s3:prefix": ["churn/*", "sales/*"]}}},
        {"Action": ["s3:GetBucketLocation", "s3:ListBucket"], "Effect": "Allow", "Resource": RAW},
    ]


def test_the_object_wildcard_acknowledgment_names_the_prefix_or_says_the_whole_bucket():
    stack, _, _ = _build(_managed_role, grants=["sales/", ""])
    reasons = [r["reason"] for resource in Template.from_stack(stack).to_json()["Resources"].values()
               for r in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
               if "trailing wildcard" in r["reason"] or "whole-zone" in r["reason"]]
    assert any("under the prefix 'sales/' only" in r for r in reasons)
    assert any("every object of this one bucket" in r for r in reasons)
    assert not any("prefix ''" in r for r in reasons)


def test_the_merged_statement_allows_exactly_what_one_statement_per_prefix_allowed():
    # a plain iam.Role keeps aws-cdk-lib's one statement per prefix: the behaviour before merging
    per_prefix = _policy(_documents(*_build(_plain_role)[:2]))
    assert len(_listing([per_prefix], RAW)) == len(set(GRANTED))
    merged = _policy(_documents(*_build(_managed_role)[:2]))
    assert len(_listing([merged])) == 2
    for prefix, allowed in PROBES.items():
        for policy in (per_prefix, merged):
            assert permitted(policy, "s3:ListBucket", RAW, {"s3:prefix": prefix}) is allowed, prefix
    assert not permitted(merged, "s3:ListBucket", RAW, {}), "listing without a prefix lists the whole bucket"
    assert permitted(merged, "s3:ListBucket", PROCESSED, {"s3:prefix": "sales/x"})
    assert not permitted(merged, "s3:ListBucket", PROCESSED, {"s3:prefix": "churn/"})
    assert permitted(merged, "s3:GetObject", obj(Zone.RAW, "churn/features/part-0.parquet"))
    assert not permitted(merged, "s3:GetObject", obj(Zone.RAW, "customers/part-0.parquet"))


def _many_prefixes(count: int) -> list[str]:
    return [f"datasets/team-{i % 7}/dataset-{i:04d}-{'x' * 20}/" for i in range(count)]


@pytest.mark.parametrize("lake_elsewhere", [False, True], ids=["same-stack", "lake-in-another-stack"])
def test_a_listing_statement_grows_until_its_policy_is_full_then_the_next_policy_starts_another(lake_elsewhere):
    app = App(context=CDK_CONTEXT)
    stack = Stack(app, "S", env=ENV)
    lake = DataLake(Stack(app, "Lake", env=ENV) if lake_elsewhere else stack, "Lake")
    role = _managed_role(stack)
    prefixes = _many_prefixes(120)
    for i, prefix in enumerate(prefixes):
        grant_read_prefix(role, lake.raw_bucket, lake.encryption_key, prefix)
        if i % 10 == 0:  # other statements between the grants
            role.add_to_policy(iam.PolicyStatement(actions=["sagemaker:DescribeEndpoint"], resources=[
                f"arn:aws:sagemaker:eu-west-1:111111111111:endpoint/endpoint-{i:04d}"]))
    assert len(role.policies) > 1
    assert iam_size_problems(app) == []
    templates = {s.stack_name: Template.from_stack(s).to_json() for s in app.node.children if isinstance(s, Stack)}
    assert template_problems(templates) == []
    documents = _documents(stack, lake, resolved=not lake_elsewhere)
    assert len(documents) == len(role.policies)
    if not lake_elsewhere:  # measured on the synthesized JSON (references as tests/iam_eval.py names them)
        assert all(len(json.dumps(d, separators=(",", ":"))) <= MANAGED_POLICY_MAX_CHARS for d in documents)
    # at most one listing statement per policy, each prefix granted once, sorted within its statement
    listed = [[s["Condition"]["StringLike"]["s3:prefix"] for s in d["Statement"] if s["Action"] == "s3:ListBucket"]
              for d in documents]
    assert all(len(statements) == 1 for statements in listed), listed
    patterns = [p for [statement] in listed for p in statement]
    assert sorted(patterns) == sorted(f"{p}*" for p in prefixes)
    assert all(statement == sorted(statement) for [statement] in listed)
    # the space is used: every policy but the last is full by the estimate synth checks
    lookup = iam_limits._template_lookup(templates, templates["S"])
    sizes = [iam_limits._chars(r["Properties"]["PolicyDocument"], lookup)
             for r in templates["S"]["Resources"].values() if r["Type"] == "AWS::IAM::ManagedPolicy"]
    assert all(MANAGED_POLICY_MAX_CHARS - 250 < size <= MANAGED_POLICY_MAX_CHARS for size in sizes[:-1]), sizes


def test_try_grow_refuses_a_statement_of_an_earlier_policy_or_not_of_the_role():
    stack = Stack(App(context=CDK_CONTEXT), "S", env=ENV)
    role = _managed_role(stack)
    bucket = s3.Bucket(stack, "Bucket")
    first = iam.PolicyStatement(actions=["s3:ListBucket"], resources=[bucket.bucket_arn],
                                conditions={"StringLike": {"s3:prefix": ["a/*"]}})
    role.add_to_policy(first)
    grown = {"StringLike": {"s3:prefix": ["a/*", "b/*"]}}
    assert role.try_grow(first, grown)
    assert first.conditions == grown
    stranger = iam.PolicyStatement(actions=["s3:ListBucket"], resources=[bucket.bucket_arn])
    assert not role.try_grow(stranger, grown)
    for i in range(80):  # the first policy fills up
        role.add_to_policy(iam.PolicyStatement(actions=[f"s3:GetObject{i}"], resources=[f"arn:aws:s3:::{'b' * 70}{i}/*"]))
    assert len(role.policies) > 1
    assert not role.try_grow(first, {"StringLike": {"s3:prefix": ["a/*", "b/*", "c/*"]}})
    assert first.conditions == grown


def test_a_statement_aws_cdk_lib_has_rendered_is_not_grown_but_replaced():
    stack, lake, role = _build(_managed_role, grants=["a/"])
    Template.from_stack(stack)  # renders and freezes the statements
    grant_read_prefix(role, lake.raw_bucket, lake.encryption_key, "b/")  # no error: a new statement
    assert [s.frozen for s in role._statements if s.to_statement_json().get("Action") == "s3:ListBucket"] == [
        True, True, False]


@pytest.mark.parametrize("make_role", [
    _plain_role,
    lambda stack: iam.Role.from_role_arn(stack, "Role", "arn:aws:iam::111111111111:role/imported"),
], ids=["iam.Role", "imported role"])
def test_other_principals_keep_one_listing_statement_per_prefix(make_role):
    stack, lake, _ = _build(make_role)
    documents = _documents(stack, lake)
    listing = _listing(documents, RAW)
    assert sorted(p for s in listing for p in s["Condition"]["StringLike"]["s3:prefix"]) == sorted(
        f"{p}*" for p in set(GRANTED))
    assert all(len(s["Condition"]["StringLike"]["s3:prefix"]) == 1 for s in listing)
    policy = _policy(documents)
    for prefix, allowed in PROBES.items():
        assert permitted(policy, "s3:ListBucket", RAW, {"s3:prefix": prefix}) is allowed, prefix


def test_an_immutable_imported_role_gets_nothing_and_no_error():
    stack, _, _ = _build(lambda s: iam.Role.from_role_arn(s, "Role", "arn:aws:iam::111111111111:role/x", mutable=False))
    Template.from_stack(stack).resource_count_is("AWS::IAM::Policy", 0)


def test_the_prefix_list_does_not_depend_on_the_order_of_grants_and_synth_is_repeatable():
    def template(grants) -> str:
        return json.dumps(Template.from_stack(_build(_managed_role, grants=grants)[0]).to_json())

    assert template(GRANTED) == template(GRANTED)
    [forward, backward] = [_listing(_documents(*_build(_managed_role, grants=g)[:2])) for g in (GRANTED, GRANTED[::-1])]
    assert forward == backward
