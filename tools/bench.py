"""`make bench`: synth wall time, CPU time and peak memory, and per stack resource count and
template size.

Synthesizes the committed environments with the CDK CLI exactly as `make synth` does (cdk-nag's
packs on, aws-cdk-lib's built-in CloudFormation validation off unless
``ML_PLATFORM_BUILTIN_VALIDATION=true`` is set), in a temporary output directory, and compares each
template with CloudFormation's quotas. CPU per resource (CPU seconds of the synth over the
resources of every stack) is the figure to compare between commits as the platform grows.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from ml_platform.constructs.core.iam_limits import largest_policy_share  # noqa: E402
#: CloudFormation quotas: resources per stack, template body size via S3 (CDK uploads templates
#: through the bootstrap bucket) and inline.
MAX_RESOURCES = 500
MAX_TEMPLATE_BYTES = 1_048_576
MAX_INLINE_TEMPLATE_BYTES = 51_200
#: Share of each CloudFormation limit a template may use (the platform's partitioning keeps under it).
LIMIT_SHARE = 0.8


def main() -> int:
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        synth = subprocess.run(
            ["cdk", "--no-notices", "synth", "--quiet", "--output", out],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env={**os.environ, "AWS_EC2_METADATA_DISABLED": "true"},
        )
        if synth.returncode != 0:
            print(synth.stdout + synth.stderr)
            return synth.returncode
        wall = time.perf_counter() - started
        # ru_maxrss of children is the largest resident set of any one waited-for descendant (KiB);
        # their user + system time is the CPU time of every waited-for descendant.
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        peak_mib, cpu = usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime
        print(f"synth wall time: {wall:.1f} s   cpu time: {cpu:.1f} s   "
              f"peak memory (largest process): {peak_mib:.0f} MiB")
        print(f"{'stack':<32} {'resources':>9} {'of':>4} {'bytes':>9} {'% of 1 MB':>9} {'inline 51 KB':>13}  "
              "largest IAM document, % of its quota (characters, estimated as synth checks them)")
        total, over = 0, []
        templates: dict[Path, dict[str, dict]] = {}
        for assembly, stack, template in _stacks(Path(out)):
            templates.setdefault(assembly, {})[stack] = json.loads((assembly / template).read_bytes())
        for assembly, stack, template in _stacks(Path(out)):
            body = (assembly / template).read_bytes()
            count = len(templates[assembly][stack].get("Resources", {}))
            total += count
            share, policy = largest_policy_share(templates[assembly], stack)
            if count > LIMIT_SHARE * MAX_RESOURCES or len(body) > LIMIT_SHARE * MAX_TEMPLATE_BYTES or share > 1:
                over.append(stack)
            inline = "fits" if len(body) <= MAX_INLINE_TEMPLATE_BYTES else "via S3"
            print(
                f"{stack:<32} {count:>9} {MAX_RESOURCES:>4} {len(body):>9} "
                f"{100 * len(body) / MAX_TEMPLATE_BYTES:>8.1f}% {inline:>13}  "
                + (f"{100 * share:5.1f}% {policy}" if policy else "-")
            )
        print(f"resources, every stack: {total}   cpu per resource: {1000 * cpu / max(total, 1):.1f} ms")
        if over:
            print(f"over {LIMIT_SHARE:.0%} of CloudFormation's resource or size limit, or an IAM quota: {', '.join(over)}")
            return 1
    return 0


def _stacks(out: Path):
    """(assembly dir, stack name, template file) of every stack, from the assembly manifests."""
    for manifest in sorted(out.glob("assembly-*/manifest.json")):
        artifacts = json.loads(manifest.read_text())["artifacts"]
        for artifact in artifacts.values():
            if artifact["type"] == "aws:cloudformation:stack":
                props = artifact["properties"]
                yield manifest.parent, props["stackName"], props["templateFile"]


if __name__ == "__main__":
    raise SystemExit(main())
