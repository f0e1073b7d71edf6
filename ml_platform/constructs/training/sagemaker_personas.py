"""``SageMakerPersonas``: roles people assume, allowed to start SageMaker work only the platform's way.

Every create call must name the platform's subnets and security group (``sagemaker:VpcSubnets``,
``sagemaker:VpcSecurityGroupIds``), the lake key for volumes and outputs
(``sagemaker:VolumeKmsKey``, ``sagemaker:OutputKmsKey``) and encrypt traffic between training
instances; people may pass only the platform's execution roles. The data scientist experiments
(processing, training, tuning); the ML engineer also creates models, endpoint configurations and
endpoints, starts pipelines and approves model versions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from ml_platform.constructs.core.compliance import acknowledge_wildcard_resource
from ml_platform.constructs.core.iam_roles import ManagedPolicyRole
from ml_platform.constructs.core.validation import check_problems
from ml_platform.constructs.training.ml_network import INetwork, subnet_ids
from ml_platform.constructs.training.model_registry import ModelRegistry
from ml_platform.constructs.training.sagemaker_roles import SageMakerRoles

#: Job kinds a data scientist may create, with the create action and ARN resource type.
EXPERIMENT_JOBS = (
    ("CreateProcessingJob", "processing-job"),
    ("CreateTrainingJob", "training-job"),
    ("CreateHyperParameterTuningJob", "hyper-parameter-tuning-job"),
)
#: Metadata reads people need, named one by one (no action wildcards).
_READ_ONLY = [
    f"sagemaker:{verb}{noun}"
    for verb, nouns in (
        ("Describe", ("TrainingJob", "ProcessingJob", "HyperParameterTuningJob", "Model", "EndpointConfig",
                      "Endpoint", "ModelPackage", "ModelPackageGroup", "Pipeline", "PipelineExecution")),
        ("List", ("TrainingJobs", "ProcessingJobs", "HyperParameterTuningJobs", "Models", "EndpointConfigs",
                  "Endpoints", "ModelPackages", "ModelPackageGroups", "Pipelines", "PipelineExecutions",
                  "PipelineExecutionSteps")),
    )
    for noun in nouns
] + ["sagemaker:Search"]


class SageMakerPersonas(Construct):
    """``data_scientist`` and ``ml_engineer`` roles for people of ``trusted_account``.

    :param roles: the execution roles people may pass (processing, training; plus inference for
        the ML engineer).
    :param network: the subnets and security group every job and endpoint must use (an
        :class:`~ml_platform.constructs.training.ml_network.MlNetwork` or ``MlNetwork.from_existing``).
    :param key: the key volumes and outputs must be encrypted with (the lake key; an imported key works).
    :param registry: the registry whose versions the ML engineer may approve. Default: none.
    :param models: models of ``registry`` whose versions the ML engineer may approve. Default: none.
    :param trusted_account: account whose principals may assume the roles (through their own IAM
        permissions). Default: this stack's account.
    :param permissions_boundary: applied to both roles. Default: none.
    :raises ValueError: in one line, if ``models`` names a model without ``registry`` or one that is
        not in it.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        roles: SageMakerRoles,
        network: INetwork,
        key: kms.IKey,
        registry: ModelRegistry | None = None,
        models: Sequence[str] = (),
        trusted_account: str | None = None,
        permissions_boundary: iam.IManagedPolicy | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        known = sorted(registry.groups) if registry is not None else []
        check_problems(f"SageMakerPersonas {self.node.path}", [
            f"models names {m!r}, which is not a model of the registry ({', '.join(known) or 'no registry given'})"
            for m in models if m not in known])
        stack = Stack.of(self)
        self._stack, self._network, self._key = stack, network, key
        principal = iam.AccountPrincipal(trusted_account or stack.account)
        self.data_scientist = ManagedPolicyRole(
            self, "DataScientist", assumed_by=principal, description="Experiments with SageMaker in the platform's network")
        self.ml_engineer = ManagedPolicyRole(
            self, "MlEngineer", assumed_by=principal, description="Builds, deploys and approves models in the platform's network")
        for person in (self.data_scientist, self.ml_engineer):
            if permissions_boundary is not None:
                iam.PermissionsBoundary.of(person).apply(permissions_boundary)
            self._read_only(person)
            for action, kind in EXPERIMENT_JOBS:
                self._create_in_network(person, action, kind, volume_key=True, output_key=True,
                                        encrypt_traffic=kind != "processing-job")
            roles.grant_pass(person, *[a for a in ("processing", "training") if a in roles.roles])
        engineer = self.ml_engineer
        self._create_in_network(engineer, "CreateModel", "model", volume_key=False, output_key=False, encrypt_traffic=False)
        self._allow(engineer, ["sagemaker:CreateEndpointConfig"], "endpoint-config",
                    conditions={"StringEquals": {"sagemaker:VolumeKmsKey": key.key_arn}})
        # CreateEndpoint and UpdateEndpoint authorize on the endpoint and the config it deploys.
        self._allow(engineer, ["sagemaker:CreateEndpoint", "sagemaker:UpdateEndpoint"], "endpoint", "endpoint-config")
        self._allow(engineer, ["sagemaker:DeleteEndpoint"], "endpoint")
        self._allow(engineer, ["sagemaker:StartPipelineExecution", "sagemaker:StopPipelineExecution"], "pipeline")
        if "inference" in roles.roles:
            roles.grant_pass(engineer, "inference")
        if registry is not None:
            for model in models:
                registry.grant_approve(engineer, model)

    def _read_only(self, person: ManagedPolicyRole) -> None:
        person.add_to_principal_policy(iam.PolicyStatement(actions=_READ_ONLY, resources=["*"]))
        acknowledge_wildcard_resource(
            person, "*", "The named Describe, List and Search calls of SageMaker read metadata only and "
            "the List and Search calls have no resource-level permissions; no write action has a '*' resource.")

    def _create_in_network(self, person: ManagedPolicyRole, action: str, kind: str, *, volume_key: bool,
                           output_key: bool, encrypt_traffic: bool) -> None:
        subnets = subnet_ids(self._network)
        conditions: dict[str, Any] = {
            "ForAllValues:StringEquals": {
                "sagemaker:VpcSubnets": subnets,
                "sagemaker:VpcSecurityGroupIds": [self._network.job_security_group.security_group_id],
            },
            "Null": {"sagemaker:VpcSubnets": "false", "sagemaker:VpcSecurityGroupIds": "false"},
        }
        equals: dict[str, str] = {}
        if volume_key:
            equals["sagemaker:VolumeKmsKey"] = self._key.key_arn
        if output_key:
            equals["sagemaker:OutputKmsKey"] = self._key.key_arn
        if equals:
            conditions["StringEquals"] = equals
        if encrypt_traffic:
            conditions["Bool"] = {"sagemaker:InterContainerTrafficEncryption": "true"}
        self._allow(person, [f"sagemaker:{action}"], kind, conditions=conditions)
        stop = {"CreateProcessingJob": "StopProcessingJob", "CreateTrainingJob": "StopTrainingJob",
                "CreateHyperParameterTuningJob": "StopHyperParameterTuningJob"}.get(action)
        if stop:
            self._allow(person, [f"sagemaker:{stop}", "sagemaker:AddTags"], kind)

    def _allow(self, person: ManagedPolicyRole, actions: list[str], *kinds: str, conditions: Mapping[str, Any] | None = None) -> None:
        """``actions`` on every resource of each of ``kinds`` (an action may authorize on several)."""
        arns = [self._stack.format_arn(service="sagemaker", resource=kind, resource_name="*") for kind in kinds]
        person.add_to_principal_policy(iam.PolicyStatement(actions=actions, resources=arns, conditions=conditions))
        for kind, arn in zip(kinds, arns):
            acknowledge_wildcard_resource(
                person, arn, f"People name their {kind}s; creating one requires the platform's network, "
                "key and execution roles by condition and by iam:PassRole.")
