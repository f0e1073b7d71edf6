"""A JSON document generated at synth time, shipped as an S3 asset one role may read.

The file is named after its content in a folder of the temporary directory and written
atomically (write, then rename), so that concurrent synths never read half a file and two synths
of the same document stage the same asset.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct


def json_asset(scope: Construct, construct_id: str, document: Any, *, reader: iam.IGrantable) -> s3_assets.Asset:
    """``document`` as an asset ``reader`` may GET (that one object, not the whole asset bucket:
    an asset grant would read every asset of the account)."""
    text = json.dumps(document, indent=2, sort_keys=True)
    folder = Path(tempfile.gettempdir()) / "ml-platform-json"
    folder.mkdir(exist_ok=True)
    path = folder / f"{hashlib.sha256(text.encode()).hexdigest()}.json"
    if not path.exists():
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(text)
        os.replace(partial, path)
    asset = s3_assets.Asset(scope, construct_id, path=str(path))
    iam.Grant.add_to_principal(grantee=reader, actions=["s3:GetObject"],
                               resource_arns=[asset.bucket.arn_for_objects(asset.s3_object_key)])
    return asset
