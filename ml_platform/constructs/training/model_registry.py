"""``ModelRegistry``: a model package group per model, and notice of every approval decision.

A training pipeline registers each model that passes evaluation as ``PendingManualApproval``; a
person approves or rejects it (``aws sagemaker update-model-package``), and the decision reaches
the registry's topic through EventBridge (``SageMaker Model Package State Change``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from ml_platform.constructs.core.compliance import acknowledge_wildcard_resource
from ml_platform.constructs.core.naming import pascal_case
from ml_platform.constructs.core.alerting import IAlerts
from ml_platform.constructs.core.validation import check_problems

#: Model package group names SageMaker accepts (63 characters at most).
GROUP_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")


class ModelRegistry(Construct):
    """Model package groups ``<name_prefix>-<model>``; approval decisions go to ``alerts``.

    :param models: model names (letters, digits, ``-``).
    :param name_prefix: e.g. ``mlp-dev``.
    :param alerts: where approval and rejection decisions are sent (an
        :class:`~ml_platform.constructs.core.alerting.AlertRoutes`, also over the app's own topic and
        key). Default: nowhere.
    :param removal_policy: of the groups (DESTROY deletes the registered versions' group).
        Default: RETAIN.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        models: Sequence[str],
        name_prefix: str,
        alerts: IAlerts | None = None,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        names = {model: f"{name_prefix}-{model}" for model in models}
        check_problems(
            f"ModelRegistry {self.node.path}",
            [f"model {m!r} gives group name {n!r}; use letters, digits and '-', 63 characters at most"
             for m, n in names.items() if not GROUP_NAME.match(n)]
            + (["models is empty; name at least one model"] if not names else []),
        )
        self.groups: dict[str, sagemaker.CfnModelPackageGroup] = {}
        for model, name in names.items():
            group = sagemaker.CfnModelPackageGroup(
                self, f"{pascal_case(model)}Group",
                model_package_group_name=name,
                model_package_group_description=f"Versions of {model} awaiting or past approval",
            )
            group.apply_removal_policy(removal_policy)
            self.groups[model] = group
        self.decisions = alerts.route(
            self, "Decided", "A model package was approved or rejected", events.EventPattern(
                source=["aws.sagemaker"], detail_type=["SageMaker Model Package State Change"],
                detail={"ModelPackageGroupName": list(names.values()),
                        "ModelApprovalStatus": ["Approved", "Rejected"]},
            )) if alerts is not None else None

    def group_arn(self, model: str) -> str:
        """The ARN of ``model``'s model package group.

        :raises ValueError: in one line, if ``model`` is not a model of this registry.
        """
        return self._group(model).attr_model_package_group_arn

    def grant_register(self, grantee: iam.IGrantable, model: str) -> iam.Grant:
        """Let ``grantee`` (a pipeline's role) register versions of ``model``:
        ``sagemaker:CreateModelPackage`` and ``sagemaker:DescribeModelPackageGroup`` on its group and
        its versions.

        :raises ValueError: in one line, if ``model`` is not a model of this registry.
        """
        return self._grant(grantee, model, ["sagemaker:CreateModelPackage", "sagemaker:DescribeModelPackageGroup"])

    def grant_approve(self, grantee: iam.IGrantable, model: str) -> iam.Grant:
        """Let ``grantee`` (a person's role) approve or reject versions of ``model``:
        ``sagemaker:UpdateModelPackage``, ``sagemaker:DescribeModelPackage`` and
        ``sagemaker:ListModelPackages`` on its group and its versions.

        :raises ValueError: in one line, if ``model`` is not a model of this registry.
        """
        return self._grant(grantee, model, ["sagemaker:UpdateModelPackage", "sagemaker:DescribeModelPackage",
                                            "sagemaker:ListModelPackages"])

    def _group(self, model: str) -> sagemaker.CfnModelPackageGroup:
        found = self.groups.get(model)
        if found is None:
            raise ValueError(f"ModelRegistry {self.node.path}: model {model!r} is unknown; "
                             f"allowed: {', '.join(self.groups)}")
        return found

    def _grant(self, grantee: iam.IGrantable, model: str, actions: list[str]) -> iam.Grant:
        name = self._group(model).model_package_group_name
        versions = Stack.of(self).format_arn(service="sagemaker", resource="model-package", resource_name=f"{name}/*")
        acknowledge_wildcard_resource(
            grantee.grant_principal, versions,
            f"Versions of {name} are numbered by SageMaker as they are registered; the grant covers "
            "that one model package group.")
        return iam.Grant.add_to_principal(
            grantee=grantee, actions=actions, resource_arns=[self.group_arn(model), versions])
