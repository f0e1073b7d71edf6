"""IAM size quotas checked at synth, and ManagedPolicyRole spilling statements into more policies."""

from __future__ import annotations

import json
import re

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Template

from ml_platform.constructs.core import check_iam_sizes, iam_size_problems
from ml_platform.constructs.core.iam_limits import (
    ATTRIBUTE_CHARS,
    MANAGED_POLICIES_PER_ROLE,
    MANAGED_POLICY_MAX_CHARS,
    ROLE_INLINE_POLICIES_MAX_CHARS,
    TOKEN_CHARS,
    TRUST_POLICY_MAX_CHARS,
    bounding_statement,
    document_chars,
    estimated_statement,
    largest_policy_share,
    template_problems,
)
from ml_platform.constructs.core import iam_limits, iam_roles
from ml_platform.constructs.core.iam_roles import ManagedPolicyRole
from ml_platform.constructs.lake.s3_grants import grant_read_prefix
from tests.iam_eval import permitted

ENV = {"account": "111111111111", "region": "eu-west-1"}
ENDPOINTS, MODELS = 50, 20
MINIMIZE = {"@aws-cdk/aws-iam:minimizePolicies": True}


def endpoint_arn(i: int) -> str:
    return f"arn:aws:sagemaker:eu-west-1:111111111111:endpoint/platform-endpoint-{i:03d}"


def model_arn(i: int) -> str:
    return f"arn:aws:sagemaker:eu-west-1:111111111111:model-package/platform-model-{i:03d}/*"


def test_quotas_are_the_documented_defaults():
    # IAM User Guide, "IAM and AWS STS quotas": characters without whitespace, default quotas
    assert (MANAGED_POLICY_MAX_CHARS, ROLE_INLINE_POLICIES_MAX_CHARS, TRUST_POLICY_MAX_CHARS,
            MANAGED_POLICIES_PER_ROLE) == (6_144, 10_240, 2_048, 10)


def test_documents_are_measured_compact_with_references_estimated_by_type():
    stack = Stack(App(), "S", env=ENV)
    key, bucket = kms.Key(stack, "Key"), s3.Bucket(stack, "Bucket")
    statement = iam.PolicyStatement(actions=["kms:Decrypt"], resources=[key.key_arn, bucket.arn_for_objects("a/*")])
    rendered = estimated_statement(stack, statement)
    key_arn, objects = rendered["Resource"]
    assert len(key_arn) == ATTRIBUTE_CHARS[("AWS::KMS::Key", "Arn")]
    assert len(objects) == ATTRIBUTE_CHARS[("AWS::S3::Bucket", "Arn")] + len("/a/*")
    assert document_chars(rendered) == len(json.dumps(rendered, separators=(",", ":")))
    # a template's values: unknown references count TOKEN_CHARS, outputs of other stacks by type
    assert document_chars({"Resource": {"Ref": "Unknown"}}) == len('{"Resource":""}') + TOKEN_CHARS
    assert document_chars({"Resource": {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":s3:::b"]]}}) == (
        len('{"Resource":"arn::s3:::b"}') + len("aws-us-gov"))


def _big_statements(count: int, prefix: str = "resource") -> list[iam.PolicyStatement]:
    return [iam.PolicyStatement(actions=[f"s3:GetObject{i}"], resources=[f"arn:aws:s3:::{prefix}-{i:04d}-{'x' * 60}/*"])
            for i in range(count)]


def _synth_error(stack: Stack) -> list[str]:
    check_iam_sizes(stack.node.root)
    with pytest.raises(RuntimeError) as raised:
        stack.node.root.synth()
    return str(raised.value).splitlines()


def test_a_managed_policy_over_the_quota_fails_synth_with_one_line():
    stack = Stack(App(), "S", env=ENV)
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    iam.ManagedPolicy(stack, "Big", statements=_big_statements(70), roles=[role])
    lines = _synth_error(stack)
    assert any(re.search(r"managed policy S/Big of role S/Role is about [\d,]+ characters; IAM allows 6,144$", line)
               for line in lines), lines


def test_inline_policies_of_a_role_count_together():
    stack = Stack(App(), "S", env=ENV)
    documents = {name: iam.PolicyDocument(statements=_big_statements(40, name)) for name in ("A", "B")}
    iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"), inline_policies=documents)
    [problem] = iam_size_problems(stack)
    assert re.fullmatch(r"role S/Role: inline policies \(A, B\) are about [\d,]+ characters together; "
                        r"IAM allows 10,240", problem)
    assert any(line.endswith(problem) for line in _synth_error(stack))


def test_a_long_trust_policy_fails():
    stack = Stack(App(), "S", env=ENV)
    principals = [iam.AccountPrincipal(f"{i:012d}") for i in range(1, 60)]
    iam.Role(stack, "Role", assumed_by=iam.CompositePrincipal(*principals))
    [problem] = iam_size_problems(stack)
    assert re.fullmatch(r"role S/Role: trust policy is about [\d,]+ characters; IAM allows 2,048 by default", problem)


