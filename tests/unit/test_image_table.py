"""The committed image table is what the pinned SageMaker SDK answers, and synthesis never imports the SDK."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

from ml_platform.constructs.monitoring.model_monitor import TYPES
from ml_platform.constructs.training import sagemaker_images
from ml_platform.constructs.training.sagemaker_images import REGENERATE, TABLE, builtin_image
from ml_platform.constructs.training.training_pipeline import ALGORITHM_VERSIONS, SKLEARN_VERSION
from tests.conftest import ROOT


def image_table_tool():
    spec = importlib.util.spec_from_file_location("image_table", ROOT / "tools" / "image_table.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_table_is_what_the_pinned_sdk_answers():
    tool = image_table_tool()
    assert TABLE.read_text() == tool.render(tool.generate()), f"{TABLE.name} is stale: {REGENERATE}"


def test_the_table_has_every_image_the_platform_asks_for_in_the_commercial_regions():
    images = json.loads(TABLE.read_text())["images"]
    wanted = [(algorithm, version) for algorithm, version in ALGORITHM_VERSIONS.items()]
    wanted += [("sklearn", SKLEARN_VERSION), ("model-monitor", ""), ("clarify", "1.0")]
    assert {family for _, _, family in TYPES.values()} <= set(images)
    for family, version in wanted:
        assert {"us-east-1", "eu-west-1", "ap-southeast-2"} <= set(images[family][version]), (family, version)
    assert builtin_image("xgboost", "eu-west-1", "1.7-1") == "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:1.7-1"
    assert builtin_image("model-monitor", "us-east-1").startswith("156813124566.dkr.ecr.us-east-1.amazonaws.com/")


#: Imports every module of the app, synthesizes a training stack that resolves the built-in
#: xgboost and sklearn images, and prints the image and which SageMaker SDK modules are loaded.
SYNTH_WITHOUT_SDK = """
import json, sys
import ml_platform.platform_app  # noqa: F401  (what app.py imports: every stack and construct)
from tests.unit.test_training_pipeline import build
stack, pipeline, roles, definition, resources = build()
print(json.dumps({"image": pipeline.image_uri, "processing": pipeline.processing_image,
                  "sdk": sorted(m for m in sys.modules if m == "sagemaker" or m.startswith("sagemaker."))}))
"""


def test_synthesizing_a_stack_with_builtin_images_does_not_import_the_sdk():
    result = subprocess.run([sys.executable, "-c", SYNTH_WITHOUT_SDK],
                            cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["image"].endswith("/sagemaker-xgboost:1.7-1")
    assert found["processing"].endswith(f"/sagemaker-scikit-learn:{SKLEARN_VERSION}-cpu-py3")
    assert found["sdk"] == []


@pytest.mark.parametrize(("lookup", "error", "names", "has"), [
    (("xgbooster", "eu-west-1", "1.7-1"), FileNotFoundError, "image family 'xgbooster'",
     "Supported families: blazingtext, clarify, "),
    (("xgboost", "eu-west-1", "9.9"), ValueError, "xgboost version '9.9'", "Supported xgboost version(s): 1, "),
    (("xgboost", "xx-nowhere-1", "1.7-1"), ValueError, "xgboost 1.7-1 image in region 'xx-nowhere-1'",
     "Supported regions: af-south-1, "),
    (("model-monitor", "xx-nowhere-1", None), ValueError, "model-monitor image in region 'xx-nowhere-1'",
     "Supported regions: af-south-1, "),
])
def test_an_image_the_table_lacks_is_one_line_naming_it_what_the_table_has_and_how_to_regenerate(
        lookup, error, names, has):
    with pytest.raises(error) as raised:
        builtin_image(*lookup)
    message = str(raised.value)
    assert "\n" not in message and names in message and has in message, message
    assert "regenerate with python tools/image_table.py after upgrading sagemaker-core" in message


def test_the_table_is_read_once(monkeypatch):
    builtin_image.cache_clear()
    sagemaker_images._images.cache_clear()
    reads = []
    read_text = type(TABLE).read_text
    monkeypatch.setattr(type(TABLE), "read_text", lambda self, *a, **k: reads.append(self) or read_text(self, *a, **k))
    try:
        builtin_image("xgboost", "eu-west-1", "1.7-1")
        builtin_image("sklearn", "us-east-1", SKLEARN_VERSION)
        assert reads == [TABLE]
    finally:
        sagemaker_images._images.cache_clear()
