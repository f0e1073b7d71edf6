"""Each environment's synthesized templates match tests/snapshots/ (run `make snapshots` to accept).

A change to the CloudFormation the platform produces therefore shows up as a reviewable diff of
tests/snapshots/<env>/<stack name>.template.json in the same commit.
"""

from __future__ import annotations

import os

import pytest

from tests.conftest import CONFIG_DIR, ROOT, stack_templates

SNAPSHOTS = ROOT / "tests" / "snapshots"
UPDATE = os.environ.get("UPDATE_SNAPSHOTS") == "1"


@pytest.mark.parametrize("env", sorted(p.stem for p in CONFIG_DIR.glob("*.yaml")))
def test_templates_match_snapshots(assembly, env):
    stacks = stack_templates(assembly)[env]
    folder = SNAPSHOTS / env
    if UPDATE:
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.template.json"):
            stale.unlink()
        for name, path in stacks.items():
            (folder / f"{name}.template.json").write_bytes(path.read_bytes())
    committed = sorted(p.name for p in folder.glob("*.template.json"))
    assert committed == sorted(f"{name}.template.json" for name in stacks), (
        f"snapshots of {env} do not list the same stacks; run `make snapshots` and review the diff"
    )
    for name, path in stacks.items():
        expected = (folder / f"{name}.template.json").read_text()
        assert path.read_text() == expected, (
            f"{env}/{name} changed; run `make snapshots` and review the diff before committing"
        )
