"""Image URIs of SageMaker's own images per region, from the SageMaker SDK's registry (offline).

The registry is ``sagemaker-core``, an optional extra of this library (it pulls pandas and scipy):
``pip install 'sagemaker-ml-platform-cdk[images]'``.
"""

from __future__ import annotations

import functools
from types import ModuleType

#: What installs the SDK's image registry; named by the error raised when it is missing.
IMAGES_EXTRA = "sagemaker-ml-platform-cdk[images]"


def _image_uris() -> ModuleType:
    """The SDK's ``image_uris`` module (heavy: imported only when an image is needed).

    :raises ModuleNotFoundError: in one line naming the extra to install, if the SDK is missing.
    """
    try:
        from sagemaker.core import image_uris
    except ModuleNotFoundError as error:
        if not (error.name or "").startswith("sagemaker"):
            raise  # the SDK is there but one of its own dependencies is not
        raise ModuleNotFoundError(
            f"SageMaker built-in image URIs come from sagemaker-core, which is not installed: "
            f"pip install '{IMAGES_EXTRA}'", name=error.name) from None
    module: ModuleType = image_uris  # untyped: sagemaker-core ships no py.typed
    return module


@functools.cache
def builtin_image(family: str, region: str, version: str | None = None) -> str:
    """The region's URI of a built-in image (an algorithm such as ``xgboost`` with its
    ``version``, or ``model-monitor``, ``clarify``); the SDK's ``ValueError`` if it lists none,
    a ``ModuleNotFoundError`` naming :data:`IMAGES_EXTRA` if the SDK is not installed."""
    uri: str = _image_uris().retrieve(family, region, version=version)
    return uri
