"""``diff.md``: what a synthesized environment changes against the committed snapshots, offline.

aws-cdk's own diff engine is the authority: each stack whose template differs from
``tests/snapshots/<env>/<stack name>.template.json`` is compared by the pinned CDK CLI,
``cdk diff --app <assembly> --template <snapshot> <env>/<stack>``, which reads both from disk and
needs no credentials. A stack with no snapshot is compared with an empty template (every resource
added); a snapshot with no stack is listed as a removed stack. The CLI prints a stack's IAM and
security-group changes before its other changes: this page puts those sections of every stack
first, then the rest.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CDK = ROOT / "node_modules" / ".bin" / "cdk"
#: Headings the CLI prints for security changes, before a stack's other sections.
SECURITY_HEADINGS = ("IAM Statement Changes", "IAM Policy Changes", "Security Group Changes")
#: Headings of the CLI's other sections of a stack's diff.
OTHER_HEADINGS = ("Parameters", "Conditions", "Mappings", "Resources", "Outputs", "Other Changes",
                  "Description", "Metadata", "Transform", "AWSTemplateFormatVersion")
#: Concurrent CLI runs (each is a Node.js process).
WORKERS = 2
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass(frozen=True)
class StackDiff:
    """The CLI's diff of one stack, split into its security sections and the rest."""

    stack: str
    security: str
    other: str


def stack_diffs(assembly_env: Path, snapshots: Path) -> tuple[list[StackDiff], list[str], list[str]]:
    """Diffs of the stacks of one environment's nested assembly ``assembly_env`` (``assembly-<env>``)
    against ``snapshots`` (``tests/snapshots/<env>``): (diffs of changed stacks, names of
    unchanged stacks, names of removed stacks)."""
    stacks = _stacks(assembly_env)
    committed = {p.name.removesuffix(".template.json"): p for p in snapshots.glob("*.template.json")}
    changed = [(name, display, template) for name, (display, template) in stacks.items()
               if name not in committed or committed[name].read_bytes() != template.read_bytes()]
    unchanged = sorted(set(stacks) - {name for name, _, _ in changed})
    removed = sorted(set(committed) - set(stacks))
    with tempfile.TemporaryDirectory() as scratch:
        empty = Path(scratch) / "empty.template.json"
        empty.write_text("{}")
        jobs = [(name, display, committed.get(name, empty)) for name, display, _ in changed]
        with ThreadPoolExecutor(WORKERS) as pool:
            diffs = list(pool.map(lambda job: _cdk_diff(assembly_env.parent, *job), jobs))
    return sorted(diffs, key=lambda d: d.stack), unchanged, removed


def render_diff(env: str, assembly_env: Path, snapshots: Path) -> str:
    """``diff.md`` of ``env`` (see the module docstring)."""
    diffs, unchanged, removed = stack_diffs(assembly_env, snapshots)
    lines = [f"# {env}: changes against the committed snapshots", "",
             f"Compared with `tests/snapshots/{env}/` by `cdk diff --template` (aws-cdk's diff engine, offline). "
             f"Changed stacks: {len(diffs)}; unchanged: {len(unchanged)}; removed: {len(removed)}.", ""]
    if not diffs and not removed:
        return "\n".join([*lines, "No change.", ""])
    lines += ["## IAM and security group changes", ""]
    security = [d for d in diffs if d.security]
    if not security:
        lines += ["None.", ""]
    for d in security:
        lines += [f"### {d.stack}", "", "```", d.security, "```", ""]
    lines += ["## Other changes", ""]
    for name in removed:
        lines += [f"### {name}", "", "Stack removed: its snapshot has no stack in the synthesized app.", ""]
    for d in diffs:
        lines += [f"### {d.stack}", "", "```", d.other or "(security changes only)", "```", ""]
    if unchanged:
        lines += ["## Unchanged", "", ", ".join(unchanged), ""]
    return "\n".join(lines)


def _stacks(assembly_env: Path) -> dict[str, tuple[str, Path]]:
    """Stack name -> (the CLI's display name ``<env>/<id>``, template path) of a nested assembly."""
    manifest = json.loads((assembly_env / "manifest.json").read_text())
    return {
        artifact["properties"]["stackName"]: (artifact.get("displayName", artifact_id),
                                              assembly_env / artifact["properties"]["templateFile"])
        for artifact_id, artifact in manifest["artifacts"].items() if artifact["type"] == "aws:cloudformation:stack"
    }


def _cdk_diff(assembly: Path, name: str, display: str, baseline: Path) -> StackDiff:
    command = [str(CDK), "--no-notices", "--no-color", "diff", "--exclusively", "--app", str(assembly),
               "--template", str(baseline), display]
    env = {**os.environ, "AWS_EC2_METADATA_DISABLED": "true", "CDK_DISABLE_CLI_TELEMETRY": "true"}
    # exit status 1 only says that there are differences (without --fail it is 0 either way)
    run = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    output = _ANSI.sub("", run.stdout + run.stderr)
    if run.returncode not in (0, 1) or not re.search(rf"^Stack {re.escape(display)}\b", output, re.MULTILINE):
        raise RuntimeError(f"cdk diff of {display} failed: {' '.join(output.split())}")
    return _split(name, output)


def _split(name: str, output: str) -> StackDiff:
    """The security sections and the other sections of one stack's CLI output."""
    security: list[str] = []
    other: list[str] = []
    target = other
    for line in output.splitlines():
        heading = line.strip()
        if heading.startswith("Stack ") or heading.startswith("✨") or "Number of stacks with differences" in heading:
            continue
        if heading in SECURITY_HEADINGS:
            target = security
        elif heading in OTHER_HEADINGS:
            target = other
        target.append(line.rstrip())
    return StackDiff(name, "\n".join(security).strip(), "\n".join(other).strip())

