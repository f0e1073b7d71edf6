"""Documentation stays true to the code: offline, no synth (reads Markdown, YAML and the snapshots).

Catches the drift of issue 13: claims that something is still to come or costs nothing, tables that
break into paragraphs, links to files that do not exist, an exception list that misses a rule the
templates acknowledge, and a synthesis page that contradicts cdk.json.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from tests.conftest import CDK_CONTEXT, ROOT

README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
MARKDOWN = [README, *DOCS]
SNAPSHOTS = ROOT / "tests" / "snapshots"

#: Phrases that promised a future or a zero cost the code no longer matches (issue 13).
STALE_CLAIMS = ("still to come", "costs nothing while idle", "costs nothing", "pays nothing while idle")

_FENCE = re.compile(r"^\s*(```|~~~)")
_DELIMITER = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_DOC_MENTION = re.compile(r"(?<![\w/.-])((?:docs|examples|tools|config|tests)/[\w./-]*[\w-])")


def _prose_lines(path: Path) -> list[tuple[int, str]]:
    """``(line number, line)`` of ``path`` outside fenced code blocks."""
    lines, fenced = [], False
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, line))
    return lines


def _cells(row: str) -> int:
    """Cells of a Markdown table row (GFM: unescaped pipes split cells, also inside code spans)."""
    text = row.strip()
    text = text[1:] if text.startswith("|") else text
    text = text[:-1] if text.endswith("|") and not text.endswith("\\|") else text
    return len(re.split(r"(?<!\\)\|", text))


def table_problems(path: Path) -> list[str]:
    """Rows whose cell count differs from their header's, and rows that belong to no table.

    A table is a header row followed by a delimiter row of the same width; it ends at the first
    line that is not a row. A row after a blank line starts no new table: it renders as text.
    """
    problems: list[str] = []
    prose = _prose_lines(path)
    width: int | None = None
    for index, (number, line) in enumerate(prose):
        if not line.lstrip().startswith("|"):
            width = None
            continue
        if width is None:
            following = prose[index + 1][1] if index + 1 < len(prose) else ""
            if _DELIMITER.match(following) and _cells(following) == _cells(line):
                width = _cells(line)
            else:
                problems.append(f"{path.name}:{number}: row outside a table (no header and delimiter row above)")
            continue
        if _cells(line) != width:
            problems.append(f"{path.name}:{number}: {_cells(line)} cells, header has {width}")
    return problems


def test_table_checker_finds_a_table_broken_by_a_blank_line(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("| a | b |\n|---|---|\n| 1 | 2 |\n\n| 3 | 4 |\n| 5 | 6 | 7 |\n")
    assert table_problems(page) == ["page.md:5: row outside a table (no header and delimiter row above)",
                                    "page.md:6: row outside a table (no header and delimiter row above)"]
    page.write_text("| a | b |\n|---|---|\n| 1 | `x\\|y` |\n| 5 | 6 | 7 |\n\n```\n| not | a table |\n```\n")
    assert table_problems(page) == ["page.md:4: 3 cells, header has 2"]


@pytest.mark.parametrize("path", MARKDOWN, ids=lambda p: p.name)
def test_every_table_is_well_formed(path):
    assert table_problems(path) == []


def missing_targets(path: Path) -> list[str]:
    """Links ``[text](target)`` and plain mentions such as ``docs/serving.md`` whose file is missing."""
    missing = []
    for number, line in _prose_lines(path):
        for target in _LINK.findall(line):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
                continue  # https:, mailto:, or an anchor of this page
            if not (path.parent / target.split("#")[0]).exists():
                missing.append(f"{path.name}:{number}: link {target}")
        for mention in _DOC_MENTION.findall(line):
            if mention.endswith(".md") and not (ROOT / mention).exists():
                missing.append(f"{path.name}:{number}: {mention}")
    return missing


def test_link_checker_finds_missing_targets(tmp_path):
    page = tmp_path / "page.md"
    (tmp_path / "there.md").write_text("")
    page.write_text("[ok](there.md#part) [web](https://example.com) [gone](gone.md)\n"
                    "see docs/nowhere.md and docs/review-guide.md\n```\n[code](inside.md)\n```\n")
    assert missing_targets(page) == ["page.md:1: link gone.md", "page.md:2: docs/nowhere.md"]


@pytest.mark.parametrize("path", MARKDOWN, ids=lambda p: p.name)
def test_every_relative_link_and_path_mention_exists(path):
    assert missing_targets(path) == []


def test_readme_makes_no_stale_claims():
    text = " ".join(README.read_text().lower().split())
    assert [claim for claim in STALE_CLAIMS if claim in text] == []


def test_readme_names_every_stack():
    """Each stack module in ml_platform/stacks/ appears in the README as <prefix>-<env>-<Stack>."""
    readme = README.read_text()
    stacks = ["".join(part.title() for part in module.stem.removesuffix("_stack").split("_"))
              for module in (ROOT / "ml_platform" / "stacks").glob("*_stack.py")]
    assert len(stacks) >= 7
    assert [stack for stack in stacks if f"<prefix>-<env>-{stack}`" not in readme] == []


def test_readme_idle_cost_counts_what_dev_creates():
    """The idle-cost estimate counts the interface endpoints and zones config/dev.yaml creates."""
    network = yaml.safe_load((ROOT / "config" / "dev.yaml").read_text())["network"]
    endpoints, zones = len(network["interface_endpoints"]), network["az_count"]
    readme = README.read_text()
    assert "### What dev costs while idle" in readme
    section = readme.split("### What dev costs while idle", 1)[1].split("\n## ", 1)[0]
    assert f"{endpoints} interface endpoints x {zones} zones" in section
    assert f"about {round(endpoints * zones * 0.01 * 730)}" in section


def test_readme_links_the_synthesis_page():
    assert "(docs/synthesis.md)" in README.read_text()


def test_synthesis_page_states_the_flags_cdk_json_sets():
    """The JSON block of docs/synthesis.md holds exactly the values cdk.json gives those keys."""
    page = (ROOT / "docs" / "synthesis.md").read_text()
    block = re.search(r"```json\n(\{.*?\})\n```", page, re.S)
    assert block, "docs/synthesis.md has no JSON block of cdk.json flags"
    stated = json.loads(block.group(1))
    assert {"@aws-cdk/core:defaultCrossStackReferences", "@aws-cdk/core:validateAgainstDefaultRules"} <= set(stated)
    assert {key: CDK_CONTEXT.get(key) for key in stated} == stated


def _snapshot_templates() -> list[tuple[Path, dict]]:
    return [(path, json.loads(path.read_text())) for path in sorted(SNAPSHOTS.glob("*/*.template.json"))]


def test_weak_references_leave_no_exports_in_the_snapshots():
    """What docs/synthesis.md says of weak references holds for the committed templates."""
    assert CDK_CONTEXT["@aws-cdk/core:defaultCrossStackReferences"] == "weak"
    templates = _snapshot_templates()
    assert templates, "no committed snapshots"
    texts = {path.relative_to(SNAPSHOTS): json.dumps(template) for path, template in templates}
    assert [p for p, text in texts.items() if '"Export"' in text or "Fn::ImportValue" in text] == []
    assert any("Fn::GetStackOutput" in text for text in texts.values())
