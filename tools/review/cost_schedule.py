"""The weekly average of a scalable target's minimum capacity under recurring scheduled actions.

Application Auto Scaling schedules are ``cron(minutes hours day-of-month month day-of-week year)``
(``ScheduledAction.Schedule``). A scheduled ``MinCapacity`` holds until the next action changes it,
so over a week the minimum is a step function; its average is what an idle fleet bills. Only weekly
patterns are modelled: day-of-month and month ``*`` or ``?``, year ``*`` or absent, minutes and
hours as numbers, lists, ranges or ``*``/``*/n``, days of the week as 1-7 (SUN-SAT) or names. Any
other schedule (``rate(...)``, ``at(...)``, a day of the month) makes :func:`weekly_minimum` return
``None`` and the caller falls back to the target's own ``MinCapacity``. Time zones shift every
action alike and do not change a weekly average (daylight-saving changes are ignored).
"""

from __future__ import annotations

import re
from typing import Any

MINUTES_PER_WEEK = 7 * 24 * 60
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_CRON = re.compile(r"^cron\((.*)\)$")


def _numbers(field: str, low: int, high: int, names: tuple[str, ...] = ()) -> set[int] | None:
    """The values a cron field selects, or ``None`` when it uses syntax this module does not model."""
    values: set[int] = set()
    for part in field.split(","):
        step = 1
        if "/" in part:
            part, _, every = part.partition("/")
            if not every.isdigit() or int(every) == 0:
                return None
            step = int(every)
        if part in ("*", "?"):
            start, end = low, high
        else:
            bounds = [_number(b, names) for b in part.split("-")]
            if any(b is None for b in bounds) or len(bounds) > 2:
                return None
            start, end = bounds[0], bounds[-1]  # type: ignore[assignment]
        if start is None or end is None or not low <= start <= end <= high:
            return None
        values.update(range(start, end + 1, step))
    return values


def _number(text: str, names: tuple[str, ...]) -> int | None:
    if text.isdigit():
        return int(text)
    upper = text.upper()
    return names.index(upper) + 1 if upper in names else None


def _week_minutes(schedule: str) -> list[int] | None:
    """Minutes of the week (0 = Sunday 00:00) at which ``schedule`` fires, or ``None``."""
    match = _CRON.match(schedule.strip())
    fields = match.group(1).split() if match else []
    if len(fields) not in (5, 6):
        return None
    minutes, hours, day_of_month, month, day_of_week = fields[:5]
    if day_of_month not in ("*", "?") or month != "*" or (len(fields) == 6 and fields[5] != "*"):
        return None
    mins = _numbers(minutes, 0, 59)
    hrs = _numbers(hours, 0, 23)
    days = _numbers(day_of_week, 1, 7, _DAYS)
    if mins is None or hrs is None or days is None:
        return None
    return sorted((d - 1) * 1440 + h * 60 + m for d in days for h in hrs for m in mins)


def weekly_minimum(actions: list[dict[str, Any]]) -> float | None:
    """Average minimum capacity over a week under ``actions`` (``AWS::ApplicationAutoScaling::
    ScalableTarget`` ``ScheduledActions``), or ``None`` when none sets a minimum or one of them is
    not a weekly cron schedule."""
    events: list[tuple[int, int]] = []
    for action in actions:
        minimum = (action.get("ScalableTargetAction") or {}).get("MinCapacity")
        if minimum is None:
            continue
        times = _week_minutes(str(action.get("Schedule", "")))
        if times is None or not isinstance(minimum, int):
            return None
        events += [(t, minimum) for t in times]
    if not events:
        return None
    events.sort()
    total = 0
    for index, (start, minimum) in enumerate(events):
        end = events[index + 1][0] if index + 1 < len(events) else events[0][0] + MINUTES_PER_WEEK
        total += minimum * (end - start)
    return total / MINUTES_PER_WEEK
