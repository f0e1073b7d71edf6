"""Glue Data Quality rulesets in DQDL: a ruleset document from a list of rules, checked at synth.

The check catches what is obviously malformed (unknown rule type, unbalanced quotes or
brackets, two rules in one item); Glue validates the full grammar when the ruleset is created.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

#: Rule types of the DQDL reference (case-sensitive).
RULE_TYPES = frozenset(
    {
        "AggregateMatch", "ColumnCorrelation", "ColumnCount", "ColumnDataType", "ColumnExists",
        "ColumnLength", "ColumnNamesMatchPattern", "ColumnValues", "Completeness", "CustomSql",
        "DataFreshness", "DatasetMatch", "DetectAnomalies", "DistinctValuesCount", "Entropy",
        "FileFreshness", "FileMatch", "FileSize", "FileUniqueness", "IsComplete", "IsPrimaryKey",
        "IsUnique", "Mean", "ReferentialIntegrity", "RowCount", "RowCountMatch", "SchemaMatch",
        "StandardDeviation", "Sum", "UniqueValueRatio", "Uniqueness",
    }
)
_CLOSING = {")": "(", "]": "["}


def rule_problem(rule: str) -> str | None:
    """Why ``rule`` is obviously not one DQDL rule, or None."""
    text = rule.strip()
    if not text:
        return "is empty"
    stack: list[str] = []
    outside_quotes: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
            outside_quotes.append(" ")
            continue
        if quoted:
            continue
        outside_quotes.append(char)
        if char in "([":
            stack.append(char)
        elif char in _CLOSING:
            if not stack or stack.pop() != _CLOSING[char]:
                return f"has an unmatched {char!r}"
        elif char == "," and not stack:
            return "holds more than one rule; give each rule its own list item"
    if quoted:
        return "has an unclosed double quote"
    if stack:
        return f"has an unclosed {stack[-1]!r}"
    # Rule types start the rule and every parenthesised part of a composite rule.
    bare = "".join(outside_quotes)
    starts = re.findall(r"(?:^|\(|\b(?:and|or)\s+\(?)\s*([A-Za-z]+)", bare)
    unknown = sorted({word for word in starts if word not in RULE_TYPES | {"and", "or", "not"}})
    if unknown:
        return f"uses unknown rule type {unknown[0]!r}; rule types are case-sensitive, e.g. IsComplete, ColumnValues, RowCount"
    return None


def ruleset_problems(rules: Sequence[str]) -> list[str]:
    """One message per malformed rule, naming its position."""
    if not rules:
        return ["a ruleset needs at least one rule"]
    return [f"rules[{i}] {p}: {rule!r}" for i, rule in enumerate(rules) if (p := rule_problem(rule))]


def ruleset_document(rules: Sequence[str]) -> str:
    """The DQDL document ``Rules = [ ... ]`` of ``rules``.

    :raises ValueError: if any rule is obviously malformed.
    """
    problems = ruleset_problems(rules)
    if problems:
        raise ValueError("invalid DQDL: " + "; ".join(problems))
    body = ",\n".join(f"    {rule.strip()}" for rule in rules)
    return f"Rules = [\n{body}\n]"
