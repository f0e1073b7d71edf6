"""Explainability monitoring is not offered: refused at config load with the reason, never built.

Clarify's explainability monitor computes SHAP values on a shadow endpoint it creates from the
served model (``predictor.model_name`` in a ConfigUri file), which the platform cannot give it as
SageMaker documents (docs/monitoring.md, "Why no explainability monitoring").
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml


from ml_platform.config import ConfigError, load_environment
from ml_platform.constructs.monitoring.model_monitor import TYPES
from ml_platform.constructs.monitoring.monitor_settings import EXPLAINABILITY_NOT_OFFERED, MonitorSettings
from ml_platform.constructs.monitoring.monitoring_settings import NEEDS_CAPTURE

ROOT = Path(__file__).resolve().parents[2]
B = "churn/monitoring/baselines/"
MINIMAL = {"reports": {"zone": "artifacts", "prefix": "churn/reports/"},
           "data_quality": {"statistics": {"zone": "artifacts", "key": B + "statistics.json"},
                            "constraints": {"zone": "artifacts", "key": B + "constraints.json"}}}
#: What the settings took before it was withdrawn (a valid setting then).
EXPLAINABILITY = {"headers": ["age", "amount"], "shap_baseline": [[45, 120.5]],
                  "constraints": {"zone": "artifacts", "key": B + "shap.json"}}


def test_the_reason_is_one_line_that_says_why_names_what_is_allowed_and_points_to_the_docs():
    assert "\n" not in EXPLAINABILITY_NOT_OFFERED
    assert EXPLAINABILITY_NOT_OFFERED.startswith("explainability monitoring is not offered: ")
    for why in ("shadow endpoint", "model's name", "network access", "endpoint permissions"):
        assert why in EXPLAINABILITY_NOT_OFFERED
    assert "use data_quality, model_quality or bias" in EXPLAINABILITY_NOT_OFFERED
    docs = re.search(r"docs/monitoring\.md#([a-z0-9-]+)", EXPLAINABILITY_NOT_OFFERED)
    assert docs is not None
    headings = [line.lstrip("#").strip().lower().replace(" ", "-")
                for line in (ROOT / "docs/monitoring.md").read_text().splitlines() if line.startswith("## ")]
    assert docs.group(1) in headings  # the anchor names a section that exists


@pytest.mark.parametrize("value", [EXPLAINABILITY, {}, {"schedule": "daily"}])
def test_settings_refuse_any_explainability_section(value):
    with pytest.raises(ValueError, match=re.escape(EXPLAINABILITY_NOT_OFFERED)) as error:
        MonitorSettings.model_validate({**MINIMAL, "explainability": value})
    [problem] = error.value.errors()
    assert problem["loc"] == ("explainability",)


def test_settings_without_it_still_load_and_enable_no_explainability_job():
    settings = MonitorSettings.model_validate({**MINIMAL, "explainability": None})
    assert list(settings.jobs()) == ["data_quality"] and settings.explainability is None
    assert "explainability" not in settings.model_dump()


def test_the_construct_and_the_section_no_longer_know_the_type():
    assert "explainability" not in TYPES and "explainability" not in NEEDS_CAPTURE
    assert all(monitoring_type != "ModelExplainability" for monitoring_type, _, _ in TYPES.values())


def _prod_with(tmp_path: Path, churn: dict) -> Path:
    """config/prod.yaml with its churn endpoint's monitoring replaced by ``churn`` (merged)."""
    data = yaml.safe_load((ROOT / "config/prod.yaml").read_text())
    monitored = data["monitoring"]["endpoints"]["churn"]
    monitored.pop("explainability", None)
    monitored.update(churn)
    path = tmp_path / "prod.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_config_load_refuses_it_with_one_line_naming_the_file_and_key(tmp_path):
    path = _prod_with(tmp_path, {"explainability": EXPLAINABILITY})
    with pytest.raises(ConfigError) as error:
        load_environment(path)
    assert error.value.problems == [
        f"{path}: monitoring.endpoints.churn.explainability: {EXPLAINABILITY_NOT_OFFERED}"]


def test_config_without_it_loads(tmp_path):
    config = load_environment(_prod_with(tmp_path, {}))
    assert list(config.monitoring.endpoints["churn"].jobs()) == ["data_quality", "model_quality", "bias"]


def test_a_misspelt_key_does_not_list_explainability_as_allowed(tmp_path):
    path = _prod_with(tmp_path, {"explainabilty": EXPLAINABILITY})
    with pytest.raises(ConfigError) as error:
        load_environment(path)
    [problem] = error.value.problems
    assert problem.startswith(f"{path}: monitoring.endpoints.churn.explainabilty: unknown key; allowed keys: ")
    assert "data_quality, model_quality, bias" in problem and "explainability" not in problem.split("allowed keys: ")[1]
