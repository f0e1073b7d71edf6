"""Processing step "Baselines": Model Monitor data-quality baselines of the train split, by drift.py.

Runs in the SageMaker scikit-learn image. The drift job's folder (``ml_platform/jobs/drift/``)
arrives as one zip (a CDK folder asset) under ``--drift``; this script extracts it and runs::

    python3 <drift>/drift.py baseline --dataset DATASET --output OUTPUT --label LABEL --headers LABEL,f1,...

so the baseline is computed by the same code that later checks served traffic against it. The
train split has no header (label first, what the built-in algorithms read): ``--headers`` names
the label and then the feature step's ``schema.json`` columns (under ``--schema``), or, without a
schema, ``_c0``, ``_c1``, ... (the names Model Monitor gives headerless CSV columns, and what a
check of headerless captured requests names them). Usage::

    python3 baselines.py --label LABEL [--drift DIR] [--dataset DIR] [--output DIR] [--schema DIR]

Writes ``<output>/statistics.json`` and ``<output>/constraints.json`` (Model Monitor's formats).
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

DRIFT = Path("/opt/ml/processing/drift")
DATASET = Path("/opt/ml/processing/train")
OUTPUT = Path("/opt/ml/processing/baselines")


def drift_script(folder: Path, scratch: Path) -> Path:
    """``drift.py``: in ``folder`` itself, or in the zip(s) under it extracted into ``scratch``.

    :raises FileNotFoundError: naming what the folder holds instead.
    """
    if (folder / "drift.py").is_file():
        return folder / "drift.py"
    for archive in sorted(folder.rglob("*.zip")):
        with zipfile.ZipFile(archive) as bundle:
            bundle.extractall(scratch)
    found = sorted(scratch.rglob("drift.py"))
    if not found:
        held = sorted(p.name for p in folder.rglob("*") if p.is_file())
        raise FileNotFoundError(f"no drift.py in {folder} nor in its zips (it holds {', '.join(held) or 'nothing'})")
    return found[0]


def headers(dataset: Path, label: str, schema: Path | None = None) -> list[str]:
    """The label, then the feature names of the label-first CSV rows under ``dataset``.

    :raises ValueError: on no rows, a schema that does not fit the rows, or a name with a comma.
    """
    width = 0
    for path in sorted(dataset.rglob("*.csv")):
        with path.open(newline="") as handle:
            first = next((row for row in csv.reader(handle) if row), None)
        if first:
            width = len(first)
            break
    if width < 2:
        raise ValueError(f"no CSV rows with a label and features under {dataset}")
    columns = [f"_c{i}" for i in range(width - 1)]
    found = sorted(schema.rglob("schema.json")) if schema is not None else []
    if found:
        columns = [str(c) for c in json.loads(found[0].read_text())["columns"]]
        if len(columns) != width - 1:
            raise ValueError(f"{found[0]} names {len(columns)} feature columns, the rows have {width - 1}")
    names = [label, *columns]
    bad = [n for n in names if "," in n]
    if bad:
        raise ValueError(f"column names {bad} have a comma, which drift.py --headers cannot take")
    return names


def command(script: Path, dataset: Path, output: Path, label: str, names: list[str]) -> list[str]:
    """The drift job's baseline command line."""
    return [sys.executable, str(script), "baseline", "--dataset", str(dataset), "--output", str(output),
            "--label", label, "--headers", ",".join(names)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--label", required=True, help="the name given to the first (label) column")
    parser.add_argument("--drift", type=Path, default=DRIFT, help="drift.py, or the zip of its folder")
    parser.add_argument("--dataset", type=Path, default=DATASET)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--schema", type=Path, default=None, help="a folder with the feature step's schema.json")
    args = parser.parse_args(argv)
    names = headers(args.dataset, args.label, args.schema)
    with tempfile.TemporaryDirectory() as scratch:
        script = drift_script(args.drift, Path(scratch))
        args.output.mkdir(parents=True, exist_ok=True)
        run = subprocess.run(command(script, args.dataset, args.output, args.label, names), check=False)
    if run.returncode:
        print(f"baselines: drift.py baseline exited {run.returncode}", file=sys.stderr)
    return run.returncode


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
