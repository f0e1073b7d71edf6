"""Processing step "Evaluate": score the trained XGBoost model on the test split.

Runs in the training image (it has xgboost): the built-in XGBoost image, or a custom image with
``python3`` and ``xgboost`` that writes its model like the built-in one. Reads ``xgboost-model``
from ``model.tar.gz`` (any other model, such as the ``model_algo-1`` MXNet object of a built-in
algorithm like linear-learner, is refused with a message naming what the archive holds) and writes
/opt/ml/processing/evaluation/evaluation.json as ``{"metrics": {"auc": {"value": ...}}}``, the
property file the pipeline's condition reads::

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


def auc(labels: list[float], scores: list[float]) -> float:
    """Area under the ROC curve (probability a positive outranks a negative; ties count half)."""
    positives = [s for label, s in zip(labels, scores) if label >= 0.5]
    negatives = [s for label, s in zip(labels, scores) if label < 0.5]
    if not positives or not negatives:
        raise ValueError("AUC needs both classes in the test split")
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


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
    """Extract ``model`` next to it, score the rows of ``test`` (label first), write and return the report."""
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
    return result


if __name__ == "__main__":  # pragma: no cover
    main(*(Path(a) for a in sys.argv[1:4]))
