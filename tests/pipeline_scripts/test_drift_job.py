"""The drift job on captured records the tests write in Model Monitor's capture format: a clean and
a drifted window against a baseline of a training CSV, run as the processing job runs it.

The subprocess runs use ``$DRIFT_JOB_PYTHON`` when set (e.g. a Python 3.9 with numpy 1.24, what the
scikit-learn 1.2-1 image has), else this interpreter."""

from __future__ import annotations

import base64
import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from ml_platform.jobs.drift import drift

SCRIPT = Path(drift.__file__)
PYTHON = os.environ.get("DRIFT_JOB_PYTHON", sys.executable)
FEATURES = ["amount", "age", "channel", "region"]
HEADERS = ",".join(FEATURES)
ENDPOINT = "churn-prod/AllTraffic"


def _table(rng: np.random.Generator, rows: int, *, shift: float = 0.0, web_share: float = 0.7) -> list[list[str]]:
    amount = rng.normal(100.0, 20.0, rows) + shift
    age = rng.integers(18, 80, rows)
    channel = np.where(rng.random(rows) < web_share, "web", "store")
    region = rng.choice(["east", "north", "south", "west"], rows)
    return [[f"{a:.2f}", str(g), str(c), str(r)] for a, g, c, r in zip(amount, age, channel, region)]


def _capture_record(i: int, data: str, *, encoding: str = "CSV", content_type: str = "text/csv") -> dict:
    return {
        "captureData": {
            "endpointInput": {"observedContentType": content_type, "mode": "INPUT", "data": data, "encoding": encoding},
            "endpointOutput": {"observedContentType": "text/csv; charset=utf-8", "mode": "OUTPUT",
                               "data": "0.42", "encoding": "CSV"},
        },
        "eventMetadata": {"eventId": f"00000000-0000-4000-8000-{i:012d}", "inferenceTime": "2026-03-31T10:15:00Z"},
        "eventVersion": "0",
    }


def _write_hour(root: Path, hour: int, records: list[dict]) -> Path:
    """One capture file for the hour, at ``<root>/<endpoint>/<variant>/yyyy/mm/dd/hh/``."""
    folder = root / ENDPOINT / "2026" / "03" / "31" / f"{hour:02d}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"capture-{hour:02d}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return folder


def _csv_records(rows: list[list[str]]) -> list[dict]:
    return [_capture_record(i, ",".join(row)) for i, row in enumerate(rows)]


def _run(*args: object) -> subprocess.CompletedProcess[str]:
    """``python3 drift.py ...`` from an unrelated folder, as the processing job runs it."""
    return subprocess.run([PYTHON, str(SCRIPT), *map(str, args)], capture_output=True, text=True,
                          cwd=SCRIPT.parents[3].parent, check=False)


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The training CSV (label first, header row), its baseline, and the two windows' captures."""
    root = tmp_path_factory.mktemp("drift")
    training = _table(np.random.default_rng(7), 2000)
    clean = _table(np.random.default_rng(8), 600)
    drifted = _table(np.random.default_rng(9), 600, shift=3 * 20.0, web_share=0.3)
    (root / "train").mkdir()
    with (root / "train" / "part-0.csv").open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["churned", *FEATURES])
        writer.writerows([str(i % 2), *row] for i, row in enumerate(training))
    result = _run("baseline", "--dataset", root / "train", "--output", root / "baseline", "--label", "churned")
    assert result.returncode == 0, result.stderr
    return {
        "root": root, "training": training, "clean": clean, "drifted": drifted,
        "clean_hour": _write_hour(root / "capture", 10, _csv_records(clean)),
        "drifted_hour": _write_hour(root / "capture", 11, _csv_records(drifted)),
        "statistics": root / "baseline" / drift.STATISTICS, "constraints": root / "baseline" / drift.CONSTRAINTS,
    }


def _check(lake: dict, capture: Path, output: Path, *extra: object) -> subprocess.CompletedProcess[str]:
    return _run("check", "--capture", capture, "--statistics", lake["statistics"],
                "--constraints", lake["constraints"], "--output", output, "--headers", HEADERS, *extra)


