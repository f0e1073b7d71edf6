"""bias.py: Clarify's pre-training bias metrics against hand-computed formulas, the facets, the gate and the report."""

from __future__ import annotations

import json
import math

import pytest

from ml_platform.jobs.training_pipeline import bias

# Label first, then age and gender (ordinal: m=0, f=1), as the feature step writes the training set.
SCHEMA = {"columns": ["age", "gender"], "encodings": {"gender": ["m", "f"]}}
# Facet a (m): 7 rows, 5 positive; facet d (f): 3 rows, 1 positive.
BIASED = [["1", "30", "0"], ["1", "41", "0"], ["1", "52", "0"], ["1", "63", "0"], ["1", "24", "0"],
          ["0", "35", "0"], ["0", "46", "0"], ["1", "57", "1"], ["0", "68", "1"], ["0", "29", "1"]]
# 4 and 4 rows, 2 positive each.
BALANCED = [["1", "30", "0"], ["0", "31", "0"], ["1", "32", "0"], ["0", "33", "0"],
            ["1", "70", "1"], ["0", "71", "1"], ["1", "72", "1"], ["0", "73", "1"]]
CONFIG = {"label": "churned", "positive_label_values": [1], "facets": [{"column": "gender", "values": ["f"]}],
          "metrics": {"CI": 0.3, "DPL": 0.2}}


def values(analysis: dict, column: str = "gender", group: int = 0) -> dict[str, float | None]:
    facet = analysis["pre_training_bias_metrics"]["facets"][column][group]
    return {m["name"]: m["value"] for m in facet["metrics"]}


def test_biased_dataset_metrics_equal_clarifys_formulas():
    analysis, gate = bias.analyze(BIASED, CONFIG, SCHEMA)
    q_a, q_d = 5 / 7, 1 / 3
    p_a, p_d = (q_a, 1 - q_a), (q_d, 1 - q_d)
    mean = [(a + d) / 2 for a, d in zip(p_a, p_d)]
    kl = lambda p, q: sum(x * math.log(x / y) for x, y in zip(p, q))  # noqa: E731
    expected = {
        "CI": (7 - 3) / (7 + 3),                     # (n_a - n_d) / (n_a + n_d) = 0.4
        "DPL": q_a - q_d,                            # 8/21
        "KL": kl(p_a, p_d),
        "JS": (kl(p_a, mean) + kl(p_d, mean)) / 2,
        "LP": math.sqrt(2) * 8 / 21,                 # both label values differ by 8/21
        "TVD": 8 / 21,
        "KS": 8 / 21,
    }
    assert values(analysis) == pytest.approx({k: round(v, 6) for k, v in expected.items()}, abs=1e-6)
    assert gate["violations"] == 2
    assert gate["message"] == "|CI| of gender=f is 0.4000 > 0.3; |DPL| of gender=f is 0.3810 > 0.2"


def test_balanced_dataset_has_no_bias_and_passes():
    analysis, gate = bias.analyze(BALANCED, CONFIG, SCHEMA)
    assert values(analysis) == {name: 0.0 for name in bias.METRICS}
    assert gate == {"violations": 0, "message": "every configured pre-training bias metric is within its threshold"}


def test_report_is_clarifys_analysis_format():
    analysis, _ = bias.analyze(BIASED, CONFIG, SCHEMA)
    assert analysis["version"] == "1.0"
    report = analysis["pre_training_bias_metrics"]
    assert (report["label"], report["label_value_or_threshold"]) == ("churned", "1")
    [group] = report["facets"]["gender"]
    assert group["value_or_threshold"] == "f"
    assert [m["name"] for m in group["metrics"]] == list(bias.METRICS)
    assert group["metrics"][0] == {"name": "CI", "description": "Class Imbalance (CI)", "value": 0.4}


