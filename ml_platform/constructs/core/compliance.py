"""Recorded exceptions to the compliance rule packs (cdk-nag) the platform is checked against.

An exception names one rule on one construct with a reason a security reviewer can accept. The
platform's app writes every exception into the template metadata beside its resource.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

import jsii
from aws_cdk import Acknowledgment, CfnResource, Stack, Validations
from aws_cdk import aws_iam as iam
from constructs import Construct, IConstruct, IValidation

#: Rule-id prefixes of the packs that share rule names (HIPAA Security, NIST 800-53 rev 5, PCI DSS 3.2.1).
COMPLIANCE_PACKS = ("HIPAA.Security", "NIST.800.53.R5", "PCI.DSS.321")
#: The packs among COMPLIANCE_PACKS that hold a rule, where not all three do (cdk-nag 3.0.2).
RULE_PACKS = {
    "LambdaDLQ": ("HIPAA.Security", "NIST.800.53.R5"),
    "LambdaConcurrency": ("HIPAA.Security", "NIST.800.53.R5"),
    "SecretsManagerRotationEnabled": ("HIPAA.Security", "NIST.800.53.R5"),
}

_Resource = TypeVar("_Resource", bound=CfnResource)


def default_resource(construct: IConstruct, kind: type[_Resource]) -> _Resource:
    """The CloudFormation resource of ``kind`` that the L2 ``construct`` wraps (its ``node.default_child``).

    :raises TypeError: if ``construct`` wraps no resource of ``kind``.
    """
    child = construct.node.default_child
    if not isinstance(child, kind):
        raise TypeError(f"{construct.node.path}: expected a default child of type {kind.__name__}, "
                        f"got {type(child).__name__}")
    return child


def acknowledge(construct: IConstruct, rule_ids: list[str] | tuple[str, ...], reason: str) -> None:
    """Acknowledge each of ``rule_ids`` on ``construct`` only, with ``reason``."""
    Validations.of(construct).acknowledge(
        *(Acknowledgment(id=rule_id, reason=reason) for rule_id in rule_ids)
    )


def acknowledge_compliance_rule(construct: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge ``rule`` (e.g. ``S3BucketReplicationEnabled``) in each compliance pack that has it."""
    acknowledge(construct, compliance_rule_ids(rule), reason)


def compliance_rule_ids(rule: str) -> list[str]:
    """``<pack>-<rule>`` for each of the compliance packs that holds ``rule``."""
    return [f"{pack}-{rule}" for pack in RULE_PACKS.get(rule, COMPLIANCE_PACKS)]


def skip_checkov(resource: CfnResource, check_id: str, comment: str) -> None:
    """Record a checkov skip of ``check_id`` in ``resource``'s template metadata, with ``comment``."""
    checkov = dict(resource.get_metadata("checkov") or {})
    checkov["skip"] = [*checkov.get("skip", []), {"id": check_id, "comment": comment}]
    resource.add_metadata("checkov", checkov)


def ignore_cfn_lint(resource: CfnResource, rule_id: str, reason: str) -> None:
    """Ignore cfn-lint ``rule_id`` on ``resource`` only; ``reason`` is written beside it."""
    lint = dict(resource.get_metadata("cfn-lint") or {})
    config = dict(lint.get("config", {}))
    config["ignore_checks"] = [*config.get("ignore_checks", []), rule_id]
    lint["config"] = config
    lint["reasons"] = {**lint.get("reasons", {}), rule_id: reason}
    resource.add_metadata("cfn-lint", lint)


#: Construct id aws-cdk-lib gives the stack-wide provider behind ``auto_delete_objects=True``.
S3_AUTO_DELETE_PROVIDER_ID = "Custom::S3AutoDeleteObjectsCustomResourceProvider"
#: Construct id of the provider that removes the default security group's rules of a new VPC.
VPC_RESTRICT_DEFAULT_SG_PROVIDER_ID = "Custom::VpcRestrictDefaultSGCustomResourceProvider"


def explain_s3_auto_delete_provider(stack: Stack) -> None:
    """Record why the function aws-cdk-lib adds for ``auto_delete_objects`` passes review.

    The function exists only in environments that delete data with the stack; CloudFormation
    invokes it synchronously on bucket deletion, and it calls nothing but the S3 API.
    """
    explain_cdk_provider(stack, S3_AUTO_DELETE_PROVIDER_ID, "S3")


#: Why a function that only CloudFormation invokes needs no dead-letter queue.
DEPLOY_ONLY_DLQ_REASON = (
    "Only CloudFormation invokes this function, during a deploy; a failed run fails that deploy "
    "and shows in its stack events, so a dead-letter queue would hold nothing anyone acts on."
)


