"""Processing step "Ingest": one run's feature records into a SageMaker feature group.

Runs after the Features step, in the same scikit-learn image, with the standard library and boto3
only. Usage::

    python3 ingest.py --feature-group <name> [--records /opt/ml/processing/records/records.csv] \\
        [--event-time 2024-05-01T00:00:00Z] [--workers 8]

* ``records.csv`` has a header row naming features of the group (the record identifier among
  them); each further row is one record. The group's definitions come from
  ``DescribeFeatureGroup`` (the authority: no copy of them ships with the step).
* Every record gets the event time of the run (``--event-time``, default: the start of the step,
  UTC, ``yyyy-MM-ddTHH:mm:ssZ``) unless the file has an event time column with a value.
* An empty field is left out of the record (Feature Store keeps it null); an ``Integral`` value
  must be a whole number (``3`` or ``3.0``), a ``Fractional`` one a finite number.
* Each record is one ``PutRecord`` (Feature Store has no batch put), ``--workers`` at a time, with
  botocore's standard retries; the step fails naming the number of records not written and the
  first error. Records go to every store of the group (online and offline); the offline store
  receives them within about 15 minutes.

The job runs in the platform's isolated subnets: it reaches ``DescribeFeatureGroup`` through the
``sagemaker.api`` interface endpoint and ``PutRecord`` through ``sagemaker.featurestore-runtime``.
"""

from __future__ import annotations

import argparse
import csv
import math
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

RECORDS = Path("/opt/ml/processing/records/records.csv")
#: PutRecord calls in flight at once.
DEFAULT_WORKERS = 8
#: Attempts per call (botocore ``standard`` retry mode: throttling and transient errors).
MAX_ATTEMPTS = 10
#: The ISO-8601 forms Feature Store accepts for a String event time.
EVENT_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$")

Record = list[dict[str, str]]


@dataclass(frozen=True)
class GroupSchema:
    """What ingesting needs of a feature group: its name, identifier, event time and feature types."""

    name: str
    record_identifier: str
    event_time: str
    types: dict[str, str]

    @classmethod
    def from_description(cls, description: dict[str, Any]) -> GroupSchema:
        """From a ``DescribeFeatureGroup`` response.

        :raises ValueError: if the group is not ``Created`` (still creating, failed or deleting).
        """
        status = description.get("FeatureGroupStatus")
        name = description["FeatureGroupName"]
        if status != "Created":
            raise ValueError(f"feature group {name!r} is {status}, not Created; records can be put only into a "
                             "created group")
        return cls(name=name, record_identifier=description["RecordIdentifierFeatureName"],
                   event_time=description["EventTimeFeatureName"],
                   types={d["FeatureName"]: d["FeatureType"] for d in description["FeatureDefinitions"]})