def _column(rows: list[list[str]], name: str) -> list[str]:
    return [row[FEATURES.index(name)] for row in rows]


def _expected(lake: dict, window: list[list[str]]) -> dict[str, tuple[float, float]]:
    """(linf_simple, linf_robust) per feature, computed independently of the job: scipy's two-sample
    KS statistic for the numbers (the baseline's 2,000 values fit the sketch uncompacted), the largest
    category-share difference for the strings."""
    training, figures = lake["training"], {}
    for name in FEATURES:
        base, current = _column(training, name), _column(window, name)
        if name in ("amount", "age"):
            linf = stats.ks_2samp(np.array(base, float), np.array(current, float)).statistic
        else:
            linf = max(abs(base.count(v) / len(base) - current.count(v) / len(current)) for v in set(base) | set(current))
        n, m = len(base), len(current)
        figures[name] = (float(linf), max(0.0, float(linf) - 1.8 * ((n + m) / (n * m)) ** 0.5))
    return figures


def _print_figures(title: str, figures: dict[str, tuple[float, float]]) -> None:
    print(f"\n{title}: feature linf_simple linf_robust (threshold 0.1)")
    for name, (simple, robust) in figures.items():
        print(f"  {name:8s} {simple:.4f} {robust:.4f}")


# -- baseline ---------------------------------------------------------------------------------------

def test_statistics_carry_the_documented_keys_and_exact_values(lake):
    statistics = _load(lake["statistics"])
    assert statistics["version"] == 0 and statistics["dataset"] == {"item_count": 2000}
    features = {f["name"]: f for f in statistics["features"]}
    assert list(features) == FEATURES  # the label is not a feature
    assert {n: f["inferred_type"] for n, f in features.items()} == {
        "amount": "Fractional", "age": "Integral", "channel": "String", "region": "String"}
    amounts = np.array(_column(lake["training"], "amount"), float)
    numeric = features["amount"]["numerical_statistics"]
    assert set(numeric) == {"common", "mean", "sum", "std_dev", "min", "max", "distribution"}
    assert numeric["common"] == {"num_present": 2000, "num_missing": 0}
    assert numeric["mean"] == pytest.approx(amounts.mean()) and numeric["sum"] == pytest.approx(amounts.sum())
    assert numeric["std_dev"] == pytest.approx(amounts.std()) and numeric["min"] == amounts.min()
    kll = numeric["distribution"]["kll"]
    assert len(kll["buckets"]) == drift.BUCKETS
    assert all(set(b) == {"lower_bound", "upper_bound", "count"} for b in kll["buckets"])
    assert kll["buckets"][0]["lower_bound"] == amounts.min() and kll["buckets"][-1]["upper_bound"] == amounts.max()
    assert sum(b["count"] for b in kll["buckets"]) == 2000
    assert kll["sketch"]["parameters"] == {"c": 0.64, "k": 2048.0}
    assert sorted(v for level in kll["sketch"]["data"] for v in level) == sorted(amounts.tolist())
    strings = features["channel"]["string_statistics"]
    assert set(strings) == {"common", "distinct_count", "distribution"} and strings["distinct_count"] == 2
    counts = {b["value"]: b["count"] for b in strings["distribution"]["categorical"]["buckets"]}
    assert counts == {v: _column(lake["training"], "channel").count(v) for v in ("store", "web")}


def test_constraints_carry_the_documented_keys_and_the_robust_comparison(lake):
    constraints = _load(lake["constraints"])
    assert constraints["version"] == 0
    assert constraints["monitoring_config"]["distribution_constraints"] == {
        "perform_comparison": "Enabled", "comparison_threshold": 0.1, "comparison_method": "Robust"}
    assert constraints["monitoring_config"]["evaluate_constraints"] == "Enabled"
    assert constraints["monitoring_config"]["emit_metrics"] == "Enabled"
    features = {f["name"]: f for f in constraints["features"]}
    assert features["amount"] == {"name": "amount", "inferred_type": "Fractional", "completeness": 1.0,
                                  "num_constraints": {"is_non_negative": True}}
    assert features["age"]["inferred_type"] == "Integral"
    assert features["region"]["string_constraints"] == {"domains": ["east", "north", "south", "west"]}


