"""Environment tags on every taggable resource, including the raw ones aws-cdk-lib creates itself."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import CfnResource, Tags, TagManager
from constructs import IConstruct

#: Types aws-cdk-lib's custom-resource providers create as plain ``CfnResource`` (which the
#: ``Tags`` aspect cannot reach). Both accept a ``Tags`` list of ``{Key, Value}``.
RAW_TAGGABLE_TYPES = frozenset({"AWS::IAM::Role", "AWS::Lambda::Function"})


def tag_everything(scope: IConstruct, tags: Mapping[str, str]) -> None:
    """Apply ``tags`` to every taggable resource under ``scope``: through aws-cdk-lib's ``Tags``
    aspect (resources added later included) and, to raw ``CfnResource`` s of
    :data:`RAW_TAGGABLE_TYPES` (aws-cdk-lib's custom-resource providers), directly; call it once
    the scope holds its resources, since a raw resource added after the call is not tagged.

    A walk here rather than an aspect of our own: an aspect written in Python is called back from
    aws-cdk-lib's process for every construct of the scope, the slowest way to find the few raw ones.
    """
    for key, value in tags.items():
        Tags.of(scope).add(key, value)
    aws_tags = [{"Key": k, "Value": v} for k, v in sorted(tags.items())]
    for node in scope.node.find_all():
        if (type(node) is CfnResource  # noqa: E721  (the L1 subclasses are taggable through Tags)
                and node.cfn_resource_type in RAW_TAGGABLE_TYPES and not TagManager.is_taggable(node)):
            node.add_property_override("Tags", aws_tags)
