"""The wheel ships the library (lambda code included) and another CDK app can compose it.

The wheel is built from a copy of the sources, installed into a fresh virtual environment and
used by examples/data_lake_app from a directory outside the source tree. To stay offline and
fast, the fresh environment borrows the already pinned dependencies (aws-cdk-lib, ...) of the
test environment through a .pth file; ml_platform itself comes only from the installed wheel.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def run(*args, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "ml_platform", source / "ml_platform",
                    ignore=shutil.ignore_patterns("__pycache__"))
    dist = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
        "--wheel-dir", dist, source)
    [built] = dist.glob("ml_platform-*.whl")
    return built


def test_wheel_contains_the_package_lambda_code_and_type_marker(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {
        "ml_platform/config.py",
        "ml_platform/constructs/lake/data_lake.py",
        "ml_platform/stacks/stage.py",
        "ml_platform/lambdas/__init__.py",
        "ml_platform/lambdas/databrew_recipe_publisher/handler.py",
        "ml_platform/jobs/glue/raw_to_parquet/raw_to_parquet.py",
        "ml_platform/jobs/training_pipeline/prepare.py",
        "ml_platform/jobs/labeling_ui/image_classification.liquid.html",
        "ml_platform/py.typed",
    } <= names
    assert not [n for n in names if n.startswith(("tests/", "examples/", "config/"))]


def test_example_app_synthesizes_from_the_installed_wheel(wheel, tmp_path):
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    venv_site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip())
    (venv_site / "pinned-dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    run(sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
        "--target", venv_site, wheel)

    example = tmp_path / "example"
    shutil.copytree(ROOT / "examples" / "data_lake_app", example)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    located = run(python, "-c", "import ml_platform; print(ml_platform.__file__)", cwd=example, env=env)
    assert Path(located.stdout.strip()).is_relative_to(venv_site)

    out = tmp_path / "cdk.out"
    run(python, "app.py", cwd=example, env={**env, "CDK_OUTDIR": str(out)})
    template = json.loads((out / "ChurnLake.template.json").read_text())
    types = [r["Type"] for r in template["Resources"].values()]
    assert types.count("AWS::S3::Bucket") == 5
    [policy] = [r for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Policy"]
    resources = json.dumps(policy["Properties"]["PolicyDocument"])
    assert "/churn/*" in resources and "INTELLIGENT_TIERING" in json.dumps(template)
