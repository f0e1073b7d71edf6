"""The training pipeline's scripts: the split and the metric, on data the tests write."""

from __future__ import annotations

import csv
import importlib
import io
import json
import os
import subprocess
import sys
import tarfile
import zipfile
from collections import Counter
from pathlib import Path

import pytest

from ml_platform.jobs.training_pipeline import evaluate, prepare


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
    # Unix line ends, like the Features step's output (csv's default would be \r\n).
    assert all(b"\r" not in (tmp_path / "out" / p / "data.csv").read_bytes() for p in ("train", "validation", "test"))


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


# -- Evaluate: the model of the training image, scored on the test split ----------------------------

def _model_archive(path, files):
    """``path`` (a model.tar.gz) holding ``files``: name to bytes, at the top like SageMaker writes them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def test_evaluate_scores_an_xgboost_model_on_the_test_split(tmp_path):
    xgboost = pytest.importorskip("xgboost")
    rows = [[i % 2, (i % 2) * 3 + (i % 7) * 0.1, i % 5] for i in range(60)]
    booster = xgboost.train({"objective": "binary:logistic", "max_depth": 2, "nthread": 1},
                            xgboost.DMatrix([r[1:] for r in rows], label=[r[0] for r in rows]), num_boost_round=5)
    saved = tmp_path / "trained" / "xgboost-model"
    saved.parent.mkdir()
    booster.save_model(str(saved))
    model = _model_archive(tmp_path / "model" / "model.tar.gz", {evaluate.XGBOOST_MODEL: saved.read_bytes()})
    _write_rows(tmp_path / "test" / "data.csv", rows)
    output = tmp_path / "evaluation" / "evaluation.json"
    result = evaluate.main(model, tmp_path / "test" / "data.csv", output)
    assert result == json.loads(output.read_text())
    assert result["metrics"]["auc"]["value"] == 1.0  # separable on the first feature


def test_evaluate_refuses_an_mxnet_model_and_says_what_the_archive_holds(tmp_path):
    pytest.importorskip("xgboost")
    model = _model_archive(tmp_path / "model" / "model.tar.gz", {evaluate.MXNET_MODEL: b"PK\x03\x04"})
    _write_rows(tmp_path / "test" / "data.csv", [[1, 0.5], [0, 0.1]])
    with pytest.raises(ValueError, match=r"has no xgboost-model \(it holds model_algo-1\): model_algo-1, a serialized "
                                         r"Apache MXNet model .* linear-learner; the Evaluate step scores XGBoost"):
        evaluate.main(model, tmp_path / "test" / "data.csv", tmp_path / "evaluation.json")
    assert not (tmp_path / "evaluation.json").exists()


def test_evaluate_names_the_files_of_an_unknown_model(tmp_path):
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "inference.py").write_text("")
    (tmp_path / "model.tar.gz").write_bytes(b"")  # the archive itself is not listed
    with pytest.raises(ValueError, match=r"^model.tar.gz has no xgboost-model \(it holds code/inference.py\): the "
                                         r"Evaluate step scores XGBoost models only$"):
        evaluate.model_file(tmp_path)


# -- Prepare: input files, command line, SMOTE on the train split ------------------------------------

def _write_rows(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)


def _read_rows(path):
    with path.open(newline="") as handle:
        return list(csv.reader(handle))


def _imbalanced(n=200):
    """Every fifth row is of class 1, whose features lie in [100, 140) x [0, 20); class 0 elsewhere."""
    return [["1", str(100 + i % 40), str(i % 20)] if i % 5 == 0 else ["0", str(i % 50), str(50 + i % 30)]
            for i in range(n)]


def test_prepare_reads_only_csv_files_and_keeps_both_command_line_forms(tmp_path):
    source = tmp_path / "features"
    _write_rows(source / "data.csv", [[str(i % 2), str(i)] for i in range(20)])
    (source / "schema.json").write_text(json.dumps({"label": "y", "columns": ["x"]}))  # the feature step's
    positional = prepare.cli([str(source), str(tmp_path / "a")])
    flags = prepare.cli(["--input", str(source), "--output", str(tmp_path / "b")])
    assert positional == flags == {"train": 14, "validation": 3, "test": 3}
    for part in ("train", "validation", "test"):
        assert (tmp_path / "a" / part / "data.csv").read_bytes() == (tmp_path / "b" / part / "data.csv").read_bytes()


def _run_both(tmp_path, options, rows=None):
    _write_rows(tmp_path / "in" / "data.csv", rows or _imbalanced())
    prepare.main(tmp_path / "in", tmp_path / "plain")
    prepare.main(tmp_path / "in", tmp_path / "smote", options, libs=None)
    return ({p: _read_rows(tmp_path / "plain" / p / "data.csv") for p in ("train", "validation", "test")},
            {p: _read_rows(tmp_path / "smote" / p / "data.csv") for p in ("train", "validation", "test")})


@pytest.mark.parametrize(("strategy", "ratio"), [(0.5, 0.5), (None, 1.0)])
def test_smote_oversamples_the_minority_of_the_train_split_only(tmp_path, strategy, ratio):
    options = {"method": "smote", "k_neighbors": 5, **({"sampling_strategy": strategy} if strategy else {})}
    plain, smote = _run_both(tmp_path, json.dumps(options))
    for part in ("validation", "test"):
        assert smote[part] == plain[part]  # real rows only
    before = Counter(row[0] for row in plain["train"])
    after = Counter(row[0] for row in smote["train"])
    assert before["1"] < ratio * before["0"]
    assert after["0"] == before["0"]  # the majority is untouched
    assert abs(after["1"] - ratio * after["0"]) < 1  # minority/majority as asked
    added = Counter(map(tuple, smote["train"])) - Counter(map(tuple, plain["train"]))
    assert sum(added.values()) == after["1"] - before["1"]  # the train rows are all kept
    assert all(row[0] == "1" and 100 <= float(row[1]) < 140 and 0 <= float(row[2]) < 20 for row in added)


def test_smote_needs_k_neighbors_plus_one_minority_rows(tmp_path):
    rows = [["1" if i in (0, 1, 2, 3) else "0", str(i), str(i * 2)] for i in range(40)]
    with pytest.raises(ValueError, match=r"k_neighbors=5 needs at least 6 rows of the minority class \(label 1\)"):
        _run_both(tmp_path, {"method": "smote"}, rows)


def test_smote_refuses_missing_values_and_names_the_feature(tmp_path):
    rows = [[r[0], r[1], "" if i % 7 == 0 else r[2]] for i, r in enumerate(_imbalanced())]
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "schema.json").write_text(json.dumps({"columns": ["age", "amount"]}))
    with pytest.raises(ValueError, match=r"missing values.* in: amount\. Set `impute`"):
        _run_both(tmp_path, {"method": "smote"}, rows)


@pytest.mark.parametrize(("value", "message"), [
    ("{", "not valid JSON"),
    ('{"method": "adasyn"}', "method must be 'smote'"),
    ('{"method": "smote", "sampling_strategy": 1.5}', "sampling_strategy must be a ratio in"),
    ('{"method": "smote", "k_neighbors": 0}', "k_neighbors must be a whole number >= 1"),
    ('{"method": "smote", "seed": 1}', r"unknown key\(s\) seed"),
])
def test_bad_rebalance_options(value, message):
    with pytest.raises(ValueError, match=message):
        prepare.parse_rebalance(value)


def test_rebalance_defaults():
    assert prepare.parse_rebalance('{"method": "smote"}') == {
        "method": "smote", "sampling_strategy": "auto", "k_neighbors": 5, "random_state": 42}
    assert prepare.parse_rebalance(None) is None


def _zip_package(package, archive):
    """The installed ``package`` as ``archive`` with the package folder at its top (no caches, no tests)."""
    folder = Path(importlib.import_module(package).__file__).parent
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in sorted(folder.rglob("*")):
            relative = path.relative_to(folder.parent)
            if path.is_file() and "__pycache__" not in relative.parts and "tests" not in relative.parts:
                bundle.write(path, relative.as_posix())


def test_imblearn_is_imported_from_the_extracted_libs(tmp_path):
    """In a Python that cannot see the installed imblearn nor sklearn_compat (no site, a view of
    site-packages without them), the script runs SMOTE with the packages of the zips only."""
    site_packages = Path(importlib.import_module("sklearn").__file__).parent.parent
    view = tmp_path / "site-packages"
    view.mkdir()
    hidden = ("imblearn", "imbalanced_learn", "sklearn_compat")
    for entry in site_packages.iterdir():
        if not entry.name.startswith(hidden):
            (view / entry.name).symlink_to(entry)
    env = {"PYTHONPATH": str(view), "PATH": os.environ.get("PATH", ""), "PYTHONDONTWRITEBYTECODE": "1"}
    python = [sys.executable, "-S"]
    blind = subprocess.run([*python, "-c", "import imblearn"], env=env, capture_output=True, text=True)
    assert blind.returncode != 0 and "No module named 'imblearn'" in blind.stderr

    libs = tmp_path / "libs"
    libs.mkdir()
    script = str(Path(prepare.__file__))
    _write_rows(tmp_path / "in" / "data.csv", _imbalanced())
    args = [script, str(tmp_path / "in"), str(tmp_path / "out"), "--rebalance", '{"method": "smote"}',
            "--libs", str(libs)]
    missing = subprocess.run([*python, *args], env=env, capture_output=True, text=True)
    assert missing.returncode != 0 and "needs imblearn" in missing.stderr

    _zip_package("imblearn", libs / "imblearn.zip")
    (libs / "nested").mkdir()
    _zip_package("sklearn_compat", libs / "nested" / "sklearn_compat.zip")  # a second zip, deeper
    where = subprocess.run([*python, "-c", (
        "import sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]); import prepare; "
        "extracted = prepare.add_libs(Path(sys.argv[2])); import imblearn, sklearn_compat; "
        "print(extracted); print(imblearn.__file__); print(sklearn_compat.__file__)"),
        str(Path(script).parent), str(libs)], env=env, capture_output=True, text=True, check=True)
    extracted, imblearn_file, compat_file = where.stdout.split()
    assert Path(imblearn_file).is_relative_to(extracted) and Path(compat_file).is_relative_to(extracted)
    done = subprocess.run([*python, *args], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    train = Counter(row[0] for row in _read_rows(tmp_path / "out" / "train" / "data.csv"))
    assert train["1"] == train["0"] and "synthetic=" in done.stdout
