"""Markdown helpers of the review report: escaped table cells, code spans, tables and anchors."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence


def text(value: str) -> str:
    """``value`` as one line of markdown text: ``|``, ``*``, ``<`` and ``>`` escaped, newlines as spaces."""
    flat = " ".join(str(value).split())
    return re.sub(r"([|*<>\\`])", r"\\\1", flat)


def code(value: str) -> str:
    """``value`` as a code span (``|`` escaped, so the span may sit in a table cell)."""
    flat = " ".join(str(value).split()).replace("|", "\\|")
    fence = "``" if "`" in flat else "`"
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    return f"{fence}{pad}{flat}{pad}{fence}"


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """A markdown table; cells must already be markdown (use :func:`text` or :func:`code`).

    A cell's unescaped ``|`` or newline is escaped here too, so the table stays valid.
    """
    def row(cells: Sequence[str]) -> str:
        safe = [re.sub(r"(?<!\\)\|", r"\\|", " ".join(str(c).split())) or " " for c in cells]
        return "| " + " | ".join(safe) + " |"

    lines = [row(header), "|" + "|".join("---" for _ in header) + "|"]
    lines += [row(r) for r in rows]
    return lines


def anchor(*parts: str) -> str:
    """A stable HTML anchor id from ``parts`` (lowercase letters, digits and dashes)."""
    return "-".join(re.sub(r"[^a-z0-9]+", "-", p.lower()).strip("-") for p in parts)
