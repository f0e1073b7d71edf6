"""Recorded exceptions to the compliance rule packs (cdk-nag) the platform is checked against.

An exception names one rule on one construct with a reason a security reviewer can accept. The
platform's app writes every exception into the template metadata beside its resource.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, CfnResource, Stack, Validations
from constructs import IConstruct

#: Rule-id prefixes of the packs that share rule names (HIPAA Security, NIST 800-53 rev 5, PCI DSS 3.2.1).
COMPLIANCE_PACKS = ("HIPAA.Security", "NIST.800.53.R5", "PCI.DSS.321")


def acknowledge(construct: IConstruct, rule_ids: list[str] | tuple[str, ...], reason: str) -> None:
    """Acknowledge each of ``rule_ids`` on ``construct`` only, with ``reason``."""
    Validations.of(construct).acknowledge(
        *(Acknowledgment(id=rule_id, reason=reason) for rule_id in rule_ids)
    )


def acknowledge_compliance_rule(construct: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge ``rule`` (e.g. ``S3BucketReplicationEnabled``) of every compliance pack."""
    acknowledge(construct, [f"{pack}-{rule}" for pack in COMPLIANCE_PACKS], reason)


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


def explain_s3_auto_delete_provider(stack: Stack) -> None:
    """Record why the function aws-cdk-lib adds for ``auto_delete_objects`` passes review.

    The function exists only in environments that delete data with the stack; CloudFormation
    invokes it synchronously on bucket deletion, and it calls nothing but the S3 API.
    """
    provider = stack.node.try_find_child(S3_AUTO_DELETE_PROVIDER_ID)
    if provider is None:
        return
    handler = provider.node.find_child("Handler")
    assert isinstance(handler, CfnResource)
    if handler.get_metadata("checkov"):
        return  # already explained by another bucket of this stack
    skip_checkov(
        handler,
        "CKV_AWS_116",
        "CloudFormation invokes this custom resource synchronously and retries it; an "
        "asynchronous dead-letter queue would never receive an event.",
    )
    skip_checkov(
        handler,
        "CKV_AWS_117",
        "The function calls only the S3 API to empty buckets on stack deletion and reaches no "
        "VPC resource; aws-cdk-lib's provider takes no VPC settings.",
    )
    skip_checkov(
        handler,
        "CKV_AWS_115",
        "Only CloudFormation invokes the function, once per bucket deletion; a reserved "
        "concurrency limit would only risk throttling stack deletion.",
    )
    ignore_cfn_lint(
        handler,
        "W3005",
        "aws-cdk-lib's provider declares DependsOn its role besides referencing it; the redundant "
        "dependency is harmless and not ours to change.",
    )