def test_more_managed_policies_than_the_quota_fail():
    stack = Stack(App(), "S", env=ENV)
    managed = [iam.ManagedPolicy.from_aws_managed_policy_name(f"Policy{i}") for i in range(MANAGED_POLICIES_PER_ROLE)]
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"), managed_policies=managed)
    assert iam_size_problems(stack) == []
    iam.ManagedPolicy(stack, "Eleventh", statements=_big_statements(1), roles=[role])
    assert iam_size_problems(stack) == [
        "role S/Role: 11 managed policies attached; IAM allows 10 by default (20 with a quota increase)"
    ]


def _serving_role(stack: Stack) -> ManagedPolicyRole:
    """A role with the grants an inference role gets per endpoint and per model."""
    role = ManagedPolicyRole(stack, "Role", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    bucket, key = s3.Bucket(stack, "Bucket"), kms.Key(stack, "Key")
    for i in range(ENDPOINTS):
        grant_read_prefix(role, bucket, key, f"capture/endpoint-{i:03d}/")
        role.add_to_policy(iam.PolicyStatement(
            actions=["sagemaker:InvokeEndpoint", "sagemaker:DescribeEndpoint"], resources=[endpoint_arn(i)]))
        role.add_to_policy(iam.PolicyStatement(
            actions=["sns:Publish"], resources=[f"arn:aws:sns:eu-west-1:111111111111:endpoint-{i:03d}-alerts"],
            conditions={"Bool": {"aws:SecureTransport": "true"}}))
    for i in range(MODELS):
        role.add_to_policy(iam.PolicyStatement(
            actions=["sagemaker:DescribeModelPackage", "sagemaker:CreateModel"], resources=[model_arn(i)],
            conditions={"StringEquals": {"sagemaker:ResourceTag/model": f"model-{i:03d}"}}))
    return role


def _placeholders(value):
    """Intrinsics replaced by a string, so that moto's evaluator reads the document."""
    if isinstance(value, list):
        return [_placeholders(v) for v in value]
    if isinstance(value, dict):
        if len(value) == 1 and next(iter(value)).startswith(("Ref", "Fn::")):
            return "arn:aws:s3:::token"
        return {k: _placeholders(v) for k, v in value.items()}
    return value


def test_statements_for_50_endpoints_and_20_models_spill_into_policies_within_the_quota():
    stack = Stack(App(context=MINIMIZE), "S", env=ENV)
    role = _serving_role(stack)
    assert len(role.policies) > 1
    assert [p.node.id for p in role.policies] == ["Policy"] + [f"Policy{n}" for n in range(2, len(role.policies) + 1)]
    assert role.policy is role.policies[0]
    assert iam_size_problems(stack) == []
    template = Template.from_stack(stack)
    assert template_problems({"S": template.to_json()}) == []
    documents = [p["Properties"]["PolicyDocument"] for p in template.find_resources("AWS::IAM::ManagedPolicy").values()]
    assert len(documents) == len(role.policies) <= MANAGED_POLICIES_PER_ROLE
    assert all(len(json.dumps(d, separators=(",", ":"))) <= MANAGED_POLICY_MAX_CHARS for d in documents)
    readable = [_placeholders(d) for d in documents]
    for i in range(ENDPOINTS):
        assert any(permitted(d, "sagemaker:InvokeEndpoint", endpoint_arn(i)) for d in readable), i
    for i in range(MODELS):
        assert any(permitted(d, "sagemaker:CreateModel", model_arn(i).replace("*", "1"),
                             {"sagemaker:ResourceTag/model": f"model-{i:03d}"}) for d in readable), i
    template.resource_count_is("AWS::IAM::Policy", 0)


def test_statements_aws_cdk_lib_merges_are_counted_merged():
    stack = Stack(App(context=MINIMIZE), "S", env=ENV)
    role = ManagedPolicyRole(stack, "Role", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    bucket = s3.Bucket(stack, "Bucket")
    for i in range(ENDPOINTS):  # one statement each, merged into one with 50 resources
        for _ in range(2):  # and a duplicate, which aws-cdk-lib drops
            role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"],
                                                   resources=[bucket.arn_for_objects(f"set-{i:03d}/*")]))
    assert [p.node.id for p in role.policies] == ["Policy"]
    Template.from_stack(stack).resource_count_is("AWS::IAM::ManagedPolicy", 1)


