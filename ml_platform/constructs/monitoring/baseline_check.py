"""``BaselineCheck``: a deploy fails, before anything depending on it is created, while lake objects are missing.

Model Monitor would otherwise start a schedule against a baseline that does not exist and fail
every execution. A ``Custom::MonitoringBaselines`` resource calls the Lambda in
``ml_platform/lambdas/baseline_check`` (in the platform's isolated subnets; it reaches S3 through
the gateway endpoint), which answers CloudFormation FAILED and names the missing objects.

With ``model_package_arn``, the function first copies the baselines that model package version
registered (``DriftCheckBaselines``, as the platform's training pipeline registers them) to the
objects the monitors read, so that they compare with the version the endpoint serves; a deploy
that serves another version copies that version's. It reaches SageMaker's API through the
network's ``sagemaker_api`` interface endpoint.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import CustomResource, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from ml_platform.constructs.core.compliance import DEPLOY_ONLY_DLQ_REASON
from ml_platform.constructs.core.validation import check_problems
from ml_platform.constructs.lake.lake_access import ILake
from ml_platform.constructs.lake.lake_locations import object_folder
from ml_platform.constructs.training.ml_network import INetwork
from ml_platform.constructs.training.sagemaker_roles import LakeLocation, LakeObject
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
    :param model_package_arn: a model package version whose registered baselines are copied to
        ``copies`` before the check. Default: none (nothing is copied).
    :param copies: ``DriftCheckBaselines`` path (``ModelDataQuality.Statistics``,
        ``ModelDataQuality.Constraints``, ``ModelQuality.Constraints``, ...) to the lake object it is
        copied to; each must be among ``objects``. Default: none.
    :param registered_in: where the registered baselines lie (the function may read only there).
        Required with ``model_package_arn``.
    :raises ValueError: in one line, if ``copies`` or ``registered_in`` come without
        ``model_package_arn`` or the reverse, or a copy's target is not among ``objects``.
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
        model_package_arn: str | None = None,
        copies: Mapping[str, LakeObject] | None = None,
        registered_in: LakeLocation | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        copies = dict(copies or {})
        problems = []
        if model_package_arn is None and (copies or registered_in is not None):
            problems.append("copies and registered_in need model_package_arn, the version whose baselines are copied")
        if model_package_arn is not None and (not copies or registered_in is None):
            problems.append("model_package_arn needs copies (what to copy where) and registered_in (where they lie)")
        problems += [f"copies: {path} goes to {target.zone}/{target.key}, which is not among objects"
                     for path, target in copies.items() if target not in objects]
        check_problems(f"BaselineCheck {self.node.path}", problems)
        self.handler = VpcFunction(
            self, "Handler", name="baseline_check", network=network, key=logs_key, reserved_concurrency=1,
            description="Fails the deploy while Model Monitor baselines are missing (custom resource handler)",
            no_dlq_reason=DEPLOY_ONLY_DLQ_REASON, removal_policy=removal_policy)
        self.role, self.function = self.handler.role, self.handler.function
        for folder in sorted({(o.zone, object_folder(o.key)) for o in objects}):
            lake.grant_read(self.role, *folder)
        properties: dict[str, object] = {"Objects": [lake.s3_uri(o.zone, o.key) for o in objects]}
        if model_package_arn is not None and registered_in is not None:
            self.role.add_to_principal_policy(iam.PolicyStatement(
                actions=["sagemaker:DescribeModelPackage"], resources=[model_package_arn]))
            lake.grant_read(self.role, registered_in.zone, registered_in.prefix)
            for folder in sorted({(o.zone, object_folder(o.key)) for o in copies.values()}):
                lake.grant_write(self.role, *folder)
            properties["ModelPackageArn"] = model_package_arn
            properties["Copies"] = {path: lake.s3_uri(o.zone, o.key) for path, o in sorted(copies.items())}
        self.resource = CustomResource(
            self, "Check", service_token=self.function.function_arn, resource_type="Custom::MonitoringBaselines",
            properties=properties,
        )
        self.resource.node.add_dependency(self.role)
