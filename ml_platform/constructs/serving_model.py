"""A SageMaker model from one model package version, shared by endpoints and batch transform."""

from __future__ import annotations

from aws_cdk import Token
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from ml_platform.constructs.endpoint_settings import MODEL_PACKAGE_ARN, ModelOptions
from ml_platform.constructs.ml_network import MlNetwork


def package_arn_problems(model_package_arn: str) -> list[str]:
    """A problem line if ``model_package_arn`` is not the ARN of one model package version."""
    if Token.is_unresolved(model_package_arn) or MODEL_PACKAGE_ARN.match(model_package_arn):
        return []
    return [f"model_package_arn {model_package_arn!r} is not the ARN of a model package version "
            "(arn:aws:sagemaker:<region>:<account>:model-package/<group>/<version>)"]


def package_model(scope: Construct, construct_id: str, *, model_package_arn: str, role: iam.IRole,
                  network: MlNetwork, options: ModelOptions) -> sagemaker.CfnModel:
    """A model without a fixed name (replaced when the version changes) running as ``role`` in
    the network's isolated subnets and job security group, with ``options``."""
    model = sagemaker.CfnModel(
        scope, construct_id,
        execution_role_arn=role.role_arn,
        containers=[sagemaker.CfnModel.ContainerDefinitionProperty(
            model_package_name=model_package_arn, environment=dict(options.environment) or None)],
        enable_network_isolation=options.network_isolation,
        vpc_config=sagemaker.CfnModel.VpcConfigProperty(
            subnets=[s.subnet_id for s in network.vpc.isolated_subnets],
            security_group_ids=[network.job_security_group.security_group_id],
        ),
    )
    if isinstance(role, Construct):
        model.node.add_dependency(role)  # the role's policies exist before SageMaker uses them
    return model
