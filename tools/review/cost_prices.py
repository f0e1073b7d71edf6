"""Committed list-price tables, one JSON file per region in ``tools/review/prices/<region>.json``.

A table has ``source_date``, a ``note``, ``prices`` (name -> ``value``, ``unit``, ``period``
``hour`` or ``month``, ``source`` URL, optional ``free_per_account`` and ``note``) and
``resource_types`` (CloudFormation type -> the price names that bill it). SageMaker instance prices
are named ``sagemaker_instance:<instance type>``.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PRICES_DIR = Path(__file__).resolve().parent / "prices"
#: Hours in the month every monthly figure uses (AWS pricing pages use 730).
HOURS_PER_MONTH = 730
INSTANCE_PRICE = "sagemaker_instance:"


class PriceTableError(ValueError):
    """No price table for a region; ``str()`` is one line naming the region and the tables there are."""


@dataclass(frozen=True)
class Price:
    """One list price."""

    name: str
    value: float
    unit: str
    period: str
    source: str
    free_per_account: int = 0
    note: str = ""

    def per_hour(self, count: float) -> float:
        """What ``count`` units cost per hour."""
        return count * self.value if self.period == "hour" else count * self.value / HOURS_PER_MONTH

    def per_month(self, count: float) -> float:
        """What ``count`` units cost per month of :data:`HOURS_PER_MONTH` hours."""
        return count * self.value * HOURS_PER_MONTH if self.period == "hour" else count * self.value


@dataclass(frozen=True)
class PriceTable:
    """The prices of one region."""

    region: str
    source_date: str
    note: str
    prices: dict[str, Price]
    resource_types: dict[str, tuple[str, ...]]

    def get(self, name: str) -> Price | None:
        """The price called ``name``, ``None`` when the table lacks it."""
        return self.prices.get(name)

    def instance(self, instance_type: str) -> Price | None:
        """The real-time inference price of one ``ml.*`` instance type."""
        return self.prices.get(INSTANCE_PRICE + instance_type)


def available_regions() -> list[str]:
    """Regions that have a committed price table."""
    return sorted(path.stem for path in PRICES_DIR.glob("*.json"))


@functools.cache
def load_prices(region: str) -> PriceTable:
    """The committed price table of ``region``.

    :raises PriceTableError: when there is none.
    """
    path = PRICES_DIR / f"{region}.json"
    if not path.is_file():
        raise PriceTableError(f"no price table for region {region!r} in tools/review/prices/ "
                              f"(available: {', '.join(available_regions()) or 'none'})")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    prices = {name: Price(name=name, value=float(p["value"]), unit=p["unit"], period=p["period"],
                          source=p["source"], free_per_account=int(p.get("free_per_account", 0)),
                          note=p.get("note", ""))
              for name, p in data["prices"].items()}
    return PriceTable(region=data["region"], source_date=data["source_date"], note=data["note"], prices=prices,
                      resource_types={t: tuple(names) for t, names in data["resource_types"].items()})
