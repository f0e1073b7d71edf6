"""What an endpoint or a batch transform runs: a model package version or containers, as a SageMaker model.

A :class:`ModelSource` is either one approved version of the registry (its inference
specification names the images and model data) or up to 15 containers given directly (an image
URI and, optionally, model data in the lake), which SageMaker chains as a serial inference
pipeline: each container's response is the next one's request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from collections.abc import Mapping

from aws_cdk import Token
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from ml_platform.constructs.lake.lake_access import ILake
from ml_platform.constructs.serving.endpoint_settings import MODEL_PACKAGE_ARN, ModelOptions
from ml_platform.constructs.lake.lake_locations import LakeDataset
from ml_platform.constructs.training.ml_network import INetwork, subnet_ids

#: SageMaker chains at most 15 containers in an inference pipeline.
MAX_CONTAINERS = 15
MODEL_DATA_URL = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/\S+$")


def package_arn_problems(model_package_arn: str) -> list[str]:
    """A problem line if ``model_package_arn`` is not the ARN of one model package version."""
    if Token.is_unresolved(model_package_arn) or MODEL_PACKAGE_ARN.match(model_package_arn):
        return []
    return [f"model_package_arn {model_package_arn!r} is not the ARN of a model package version "
            "(arn:aws:sagemaker:<region>:<account>:model-package/<group>/<version>)"]


@dataclass(frozen=True)
class ModelContainer:
    """One container of a model.

    :ivar image_uri: the image, e.g. ``<account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>``
        or a built-in algorithm's image.
    :ivar model_data_url: ``s3://<bucket>/<key>.tar.gz`` of the model artifacts. Default: none.
    :ivar environment: variables of this container, over the model's own. Default: none.
    """

    image_uri: str
    model_data_url: str | None = None
    environment: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelSource:
    """A model package version (:meth:`package`) or containers (:meth:`pipeline`).

    :ivar artifacts: lake locations SageMaker loads the model data from, as the model's role;
        :func:`source_model` grants the role exactly these. Default: none.
    """

    package_arn: str | None = None
    containers: tuple[ModelContainer, ...] = ()
    artifacts: tuple[LakeDataset, ...] = ()

    @classmethod
    def package(cls, model_package_arn: str, artifacts: LakeDataset | None = None) -> ModelSource:
        """One approved version, ``arn:aws:sagemaker:<region>:<account>:model-package/<group>/<n>``,
        whose model data is in ``artifacts`` (e.g. a :class:`TrainingPipeline`'s ``model_artifacts``)."""
        return cls(package_arn=model_package_arn, artifacts=(artifacts,) if artifacts else ())

    @classmethod
    def pipeline(cls, *containers: ModelContainer, artifacts: tuple[LakeDataset, ...] = ()) -> ModelSource:
        """Containers in order; more than one makes a serial inference pipeline."""
        return cls(containers=tuple(containers), artifacts=artifacts)

    def problems(self) -> list[str]:
        if self.package_arn is not None:
            return package_arn_problems(self.package_arn) + (
                ["give a model package or containers, not both"] if self.containers else [])
        if not 1 <= len(self.containers) <= MAX_CONTAINERS:
            return [f"a model needs 1-{MAX_CONTAINERS} containers, not {len(self.containers)}"]
        return [f"containers[{i}].model_data_url {c.model_data_url!r} is not s3://<bucket>/<key>"
                for i, c in enumerate(self.containers)
                if c.model_data_url is not None and not Token.is_unresolved(c.model_data_url)
                and not MODEL_DATA_URL.match(c.model_data_url)]


def source_model(scope: Construct, construct_id: str, *, source: ModelSource, role: iam.IRole,
                 network: INetwork | None, options: ModelOptions, lake: ILake | None = None) -> sagemaker.CfnModel:
    """A model without a fixed name (replaced when what it runs changes) running as ``role``
    with ``options``, in the network's subnets and job security group (any :class:`INetwork`)
    unless ``network`` is None; ``role`` is granted the source's ``artifacts`` in ``lake`` (any
    :class:`ILake`; default: none, allowed only for a source without artifacts)."""
    if source.artifacts:
        if lake is None:
            raise ValueError(f"source_model {construct_id}: a source with artifacts needs the lake they are in")
        for artifacts in source.artifacts:
            lake.grant_read(role, artifacts.zone, artifacts.prefix)
    environment = dict(options.environment)
    if source.package_arn is not None:
        containers = [sagemaker.CfnModel.ContainerDefinitionProperty(
            model_package_name=source.package_arn, environment=environment or None)]
    else:
        containers = [sagemaker.CfnModel.ContainerDefinitionProperty(
            image=c.image_uri, model_data_url=c.model_data_url,
            environment={**environment, **c.environment} or None) for c in source.containers]
    model = sagemaker.CfnModel(
        scope, construct_id,
        execution_role_arn=role.role_arn,
        containers=containers,
        inference_execution_config=sagemaker.CfnModel.InferenceExecutionConfigProperty(mode="Serial")
        if len(containers) > 1 else None,
        enable_network_isolation=options.network_isolation,
        vpc_config=sagemaker.CfnModel.VpcConfigProperty(
            subnets=subnet_ids(network),
            security_group_ids=[network.job_security_group.security_group_id],
        ) if network is not None else None,
    )
    if isinstance(role, Construct):
        model.node.add_dependency(role)  # the role's policies exist before SageMaker uses them
    return model
