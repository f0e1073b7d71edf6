"""Image URIs of SageMaker's own images per region, from a table generated from the SageMaker SDK.

The SDK's registry (``sagemaker-core``, which pulls pandas and scipy) is the authority, but
synthesis does not import it: ``image_uris.json`` next to this module holds what the SDK answers
for every image family the platform uses, every version and every region the SDK lists for it
(``python tools/image_table.py`` writes it; a test checks it against the pinned SDK).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

#: The committed table: family -> version ("" for a family without versions) -> region -> URI.
TABLE = Path(__file__).with_name("image_uris.json")
#: How to refresh the table; every lookup error names it.
REGENERATE = "regenerate with python tools/image_table.py after upgrading sagemaker-core"


@functools.cache
def _images() -> dict[str, dict[str, dict[str, str]]]:
    images: dict[str, dict[str, dict[str, str]]] = json.loads(TABLE.read_text())["images"]
    return images


@functools.cache
def builtin_image(family: str, region: str, version: str | None = None) -> str:
    """The region's URI of a built-in image: an algorithm such as ``xgboost`` with its
    ``version``, the ``sklearn`` processing image, ``model-monitor`` or ``clarify``. ``version``
    may be left out (default ``None``) for a family with one version.

    :raises FileNotFoundError: in one line, if the table has no such family (as the SDK does: it
        keeps one file per family).
    :raises ValueError: in one line naming what the table has, if it has no such version or no
        image of that version in ``region``.
    """
    images = _images()
    if family not in images:
        raise FileNotFoundError(f"the SageMaker image table ({TABLE.name}) has no image family {family!r} "
                                f"({REGENERATE}). Supported families: {', '.join(images)}.")
    versions = images[family]
    if version is None and len(versions) == 1:
        [version] = versions
    if version not in versions:
        raise ValueError(f"the SageMaker image table ({TABLE.name}) has no {family} version {version!r} "
                         f"({REGENERATE}). Supported {family} version(s): {', '.join(versions)}.")
    regions = versions[version]
    if region not in regions:
        image = f"{family} {version}" if version else family
        raise ValueError(f"the SageMaker image table ({TABLE.name}) has no {image} image in region {region!r} "
                         f"({REGENERATE}). Supported regions: {', '.join(regions)}.")
    return regions[region]
