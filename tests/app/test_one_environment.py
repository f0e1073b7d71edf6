"""One environment can be synthesized alone (ML_PLATFORM_ENVIRONMENTS); every file is still validated."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ml_platform.config import ConfigError
from ml_platform.platform_app import CONFIG_DIR_VARIABLE, ENVIRONMENTS_VARIABLE, build_app
from tests.conftest import CDK_CONTEXT, CONFIG_DIR, ROOT, stack_templates


def test_only_the_named_environment_is_built(tmp_path):
    app = build_app(CONFIG_DIR, ["dev"], outdir=str(tmp_path), context=CDK_CONTEXT)
    app.synth()
    assert list(stack_templates(tmp_path)) == ["dev"]


def test_an_unknown_environment_is_refused_in_one_line():
    with pytest.raises(ConfigError) as caught:
        build_app(CONFIG_DIR, ["no-such-env"], context=CDK_CONTEXT)
    [problem] = caught.value.problems
    names = ", ".join(sorted(p.stem for p in CONFIG_DIR.glob("*.yaml")))
    assert problem == f"{ENVIRONMENTS_VARIABLE}: no-such-env has no file in {CONFIG_DIR}; environments: {names}"


def test_app_py_reads_the_variable(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "app.py")], capture_output=True, text=True, cwd=tmp_path,
        env={**os.environ, CONFIG_DIR_VARIABLE: str(CONFIG_DIR), ENVIRONMENTS_VARIABLE: "no-such-env",
             "PYTHONPATH": str(ROOT)})
    assert result.returncode == 1 and "no-such-env has no file" in result.stderr and "Traceback" not in result.stderr