def event_time_text(moment: datetime) -> str:
    """``moment`` as ``yyyy-MM-ddTHH:mm:ssZ`` (UTC)."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def value_text(value: str, kind: str) -> str:
    """``value`` as Feature Store takes a ``kind`` feature (``Integral``, ``Fractional`` or ``String``).

    :raises ValueError: for an Integral that is not a whole number or a Fractional that is not a
        finite number.
    """
    if kind == "String":
        return value
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not a {'whole ' if kind == 'Integral' else ''}number")
    if kind == "Integral":
        if not number.is_integer():
            raise ValueError(f"{value!r} is not a whole number")
        return str(int(number))
    return value.strip()


def read_records(path: Path, schema: GroupSchema, event_time: str) -> list[Record]:
    """The records of ``path`` (see the module), each a list of ``{FeatureName, ValueAsString}``.

    :raises ValueError: naming the file, and the line and column of a bad value; a header with a
        column the group lacks, without the record identifier, or naming a column twice; a missing
        or repeated record identifier; an event time in another form.
    """
    if not EVENT_TIME.match(event_time):
        raise ValueError(f"event time {event_time!r} is not yyyy-MM-ddTHH:mm:ssZ or yyyy-MM-ddTHH:mm:ss.SSSZ")
    with Path(path).open(newline="") as handle:
        rows = csv.reader(handle)
        header = next(rows, None)
        if header is None:
            raise ValueError(f"{path}: empty file; the first row names the features")
        unknown = [c for c in header if c not in schema.types]
        if unknown:
            raise ValueError(f"{path}: columns {', '.join(unknown)} are not features of {schema.name} "
                             f"({', '.join(schema.types)})")
        twice = sorted({c for c in header if header.count(c) > 1})
        if twice:
            raise ValueError(f"{path}: the header names {', '.join(twice)} twice")
        if schema.record_identifier not in header:
            raise ValueError(f"{path}: no column {schema.record_identifier!r}, the record identifier of {schema.name}")
        records: list[Record] = []
        seen: dict[str, int] = {}
        for line, row in enumerate(rows, start=2):
            if not row:
                continue
            if len(row) != len(header):
                raise ValueError(f"{path}: line {line} has {len(row)} fields, the header {len(header)}")
            values = dict(zip(header, row))
            identifier = values[schema.record_identifier]
            if not identifier:
                raise ValueError(f"{path}: line {line} has no {schema.record_identifier!r}")
            if identifier in seen:
                raise ValueError(f"{path}: line {line} repeats {schema.record_identifier} {identifier!r} of line "
                                 f"{seen[identifier]}; a run writes one record per identifier")
            seen[identifier] = line
            if not values.get(schema.event_time):
                values[schema.event_time] = event_time
            elif not EVENT_TIME.match(values[schema.event_time]):
                raise ValueError(f"{path}: line {line}, {schema.event_time}: {values[schema.event_time]!r} is not "
                                 "yyyy-MM-ddTHH:mm:ssZ")
            record = []
            for column, value in values.items():
                if value == "":
                    continue
                try:
                    text = value_text(value, schema.types[column])
                except ValueError as error:
                    raise ValueError(f"{path}: line {line}, {column} ({schema.types[column]}): {error}") from None
                record.append({"FeatureName": column, "ValueAsString": text})
            records.append(record)
    return records


def put_records(runtime: Any, group: str, records: list[Record], workers: int = DEFAULT_WORKERS) -> int:
    """``PutRecord`` each of ``records`` into ``group``; the number written.

    :raises RuntimeError: naming how many records failed and the first error.
    """
    def put(record: Record) -> str | None:
        try:
            runtime.put_record(FeatureGroupName=group, Record=record)
        except Exception as error:  # noqa: BLE001 - every failure is counted and reported
            return f"{type(error).__name__}: {error}"
        return None

    with ThreadPoolExecutor(max_workers=workers) as pool:
        errors = [e for e in pool.map(put, records) if e is not None]
    if errors:
        raise RuntimeError(f"{len(errors)} of {len(records)} records were not written to {group}; first error: "
                           f"{errors[0]}")
    return len(records)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Put one run's feature records into a feature group.")
    parser.add_argument("--feature-group", required=True)
    parser.add_argument("--records", type=Path, default=RECORDS)
    parser.add_argument("--event-time", default=None, help="yyyy-MM-ddTHH:mm:ssZ, default now (UTC)")
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, sagemaker: Any = None, runtime: Any = None) -> int:
    args = parse_args(argv)
    if sagemaker is None or runtime is None:  # pragma: no cover - the job's own clients
        import boto3
        from botocore.config import Config

        config = Config(retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS},
                        max_pool_connections=max(10, args.workers))
        sagemaker = sagemaker or boto3.client("sagemaker", config=config)
        runtime = runtime or boto3.client("sagemaker-featurestore-runtime", config=config)
    schema = GroupSchema.from_description(sagemaker.describe_feature_group(FeatureGroupName=args.feature_group))
    event_time = args.event_time or event_time_text(datetime.now(timezone.utc))
    records = read_records(args.records, schema, event_time)
    written = put_records(runtime, schema.name, records, args.workers)
    print(f"ingest: {written} records into {schema.name} at event time {event_time}")
    return written


if __name__ == "__main__":
    main(sys.argv[1:])
