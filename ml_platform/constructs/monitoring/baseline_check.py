"""``BaselineCheck``: a deploy fails, before anything depending on it is created, while lake objects are missing.

Model Monitor would otherwise start a schedule against a baseline that does not exist and fail
every execution. A ``Custom::MonitoringBaselines`` resource calls the Lambda in
``ml_platform/lambdas/baseline_check`` (in the platform's isolated subnets; it reaches S3 through
the gateway endpoint), which answers CloudFormation FAILED and names the missing objects.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import CustomResource, RemovalPolicy
from aws_cdk import aws_kms as kms
from constructs import Construct

from ml_platform.constructs.core.compliance import DEPLOY_ONLY_DLQ_REASON
from ml_platform.constructs.lake.lake_access import ILake
from ml_platform.constructs.lake.lake_locations import object_folder
from ml_platform.constructs.training.ml_network import INetwork
from ml_platform.constructs.training.sagemaker_roles import LakeObject
from ml_platform.constructs.core.vpc_function import VpcFunction


class BaselineCheck(Construct):
    """Fails the deploy while any of ``objects`` is missing; make resources depend on :attr:`resource`.

    :param lake: where the objects are (a ``DataLake``, or ``DataLake.from_existing``); the
        function may read only their folders.
    :param objects: the lake objects that must exist.
    :param network: the function runs in its subnets with its job security group; any
        :class:`~ml_platform.constructs.training.ml_network.INetwork`.
    :param logs_key: key of the function's log group. This construct does not edit its policy: the
        policy must already let ``logs.<region>.amazonaws.com`` use it (for a key the app creates,
        :func:`ml_platform.constructs.core.keys.allow_cloudwatch_logs`).
    :param removal_policy: of the log group. Default: RETAIN.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        lake: ILake,
        objects: Sequence[LakeObject],
        network: INetwork,
        logs_key: kms.IKey,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        self.handler = VpcFunction(
            self, "Handler", name="baseline_check", network=network, key=logs_key, reserved_concurrency=1,
            description="Fails the deploy while Model Monitor baselines are missing (custom resource handler)",
            no_dlq_reason=DEPLOY_ONLY_DLQ_REASON, removal_policy=removal_policy)
        self.role, self.function = self.handler.role, self.handler.function
        for folder in sorted({(o.zone, object_folder(o.key)) for o in objects}):
            lake.grant_read(self.role, *folder)
        self.resource = CustomResource(
            self, "Check", service_token=self.function.function_arn, resource_type="Custom::MonitoringBaselines",
            properties={"Objects": [lake.s3_uri(o.zone, o.key) for o in objects]},
        )
        self.resource.node.add_dependency(self.role)
