"""`make docs` builds the HTML API reference of ml_platform.constructs and its stage subpackages.

The build runs once, into a temporary directory, through the Makefile target itself (its setup
prerequisite is taken as done: the test environment is that setup).
"""

from __future__ import annotations

import html
import importlib
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

#: Each stage subpackage and constructs its page must document (besides everything in __all__).
MAIN_CONSTRUCTS = {
    "core": ("AlertRoutes", "AlertPath"),
    "lake": ("DataLake", "LakeDataset", "AthenaWorkgroup"),
    "preparation": ("DatasetPipeline", "DataBrewPipeline"),
    "training": ("TrainingPipeline", "ModelRegistry", "MlNetwork", "SageMakerRoles"),
    "serving": ("ModelEndpoint", "BatchTransform"),
    "monitoring": ("ModelMonitor", "FeedbackLoop"),
    "labeling": ("LabelingWorkforce", "LabelingTask"),
}
UNLINKED_NAME = re.compile(r"<code>(ml_platform(?:\.\w+)+)</code>")


@pytest.fixture(scope="module")
def docs(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("docs") / "reference"
    result = subprocess.run(["make", "--no-print-directory", "-o", "setup", "docs", f"DOCS_DIR={out}"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def anchors(page: Path) -> set[str]:
    return set(re.findall(r'\bid="([A-Za-z_]\w*)"', page.read_text()))


def unresolved(page: Path) -> list[str]:
    """Dotted ``ml_platform`` names the page shows without a link that name no real object."""
    broken = []
    for name in sorted(set(UNLINKED_NAME.findall(html.unescape(page.read_text())))):
        parts = name.split(".")
        for split in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:split]))
            except ImportError:
                continue
            try:
                for attr in parts[split:]:
                    obj = getattr(obj, attr)
            except AttributeError:
                broken.append(name)
            break
        else:
            broken.append(name)
    return broken


def test_index_and_the_constructs_page_exist(docs):
    assert (docs / "index.html").is_file()
    assert {"DataLake", "Zone"} <= anchors(docs / "ml_platform" / "constructs.html")


@pytest.mark.parametrize("stage", sorted(MAIN_CONSTRUCTS))
def test_each_stage_page_documents_its_exported_constructs(docs, stage):
    page = docs / "ml_platform" / "constructs" / f"{stage}.html"
    assert page.is_file(), sorted(p.name for p in page.parent.glob("*.html"))
    exported = set(importlib.import_module(f"ml_platform.constructs.{stage}").__all__)
    assert set(MAIN_CONSTRUCTS[stage]) <= exported
    missing = exported - anchors(page)
    assert not missing, f"{page.name} does not document {sorted(missing)}"


def test_no_cross_reference_names_a_missing_object(docs):
    pages = [docs / "ml_platform" / "constructs.html",
             *sorted((docs / "ml_platform" / "constructs").glob("*.html"))]
    assert {p.name: unresolved(p) for p in pages if unresolved(p)} == {}


def test_an_unknown_name_counts_as_broken(tmp_path):
    page = tmp_path / "page.html"
    page.write_text("<code>ml_platform.constructs.lake.DataLak</code> <code>ml_platform.nope</code> "
                    "<code>ml_platform.constructs.core.removal</code>")
    assert unresolved(page) == ["ml_platform.constructs.lake.DataLak", "ml_platform.nope"]
