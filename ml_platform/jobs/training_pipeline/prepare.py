"""Processing step "Prepare": split CSV rows (label first, no header) into train, validation, test.

Reads every ``*.csv`` under its input (other files, such as the feature step's ``schema.json``,
are ignored), shuffles with a fixed seed, cuts 70/15/15 and writes ``data.csv`` under
``<output>/{train,validation,test}``. Standard library only, unless rebalancing is asked for::

    python3 prepare.py [INPUT [OUTPUT]] [--input DIR] [--output DIR] [--rebalance JSON] [--libs DIR]
                       [--automl LABEL]

(defaults /opt/ml/processing/input and /opt/ml/processing; the positional form is the old one).

``--automl LABEL`` (a pipeline with Autopilot) also writes the train and validation splits, as
written above (rebalanced train rows included), with a header row to
``<output>/automl-train/data.csv`` and ``<output>/automl-validation/data.csv``: Autopilot reads
CSV with a header and finds its target by name. The header is ``LABEL`` and the feature names of
the feature step's ``schema.json`` (in the input), or ``_c0``, ``_c1``, ... without one (the
names Model Monitor gives headerless columns). The three headerless splits are unchanged (Bias,
Baselines, Evaluate and the Predict transform read them).

``--rebalance '{"method": "smote", "sampling_strategy": 0.5, "k_neighbors": 5}'`` oversamples the
minority class of the TRAIN split only, after the split, with imbalanced-learn's SMOTE
(``sampling_strategy``: the minority/majority ratio after resampling, or an imblearn strategy
name, default ``"auto"``: balanced; ``k_neighbors`` default 5; ``random_state`` default 42).
Validation and test keep real rows only: a synthetic row interpolates between neighbouring
minority rows, so in evaluation data it would be an easy, made-up case; it would inflate the
metric the pipeline's condition compares (and the early stopping on validation) and hide how
the model does on the real class balance it will serve. Every train row must be numeric and
complete: SMOTE cannot take a missing value (an empty field), so the features with gaps need an
``impute`` in the feature spec.

imblearn is not in the scikit-learn processing image and jobs have no internet: ``--libs``
(default /opt/ml/processing/libs) holds ``.zip`` files with the pure-Python packages ``imblearn/``
and ``sklearn_compat/`` at their top level, extracted to a temporary folder put first on
``sys.path`` (:func:`add_libs`) before imblearn is imported, and only when rebalancing.
"""

from __future__ import annotations

import argparse
import csv
import importlib
import json
import math
import random
import sys
import tempfile
import zipfile
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

INPUT = Path("/opt/ml/processing/input")
OUTPUT = Path("/opt/ml/processing")
LIBS = Path("/opt/ml/processing/libs")
SPLITS = (("train", 0.7), ("validation", 0.15), ("test", 0.15))
SEED = 42
#: imblearn's names of sampling strategies (a float is a minority/majority ratio).
STRATEGIES = ("auto", "minority", "not minority", "not majority", "all")
REBALANCE_DEFAULTS = {"sampling_strategy": "auto", "k_neighbors": 5, "random_state": SEED}
#: With ``--automl``: the splits copied with a header for Autopilot, and the folder of each copy.
AUTOML_SPLITS = {"train": "automl-train", "validation": "automl-validation"}


def split(rows: list[list[str]], seed: int = SEED) -> dict[str, list[list[str]]]:
    """Shuffle ``rows`` reproducibly and cut them 70/15/15 (every part non-empty when possible)."""
    if not rows:
        raise ValueError("no input rows")
    shuffled = rows[:]
    random.Random(seed).shuffle(shuffled)
    train_end = max(1, round(len(shuffled) * SPLITS[0][1]))
    validation_end = min(len(shuffled), train_end + max(1, round(len(shuffled) * SPLITS[1][1])))
    return {"train": shuffled[:train_end], "validation": shuffled[train_end:validation_end],
            "test": shuffled[validation_end:]}


# -- rebalancing ------------------------------------------------------------------------------------

