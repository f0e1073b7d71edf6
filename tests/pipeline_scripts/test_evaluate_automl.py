"""Prepare's header copies for Autopilot and Evaluate's ``--predictions`` mode (a batch transform's
output scored with the same metric code as an XGBoost model)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from ml_platform.constructs.training import automl
from ml_platform.jobs.training_pipeline import evaluate, prepare


def _write_rows(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)


def _read_rows(path):
    with path.open(newline="") as handle:
        return list(csv.reader(handle))


# -- Prepare --automl --------------------------------------------------------------------------------

def test_prepare_folders_are_the_outputs_the_automl_step_reads():
    assert prepare.AUTOML_SPLITS == {"train": automl.TRAIN_OUTPUT, "validation": automl.VALIDATION_OUTPUT}


def test_prepare_without_automl_writes_no_header_copies(tmp_path):
    _write_rows(tmp_path / "in" / "data.csv", [[str(i % 2), str(i)] for i in range(20)])
    prepare.main(tmp_path / "in", tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["test", "train", "validation"]


def test_prepare_automl_copies_train_and_validation_with_the_schema_header(tmp_path):
    rows = [[str(i % 2), str(i), str(i * 2)] for i in range(40)]
    _write_rows(tmp_path / "in" / "data.csv", rows)
    (tmp_path / "in" / "schema.json").write_text(json.dumps({"label": "churned", "columns": ["tenure", "spend"]}))
    prepare.main(tmp_path / "in", tmp_path / "out", automl_label="churned")
    for split, folder in prepare.AUTOML_SPLITS.items():
        plain = _read_rows(tmp_path / "out" / split / "data.csv")
        copy = _read_rows(tmp_path / "out" / folder / "data.csv")
        assert copy == [["churned", "tenure", "spend"], *plain]  # the same rows, after a header
        assert plain[0][0] in ("0", "1")  # the splits others read stay headerless
    assert not (tmp_path / "out" / "automl-test").exists()


def test_prepare_automl_names_headerless_input_columns_like_model_monitor(tmp_path):
    _write_rows(tmp_path / "in" / "data.csv", [[str(i % 2), str(i), "7", "8"] for i in range(20)])
    prepare.cli([str(tmp_path / "in"), str(tmp_path / "out"), "--automl", "label"])
    assert _read_rows(tmp_path / "out" / "automl-train" / "data.csv")[0] == ["label", "_c0", "_c1", "_c2"]


def test_prepare_automl_copies_the_rebalanced_train_split(tmp_path):
    pytest.importorskip("imblearn")
    rows = [["1", str(100 + i % 40), str(i % 20)] if i % 5 == 0 else ["0", str(i % 50), str(50 + i % 30)]
            for i in range(200)]
    _write_rows(tmp_path / "in" / "data.csv", rows)
    prepare.main(tmp_path / "in", tmp_path / "out", {"method": "smote"}, libs=None, automl_label="label")
    train = _read_rows(tmp_path / "out" / "train" / "data.csv")
    assert _read_rows(tmp_path / "out" / "automl-train" / "data.csv")[1:] == train
    assert len(train) > 140  # synthetic rows included


@pytest.mark.parametrize(("label", "width", "names", "message"), [
    ("label", 3, ["a"], "schema.json names 1 feature columns, the rows have 2"),
    ("a", 3, ["a", "b"], r"column name\(s\) a repeat"),
])
def test_automl_header_problems(label, width, names, message):
    with pytest.raises(ValueError, match=message):
        prepare.automl_header(label, width, names)


def test_prepare_automl_refuses_a_schema_that_does_not_fit_before_writing(tmp_path):
    _write_rows(tmp_path / "in" / "data.csv", [[str(i % 2), str(i)] for i in range(20)])
    (tmp_path / "in" / "schema.json").write_text(json.dumps({"columns": ["a", "b"]}))
    with pytest.raises(ValueError, match="names 2 feature columns, the rows have 1"):
        prepare.main(tmp_path / "in", tmp_path / "out", automl_label="label")
    assert not (tmp_path / "out").exists()


# -- Evaluate --predictions -------------------------------------------------------------------------

def test_positive_scores_turn_the_predicted_labels_probability_into_the_positive_classes():
    labels, scores = evaluate.positive_scores([["1", "1", "0.9"], ["0", "0", "0.8"], ["1", "0", "0.6"],
                                               ["0", "1.0", "0.55"], [" 1", '"1"', "1"]])
    assert labels == [1.0, 0.0, 1.0, 0.0, 1.0]
    assert scores == pytest.approx([0.9, 0.2, 0.4, 0.55, 1.0])


@pytest.mark.parametrize(("row", "message"), [
    (["1", "0.7"], "line 1: expected label,predicted_label,probability"),
    (["1", "yes", "0.7"], "line 1: label, predicted label and probability must be numbers"),
    (["2", "1", "0.7"], "line 1: binary classification needs labels 0 and 1"),
    (["1", "1", "1.5"], "line 1: probability 1.5 is outside"),
])
def test_positive_scores_refuse_lines_they_cannot_read(row, message):
    with pytest.raises(ValueError, match=message):
        evaluate.positive_scores([row])


def test_predictions_are_scored_with_the_same_report_and_model_quality_as_a_model(tmp_path):
    rows = [["1", "1", "0.9"], ["1", "1", "0.7"], ["0", "0", "0.8"], ["0", "1", "0.6"], ["1", "0", "0.55"],
            ["0", "0", "0.9"]]
    _write_rows(tmp_path / "predictions" / "data.csv.out", rows)
    (tmp_path / "predictions" / "_SUCCESS").write_text("")  # other files are ignored
    output = tmp_path / "evaluation" / "evaluation.json"
    result = evaluate.main_predictions(tmp_path / "predictions", output)

    labels, scores = evaluate.positive_scores(rows)
    assert result == json.loads(output.read_text()) == evaluate.report(evaluate.auc(labels, scores))
    statistics, constraints = evaluate.model_quality(labels, scores)
    quality = output.parent / evaluate.MODEL_QUALITY_DIR
    assert json.loads((quality / "statistics.json").read_text()) == statistics
    assert json.loads((quality / "constraints.json").read_text()) == constraints
    assert statistics["binary_classification_metrics"]["confusion_matrix"] == {"0": {"0": 2, "1": 1},
                                                                               "1": {"0": 1, "1": 2}}


def test_predictions_folder_without_output_files_is_refused_naming_what_it_holds(tmp_path):
    (tmp_path / "predictions").mkdir()
    (tmp_path / "predictions" / "data.csv").write_text("1,1,0.9\n")
    with pytest.raises(ValueError, match=r"no \*.out files under .* \(it holds data.csv\)"):
        evaluate.main_predictions(tmp_path / "predictions", tmp_path / "evaluation.json")


def test_evaluate_command_line_predictions_mode_runs_without_xgboost(tmp_path):
    _write_rows(tmp_path / "p" / "data.csv.out", [["1", "1", "0.9"], ["0", "0", "0.9"]])
    output = tmp_path / "e" / "evaluation.json"
    # -S: no site packages, as in an image without xgboost; the script uses the standard library only
    run = subprocess.run([sys.executable, "-S", evaluate.__file__, "--predictions", str(tmp_path / "p"),
                          "--output", str(output)], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    assert json.loads(output.read_text()) == {"metrics": {"auc": {"value": 1.0}}}


@pytest.mark.parametrize(("argv", "message"), [
    (["--predictions", "p", "model.tar.gz"], "give no model or test path"),
    (["a", "b", "c", "d"], "at most"),
    (["a", "b", "c", "--output", "o"], "give the output once"),
])
def test_evaluate_command_line_errors(argv, message, capsys):
    with pytest.raises(SystemExit):
        evaluate.cli(argv)
    assert message in capsys.readouterr().err


def test_evaluate_command_line_keeps_the_positional_model_form(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(evaluate, "main", lambda *paths: calls.append(paths) or {})
    evaluate.cli([])
    evaluate.cli(["m.tar.gz", "t.csv", "o.json"])
    evaluate.cli(["m.tar.gz", "--output", "o.json"])
    assert calls == [(), (Path("m.tar.gz"), Path("t.csv"), Path("o.json")),
                     (Path("m.tar.gz"), evaluate.TEST, Path("o.json"))]
