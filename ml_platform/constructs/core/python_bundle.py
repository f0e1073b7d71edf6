"""Installed pure-Python packages zipped into one S3 asset, for jobs that have no internet.

SageMaker jobs run in isolated subnets: they cannot ``pip install``. A step that needs a package
its image lacks (imbalanced-learn in the scikit-learn image) gets this asset as an input; the
step's script extracts it and puts it first on ``sys.path``. The packages are the ones installed
with this library (pinned in ``pyproject.toml``), so what runs in the job is what the tests ran.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "tests")


def package_directory(package: str) -> Path:
    """The installed folder of ``package``.

    :raises ValueError: if it is not installed, or is a single module or a namespace package.
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations or spec.origin is None:
        raise ValueError(f"python_bundle: package {package!r} is not installed as a regular package; "
                         f"install 'sagemaker-ml-platform-cdk[rebalance]'")
    return Path(spec.origin).parent


def python_bundle(scope: Construct, construct_id: str, packages: Sequence[str], *,
                  reader: iam.IGrantable) -> s3_assets.Asset:
    """``packages`` (each folder at the top of the zip) as an asset ``reader`` may GET.

    The folder staged is named after the packages' content, so that the asset hash depends on
    the code only (compiled files and tests are left out).
    """
    folders = {name: package_directory(name) for name in sorted(packages)}
    digest = hashlib.sha256()
    for name, folder in folders.items():
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            relative = path.relative_to(folder)
            if "__pycache__" in relative.parts or "tests" in relative.parts or path.suffix == ".pyc":
                continue
            digest.update(f"{name}/{relative.as_posix()}\0".encode())
            digest.update(path.read_bytes())
    staged = Path(tempfile.gettempdir()) / "ml-platform-bundles" / digest.hexdigest()
    if not staged.exists():  # copy, then rename: a concurrent synth never stages half a bundle
        partial = staged.with_name(f"{staged.name}.{os.getpid()}.tmp")
        shutil.rmtree(partial, ignore_errors=True)
        for name, folder in folders.items():
            shutil.copytree(folder, partial / name, ignore=_IGNORED)
        try:
            os.replace(partial, staged)
        except OSError:  # another synth staged it first
            shutil.rmtree(partial, ignore_errors=True)
    asset = s3_assets.Asset(scope, construct_id, path=str(staged))
    iam.Grant.add_to_principal(grantee=reader, actions=["s3:GetObject"],
                               resource_arns=[asset.bucket.arn_for_objects(asset.s3_object_key)])
    return asset