def parse_rebalance(value: str | Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The ``--rebalance`` options with their defaults, or None.

    :raises ValueError: on anything but ``{"method": "smote", ...}`` with valid options.
    """
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"--rebalance is not valid JSON: {exc}") from exc
    if not isinstance(value, Mapping):
        raise ValueError("--rebalance must be a JSON object such as {\"method\": \"smote\"}")
    unknown = sorted(set(value) - {"method", *REBALANCE_DEFAULTS})
    if unknown:
        raise ValueError(f"--rebalance has unknown key(s) {', '.join(unknown)} "
                         f"(known: method, {', '.join(REBALANCE_DEFAULTS)})")
    if value.get("method") != "smote":
        raise ValueError(f"--rebalance method must be 'smote', got {value.get('method')!r}")
    options = {**REBALANCE_DEFAULTS, **{k: v for k, v in value.items() if k != "method"}}
    strategy = options["sampling_strategy"]
    if isinstance(strategy, bool) or not (strategy in STRATEGIES or (
            isinstance(strategy, (int, float)) and 0 < strategy <= 1)):
        raise ValueError(f"--rebalance sampling_strategy must be a ratio in (0, 1] or one of "
                         f"{', '.join(STRATEGIES)}, got {strategy!r}")
    for key, least in (("k_neighbors", 1), ("random_state", 0)):
        if type(options[key]) is not int or options[key] < least:
            raise ValueError(f"--rebalance {key} must be a whole number >= {least}, got {options[key]!r}")
    if not isinstance(strategy, str):
        options["sampling_strategy"] = float(strategy)
    return {"method": "smote", **options}


def add_libs(libs_dir: Path) -> Path | None:
    """Extract every ``*.zip`` under ``libs_dir`` (sorted) into one new temporary folder and put
    that folder first on ``sys.path``; return it, or None when there is no zip."""
    archives = sorted(p for p in Path(libs_dir).rglob("*.zip") if p.is_file()) if Path(libs_dir).is_dir() else []
    if not archives:
        return None
    target = Path(tempfile.mkdtemp(prefix="prepare-libs-"))
    for archive in archives:
        with zipfile.ZipFile(archive) as bundle:
            bundle.extractall(target)  # members with absolute paths or ".." are kept inside target
    sys.path.insert(0, str(target))
    importlib.invalidate_caches()
    return target


def load_smote(libs_dir: Path | None) -> Any:
    """imblearn's SMOTE class, imported from the zips of ``libs_dir`` (None: as installed)."""
    extracted = add_libs(libs_dir) if libs_dir is not None else None
    try:
        from imblearn.over_sampling import SMOTE
    except ImportError as exc:
        where = f"the zips extracted from {libs_dir}" if extracted else f"no *.zip under {libs_dir}"
        raise ValueError(f"--rebalance needs imblearn, which the processing image lacks, and it does not import "
                         f"({where}): give the libraries input with imblearn/ and sklearn_compat/ ({exc})") from exc
    return SMOTE


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 2 ** 53 else repr(float(value))


def _feature_names(input_dir: Path) -> list[str]:
    """The feature columns of the feature step's ``schema.json`` in the input, if there is one."""
    for path in sorted(input_dir.rglob("schema.json")):
        try:
            columns = json.loads(path.read_text()).get("columns")
        except (ValueError, AttributeError):
            continue
        if isinstance(columns, list):
            return [str(c) for c in columns]
    return []


def rebalance(train: list[list[str]], options: dict[str, Any], smote: Any, names: list[str] | None = None
              ) -> tuple[list[list[str]], int]:
    """``train`` plus SMOTE's synthetic minority rows (shuffled with the seed), and their number.

    :param smote: the SMOTE class. :param names: the feature column names, for messages.
    :raises ValueError: on missing or non-numeric values, one class, or too few minority rows.
    """
    import numpy as np  # in the scikit-learn image; imported only when rebalancing

    names = names or []
    labels: list[float] = []
    matrix: list[list[float]] = []
    gaps: set[int] = set()
    for number, row in enumerate(train, start=1):
        try:
            labels.append(float(row[0]))
            values = [math.nan if field == "" else float(field) for field in row[1:]]
        except ValueError:
            raise ValueError(f"SMOTE needs numbers: train row {number} is {row!r}") from None
        gaps.update(j for j, v in enumerate(values) if math.isnan(v))
        matrix.append(values)
    if gaps:
        columns = ", ".join(names[j] if j < len(names) else f"field {j + 2}" for j in sorted(gaps))
        raise ValueError(f"SMOTE cannot take missing values, and train rows have empty fields in: {columns}. "
                         "Set `impute` on the features that have gaps (in the feature spec), or drop rebalance")
    counts = Counter(labels)
    if len(counts) < 2:
        raise ValueError(f"SMOTE needs both classes in the train split; every train row has label "
                         f"{_number(next(iter(counts)))}")
    minority, size = min(counts.items(), key=lambda item: (item[1], item[0]))
    k = options["k_neighbors"]
    if size < k + 1:
        raise ValueError(f"SMOTE with k_neighbors={k} needs at least {k + 1} rows of the minority class (label "
                         f"{_number(minority)}) in the train split, which has {size}: lower k_neighbors or add data")
    sampler = smote(sampling_strategy=options["sampling_strategy"], k_neighbors=k,
                    random_state=options["random_state"])
    try:
        resampled, resampled_labels = sampler.fit_resample(np.array(matrix, dtype=float), np.array(labels))
    except ValueError as exc:
        raise ValueError(f"SMOTE: {exc}") from exc
    # imblearn returns the original rows first, then the synthetic ones
    synthetic = [[_number(y), *(_number(v) for v in x)]
                 for x, y in zip(resampled[len(train):].tolist(), resampled_labels[len(train):].tolist())]
    rows = train + synthetic
    random.Random(options["random_state"]).shuffle(rows)
    return rows, len(synthetic)


# -- Autopilot copies -------------------------------------------------------------------------------

def automl_header(label: str, width: int, names: list[str] | None = None) -> list[str]:
    """The header of label-first rows ``width`` fields wide: ``label``, then ``names`` (the
    schema's feature columns) or ``_c0``, ``_c1``, ...

    :raises ValueError: when ``names`` does not fit the rows, or a name repeats.
    """
    features = list(names) if names else [f"_c{i}" for i in range(width - 1)]
    if len(features) != width - 1:
        raise ValueError(f"--automl: schema.json names {len(features)} feature columns, the rows have {width - 1}")
    header = [label, *features]
    repeated = sorted({n for n in header if header.count(n) > 1})
    if repeated:
        raise ValueError(f"--automl: column name(s) {', '.join(repeated)} repeat in the header {header} "
                         "(the label must not be a feature's name)")
    return header


# -- the step ---------------------------------------------------------------------------------------

def _read(path: Path) -> list[list[str]]:
    with path.open(newline="") as handle:
        return list(csv.reader(handle))


def _write(path: Path, rows: list[list[str]], header: list[str] | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        if header is not None:
            writer.writerow(header)
        writer.writerows(rows)


def main(input_dir: Path = INPUT, output_dir: Path = OUTPUT, rebalance_options: str | Mapping[str, Any] | None = None,
         libs: Path | None = LIBS, automl_label: str | None = None) -> dict[str, int]:
    """Split, optionally rebalance the train split, write; return the row count of each part.

    :param libs: where the imblearn zips are; None imports imblearn as installed.
    :param automl_label: also write header copies of train and validation (:data:`AUTOML_SPLITS`)
        with this name for the label column.
    """
    input_dir, output_dir = Path(input_dir), Path(output_dir)
    options = parse_rebalance(rebalance_options)
    rows = [row for path in sorted(input_dir.rglob("*.csv")) for row in _read(path) if row]
    parts = split(rows)
    synthetic = 0
    if options is not None:
        parts["train"], synthetic = rebalance(parts["train"], options, load_smote(libs), _feature_names(input_dir))
    header = automl_header(automl_label, len(rows[0]), _feature_names(input_dir)) if automl_label is not None else None
    for name, part in parts.items():
        _write(output_dir / name / "data.csv", part)
    if header is not None:
        for name, folder in AUTOML_SPLITS.items():
            _write(output_dir / folder / "data.csv", parts[name], header)
    counts = {name: len(part) for name, part in parts.items()}
    print(f"prepare: rows={len(rows)}, train={counts['train']} (synthetic={synthetic}), "
          f"validation={counts['validation']}, test={counts['test']}")
    return counts


def cli(argv: list[str] | None = None) -> dict[str, int]:
    parser = argparse.ArgumentParser(description="Split label-first CSV rows into train, validation and test.")
    parser.add_argument("input_dir", nargs="?", type=Path, help="same as --input")
    parser.add_argument("output_dir", nargs="?", type=Path, help="same as --output")
    parser.add_argument("--input", type=Path)
    parser.add_argument("--output", type=Path)
    parser.add_argument("--rebalance", help='JSON, e.g. {"method": "smote", "sampling_strategy": 0.5}')
    parser.add_argument("--libs", type=Path, default=LIBS, help="folder of zips with imblearn and sklearn_compat")
    parser.add_argument("--automl", metavar="LABEL", help="also write header copies of train and validation "
                        "for Autopilot, naming the label column LABEL")
    args = parser.parse_args(argv)
    for flag, positional in (("input", args.input_dir), ("output", args.output_dir)):
        if getattr(args, flag) is not None and positional is not None:
            parser.error(f"give the {flag} folder once (positional or --{flag})")
    extra = {"automl_label": args.automl} if args.automl is not None else {}
    return main(args.input or args.input_dir or INPUT, args.output or args.output_dir or OUTPUT,
                args.rebalance, args.libs, **extra)


if __name__ == "__main__":
    cli(sys.argv[1:])
