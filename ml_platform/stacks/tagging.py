"""Environment tags on every taggable resource, including the raw ones aws-cdk-lib creates itself."""

from __future__ import annotations

from collections.abc import Mapping

import jsii
from aws_cdk import Aspects, CfnResource, IAspect, Tags, TagManager
from constructs import IConstruct

#: Types aws-cdk-lib's custom-resource providers create as plain ``CfnResource`` (which the
#: ``Tags`` aspect cannot reach). Both accept a ``Tags`` list of ``{Key, Value}``.
RAW_TAGGABLE_TYPES = frozenset({"AWS::IAM::Role", "AWS::Lambda::Function"})


@jsii.implements(IAspect)
class _TagRawResources:
    def __init__(self, tags: Mapping[str, str]) -> None:
        self._tags = [{"Key": k, "Value": v} for k, v in sorted(tags.items())]

    def visit(self, node: IConstruct) -> None:
        if (
            isinstance(node, CfnResource)
            and node.cfn_resource_type in RAW_TAGGABLE_TYPES
            and not TagManager.is_taggable(node)
        ):
            node.add_property_override("Tags", self._tags)


def tag_everything(scope: IConstruct, tags: Mapping[str, str]) -> None:
    """Apply ``tags`` to every taggable resource under ``scope``."""
    for key, value in tags.items():
        Tags.of(scope).add(key, value)
    Aspects.of(scope).add(_TagRawResources(tags))