def test_threshold_facet_and_positional_names_without_schema():
    # Without a schema the features are _c0 (age), _c1 (gender code); d = age above 60: 63, 68 (1 positive of 2).
    config = {**CONFIG, "facets": [{"column": "_c0", "threshold": 60}], "metrics": {"CI": 0.7}}
    analysis, gate = bias.analyze(BIASED, config)
    assert values(analysis, "_c0")["CI"] == pytest.approx((8 - 2) / 10)
    assert values(analysis, "_c0")["DPL"] == pytest.approx(round(5 / 8 - 1 / 2, 6))
    assert gate["violations"] == 0 and analysis["pre_training_bias_metrics"]["facets"]["_c0"][0]["value_or_threshold"] == "60"


def test_one_hot_facet_and_several_values():
    schema = {"columns": ["plan=basic", "plan=gold", "plan=pro"], "encodings": {"plan": ["basic", "gold", "pro"]}}
    rows = [["1", "1", "0", "0"], ["0", "0", "1", "0"], ["1", "0", "0", "1"], ["1", "0", "0", "1"]]
    config = {**CONFIG, "facets": [{"column": "plan", "values": ["basic", "gold"]}], "metrics": {"CI": 1}}
    analysis, _ = bias.analyze(rows, config, schema)
    assert values(analysis, "plan")["CI"] == 0.0 and values(analysis, "plan")["DPL"] == pytest.approx(1 - 0.5)
    with pytest.raises(ValueError, match="facet 'plan': no one-hot columns plan=silver"):
        bias.analyze(rows, {**config, "facets": [{"column": "plan", "values": ["silver"]}]}, schema)


def test_unknown_columns_and_categories_are_named():
    with pytest.raises(ValueError, match=r"facet 'gender': values \['x'\] are not categories of the feature \(m, f\)"):
        bias.analyze(BIASED, {**CONFIG, "facets": [{"column": "gender", "values": ["x"]}]}, SCHEMA)
    with pytest.raises(ValueError, match="facet 'race' is not a column of the training set"):
        bias.analyze(BIASED, {**CONFIG, "facets": [{"column": "race", "values": ["x"]}]}, SCHEMA)
    with pytest.raises(ValueError, match="schema.json names 2 feature columns, the data has 3"):
        bias.analyze([["1", "2", "3", "4"]], CONFIG, SCHEMA)


def test_a_facet_without_rows_is_undefined_and_a_violation():
    config = {**CONFIG, "facets": [{"column": "age", "threshold": 99}]}
    analysis, gate = bias.analyze(BIASED, config, SCHEMA)
    assert values(analysis, "age")["CI"] == 1.0 and values(analysis, "age")["DPL"] is None
    assert gate["violations"] == 2 and "|CI| of age=99 is 1.0000 > 0.3" in gate["message"]
    assert "DPL of age=99 is undefined (n_a=10, n_d=0)" in gate["message"]


def test_metrics_function_edge_cases():
    assert bias.metrics(0, 0, 0, 0)["CI"] is None
    assert bias.metrics(4, 4, 4, 0)["KL"] is None  # P_d never has the positive label: infinite
    assert bias.metrics(4, 4, 4, 0)["JS"] == pytest.approx(math.log(2))  # JS's largest value


def test_main_writes_the_report_and_the_gate(tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "data.csv").write_text("\n".join(",".join(r) for r in BIASED) + "\n")
    (tmp_path / "schema").mkdir()
    (tmp_path / "schema" / "schema.json").write_text(json.dumps(SCHEMA))
    gate = bias.main(["--config", json.dumps(CONFIG), "--dataset", str(tmp_path / "train"),
                      "--output", str(tmp_path / "out"), "--schema", str(tmp_path / "schema")])
    assert gate["violations"] == 2
    assert json.loads((tmp_path / "out" / "gate.json").read_text()) == gate
    analysis = json.loads((tmp_path / "out" / "analysis.json").read_text())
    assert values(analysis)["CI"] == 0.4
