"""Ground Truth labeling: workforce kinds, work teams and their topics, the task, its template in S3 and the
docs' job that uses it, its role; settings' rules."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import boto3
import pytest
from aws_cdk import App, Stack
from aws_cdk.assertions import Template
from botocore.stub import Stubber


from ml_platform.constructs.core.alerting import AlertPath
from ml_platform.constructs.lake.data_lake import DataLake
from ml_platform.constructs.labeling.labeling_settings import LabelingSettings
from ml_platform.constructs.labeling.labeling_task import TEMPLATE
from ml_platform.constructs.training.ml_network import MlNetwork, NetworkSettings
from ml_platform.constructs.core.removal import REMOVE_DATA_ON_DESTROY_CONTEXT
from ml_platform.stacks.labeling_stack import LabelingStack
from tests.conftest import assert_gates_pass, synth_gated
from tests.iam_eval import Resolver, permitted

ENV = {"account": "111111111111", "region": "eu-west-1"}
TASK = {"input": {"zone": "raw", "prefix": "labeling/images/"}, "output": {"zone": "curated", "prefix": "labeling/labels/"},
        "labels": ["normal", "benign", "malignant"]}
BASE = {"workforce": {"teams": {"radiologists": {"description": "Radiologists"}, "students": {}}}, "task": TASK}
OIDC = {"client_id": "gt_client", "client_secret_name": "labeling/oidc-client-secret", "issuer": "https://id.example.org",
        "authorization_endpoint": "https://id.example.org/authorize", "token_endpoint": "https://id.example.org/token",
        "user_info_endpoint": "https://id.example.org/userinfo", "logout_endpoint": "https://id.example.org/logout",
        "jwks_uri": "https://id.example.org/jwks"}
EXISTING = {"workforce_name": "shared", "user_pool_id": "eu-west-1_AbC123", "client_id": "7abc123def"}
#: The CDK assets bucket of ENV (the default synthesizer's qualifier).
ASSETS_BUCKET = f"cdk-hnb659fds-assets-{ENV['account']}-{ENV['region']}"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "labeling.md"


def build(scope, settings: dict, allow_data_deletion: bool = False):
    lake_stack = Stack(scope, "Lake", env=ENV)
    lake = DataLake(lake_stack, "Lake")
    network = MlNetwork(lake_stack, "Net", settings=NetworkSettings(az_count=2, interface_endpoints=[]))
    stack = LabelingStack(scope, "Labeling", env=ENV, settings=LabelingSettings.model_validate(settings),
                          name_prefix="t-dev", lake=lake, network=network,
                          alerts=AlertPath(lake_stack, "Alerts"), allow_data_deletion=allow_data_deletion)
    return stack, lake_stack


def resources(stack) -> dict[str, dict]:
    return Template.from_stack(stack).to_json()["Resources"]


def of_type(found, kind):
    return [r for r in found.values() if r["Type"] == kind]


def logical_id(stack, construct) -> str:
    return stack.resolve((getattr(construct.node, "default_child", None) or construct).logical_id)


@pytest.fixture(scope="module")
def cognito():
    stack, lake_stack = build(App(), {**BASE, "workforce": {**BASE["workforce"], "source_cidrs": ["203.0.113.0/24"]}})
    return stack, lake_stack, resources(stack)


def test_user_pool_admits_only_invited_workers_with_mfa_strong_passwords_and_threat_protection(cognito):
    _, _, found = cognito
    [pool] = of_type(found, "AWS::Cognito::UserPool")
    props = pool["Properties"]
    assert props["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert props["MfaConfiguration"] == "ON" and props["EnabledMfas"] == ["SOFTWARE_TOKEN_MFA"]
    assert props["Policies"]["PasswordPolicy"] == {"MinimumLength": 14, "RequireLowercase": True, "RequireUppercase": True,
                                                   "RequireNumbers": True, "RequireSymbols": True,
                                                   "TemporaryPasswordValidityDays": 3}
    assert props["UserPoolTier"] == "PLUS" and props["UserPoolAddOns"] == {"AdvancedSecurityMode": "ENFORCED"}
    assert props["DeletionProtection"] == "ACTIVE" and pool["DeletionPolicy"] == "Retain"
    [domain] = of_type(found, "AWS::Cognito::UserPoolDomain")
    assert domain["Properties"]["Domain"] == "t-dev-labeling-111111111111"
    [client] = of_type(found, "AWS::Cognito::UserPoolClient")
    assert client["Properties"]["GenerateSecret"] is True and client["Properties"]["SupportedIdentityProviders"] == ["COGNITO"]


def test_private_workforce_uses_the_pool_and_the_ip_allow_list(cognito):
    stack, _, found = cognito
    [workforce] = of_type(found, "AWS::SageMaker::Workforce")
    props = workforce["Properties"]
    assert props["WorkforceName"] == "t-dev" and props["SourceIpConfig"] == {"Cidrs": ["203.0.113.0/24"]}
    assert set(props["CognitoConfig"]) == {"ClientId", "UserPool"}
    assert "OidcConfig" not in props
    [domain] = [k for k, r in found.items() if r["Type"] == "AWS::Cognito::UserPoolDomain"]
    assert domain in workforce["DependsOn"]  # the sign-in domain exists before the workforce


def test_each_team_is_a_group_with_its_own_encrypted_topic_after_the_workforce(cognito):
    stack, _, found = cognito
    teams = {t["Properties"]["WorkteamName"]: t for t in of_type(found, "AWS::SageMaker::Workteam")}
    assert sorted(teams) == ["t-dev-radiologists", "t-dev-students"]
    team = teams["t-dev-radiologists"]
    assert team["Properties"]["Description"] == "Radiologists" and teams["t-dev-students"]["Properties"]["Description"] == "students"
    [workforce_id] = [k for k, r in found.items() if r["Type"] == "AWS::SageMaker::Workforce"]
    assert workforce_id in team["DependsOn"] and team["Properties"]["WorkforceName"] == "t-dev"
    member = team["Properties"]["MemberDefinitions"][0]["CognitoMemberDefinition"]
    groups = {k: r["Properties"] for k, r in found.items() if r["Type"] == "AWS::Cognito::UserPoolGroup"}
    assert member["CognitoUserGroup"]["Ref"] in groups and groups[member["CognitoUserGroup"]["Ref"]]["GroupName"] == "radiologists"
    topic_ref = team["Properties"]["NotificationConfiguration"]["NotificationTopicArn"]
    topic = found[topic_ref["Ref"]]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Fn::GetAtt": [logical_id(stack, stack.key), "Arn"]}
    policies = [p["Properties"] for p in of_type(found, "AWS::SNS::TopicPolicy") if topic_ref in p["Properties"]["Topics"]]
    [publish] = [s for p in policies for s in p["PolicyDocument"]["Statement"] if s.get("Sid") == "AllowThisAccountsWorkteam"]
    assert publish["Principal"] == {"Service": "sagemaker.amazonaws.com"} and publish["Action"] == "sns:Publish"
    assert publish["Condition"]["StringEquals"] == {"aws:SourceAccount": "111111111111"}
    assert publish["Condition"]["ArnLike"]["aws:SourceArn"]["Fn::Join"][1][-1] == (
        ":sagemaker:eu-west-1:111111111111:workteam/private-crowd/t-dev-radiologists")


def test_the_key_lets_sagemaker_encrypt_notifications_of_this_accounts_teams_only(cognito):
    stack, _, found = cognito
    key = found[logical_id(stack, stack.key)]["Properties"]
    [statement] = [s for s in key["KeyPolicy"]["Statement"] if s.get("Sid") == "AllowSageMakerWorkteamNotifications"]
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": "111111111111"}
    assert statement["Condition"]["ArnLike"]["aws:SourceArn"]["Fn::Join"][1][-1].endswith("workteam/private-crowd/*")


def test_the_task_template_ships_to_s3_as_the_repository_template_and_is_the_stacks_output(cognito):
    stack, _, found = cognito
    assert not of_type(found, "AWS::SageMaker::HumanTaskUi")  # an A2I resource: labeling jobs cannot use it
    task = stack.task
    assert (Path(stack.node.root.outdir) / task.ui_template.asset_path).read_text() == TEMPLATE.read_text()
    uri = stack.resolve(task.ui_template_uri)
    assert uri == f"s3://{ASSETS_BUCKET}/{task.ui_template.s3_object_key}" and uri.endswith(".html")
    assert Template.from_stack(stack).to_json()["Outputs"]["TaskUiTemplateUri"]["Value"] == uri


def test_the_labeling_role_may_read_the_template_object_and_nothing_else_of_the_assets_bucket(cognito):
    stack, _, found = cognito
    document = found[logical_id(stack, stack.task.role.policy)]["Properties"]["PolicyDocument"]
    resolve = Resolver(stack, None, ENV)  # the lake's statements (imports of another stack) are left out
    on_assets = {"Statement": [resolve(s) for s in document["Statement"] if ASSETS_BUCKET in json.dumps(s)]}
    template = f"arn:aws:s3:::{ASSETS_BUCKET}/{stack.task.ui_template.s3_object_key}"
    assert permitted(on_assets, "s3:GetObject", template)
    assert not permitted(on_assets, "s3:GetObject", f"arn:aws:s3:::{ASSETS_BUCKET}/other.html")
    assert not permitted(on_assets, "s3:PutObject", template)
    assert not permitted(on_assets, "s3:ListBucket", f"arn:aws:s3:::{ASSETS_BUCKET}")


def _start_a_job_example() -> str:
    text = DOCS.read_text()
    return text[text.index("## Starting a labeling job"):].split("```python\n", 1)[1].split("```", 1)[0]


def test_the_docs_start_a_custom_labeling_job_with_the_deployed_template_uri(cognito, monkeypatch):
    """docs/labeling.md's example, run against stubbed clients (botocore validates its parameters)
    that answer with the stack's outputs: its UiConfig is the output's template URI."""
    stack, _, _ = cognito
    outputs = Template.from_stack(stack).to_json()["Outputs"]
    sent: dict = {}

    def client(service: str, **_):
        made = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                     region_name=ENV["region"]).client(service)
        stubber = Stubber(made)
        if service == "cloudformation":
            stubber.add_response("describe_stacks", {"Stacks": [{
                "StackName": "mlp-dev-Labeling", "CreationTime": datetime.datetime(2026, 11, 1), "StackStatus": "CREATE_COMPLETE",
                "Outputs": [{"OutputKey": k, "OutputValue": o["Value"]} for k, o in outputs.items()]}]})
        else:
            made.meta.events.register("provide-client-params.sagemaker.CreateLabelingJob",
                                      lambda params, **__: sent.update(params))
            stubber.add_response("create_labeling_job", {"LabelingJobArn": "arn:aws:sagemaker:eu-west-1:111111111111:labeling-job/x"})
        stubber.activate()
        return made

    monkeypatch.setattr(boto3, "client", client)
    exec(compile(_start_a_job_example(), str(DOCS), "exec"), {})
    assert sent["HumanTaskConfig"]["UiConfig"] == {"UiTemplateS3Uri": stack.resolve(stack.task.ui_template_uri)}


def test_functions_run_in_the_vpc_with_the_labels_and_the_role_may_invoke_only_them(cognito):
    stack, _, found = cognito
    functions = {json.dumps(r["Properties"].get("Environment", {})): r["Properties"] for r in of_type(found, "AWS::Lambda::Function")}
    assert len(functions) == 2 and all("VpcConfig" in f and f["ReservedConcurrentExecutions"] == 5 for f in functions.values())
    pre = stack.task.pre_annotation.function
    env = found[logical_id(stack, pre)]["Properties"]["Environment"]["Variables"]
    assert json.loads(env["LABELS"]) == ["normal", "benign", "malignant"]
    assert env["TITLE"] == "Choose the label that fits the image"
    role_policy = found[logical_id(stack, stack.task.role.policy)]["Properties"]["PolicyDocument"]["Statement"]
    [invoke] = [s for s in role_policy if s["Action"] == "lambda:InvokeFunction"]
    assert invoke["Resource"] == [{"Fn::GetAtt": [logical_id(stack, pre), "Arn"]},
                                  {"Fn::GetAtt": [logical_id(stack, stack.task.consolidation.function), "Arn"]}]
    text = json.dumps(role_policy)
    reads = [s for s in role_policy if "s3:GetObject" in json.dumps(s["Action"]) and ASSETS_BUCKET not in json.dumps(s)]
    puts = [s for s in role_policy if "s3:PutObject" in json.dumps(s["Action"])]
    assert reads and all("/labeling/images/*" in json.dumps(s["Resource"]) for s in reads)  # the lake's
    assert puts and all("/labeling/labels/*" in json.dumps(s["Resource"]) for s in puts)
    assert "LakeRawBucket" in text and "LakeCuratedBucket" in text


def test_consolidation_may_read_the_output_and_pre_annotation_has_no_permissions(cognito):
    stack, _, found = cognito
    statements = found[logical_id(stack, stack.task.consolidation.role.policy)]["Properties"]["PolicyDocument"]["Statement"]
    reads = [s for s in statements if "s3:GetObject" in json.dumps(s["Action"])]
    assert reads and all("/labeling/labels/*" in json.dumps(s["Resource"]) for s in reads)
    # it calls nothing: its role may only log to its own group and attach it to the VPC
    pre = stack.task.pre_annotation
    [policy] = pre.role.policies
    allowed = {a for s in found[logical_id(stack, policy)]["Properties"]["PolicyDocument"]["Statement"]
               for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert allowed == {"logs:CreateLogStream", "logs:PutLogEvents", "ec2:CreateNetworkInterface",
                       "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses",
                       "ec2:UnassignPrivateIpAddresses", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"}


def test_the_input_bucket_gets_ground_truths_cors_rule_only(cognito):
    _, lake_stack, _ = cognito
    buckets = {k: r["Properties"] for k, r in resources(lake_stack).items() if r["Type"] == "AWS::S3::Bucket"}
    with_cors = {k: b["CorsConfiguration"] for k, b in buckets.items() if "CorsConfiguration" in b}
    assert list(with_cors) == [k for k in buckets if k.startswith("LakeRawBucket")]
    assert list(with_cors.values())[0] == {"CorsRules": [{"AllowedMethods": ["GET"], "AllowedOrigins": ["*"],
                                                          "ExposedHeaders": ["Access-Control-Allow-Origin"]}]}


def test_oidc_workforce_reads_its_secret_at_deploy_and_teams_are_oidc_groups():
    stack, _ = build(App(), {**BASE, "workforce": {**BASE["workforce"], "oidc": OIDC}})
    found = resources(stack)
    assert not of_type(found, "AWS::Cognito::UserPool")
    [workforce] = of_type(found, "AWS::SageMaker::Workforce")
    oidc = workforce["Properties"]["OidcConfig"]
    assert oidc["ClientSecret"] == "{{resolve:secretsmanager:labeling/oidc-client-secret:SecretString:::}}"
    assert (oidc["Issuer"], oidc["JwksUri"], oidc["ClientId"]) == ("https://id.example.org", "https://id.example.org/jwks",
                                                                 "gt_client")
    groups = sorted(t["Properties"]["MemberDefinitions"][0]["OidcMemberDefinition"]["OidcGroups"][0]
                    for t in of_type(found, "AWS::SageMaker::Workteam"))
    assert groups == ["radiologists", "students"]


def test_an_existing_workforce_is_imported_not_created():
    stack, _ = build(App(), {**BASE, "workforce": {**BASE["workforce"], "existing": EXISTING}})
    found = resources(stack)
    assert not of_type(found, "AWS::SageMaker::Workforce") and not of_type(found, "AWS::Cognito::UserPool")
    team = of_type(found, "AWS::SageMaker::Workteam")[0]["Properties"]
    assert team["WorkforceName"] == "shared"
    member = team["MemberDefinitions"][0]["CognitoMemberDefinition"]
    assert (member["CognitoUserPool"], member["CognitoClientId"]) == ("eu-west-1_AbC123", "7abc123def")
    assert member["CognitoUserGroup"] in ("radiologists", "students")


def test_options_domain_password_and_disposable_pool():
    settings = {"workforce": {**BASE["workforce"], "cognito": {"domain_prefix": "scans-dev", "password_min_length": 20}},
                "task": {**TASK, "title": "Which finding?"}}
    stack, _ = build(App(context={REMOVE_DATA_ON_DESTROY_CONTEXT: True}), settings, allow_data_deletion=True)
    found = resources(stack)
    pool = of_type(found, "AWS::Cognito::UserPool")[0]
    assert pool["DeletionPolicy"] == "Delete" and pool["Properties"]["DeletionProtection"] == "INACTIVE"
    env = found[logical_id(stack, stack.task.pre_annotation.function)]["Properties"]["Environment"]["Variables"]
    assert env["TITLE"] == "Which finding?"
    assert of_type(found, "AWS::Cognito::UserPoolDomain")[0]["Properties"]["Domain"] == "scans-dev"
    assert pool["Properties"]["Policies"]["PasswordPolicy"]["MinimumLength"] == 20
    assert "SourceIpConfig" not in of_type(found, "AWS::SageMaker::Workforce")[0]["Properties"]


@pytest.mark.parametrize(("changes", "message"), [
    ({"workforce": {**BASE["workforce"], "source_cidrs": ["203.0.113.1/24"]}}, "is not a CIDR block such as 203.0.113.0/24"),
    ({"workforce": {**BASE["workforce"], "source_cidrs": ["2001:db8::/32"]}}, "is IPv6"),
    ({"workforce": {**BASE["workforce"], "source_cidrs": [f"10.0.{i}.0/24" for i in range(11)]}}, "at most 10 items"),
    ({"workforce": {**BASE["workforce"], "oidc": OIDC, "existing": EXISTING}}, "give one of cognito, oidc and existing, not oidc and existing"),
    ({"workforce": {**BASE["workforce"], "existing": EXISTING, "source_cidrs": ["10.0.0.0/8"]}},
     "source_cidrs belong to the existing workforce"),
    ({"workforce": {**BASE["workforce"], "cognito": {"domain_prefix": "my-aws-labels"}}}, "may not contain aws, amazon or cognito"),
    ({"workforce": {**BASE["workforce"], "cognito": {"domain_prefix": "Upper"}}}, "should match pattern"),
    ({"workforce": {**BASE["workforce"], "cognito": {"password_min_length": 8}}}, "greater than or equal to 12"),
    ({"workforce": {**BASE["workforce"], "oidc": {**OIDC, "issuer": "http://id.example.org"}}}, "should match pattern"),
    ({"workforce": {**BASE["workforce"], "oidc": {**OIDC, "client_id": "gt-client"}}}, "should match pattern"),
    ({"workforce": {"teams": {}}}, "at least 1 item"),
    ({"workforce": {"teams": {"bad_team": {}}}}, "should match pattern"),
    ({"task": {**TASK, "labels": ["one"]}}, "at least 2 items"),
    ({"task": {**TASK, "labels": ["a", "b", "a"]}}, "labels repeat 'a'"),
    ({"task": {**TASK, "output": TASK["input"]}}, "input and output must differ"),
    ({"task": {**TASK, "input": {"zone": "gold", "prefix": "x/"}}}, "input.zone"),
])
def test_settings_errors(changes, message):
    with pytest.raises(ValueError, match=message):
        LabelingSettings.model_validate({**BASE, **changes})


def test_a_team_name_longer_than_sagemaker_allows_names_the_construct():
    long_team = {**BASE, "workforce": {"teams": {"t" * 41: {}}}}
    with pytest.raises(ValueError, match=r"^LabelingWorkforce Labeling/Workforce: team name 't-devx{20}-t{41}' is longer than 63 characters; "
                       "use a shorter team key$"):
        lake_app = App()
        lake_stack = Stack(lake_app, "Lake", env=ENV)
        LabelingStack(lake_app, "Labeling", env=ENV, settings=LabelingSettings.model_validate(long_team),
                      name_prefix="t-dev" + "x" * 20, lake=DataLake(lake_stack, "Lake"),
                      network=MlNetwork(lake_stack, "Net", settings=NetworkSettings(az_count=2)),
                      alerts=AlertPath(lake_stack, "Alerts"), allow_data_deletion=False)


@pytest.fixture(scope="module")
def gated(tmp_path_factory) -> Path:
    settings = {**BASE, "workforce": {**BASE["workforce"], "source_cidrs": ["203.0.113.0/24"]}}
    return synth_gated(tmp_path_factory.mktemp("labeling"), lambda stage: build(stage, settings))


def test_labeling_passes_the_nag_packs_cfn_lint_and_checkov(gated):
    assert_gates_pass(gated)


@pytest.fixture(scope="module")
def gated_oidc(tmp_path_factory) -> Path:
    settings = {**BASE, "workforce": {**BASE["workforce"], "oidc": OIDC}}
    return synth_gated(tmp_path_factory.mktemp("labeling-oidc"), lambda stage: build(stage, settings))


def test_an_oidc_workforce_passes_the_gates_too(gated_oidc):
    assert_gates_pass(gated_oidc)
