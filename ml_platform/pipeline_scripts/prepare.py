"""Processing step "Prepare": split CSV rows (label first, no header) into train, validation, test.

Reads every ``*.csv`` under /opt/ml/processing/input, shuffles with a fixed seed, and writes
``data.csv`` under /opt/ml/processing/{train,validation,test}. Standard library only.
"""

from __future__ import annotations

import csv
import random
import sys
from pathlib import Path

INPUT = Path("/opt/ml/processing/input")
OUTPUT = Path("/opt/ml/processing")
SPLITS = (("train", 0.7), ("validation", 0.15), ("test", 0.15))


def split(rows: list[list[str]], seed: int = 42) -> dict[str, list[list[str]]]:
    """Shuffle ``rows`` reproducibly and cut them 70/15/15 (every part non-empty when possible)."""
    if not rows:
        raise ValueError("no input rows")
    shuffled = rows[:]
    random.Random(seed).shuffle(shuffled)
    train_end = max(1, round(len(shuffled) * SPLITS[0][1]))
    validation_end = min(len(shuffled), train_end + max(1, round(len(shuffled) * SPLITS[1][1])))
    return {"train": shuffled[:train_end], "validation": shuffled[train_end:validation_end],
            "test": shuffled[validation_end:]}


def main(input_dir: Path = INPUT, output_dir: Path = OUTPUT) -> None:
    rows = [row for path in sorted(input_dir.rglob("*.csv")) for row in csv.reader(path.open()) if row]
    for name, part in split(rows).items():
        (output_dir / name).mkdir(parents=True, exist_ok=True)
        with (output_dir / name / "data.csv").open("w", newline="") as handle:
            csv.writer(handle).writerows(part)


if __name__ == "__main__":
    main(*(Path(a) for a in sys.argv[1:3]))
