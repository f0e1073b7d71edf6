"""``SageMakerRoles``: one least-privilege execution role per SageMaker activity.

Activities: processing, training, inference (models and endpoints), monitoring and pipeline. Each
role may read only the lake prefixes its settings name, write only its output prefixes, use the
lake key only through S3 (and for encrypted volumes, only as a grant for an AWS resource), pull
only the platform repositories it names, write only its activity's log groups and metrics, and
work in the platform's subnets and security group. No managed ``AmazonSageMakerFullAccess``, no
``*`` resource on a write action except where AWS offers no resource-level permission (each such
statement carries a condition, and its finding is acknowledged with the reason).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct
from pydantic import AfterValidator, Field

from ml_platform.constructs.core.compliance import acknowledge_wildcard_resource
from ml_platform.constructs.core.iam_roles import ManagedPolicyRole
from ml_platform.constructs.lake.lake_access import ILake, Zone
from ml_platform.constructs.training.image_repositories import ImageRepositories
from ml_platform.constructs.training.ml_network import INetwork, grant_network_interfaces
from ml_platform.constructs.lake.s3_grants import check_prefix
from ml_platform.constructs.core.validation import StrictSettings, check_problems

Activity = Literal["processing", "training", "inference", "monitoring", "pipeline"]
ACTIVITIES: tuple[str, ...] = ("processing", "training", "inference", "monitoring", "pipeline")
#: CloudWatch log groups SageMaker writes each activity's logs to.
LOG_GROUPS = {
    "processing": ("/aws/sagemaker/ProcessingJobs",),
    "training": ("/aws/sagemaker/TrainingJobs",),
    "inference": ("/aws/sagemaker/Endpoints/*", "/aws/sagemaker/TransformJobs"),
    "monitoring": ("/aws/sagemaker/ProcessingJobs",),
    "pipeline": (),
}


class LakeLocation(StrictSettings):
    """A zone and a key prefix (``""`` for the whole zone) of the lake."""

    zone: Literal["raw", "processed", "curated", "artifacts"]
    prefix: Annotated[str, AfterValidator(check_prefix)] = ""


class LakeObject(StrictSettings):
    """One object of the lake, e.g. ``{zone: artifacts, key: churn/models/v7/model.tar.gz}``."""

    zone: Literal["raw", "processed", "curated", "artifacts"]
    key: Annotated[str, Field(pattern=r"^[^/\s][^\s]{0,1023}$")]


class RoleSettings(StrictSettings):
    """What one activity's role may touch.

    :ivar reads: lake locations it reads. Default: none.
    :ivar writes: lake locations it writes (its outputs). Default: none.
    :ivar images: platform repositories it pulls from. Default: none.
    """

    reads: Annotated[tuple[LakeLocation, ...], Field(strict=False)] = ()
    writes: Annotated[tuple[LakeLocation, ...], Field(strict=False)] = ()
    images: Annotated[tuple[str, ...], Field(strict=False)] = ()


class SageMakerRoles(Construct):
    """Execution roles ``roles[activity]`` for the activities in ``settings``.

    :param lake: the lake the roles read and write (a :class:`~ml_platform.constructs.lake.data_lake.DataLake`,
        or ``DataLake.from_existing`` over the app's own buckets and key).
    :param settings: per activity, what its role may touch.
    :param network: subnets and security group the jobs run in (an :class:`~ml_platform.constructs.training.
        ml_network.MlNetwork` or ``MlNetwork.from_existing``). Default: none (no VPC permissions).
    :param images: the platform's repositories (required when a role names ``images``).
    :param permissions_boundary: applied to every role. Default: none.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        lake: ILake,
        settings: Mapping[str, RoleSettings],
        network: INetwork | None = None,
        images: ImageRepositories | None = None,
        permissions_boundary: iam.IManagedPolicy | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        known = set(images.repositories) if images else set()
        check_problems(
            f"SageMakerRoles {self.node.path}",
            [f"activity {a!r} is unknown; allowed: {', '.join(ACTIVITIES)}" for a in settings if a not in ACTIVITIES]
            + [f"{a}.images names {i!r}, which is not a platform repository ({', '.join(sorted(known)) or 'none'})"
               for a, s in settings.items() for i in s.images if i not in known],
        )
        self.lake, self.network = lake, network
        self.roles: dict[str, ManagedPolicyRole] = {}
        for activity, role_settings in settings.items():
            role = ManagedPolicyRole.for_service(
                self, f"{activity.title()}Role", service="sagemaker.amazonaws.com",
                description=f"SageMaker {activity} execution role",
            )
            if permissions_boundary is not None:
                iam.PermissionsBoundary.of(role).apply(permissions_boundary)
            for location in role_settings.reads:
                lake.grant_read(role, Zone(location.zone), location.prefix)
            for location in role_settings.writes:
                lake.grant_write(role, Zone(location.zone), location.prefix)
            if images is not None:  # without repositories, a role naming images was reported above
                for name in role_settings.images:
                    images.grant_pull(role, name)
            self._grant_logs_and_metrics(role, activity)
            self._grant_volume_key(role)
            if network is not None and activity != "pipeline":
                self._grant_network(role)
            self.roles[activity] = role
        if "pipeline" in self.roles:
            self._grant_pipeline(self.roles["pipeline"])

    def role(self, activity: str) -> iam.IRole:
        """The execution role of ``activity``."""
        # pyright only: jsii names Role.grant_*_role's parameter "identity", IRole's "grantee" (aws/aws-cdk#21099)
        return self.roles[activity]  # pyright: ignore[reportReturnType]

    def grant_pass(self, grantee: iam.IGrantable, *activities: str) -> iam.Grant:
        """Let ``grantee`` pass the given execution roles to SageMaker, and nothing else."""
        return iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["iam:PassRole"],
            resource_arns=[self.roles[a].role_arn for a in activities],
            conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        )

    # -- statements ----------------------------------------------------------------------------

    def _grant_logs_and_metrics(self, role: ManagedPolicyRole, activity: str) -> None:
        stack = Stack.of(self)
        groups = LOG_GROUPS[activity]
        if groups:
            arns = [stack.format_arn(service="logs", resource="log-group", resource_name=f"{g}:*",
                                     arn_format=ArnFormat.COLON_RESOURCE_NAME) for g in groups]
            role.add_to_principal_policy(iam.PolicyStatement(
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                resources=arns,
            ))
            for arn in arns:
                acknowledge_wildcard_resource(
                    role, arn, "SageMaker names log streams after each job or endpoint instance; the "
                    "role may write only the log groups of its own activity.")
        role.add_to_principal_policy(iam.PolicyStatement(
            actions=["cloudwatch:PutMetricData"], resources=["*"],
            conditions={"StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*", "aws/sagemaker/*"]}},
        ))
        acknowledge_wildcard_resource(
            role, "*", "cloudwatch:PutMetricData and the EC2 describe calls SageMaker makes in a VPC "
            "have no resource-level permissions; metrics are limited to SageMaker's namespaces.")

    def _grant_volume_key(self, role: ManagedPolicyRole) -> None:
        """Encrypted ML storage volumes: SageMaker creates a grant on the lake key for EBS."""
        key = self.lake.encryption_key.key_arn
        role.add_to_principal_policy(iam.PolicyStatement(
            actions=["kms:CreateGrant"], resources=[key],
            conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
        ))
        # kms:GrantIsForAWSResource is in the request context of CreateGrant, ListGrants and
        # RevokeGrant only: DescribeKey under that condition would never be allowed.
        role.add_to_principal_policy(iam.PolicyStatement(actions=["kms:DescribeKey"], resources=[key]))

    def _grant_network(self, role: ManagedPolicyRole) -> None:
        """Elastic network interfaces in the platform's subnets with its security group."""
        assert self.network is not None
        grant_network_interfaces(
            role, self.network, service="SageMaker",
            actions=["ec2:CreateNetworkInterfacePermission", "ec2:DeleteNetworkInterface",
                     "ec2:DeleteNetworkInterfacePermission"],
            describe=["ec2:DescribeNetworkInterfaces", "ec2:DescribeVpcs", "ec2:DescribeSubnets",
                      "ec2:DescribeSecurityGroups", "ec2:DescribeDhcpOptions"],
        )

    def _grant_pipeline(self, role: ManagedPolicyRole) -> None:
        """Start and watch processing and training jobs, passing only the other execution roles."""
        stack = Stack.of(self)
        jobs = [stack.format_arn(service="sagemaker", resource=kind, resource_name="*")
                for kind in ("processing-job", "training-job", "hyper-parameter-tuning-job")]
        role.add_to_principal_policy(iam.PolicyStatement(
            actions=["sagemaker:CreateProcessingJob", "sagemaker:DescribeProcessingJob", "sagemaker:StopProcessingJob",
                     "sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob",
                     "sagemaker:CreateHyperParameterTuningJob", "sagemaker:DescribeHyperParameterTuningJob",
                     "sagemaker:StopHyperParameterTuningJob", "sagemaker:AddTags"],
            resources=jobs,
        ))
        for arn in jobs:
            acknowledge_wildcard_resource(
                role, arn, "A pipeline names its jobs at run time; the role may create only "
                "processing, training and tuning jobs, which run with the roles it may pass.")
        others = [a for a in self.roles if a != "pipeline" and a in ("processing", "training")]
        if others:
            self.grant_pass(role, *others)