def test_baseline_is_byte_identical_with_sorted_keys_and_reads_headerless_files(lake, tmp_path):
    source = tmp_path / "headerless"
    source.mkdir()
    lines = (lake["root"] / "train" / "part-0.csv").read_text().splitlines()[1:]
    (source / "a.csv").write_text("\n".join(lines[:900]) + "\n")
    (source / "b.csv").write_text("\n".join(lines[900:]) + "\n")
    result = _run("baseline", "--dataset", source, "--output", tmp_path / "out", "--label", "churned",
                  "--headers", "churned," + HEADERS)
    assert result.returncode == 0, result.stderr
    for name in (drift.STATISTICS, drift.CONSTRAINTS):
        text = (tmp_path / "out" / name).read_text()
        assert text == (lake["statistics"].parent / name).read_text()
        assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"


def test_missing_values_count_and_an_all_numeric_column_with_gaps_stays_numeric(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "d.csv").write_text("x,y\n1,a\n,b\n3,\n-2,a\n")
    drift.baseline(tmp_path / "in", tmp_path / "out", None, None)
    features = {f["name"]: f for f in _load(tmp_path / "out" / drift.STATISTICS)["features"]}
    assert features["x"]["inferred_type"] == "Integral"
    assert features["x"]["numerical_statistics"]["common"] == {"num_present": 3, "num_missing": 1}
    assert features["y"]["string_statistics"]["common"] == {"num_present": 3, "num_missing": 1}
    constraints = {f["name"]: f for f in _load(tmp_path / "out" / drift.CONSTRAINTS)["features"]}
    assert constraints["x"]["completeness"] == 0.75 and constraints["x"]["num_constraints"] == {"is_non_negative": False}


def test_kll_sketch_compacts_large_columns_and_keeps_their_weight_and_ranks():
    values = np.random.default_rng(1).normal(size=50_000)
    sketch = drift.KllSketch().update(values.tolist())
    assert len(sketch.compactors) > 1 and sum(len(c) for c in sketch.compactors) < 10_000
    points, weights = drift.sketch_points(sketch.compactors)
    assert weights.sum() == 50_000
    # The sketch's CDF stays within 1% of the exact one: the KLL guarantee at k = 2048.
    assert drift.linf_numeric(points, weights, values) < 0.01


def test_categorical_distance_compares_shares_not_an_order_of_the_categories():
    # Shares differ by at most 0.25; a CDF over the sorted categories would say 0.5 (a+b: 0.5 vs 1).
    baseline_counts = {"a": 25.0, "b": 25.0, "c": 25.0, "d": 25.0}
    assert drift.linf_categorical(baseline_counts, {"a": 50.0, "b": 50.0}) == 0.25
    assert drift.linf_robust(0.25, 1000, 1000) == pytest.approx(0.25 - 1.8 * (2000 / 1_000_000) ** 0.5)
    assert drift.linf_robust(0.1, 100, 100) == 0.0


# -- check ------------------------------------------------------------------------------------------

def test_clean_window_has_no_violations_and_a_metric_per_feature(lake, tmp_path):
    result = _check(lake, lake["clean_hour"], tmp_path)
    assert result.returncode == 0, result.stderr
    figures = _expected(lake, lake["clean"])
    _print_figures("clean window", figures)
    assert _load(tmp_path / drift.VIOLATIONS) == {"violations": []}
    metrics = _load(tmp_path / drift.METRICS)
    assert metrics["Namespace"] == "aws/sagemaker/Endpoints/data-metrics"
    assert metrics["Metrics"] == pytest.approx({f"feature_baseline_drift_{n}": figures[n][1] for n in FEATURES})
    assert all(simple < 0.1 for simple, _ in figures.values())
    assert "0 of 4 features drifted" in result.stdout


