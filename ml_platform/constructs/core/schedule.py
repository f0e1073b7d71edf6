"""AWS cron expressions (Glue triggers and crawlers, EventBridge), checked at synth.

Format: ``cron(<minutes> <hours> <day-of-month> <month> <day-of-week> <year>)``, evaluated in
UTC by Glue. Exactly one of day-of-month and day-of-week is ``?``.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

_MONTHS = "JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC"
_DAYS = "SUN|MON|TUE|WED|THU|FRI|SAT"


def _numbers(low: int, high: int, names: str = "") -> str:
    """Regex of one value of a field: a number in range, or a name."""
    values = "|".join(str(n) for n in range(high, low - 1, -1))
    if high >= 10:
        values += "|" + "|".join(f"0{n}" for n in range(low, 10))
    return f"(?:{values}{'|' + names if names else ''})"


def _field(value: str, *, extra: str = "") -> re.Pattern[str]:
    """A list of values, ranges and increments, or ``*`` with an optional increment."""
    item = rf"(?:\*|{value}(?:-{value})?)(?:/\d+)?"
    return re.compile(rf"^(?:{item}(?:,{item})*{extra})$")


_FIELDS = (
    ("minutes", _field(_numbers(0, 59)), "0-59"),
    ("hours", _field(_numbers(0, 23)), "0-23"),
    ("day-of-month", _field(_numbers(1, 31), extra=r"|\?|L|LW|\d{1,2}W"), "1-31, ?, L or W"),
    ("month", _field(_numbers(1, 12, _MONTHS)), "1-12 or JAN-DEC"),
    ("day-of-week", _field(_numbers(1, 7, _DAYS), extra=r"|\?|[1-7]L|[1-7]#[1-5]"), "1-7, SUN-SAT, ?, L or #"),
    ("year", _field(r"(?:19[7-9]\d|2[01]\d\d)"), "1970-2199"),
)


def cron_problem(expression: str) -> str | None:
    """Why ``expression`` is not an AWS cron expression, or None when it is one."""
    match = re.fullmatch(r"cron\((.*)\)", expression.strip())
    if not match:
        return "must look like cron(<min> <hour> <day-of-month> <month> <day-of-week> <year>), e.g. cron(0 2 * * ? *)"
    fields = match.group(1).split()
    if len(fields) != len(_FIELDS):
        return f"has {len(fields)} fields; AWS cron needs 6: minutes hours day-of-month month day-of-week year"
    for text, (name, pattern, allowed) in zip(fields, _FIELDS):
        if not pattern.match(text.upper()):
            return f"{name} field {text!r} is invalid; allowed: {allowed}, lists, ranges and /increments"
    day_of_month, day_of_week = fields[2], fields[4]
    if (day_of_month == "?") == (day_of_week == "?"):
        return "exactly one of day-of-month and day-of-week must be '?'"
    return None


def check_cron(expression: str) -> str:
    """Return ``expression`` if it is a valid AWS cron expression.

    :raises ValueError: naming the problem and the expected form.
    """
    problem = cron_problem(expression)
    if problem:
        raise ValueError(f"schedule {expression!r} {problem} (Glue schedules are in UTC)")
    return expression


#: A settings field holding an AWS cron expression, checked when the settings are read.
CronExpression = Annotated[str, AfterValidator(check_cron)]


def check_zoned_cron(expression: str) -> str:
    """As :func:`check_cron`, for schedules evaluated in their settings' ``time_zone``."""
    problem = cron_problem(expression)
    if problem:
        raise ValueError(f"schedule {expression!r} {problem} (evaluated in the time_zone setting)")
    return expression


#: An AWS cron expression evaluated in a time zone given beside it (scaling, EventBridge Scheduler).
ZonedCronExpression = Annotated[str, AfterValidator(check_zoned_cron)]
