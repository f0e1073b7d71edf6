"""Regenerate ml_platform/constructs/training/image_uris.json from the SageMaker SDK.

Synthesis reads SageMaker's own image URIs from that committed table instead of importing the SDK
(``sagemaker-core`` pulls pandas and scipy). The SDK stays the authority: this script asks it, for
every family in :data:`FAMILIES`, every version it lists and every region it lists for that
version (all partitions it knows), exactly what the library used to ask it at synth:
``image_uris.retrieve(family, region, version=version)``. tests/unit/test_image_table.py checks
that the committed table equals this script's output with the pinned SDK (requirements-dev.lock).

    python tools/image_table.py          # rewrite the table after upgrading sagemaker-core
    python tools/image_table.py --check  # exit 1 if the committed table is stale
"""

from __future__ import annotations

import argparse
import functools
import importlib.metadata
import json
import logging
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TABLE = ROOT / "ml_platform" / "constructs" / "training" / "image_uris.json"

#: Image families the platform resolves: the training pipeline's built-in algorithm (xgboost) and
#: processing image (sklearn), Model Monitor's analyzer (model-monitor) and Clarify (clarify), and
#: every SageMaker built-in algorithm a served container may name (``algorithm``).
FAMILIES = (
    "blazingtext", "clarify", "factorization-machines", "forecasting-deepar", "image-classification",
    "ipinsights", "kmeans", "knn", "lda", "linear-learner", "model-monitor", "ntm", "object-detection",
    "object2vec", "pca", "randomcutforest", "semantic-segmentation", "seq2seq", "sklearn", "xgboost",
)
#: The scope the SDK picks when none is given: its training images (xgboost and sklearn use the
#: same images for inference); other families have one scope, or one set of images for both.
DEFAULT_SCOPE = "training"


def _versions(image_uris: Any, family: str) -> dict[str, Any]:
    """The SDK's version configs of ``family`` in the scope ``retrieve`` uses without one."""
    config = image_uris.config_for_framework(family)
    if "versions" not in config:  # one config per scope
        scopes = list(config)
        config = config[DEFAULT_SCOPE if DEFAULT_SCOPE in scopes else scopes[0]]
    versions: dict[str, Any] = config["versions"]
    return versions


def generate() -> dict[str, Any]:
    """The table: family -> version (the SDK's order; "" when the family has no versions) ->
    region (sorted) -> image URI, and the sagemaker-core release it came from."""
    from sagemaker.core import common_utils, image_uris

    logging.getLogger("sagemaker").setLevel(logging.WARNING)  # "Defaulting to ..." notes
    images: dict[str, dict[str, dict[str, str]]] = {}
    # retrieve() parses botocore's endpoint data (for the ECR host name) on every call; the same
    # resolver for every call makes this seconds instead of a minute, and changes no answer.
    resolver = common_utils._botocore_resolver
    common_utils._botocore_resolver = functools.cache(resolver)
    try:
        for family in sorted(FAMILIES):
            images[family] = {}
            for version, config in _versions(image_uris, family).items():
                regions = sorted(config["registries"])
                images[family][version] = {
                    region: image_uris.retrieve(family, region, version=version or None) for region in regions}
    finally:
        common_utils._botocore_resolver = resolver
    return {"generator": "python tools/image_table.py",
            "sagemaker-core": importlib.metadata.version("sagemaker-core"), "images": images}


def render(table: dict[str, Any]) -> str:
    """The table's file text (deterministic: the order of :func:`generate`, one entry a line)."""
    return json.dumps(table, indent=1) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--check", action="store_true", help="only compare with the committed table")
    args = parser.parse_args(argv)
    text = render(generate())
    if args.check:
        if TABLE.read_text() != text:
            print(f"{TABLE.relative_to(ROOT)} is stale: run python tools/image_table.py", file=sys.stderr)
            return 1
        return 0
    TABLE.write_text(text)
    table = json.loads(text)["images"]
    count = sum(len(regions) for versions in table.values() for regions in versions.values())
    print(f"{TABLE.relative_to(ROOT)}: {len(table)} families, {count} image URIs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