def test_drifted_window_names_exactly_the_drifted_features(lake, tmp_path):
    result = _check(lake, lake["drifted_hour"], tmp_path)
    assert result.returncode == 0, result.stderr  # violations are data, not an error
    figures = _expected(lake, lake["drifted"])
    _print_figures("drifted window (amount +3 std, channel web 70% -> 30%)", figures)
    violations = _load(tmp_path / drift.VIOLATIONS)["violations"]
    assert [(v["feature_name"], v["constraint_check_type"]) for v in violations] == [
        ("amount", "baseline_drift_check"), ("channel", "baseline_drift_check")]
    distance = re.fullmatch(r"Baseline drift distance: (\S+) exceeds threshold: 0.1", violations[0]["description"])
    assert distance and float(distance.group(1)) == pytest.approx(figures["amount"][1])
    metrics = _load(tmp_path / drift.METRICS)["Metrics"]
    assert metrics == pytest.approx({f"feature_baseline_drift_{n}": figures[n][1] for n in FEATURES})
    assert metrics["feature_baseline_drift_amount"] > 0.5 and metrics["feature_baseline_drift_channel"] > 0.1
    assert "2 of 4 features drifted" in result.stdout


def test_simple_method_reports_linf_simple(lake, tmp_path):
    constraints = _load(lake["constraints"])
    constraints["monitoring_config"]["distribution_constraints"]["comparison_method"] = "Simple"
    (tmp_path / "c.json").write_text(json.dumps(constraints))
    drift.check(lake["clean_hour"], lake["statistics"], tmp_path / "c.json", tmp_path / "out", FEATURES)
    figures = _expected(lake, lake["clean"])
    assert _load(tmp_path / "out" / drift.METRICS)["Metrics"] == pytest.approx(
        {f"feature_baseline_drift_{n}": figures[n][0] for n in FEATURES})


def test_feature_override_and_switches(lake, tmp_path):
    constraints = _load(lake["constraints"])
    amount = next(f for f in constraints["features"] if f["name"] == "amount")
    amount["monitoringConfigOverrides"] = {"distribution_constraints": {"comparison_threshold": 0.9}}
    constraints["monitoring_config"]["emit_metrics"] = "Disabled"
    (tmp_path / "c.json").write_text(json.dumps(constraints))
    drift.check(lake["drifted_hour"], lake["statistics"], tmp_path / "c.json", tmp_path / "out", FEATURES)
    assert [v["feature_name"] for v in _load(tmp_path / "out" / drift.VIOLATIONS)["violations"]] == ["channel"]
    assert _load(tmp_path / "out" / drift.METRICS)["Metrics"] == {}


def test_empty_window_writes_no_violations_and_no_metrics(lake, tmp_path):
    empty_hour = _write_hour(tmp_path / "capture", 12, [])
    output_only = _write_hour(tmp_path / "capture", 13, [{"captureData": {"endpointOutput": {
        "observedContentType": "text/csv", "mode": "OUTPUT", "data": "1", "encoding": "CSV"}}}])
    for capture in (empty_hour, output_only, tmp_path / "no-such-prefix"):
        result = _check(lake, capture, tmp_path / capture.name)
        assert result.returncode == 0, result.stderr
        assert _load(tmp_path / capture.name / drift.VIOLATIONS) == {"violations": []}
        assert _load(tmp_path / capture.name / drift.METRICS) == {
            "Namespace": "aws/sagemaker/Endpoints/data-metrics", "Metrics": {}}


def test_json_and_base64_records_read_like_csv(lake, tmp_path):
    rows = lake["drifted"]
    half = len(rows) // 2
    records = [_capture_record(0, json.dumps({"instances": [{"features": r} for r in rows[:half]]}),
                               encoding="JSON", content_type="application/json")]
    records += [_capture_record(1 + i, base64.b64encode(",".join(r).encode()).decode(), encoding="BASE64")
                for i, r in enumerate(rows[half:])]
    hour = _write_hour(tmp_path / "capture", 11, records)
    drift.check(hour, lake["statistics"], lake["constraints"], tmp_path / "json", FEATURES)
    drift.check(lake["drifted_hour"], lake["statistics"], lake["constraints"], tmp_path / "csv", FEATURES)
    assert (tmp_path / "json" / drift.METRICS).read_text() == (tmp_path / "csv" / drift.METRICS).read_text()


