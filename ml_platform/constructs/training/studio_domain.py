"""``StudioDomain``: a SageMaker Studio domain in the platform's isolated subnets, a user profile per
person bound to a persona role, idle shutdown of apps, and Canvas with its workspace in the lake.

People sign in with IAM (``AuthMode: IAM``): a person assumes their persona's role and calls
``sagemaker:CreatePresignedDomainUrl`` for their user profile. Apps run as the profile's execution
role (the persona role), so inside Studio a person has exactly the persona's permissions.

CloudFormation's ``AWS::SageMaker::Domain`` and ``UserProfile`` have no ``CanvasAppSettings``
(the API has): the Canvas settings are applied by ``UpdateDomain`` from a custom resource after the
domain is created, and again whenever the domain's user settings change.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import custom_resources as cr
from constructs import Construct

from ml_platform.constructs.core.compliance import (
    DEPLOY_ONLY_DLQ_REASON,
    acknowledge_compliance_rule,
    acknowledge_wildcard_resource,
    skip_checkov,
)
from ml_platform.constructs.core.iam_roles import ManagedPolicyRole
from ml_platform.constructs.core.naming import pascal_case
from ml_platform.constructs.core.validation import check_problems
from ml_platform.constructs.lake.lake_access import ILake, Zone
from ml_platform.constructs.training.ml_network import INetwork, subnet_ids
from ml_platform.constructs.training.model_registry import ModelRegistry
from ml_platform.constructs.training.workbench_settings import CanvasSettings, Persona, WorkbenchSettings

#: Interface endpoints of the platform's network Studio apps need in VPC-only mode: the SageMaker
#: API and runtime (SageMaker Developer Guide, "Connect Amazon SageMaker Studio in a VPC to External
#: Resources"), STS and CloudWatch Logs (the SageMaker SDK and jobs started from a notebook).
REQUIRED_ENDPOINTS = ("sagemaker_api", "sagemaker_runtime", "sts", "logs")
#: Interface endpoints Canvas needs besides those (SageMaker Developer Guide, "Configure Amazon
#: SageMaker Canvas in a VPC without internet access"): EC2, whose ``DescribeVpcEndpointServices``
#: Canvas calls to run standard builds in the VPC, and the SageMaker notebook endpoint.
CANVAS_ENDPOINTS: dict[str, ec2.InterfaceVpcEndpointAwsService] = {
    "ec2": ec2.InterfaceVpcEndpointAwsService.EC2,
    "sagemaker_notebook": ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_NOTEBOOK,
}
#: NFS, between Studio apps and the domain's EFS home directories.
NFS_PORT = 2049
#: SageMaker actions the Studio UI takes as a user's execution role on the spaces and apps of the domain.
STUDIO_ACTIONS = ("sagemaker:CreateSpace", "sagemaker:UpdateSpace", "sagemaker:DeleteSpace", "sagemaker:DescribeSpace",
                  "sagemaker:CreateApp", "sagemaker:DeleteApp", "sagemaker:DescribeApp", "sagemaker:AddTags")
#: Canvas standard and quick builds (AutoML jobs) an analyst runs.
CANVAS_BUILD_ACTIONS = ("sagemaker:CreateAutoMLJob", "sagemaker:CreateAutoMLJobV2", "sagemaker:DescribeAutoMLJob",
                        "sagemaker:DescribeAutoMLJobV2", "sagemaker:ListCandidatesForAutoMLJob",
                        "sagemaker:StopAutoMLJob")
_CUSTOM_RESOURCE_ID = "AWS679f53fac002430cb0da5b7982bd2287"  # aws-cdk-lib's AwsCustomResource singleton
_NO_VPC = ("The function calls only SageMaker's UpdateDomain during deploys, reaches no VPC resource and "
           "holds no data; running it outside the VPC keeps it working before any endpoint exists.")


def trust_sagemaker(role: iam.IRole) -> None:
    """Let SageMaker assume ``role`` for this account only (what a Studio execution role needs).

    A role imported by ARN has no trust policy here: it must trust ``sagemaker.amazonaws.com`` already.
    """
    document = getattr(role, "assume_role_policy", None)
    if document is None:
        return
    account = Stack.of(role).account
    document.add_statements(iam.PolicyStatement(
        # pyright only: jsii renames the interface's parameters (aws/aws-cdk#15584)
        actions=["sts:AssumeRole"], principals=[iam.ServicePrincipal("sagemaker.amazonaws.com")],  # pyright: ignore[reportArgumentType]
        conditions={"StringEquals": {"aws:SourceAccount": account}}))


class CanvasAnalystRole(ManagedPolicyRole):
    """The ``analyst`` persona: people of ``trusted_account`` assume it to sign in to Canvas, and
    Canvas runs as it.

    It reads the lake's curated zone, reads and writes Canvas's workspace (``canvas.workspace_prefix``
    of the artifacts zone), runs AutoML builds, passes itself to SageMaker for them and (with
    ``canvas.model_registry``) registers versions of ``models`` in ``registry``. It may not create
    models, endpoint configurations or endpoints: Canvas cannot deploy directly.

    :param trusted_account: whose principals may assume it. Default: this stack's account.
    """

    def __init__(self, scope: Construct, construct_id: str, *, lake: ILake, canvas: CanvasSettings,
                 registry: ModelRegistry | None = None, models: Sequence[str] = (),
                 trusted_account: str | None = None) -> None:
        stack = Stack.of(scope)
        super().__init__(scope, construct_id, assumed_by=iam.AccountPrincipal(trusted_account or stack.account),
                         description="Canvas analyst: builds models on lake data and registers them for review")
        trust_sagemaker(self)  # pyright: ignore[reportArgumentType]  (jsii renames, aws/aws-cdk#15584)
        lake.grant_read(self, Zone.CURATED)
        lake.grant_read(self, Zone.ARTIFACTS, canvas.workspace_prefix)
        lake.grant_write(self, Zone.ARTIFACTS, canvas.workspace_prefix, allow_delete=True)
        jobs = stack.format_arn(service="sagemaker", resource="automl-job", resource_name="*")
        self.add_to_principal_policy(iam.PolicyStatement(actions=list(CANVAS_BUILD_ACTIONS), resources=[jobs]))
        acknowledge_wildcard_resource(self, jobs, "Canvas names its AutoML jobs as a build starts; the role "
                                      "may create no model, endpoint configuration or endpoint.")
        self.add_to_principal_policy(iam.PolicyStatement(
            actions=["iam:PassRole"], resources=[self.role_arn],
            conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}))
        # Canvas checks which endpoints the VPC has before running a standard build in it; the call
        # has no resource-level permissions.
        self.add_to_principal_policy(iam.PolicyStatement(actions=["ec2:DescribeVpcEndpointServices"], resources=["*"]))
        acknowledge_wildcard_resource(self, "*", "ec2:DescribeVpcEndpointServices has no resource-level "
                                      "permissions; it only lists endpoint services.")
        if canvas.model_registry and registry is not None:
            for model in models:
                registry.grant_register(self, model)


class StudioDomain(Construct):
    """A Studio domain ``name``: IAM sign-in, VPC only in ``network``'s subnets, the lake key on its
    EFS home directories, idle shutdown of JupyterLab and Code Editor apps, Canvas's workspace in
    the lake with direct deployment off, and a user profile per person of ``settings.users``.

    :param roles: the execution role of each persona the users name; ``data_scientist`` is also the
        domain's default. Each role is let SageMaker assume it, and gets a policy of this construct
        to open its persona's profiles and run Studio's spaces and apps in this domain.
    :param logs_key: key of the Canvas-settings function's log group (it must admit CloudWatch Logs).
    :param removal_policy: of the domain and profiles (their EFS home directories stay with
        SageMaker's retention) and the log group. Default: RETAIN.
    :raises ValueError: in one line, if a user's persona has no role, ``data_scientist`` has none,
        or the network lacks an endpoint of :data:`REQUIRED_ENDPOINTS`.

    :ivar domain: the ``CfnDomain``. :ivar profiles: ``CfnUserProfile`` by user name.
    :ivar security_group: of the domain's apps. :ivar endpoints: the Canvas endpoints created here.
    """

    def __init__(self, scope: Construct, construct_id: str, *, settings: WorkbenchSettings, name: str,
                 network: INetwork, lake: ILake, roles: Mapping[str, iam.IRole], logs_key: kms.IKey,
                 removal_policy: RemovalPolicy = RemovalPolicy.RETAIN) -> None:
        super().__init__(scope, construct_id)
        check_problems(f"StudioDomain {self.node.path}", [
            *[f"users.{user}: persona {p.persona!r} has no role (roles given: {', '.join(roles) or 'none'}); "
              "data_scientist and ml_engineer need training.personas" for user, p in settings.users.items()
              if p.persona not in roles],
            *([] if "data_scientist" in roles else ["the data_scientist role (the domain's default execution role) is missing"]),
            *[f"the network does not reach the {e} interface endpoint, which Studio needs in VPC-only mode; "
              f"add {e} to network.interface_endpoints" for e in REQUIRED_ENDPOINTS if not network.reaches(e)],
        ])
        self.security_group = ec2.SecurityGroup(
            self, "SecurityGroup", vpc=network.vpc, allow_all_outbound=False,
            description="Studio apps: NFS to their home directories, HTTPS to AWS endpoints")
        self.security_group.add_ingress_rule(self.security_group, ec2.Port.tcp(NFS_PORT), "NFS between apps and EFS")
        self.security_group.add_egress_rule(self.security_group, ec2.Port.tcp(NFS_PORT), "NFS between apps and EFS")
        self.security_group.add_egress_rule(
            ec2.Peer.any_ipv4(), ec2.Port.tcp(443),
            "HTTPS to S3 (gateway endpoint) and interface endpoints; isolated subnets route nowhere else")
        endpoint_group: ec2.ISecurityGroup | None = getattr(network, "endpoint_security_group", None)
        if endpoint_group is not None:  # the network's endpoints admit HTTPS from Studio's apps too
            ec2.CfnSecurityGroupIngress(
                self, "EndpointIngress", group_id=endpoint_group.security_group_id, ip_protocol="tcp",
                from_port=443, to_port=443, source_security_group_id=self.security_group.security_group_id,
                description="HTTPS from Studio apps")
        self.endpoints = self._canvas_endpoints(network, settings) if getattr(network, "imported", True) is False else {}
        idle = sagemaker.CfnDomain.AppLifecycleManagementProperty(
            idle_settings=sagemaker.CfnDomain.IdleSettingsProperty(
                lifecycle_management="ENABLED", idle_timeout_in_minutes=settings.idle_timeout_minutes,
                min_idle_timeout_in_minutes=60, max_idle_timeout_in_minutes=settings.idle_timeout_minutes))
        storage = sagemaker.CfnDomain.DefaultSpaceStorageSettingsProperty(
            default_ebs_storage_settings=sagemaker.CfnDomain.DefaultEbsStorageSettingsProperty(
                default_ebs_volume_size_in_gb=settings.space_ebs_gb,
                maximum_ebs_volume_size_in_gb=settings.max_space_ebs_gb))
        default_role = roles["data_scientist"].role_arn
        groups = [self.security_group.security_group_id]
        self.domain = sagemaker.CfnDomain(
            self, "Domain", domain_name=name, auth_mode="IAM", app_network_access_type="VpcOnly",
            vpc_id=network.vpc.vpc_id, subnet_ids=subnet_ids(network), kms_key_id=lake.encryption_key.key_arn,
            domain_settings=sagemaker.CfnDomain.DomainSettingsProperty(security_group_ids=groups),
            default_user_settings=sagemaker.CfnDomain.UserSettingsProperty(
                execution_role=default_role, security_groups=groups, studio_web_portal="ENABLED",
                default_landing_uri="studio::",
                jupyter_lab_app_settings=sagemaker.CfnDomain.JupyterLabAppSettingsProperty(app_lifecycle_management=idle),
                code_editor_app_settings=sagemaker.CfnDomain.CodeEditorAppSettingsProperty(app_lifecycle_management=idle),
                space_storage_settings=storage,
                sharing_settings=sagemaker.CfnDomain.SharingSettingsProperty(notebook_output_option="Disabled"),
            ),
            default_space_settings=sagemaker.CfnDomain.DefaultSpaceSettingsProperty(
                execution_role=default_role, security_groups=groups,
                jupyter_lab_app_settings=sagemaker.CfnDomain.JupyterLabAppSettingsProperty(app_lifecycle_management=idle),
                space_storage_settings=storage),
        )
        self.domain.apply_removal_policy(removal_policy)
        for endpoint in self.endpoints.values():
            self.domain.node.add_dependency(endpoint)
        self.profiles: dict[str, sagemaker.CfnUserProfile] = {}
        for user, person in settings.users.items():
            profile = sagemaker.CfnUserProfile(
                self, f"{pascal_case(user)}Profile", domain_id=self.domain.attr_domain_id, user_profile_name=user,
                user_settings=sagemaker.CfnUserProfile.UserSettingsProperty(execution_role=roles[person.persona].role_arn),
                tags=[{"key": "persona", "value": person.persona}])
            profile.apply_removal_policy(removal_policy)
            self.profiles[user] = profile
        for persona, role in roles.items():
            trust_sagemaker(role)
            self._studio_policy(persona, role, [u for u, p in settings.users.items() if p.persona == persona])
        self.canvas_settings = self._apply_canvas(settings.canvas, lake, logs_key, removal_policy)

    def arn(self, resource: str, name: str) -> str:
        """The ARN of ``resource`` (``user-profile``, ``space``, ``app``) ``name`` in this domain."""
        return Stack.of(self).format_arn(service="sagemaker", resource=resource,
                                         resource_name=f"{self.domain.attr_domain_id}/{name}")

    def _canvas_endpoints(self, network: INetwork, settings: WorkbenchSettings) -> dict[str, ec2.InterfaceVpcEndpoint]:
        """The interface endpoints Canvas needs, when an analyst uses it, admitting HTTPS from Studio's apps."""
        if "analyst" not in settings.personas():
            return {}
        group = ec2.SecurityGroup(self, "CanvasEndpointSecurityGroup", vpc=network.vpc, allow_all_outbound=False,
                                  description="Canvas interface endpoints: HTTPS from Studio apps only")
        group.add_ingress_rule(self.security_group, ec2.Port.tcp(443), "HTTPS from Studio apps")
        return {
            name: ec2.InterfaceVpcEndpoint(
                self, f"{pascal_case(name)}Endpoint", vpc=network.vpc, service=service, subnets=network.subnets,
                private_dns_enabled=True, security_groups=[group], open=False)
            for name, service in CANVAS_ENDPOINTS.items()
        }

    def _studio_policy(self, persona: str, role: iam.IRole, users: list[str]) -> iam.ManagedPolicy:
        """Sign-in to ``users``' profiles and Studio's own calls in this domain, for ``role``."""
        stack = Stack.of(self)
        spaces, apps = self.arn("space", "*"), self.arn("app", "*")
        statements = [
            iam.PolicyStatement(actions=list(STUDIO_ACTIONS), resources=[spaces, apps]),
            iam.PolicyStatement(actions=["sagemaker:DescribeDomain"], resources=[
                stack.format_arn(service="sagemaker", resource="domain", resource_name=self.domain.attr_domain_id)]),
            iam.PolicyStatement(actions=["sagemaker:ListSpaces", "sagemaker:ListApps"], resources=["*"]),
        ]
        if users:
            statements.append(iam.PolicyStatement(
                actions=["sagemaker:CreatePresignedDomainUrl", "sagemaker:DescribeUserProfile"],
                resources=[self.arn("user-profile", u) for u in users]))
        policy = iam.ManagedPolicy(self, f"{pascal_case(persona)}StudioPolicy", statements=statements, roles=[role],
                                   description=f"Studio sign-in and apps of the {persona} persona in {self.node.path}")
        for arn, what in ((spaces, "spaces"), (apps, "apps")):
            acknowledge_wildcard_resource(policy, arn, f"People name their Studio {what} as they create them; "
                                          "the grant covers this one domain.")
        acknowledge_wildcard_resource(policy, "*", "sagemaker:ListSpaces and ListApps have no resource-level "
                                      "permissions; they list metadata only.")
        return policy

    def _apply_canvas(self, canvas: CanvasSettings, lake: ILake, logs_key: kms.IKey,
                      removal_policy: RemovalPolicy) -> cr.AwsCustomResource:
        """``UpdateDomain`` with the Canvas settings, rerun whenever they or the domain's user settings change."""
        stack = Stack.of(self)
        settings: dict[str, Any] = {
            "WorkspaceSettings": {"S3ArtifactPath": lake.s3_uri(Zone.ARTIFACTS, canvas.workspace_prefix),
                                  "S3KmsKeyId": lake.encryption_key.key_arn},
            "DirectDeploySettings": {"Status": "DISABLED"},
            "ModelRegisterSettings": {"Status": "ENABLED" if canvas.model_registry else "DISABLED"},
            "TimeSeriesForecastingSettings": {"Status": "ENABLED" if canvas.time_series else "DISABLED"},
        }
        # CloudFormation's updates of the domain do not carry the Canvas settings: apply them again after each.
        digest = hashlib.sha256(json.dumps(stack.resolve(self.domain.default_user_settings), sort_keys=True,
                                           default=str).encode()).hexdigest()[:16]
        call = cr.AwsSdkCall(
            service="SageMaker", action="updateDomain",
            parameters={"DomainId": self.domain.attr_domain_id,
                        "DefaultUserSettings": {"CanvasAppSettings": settings}},
            physical_resource_id=cr.PhysicalResourceId.of(f"{self.node.path}/canvas-{digest}"))
        role = ManagedPolicyRole.for_service(self, "CanvasSettingsRole", service="lambda.amazonaws.com",
                                             description="Applies the Studio domain's Canvas settings during deploys")
        role.add_to_principal_policy(iam.PolicyStatement(actions=["sagemaker:UpdateDomain"], resources=[
            stack.format_arn(service="sagemaker", resource="domain", resource_name=self.domain.attr_domain_id)]))
        log_group = logs.LogGroup(self, "CanvasSettingsLogs", encryption_key=logs_key,
                                  retention=logs.RetentionDays.ONE_YEAR, removal_policy=removal_policy)
        log_group.grant_write(role)
        applied = cr.AwsCustomResource(
            self, "CanvasSettings", on_create=call, on_update=call, role=role,  # pyright: ignore[reportArgumentType]
            log_group=log_group, install_latest_aws_sdk=False, resource_type="Custom::StudioCanvasSettings")
        function = stack.node.find_child(_CUSTOM_RESOURCE_ID).node.default_child
        assert isinstance(function, lambda_.CfnFunction)
        if not function.get_metadata("checkov"):
            function.reserved_concurrent_executions = 1
            acknowledge_compliance_rule(function, "LambdaInsideVPC", _NO_VPC)
            skip_checkov(function, "CKV_AWS_117", _NO_VPC)
            acknowledge_compliance_rule(function, "LambdaDLQ", DEPLOY_ONLY_DLQ_REASON)
            skip_checkov(function, "CKV_AWS_116", DEPLOY_ONLY_DLQ_REASON)
        return applied