def test_more_policies_than_iam_attaches_is_refused_in_one_line():
    stack = Stack(App(context=MINIMIZE), "S", env=ENV)
    managed = [iam.ManagedPolicy.from_aws_managed_policy_name(f"Policy{i}")
               for i in range(MANAGED_POLICIES_PER_ROLE - 1)]
    role = ManagedPolicyRole(stack, "Role", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
                             managed_policies=managed)
    with pytest.raises(ValueError) as raised:
        for statement in _big_statements(70):
            role.add_to_policy(statement)
    assert str(raised.value) == (
        "ManagedPolicyRole S/Role: statements need 11 managed policies of 6,144 characters with the 9 given; "
        "IAM attaches at most 10 to a role by default"
    )


def _cross_stack_statements(count: int, *, minimize: bool = True) -> tuple[App, Stack, list[iam.PolicyStatement]]:
    """Statements of a consumer stack on prefixes of a bucket and a key of another stack."""
    app = App(context=MINIMIZE if minimize else {})
    producer, consumer = Stack(app, "Lake", env=ENV), Stack(app, "S", env=ENV)
    bucket, key = s3.Bucket(producer, "Bucket"), kms.Key(producer, "Key")
    statements = [statement for i in range(count) for statement in (
        iam.PolicyStatement(actions=[f"s3:GetObject{i % 3}"], resources=[bucket.arn_for_objects(f"data/set-{i:03d}/*")]),
        iam.PolicyStatement(actions=["kms:Decrypt"], resources=[key.key_arn],
                            conditions={"StringEquals": {"kms:EncryptionContext:set": f"set-{i:03d}"}}),
    )]
    return app, consumer, statements


def test_a_bound_is_never_shorter_than_the_estimate_and_keeps_references_apart():
    _, stack, statements = _cross_stack_statements(2)
    for statement in statements:
        assert document_chars(bounding_statement(stack, statement)) >= document_chars(estimated_statement(stack, statement))
    app = App()
    producer, consumer = Stack(app, "Lake", env=ENV), Stack(app, "S2", env=ENV)
    first, second = s3.Bucket(producer, "First"), s3.Bucket(producer, "Second")
    bound = bounding_statement(consumer, iam.PolicyStatement(actions=["s3:ListBucket"],
                                                             resources=[first.bucket_arn, second.bucket_arn]))
    assert len(set(bound["Resource"])) == 2 and all(len(r) == TOKEN_CHARS for r in bound["Resource"])


def test_bounds_place_statements_in_the_same_policies_as_estimates(monkeypatch):
    def placement() -> list[int]:
        _, stack, statements = _cross_stack_statements(90)
        role = ManagedPolicyRole(stack, "Role", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
        for statement in statements:
            role.add_to_policy(statement)
        return [len(p.document.to_json()["Statement"]) for p in role.policies]

    with_bounds = placement()
    monkeypatch.setattr(iam_roles, "bounding_statement", iam_limits.estimated_statement)
    assert len(with_bounds) > 1 and with_bounds == placement()


def test_a_policy_that_fits_only_by_its_estimate_is_not_reported():
    _, stack, statements = _cross_stack_statements(60, minimize=False)
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    policy = iam.ManagedPolicy(stack, "Policy", roles=[role])
    added: list[iam.PolicyStatement] = []
    for statement in statements:  # up to where the bound exceeds the quota (distinct statements: no merging)
        added.append(statement)
        policy.add_statements(statement)
        if document_chars({"Statement": [bounding_statement(stack, s) for s in added]}) > MANAGED_POLICY_MAX_CHARS:
            break
    assert document_chars({"Statement": [estimated_statement(stack, s) for s in added]}) < MANAGED_POLICY_MAX_CHARS - 200
    assert iam_size_problems(stack) == []
    policy.add_statements(*_big_statements(20))  # over the quota by its estimate too: reported, with it
    [problem] = iam_size_problems(stack)
    assert re.search(r"managed policy S/Policy of role S/Role is about [\d,]+ characters", problem), problem


def test_the_largest_document_of_a_stack_is_reported_as_a_share_of_its_quota():
    statement = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": {"Fn::GetAtt": ["Bucket", "Arn"]}}
    document = {"Version": "2012-10-17", "Statement": [statement]}
    template = {"Resources": {
        "Bucket": {"Type": "AWS::S3::Bucket"},
        "Small": {"Type": "AWS::IAM::ManagedPolicy", "Properties": {"PolicyDocument": document}},
        "Large": {"Type": "AWS::IAM::ManagedPolicy",
                  "Properties": {"PolicyDocument": {**document, "Statement": [statement] * 3}}},
    }}
    rendered = {**statement, "Resource": "x" * ATTRIBUTE_CHARS[("AWS::S3::Bucket", "Arn")]}
    size = len(json.dumps({**document, "Statement": [rendered] * 3}, separators=(",", ":")))
    share, described = largest_policy_share({"S": template}, "S")
    assert share == size / MANAGED_POLICY_MAX_CHARS
    assert described == f"managed policy Large: {size:,} of {MANAGED_POLICY_MAX_CHARS:,}"
    assert largest_policy_share({"S": {"Resources": {}}}, "S") == (0.0, "")
