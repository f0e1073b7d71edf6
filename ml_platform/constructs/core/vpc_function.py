"""``VpcFunction``: a boto3-only Python Lambda of ``ml_platform/lambdas/<name>`` in the platform's isolated subnets.

It reaches S3 through the gateway endpoint and nothing else, logs to a KMS-encrypted group, has
a reserved concurrency and its own role (``ManagedPolicyRole``). The two exceptions every such
function needs are recorded on it with the caller's reason for having no dead-letter queue.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from ml_platform.constructs.core.compliance import (
    acknowledge_compliance_rule,
    acknowledge_wildcard_resource,
    default_resource,
    skip_checkov,
)
from ml_platform.constructs.core.iam_roles import ManagedPolicyRole
from ml_platform.constructs.training.ml_network import INetwork, grant_network_interfaces
from ml_platform.runtime import LAMBDAS_DIR, RUNTIME

#: What Lambda needs of a function's role to attach it to a VPC (Lambda Developer Guide, "Giving
#: Lambda functions access to resources in an Amazon VPC"; the AWS managed policy
#: AWSLambdaVPCAccessExecutionRole holds the same on "*"): interface actions besides creation,
#: and the describe calls IAM authorizes only on "*".
VPC_INTERFACE_ACTIONS = ("ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses")
VPC_DESCRIBE_ACTIONS = ("ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets")


class VpcFunction(Construct):
    """``handler.on_event`` of ``ml_platform/lambdas/<name>`` as a function in ``network``.

    :param name: the folder under ``ml_platform/lambdas``.
    :param description: of the function and its role.
    :param network: the subnets and job security group the function runs in; any
        :class:`~ml_platform.constructs.training.ml_network.INetwork` (``MlNetwork`` or
        ``MlNetwork.from_existing``). No security group is created.
    :param key: encrypts the log group and the environment variables. This construct does not
        edit its policy: the policy must already let ``logs.<region>.amazonaws.com`` use it (for a
        key the app creates, :func:`ml_platform.constructs.core.keys.allow_cloudwatch_logs`; an
        imported key's policy must say so where the key is defined), or creating the log group fails.
    :param no_dlq_reason: why the function needs no dead-letter queue.
    :param environment: environment variables. Default: none.
    :param reserved_concurrency: Default: 5.
    :param timeout: Default: one minute.
    :param removal_policy: of the log group. Default: RETAIN.
    """

    def __init__(self, scope: Construct, construct_id: str, *, name: str, description: str, network: INetwork,
                 key: kms.IKey, no_dlq_reason: str, environment: Mapping[str, str] | None = None,
                 reserved_concurrency: int = 5, timeout: Duration | None = None,
                 removal_policy: RemovalPolicy = RemovalPolicy.RETAIN) -> None:
        super().__init__(scope, construct_id)
        self.role = ManagedPolicyRole.for_service(self, "Role", service="lambda.amazonaws.com", description=description)
        self.function = lambda_.Function(
            self, "Function", runtime=RUNTIME, handler="handler.on_event",
            code=lambda_.Code.from_asset(str(LAMBDAS_DIR / name), exclude=["__pycache__", "*.pyc", "__init__.py"]),
            # pyright only: jsii renames the interface's parameters (aws/aws-cdk#15584)
            role=self.role,  # pyright: ignore[reportArgumentType]
            timeout=timeout or Duration.minutes(1), memory_size=128, reserved_concurrent_executions=reserved_concurrency,
            vpc=network.vpc, vpc_subnets=network.subnets,
            security_groups=[network.job_security_group],
            environment=dict(environment) if environment else None,
            environment_encryption=key if environment else None,
            log_group=logs.LogGroup(self, "Logs", encryption_key=key, retention=logs.RetentionDays.ONE_YEAR,
                                    removal_policy=removal_policy),
            description=description,
        )
        # aws-cdk-lib attaches AWSLambdaBasicExecutionRole and AWSLambdaVPCAccessExecutionRole only
        # to a role it creates: this role gets their permissions, narrowed to the function's own
        # log group and network. Lambda checks the interface permissions when it creates the function.
        self.function.log_group.grant_write(self.role)
        grant_network_interfaces(self.role, network, actions=VPC_INTERFACE_ACTIONS,
                                 describe=VPC_DESCRIBE_ACTIONS, service="Lambda")
        acknowledge_wildcard_resource(
            self.role, "*", "ec2:DescribeNetworkInterfaces and ec2:DescribeSubnets, which Lambda calls to "
            "attach the function to its VPC, have no resource-level permissions.")
        function = default_resource(self.function, lambda_.CfnFunction)
        acknowledge_compliance_rule(function, "LambdaDLQ", no_dlq_reason)
        skip_checkov(function, "CKV_AWS_116", no_dlq_reason)
