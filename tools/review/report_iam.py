"""IAM roles of the review report: who may assume each role and what it may do, in plain words."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from tools.review.report_md import anchor, code, table, text
from tools.review.report_refs import Model, Target

#: Condition operators in words (the ``ForAllValues:``/``ForAnyValue:`` prefixes and ``IfExists`` handled apart).
OPERATOR_WORDS = {
    "StringEquals": "is", "StringEqualsIgnoreCase": "is", "StringNotEquals": "is not",
    "StringNotEqualsIgnoreCase": "is not", "StringLike": "matches", "StringNotLike": "does not match",
    "ArnEquals": "is", "ArnLike": "matches", "ArnNotEquals": "is not", "ArnNotLike": "does not match",
    "Bool": "is", "NumericEquals": "=", "NumericNotEquals": "!=", "NumericLessThan": "<",
    "NumericLessThanEquals": "<=", "NumericGreaterThan": ">", "NumericGreaterThanEquals": ">=",
    "DateEquals": "is", "DateLessThan": "before", "DateGreaterThan": "after",
    "IpAddress": "in", "NotIpAddress": "not in", "BinaryEquals": "is",
}
#: Friendly phrases for allow-list conditions (equality and pattern operators) on well-known keys.
KEY_PHRASES = {
    "aws:SourceAccount": "only for {v}", "aws:SourceArn": "only from {v}", "aws:SourceOwner": "only for {v}",
    "aws:PrincipalOrgID": "only organization {v}", "aws:SourceVpce": "only through endpoint {v}",
    "aws:SourceVpc": "only from {v}", "kms:ViaService": "only through {v}",
    "iam:PassedToService": "only passed to {v}", "s3:prefix": "only prefixes {v}",
    "sagemaker:VpcSubnets": "only in subnets {v}", "sagemaker:VpcSecurityGroupIds": "only with security groups {v}",
    "sagemaker:VolumeKmsKey": "volumes encrypted with {v}", "sagemaker:OutputKmsKey": "output encrypted with {v}",
    "ec2:Vpc": "only in {v}", "cloudwatch:namespace": "only metric namespaces {v}",
}
#: Phrases for boolean keys: (when "true", when "false").
BOOL_PHRASES = {
    "kms:GrantIsForAWSResource": ("only grants for AWS services", "never grants for AWS services"),
    "aws:SecureTransport": ("only over TLS", "without TLS"),
    "sagemaker:InterContainerTrafficEncryption": ("inter-container traffic encrypted",
                                                  "inter-container traffic not encrypted"),
    "sagemaker:NetworkIsolation": ("network isolation on", "network isolation off"),
}
_EQUALITY = ("StringEquals", "StringLike", "ArnEquals", "ArnLike", "StringEqualsIgnoreCase")


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _value_words(model: Model, stack: str, key: str, value: Any) -> str:
    values = _as_list(value)
    if key == "aws:SourceAccount":
        return ", ".join("this account" if model.text(stack, v) == model.account else
                         f"account {model.text(stack, v)}" for v in values)
    if key == "kms:ViaService":
        return ", ".join(model.text(stack, v).split(".")[0] for v in values)
    return ", ".join(model.resource_text(stack, v) for v in values)


def condition_words(model: Model, stack: str, condition: Any) -> str:
    """A policy ``Condition`` in short words, e.g. ``only through s3 (kms:ViaService)``; "" if none."""
    if not isinstance(condition, dict):
        return ""
    required = {k for op, kv in condition.items() if op == "Null" and isinstance(kv, dict)
                for k, v in kv.items() if str(v).lower() == "false"}
    phrases: list[str] = []
    for op in sorted(condition):
        pairs = condition[op] if isinstance(condition[op], dict) else {}
        for key in sorted(pairs):
            value = pairs[key]
            base_op = op.split(":")[-1]
            if_exists = base_op.endswith("IfExists")
            base_op = base_op.removesuffix("IfExists")
            if base_op == "Null":
                if str(value).lower() == "true":
                    phrases.append(f"only without {key}")
                elif not any(key in (condition[o] or {}) for o in condition if o != "Null"):
                    phrases.append(f"only with {key} set")
                continue
            if base_op == "Bool" and key in BOOL_PHRASES:
                on = str(_as_list(value)[0]).lower() == "true"
                phrase = BOOL_PHRASES[key][0 if on else 1]
            elif base_op in _EQUALITY and key in KEY_PHRASES:
                phrase = KEY_PHRASES[key].format(v=_value_words(model, stack, key, value))
            else:
                words = OPERATOR_WORDS.get(base_op, base_op)
                quantifier = {"ForAllValues": "every ", "ForAnyValue": "some "}.get(op.split(":")[0], "") \
                    if ":" in op else ""
                phrase = f"{quantifier}{key} {words} {_value_words(model, stack, key, value)}"
            if key not in phrase:
                phrase += f" ({key})"
            if key in required:
                phrase += ", required"
            if if_exists:
                phrase += ", if present"
            phrases.append(phrase)
    return "; ".join(phrases)


def principal_words(model: Model, stack: str, principal: Any) -> list[str]:
    """Who a ``Principal`` names, in words."""
    if principal == "*":
        return ["anyone (`*`)"]
    if not isinstance(principal, dict):
        return [model.text(stack, principal)]
    out: list[str] = []
    for kind in sorted(principal):
        for value in _as_list(principal[kind]):
            rendered = model.text(stack, value, short=False)
            if rendered == "*":
                out.append("anyone (`*`)")
            elif kind == "AWS" and rendered in (f"arn:aws:iam::{model.account}:root", model.account):
                out.append("this account's users and roles that IAM allows")
            elif kind == "AWS" and rendered.endswith(":root"):
                out.append(f"account {rendered.split(':')[4]}'s users and roles that its IAM allows")
            elif kind == "Service":
                out.append(rendered)
            else:
                out.append(f"{kind.lower()} principal {code(rendered)}")
    return out


@dataclass(frozen=True, order=True)
class Row:
    """One line of a role's permissions: actions of one service on resources, under a condition."""

    service: str
    deny: bool
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    condition: str


