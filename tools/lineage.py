"""Lineage check: synthesize every environment and print who reads and writes which lake location.

Per environment one line ``lineage: <env>: locations checked N, hand-offs M (reads matched to a
writer), role/action pairs evaluated K, problems P``, a total, then every problem and note (the
engine and its rules: tests/lineage.py).

    python tools/lineage.py [--config-dir config] [--assembly DIR] [--warn-only]

``--assembly`` checks an existing cloud assembly (e.g. ``cdk.out`` of ``make synth``) instead of
synthesizing into a temporary directory. Exit status 1 when there is any problem, unless
``--warn-only``; 2 when the configuration is invalid.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# Synthesis needs no AWS access: do not probe the EC2 instance metadata service for credentials.
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--config-dir", type=Path, default=ROOT / "config")
    parser.add_argument("--assembly", type=Path, help="check this cloud assembly instead of synthesizing")
    parser.add_argument("--warn-only", action="store_true", help="exit 0 even when problems are found")
    args = parser.parse_args(argv)

    from ml_platform.config import ConfigError, load_environments
    from tests.conftest import stack_templates, synth_platform
    from tests.lineage import check_all, render

    try:
        configs = load_environments(args.config_dir)
    except ConfigError as error:
        print(f"Invalid configuration:\n{error}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as out:
        assembly = args.assembly or synth_platform(Path(out), config_dir=args.config_dir)
        templates = {env: {name: json.loads(path.read_text()) for name, path in stacks.items()}
                     for env, stacks in stack_templates(assembly).items()}
    reports = check_all(templates, configs)
    print(render(reports))
    return 1 if any(r.problems for r in reports) and not args.warn_only else 0


if __name__ == "__main__":
    raise SystemExit(main())
