"""Processing step "Evaluate": score the trained XGBoost model on the test split.

Runs in the training image (it has xgboost): the built-in XGBoost image, or a custom image with
``python3`` and ``xgboost`` that writes its model like the built-in one. Reads ``xgboost-model``
from ``model.tar.gz`` (any other model, such as the ``model_algo-1`` MXNet object of a built-in
algorithm like linear-learner, is refused with a message naming what the archive holds) and writes
/opt/ml/processing/evaluation/evaluation.json as ``{"metrics": {"auc": {"value": ...}}}``, the
property file the pipeline's condition reads, and next to it ``model-quality/statistics.json`` and
``model-quality/constraints.json``: the test split's binary classification metrics in Model
Monitor's model quality format (``binary_classification_metrics``, "Model quality metrics and
Amazon CloudWatch monitoring"; predicted label: score above :data:`PROBABILITY_THRESHOLD`) and
constraints on them (``binary_classification_constraints``: ``threshold`` and
``comparison_operator`` ``LessThanThreshold``, the value measured minus
:data:`MODEL_QUALITY_TOLERANCE`), which the registered version carries::

    python3 evaluate.py [MODEL_TAR_GZ [TEST_CSV [OUTPUT_JSON]]]
    python3 evaluate.py --predictions DIR [--output OUTPUT_JSON]

``--predictions DIR`` (a pipeline with Autopilot, in the scikit-learn processing image, standard
library only) scores a batch transform's output instead of loading a model: every ``*.out`` file
under ``DIR``, each line ``label,predicted_label,probability`` (the test split's label joined to
the answer of Autopilot's inference container), where ``probability`` is that of the predicted
label (Autopilot's ensembling models); the positive class's score is ``probability`` when the
predicted label is 1 and ``1 - probability`` when it is 0 (:func:`positive_scores`). The
report and the model quality files are computed by the same code as for XGBoost (:func:`write_report`).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tarfile
from pathlib import Path
from typing import Any

MODEL = Path("/opt/ml/processing/model/model.tar.gz")
TEST = Path("/opt/ml/processing/test/data.csv")
OUTPUT = Path("/opt/ml/processing/evaluation/evaluation.json")
#: The batch transform's output files (``<input file>.out``) under ``--predictions``.
PREDICTIONS_SUFFIX = ".out"
#: The file the SageMaker XGBoost container writes its booster to, inside ``model.tar.gz``.
XGBOOST_MODEL = "xgboost-model"
#: The file of SageMaker's MXNet-based built-in algorithms (linear-learner, k-means, ...).
MXNET_MODEL = "model_algo-1"
#: Folder next to ``evaluation.json`` with the model quality statistics and constraints.
MODEL_QUALITY_DIR = "model-quality"
#: A score above it predicts the positive class (Model Monitor's default for binary classification).
PROBABILITY_THRESHOLD = 0.5
#: How far below its test-split value a metric may fall before model quality monitoring reports a
#: violation (absolute; the test split's sampling noise should not alarm).
MODEL_QUALITY_TOLERANCE = 0.05
#: The metrics constrained (all higher-is-better).
CONSTRAINED_METRICS = ("accuracy", "auc", "f1", "precision", "recall")


def auc(labels: list[float], scores: list[float]) -> float:
    """Area under the ROC curve (probability a positive outranks a negative; ties count half)."""
    positives = [s for label, s in zip(labels, scores) if label >= 0.5]
    negatives = [s for label, s in zip(labels, scores) if label < 0.5]
    if not positives or not negatives:
        raise ValueError("AUC needs both classes in the test split")
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


def _ratio(part: float, whole: float) -> float:
    return part / whole if whole else 0.0  # a rate of an empty class is 0


def model_quality(labels: list[float], scores: list[float], threshold: float = PROBABILITY_THRESHOLD
                  ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Model Monitor's model quality statistics and constraints documents for a binary classifier."""
    predicted = [1 if s > threshold else 0 for s in scores]
    actual = [1 if label >= 0.5 else 0 for label in labels]
    pairs = list(zip(actual, predicted))
    tp, tn = pairs.count((1, 1)), pairs.count((0, 0))
    fp, fn = pairs.count((0, 1)), pairs.count((1, 0))
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    values = {
        "accuracy": _ratio(tp + tn, len(pairs)), "precision": precision, "recall": recall,
        "f1": _ratio(2 * precision * recall, precision + recall), "auc": auc(labels, scores),
        "true_positive_rate": recall, "true_negative_rate": _ratio(tn, tn + fp),
        "false_positive_rate": _ratio(fp, fp + tn), "false_negative_rate": _ratio(fn, fn + tp),
    }
    metrics: dict[str, Any] = {"confusion_matrix": {"0": {"0": tn, "1": fp}, "1": {"0": fn, "1": tp}}}
    metrics.update({name: {"value": round(v, 6), "standard_deviation": "NaN"} for name, v in values.items()})
    statistics = {"version": 0.0, "dataset": {"item_count": len(pairs)}, "binary_classification_metrics": metrics}
    constraints = {"version": 0.0, "binary_classification_constraints": {
        name: {"threshold": round(max(0.0, values[name] - MODEL_QUALITY_TOLERANCE), 6),
               "comparison_operator": "LessThanThreshold"} for name in CONSTRAINED_METRICS}}
    return statistics, constraints


def report(value: float) -> dict[str, Any]:
    return {"metrics": {"auc": {"value": round(value, 6)}}}