def statement_rows(model: Model, stack: str, statement: dict) -> list[Row]:
    """The rows of one policy statement, one per service of its actions."""
    deny = statement.get("Effect") == "Deny"
    condition = condition_words(model, stack, statement.get("Condition"))
    if "NotResource" in statement:
        resources: tuple[str, ...] = ("all except " + ", ".join(
            model.resource_text(stack, r) for r in _as_list(statement["NotResource"])),)
    else:
        resources = tuple(sorted({model.resource_text(stack, r) for r in _as_list(statement.get("Resource"))}))
    by_service: dict[str, set[str]] = defaultdict(set)
    not_action = "NotAction" in statement
    for action in _as_list(statement.get("NotAction" if not_action else "Action")):
        action = model.text(stack, action)
        service, _, name = action.partition(":") if ":" in action else ("*", "", action)
        by_service[service].add(name or "*")
    if not_action:
        everything = ", ".join(f"{s}:{a}" for s in sorted(by_service) for a in sorted(by_service[s]))
        return [Row("all services", deny, (f"all except {everything}",), resources, condition)]
    return [Row(s, deny, tuple(sorted(a)), resources, condition) for s, a in by_service.items()]


def merge_rows(rows: list[Row]) -> list[Row]:
    """Rows with the same resources and condition share one line; then rows with the same actions."""
    by_target: dict[tuple, set[str]] = defaultdict(set)
    for r in rows:
        by_target[(r.service, r.deny, r.resources, r.condition)].update(r.actions)
    by_actions: dict[tuple, set[str]] = defaultdict(set)
    for (service, deny, resources, condition), actions in by_target.items():
        by_actions[(service, deny, tuple(sorted(actions)), condition)].update(resources)
    return sorted(Row(s, d, a, tuple(sorted(res)), c) for (s, d, a, c), res in by_actions.items())


@dataclass
class RoleInfo:
    """What the report says about one role."""

    target: Target
    description: str
    trust: list[str]
    sources: list[str] = field(default_factory=list)
    aws_managed: list[str] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    keys: set[tuple[str, str]] = field(default_factory=set)


def _documents(model: Model) -> dict[tuple[str, str], list[tuple[str, str, dict]]]:
    """Per role (stack, logical): (source words, stack of the document, policy document)."""
    roles = {(t.stack, t.logical) for t in model.of_type("AWS::IAM::Role")}
    names = {model.literal_name(t): (t.stack, t.logical) for t in model.of_type("AWS::IAM::Role")
             if model.literal_name(t)}
    docs: dict[tuple[str, str], list[tuple[str, str, dict]]] = defaultdict(list)
    for stack, logical, res in model.all_resources():
        props = res.get("Properties") or {}
        kind = {"AWS::IAM::ManagedPolicy": "managed policy", "AWS::IAM::Policy": "policy",
                "AWS::IAM::RolePolicy": "role policy"}.get(res.get("Type", ""))
        if not kind:
            continue
        refs = _as_list(props.get("Roles", [])) if kind != "role policy" else [props.get("RoleName")]
        for ref in refs:
            segs = model.segments(stack, ref)
            hit = [(s.stack, s.logical) for s in segs if isinstance(s, Target)] or \
                [names[s] for s in segs if isinstance(s, str) and s in names]
            for role in hit:
                if role in roles:
                    docs[role].append((f"{kind} {model.label(Target(stack, logical))} "
                                       f"({model.short[stack]})", stack, props.get("PolicyDocument") or {}))
    return docs