def test_rows_with_a_wrong_column_count_are_skipped_and_reported(lake, tmp_path):
    records = _csv_records(lake["clean"]) + [_capture_record(900, "1.0,2"), _capture_record(901, "1,2,web,east,9")]
    hour = _write_hour(tmp_path / "capture", 10, records)
    drift.check(hour, lake["statistics"], lake["constraints"], tmp_path / "out", FEATURES)
    violations = _load(tmp_path / "out" / drift.VIOLATIONS)["violations"]
    assert [v["constraint_check_type"] for v in violations] == ["missing_column_check", "extra_column_check"]
    assert "Number of columns in current dataset: 2, Number of columns in baseline constraints: 4" in violations[0]["description"]
    clean = tmp_path / "clean"
    drift.check(lake["clean_hour"], lake["statistics"], lake["constraints"], clean, FEATURES)
    assert (tmp_path / "out" / drift.METRICS).read_text() == (clean / drift.METRICS).read_text()


def test_statistics_without_a_sketch_fall_back_to_the_buckets(lake, tmp_path):
    statistics = _load(lake["statistics"])
    for feature in statistics["features"]:
        feature.get("numerical_statistics", {}).get("distribution", {}).get("kll", {}).pop("sketch", None)
    (tmp_path / "s.json").write_text(json.dumps(statistics))
    drift.check(lake["drifted_hour"], tmp_path / "s.json", lake["constraints"], tmp_path / "out", FEATURES)
    assert [v["feature_name"] for v in _load(tmp_path / "out" / drift.VIOLATIONS)["violations"]] == ["amount", "channel"]


# -- command line -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("change", "message"), [
    (lambda c: c["monitoring_config"]["distribution_constraints"].update(comparison_method="Fancy"),
     "comparison_method 'Fancy' is not supported; allowed: Robust, Simple"),
    (lambda c: c["monitoring_config"]["distribution_constraints"].update(comparison_threshold="high"),
     "comparison_threshold 'high'; expected a number >= 0"),
    (lambda c: c["monitoring_config"]["distribution_constraints"].update(categorical_drift_method="ChiSquared"),
     "categorical_drift_method 'ChiSquared' is not supported; allowed: LInfinity"),
])
def test_unsupported_constraints_exit_2_with_one_line(lake, tmp_path, change, message):
    constraints = _load(lake["constraints"])
    change(constraints)
    (tmp_path / "c.json").write_text(json.dumps(constraints))
    result = _run("check", "--capture", lake["drifted_hour"], "--statistics", lake["statistics"],
                  "--constraints", tmp_path / "c.json", "--output", tmp_path / "out", "--headers", HEADERS)
    assert result.returncode == 2 and message in result.stderr and len(result.stderr.splitlines()) == 1


def test_bad_arguments_exit_2(lake, tmp_path):
    bad_label = _run("baseline", "--dataset", lake["root"] / "train", "--output", tmp_path, "--label", "target")
    assert bad_label.returncode == 2
    assert bad_label.stderr.strip() == ("drift.py: error: --label 'target': not a column; columns: churned, "
                                        "amount, age, channel, region")
    assert _run("check", "--capture", tmp_path, "--statistics", lake["statistics"], "--constraints",
                lake["constraints"], "--output", tmp_path).returncode == 2  # --headers is required
    no_data = _run("baseline", "--dataset", tmp_path / "nothing", "--output", tmp_path)
    assert no_data.returncode == 2 and "no *.csv file" in no_data.stderr
    bad_line = _write_hour(tmp_path / "capture", 10, [])
    (bad_line / "broken.jsonl").write_text('{"captureData": \n')
    broken = _check(lake, bad_line, tmp_path / "out")
    assert broken.returncode == 2 and "broken.jsonl line 1: not JSON" in broken.stderr


def test_namespace_is_the_one_the_alarms_watch():
    from ml_platform.constructs.monitoring.model_monitor import DATA_METRICS

    assert drift.NAMESPACE == DATA_METRICS
