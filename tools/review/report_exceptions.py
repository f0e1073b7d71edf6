"""Exceptions of the review report: every acknowledgment recorded in resource Metadata, per gate.

Shapes read (as the platform's ``compliance`` module writes them):
``cdk_nag.rules_to_suppress: [{id, reason}]`` (ids starting ``CloudFormation-Validate::`` are aws-cdk-lib's
built-in template validation), ``checkov.skip: [{id, comment}]`` and
``cfn-lint: {config: {ignore_checks: [id]}, reasons: {id: reason}}``.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from tools.review.report_md import code, table, text
from tools.review.report_refs import Model, Target

GATE_NAG = "cdk-nag"
GATE_CFN_VALIDATE = "aws-cdk-lib built-in CloudFormation validation"
GATE_CHECKOV = "checkov"
GATE_CFN_LINT = "cfn-lint"
#: Gates in report order.
GATES = (GATE_NAG, GATE_CFN_VALIDATE, GATE_CHECKOV, GATE_CFN_LINT)
CFN_VALIDATE_PREFIX = "CloudFormation-Validate::"


@dataclass(frozen=True, order=True)
class Acknowledgment:
    gate: str
    stack: str
    logical: str
    rule: str
    reason: str


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def collect(model: Model) -> list[Acknowledgment]:
    """Every acknowledgment of every resource, once each, sorted."""
    found = []
    for stack, logical, res in model.all_resources():
        metadata = res.get("Metadata") if isinstance(res.get("Metadata"), dict) else {}
        nag = metadata.get("cdk_nag") if isinstance(metadata.get("cdk_nag"), dict) else {}
        for entry in _as_list(nag.get("rules_to_suppress", [])):
            if isinstance(entry, dict) and "id" in entry:
                rule = str(entry["id"])
                gate = GATE_CFN_VALIDATE if rule.startswith(CFN_VALIDATE_PREFIX) else GATE_NAG
                found.append(Acknowledgment(gate, stack, logical, rule, str(entry.get("reason", ""))))
        checkov = metadata.get("checkov") if isinstance(metadata.get("checkov"), dict) else {}
        for entry in _as_list(checkov.get("skip", [])):
            if isinstance(entry, dict) and "id" in entry:
                found.append(Acknowledgment(GATE_CHECKOV, stack, logical, str(entry["id"]),
                                            str(entry.get("comment", ""))))
        lint = metadata.get("cfn-lint") if isinstance(metadata.get("cfn-lint"), dict) else {}
        config = lint.get("config") if isinstance(lint.get("config"), dict) else {}
        reasons = lint.get("reasons") if isinstance(lint.get("reasons"), dict) else {}
        for rule in _as_list(config.get("ignore_checks", [])):
            if isinstance(rule, str):
                reason = reasons.get(rule, lint.get("reason", lint.get("comment", "")))
                found.append(Acknowledgment(GATE_CFN_LINT, stack, logical, rule, str(reason)))
    return sorted(found)


def counts(acks: list[Acknowledgment]) -> dict[str, int]:
    by_gate = Counter(a.gate for a in acks)
    return {gate: by_gate[gate] for gate in GATES if by_gate[gate]}


def readable_rule(model: Model, stack: str, rule: str) -> str:
    """``rule`` with CloudFormation tokens inside it (cdk-nag finding ids) replaced by human names."""
    out, pos, decoder = [], 0, json.JSONDecoder()
    while (start := rule.find('{"', pos)) != -1:
        try:
            value, end = decoder.raw_decode(rule, start)
        except ValueError:
            out.append(rule[pos:start + 2])
            pos = start + 2
            continue
        out += [rule[pos:start], model.text(stack, value)]
        pos = end
    out.append(rule[pos:])

    def token(match: re.Match[str]) -> str:
        logical, attr = match.group(1), match.group(2)
        if logical.startswith("AWS::"):
            return model.text(stack, {"Ref": logical})
        if logical in model.resources(stack):
            return model.name(Target(stack, logical, attr))
        return match.group(0).strip("<>")
    return model.short_arns(re.sub(r"<((?:AWS::)?[A-Za-z0-9]+)(?:\.([A-Za-z]+))?>", token, "".join(out)))


def resource_words(model: Model, target: Target) -> str:
    """``DataLakeRawBucket (lake raw zone)``; just the name when it already holds the label."""
    label, name = model.label(target), model.name(target)
    return name if label in name else f"{label} ({name})"


def render_exceptions(model: Model, acks: list[Acknowledgment]) -> list[str]:
    lines = ["## Exceptions", ""]
    if not acks:
        return lines + ["No exception is recorded in resource metadata.", ""]
    lines += ["Every acknowledgment written into resource metadata, by gate. Rules that share a resource "
              "and a reason share a row.", ""]
    for gate in GATES:
        mine = [a for a in acks if a.gate == gate]
        if not mine:
            continue
        grouped: dict[tuple[str, str, str], list[str]] = defaultdict(list)
        for a in mine:
            grouped[(a.stack, a.logical, a.reason)].append(readable_rule(model, a.stack, a.rule))
        rows = []
        for (stack, logical, reason), rules in sorted(grouped.items(), key=lambda kv: (
                model.short[kv[0][0]], model.label(Target(kv[0][0], kv[0][1])), kv[0][2])):
            rows.append([model.short[stack], text(resource_words(model, Target(stack, logical))),
                         ", ".join(code(r) for r in sorted(rules)), text(reason)])
        lines += [f"### {gate}: {len(mine)}", ""]
        lines += table(["Stack", "Resource", "Rules", "Reason"], rows) + [""]
    return lines