def analyze_roles(model: Model) -> list[RoleInfo]:
    """Every AWS::IAM::Role, sorted by stack and name, with trust, policy sources and merged permissions."""
    attached = _documents(model)
    infos = []
    for role in sorted(model.of_type("AWS::IAM::Role"), key=lambda t: (model.short[t.stack], model.label(t))):
        props = model.resource(role).get("Properties") or {}
        info = RoleInfo(role, model.text(role.stack, props.get("Description", "")) or "(no description)",
                        _trust(model, role.stack, props.get("AssumeRolePolicyDocument") or {}))
        documents = [(f"inline policy {model.text(role.stack, p.get('PolicyName', ''))}", role.stack,
                      p.get("PolicyDocument") or {}) for p in _as_list(props.get("Policies", []))
                     if isinstance(p, dict)]
        for arn in _as_list(props.get("ManagedPolicyArns", [])):
            policies = [t for t in model.targets(role.stack, arn) if model.type_of(t) == "AWS::IAM::ManagedPolicy"]
            for t in policies:
                documents.append((f"managed policy {model.label(t)} ({model.short[t.stack]})", t.stack,
                                  (model.resource(t).get("Properties") or {}).get("PolicyDocument") or {}))
            if not policies:
                rendered = model.text(role.stack, arn)
                info.aws_managed.append(rendered.split(":policy/")[-1] if ":policy/" in rendered else rendered)
        documents += attached.get((role.stack, role.logical), [])
        rows: list[Row] = []
        for source, stack, document in sorted(documents, key=lambda d: d[0]):
            info.sources.append(source)
            for statement in _as_list(document.get("Statement", [])):
                if not isinstance(statement, dict):
                    continue
                rows += statement_rows(model, stack, statement)
                for res in _as_list(statement.get("Resource")):
                    info.keys.update((t.stack, t.logical) for t in model.targets(stack, res)
                                     if model.type_of(t) == "AWS::KMS::Key")
        info.rows = merge_rows(rows)
        info.aws_managed.sort()
        infos.append(info)
    return infos


def _trust(model: Model, stack: str, document: dict) -> list[str]:
    out = []
    for statement in _as_list(document.get("Statement", [])):
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        who = ", ".join(principal_words(model, stack, statement.get("Principal")))
        actions = [model.text(stack, a) for a in _as_list(statement.get("Action", "sts:AssumeRole"))]
        how = "" if actions == ["sts:AssumeRole"] else f" via {', '.join(actions)}"
        condition = condition_words(model, stack, statement.get("Condition"))
        out.append(who + how + (f", {condition}" if condition else ""))
    return sorted(out) or ["nobody (no trust statement allows it)"]


def role_anchor(model: Model, role: Target) -> str:
    return anchor("role", model.short[role.stack], model.label(role))


def render_roles(model: Model, infos: list[RoleInfo]) -> list[str]:
    """The roles section: an index table, then one anchored heading per role with its permissions."""
    lines = ["## IAM roles", ""]
    if not infos:
        return lines + ["No IAM roles.", ""]
    lines += table(["Role", "Stack", "Purpose", "Assumed by"], [
        [f"[{model.label(i.target)}](#{role_anchor(model, i.target)})", model.short[i.target.stack],
         text(i.description), "; or ".join(i.trust)] for i in infos])
    lines.append("")
    for info in infos:
        role = info.target
        lines += [f'<a id="{role_anchor(model, role)}"></a>', "",
                  f"### {model.label(role)} ({model.short[role.stack]}): {text(info.description)}", "",
                  f"- Assumed by: {'; or '.join(info.trust)}"]
        sources = info.sources + [f"AWS managed policy {code(m)}" for m in info.aws_managed]
        lines.append(f"- Permissions from: {', '.join(sources) if sources else 'nothing (no policy attached)'}")
        lines.append("")
        if info.rows:
            lines += table(["Service", "Actions", "On", "Only if"], [
                [r.service, ("deny " if r.deny else "") + code(", ".join(r.actions)), ", ".join(r.resources),
                 r.condition or "always"] for r in info.rows])
        elif info.aws_managed:
            lines.append("Only the AWS managed policies above.")
        else:
            lines.append("No permissions in these templates.")
        lines.append("")
    return lines