def model_file(folder: Path) -> Path:
    """The XGBoost model extracted into ``folder``.

    :raises ValueError: naming what the archive holds instead (an MXNet model said as such).
    """
    found = folder / XGBOOST_MODEL
    if found.is_file():
        return found
    names = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                   if p.is_file() and not p.name.endswith(".tar.gz"))  # not the archive itself
    kind = (f"{MXNET_MODEL}, a serialized Apache MXNet model of a SageMaker built-in algorithm such as "
            "linear-learner; " if MXNET_MODEL in names else "")
    raise ValueError(f"model.tar.gz has no {XGBOOST_MODEL} (it holds {', '.join(names) or 'nothing'}): {kind}"
                     f"the Evaluate step scores XGBoost models only")


def write_report(labels: list[float], scores: list[float], output: Path = OUTPUT) -> dict[str, Any]:
    """Write and return the report of ``scores`` (the positive class's) against ``labels``, and
    the model quality statistics and constraints in :data:`MODEL_QUALITY_DIR` next to it."""
    result = report(auc(labels, scores))
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result))
    quality = output.parent / MODEL_QUALITY_DIR
    quality.mkdir(exist_ok=True)
    for name, document in zip(("statistics.json", "constraints.json"), model_quality(labels, scores)):
        (quality / name).write_text(json.dumps(document, indent=2) + "\n")
    return result


def positive_scores(rows: list[list[str]], where: str = "predictions") -> tuple[list[float], list[float]]:
    """The labels and the positive class's scores of ``label,predicted_label,probability`` rows.

    :raises ValueError: naming the line, on a row of another width, a label or predicted label
        other than 0 and 1, or a probability outside [0, 1].
    """
    labels: list[float] = []
    scores: list[float] = []
    for number, row in enumerate(rows, start=1):
        if len(row) != 3:
            raise ValueError(f"{where} line {number}: expected label,predicted_label,probability, got {row!r}")
        try:
            label, predicted, probability = (float(v.strip().strip('"')) for v in row)
        except ValueError:
            raise ValueError(f"{where} line {number}: label, predicted label and probability must be numbers, "
                             f"got {row!r}") from None
        if label not in (0.0, 1.0) or predicted not in (0.0, 1.0):
            raise ValueError(f"{where} line {number}: binary classification needs labels 0 and 1, got {row!r}")
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"{where} line {number}: probability {probability:g} is outside [0, 1]")
        labels.append(label)
        scores.append(probability if predicted == 1.0 else 1.0 - probability)
    if not rows:
        raise ValueError(f"{where}: no prediction lines")
    return labels, scores


def main_predictions(predictions: Path, output: Path = OUTPUT) -> dict[str, Any]:
    """Score the batch transform's ``*.out`` files under ``predictions``; write and return the report."""
    files = sorted(p for p in Path(predictions).rglob(f"*{PREDICTIONS_SUFFIX}") if p.is_file())
    if not files:
        held = sorted(p.name for p in Path(predictions).rglob("*") if p.is_file())
        raise ValueError(f"no *{PREDICTIONS_SUFFIX} files under {predictions} (it holds {', '.join(held) or 'nothing'})")
    rows = [row for path in files for row in csv.reader(path.open(newline="")) if row]
    labels, scores = positive_scores(rows, where=", ".join(p.name for p in files))
    return write_report(labels, scores, output)


def main(model: Path = MODEL, test: Path = TEST, output: Path = OUTPUT) -> dict[str, Any]:
    """Extract ``model`` next to it, score the rows of ``test`` (label first), write and return the
    report (and the model quality files in :data:`MODEL_QUALITY_DIR` next to it)."""
    import xgboost  # in the training image only

    with tarfile.open(model) as archive:
        # Only regular files and folders inside the target (Python's "data" filter, where it has one).
        if hasattr(tarfile, "data_filter"):
            archive.extractall(model.parent, filter="data")
        else:  # a Python without extraction filters (before 3.12, 3.11.4, 3.10.12, 3.9.17, 3.8.17)
            archive.extractall(model.parent)
    booster = xgboost.Booster()
    booster.load_model(str(model_file(model.parent)))
    rows = [[float(v) for v in row] for row in csv.reader(test.open()) if row]
    labels, features = [r[0] for r in rows], [r[1:] for r in rows]
    scores = booster.predict(xgboost.DMatrix(features)).tolist()
    return write_report(labels, scores, output)


def cli(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description="Score the test split: an XGBoost model, or batch transform output.")
    parser.add_argument("paths", nargs="*", type=Path, metavar="PATH",
                        help="MODEL_TAR_GZ [TEST_CSV [OUTPUT_JSON]] (XGBoost)")
    parser.add_argument("--predictions", type=Path, help="a folder of label,predicted_label,probability *.out files")
    parser.add_argument("--output", type=Path, help=f"the report (default {OUTPUT})")
    args = parser.parse_args(argv)
    if len(args.paths) > 3:
        parser.error("give at most MODEL_TAR_GZ TEST_CSV OUTPUT_JSON")
    if args.predictions is not None:
        if args.paths:
            parser.error("--predictions scores a transform's output: give no model or test path")
        return main_predictions(args.predictions, args.output or OUTPUT)
    if args.output is not None and len(args.paths) == 3:
        parser.error("give the output once (third path or --output)")
    paths = [*args.paths, *([] if args.output is None else [MODEL, TEST][len(args.paths):] + [args.output])]
    return main(*paths)


if __name__ == "__main__":  # pragma: no cover
    cli(sys.argv[1:])