def explain_cdk_provider(stack: Stack, provider_id: str, api: str) -> None:
    """Record why a stack-wide aws-cdk-lib custom-resource function passes review.

    CloudFormation invokes it synchronously, only during deploys, and it calls only ``api``.
    """
    provider = stack.node.try_find_child(provider_id)
    if provider is None:
        return
    handler = provider.node.find_child("Handler")
    assert isinstance(handler, CfnResource)
    if handler.get_metadata("checkov"):
        return  # already explained for another resource of this stack
    skip_checkov(
        handler,
        "CKV_AWS_116",
        DEPLOY_ONLY_DLQ_REASON,
    )
    skip_checkov(
        handler,
        "CKV_AWS_117",
        f"The function calls only the {api} API during deploys and reaches no VPC resource; "
        "aws-cdk-lib's provider takes no VPC settings.",
    )
    skip_checkov(
        handler,
        "CKV_AWS_115",
        "Only CloudFormation invokes the function, once per resource change; a reserved "
        "concurrency limit would only risk throttling the deploy.",
    )
    ignore_cfn_lint(
        handler,
        "W3005",
        "aws-cdk-lib's provider declares DependsOn its role besides referencing it; the redundant "
        "dependency is harmless and not ours to change.",
    )


# -- wildcard resources of IAM policies (AwsSolutions-IAM5) -------------------------------------------


def flatten_cfn_reference(value: Any) -> str:
    """A resolved CloudFormation value as the flat string cdk-nag uses in finding ids."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.replace("${", "<").replace("}", ">")
    if isinstance(value, dict):
        if value.get("Fn::Join"):
            delimiter: str
            items: list[Any]
            delimiter, items = value["Fn::Join"]
            return delimiter.join(flatten_cfn_reference(item) for item in items)
        if value.get("Fn::Sub"):
            return flatten_cfn_reference(value["Fn::Sub"])
        if value.get("Fn::GetAtt"):
            resource, attribute = value["Fn::GetAtt"]
            return f"<{flatten_cfn_reference(resource)}.{flatten_cfn_reference(attribute)}>"
        if value.get("Fn::ImportValue"):
            return flatten_cfn_reference(value["Fn::ImportValue"])
        if value.get("Ref"):
            return f"<{flatten_cfn_reference(value['Ref'])}>"
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def acknowledge_wildcard_resource(principal: Any, resource: str, reason: str) -> None:
    """Acknowledge ``AwsSolutions-IAM5`` for exactly ``resource`` in ``principal``'s policies.

    ``resource`` is the ARN (token or string) a grant gave, such as the objects under one key
    prefix, which IAM cannot express without a wildcard. The finding id depends on how the
    reference resolves in the consuming stack, known only after CloudFormation references are
    resolved, so the acknowledgment is made then (a construct validation), on each policy under
    ``principal`` that holds the resource, and written into that policy's template metadata.
    """
    if not isinstance(principal, Construct):
        return  # a principal outside the construct tree holds no policy of this app
    construct = principal
    validation = getattr(construct, "_wildcard_acknowledgments", None)
    if validation is None:
        validation = _WildcardAcknowledgments(construct)
        construct.node.add_validation(validation)
        setattr(construct, "_wildcard_acknowledgments", validation)
    validation.entries.append((resource, reason))


@jsii.implements(IValidation)
class _WildcardAcknowledgments:
    def __init__(self, scope: IConstruct) -> None:
        self.scope = scope
        self.entries: list[tuple[str, str]] = []

    def validate(self) -> list[str]:
        for policy in self.scope.node.find_all():
            if not isinstance(policy, (iam.CfnPolicy, iam.CfnManagedPolicy)):
                continue
            stack = Stack.of(policy)
            document = stack.resolve(policy.policy_document) or {}
            present = {
                flatten_cfn_reference(resource)
                for statement in document.get("Statement", [])
                if statement.get("Effect") == "Allow"
                for resource in _as_list(statement.get("Resource"))
            }
            acknowledged: dict[str, str] = {}
            for resource, reason in self.entries:
                flat = flatten_cfn_reference(stack.resolve(resource))
                if "*" in flat and flat in present:
                    acknowledged.setdefault(f"AwsSolutions-IAM5[Resource::{flat}]", reason)
            for rule_id, reason in acknowledged.items():
                acknowledge(policy, [rule_id], reason)
            if acknowledged:
                _add_nag_metadata(policy, acknowledged)
        return []


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _add_nag_metadata(resource: CfnResource, rules: dict[str, str]) -> None:
    """Add ``rules`` (id: reason) to ``resource``'s ``cdk_nag.rules_to_suppress`` metadata, which
    cdk-nag's aspect has written by now from the acknowledgments on and above it (validations run
    after aspects)."""
    existing = dict(resource.get_metadata("cdk_nag") or {})
    listed = list(existing.get("rules_to_suppress", []))
    known = {rule["id"] for rule in listed}
    listed += [{"id": rule_id, "reason": reason} for rule_id, reason in rules.items() if rule_id not in known]
    resource.add_metadata("cdk_nag", {**existing, "rules_to_suppress": listed})
