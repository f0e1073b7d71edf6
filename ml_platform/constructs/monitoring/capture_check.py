"""The rule every consumer of an endpoint's data capture shares: the capture is that endpoint's.

SageMaker writes an endpoint's captured records under ``<capture prefix>/<endpoint>/<variant>/
yyyy/mm/dd/hh/``, so the endpoint's capture location (``ModelEndpoint.capture``) ends in the
endpoint's name as its last folder.
"""

from __future__ import annotations

from ml_platform.constructs.lake.lake_locations import LakeDataset


def capture_problems(capture: LakeDataset, endpoint_name: str) -> list[str]:
    """``[]`` if ``capture``'s last folder is ``endpoint_name``, else the one problem naming both."""
    suffix = f"{endpoint_name}/"
    if capture.prefix == suffix or capture.prefix.endswith(f"/{suffix}"):
        return []
    return [f"capture {capture} is not the capture of endpoint {endpoint_name!r} (its last folder must be {suffix!r})"]
