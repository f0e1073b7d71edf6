"""IAM evaluation for construct tests: one stack's tokens replaced by fixed names, then moto's
policy evaluator, statement by statement, with the string conditions moto does not evaluate.

(``tests/lineage.py`` evaluates whole synthesized environments across stacks; this is the small
in-stack version construct tests use.)
"""

from __future__ import annotations

import fnmatch
import json

from aws_cdk import Stack
from moto.iam.access_control import IAMPolicy, PermissionResult

from ml_platform.constructs.lake.data_lake import DataLake, Zone

#: The fixed names the lake's buckets resolve to.
BUCKETS = {zone: f"fake-{zone.value}" for zone in Zone}
#: The fixed ARN the lake key resolves to.
LAKE_KEY_ARN = "arn:aws:kms:eu-west-1:111111111111:key/fake-lake-key"


def pseudo_parameters(env: dict[str, str]) -> dict[str, str]:
    """CloudFormation's pseudo parameters of a stack in ``env`` (``{"account", "region"}``)."""
    return {"AWS::Partition": "aws", "AWS::Region": env["region"], "AWS::AccountId": env["account"],
            "AWS::URLSuffix": "amazonaws.com"}


class Resolver:
    """Replaces the intrinsic functions of one stack by fixed values: the lake's (if any) buckets by
    :data:`BUCKETS`, the lake key by :data:`LAKE_KEY_ARN`, other references by ``ref-<id>`` /
    ``arn-<id>`` / ``<id>.<attribute>``; ``Fn::Join`` and ``Fn::Sub`` of pseudo parameters."""

    def __init__(self, stack: Stack, lake: DataLake | None, env: dict[str, str]):
        self.pseudo = pseudo_parameters(env)
        self.refs = {stack.resolve(lake.bucket(zone).node.default_child.logical_id): name
                     for zone, name in BUCKETS.items()} if lake is not None else {}
        self.arns = {ref: f"arn:aws:s3:::{name}" for ref, name in self.refs.items()}
        if lake is not None:
            self.arns[stack.resolve(lake.encryption_key.node.default_child.logical_id)] = LAKE_KEY_ARN

    def __call__(self, value):
        if isinstance(value, list):
            return [self(v) for v in value]
        if not isinstance(value, dict):
            return value
        if set(value) == {"Ref"}:
            name = value["Ref"]
            return self.pseudo.get(name) or self.refs.get(name, f"ref-{name}")
        if set(value) == {"Fn::GetAtt"}:
            logical_id, attribute = value["Fn::GetAtt"]
            if attribute == "Arn":
                return self.arns.get(logical_id, f"arn-{logical_id}")
            return f"{logical_id}.{attribute}"
        if set(value) == {"Fn::Join"}:
            separator, parts = value["Fn::Join"]
            return separator.join(self(parts))
        if set(value) == {"Fn::Sub"}:
            text = value["Fn::Sub"]
            for name, replacement in self.pseudo.items():
                text = text.replace("${" + name + "}", replacement)
            return text
        return {k: self(v) for k, v in value.items()}


def _condition_holds(condition: dict | None, context: dict[str, str]) -> bool:
    """StringEquals and StringLike (moto's evaluator ignores StringLike, so they are checked here);
    any other operator counts as not met."""
    for operator, keys in (condition or {}).items():
        if operator not in ("StringEquals", "StringLike"):
            return False
        for name, expected in keys.items():
            expected = [expected] if isinstance(expected, str) else expected
            actual = context.get(name)
            if actual is None:
                return False
            if operator == "StringEquals" and actual not in expected:
                return False
            if operator == "StringLike" and not any(fnmatch.fnmatchcase(actual, e.replace("[", "[[]"))
                                                    for e in expected):
                return False
    return True


def permitted(policy: dict, action: str, resource: str, context: dict[str, str] | None = None) -> bool:
    """Whether an Allow-only policy lets ``action`` on ``resource``: moto's evaluator matches each
    statement's actions and resources, :func:`_condition_holds` its conditions."""
    assert all(s["Effect"] == "Allow" for s in policy["Statement"])
    for statement in policy["Statement"]:
        bare = {k: v for k, v in statement.items() if k != "Condition"}
        document = json.dumps({"Version": "2012-10-17", "Statement": [bare]})
        if (IAMPolicy(document).is_action_permitted(action, resource) == PermissionResult.PERMITTED
                and _condition_holds(statement.get("Condition"), context or {})):
            return True
    return False


def obj(zone: Zone, key: str) -> str:
    """The ARN of object ``key`` in the lake bucket of ``zone``."""
    return f"arn:aws:s3:::{BUCKETS[zone]}/{key}"
