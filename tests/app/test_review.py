"""`make review`: every environment's review files, prod's committed ones current, and the diff
against the snapshots with IAM first (run `make snapshots` to accept a change of prod's files)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import CONFIG_DIR, ROOT, stack_templates
from tools.review.__main__ import main, write_review
from tools.review.diff import render_diff

REVIEW = ROOT / "review"
UPDATE = os.environ.get("UPDATE_SNAPSHOTS") == "1"
#: The files make review writes for each environment.
FILES = ("report.md", "cost.md", "diff.md", "architecture.svg", "architecture.png")
#: prod's files that are committed.
COMMITTED = ("report.md", "cost.md", "architecture.svg")
ENVIRONMENTS = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


@pytest.fixture(scope="module")
def reviewed(assembly, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("review")
    assert main(["--assembly", str(assembly), "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_environment_gets_every_file_non_empty(reviewed, env):
    for name in FILES:
        assert (reviewed / env / name).stat().st_size > 0, name
    assert (reviewed / env / "architecture.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    # the synthesized app is what the snapshots hold (test_snapshots), so there is nothing to diff
    assert "No change." in (reviewed / env / "diff.md").read_text()


def test_prods_committed_review_files_are_current(reviewed):
    for name in COMMITTED:
        generated, committed = reviewed / "prod" / name, REVIEW / "prod" / name
        if UPDATE:
            committed.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(generated, committed)
        assert committed.exists() and committed.read_bytes() == generated.read_bytes(), (
            f"review/prod/{name} is stale; run `make snapshots` and review the diff before committing"
        )


def test_the_diff_lists_iam_changes_before_the_others_and_names_new_and_removed_stacks(assembly, tmp_path):
    nested = assembly / "assembly-prod"
    snapshots = tmp_path / "prod"
    shutil.copytree(ROOT / "tests" / "snapshots" / "prod", snapshots)
    training = snapshots / "mlp-prod-Training.template.json"
    template = json.loads(training.read_text())
    # the committed Training stack had one more statement in a managed policy: the synth removes it
    policy = next(r for r in template["Resources"].values() if r["Type"] == "AWS::IAM::ManagedPolicy")
    policy["Properties"]["PolicyDocument"]["Statement"].append(
        {"Action": "kms:Sign", "Effect": "Allow", "Resource": "*"})
    # and an output the synth no longer has
    template.setdefault("Outputs", {})["Gone"] = {"Value": "gone"}
    training.write_text(json.dumps(template))
    (snapshots / "mlp-prod-Monitoring.template.json").rename(snapshots / "mlp-prod-Old.template.json")
    text = render_diff("prod", nested, snapshots)
    iam, other = text.index("## IAM and security group changes"), text.index("## Other changes")
    training_iam = text.index("### mlp-prod-Training", iam)
    assert iam < training_iam < other and "kms:Sign" in text[training_iam:other]  # (short: the CLI may wrap table cells)
    assert "Gone" in text[other:]
    assert "### mlp-prod-Old" in text[other:] and "Stack removed" in text[other:]
    assert "### mlp-prod-Monitoring" in text[other:]  # no snapshot: compared with an empty template
    stacks = len(list((ROOT / "tests" / "snapshots" / "prod").glob("*.template.json")))
    assert f"Changed stacks: 2; unchanged: {stacks - 2}; removed: 1." in text


def test_an_unknown_environment_is_refused_in_one_line(capsys):
    assert main(["--env", "nowhere"]) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0


def test_written_files_are_those_of_one_environment(assembly, tmp_path):
    written = write_review("dev", "us-east-1", assembly, tmp_path / "dev")
    assert sorted(p.name for p in written) == sorted(FILES)
    assert sorted(p.name for p in (tmp_path / "dev").iterdir()) == sorted(FILES)
    report = (tmp_path / "dev" / "report.md").read_text()
    for name in stack_templates(assembly)["dev"]:
        assert name.removeprefix("mlp-dev-") in report, name
