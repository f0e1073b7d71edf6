"""Failure coverage: synthesize every environment and print, per environment, how many resources
that can fail at run time have a route to an alert topic that admits its publisher
(``failure coverage <env>: covered/total``), then every uncovered one (rules: tests/alert_coverage.py).

    python tools/alert_coverage.py [--config-dir config] [--assembly DIR]

Exit status 1 when any source is uncovered; 2 when the configuration is invalid.
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
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--config-dir", type=Path, default=ROOT / "config")
    parser.add_argument("--assembly", type=Path, help="check this cloud assembly instead of synthesizing")
    args = parser.parse_args(argv)

    from ml_platform.config import ConfigError, load_environments
    from tests.alert_coverage import failure_coverage, render
    from tests.conftest import stack_templates, synth_platform

    try:
        load_environments(args.config_dir)
    except ConfigError as error:
        print(f"Invalid configuration:\n{error}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as out:
        assembly = args.assembly or synth_platform(Path(out), config_dir=args.config_dir)
        results = {env: failure_coverage({name: json.loads(path.read_text()) for name, path in stacks.items()})
                   for env, stacks in stack_templates(assembly).items()}
    print(render(results))
    return 1 if any(r.uncovered for r in results.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
