"""ManagedPolicyRole, GlueSecurity, ScriptAsset and the wildcard acknowledgment mechanism."""

from __future__ import annotations

import json

import pytest
from aws_cdk import App, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Template

from ml_platform.constructs.core.compliance import acknowledge_wildcard_resource, flatten_cfn_reference
from ml_platform.constructs.preparation.glue_code import ScriptAsset
from ml_platform.constructs.core.iam_roles import ManagedPolicyRole
from ml_platform.constructs.lake.s3_grants import grant_read_prefix
from tests.unit.glue_fixtures import ENV, Catalog


def test_managed_policy_role_takes_grants_from_l2s_without_inline_policy():
    stack = Stack(App(), "S")
    role = ManagedPolicyRole(stack, "Role", assumed_by=iam.ServicePrincipal("glue.amazonaws.com"))
    s3.Bucket(stack, "Bucket").grant_read(role)  # aws-cdk-lib adds this itself
    role.add_to_policy(iam.PolicyStatement(actions=["sqs:SendMessage"], resources=["arn:aws:sqs:eu-west-1:1:q"]))
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::IAM::Policy", 0)
    [policy] = template.find_resources("AWS::IAM::ManagedPolicy").values()
    assert policy["Properties"]["Roles"] == [{"Ref": stack.resolve(role.node.default_child.logical_id)}]
    statement_actions = [s["Action"] for s in policy["Properties"]["PolicyDocument"]["Statement"]]
    assert "sqs:SendMessage" in statement_actions and any("s3:GetObject*" in a for a in statement_actions)


@pytest.mark.parametrize(("value", "flat"), [
    ("arn:aws:s3:::b/${x}/*", "arn:aws:s3:::b/<x>/*"),
    ({"Fn::Join": ["", [{"Fn::GetAtt": ["Bucket1", "Arn"]}, "/sales/*"]]}, "<Bucket1.Arn>/sales/*"),
    ({"Fn::Join": ["/", [{"Ref": "Db"}, "*"]]}, "<Db>/*"),
    ({"Fn::ImportValue": "Lake:Export1"}, "Lake:Export1"),
    ({"Fn::Sub": "arn:${AWS::Partition}:s3:::x"}, "arn:<AWS::Partition>:s3:::x"),
    ({"Fn::GetStackOutput": {"StackName": "L", "OutputName": "O"}}, '{"Fn::GetStackOutput":{"StackName":"L","OutputName":"O"}}'),
])
def test_flatten_matches_cdk_nag_finding_ids(value, flat):
    assert flatten_cfn_reference(value) == flat


def _acknowledged(construct) -> dict[str, str]:
    found = {}
    for entry in construct.node.metadata:
        if entry.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
            found |= {k.split("::", 1)[1]: v for k, v in entry.data.items()}
    return found


def test_prefix_grant_acknowledges_exactly_its_wildcard_across_stacks_and_writes_it_to_the_template():
    app = App()
    bucket = s3.Bucket(Stack(app, "Lake", env=ENV), "Bucket")
    stack = Stack(app, "Jobs", env=ENV)
    role = ManagedPolicyRole(stack, "Role", assumed_by=iam.ServicePrincipal("glue.amazonaws.com"))
    from aws_cdk import aws_kms as kms

    grant_read_prefix(role, bucket, kms.Key(stack, "Key"), "sales/")
    role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=["arn:aws:s3:::other/*"]))
    assembly = app.synth()
    acknowledged = _acknowledged(role.policy.node.default_child)
    [rule_id] = acknowledged
    assert rule_id.startswith("AwsSolutions-IAM5[Resource::") and rule_id.endswith("/sales/*]")
    assert "Lake" in rule_id  # the consuming stack's reference to the other stack
    assert "prefix 'sales/'" in acknowledged[rule_id]
    template = assembly.get_stack_by_name("Jobs").template
    [policy] = [r for r in template["Resources"].values() if r["Type"] == "AWS::IAM::ManagedPolicy"]
    assert policy["Metadata"]["cdk_nag"]["rules_to_suppress"] == [{"id": rule_id, "reason": acknowledged[rule_id]}]


def test_wildcard_acknowledgment_ignores_principals_outside_the_tree_and_resources_not_granted():
    acknowledge_wildcard_resource(iam.AccountRootPrincipal(), "*", "never used")  # no error, nothing to do
    stack = Stack(App(), "S")
    role = ManagedPolicyRole(stack, "Role", assumed_by=iam.ServicePrincipal("glue.amazonaws.com"))
    role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=["arn:aws:s3:::b/x"]))
    acknowledge_wildcard_resource(role, "arn:aws:s3:::b/*", "not in the policy")
    Template.from_stack(stack)
    assert _acknowledged(role.policy.node.default_child) == {}


def test_glue_security_encrypts_s3_logs_and_bookmarks_and_admits_cloudwatch_logs():
    catalog = Catalog()
    config = catalog.one("AWS::Glue::SecurityConfiguration")["Properties"]["EncryptionConfiguration"]
    assert config["S3Encryptions"][0]["S3EncryptionMode"] == "SSE-KMS"
    assert config["CloudWatchEncryption"]["CloudWatchEncryptionMode"] == "SSE-KMS"
    assert config["JobBookmarksEncryption"]["JobBookmarksEncryptionMode"] == "CSE-KMS"
    key = catalog.one("AWS::KMS::Key")
    assert key["Properties"]["EnableKeyRotation"] is True
    [logs] = [s for s in key["Properties"]["KeyPolicy"]["Statement"] if s.get("Sid") == "AllowCloudWatchLogsOfThisAccount"]
    assert logs["Principal"] == {"Service": "logs.eu-west-1.amazonaws.com"}
    assert json.dumps(logs["Condition"]).count("log-group:*") == 1
    assert key["DeletionPolicy"] == "Retain"


def test_script_asset_rejects_a_missing_path_and_excludes_bytecode(tmp_path):
    with pytest.raises(ValueError, match="ScriptAsset: .* does not exist"):
        ScriptAsset(tmp_path / "missing.py")
    from ml_platform.constructs.preparation.glue_code import ASSET_EXCLUDES

    assert {"__pycache__", "*.pyc"} <= set(ASSET_EXCLUDES)


def test_folder_asset_hash_does_not_depend_on_bytecode(tmp_path):
    folder = tmp_path / "job"
    folder.mkdir()
    (folder / "logic.py").write_text("X = 1\n")

    def location() -> str:
        stack = Stack(App(), "S", env=ENV)
        role = iam.Role(stack, "R", assumed_by=iam.ServicePrincipal("glue.amazonaws.com"))
        config = ScriptAsset(folder).bind(stack, role)
        return stack.resolve(config.s3_location.object_key)

    before = location()
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "logic.cpython-311.pyc").write_bytes(b"\x00bytecode")
    assert location() == before and before.endswith(".zip")


def test_default_resource_returns_the_wrapped_resource_or_names_what_it_found():
    from aws_cdk import App, Stack
    from aws_cdk import aws_s3 as s3
    from aws_cdk import aws_sqs as sqs

    from ml_platform.constructs.core.compliance import default_resource

    stack = Stack(App(), "S")
    bucket = s3.Bucket(stack, "B")
    assert default_resource(bucket, s3.CfnBucket).node.path == "S/B/Resource"
    with pytest.raises(TypeError, match=r"^S/B: expected a default child of type CfnQueue, got CfnBucket$"):
        default_resource(bucket, sqs.CfnQueue)
