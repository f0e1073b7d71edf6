"""Processing step "Evaluate": score the trained XGBoost model on the test split.

Runs in the training image (it has xgboost). Writes /opt/ml/processing/evaluation/evaluation.json
as ``{"metrics": {"auc": {"value": ...}}}``, the property file the pipeline's condition reads.
"""

from __future__ import annotations

import csv
import json
import sys
import tarfile
from pathlib import Path

MODEL = Path("/opt/ml/processing/model/model.tar.gz")
TEST = Path("/opt/ml/processing/test/data.csv")
OUTPUT = Path("/opt/ml/processing/evaluation/evaluation.json")


def auc(labels: list[float], scores: list[float]) -> float:
    """Area under the ROC curve (probability a positive outranks a negative; ties count half)."""
    positives = [s for label, s in zip(labels, scores) if label >= 0.5]
    negatives = [s for label, s in zip(labels, scores) if label < 0.5]
    if not positives or not negatives:
        raise ValueError("AUC needs both classes in the test split")
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


def report(value: float) -> dict:
    return {"metrics": {"auc": {"value": round(value, 6)}}}


def main(model: Path = MODEL, test: Path = TEST, output: Path = OUTPUT) -> None:  # pragma: no cover - needs xgboost
    import xgboost  # in the training image only

    with tarfile.open(model) as archive:
        # Only regular files and folders inside the target (Python's "data" filter, where it has one).
        archive.extractall(model.parent, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    booster = xgboost.Booster()
    booster.load_model(str(model.parent / "xgboost-model"))
    rows = [[float(v) for v in row] for row in csv.reader(test.open()) if row]
    labels, features = [r[0] for r in rows], [r[1:] for r in rows]
    scores = booster.predict(xgboost.DMatrix(features)).tolist()
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report(auc(labels, scores))))


if __name__ == "__main__":  # pragma: no cover
    main(*(Path(a) for a in sys.argv[1:4]))
