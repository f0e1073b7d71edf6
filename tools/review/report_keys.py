"""Encryption keys of the review report: every KMS key, its alias, rotation, key policy and users."""

from __future__ import annotations

from typing import Any

from tools.review.report_iam import RoleInfo, condition_words, principal_words
from tools.review.report_md import code, table, text
from tools.review.report_refs import Model, Target, uses_of

#: Rotation period KMS uses when EnableKeyRotation is true and RotationPeriodInDays is not set.
DEFAULT_ROTATION_DAYS = 365


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def rotation_words(props: dict) -> str:
    if props.get("EnableKeyRotation") in (True, "true"):
        return f"on, every {props.get('RotationPeriodInDays', DEFAULT_ROTATION_DAYS)} days"
    return "off"


def key_policy_words(model: Model, key: Target) -> list[str]:
    document = (model.resource(key).get("Properties") or {}).get("KeyPolicy") or {}
    out = []
    for statement in _as_list(document.get("Statement", [])):
        if not isinstance(statement, dict):
            continue
        who = ", ".join(principal_words(model, key.stack, statement.get("Principal")))
        actions = ", ".join(sorted(model.text(key.stack, a) for a in _as_list(statement.get("Action", []))))
        condition = condition_words(model, key.stack, statement.get("Condition"))
        verb = "denies" if statement.get("Effect") == "Deny" else "allows"
        out.append(f"{verb} {who}: {code(actions)}" + (f", {condition}" if condition else ""))
    return out


def render_keys(model: Model, roles: list[RoleInfo]) -> list[str]:
    keys = sorted(model.of_type("AWS::KMS::Key"), key=lambda t: (model.short[t.stack], model.label(t)))
    lines = ["## Encryption keys", ""]
    if not keys:
        return lines + ["No customer-managed KMS key in these templates.", ""]
    rows = []
    for key in keys:
        props = model.resource(key).get("Properties") or {}
        rows.append([model.label(key), model.short[key.stack], code(model.key_alias(key) or "") if
                     model.key_alias(key) else "none", rotation_words(props),
                     text(model.text(key.stack, props.get("Description", ""))), str(len(uses_of(model, key)))])
    lines += table(["Key", "Stack", "Alias", "Rotation", "Description", "Resources using it"], rows) + [""]
    for key in keys:
        users = [f"{model.short[s]}: {model.name(Target(s, lid))} ({code(path)})" for s, lid, path in
                 uses_of(model, key)]
        granted = sorted(f"{model.label(r.target)} ({model.short[r.target.stack]})" for r in roles
                         if (key.stack, key.logical) in r.keys)
        lines += [f"### {model.label(key)} ({model.short[key.stack]})", "",
                  "- Key policy: " + ("; ".join(key_policy_words(model, key)) or "none"),
                  "- Used by: " + (", ".join(users) if users else "no resource in these templates"),
                  "- Roles whose policies name it: " + (", ".join(granted) if granted else "none"), ""]
    return lines
