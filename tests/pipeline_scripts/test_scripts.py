"""The training pipeline's scripts: the split and the metric, on data the tests write."""

from __future__ import annotations

import csv
import json

import pytest

from ml_platform.pipeline_scripts import evaluate, prepare


def test_split_is_70_15_15_reproducible_and_loses_no_row():
    rows = [[str(i % 2), str(i)] for i in range(100)]
    parts = prepare.split(rows)
    assert [len(parts[p]) for p in ("train", "validation", "test")] == [70, 15, 15]
    assert sorted(r for p in parts.values() for r in p) == sorted(rows)
    assert prepare.split(rows) == parts and prepare.split(rows, seed=1) != parts


def test_split_of_tiny_inputs_keeps_train_and_validation_non_empty():
    parts = prepare.split([["1", "a"], ["0", "b"], ["1", "c"]])
    assert len(parts["train"]) >= 1 and len(parts["validation"]) >= 1
    with pytest.raises(ValueError, match="no input rows"):
        prepare.split([])


def test_prepare_main_writes_the_three_splits(tmp_path):
    source = tmp_path / "input" / "year=2024"
    source.mkdir(parents=True)
    with (source / "part.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows([[str(i % 2), str(i)] for i in range(20)])
    prepare.main(tmp_path / "input", tmp_path / "out")
    counts = {p: len(list(csv.reader((tmp_path / "out" / p / "data.csv").open()))) for p in ("train", "validation", "test")}
    assert counts == {"train": 14, "validation": 3, "test": 3}


@pytest.mark.parametrize(("labels", "scores", "expected"), [
    ([1, 1, 0, 0], [0.9, 0.8, 0.2, 0.1], 1.0),
    ([1, 1, 0, 0], [0.1, 0.2, 0.8, 0.9], 0.0),
    ([1, 0], [0.5, 0.5], 0.5),
    ([1, 0, 1, 0], [0.9, 0.3, 0.2, 0.1], 0.75),
])
def test_auc(labels, scores, expected):
    assert evaluate.auc(labels, scores) == pytest.approx(expected)


def test_auc_needs_both_classes_and_the_report_matches_the_condition_path():
    with pytest.raises(ValueError, match="both classes"):
        evaluate.auc([1, 1], [0.2, 0.3])
    report = json.loads(json.dumps(evaluate.report(0.8123456)))
    assert report["metrics"]["auc"]["value"] == 0.812346  # read by "metrics.auc.value"
