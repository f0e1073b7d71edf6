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
"""

from __future__ import annotations

import csv
import json
import sys
import tarfile
from pathlib import Path
from typing import Any

MODEL = Path("/opt/ml/processing/model/model.tar.gz")
TEST = Path("/opt/ml/processing/test/data.csv")
OUTPUT = Path("/opt/ml/processing/evaluation/evaluation.json")
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
    result = report(auc(labels, scores))
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result))
    quality = output.parent / MODEL_QUALITY_DIR
    quality.mkdir(exist_ok=True)
    for name, document in zip(("statistics.json", "constraints.json"), model_quality(labels, scores)):
        (quality / name).write_text(json.dumps(document, indent=2) + "\n")
    return result


if __name__ == "__main__":  # pragma: no cover
    main(*(Path(a) for a in sys.argv[1:4]))
