"""Cron expressions and DQDL rulesets are checked at synth with clear messages."""

from __future__ import annotations

import pytest

from ml_platform.constructs.preparation.dqdl import ruleset_document, ruleset_problems
from ml_platform.constructs.core.schedule import check_cron, cron_problem


@pytest.mark.parametrize("expression", [
    "cron(0 2 * * ? *)", "cron(15 10 ? * MON-FRI *)", "cron(0/15 * * * ? *)",
    "cron(0 18 L * ? *)", "cron(0 8 ? * 6#3 *)", "cron(0 1 1,15 JAN-MAR ? 2026)", "cron(5 0 ? * sun *)",
])
def test_valid_aws_cron_expressions(expression):
    assert cron_problem(expression) is None
    assert check_cron(expression) == expression


@pytest.mark.parametrize(("expression", "problem"), [
    ("rate(1 day)", "must look like cron("),
    ("0 2 * * ? *", "must look like cron("),
    ("cron(0 2 * * ?)", "has 5 fields; AWS cron needs 6"),
    ("cron(60 2 * * ? *)", "minutes field '60' is invalid; allowed: 0-59"),
    ("cron(0 24 * * ? *)", "hours field '24' is invalid; allowed: 0-23"),
    ("cron(0 2 32 * ? *)", "day-of-month field '32' is invalid"),
    ("cron(0 2 ? 13 MON *)", "month field '13' is invalid"),
    ("cron(0 2 ? * FUNDAY *)", "day-of-week field 'FUNDAY' is invalid"),
    ("cron(0 2 * * ? 1969)", "year field '1969' is invalid"),
    ("cron(0 2 * * * *)", "exactly one of day-of-month and day-of-week must be '?'"),
    ("cron(0 2 ? * ? *)", "exactly one of day-of-month and day-of-week must be '?'"),
])
def test_invalid_cron_expressions_say_why(expression, problem):
    assert problem in cron_problem(expression)
    with pytest.raises(ValueError, match=r"\(Glue schedules are in UTC\)$"):
        check_cron(expression)


def test_ruleset_document_lists_one_rule_per_line():
    assert ruleset_document(['IsComplete "id"', '  RowCount > 0 ']) == 'Rules = [\n    IsComplete "id",\n    RowCount > 0\n]'


@pytest.mark.parametrize("rule", [
    'ColumnValues "status" in ["new", "paid"]',
    '(IsComplete "a") and (IsUnique "a")',
    'CustomSql "select count(*) from primary where amount < 0" = 0',
    'ColumnValues "amount" > 0 where "currency = \'EUR\'"',
    'Completeness "email" > 0.95',
])
def test_well_formed_rules_pass(rule):
    assert ruleset_problems([rule]) == []


@pytest.mark.parametrize(("rule", "problem"), [
    ('iscomplete "x"', "uses unknown rule type 'iscomplete'; rule types are case-sensitive"),
    ('(IsComplete "a") and (Bogus "a")', "uses unknown rule type 'Bogus'"),
    ('IsComplete "x', "has an unclosed double quote"),
    ('ColumnValues "x" in ["a"', "has an unclosed '['"),
    ('ColumnValues "x" in "a"]', "has an unmatched ']'"),
    ('IsComplete "a", IsUnique "a"', "holds more than one rule; give each rule its own list item"),
    ("   ", "is empty"),
])
def test_malformed_rules_are_rejected_by_position(rule, problem):
    [message] = ruleset_problems(["RowCount > 0", rule])
    assert message.startswith(f"rules[1] {problem}"), message
    with pytest.raises(ValueError, match=r"^invalid DQDL: rules\[1\]"):
        ruleset_document(["RowCount > 0", rule])


def test_empty_ruleset_is_rejected():
    assert ruleset_problems([]) == ["a ruleset needs at least one rule"]
