"""``MlNetwork``: the private network SageMaker jobs and endpoints run in.

Isolated subnets only (no NAT, no internet gateway): jobs reach AWS through an S3 gateway
endpoint and interface endpoints. Flow logs go to an encrypted log group. A security group for
SageMaker jobs may talk to itself (distributed training) and to HTTPS; the endpoints accept HTTPS
from that group only. Or an existing VPC is imported from its IDs (no lookups: synth stays offline).

Cost: each interface endpoint costs per hour and AZ (about 7-8 USD a month each in us-east-1), so
seven endpoints in three AZs cost about 150 USD a month; a dev environment can use two AZs and
only the endpoints its jobs use.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Literal, Protocol, runtime_checkable

from aws_cdk import Fn, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct
from pydantic import AfterValidator, Field, model_validator

from ml_platform.constructs.core.compliance import (
    VPC_RESTRICT_DEFAULT_SG_PROVIDER_ID,
    acknowledge_wildcard_resource,
    explain_cdk_provider,
)
from ml_platform.constructs.core.keys import allow_cloudwatch_logs
from ml_platform.constructs.core.iam_roles import ManagedPolicyRole
from ml_platform.constructs.core.naming import pascal_case
from ml_platform.constructs.core.validation import StrictSettings, check_problems

EndpointName = Literal["sagemaker_api", "sagemaker_runtime", "sts", "logs", "monitoring", "ecr_api", "ecr_docker",
                       "sagemaker_experiments", "featurestore_runtime"]
#: Interface endpoints SageMaker training, processing and hosting need in an isolated network.
ENDPOINTS: dict[EndpointName, ec2.InterfaceVpcEndpointAwsService] = {
    "sagemaker_api": ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_API,
    "sagemaker_runtime": ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_RUNTIME,
    "sts": ec2.InterfaceVpcEndpointAwsService.STS,
    "logs": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
    "monitoring": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_MONITORING,
    "ecr_api": ec2.InterfaceVpcEndpointAwsService.ECR,
    "ecr_docker": ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER,
    # the managed MLflow tracking servers (training.experiment_tracking)
    "sagemaker_experiments": ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_EXPERIMENTS,
    # PutRecord of the training pipelines' Ingest steps (training.feature_store)
    "featurestore_runtime": ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_FEATURESTORE_RUNTIME,
}
#: Endpoints only a feature that needs them asks for (each bills per zone-hour).
OPT_IN_ENDPOINTS: tuple[EndpointName, ...] = ("sagemaker_experiments", "featurestore_runtime")
#: Default: every endpoint of :data:`ENDPOINTS` but :data:`OPT_IN_ENDPOINTS`.
DEFAULT_ENDPOINTS: tuple[EndpointName, ...] = tuple(e for e in ENDPOINTS if e not in OPT_IN_ENDPOINTS)
DEFAULT_CIDR = "10.0.0.0/16"
DEFAULT_FLOW_LOG_RETENTION = logs.RetentionDays.ONE_YEAR

_AZ = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d[a-z]$")
_CIDR = re.compile(r"^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})/(\d{1,2})$")


def _az(value: str) -> str:
    if not _AZ.match(value):
        raise ValueError(f"{value!r} is not an availability zone name such as 'us-east-1a'")
    return value


def _cidr(value: str) -> str:
    match = _CIDR.match(value)
    if not match or any(int(part) > 255 for part in match.groups()[:4]) or not 16 <= int(match.group(5)) <= 24:
        raise ValueError(f"{value!r} is not an IPv4 CIDR block from /16 to /24, e.g. '10.0.0.0/16'")
    return value


Zones = Annotated[tuple[Annotated[str, AfterValidator(_az)], ...], Field(strict=False, min_length=1, max_length=6)]


class ExistingVpc(StrictSettings):
    """A VPC created elsewhere, named by its IDs (isolated or private subnets, one per AZ)."""

    vpc_id: Annotated[str, Field(pattern=r"^vpc-[0-9a-f]{8,17}$")]
    availability_zones: Zones
    subnet_ids: Annotated[tuple[Annotated[str, Field(pattern=r"^subnet-[0-9a-f]{8,17}$")], ...], Field(strict=False, min_length=1)]

    @model_validator(mode="after")
    def _one_subnet_per_zone(self) -> ExistingVpc:
        if len(self.subnet_ids) != len(self.availability_zones):
            raise ValueError(
                f"{len(self.subnet_ids)} subnet_ids for {len(self.availability_zones)} availability_zones; "
                "give one subnet per zone, in the same order"
            )
        return self


class NetworkSettings(StrictSettings):
    """The environment's network.

    :ivar az_count: zones of the created VPC, one isolated subnet each, 1-6; the zones are the
        first ones CloudFormation lists for the account (``Fn::GetAZs``). Default: 2.
    :ivar cidr: of the created VPC, /16 to /24. Default: ``10.0.0.0/16``.
    :ivar interface_endpoints: which endpoints to create. Default: all seven of :data:`ENDPOINTS`.
    :ivar flow_log_retention_days: Default: 365.
    :ivar existing: import this VPC instead of creating one (no endpoints or flow logs are made).
    """

    az_count: Annotated[int, Field(ge=1, le=6)] = 2
    cidr: Annotated[str, AfterValidator(_cidr)] = DEFAULT_CIDR
    interface_endpoints: Annotated[tuple[EndpointName, ...], Field(strict=False)] = DEFAULT_ENDPOINTS
    flow_log_retention_days: Literal[30, 90, 180, 365, 731, 1827, 3653] = 365
    existing: ExistingVpc | None = None

    @model_validator(mode="after")
    def _distinct_endpoints(self) -> NetworkSettings:
        repeated = sorted({e for e in self.interface_endpoints if self.interface_endpoints.count(e) > 1})
        if repeated:
            raise ValueError(f"interface_endpoints name {', '.join(repeated)} more than once")
        return self


@runtime_checkable
class INetwork(Protocol):
    """What the platform's constructs need of a network: a VPC, the subnets and the security group
    SageMaker jobs, endpoints and functions run in; :class:`MlNetwork` and :class:`ExistingNetwork`
    provide it."""

    @property
    def vpc(self) -> ec2.IVpc:
        """The VPC."""
        ...

    @property
    def subnets(self) -> ec2.SubnetSelection:
        """Where jobs, endpoints and functions run."""
        ...

    @property
    def job_security_group(self) -> ec2.ISecurityGroup:
        """The security group of SageMaker jobs and endpoints (and the platform's functions)."""
        ...

    def reaches(self, endpoint: str) -> bool:
        """Whether workloads in :attr:`subnets` reach the interface endpoint ``endpoint`` (a key of
        :data:`ENDPOINTS`, e.g. ``sagemaker_api``)."""
        ...


def grant_network_interfaces(role: ManagedPolicyRole, network: INetwork, *, actions: Sequence[str],
                             describe: Sequence[str], service: str) -> None:
    """Let ``role`` create elastic network interfaces only in ``network``'s subnets with its job
    security group, run ``actions`` (delete, ...) only on interfaces in its VPC (condition
    ``ec2:Vpc``), and the ``describe`` calls, which IAM authorizes only on ``*``.

    ``service`` (e.g. ``"SageMaker"``) names who manages the interfaces in the acknowledgment of
    the interface wildcard (their IDs are not known in advance).
    """
    stack = Stack.of(role)
    subnets = [stack.format_arn(service="ec2", resource="subnet", resource_name=s) for s in subnet_ids(network)]
    group = stack.format_arn(service="ec2", resource="security-group",
                             resource_name=network.job_security_group.security_group_id)
    interfaces = stack.format_arn(service="ec2", resource="network-interface", resource_name="*")
    role.add_to_principal_policy(iam.PolicyStatement(
        actions=["ec2:CreateNetworkInterface"], resources=[*subnets, group, interfaces]))
    role.add_to_principal_policy(iam.PolicyStatement(
        actions=list(actions), resources=[interfaces],
        conditions={"ArnEquals": {"ec2:Vpc": stack.format_arn(service="ec2", resource="vpc",
                                                              resource_name=network.vpc.vpc_id)}},
    ))
    acknowledge_wildcard_resource(
        role, interfaces, f"{service} creates and removes network interfaces whose IDs are not known in "
        "advance; creation is limited to the platform's subnets and security group and the other "
        "interface actions to interfaces in its VPC.")
    role.add_to_principal_policy(iam.PolicyStatement(actions=list(describe), resources=["*"]))


def subnet_ids(network: INetwork) -> list[str]:
    """The IDs of the subnets ``network`` runs workloads in (selected once per network)."""
    cached: list[str] | None = getattr(network, "_ml_platform_subnet_ids", None)
    if cached is None:
        chosen = network.subnets  # jsii passes a struct to a method as keyword arguments
        cached = network.vpc.select_subnets(
            availability_zones=chosen.availability_zones, one_per_az=chosen.one_per_az,
            subnet_filters=chosen.subnet_filters, subnet_group_name=chosen.subnet_group_name,
            subnets=chosen.subnets, subnet_type=chosen.subnet_type,
        ).subnet_ids
        setattr(network, "_ml_platform_subnet_ids", cached)
    return list(cached)


class ExistingNetwork(Construct):
    """A network the app already has (see :meth:`MlNetwork.from_existing`); nothing is created.

    :param vpc: the VPC (``ec2.Vpc.from_lookup``, ``from_vpc_attributes`` or a ``Vpc`` of the app).
    :param subnets: where SageMaker jobs, endpoints and the platform's functions run.
    :param security_group: the security group they use; it must allow what they need (HTTPS to
        the VPC's endpoints, TCP among a distributed job's instances).
    :param interface_endpoints: the interface endpoints (keys of :data:`ENDPOINTS`) the subnets
        reach. Default: not known, so every one is assumed reachable.
    :raises ValueError: naming an unknown endpoint.
    """

    def __init__(self, scope: Construct, construct_id: str, *, vpc: ec2.IVpc, subnets: ec2.SubnetSelection,
                 security_group: ec2.ISecurityGroup, interface_endpoints: Sequence[str] | None = None) -> None:
        super().__init__(scope, construct_id)
        unknown = [e for e in interface_endpoints or () if e not in ENDPOINTS]
        check_problems(f"ExistingNetwork {self.node.path}", [
            f"interface_endpoints has unknown endpoint {e!r}; allowed: {', '.join(ENDPOINTS)}" for e in unknown])
        self._vpc, self._subnets, self._group = vpc, subnets, security_group
        self._endpoints = None if interface_endpoints is None else frozenset(interface_endpoints)

    @property
    def vpc(self) -> ec2.IVpc:
        return self._vpc

    @property
    def subnets(self) -> ec2.SubnetSelection:
        return self._subnets

    @property
    def job_security_group(self) -> ec2.ISecurityGroup:
        return self._group

    def reaches(self, endpoint: str) -> bool:
        return self._endpoints is None or endpoint in self._endpoints


class MlNetwork(Construct):
    """The VPC, subnets and security groups of SageMaker workloads.

    :param settings: the ``network`` settings.
    :param logs_key: key of the flow-log group. Default: a new rotating key admitting CloudWatch Logs.
    :param removal_policy: of the flow-log group and created key. Default: RETAIN.

    :ivar vpc: the VPC. :ivar subnets: where jobs and endpoints run.
    :ivar job_security_group: for SageMaker jobs and endpoints.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: NetworkSettings,
        logs_key: kms.IKey | None = None,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        self.endpoints: dict[str, ec2.InterfaceVpcEndpoint] = {}
        #: Whether the VPC was imported (its endpoints are then whatever it has, not :attr:`endpoints`).
        self.imported = settings.existing is not None
        if settings.existing is not None:
            existing = settings.existing
            self.vpc: ec2.IVpc = ec2.Vpc.from_vpc_attributes(
                self, "Vpc", vpc_id=existing.vpc_id, availability_zones=list(existing.availability_zones),
                isolated_subnet_ids=list(existing.subnet_ids),
            )
            self.subnets = ec2.SubnetSelection(subnets=self.vpc.isolated_subnets)
            self.job_security_group = self._job_security_group()
            return

        zones = network_zones(settings)
        flow_log_group = logs.LogGroup(
            self, "FlowLogs", encryption_key=logs_key if logs_key is not None else self._logs_key(removal_policy),
            retention=_retention(settings.flow_log_retention_days),
            removal_policy=removal_policy,
        )
        flow_log_role = ManagedPolicyRole.for_service(
            self, "FlowLogRole", service="vpc-flow-logs.amazonaws.com", description="Writes VPC flow logs"
        )
        vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(settings.cidr),
            availability_zones=zones,
            nat_gateways=0,
            create_internet_gateway=False,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="Isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=_mask(settings.cidr, len(zones)))
            ],
            gateway_endpoints={"S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3)},
            flow_logs={
                "All": ec2.FlowLogOptions(
                    # pyright only: jsii names Role.grant_*_role's parameter "identity", IRole's "grantee"
                    # (aws/aws-cdk#21099)
                    destination=ec2.FlowLogDestination.to_cloud_watch_logs(
                        flow_log_group, flow_log_role),  # pyright: ignore[reportArgumentType]
                    traffic_type=ec2.FlowLogTrafficType.ALL,
                )
            },
        )
        self.vpc = vpc
        explain_cdk_provider(Stack.of(self), VPC_RESTRICT_DEFAULT_SG_PROVIDER_ID, "EC2")
        self.subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
        self.job_security_group = self._job_security_group()
        self.endpoint_security_group = ec2.SecurityGroup(
            self, "EndpointSecurityGroup", vpc=vpc, allow_all_outbound=False,
            description="Interface endpoints: HTTPS from SageMaker workloads only",
        )
        self.endpoint_security_group.add_ingress_rule(
            self.job_security_group, ec2.Port.tcp(443), "HTTPS from SageMaker workloads"
        )
        for name in settings.interface_endpoints:
            self.endpoints[name] = vpc.add_interface_endpoint(
                f"{pascal_case(name)}Endpoint",
                service=ENDPOINTS[name], subnets=self.subnets, private_dns_enabled=True,
                security_groups=[self.endpoint_security_group], open=False,
            )

    @classmethod
    def from_existing(cls, scope: Construct, construct_id: str, *, vpc: ec2.IVpc, subnets: ec2.SubnetSelection,
                      security_group: ec2.ISecurityGroup,
                      interface_endpoints: Sequence[str] | None = None) -> ExistingNetwork:
        """A network of a VPC, subnets and security group the app already has, for the constructs
        that take a network (:class:`INetwork`); see :class:`ExistingNetwork`."""
        return ExistingNetwork(scope, construct_id, vpc=vpc, subnets=subnets, security_group=security_group,
                               interface_endpoints=interface_endpoints)

    def reaches(self, endpoint: str) -> bool:
        """Whether the subnets reach interface endpoint ``endpoint``: one this construct created,
        or any when the VPC is imported from settings (its endpoints are not known here)."""
        return self.imported or endpoint in self.endpoints

    def _logs_key(self, removal_policy: RemovalPolicy) -> kms.Key:
        """A rotating key for the flow logs that CloudWatch Logs may use."""
        key = kms.Key(self, "LogsKey", description=f"Encrypts the flow logs of {self.node.path}",
                      enable_key_rotation=True, removal_policy=removal_policy)
        allow_cloudwatch_logs(key)
        return key

    def _job_security_group(self) -> ec2.SecurityGroup:
        group = ec2.SecurityGroup(
            self, "JobSecurityGroup", vpc=self.vpc, allow_all_outbound=False,
            description="SageMaker jobs and endpoints: each other, and HTTPS to AWS endpoints",
        )
        # TCP, not all protocols: distributed training talks TCP between its instances.
        group.add_ingress_rule(group, ec2.Port.all_tcp(), "Between instances of a distributed job")
        group.add_egress_rule(group, ec2.Port.all_tcp(), "Between instances of a distributed job")
        group.add_egress_rule(
            ec2.Peer.any_ipv4(), ec2.Port.tcp(443),
            "HTTPS to S3 (gateway endpoint) and interface endpoints; isolated subnets route nowhere else",
        )
        return group


def network_zones(settings: NetworkSettings) -> list[str]:
    """The zones of the network: an imported VPC's, or the first ``az_count`` the account has.

    Resolved by CloudFormation (``Fn::GetAZs``): synth needs no lookup and hardcodes no zone name.
    """
    if settings.existing is not None:
        return list(settings.existing.availability_zones)
    return [Fn.select(index, Fn.get_azs()) for index in range(settings.az_count)]


def _mask(cidr: str, zones: int) -> int:
    """The largest subnet mask that fits ``zones`` isolated subnets in ``cidr``."""
    prefix = int(cidr.split("/")[1])
    bits = max(1, (zones - 1).bit_length())
    return min(28, prefix + bits)


def _retention(days: int) -> logs.RetentionDays:
    return {30: logs.RetentionDays.ONE_MONTH, 90: logs.RetentionDays.THREE_MONTHS,
            180: logs.RetentionDays.SIX_MONTHS, 365: logs.RetentionDays.ONE_YEAR,
            731: logs.RetentionDays.TWO_YEARS, 1827: logs.RetentionDays.FIVE_YEARS,
            3653: logs.RetentionDays.TEN_YEARS}[days]
