"""The offline lifecycle run (tools/lifecycle.py): every stage's real code hands its real output to the next.

The run is made once per module (one local Spark session for every run here); the negative tests
change one hand-off each and check that the run fails naming the stage where the drift shows.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

from ml_platform.config import load_environment

ROOT = Path(__file__).resolve().parents[2]
STAGES = ["land", "glue", "features", "ingest", "prepare", "train", "evaluate", "serve", "merge", "retrain-gate",
          "retrain-features"]
LINE = re.compile(r"^(?P<stage>[a-z-]+): rows in (?P<rows_in>\d+), rows out (?P<rows_out>\d+), files (?P<files>\d+)")


def _load_tool():
    spec = importlib.util.spec_from_file_location("lifecycle_tool", ROOT / "tools" / "lifecycle.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


lifecycle = _load_tool()


@pytest.fixture(scope="module")
def spark():
    session = lifecycle.spark_session()
    yield session
    session.stop()


@pytest.fixture(scope="module")
def outcome(spark, tmp_path_factory):
    printed: list[str] = []
    report = lifecycle.main(["--workdir", str(tmp_path_factory.mktemp("lifecycle"))], spark=spark, out=printed.append)
    return report, printed


def numbers(report, stage: str) -> tuple[int, int, int]:
    line = report.lines[stage]
    return line.rows_in, line.rows_out, line.files


def test_every_stage_prints_one_line_in_order_then_a_final_line(outcome):
    _, printed = outcome
    assert [LINE.match(line)["stage"] for line in printed[:-1]] == STAGES
    assert printed[-1].startswith(f"lifecycle: OK, {len(STAGES)} stages")
    assert re.search(r"^evaluate: .*auc=0\.\d{3}", printed[STAGES.index("evaluate")])


def test_raw_rows_become_parquet_rows_and_all_of_them_reach_the_feature_step(outcome):
    report, _ = outcome
    facts = report.facts
    landed, processed = facts["landed"]["rows"], facts["processed"]
    assert set(landed) == set(load_environment(ROOT / "config" / "dev.yaml").data_catalog.datasets)
    assert numbers(report, "land")[:2] == numbers(report, "glue")[:2] == (sum(landed.values()),) * 2
    assert processed == landed
    assert numbers(report, "land")[2] == numbers(report, "glue")[2] == 2 * lifecycle.DAYS  # a file per dataset and day
    assert facts["features"]["sources"] == processed  # every partition is in the 90-day window
    assert numbers(report, "features") == (sum(processed.values()), facts["landed"]["customers"], 2)


def test_features_are_label_first_with_the_rare_class_and_the_configured_columns(outcome):
    report, _ = outcome
    schema = report.facts["features"]
    settings = load_environment(ROOT / "config" / "dev.yaml").training.pipelines[0].features
    assert schema["columns"] == [f.column for f in settings.features]  # ordinal encoding: one column each
    assert schema["label"] == settings.label and schema["feedback_rows"] == 0
    assert "positives=8.0%" in str(report.lines["features"])


def test_every_key_of_the_training_set_is_put_into_the_feature_group_dev_defines(outcome):
    report, _ = outcome
    config = load_environment(ROOT / "config" / "dev.yaml")
    fed = config.training.fed_feature_sets()
    assert report.facts["ingested"]["group"] == f"{config.prefix}-{config.name}-{fed[lifecycle.MODEL]}"
    keys = report.facts["landed"]["customers"]  # one record per labeled key of the window
    assert numbers(report, "ingest") == (keys, keys, 0)


def test_a_records_column_the_group_does_not_define_fails_the_ingest_stage(spark, tmp_path, monkeypatch):
    real = lifecycle.FeatureGroupCatalog.describe_feature_group

    def without_age(self, FeatureGroupName):  # noqa: N803 - boto3's keyword
        found = real(self, FeatureGroupName)
        return {**found, "FeatureDefinitions": [d for d in found["FeatureDefinitions"] if d["FeatureName"] != "age"]}

    monkeypatch.setattr(lifecycle.FeatureGroupCatalog, "describe_feature_group", without_age)
    with pytest.raises(lifecycle.StageFailure, match=r"^ingest: .*age") as failure:
        lifecycle.main(["--workdir", str(tmp_path)], spark=spark, out=lambda line: None)
    assert failure.value.stage == "ingest"


def test_prepare_splits_the_features_and_only_train_gets_synthetic_rows(outcome):
    report, _ = outcome
    counts, synthetic, rows = report.facts["prepared"], report.facts["synthetic"], report.facts["features"]["rows"]
    assert synthetic > 0
    assert counts["train"] - synthetic + counts["validation"] + counts["test"] == rows
    assert counts["validation"] == counts["test"] == round(rows * 0.15)
    assert numbers(report, "prepare") == (rows, rows + synthetic, 3)
    assert numbers(report, "train") == (counts["train"] + counts["validation"], 1, 1)


def test_the_model_beats_the_configured_threshold_and_would_be_registered(outcome):
    report, _ = outcome
    metric = load_environment(ROOT / "config" / "dev.yaml").training.pipelines[0].metric
    assert metric.path == "metrics.auc.value" and metric.comparison == ">="
    assert report.facts["threshold"] == metric.threshold
    assert report.facts["auc"] >= metric.threshold and report.facts["auc"] > lifecycle.MIN_AUC
    assert report.facts["register"] is True
    assert re.fullmatch(r"s3://artifacts/churn/pipeline/models/[^/]+/output/model\.tar\.gz", report.facts["model_uri"])
    assert numbers(report, "evaluate") == (report.facts["prepared"]["test"], 1, 1)


def test_served_rows_are_captured_labeled_and_merged(outcome):
    report, _ = outcome
    facts = report.facts
    assert facts["served"] == facts["prepared"]["test"] == numbers(report, "serve")[0]
    assert 0 < facts["captured"] < facts["served"]  # prod captures a sample (sampling_percent)
    merged = facts["merged"]
    assert merged["ground_truth_lines"] == facts["served"]  # every label becomes ground truth
    assert merged["matched"] == merged["feedback_rows"] == facts["captured"]  # only captured requests make rows
    assert numbers(report, "merge") == (facts["served"], facts["served"] + facts["captured"], 2)


def test_violations_start_one_retraining_and_respect_running_and_cooldown(outcome):
    report, _ = outcome
    assert report.facts["gate"] == {"first": "started", "running": "skipped", "cooldown": "skipped",
                                    "after cooldown": "started"}


def test_feedback_rows_flow_into_the_retraining_set(outcome):
    report, _ = outcome
    first, retrain, merged = report.facts["features"], report.facts["retrain"], report.facts["merged"]
    assert retrain["feedback_rows"] == merged["matched"] > 0
    assert retrain["rows"] == first["rows"] + merged["matched"] == numbers(report, "retrain-features")[1]
    assert retrain["columns"] == first["columns"]


# --- drift between stages fails the run, naming the stage ----------------------------------------


def test_glue_partitions_in_another_layout_fail_the_glue_stage(spark, tmp_path, monkeypatch):
    from pyspark.sql import functions

    def dated_partitions(frame, path):
        dated = frame.withColumn("dt", functions.concat_ws("-", "year", "month", "day")).drop("year", "month", "day")
        dated.write.mode("overwrite").partitionBy("dt").parquet(str(path))

    monkeypatch.setattr(lifecycle, "write_glue_output", dated_partitions)
    with pytest.raises(lifecycle.StageFailure, match=r"^glue: .*not partitioned year=/month=/day=.*found dt=2026-11-") \
            as failure:
        lifecycle.main(["--workdir", str(tmp_path)], spark=spark, out=lambda line: None)
    assert failure.value.stage == "glue"


def test_features_written_label_last_fail_the_features_stage(spark, tmp_path, monkeypatch):
    from ml_platform.jobs.training_pipeline import features

    real = features.write

    def label_last(result, output_dir, *rest):
        result.rows = [row[1:] + row[:1] for row in result.rows]
        real(result, output_dir, *rest)

    monkeypatch.setattr(features, "write", label_last)
    with pytest.raises(lifecycle.StageFailure, match=r"^features: data\.csv line 1 is not label-first") as failure:
        lifecycle.main(["--workdir", str(tmp_path)], spark=spark, out=lambda line: None)
    assert failure.value.stage == "features"


def test_capture_records_the_merge_cannot_read_fail_the_serve_stage(spark, tmp_path, monkeypatch):
    real = lifecycle.capture_record

    def renamed_metadata(*args, **kwargs):
        record = real(*args, **kwargs)
        record["metadata"] = record.pop("eventMetadata")
        return record

    monkeypatch.setattr(lifecycle, "capture_record", renamed_metadata)
    with pytest.raises(lifecycle.StageFailure, match=r"^serve: capture record .* is not what the ground truth merge "
                                                     r"parses \(id None") as failure:
        lifecycle.main(["--workdir", str(tmp_path)], spark=spark, out=lambda line: None)
    assert failure.value.stage == "serve"
