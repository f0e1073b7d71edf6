"""``BaselineCheck``: a deploy fails, before anything depending on it is created, while lake objects are missing.

Model Monitor would otherwise start a schedule against a baseline that does not exist and fail
every execution. A ``Custom::MonitoringBaselines`` resource calls the Lambda in
``ml_platform/lambdas/baseline_check`` (in the platform's isolated subnets; it reaches S3 through
the gateway endpoint), which answers CloudFormation FAILED and names the missing objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from aws_cdk import CustomResource, Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from ml_platform.constructs.compliance import DEPLOY_ONLY_DLQ_REASON, acknowledge, acknowledge_compliance_rule, skip_checkov
from ml_platform.constructs.data_lake import DataLake
from ml_platform.constructs.iam_roles import ManagedPolicyRole
from ml_platform.constructs.ml_network import MlNetwork
from ml_platform.constructs.recipe_publisher import RUNTIME
from ml_platform.constructs.sagemaker_roles import LakeObject

HANDLER_DIR = Path(__file__).resolve().parent.parent / "lambdas" / "baseline_check"
_VPC_ACCESS = ("AWS's AWSLambdaVPCAccessExecutionRole, which aws-cdk-lib attaches to functions in a VPC, "
               "only lets Lambda manage the function's network interfaces in the platform's subnets.")


def object_folder(key: str) -> str:
    """The prefix (``a/b/``) holding ``key`` (``a/b/c.json``), or ``""`` at the zone's root."""
    return key.rpartition("/")[0] + "/" if "/" in key else ""


class BaselineCheck(Construct):
    """Fails the deploy while any of ``objects`` is missing; make resources depend on :attr:`resource`.

    :param lake: where the objects are; the function may read only their folders.
    :param objects: the lake objects that must exist.
    :param network: the function runs in its isolated subnets with its job security group.
    :param logs_key: key of the function's log group (it must admit CloudWatch Logs).
    :param removal_policy: of the log group. Default: RETAIN.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        lake: DataLake,
        objects: Sequence[LakeObject],
        network: MlNetwork,
        logs_key: kms.IKey,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        self.role = ManagedPolicyRole.for_service(self, "Role", service="lambda.amazonaws.com",
                                                  description="Checks that Model Monitor baselines exist during deploys")
        for folder in sorted({(o.zone, object_folder(o.key)) for o in objects}):
            lake.grant_read(self.role, *folder)
        self.function = lambda_.Function(
            self, "Function", runtime=RUNTIME, handler="handler.on_event",
            code=lambda_.Code.from_asset(str(HANDLER_DIR), exclude=["__pycache__", "*.pyc", "__init__.py"]),
            role=self.role, timeout=Duration.minutes(1), memory_size=128, reserved_concurrent_executions=1,
            vpc=network.vpc, vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
            security_groups=[network.job_security_group],
            log_group=logs.LogGroup(self, "Logs", encryption_key=logs_key, retention=logs.RetentionDays.ONE_YEAR,
                                    removal_policy=removal_policy),
            description="Fails the deploy while Model Monitor baselines are missing (custom resource handler)",
        )
        function = self.function.node.default_child
        acknowledge_compliance_rule(function, "LambdaDLQ", DEPLOY_ONLY_DLQ_REASON)
        skip_checkov(function, "CKV_AWS_116", DEPLOY_ONLY_DLQ_REASON)
        acknowledge(self.role, ["AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                                "AWSLambdaVPCAccessExecutionRole]"], _VPC_ACCESS)
        self.resource = CustomResource(
            self, "Check", service_token=self.function.function_arn, resource_type="Custom::MonitoringBaselines",
            properties={"Objects": [lake.s3_uri(o.zone, o.key) for o in objects]},
        )
        self.resource.node.add_dependency(self.role)
