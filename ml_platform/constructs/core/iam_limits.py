"""IAM size quotas checked at synth: a role that IAM would refuse fails ``cdk synth``, not a deploy.

IAM counts the characters of a policy without whitespace (IAM User Guide, "IAM and AWS STS
quotas"). Documents are measured as compact JSON (``json.dumps(separators=(",", ":"))``) after
resolving them as the template will hold them (statements merged as aws-cdk-lib renders them). A
value CloudFormation fills in at deploy time (``Ref``, ``Fn::GetAtt``, a cross-stack output) is
counted as the longest text it becomes: IDs and ARNs of the types in :data:`ATTRIBUTE_CHARS` at
their longest (longest partition, region and generated name), pseudo parameters by
:data:`PSEUDO_PARAMETER_CHARS`, anything else as :data:`TOKEN_CHARS`. The check thus errs on the
side of refusing a role that might still fit. Quotas raised for an account are not known here.

Checked for every ``AWS::IAM::Role`` of a scope's stacks:

* each managed policy (``AWS::IAM::ManagedPolicy``) it has: :data:`MANAGED_POLICY_MAX_CHARS`;
* its inline policies together (``Policies`` and ``AWS::IAM::Policy`` resources):
  :data:`ROLE_INLINE_POLICIES_MAX_CHARS`;
* its trust policy: :data:`TRUST_POLICY_MAX_CHARS` (default quota);
* the managed policies attached to it: :data:`MANAGED_POLICIES_PER_ROLE` (default quota).

Policies attached to roles of other stacks or imported roles are measured alone (the role's
other policies are unknown here); users and groups are not checked.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

import jsii
from aws_cdk import CfnOutput, CfnResource, DefaultTokenResolver, Reference, Stack, StringConcat, Tokenization
from aws_cdk import aws_iam as iam
from constructs import IConstruct, IValidation

#: Characters of one managed policy document.
MANAGED_POLICY_MAX_CHARS = 6_144
#: Characters of all inline policies of one role together.
ROLE_INLINE_POLICIES_MAX_CHARS = 10_240
#: Characters of a role's trust policy (default quota; raising it takes a quota request).
TRUST_POLICY_MAX_CHARS = 2_048
#: Managed policies attached to one role (default quota; 20 with a quota increase).
MANAGED_POLICIES_PER_ROLE = 10
#: Characters counted for a ``Ref`` or ``Fn::GetAtt`` this module has no better estimate for:
#: longer than the ARN of any resource CloudFormation names, e.g. a SageMaker endpoint ARN with a
#: 63-character name in ``aws-us-gov`` and a 14-character region (125).
TOKEN_CHARS = 128
#: Characters counted for ``Ref`` (attribute ``"Ref"``) or an attribute of a resource type: an
#: ID's documented length, or an ARN in ``aws-us-gov`` (longest partition) with a 16-character
#: region and the longest name CloudFormation generates (bucket 63, role 64 with path ``/``).
ATTRIBUTE_CHARS: dict[tuple[str, str], int] = {
    ("AWS::EC2::Subnet", "Ref"): 24,  # subnet- and 17 hex digits
    ("AWS::EC2::SecurityGroup", "GroupId"): 20,  # sg- and 17 hex digits
    ("AWS::EC2::SecurityGroup", "Ref"): 20,
    ("AWS::EC2::VPC", "Ref"): 21,
    ("AWS::EC2::VPC", "DefaultSecurityGroup"): 20,
    ("AWS::KMS::Key", "Ref"): 36,  # key ID: a UUID
    ("AWS::KMS::Key", "Arn"): 89,  # arn:aws-us-gov:kms:<region>:<account>:key/<UUID>
    ("AWS::S3::Bucket", "Ref"): 63,
    ("AWS::S3::Bucket", "Arn"): 83,  # arn:aws-us-gov:s3::: and the name
    ("AWS::IAM::Role", "Ref"): 64,
    ("AWS::IAM::Role", "Arn"): 102,  # arn:aws-us-gov:iam::<account>:role/ and the name
}
#: Characters counted for pseudo parameters: their longest value in any partition.
PSEUDO_PARAMETER_CHARS = {
    "AWS::AccountId": 12,
    "AWS::Partition": 10,  # aws-us-gov
    "AWS::Region": 16,  # the longest region names have 14
    "AWS::URLSuffix": 16,  # amazonaws.com.cn
    "AWS::StackName": 128,
    "AWS::StackId": 256,
    "AWS::NoValue": 0,
}
#: Empty policy document: what a managed policy costs before its first statement.
EMPTY_DOCUMENT_CHARS = len('{"Version":"2012-10-17","Statement":[]}')

_SUB_VARIABLE = re.compile(r"\$\{(?!!)([^}]*)\}")
_KINDS = ("AWS::IAM::Role", "AWS::IAM::ManagedPolicy", "AWS::IAM::Policy")
#: Their L1 classes (found without asking aws-cdk-lib each resource's type).
_IAM_CLASSES = (iam.CfnRole, iam.CfnManagedPolicy, iam.CfnPolicy)


def estimated_statement(scope: IConstruct, statement: iam.PolicyStatement) -> dict[str, Any]:
    """``statement`` resolved in ``scope``'s stack, each reference replaced by a distinct string of
    its estimated length; ``document_chars`` of it is its estimated size."""
    return dict(_resolve(_stack(scope), statement.to_statement_json()))


def bounding_statement(scope: IConstruct, statement: iam.PolicyStatement) -> dict[str, Any]:
    """Like :func:`estimated_statement`, but cheaper and never shorter: every reference to a
    resource counts :data:`TOKEN_CHARS` whatever its type (a pseudo parameter its own length).

    aws-cdk-lib resolves the statement in one call, where :func:`estimated_statement` calls back
    into Python for each token to learn what it refers to. Each distinct intrinsic becomes a
    distinct string, so statements that aws-cdk-lib would merge or drop as duplicates compare the
    same way as their estimates do. A sum of bounds that fits a quota proves the estimates fit it.
    """
    resolved = _stack(scope).resolve(statement.to_statement_json())
    return dict(_render(resolved, _Lookup({}, {}, {}), distinct=True))


def _stack(scope: IConstruct) -> Stack:
    return scope if isinstance(scope, Stack) else Stack.of(scope)


def document_chars(document: Any) -> int:
    """Estimated characters IAM counts for a resolved policy document or statement."""
    return _chars(document)


def check_iam_sizes(scope: IConstruct) -> None:
    """Fail synthesis of ``scope`` (an App, Stage or Stack) if a role under it exceeds an IAM quota.

    Adds a validation to every stack under ``scope`` (call it after the stacks are added; aws-cdk-lib
    runs the validations of stacks, not of the app itself). It runs when the app synthesizes,
    after aspects (aws-cdk-lib splits large default policies there); synthesis then fails with one
    line per violation, naming the role by construct path, the document, its estimated size and
    the quota. Calling it again adds nothing.
    """
    for stack in [c for c in scope.node.find_all() if isinstance(c, Stack)]:
        if not getattr(stack, "_iam_size_check", False):
            stack.node.add_validation(_IamSizeValidation(stack))
            setattr(stack, "_iam_size_check", True)


def iam_size_problems(scope: IConstruct) -> list[str]:
    """One line per IAM quota the roles under ``scope`` exceed (see the module docstring).

    Each stack's documents are first bounded with aws-cdk-lib's own resolution (a reference to
    another stack counted as :data:`TOKEN_CHARS`, at least any estimate); only documents whose
    bound exceeds a quota are estimated reference by reference, and only estimates are reported.
    """
    problems: list[str] = []
    for stack in [c for c in scope.node.find_all() if isinstance(c, Stack)]:
        iam_resources = [
            (cfn, stack.resolve(cfn.logical_id)) for cfn in stack.node.find_all()
            if (isinstance(cfn, _IAM_CLASSES) or type(cfn) is CfnResource and cfn.cfn_resource_type in _KINDS)
            and Stack.of(cfn) is stack
        ]
        # a bound over a quota: measure the documents of that quota again, reference by reference
        bounds = {lid: {"Type": cfn.cfn_resource_type, "Path": cfn.node.path.removesuffix("/Resource"),
                        "Properties": _properties(stack, cfn, precise=False)} for cfn, lid in iam_resources}
        violations = _violations(bounds, _Lookup(bounds, {}, {}))
        if not violations:
            continue
        implicated = set().union(*(lids for lids, _ in violations))
        resources = {lid: {**bounds[lid], "Properties": _properties(stack, cfn)} if lid in implicated else bounds[lid]
                     for cfn, lid in iam_resources}
        violations = _violations(resources, _Lookup(resources, {}, {}))
        if any(lids - implicated for lids, _ in violations):  # a bound still took part: measure them all
            resources = {lid: {**bounds[lid], "Properties": _properties(stack, cfn)} for cfn, lid in iam_resources}
            violations = _violations(resources, _Lookup(resources, {}, {}))
        problems += [message for _, message in violations]
    return problems


def template_problems(templates: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """:func:`iam_size_problems` of synthesized templates, ``{stack name: template}`` of one
    environment (outputs of these stacks give cross-stack values their type). Resources are
    named by their ``aws:cdk:path`` metadata, else by logical ID."""
    problems: list[str] = []
    for name, template in templates.items():
        problems += _problems(_named_resources(name, template), _template_lookup(templates, template))
    return problems


def largest_policy_share(templates: Mapping[str, Mapping[str, Any]], stack: str) -> tuple[float, str]:
    """The IAM document of ``stack`` (a key of ``templates``) nearest its quota: its estimated
    share of the quota and a description, e.g. ``(0.71, "managed policy RolePolicy: 4,362 of
    6,144")``; ``(0.0, "")`` without one. Measured as :func:`template_problems` measures."""
    template = templates[stack]
    lookup = _template_lookup(templates, template)
    best: tuple[float, str] = (0.0, "")
    for lid, resource in template.get("Resources", {}).items():
        props = resource.get("Properties", {})
        documents = {
            "AWS::IAM::ManagedPolicy": [("managed policy", props.get("PolicyDocument"), MANAGED_POLICY_MAX_CHARS)],
            "AWS::IAM::Policy": [("policy", props.get("PolicyDocument"), ROLE_INLINE_POLICIES_MAX_CHARS)],
            "AWS::IAM::Role": [("trust policy of", props.get("AssumeRolePolicyDocument"), TRUST_POLICY_MAX_CHARS)],
        }.get(resource.get("Type", ""), [])
        for kind, document, quota in documents:
            if document is not None:
                size = _chars(document, lookup)
                best = max(best, (size / quota, f"{kind} {lid}: {size:,} of {quota:,}"))
    return best


def _named_resources(name: str, template: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {lid: {**r, "Path": f"{name}/{r.get('Metadata', {}).get('aws:cdk:path', lid)}"}
            for lid, r in template.get("Resources", {}).items()}


def _template_lookup(templates: Mapping[str, Mapping[str, Any]], template: Mapping[str, Any]) -> _Lookup:
    outputs = {
        (name, output): (value.get("Value"), other)
        for name, other in templates.items() for output, value in other.get("Outputs", {}).items()
    }
    exports = {
        json.dumps(value["Export"]["Name"]): (value.get("Value"), other)
        for other in templates.values() for value in other.get("Outputs", {}).values() if "Export" in value
    }
    return _Lookup(template.get("Resources", {}), outputs, exports)


# -- the quotas ----------------------------------------------------------------------------------


class _Lookup:
    """What the intrinsics of one template refer to: its resources, and other stacks' outputs."""

    def __init__(self, resources: Mapping[str, Any], outputs: Mapping[Any, Any], exports: Mapping[str, Any]) -> None:
        self.resources, self.outputs, self.exports = resources, outputs, exports


def _problems(resources: Mapping[str, Mapping[str, Any]], lookup: _Lookup) -> list[str]:
    return [message for _, message in _violations(resources, lookup)]


def _violations(resources: Mapping[str, Mapping[str, Any]], lookup: _Lookup) -> list[tuple[set[str], str]]:
    """Each quota exceeded: the logical IDs whose documents were measured for it, and the line."""
    def name(logical_id: str) -> str:
        return str(resources[logical_id].get("Path") or logical_id)

    def chars(document: Any) -> int:
        return _chars(document, lookup)

    roles = {lid: r.get("Properties", {}) for lid, r in resources.items() if r.get("Type") == "AWS::IAM::Role"}
    inline = {
        lid: [(str(_get(p, "PolicyName")), chars(_get(p, "PolicyDocument"))) for p in _list(props.get("Policies"))]
        for lid, props in roles.items()
    }
    inline_ids: dict[str, set[str]] = {lid: {lid} for lid in roles}
    attached = {lid: {json.dumps(a, sort_keys=True) for a in _list(props.get("ManagedPolicyArns"))}
                for lid, props in roles.items()}
    problems: list[tuple[set[str], str]] = []
    for lid, resource in resources.items():
        kind, props = resource.get("Type"), resource.get("Properties", {})
        targets = [r["Ref"] for r in _list(props.get("Roles")) if isinstance(r, dict) and r.get("Ref") in roles]
        if kind == "AWS::IAM::ManagedPolicy":
            for role in targets:
                attached[role].add(json.dumps({"Ref": lid}))
            size = chars(props.get("PolicyDocument"))
            if size > MANAGED_POLICY_MAX_CHARS:
                owners = "".join(f" of role {name(r)}" for r in targets[:1])
                problems.append(({lid}, f"managed policy {name(lid)}{owners} is about {size:,} characters; "
                                f"IAM allows {MANAGED_POLICY_MAX_CHARS:,}"))
        elif kind == "AWS::IAM::Policy":
            size = chars(props.get("PolicyDocument"))
            for role in targets:
                inline[role].append((name(lid), size))
                inline_ids[role].add(lid)
            if not targets and size > ROLE_INLINE_POLICIES_MAX_CHARS:
                problems.append(({lid}, f"policy {name(lid)} is about {size:,} characters; "
                                f"IAM allows {ROLE_INLINE_POLICIES_MAX_CHARS:,} of inline policies per role"))
    for lid, props in roles.items():
        trust = chars(props.get("AssumeRolePolicyDocument"))
        if trust > TRUST_POLICY_MAX_CHARS:
            problems.append(({lid}, f"role {name(lid)}: trust policy is about {trust:,} characters; "
                            f"IAM allows {TRUST_POLICY_MAX_CHARS:,} by default"))
        total = sum(size for _, size in inline[lid])
        if total > ROLE_INLINE_POLICIES_MAX_CHARS:
            problems.append((inline_ids[lid], f"role {name(lid)}: inline policies ({', '.join(n for n, _ in inline[lid])}) are about "
                            f"{total:,} characters together; IAM allows {ROLE_INLINE_POLICIES_MAX_CHARS:,}"))
        if len(attached[lid]) > MANAGED_POLICIES_PER_ROLE:
            problems.append((set(), f"role {name(lid)}: {len(attached[lid])} managed policies attached; IAM allows "
                            f"{MANAGED_POLICIES_PER_ROLE} by default (20 with a quota increase)"))
    return problems


# -- resolving and estimating ---------------------------------------------------------------------


def _properties(stack: Stack, cfn: CfnResource, *, precise: bool = True) -> dict[str, Any]:
    """The IAM properties of ``cfn``: references estimated one by one (``precise``), or left as
    the template's intrinsics (:func:`_render` bounds them)."""
    def resolve(value: Any) -> Any:
        return _resolve(stack, value) if precise else stack.resolve(value)

    if isinstance(cfn, iam.CfnRole):
        return {
            "AssumeRolePolicyDocument": resolve(cfn.assume_role_policy_document),
            "Policies": resolve(cfn.policies),
            "ManagedPolicyArns": stack.resolve(cfn.managed_policy_arns),
        }
    if isinstance(cfn, (iam.CfnManagedPolicy, iam.CfnPolicy)):
        return {"PolicyDocument": resolve(cfn.policy_document), "Roles": stack.resolve(cfn.roles)}
    return {}


def _resolve(stack: Stack, value: Any) -> Any:
    """``value`` resolved in ``stack``, each reference replaced by a string of its estimated length."""
    # StringConcat implements IFragmentConcatenator with a renamed parameter (jsii, aws/aws-cdk#15584).
    concat = StringConcat()
    return Tokenization.resolve(value, scope=stack, resolver=_Estimating(concat))  # pyright: ignore[reportArgumentType]


class _Estimating(DefaultTokenResolver):
    def resolve_token(self, t: Any, context: Any, post_processor: Any) -> Any:
        if isinstance(t, Reference):
            if t.display_name in PSEUDO_PARAMETER_CHARS:
                return "x" * PSEUDO_PARAMETER_CHARS[t.display_name]
            kind = t.target.cfn_resource_type if isinstance(t.target, CfnResource) else ""
            # distinct references stay distinct strings, so that merging statements can be estimated
            mark = hashlib.sha256(f"{t.target.node.path}.{t.display_name}".encode()).hexdigest()[:12]
            return mark.ljust(ATTRIBUTE_CHARS.get((kind, t.display_name), TOKEN_CHARS), "x")
        resolved = super().resolve_token(t, context, post_processor)
        if isinstance(resolved, Mapping) and len(resolved) == 1 and _is_intrinsic(next(iter(resolved))):
            return "x" * _text_chars(resolved, _Lookup({}, {}, {}))
        return resolved


def _chars(document: Any, lookup: _Lookup | None = None) -> int:
    """Estimated characters IAM counts for a policy document or statement."""
    return len(json.dumps(_render(document, lookup or _Lookup({}, {}, {})), separators=(",", ":")))


def _get(struct: Any, key: str) -> Any:
    """``key`` of a resolved property struct, in the template's or jsii's (camelCase) spelling."""
    if not isinstance(struct, Mapping):
        return None
    return struct.get(key, struct.get(key[0].lower() + key[1:]))


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _is_intrinsic(key: str) -> bool:
    return key == "Ref" or key.startswith("Fn::")


def _render(value: Any, lookup: _Lookup, *, distinct: bool = False) -> Any:
    """``value`` with each intrinsic function replaced by a string of its estimated length (which
    begins with a digest of the intrinsic when ``distinct``)."""
    if isinstance(value, list):
        return [_render(v, lookup, distinct=distinct) for v in value]
    if isinstance(value, Mapping):
        if len(value) == 1:
            [(key, argument)] = value.items()
            if key == "Fn::If" and isinstance(argument, list) and len(argument) == 3:
                branches = [_render(b, lookup, distinct=distinct) for b in argument[1:]]
                return max(branches, key=lambda b: len(json.dumps(b, separators=(",", ":"))))
            if _is_intrinsic(key):
                chars = _text_chars(value, lookup)
                if not distinct:
                    return "x" * chars
                mark = hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()
                return mark[:chars].ljust(chars, "x")
        return {k: _render(v, lookup, distinct=distinct) for k, v in value.items()}
    return value


def _text_chars(value: Any, lookup: _Lookup) -> int:
    """Estimated length of the text ``value`` (a string or an intrinsic) becomes."""
    if isinstance(value, str):
        return len(json.dumps(value)) - 2
    if isinstance(value, (int, float, bool)):
        return len(json.dumps(value))
    if not isinstance(value, Mapping) or len(value) != 1:
        return TOKEN_CHARS
    [(key, argument)] = value.items()
    if key == "Ref":
        if argument in PSEUDO_PARAMETER_CHARS:
            return PSEUDO_PARAMETER_CHARS[argument]
        return ATTRIBUTE_CHARS.get((lookup.resources.get(argument, {}).get("Type", ""), "Ref"), TOKEN_CHARS)
    if key == "Fn::GetAtt" and isinstance(argument, list) and len(argument) == 2:
        kind = lookup.resources.get(argument[0], {}).get("Type", "")
        return ATTRIBUTE_CHARS.get((kind, argument[1]), TOKEN_CHARS)
    if key in ("Fn::GetStackOutput", "Fn::ImportValue"):
        found = (lookup.outputs.get((argument.get("StackName"), argument.get("OutputName")))
                 if isinstance(argument, Mapping) else lookup.exports.get(json.dumps(argument)))
        if found is None:
            return TOKEN_CHARS
        output, template = found
        return _text_chars(output, _Lookup(template.get("Resources", {}), {}, {}))
    if key == "Fn::Join" and isinstance(argument, list) and len(argument) == 2 and isinstance(argument[1], list):
        separator, parts = argument
        return _text_chars(separator, lookup) * max(len(parts) - 1, 0) + sum(_text_chars(p, lookup) for p in parts)
    if key == "Fn::Sub":
        template, variables = (argument, {}) if isinstance(argument, str) else (argument[0], argument[1])

        def variable(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return "x" * _text_chars(variables[name], lookup)
            if name in PSEUDO_PARAMETER_CHARS:
                return "x" * PSEUDO_PARAMETER_CHARS[name]
            target, _, attribute = name.partition(".")
            return "x" * _text_chars({"Fn::GetAtt": [target, attribute]} if attribute else {"Ref": target}, lookup)
        return len(_SUB_VARIABLE.sub(variable, template).replace("${!", "${"))
    if key == "Fn::Select" and isinstance(argument, list) and len(argument) == 2 and isinstance(argument[1], list):
        return max((_text_chars(o, lookup) for o in argument[1]), default=0)
    if key == "Fn::If" and isinstance(argument, list) and len(argument) == 3:
        return max(_text_chars(argument[1], lookup), _text_chars(argument[2], lookup))
    return TOKEN_CHARS


@jsii.implements(IValidation)
@jsii.implements(IValidation)
class _IamSizeValidation:
    def __init__(self, scope: IConstruct) -> None:
        self._scope = scope

    def validate(self) -> list[str]:
        return iam_size_problems(self._scope)
