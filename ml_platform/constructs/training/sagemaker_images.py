"""Image URIs of SageMaker's own images per region, from the SageMaker SDK's registry (offline)."""

from __future__ import annotations

import functools


@functools.cache
def builtin_image(family: str, region: str, version: str | None = None) -> str:
    """The region's URI of a built-in image (an algorithm such as ``xgboost`` with its
    ``version``, or ``model-monitor``, ``clarify``); the SDK's ``ValueError`` if it lists none."""
    from sagemaker.core import image_uris  # heavy: imported only when an image is needed

    return image_uris.retrieve(family, region, version=version)
