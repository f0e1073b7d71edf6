"""report.md of ``make review``: counts, names, roles, network, keys and exceptions, on snapshots and small templates."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from tools.review.report import render_report, report_counts, resource_stage
from tools.review.report_exceptions import GATE_CFN_VALIDATE, GATE_CFN_LINT, GATE_CHECKOV, GATE_NAG
from tools.review.report_keys import DEFAULT_ROTATION_DAYS
from tools.review.report_md import text

SNAPSHOTS = Path(__file__).resolve().parents[1] / "snapshots"
ENVS = ("dev", "staging", "prod")
ACCOUNT = "123456789012"
REGION = "eu-west-1"


def load(env: str) -> dict[str, dict]:
    return {p.name.removesuffix(".template.json"): json.loads(p.read_text())
            for p in sorted((SNAPSHOTS / env).glob("*.template.json"))}


@pytest.fixture(scope="module", params=ENVS)
def env_report(request: pytest.FixtureRequest) -> tuple[str, dict[str, dict], str]:
    templates = load(request.param)
    return request.param, templates, render_report(request.param, templates)


def independent_counts(templates: dict[str, dict]) -> tuple[int, int]:
    roles = exceptions = 0
    for template in templates.values():
        for res in template.get("Resources", {}).values():
            roles += res["Type"] == "AWS::IAM::Role"
            meta = res.get("Metadata") or {}
            exceptions += len((meta.get("cdk_nag") or {}).get("rules_to_suppress", []))
            exceptions += len((meta.get("checkov") or {}).get("skip", []))
            exceptions += len(((meta.get("cfn-lint") or {}).get("config") or {}).get("ignore_checks", []))
    return roles, exceptions


def section(report: str, title: str) -> str:
    return report.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


# ----- committed snapshots of every environment ---------------------------------------------------

def test_counts_match_the_templates(env_report):
    env, templates, report = env_report
    roles, exceptions = independent_counts(templates)
    counts = report_counts(templates)
    assert (counts["roles"], counts["exceptions"]) == (roles, exceptions)
    assert sum(counts["exceptions_by_gate"].values()) == exceptions
    summary = report.splitlines()[2]
    assert f"{len(templates)} stacks" in summary and f"{roles} IAM roles" in summary
    assert f"{exceptions} exceptions" in summary
    gate_totals = [int(n) for n in re.findall(r"^### .+: (\d+)$", section(report, "Exceptions"), re.M)]
    assert sum(gate_totals) == exceptions


def test_no_cloudformation_token_is_left(env_report):
    _, _, report = env_report
    for token in ("Fn::", '"Ref"', "${Token", "PublishOutput", "{'"):
        assert token not in report
    assert not re.search(r"\bRef\b", report)
    assert not re.search(r"\b[A-Za-z]+[0-9A-F]{8}\b", report), "a logical ID kept its CDK hash"


def test_every_role_has_an_anchored_heading_with_stack_and_description(env_report):
    env, templates, report = env_report
    for stack, template in templates.items():
        short = stack.removeprefix(f"mlp-{env}-")
        for logical, res in template["Resources"].items():
            if res["Type"] == "AWS::IAM::Role":
                name = re.sub(r"[0-9A-F]{8}$", "", logical)
                description = res["Properties"].get("Description", "(no description)")
                assert f"\n### {name} ({short}): {text(description)}\n" in report
                assert f'<a id="role-{short.lower()}-{name.lower()}"></a>' in report


def test_every_exception_id_is_listed(env_report):
    _, templates, report = env_report
    exceptions = section(report, "Exceptions")
    for template in templates.values():
        for res in template["Resources"].values():
            meta = res.get("Metadata") or {}
            ids = [r["id"] for r in (meta.get("cdk_nag") or {}).get("rules_to_suppress", [])]
            ids += [s["id"] for s in (meta.get("checkov") or {}).get("skip", [])]
            for rule in ids:
                if "[" not in rule:  # finding ids with a resource are shown with names instead of tokens
                    assert f"`{rule}`" in exceptions


def test_tables_are_valid_markdown(env_report):
    _, _, report = env_report
    lines = report.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("|---"):
            width = lines[i - 1].count("|")
            for row in lines[i + 1:]:
                if not row.startswith("|"):
                    break
                assert len(re.findall(r"(?<!\\)\|", row)) == width, row


def test_snapshot_names_read_as_humans_name_them(env_report):
    env, _, report = env_report
    roles = section(report, "IAM roles")
    assert "lake artifacts zone: `churn/pipeline/models/*`" in roles  # the inference role's model data
    assert f"repository mlp-{env}/churn-inference" in roles
    assert "sagemaker.amazonaws.com, only for this account (aws:SourceAccount)" in roles
    assert "key DataLakeKey (DataLake)" in roles
    assert "**Nothing public**" in report or "**Public exposure:**" in report


def test_render_is_deterministic_and_fast():
    templates = load("prod")
    start = time.perf_counter()
    first = render_report("prod", templates)
    assert time.perf_counter() - start < 1.0
    assert render_report("prod", dict(reversed(list(templates.items())))) == first


# ----- small hand-written templates, one feature each ---------------------------------------------

def arn(service: str, resource: str) -> str:
    return f"arn:aws:{service}:{REGION}:{ACCOUNT}:{resource}"


def output_ref(stack: str, output: str) -> dict:
    return {"Fn::GetStackOutput": {"StackName": f"app-test-{stack}", "OutputName": output, "Region": REGION}}


def lake_and_roles() -> dict[str, dict]:
    lake = {"Resources": {
        "LakeKeyAAAAAAAA": {"Type": "AWS::KMS::Key", "Properties": {"EnableKeyRotation": True}},
        "LakeKeyAliasBBBBBBBB": {"Type": "AWS::KMS::Alias", "Properties": {
            "AliasName": "alias/lake", "TargetKeyId": {"Ref": "LakeKeyAAAAAAAA"}}},
        "LakeRawBucketA1B2C3D4": {"Type": "AWS::S3::Bucket", "Properties": {
            "BucketEncryption": {"ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {
                "KMSMasterKeyID": {"Fn::GetAtt": ["LakeKeyAAAAAAAA", "Arn"]}}}]},
            "PublicAccessBlockConfiguration": {k: True for k in (
                "BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")}}},
        "OpenKeyCCCCCCCC": {"Type": "AWS::KMS::Key", "Properties": {}},
    }, "Outputs": {
        "RawArn": {"Value": {"Fn::GetAtt": ["LakeRawBucketA1B2C3D4", "Arn"]}},
        "KeyArn": {"Value": {"Fn::GetAtt": ["LakeKeyAAAAAAAA", "Arn"]}},
    }}
    training = {"Resources": {
        "InferenceRole12345678": {"Type": "AWS::IAM::Role", "Properties": {
            "Description": "SageMaker inference execution role",
            "AssumeRolePolicyDocument": {"Statement": [{
                "Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "sagemaker.amazonaws.com"},
                "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}}}]},
            "ManagedPolicyArns": [{"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/ReadOnlyAccess"}],
            "Policies": [{"PolicyName": "Inline", "PolicyDocument": {"Statement": [{
                "Effect": "Allow", "Action": "ecr:BatchGetImage",
                "Resource": {"Fn::GetAtt": ["RepoDDDDDDDD", "Arn"]}}]}}]}},
        "RepoDDDDDDDD": {"Type": "AWS::ECR::Repository", "Properties": {
            "RepositoryName": "app/inference", "EncryptionConfiguration": {"KmsKey": output_ref("Lake", "KeyArn")}}},
        "InferencePolicyEEEEEEEE": {"Type": "AWS::IAM::Policy", "Properties": {
            "Roles": [{"Ref": "InferenceRole12345678"}], "PolicyDocument": {"Statement": [
                {"Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectVersion"],
                 "Resource": {"Fn::Join": ["", [output_ref("Lake", "RawArn"), "/sales/*"]]}},
                {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": output_ref("Lake", "KeyArn"),
                 "Condition": {"StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}}}]}}},
    }, "Outputs": {"RoleName": {"Value": {"Ref": "InferenceRole12345678"}}}}
    serving = {"Resources": {
        "PublishResultsFFFFFFFF": {"Type": "AWS::IAM::ManagedPolicy", "Properties": {
            "Roles": [output_ref("Training", "RoleName")], "PolicyDocument": {"Statement": [
                {"Effect": "Allow", "Action": "sns:Publish", "Resource": "*"}]}}},
        "LatencyAlarm11111111": {"Type": "AWS::CloudWatch::Alarm", "Properties": {}},
    }}
    return {"app-test-Lake": lake, "app-test-Training": training, "app-test-Serving": serving}


def test_policy_resources_and_cross_stack_references_read_as_producer_names():
    report = render_report("test", lake_and_roles())
    role = report.split("### InferenceRole (Training): SageMaker inference execution role", 1)[1]
    assert "lake raw zone: `sales/*`" in role
    assert "repository app/inference" in role
    assert "key alias/lake (Lake)" in role and "only through s3 (kms:ViaService)" in role
    assert "sagemaker.amazonaws.com, only for this account (aws:SourceAccount)" in role


def test_role_permissions_gather_inline_attached_cross_stack_and_aws_managed_policies():
    report = render_report("test", lake_and_roles())
    role = report.split("### InferenceRole (Training)", 1)[1].split("\n### ", 1)[0]
    assert "inline policy Inline" in role
    assert "policy InferencePolicy (Training)" in role
    assert "managed policy PublishResults (Serving)" in role  # attached through Fn::GetStackOutput
    assert "AWS managed policy `ReadOnlyAccess`" in role
    assert "| sns | `Publish` | `*` | always |" in role
    assert "| s3 | `GetObject, GetObjectVersion` | lake raw zone: `sales/*` | always |" in role


def test_keys_show_alias_rotation_and_every_user_across_stacks():
    report = render_report("test", lake_and_roles())
    keys = section(report, "Encryption keys")
    assert f"| LakeKey | Lake | `alias/lake` | on, every {DEFAULT_ROTATION_DAYS} days |" in keys
    assert "| OpenKey | Lake | none | off |" in keys
    lake_key = keys.split("### LakeKey (Lake)", 1)[1].split("### ", 1)[0]
    assert "Lake: lake raw zone (`BucketEncryption…KMSMasterKeyID`)" in lake_key
    assert "Training: repository app/inference (`EncryptionConfiguration.KmsKey`)" in lake_key
    assert "InferenceRole (Training)" in lake_key


def test_stages_map_by_stack_and_by_type():
    report = render_report("test", lake_and_roles())
    assert "| alerting | CloudWatch::Alarm | 1 |" in section(report, "What each stack creates")
    assert resource_stage("AWS::EC2::SecurityGroup", "Training") == "network"
    assert resource_stage("AWS::IAM::Role", "DataCatalog") == "catalog/preparation"


def network(public: bool) -> dict[str, dict]:
    resources: dict = {
        "VpcAAAAAAAA": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.0.0.0/16"}},
        "SubnetBBBBBBBB": {"Type": "AWS::EC2::Subnet", "Properties": {
            "VpcId": {"Ref": "VpcAAAAAAAA"}, "MapPublicIpOnLaunch": public}},
        "JobsCCCCCCCC": {"Type": "AWS::EC2::SecurityGroup", "Properties": {"VpcId": {"Ref": "VpcAAAAAAAA"}}},
        "EndpointsDDDDDDDD": {"Type": "AWS::EC2::SecurityGroup", "Properties": {
            "VpcId": {"Ref": "VpcAAAAAAAA"}, "SecurityGroupEgress": [{
                "CidrIp": "255.255.255.255/32", "IpProtocol": "icmp", "FromPort": 252, "ToPort": 86}]}},
        "HttpsFromJobsEEEEEEEE": {"Type": "AWS::EC2::SecurityGroupIngress", "Properties": {
            "GroupId": {"Fn::GetAtt": ["EndpointsDDDDDDDD", "GroupId"]}, "IpProtocol": "tcp",
            "FromPort": 443, "ToPort": 443, "Description": "HTTPS | from jobs",
            "SourceSecurityGroupId": {"Fn::GetAtt": ["JobsCCCCCCCC", "GroupId"]}}},
        "StsFFFFFFFF": {"Type": "AWS::EC2::VPCEndpoint", "Properties": {
            "VpcId": {"Ref": "VpcAAAAAAAA"}, "VpcEndpointType": "Interface", "PrivateDnsEnabled": True,
            "ServiceName": {"Fn::Join": ["", ["com.amazonaws.", {"Ref": "AWS::Region"}, ".sts"]]},
            "SecurityGroupIds": [{"Fn::GetAtt": ["EndpointsDDDDDDDD", "GroupId"]}]}},
        "Bucket11111111": {"Type": "AWS::S3::Bucket", "Properties": {"PublicAccessBlockConfiguration": {
            k: True for k in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")}}},
        "BucketPolicy22222222": {"Type": "AWS::S3::BucketPolicy", "Properties": {
            "Bucket": {"Ref": "Bucket11111111"}, "PolicyDocument": {"Statement": [
                {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "s3:*",
                 "Resource": arn("s3", "x"), "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}}},
    }
    if public:
        resources["Igw33333333"] = {"Type": "AWS::EC2::InternetGateway", "Properties": {}}
        resources["BucketPolicy22222222"]["Properties"]["PolicyDocument"]["Statement"].append(
            {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": arn("s3", "x")})
        resources["JobsCCCCCCCC"]["Properties"]["SecurityGroupIngress"] = [
            {"CidrIp": "0.0.0.0/0", "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22}]
    return {"app-test-Network": {"Resources": resources}}


def test_network_rules_endpoints_and_an_explicit_nothing_public():
    report = render_report("test", network(public=False))
    net = section(report, "Network paths")
    assert "**Nothing public**" in net
    assert "| Endpoints (Network) | in | tcp | 443 | security group Jobs | HTTPS \\| from jobs |" in net
    assert "| Endpoints (Network) | out | none | none | nothing |" in net
    assert "| Jobs (Network) | out | all | all | anywhere (0.0.0.0/0) | EC2 default" in net
    assert "| Sts | Network | Interface | `sts` | yes | security group Endpoints | default policy (full access) |" in net
    assert "| Endpoints (Network) | Network: VPC endpoint Sts |" in net


def test_anything_public_is_listed():
    net = section(render_report("test", network(public=True)), "Network paths")
    assert "**Public exposure:**" in net and "Nothing public" not in net
    assert "- Network: Igw is an internet gateway" in net
    assert "- Network: Subnet gives instances public IP addresses (public subnet)" in net
    assert "- Network: Jobs allows inbound from anywhere" in net
    assert "- Network: BucketPolicy PolicyDocument allows anyone (`*`) `s3:GetObject`, with no condition" in net


def exceptions_template() -> dict[str, dict]:
    return {"app-test-Network": {"Resources": {
        "HandlerAAAAAAAA": {"Type": "AWS::Lambda::Function", "Properties": {}, "Metadata": {
            "cdk_nag": {"rules_to_suppress": [
                {"id": "AwsSolutions-L1", "reason": "provider | runtime"},
                {"id": "CloudFormation-Validate::F3002", "reason": "camelCase accepted"}]},
            "checkov": {"skip": [{"id": "CKV_AWS_116", "comment": "deploy-time only"}]},
            "cfn-lint": {"config": {"ignore_checks": ["W3005"]}, "reasons": {"W3005": "redundant DependsOn"}}}},
        "PolicyBBBBBBBB": {"Type": "AWS::IAM::ManagedPolicy", "Properties": {"PolicyDocument": {}}, "Metadata": {
            "cdk_nag": {"rules_to_suppress": [{"id": "AwsSolutions-IAM5[Resource::<HandlerAAAAAAAA.Arn>:*]",
                                               "reason": "versions"}]}}},
    }}}


def test_exceptions_are_grouped_by_gate_and_counted_once():
    templates = exceptions_template()
    counts = report_counts(templates)
    assert counts["exceptions"] == 5
    assert counts["exceptions_by_gate"] == {GATE_NAG: 2, GATE_CFN_VALIDATE: 1, GATE_CHECKOV: 1, GATE_CFN_LINT: 1}
    exceptions = section(render_report("test", templates), "Exceptions")
    assert f"### {GATE_CFN_VALIDATE}: 1" in exceptions and f"### {GATE_NAG}: 2" in exceptions
    assert "| Network | function Handler | `AwsSolutions-L1` | provider \\| runtime |" in exceptions
    assert "| Network | function Handler | `W3005` | redundant DependsOn |" in exceptions
    assert "| Network | function Handler | `CKV_AWS_116` | deploy-time only |" in exceptions
    assert "`AwsSolutions-IAM5[Resource::function Handler:*]`" in exceptions


def test_free_text_cannot_break_markdown():
    templates = lake_and_roles()
    role = templates["app-test-Training"]["Resources"]["InferenceRole12345678"]["Properties"]
    role["Description"] = "Runs jobs x-* | <y>"
    report = render_report("test", templates)
    assert "\n### InferenceRole (Training): Runs jobs x-\\* \\| \\<y\\>\n" in report
