"""``make review``: for every environment, what a reviewer reads before a deploy, offline.

Synthesizes the app as the tests do (the templates of ``tests/snapshots/``, gates included) and
writes ``review/<env>/``:

* ``report.md``: per stack what it creates, every role's trust and permissions in plain words,
  network paths, keys and their users, every exception with its reason (:mod:`tools.review.report`);
* ``diff.md``: the change against the committed snapshots, IAM and security groups first
  (:mod:`tools.review.diff`, aws-cdk's ``cdk diff --template``);
* ``architecture.svg`` and ``architecture.png``: the lifecycle left to right
  (:mod:`tools.review.architecture`);
* ``cost.md``: the fixed cost while idle, from the committed price table of the environment's
  region (:mod:`tools.review.cost`).

    python -m tools.review [--config-dir config] [--assembly DIR] [--out review] [--env ENV ...]

Exit status 2 when the configuration is invalid.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Synthesis needs no AWS access: do not probe the EC2 instance metadata service for credentials.
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
SNAPSHOTS = ROOT / "tests" / "snapshots"


def write_review(env: str, region: str, assembly: Path, out: Path, snapshots: Path = SNAPSHOTS) -> list[Path]:
    """Write the review files of ``env`` from its nested assembly under ``assembly`` into ``out``."""
    from tools.review.architecture import render_architecture
    from tools.review.cost import render_cost
    from tools.review.diff import render_diff
    from tools.review.report import render_report

    nested = assembly / f"assembly-{env}"
    manifest = json.loads((nested / "manifest.json").read_text())
    templates = {
        artifact["properties"]["stackName"]: json.loads((nested / artifact["properties"]["templateFile"]).read_text())
        for artifact in manifest["artifacts"].values() if artifact["type"] == "aws:cloudformation:stack"
    }
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in (("report.md", render_report(env, templates)), ("cost.md", render_cost(env, templates, region)),
                       ("diff.md", render_diff(env, nested, snapshots / env))):
        (out / name).write_text(text)
        written.append(out / name)
    return written + render_architecture(env, templates, out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--config-dir", type=Path, default=ROOT / "config")
    parser.add_argument("--assembly", type=Path, help="review this cloud assembly instead of synthesizing")
    parser.add_argument("--out", type=Path, default=ROOT / "review")
    parser.add_argument("--env", action="append", help="only this environment (repeatable)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from ml_platform.config import ConfigError, load_environments
    from tests.conftest import synth_platform

    try:
        configs = load_environments(args.config_dir)
    except ConfigError as error:
        print(f"Invalid configuration:\n{error}", file=sys.stderr)
        return 2
    unknown = sorted(set(args.env or []) - set(configs))
    if unknown:
        print(f"--env: {', '.join(unknown)} has no file in {args.config_dir}; environments: {', '.join(configs)}",
              file=sys.stderr)
        return 2
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        assembly = args.assembly or synth_platform(Path(scratch), config_dir=args.config_dir)
        for env in args.env or sorted(configs):
            written = write_review(env, configs[env].region, assembly, args.out / env)
            print(f"review: {env}: {', '.join(p.name for p in written)} in {args.out / env}")
    print(f"review: done in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
