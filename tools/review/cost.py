"""``cost.md``: what an environment bills by the hour and by the month while idle.

Idle means no requests and no jobs. The lines come from the synthesized templates
(:mod:`tools.review.cost_model`, :mod:`tools.review.cost_endpoints`) priced with the committed list
prices of the region (``tools/review/prices/<region>.json``, :mod:`tools.review.cost_prices`);
a month is 730 hours. Totals are a range: the low end lets this environment use the account's free
tiers (10 alarm metrics, 3 dashboards) alone, the high end assumes other workloads use them up.
Every other resource type of the templates is listed with why it costs nothing while idle
(:mod:`tools.review.cost_catalog`), or as unclassified.
"""

from __future__ import annotations

from typing import Any

from tools.review.cost_catalog import KIND_TITLES, classify
from tools.review.cost_model import CostLine, cost_lines, walk
from tools.review.cost_prices import HOURS_PER_MONTH, PriceTable, PriceTableError, load_prices

__all__ = ["CostLine", "PriceTableError", "idle_cost", "idle_total", "render_cost"]


def idle_cost(env: str, templates: dict[str, dict[str, Any]], region: str) -> list[CostLine]:
    """The lines of what ``templates`` (stack name -> template of environment ``env``) bill while idle
    at ``region``'s list prices.

    :raises PriceTableError: when ``region`` has no committed price table.
    """
    return cost_lines(env, templates, load_prices(region))


def idle_total(lines: list[CostLine]) -> tuple[float, float]:
    """``(low, high)`` per month: with and without the account's free tiers; lines without a price
    are left out."""
    return (round(sum(line.per_month_after_free_tier for line in lines), 2),
            round(sum(line.per_month for line in lines), 2))


def _money(low: float, high: float, digits: int = 2) -> str:
    text = f"{high:,.{digits}f}"
    return text if round(low, digits) == round(high, digits) else f"{low:,.{digits}f} to {text}"


def _count(value: float) -> str:
    return f"{value:g}" if value == int(value) else f"{value:.2f}"


def _price(value: float) -> str:
    text = f"{value:.6f}".rstrip("0")
    return text + "0" * max(0, 2 - len(text.split(".")[1]))


def _row(line: CostLine) -> str:
    if line.unit_price is None:
        price = "**no price in the table**" if line.missing else f"0 ({line.unit})" if line.count else "-"
    else:
        price = f"USD {_price(line.unit_price)} per {line.unit} ([source]({line.source}))"
    low, high = line.per_month_after_free_tier, line.per_month
    hourly = "?" if line.missing else _money(low / HOURS_PER_MONTH, high / HOURS_PER_MONTH, 4)
    monthly = "?" if line.missing else _money(low, high)
    keys = ", ".join(f"`{key}`" for key in line.keys)
    return f"| {line.what} | {_count(line.count)} | {price} | {hourly} | {monthly} | {keys} |"


def _idle_free_section(env: str, templates: dict[str, dict[str, Any]], priced: set[str]) -> list[str]:
    counts: dict[str, int] = {}
    tiers: set[str] = set()
    for r in walk(env, templates):
        counts[r.type] = counts.get(r.type, 0) + 1
        if r.type == "AWS::Cognito::UserPool":
            tiers.add(str(r.properties.get("UserPoolTier", "ESSENTIALS (the default)")))
    groups: dict[str, list[str]] = {}
    for resource_type in sorted(counts):
        if resource_type in priced:
            continue
        known = classify(resource_type)
        kind, why = known or ("unclassified", "not classified: check whether it bills by the hour")
        if resource_type == "AWS::Cognito::UserPool" and tiers:
            why += f" (tier {', '.join(sorted(tiers))})"
        groups.setdefault(kind, []).append(f"- `{resource_type}` ({counts[resource_type]}): {why}")
    out = ["", "## Present but not billed while idle", ""]
    for kind, title in [("unclassified", "Unclassified (add to tools/review/cost_catalog.py)"),
                        *KIND_TITLES.items()]:
        if kind in groups:
            out += [f"{title}:", "", *groups[kind], ""]
    return out


def _prices_section(prices: PriceTable, lines: list[CostLine]) -> list[str]:
    used = {line.unit for line in lines if line.unit_price is not None}
    if any(line.resource_type == "AWS::KMS::Key" and "rotate" in line.note for line in lines):
        used.add(prices.prices["kms_rotation"].unit if "kms_rotation" in prices.prices else "")
    notes = [f"- {p.unit}: {p.note}" for p in sorted(prices.prices.values(), key=lambda p: p.name)
             if p.note and p.unit in used]
    return ["", "## Prices", "", f"{prices.note} Read {prices.source_date}.", "", *notes] if notes else []


def render_cost(env: str, templates: dict[str, dict[str, Any]], region: str) -> str:
    """``cost.md`` of environment ``env`` (markdown, deterministic).

    :raises PriceTableError: when ``region`` has no committed price table.
    """
    prices = load_prices(region)
    lines = cost_lines(env, templates, prices)
    low, high = idle_total(lines)
    missing = [line for line in lines if line.missing]
    out = [f"# Idle cost: {env} ({region})", "",
           "What the environment bills while idle (no requests, no jobs), estimated from the synthesized "
           f"templates at {region} list prices read {prices.source_date} (`tools/review/prices/{region}.json`). "
           f"A month is {HOURS_PER_MONTH} hours. Where a range is shown, the low end lets this environment use "
           "the account's free tiers alone. Storage, requests and scheduled runs are not included.", "",
           "| what | count | unit price | per hour | per month | config keys |",
           "|---|---:|---|---:|---:|---|",
           *(_row(line) for line in lines),
           f"| **total**{' (without the lines marked ?)' if missing else ''} | | | "
           f"**{_money(low / HOURS_PER_MONTH, high / HOURS_PER_MONTH, 4)}** | **{_money(low, high)}** | |"]
    if missing:
        out += ["", "**Incomplete:** no price in the table for "
                + "; ".join(f"{line.what} ({line.unit})" for line in missing) + "; the total leaves them out."]
    details = [f"- **{line.what}**: " + "; ".join(filter(None, [", ".join(line.resources), line.note]))
               for line in lines if line.resources or line.note]
    out += ["", "## Details", "", *details] if details else []
    out += _idle_free_section(env, templates, {line.resource_type for line in lines})
    out += _prices_section(prices, lines)
    return "\n".join(out).rstrip() + "\n"
