"""``ScriptAsset``: Glue code shipped as a CDK asset, readable by the job role and nothing more.

``glue.Code.from_asset`` grants ``s3:GetObject*``, ``s3:GetBucket*`` and ``s3:List*`` on the
whole assets bucket; a job needs ``s3:GetObject`` on its own file only.
"""

from __future__ import annotations

from pathlib import Path

import jsii
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct


#: Never part of an asset: bytecode differs between machines and would change the asset hash.
ASSET_EXCLUDES = ["__pycache__", "*.pyc"]


class ScriptAsset(glue.Code):
    """A local file, or a folder zipped, deployed as an asset.

    Binding grants ``s3:GetObject`` on that one object. A folder becomes a ``.zip`` whose
    modules a job imports by name when given in ``extra_python_files``.
    """

    def __init__(self, path: Path) -> None:
        super().__init__()
        if not path.exists():
            raise ValueError(f"ScriptAsset: {path} does not exist")
        self._path = path
        self._asset: s3_assets.Asset | None = None

    @jsii.member(jsii_name="bind")
    def bind(self, scope: Construct, grantable: iam.IGrantable) -> glue.CodeConfig:
        if self._asset is None:
            name = self._path.stem.title().replace("_", "")
            self._asset = s3_assets.Asset(
                scope,
                f"{'Folder' if self._path.is_dir() else 'File'}{name}",
                path=str(self._path),
                exclude=ASSET_EXCLUDES,
            )
        iam.Grant.add_to_principal(
            grantee=grantable,
            actions=["s3:GetObject"],
            resource_arns=[self._asset.bucket.arn_for_objects(self._asset.s3_object_key)],
        )
        return glue.CodeConfig(
            s3_location=s3.Location(
                bucket_name=self._asset.s3_bucket_name, object_key=self._asset.s3_object_key
            )
        )
