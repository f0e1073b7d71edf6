"""Offline end-to-end run of the ML lifecycle: every stage's real code, local engines, moto's S3.

    python tools/lifecycle.py [--workdir DIR]        (make lifecycle)

On a generated dataset (fixed seed, a planted signal, ~8% positives) it runs, in order: landing of
raw CSV, the raw-to-Parquet Glue job's logic on local Spark, the feature step, the Ingest step
(when dev feeds a feature group: every ``PutRecord`` checked against botocore's model, the group's
definitions read from the synthesized template), the Prepare step
(SMOTE from a zip of the installed imblearn), training with xgboost 1.7 the way the built-in
container reads and saves, the Evaluate step and the pipeline's CheckMetric condition, serving
from the model artifact with Model Monitor capture records, the ground truth merge Lambda, the
retrain gate Lambda, and the feature step again as the retraining run.

Where the data goes is not typed here: the dev and prod ``PlatformStage`` are built from
``config/dev.yaml`` and ``config/prod.yaml`` (no synth of the app, no AWS) and every location,
argument and environment variable is read from what the constructs create: the Glue job's
``DefaultArguments`` and crawler target, the training pipeline's definition (processing inputs,
outputs and arguments, channels, hyperparameters, the condition, the registered model data), the
endpoint configuration's capture destination, and the environments of the merge and gate Lambdas.
The lake's buckets become moto buckets named after the zones (``raw``, ``processed``, ``curated``,
``artifacts``); a container path such as ``/opt/ml/processing/input`` becomes a folder of the job's
root under the work directory, filled from and emptied into moto's S3 as SageMaker would.

Each stage prints ``<stage>: rows in N, rows out M, files F``. A hand-off whose format or location
drifts fails the run with :class:`StageFailure` (exit status 1) naming the stage.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import hashlib
import io
import json
import math
import os
import random
import re
import shutil
import sys
import tarfile
import tempfile
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
# jsii runs on the pinned Node.js (as in tests/conftest.py); synthesis needs no AWS access.
if (ROOT / "node_modules" / ".bin" / "node").exists() and str(ROOT / "node_modules" / ".bin") not in os.environ.get(
        "PATH", ""):
    os.environ["PATH"] = f"{ROOT / 'node_modules' / '.bin'}{os.pathsep}{os.environ.get('PATH', '')}"
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
os.environ.setdefault("JSII_DEPRECATED", "quiet")  # aws-cdk-lib's deprecation notices are not this run's output

UTC = dt.timezone.utc
SEED = 20261110
CUSTOMERS = 800
#: Raw data lands daily over DAYS days ending on AS_OF, the date of the pipeline runs.
FIRST_DAY = dt.date(2026, 11, 1)
DAYS = 10
AS_OF = FIRST_DAY + dt.timedelta(days=DAYS - 1)
#: Served requests are captured in this hour; their labels land in the next one, which the merge processes.
SERVE_HOUR = dt.datetime(2026, 11, 10, 13, tzinfo=UTC)
LABELS_AT = SERVE_HOUR + dt.timedelta(hours=1, minutes=20)
#: A clear margin over a coin flip that the planted signal must reach (the config's threshold also applies).
MIN_AUC = 0.7
MODEL = "churn"


class StageFailure(Exception):
    """A stage failed or handed over something its consumer does not take; ``str()`` starts with the stage."""

    def __init__(self, stage: str, message: str) -> None:
        super().__init__(f"{stage}: {message}")
        self.stage = stage


def fail(stage: str, message: str) -> StageFailure:
    return StageFailure(stage, message)


#: What the real code printed (its log lines), by stage; the run prints one line per stage instead.
LOGS: dict[str, str] = {}


@contextlib.contextmanager
def stage(name: str) -> Iterator[None]:
    """Any error inside becomes a :class:`StageFailure` of ``name``; what the stage's code prints
    is kept in :data:`LOGS`."""
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer):
            yield
    except StageFailure:
        raise
    except Exception as error:  # the real code's own message, with the stage in front
        raise StageFailure(name, f"{type(error).__name__}: {error}") from error
    finally:
        LOGS[name] = buffer.getvalue()


@dataclass
class Line:
    stage: str
    rows_in: int
    rows_out: int
    files: int
    note: str = ""

    def __str__(self) -> str:
        return (f"{self.stage}: rows in {self.rows_in}, rows out {self.rows_out}, files {self.files}"
                + (f", {self.note}" if self.note else ""))


@dataclass
class Report:
    """What the run did, stage by stage (the test asserts on it)."""

    lines: dict[str, Line] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)
    out: Callable[[str], None] = print

    def add(self, line: Line) -> Line:
        self.lines[line.stage] = line
        self.out(str(line))
        return line


# -- the platform's hand-offs, from the constructs ---------------------------------------------------


class Tokens:
    """Turns CloudFormation and pipeline-definition values into strings: lake buckets become the
    zone-named moto buckets, ``Get``/``Std:Join`` are evaluated against the run's properties."""

    def __init__(self, bucket_ids: dict[str, str]) -> None:
        self.bucket_ids = bucket_ids  # logical id of a lake bucket -> moto bucket name
        self.properties: dict[str, Any] = {}

    def __call__(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self(v) for v in value]
        if not isinstance(value, dict):
            return value
        if set(value) == {"Get"}:
            if value["Get"] not in self.properties:
                raise KeyError(f"pipeline property {value['Get']!r} is not set by any step run so far")
            return self.properties[value["Get"]]
        if set(value) == {"Std:Join"}:
            return value["Std:Join"]["On"].join(str(self(v)) for v in value["Std:Join"]["Values"])
        if set(value) == {"Fn::Join"}:
            separator, parts = value["Fn::Join"]
            return separator.join(str(self(p)) for p in parts)
        if set(value) & {"Ref", "Fn::GetStackOutput", "Fn::ImportValue", "Fn::GetAtt"} and len(value) == 1:
            text = json.dumps(value)
            for logical_id, bucket in self.bucket_ids.items():
                if logical_id in text and "Fn::GetAtt" not in value:
                    return bucket
            return f"<{text}>"
        return {k: self(v) for k, v in value.items()}


@dataclass
class Platform:
    """Every location, argument and environment variable the run uses, from the dev and prod stages."""

    dev: Any
    prod: Any
    tokens: Tokens
    datasets: dict[str, dict[str, Any]]          # name -> raw uri, job arguments, output hand-off
    pipeline: Any                                  # dev TrainingPipeline
    definition: dict[str, Any]                     # its resolved definition (tokens left for Get)
    steps: dict[str, dict[str, Any]]
    endpoint: Any                                  # prod ModelEndpoint of the monitored model
    capture_destination: str                       # the endpoint config's DestinationS3Uri
    merge_env: dict[str, str]
    gate_env: dict[str, str]
    ground_truth_uri: str                          # where the model quality monitor reads labels
    prod_pipeline: Any                             # prod TrainingPipeline: the one the gate starts, reading feedback
    prod_definition: dict[str, Any]
    prod_steps: dict[str, dict[str, Any]]


def _template(stack: Any) -> dict[str, Any]:
    from aws_cdk.assertions import Template

    return Template.from_stack(stack).to_json()["Resources"]


def _steps(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = {s["Name"]: s for s in definition["Steps"]}
    for step in list(found.values()):
        if step["Type"] == "Condition":
            for nested in step["Arguments"]["IfSteps"] + step["Arguments"]["ElseSteps"]:
                found[nested["Name"]] = nested
    return found


_BUILT: dict[tuple[str, str], Platform] = {}


def platform_of(dev_config: Any, prod_config: Any) -> Platform:
    """:func:`build_platform`, once per process and configuration (runs share it; each resets its
    pipeline properties)."""
    key = (dev_config.model_dump_json(), prod_config.model_dump_json())
    if key not in _BUILT:
        _BUILT[key] = build_platform(dev_config, prod_config)
    platform = _BUILT[key]
    platform.tokens.properties.clear()
    return platform


def build_platform(dev_config: Any, prod_config: Any) -> Platform:
    """The dev and prod stages, built (not synthesized) from their configuration."""
    from aws_cdk import App, Stack

    from ml_platform.constructs.lake.data_lake import Zone
    from ml_platform.stacks.stage import PlatformStage

    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    app = App(context=context)
    dev, prod = PlatformStage(app, dev_config), PlatformStage(app, prod_config)
    bucket_ids = {}
    for stage_ in (dev, prod):
        lake = stage_.data_lake.lake
        for zone in Zone:
            bucket_ids[Stack.of(lake).resolve(lake.bucket(zone).node.default_child.logical_id)] = zone.value
    tokens = Tokens(bucket_ids)

    catalog = _template(dev.data_catalog)
    jobs = {r["Properties"]["DefaultArguments"]["--source_table"]: r["Properties"]["DefaultArguments"]
            for r in catalog.values() if r["Type"] == "AWS::Glue::Job"}
    datasets = {}
    for name, dataset_pipeline in dev.data_catalog.pipelines.items():
        crawler = dataset_pipeline.source_crawler.crawler
        raw_uri = tokens(Stack.of(crawler).resolve(crawler.targets.s3_targets[0].path))
        datasets[name] = {"raw_uri": raw_uri, "arguments": tokens(jobs[name]), "output": dataset_pipeline.output}

    pipeline = dev.training.pipelines[MODEL]
    definition = Stack.of(pipeline).resolve(pipeline.definition)
    prod_pipeline = prod.training.pipelines[MODEL]
    prod_definition = Stack.of(prod_pipeline).resolve(prod_pipeline.definition)

    served = [k for k, e in prod_config.serving.endpoints.items() if e.model == MODEL and k in prod.monitoring.feedback]
    if not served:
        raise ValueError(f"prod serves no endpoint of {MODEL!r} with a feedback loop")
    key = served[0]
    endpoint = prod.serving.endpoints[key]
    serving = _template(prod.serving)
    config_id = Stack.of(endpoint).resolve(endpoint.config.logical_id)
    capture_destination = tokens(serving[config_id]["Properties"]["DataCaptureConfig"]["DestinationS3Uri"])
    monitoring = _template(prod.monitoring)

    def environment(function: Any) -> dict[str, str]:
        logical_id = Stack.of(function).resolve(function.node.default_child.logical_id)
        return tokens(monitoring[logical_id]["Properties"]["Environment"]["Variables"])

    loop = prod.monitoring.feedback[key]
    monitor = prod.monitoring.monitors[key]
    if monitor.retrain_gate is None:
        raise ValueError(f"prod's monitor of {endpoint.name} starts no retraining (retrain_on_violations)")
    gate = monitor.retrain_gate
    [quality] = [r["Properties"] for r in monitoring.values() if r["Type"] == "AWS::SageMaker::ModelQualityJobDefinition"
                 and r["Properties"]["ModelQualityJobInput"]["EndpointInput"]["EndpointName"] == endpoint.name]
    ground_truth_uri = tokens(quality["ModelQualityJobInput"]["GroundTruthS3Input"]["S3Uri"])
    return Platform(
        dev=dev, prod=prod, tokens=tokens, datasets=datasets, pipeline=pipeline, definition=definition,
        steps=_steps(definition), endpoint=endpoint, capture_destination=capture_destination,
        merge_env=environment(loop.function), gate_env=environment(gate.function),
        ground_truth_uri=ground_truth_uri, prod_pipeline=prod_pipeline, prod_definition=prod_definition,
        prod_steps=_steps(prod_definition),
    )


# -- S3 and containers -------------------------------------------------------------------------------


def split_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ValueError(f"{uri!r} is not an s3:// URI")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


def keys(s3: Any, uri: str) -> list[str]:
    bucket, prefix = split_uri(uri)
    return sorted(o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
                  for o in page.get("Contents", []))


def copy_in(s3: Any, uri: str, local: Path) -> int:
    """An ``S3Prefix`` input in ``File`` mode: every object under ``uri`` into ``local``, keyed by its
    path below the prefix (``.../runs/x/test`` holding ``test/data.csv`` gives ``local/data.csv``);
    an object named by the whole URI keeps its name (``.../output/model.tar.gz`` gives
    ``local/model.tar.gz``).

    :raises ValueError: when nothing is there (SageMaker fails the job then).
    """
    bucket, prefix = split_uri(uri)
    found = keys(s3, uri)
    if not found:
        raise ValueError(f"no object under {uri} (SageMaker fails a job whose S3 input is empty)")
    for key in found:
        relative = key.rpartition("/")[2] if key == prefix else key[len(prefix):].lstrip("/")
        target = local / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(bucket, key, str(target))
    return len(found)


def copy_out(s3: Any, local: Path, uri: str, what: str) -> list[str]:
    """An output folder uploaded below ``uri`` (``EndOfJob``); the keys written.

    :raises ValueError: when the folder is empty: the script wrote somewhere else.
    """
    files = sorted(p for p in local.rglob("*") if p.is_file()) if local.is_dir() else []
    if not files:
        raise ValueError(f"{what}: nothing in {local} to upload to {uri}: the script wrote elsewhere")
    bucket, prefix = split_uri(uri.rstrip("/") + "/")
    written = []
    for path in files:
        key = prefix + path.relative_to(local).as_posix()
        s3.upload_file(str(path), bucket, key)
        written.append(key)
    return written


class Container:
    """A job's file system: container paths (``/opt/ml/...``) below ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, container_path: str | Path) -> Path:
        return self.root / str(container_path).lstrip("/")

    def arguments(self, arguments: list[str]) -> list[str]:
        return [str(self.path(a)) if a.startswith("/opt/ml/") else a for a in arguments]


def run_processing_inputs(s3: Any, tokens: Tokens, step: dict[str, Any], box: Container,
                          assets: dict[str, Callable[[Path], None]]) -> dict[str, int]:
    """Fill the job's input folders: S3 data as SageMaker copies it, assets (code, spec, libraries)
    placed by ``assets[name]``. Returns files per input."""
    counts = {}
    for item in step["Arguments"]["ProcessingInputs"]:
        name, source = item["InputName"], item["S3Input"]
        local = box.path(source["LocalPath"])
        local.mkdir(parents=True, exist_ok=True)
        if name in assets:
            assets[name](local)
            counts[name] = 1
            continue
        if source["S3DataType"] != "S3Prefix" or source["S3InputMode"] != "File":
            raise ValueError(f"input {name!r}: only S3Prefix/File inputs are run locally, got {source}")
        counts[name] = copy_in(s3, tokens(source["S3Uri"]), local)
    return counts


def run_processing_outputs(s3: Any, tokens: Tokens, step: dict[str, Any], box: Container) -> dict[str, str]:
    """Upload every output folder; set the step's output properties; return output name -> URI."""
    uris = {}
    for output in step["Arguments"]["ProcessingOutputConfig"]["Outputs"]:
        uri = tokens(output["S3Output"]["S3Uri"])
        copy_out(s3, box.path(output["S3Output"]["LocalPath"]), uri, f"output {output['OutputName']!r}")
        tokens.properties[f"Steps.{step['Name']}.ProcessingOutputConfig.Outputs['{output['OutputName']}']"
                          ".S3Output.S3Uri"] = uri
        uris[output["OutputName"]] = uri
    return uris


def code_input(local: Path) -> None:
    """The step's ``code`` input: nothing to copy, the script's module is called in-process."""


# -- 1. landing --------------------------------------------------------------------------------------


@dataclass
class Customer:
    customer_id: str
    age: int | None
    segment: str
    tenure_months: int
    activity: float
    churned: bool


def customers(rng: random.Random, share: float = 0.08) -> list[Customer]:
    """The population, with the planted signal: short tenure, the basic segment and few orders
    churn. The riskiest ``share`` of the customers (by that rule plus noise) are the positives."""
    found, risk = [], {}
    for number in range(CUSTOMERS):
        tenure = rng.randint(1, 96)
        segment = rng.choices(["basic", "standard", "premium"], [0.5, 0.3, 0.2])[0]
        activity = rng.uniform(0.05, 0.8)
        age = None if rng.random() < 0.02 else rng.randint(18, 80)
        customer = Customer(f"C{number:05d}", age, segment, tenure, activity, False)
        risk[customer.customer_id] = (1.6 * (tenure < 12) + 0.02 * (24 - min(tenure, 24)) + 0.8 * (segment == "basic")
                                      - 0.5 * (segment == "premium") - 2.6 * activity + rng.gauss(0, 0.4))
        found.append(customer)
    ranked = sorted(found, key=lambda c: risk[c.customer_id], reverse=True)
    for customer in ranked[:round(len(found) * share)]:
        customer.churned = True
    return found


def text_value(column_type: str, value: Any) -> str:
    """A value as the CSV writer lands it, by the column's configured Spark type."""
    if value is None:
        return ""
    decimal = re.match(r"^decimal\(\d+,(\d+)\)$", column_type)
    if decimal:
        return f"{float(value):.{int(decimal.group(1))}f}"
    if column_type == "boolean":
        return "true" if value else "false"
    if column_type == "timestamp":
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if column_type == "date":
        return value.isoformat()
    return str(value)


def generic_value(column_type: str, rng: random.Random, day: dt.date) -> Any:
    """A value of a column the generator has no meaning for (a column added to the config)."""
    if column_type in ("int", "bigint", "smallint", "tinyint"):
        return rng.randint(0, 100)
    if column_type in ("double", "float") or column_type.startswith("decimal"):
        return rng.uniform(0, 100)
    if column_type == "boolean":
        return rng.random() < 0.5
    if column_type == "timestamp":
        return dt.datetime.combine(day, dt.time(rng.randint(0, 23), rng.randint(0, 59)))
    if column_type == "date":
        return day
    return f"x{rng.randint(0, 999)}"


def generate(columns: dict[str, dict[str, str]]) -> dict[str, dict[dt.date, list[list[str]]]]:
    """Raw rows per dataset and day, in the configured columns (``accounts``: a daily snapshot of
    every customer; ``sales``: orders), as CSV text fields."""
    rng = random.Random(SEED)
    population = customers(rng)
    known: dict[str, Callable[[dt.date], list[dict[str, Any]]]] = {}

    def accounts(day: dt.date) -> list[dict[str, Any]]:
        return [{"customer_id": c.customer_id, "age": c.age, "segment": c.segment,
                 "tenure_months": c.tenure_months, "churned": c.churned} for c in population]

    order_number = iter(range(1, 10 ** 9))

    def sales(day: dt.date) -> list[dict[str, Any]]:
        rows = []
        for c in population:
            if rng.random() < c.activity * 0.45:
                rows.append({"order_id": f"O{next(order_number):07d}", "customer_id": c.customer_id,
                             "amount": round(rng.lognormvariate(3.4 + c.activity, 0.5), 2),
                             "ordered_at": dt.datetime.combine(day, dt.time(rng.randint(0, 23), rng.randint(0, 59)))})
        return rows

    known.update(accounts=accounts, sales=sales)
    result: dict[str, dict[dt.date, list[list[str]]]] = {}
    for name, types in columns.items():
        make = known.get(name, lambda day: [{} for _ in range(50)])
        result[name] = {}
        for offset in range(DAYS):
            day = FIRST_DAY + dt.timedelta(days=offset)
            result[name][day] = [[text_value(t, row[c] if c in row else generic_value(t, rng, day))
                                  for c, t in types.items()] for row in make(day)]
    return result


def land(s3: Any, platform: Platform, columns: dict[str, dict[str, str]], report: Report) -> dict[str, Any]:
    with stage("land"):
        raw = generate(columns)
        rows = files = 0
        landed: dict[str, int] = {}
        by_day: dict[str, dict[dt.date, int]] = {}
        for name, days in raw.items():
            bucket, prefix = split_uri(platform.datasets[name]["raw_uri"])
            for day, records in days.items():
                text = io.StringIO()
                writer = csv.writer(text, lineterminator="\n")
                writer.writerow(list(columns[name]))
                writer.writerows(records)
                key = f"{prefix}year={day:%Y}/month={day:%m}/day={day:%d}/{name}-{day.isoformat()}.csv"
                s3.put_object(Bucket=bucket, Key=key, Body=text.getvalue().encode())
                rows += len(records)
                files += 1
            landed[name] = sum(len(r) for r in days.values())
            by_day[name] = {day: len(r) for day, r in days.items()}
        in_s3 = sum(len(keys(s3, platform.datasets[n]["raw_uri"])) for n in raw)
        if in_s3 != files:
            raise fail("land", f"{files} CSV files written, {in_s3} found under the raw locations")
        labeled = {r[list(columns["accounts"]).index("customer_id")] for r in raw["accounts"][AS_OF]}
        report.add(Line("land", rows, rows, files, " ".join(f"{n}={c}" for n, c in landed.items())))
        return {"rows": landed, "by_day": by_day, "customers": len(labeled)}


# -- 2. Glue: raw CSV to Parquet on local Spark ------------------------------------------------------


def spark_session() -> Any:
    """A local Spark like Glue 5's (3.5), UTC, partition values kept as strings (as the crawler
    catalogs them for the job), logging errors only."""
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[1]").appName("lifecycle")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.shuffle.partitions", "1")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.sources.partitionColumnTypeInference.enabled", "false")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    return session


def write_glue_output(frame: Any, path: Path) -> None:
    """What ``glue_context.write_dynamic_frame.from_options(partitionKeys=PARTITION_KEYS)`` does."""
    from ml_platform.jobs.glue.raw_to_parquet.raw_to_parquet_logic import PARTITION_KEYS

    frame.write.mode("overwrite").partitionBy(*PARTITION_KEYS).parquet(str(path))


_DAILY = re.compile(r"^year=(\d{4})/month=(\d{2})/day=(\d{2})/[^/]+$")


def glue(s3: Any, spark: Any, platform: Platform, work: Path, landed: dict[str, Any],
         columns: dict[str, dict[str, str]], report: Report) -> dict[str, int]:
    from ml_platform.constructs.lake.lake_locations import DAILY
    from ml_platform.jobs.glue.raw_to_parquet.raw_to_parquet_logic import parse_columns, select_expressions

    with stage("glue"):
        rows_in = rows_out = files = 0
        out: dict[str, int] = {}
        for name, dataset in platform.datasets.items():
            arguments, output = dataset["arguments"], dataset["output"]
            target = arguments["--target_path"]
            declared = f"s3://{output.zone.value}/{output.prefix}"
            if target != declared:
                raise fail("glue", f"job of {name} writes {target}, its hand-off says {declared}")
            if tuple(output.partitioning) != DAILY:
                raise fail("glue", f"{name}'s output declares partitions {output.partitioning}, the lake layout is {DAILY}")
            local_raw, local_out = work / "glue" / name / "raw", work / "glue" / name / "processed"
            copy_in(s3, dataset["raw_uri"], local_raw)
            frame = spark.read.option("header", "true").csv(str(local_raw))
            job_columns = parse_columns(arguments["--columns"])
            if job_columns != list(columns[name].items()):
                raise fail("glue", f"the job of {name} casts {job_columns}, data_catalog.datasets.{name} says "
                                   f"{list(columns[name].items())}")
            typed = frame.selectExpr(*select_expressions(job_columns))
            write_glue_output(typed, local_out)
            written = [p for p in local_out.rglob("*") if p.is_file()
                       and not any(part.startswith((".", "_")) for part in p.relative_to(local_out).parts)]
            bucket, prefix = split_uri(target)
            for path in written:
                s3.upload_file(str(path), bucket, prefix + path.relative_to(local_out).as_posix())
            # the layout consumers read: <prefix>year=YYYY/month=MM/day=DD/<file>, the raw partitions' dates
            layout = [k[len(prefix):] for k in keys(s3, target)]
            bad = [k for k in layout if not _DAILY.match(k)]
            if bad:
                raise fail("glue", f"{target} is not partitioned {'/'.join(f'{k}=' for k in DAILY)} as its hand-off "
                                   f"declares: found {bad[0]}")
            raw_days = {tuple(re.findall(r"(?:year|month|day)=(\d+)", k)) for k in keys(s3, dataset["raw_uri"])}
            out_days = {_DAILY.match(k).groups() for k in layout}
            if raw_days != out_days:
                raise fail("glue", f"{name}: partitions out {sorted(out_days)} differ from partitions in {sorted(raw_days)}")
            count = spark.read.parquet(str(local_out)).count()
            if count != landed["rows"][name]:
                raise fail("glue", f"{name}: {landed['rows'][name]} rows landed, {count} written")
            rows_in += landed["rows"][name]
            rows_out += count
            files += len(written)
            out[name] = count
        report.add(Line("glue", rows_in, rows_out, files, " ".join(f"{n}={c}" for n, c in out.items())))
        return out


# -- 3. features -------------------------------------------------------------------------------------


def features_step(s3: Any, platform: Platform, pipeline: Any, work: Path, run_id: str, name: str,
                  report: Report, landed: dict[str, Any]) -> dict[str, Any]:
    """The Features step of ``pipeline`` (dev's for the first run; prod's, which reads the feedback
    loop's rows, for the retraining run the prod gate starts)."""
    from aws_cdk import Stack

    from ml_platform.jobs.training_pipeline import features

    with stage(name):
        tokens = platform.tokens
        tokens.properties["Execution.PipelineExecutionId"] = run_id
        step = _steps(Stack.of(pipeline).resolve(pipeline.definition))["Features"]
        settings = pipeline.settings
        box = Container(work / run_id / "features")
        spec_document = settings.features.spec()
        arguments = list(step["Arguments"]["AppSpecification"]["ContainerArguments"])
        spec_path = arguments[arguments.index("--spec") + 1]

        def place_spec(local: Path) -> None:
            box.path(spec_path).write_text(json.dumps(spec_document, indent=2, sort_keys=True))

        run_processing_inputs(s3, tokens, step, box, {"code": code_input, "spec": place_spec})
        # The script's own defaults, re-rooted: a drift between them and the step's local paths shows.
        argv = box.arguments(tokens(arguments)) + [
            "--input", str(box.path(features.INPUT)), "--feedback", str(box.path(features.FEEDBACK)),
            "--output", str(box.path(features.OUTPUT)), "--as-of", AS_OF.isoformat()]
        schema = features.main(argv)
        uris = run_processing_outputs(s3, tokens, step, box)
        expected_uri = f"s3://{pipeline.features_output.zone.value}/{pipeline.features_output.prefix}{run_id}/"
        if uris["features"] != expected_uri:
            raise fail(name, f"output goes to {uris['features']}, the pipeline's features hand-off is {expected_uri}")
        data = io.StringIO(s3.get_object(Bucket=split_uri(uris["features"])[0],
                                         Key=split_uri(uris["features"])[1] + "data.csv")["Body"].read().decode())
        rows = [r for r in csv.reader(data) if r]
        width = 1 + len(schema["columns"])
        if len(rows) != schema["rows"]:
            raise fail(name, f"data.csv has {len(rows)} rows, schema.json says {schema['rows']}")
        for number, row in enumerate(rows, start=1):
            if len(row) != width or row[0] not in ("0", "1"):
                raise fail(name, f"data.csv line {number} is not label-first 0/1 with {width - 1} features: {row}")
        base = schema["rows"] - schema["feedback_rows"]
        if base != landed["customers"]:
            raise fail(name, f"{base} rows from the base source, but {landed['customers']} labeled keys in the window")
        days = settings.features.window_days
        for source, read in schema["sources"].items():
            expected = sum(n for day, n in landed["by_day"][source].items()
                           if day <= AS_OF and (days is None or day > AS_OF - dt.timedelta(days=days)))
            if read != expected:
                raise fail(name, f"read {read} rows of {source}; {expected} were processed in the window "
                                 f"(the partitions it read are not the ones the Glue job wrote)")
        rows_in = sum(schema["sources"].values()) + schema["feedback_rows"]
        positives = sum(r[0] == "1" for r in rows)
        report.add(Line(name, rows_in, schema["rows"], 2,
                        f"feedback={schema['feedback_rows']} positives={positives / len(rows):.1%} "
                        f"-> {uris['features']}"))
        return {"schema": schema, "uri": uris["features"], "rows": rows}


class FeatureStoreRuntime:
    """The Feature Store runtime client the Ingest step calls: each ``PutRecord`` request is checked
    against botocore's service model (an invalid request fails the stage), then kept."""

    def __init__(self) -> None:
        import botocore.session
        from botocore.validate import ParamValidator

        model = botocore.session.get_session().get_service_model("sagemaker-featurestore-runtime")
        self._shape = model.operation_model("PutRecord").input_shape
        self._validator = ParamValidator()
        self.requests: list[dict[str, Any]] = []

    def put_record(self, **request: Any) -> dict[str, Any]:
        report = self._validator.validate(request, self._shape)
        if report.has_errors():
            raise ValueError(f"PutRecord request AWS would refuse: {report.generate_report()}")
        self.requests.append(request)
        return {}


class FeatureGroupCatalog:
    """``DescribeFeatureGroup`` answered from the synthesized template's ``AWS::SageMaker::FeatureGroup``."""

    def __init__(self, template: dict[str, Any]) -> None:
        self.groups = {r["Properties"]["FeatureGroupName"]: r["Properties"] for r in template.values()
                       if r["Type"] == "AWS::SageMaker::FeatureGroup"}

    def describe_feature_group(self, FeatureGroupName: str) -> dict[str, Any]:  # noqa: N803 - boto3's keyword
        group = self.groups.get(FeatureGroupName)
        if group is None:
            raise ValueError(f"the templates define no feature group {FeatureGroupName!r} "
                             f"({', '.join(sorted(self.groups)) or 'none'})")
        return {"FeatureGroupName": FeatureGroupName, "FeatureGroupStatus": "Created",
                "RecordIdentifierFeatureName": group["RecordIdentifierFeatureName"],
                "EventTimeFeatureName": group["EventTimeFeatureName"],
                "FeatureDefinitions": group["FeatureDefinitions"]}


def ingest_step(s3: Any, platform: Platform, work: Path, run_id: str, report: Report) -> dict[str, Any]:
    """The Ingest step: the records the Features step wrote, put into the feature group the Training
    template defines, each request as AWS's model accepts it."""
    from aws_cdk import Stack

    from ml_platform.jobs.training_pipeline import ingest

    with stage("ingest"):
        step = platform.steps["Ingest"]
        box = Container(work / run_id / "ingest")
        run_processing_inputs(s3, platform.tokens, step, box, {"code": code_input})
        argv = box.arguments(platform.tokens(list(step["Arguments"]["AppSpecification"]["ContainerArguments"])))
        group = argv[argv.index("--feature-group") + 1]
        records = Path(argv[argv.index("--records") + 1]) if "--records" in argv else box.path(ingest.RECORDS)
        with records.open(newline="") as handle:
            header, *rows = [r for r in csv.reader(handle) if r]
        catalog = FeatureGroupCatalog(_template(Stack.of(platform.pipeline)))
        runtime = FeatureStoreRuntime()
        with contextlib.redirect_stdout(io.StringIO()):
            written = ingest.main([*argv, "--event-time", f"{AS_OF.isoformat()}T00:00:00Z"], sagemaker=catalog,
                                  runtime=runtime)
        definition = catalog.groups[group]
        names = {d["FeatureName"] for d in definition["FeatureDefinitions"]}
        identifiers = [next(v["ValueAsString"] for v in r["Record"] if v["FeatureName"] ==
                            definition["RecordIdentifierFeatureName"]) for r in runtime.requests]
        if written != len(rows) or len(runtime.requests) != len(rows):
            raise fail("ingest", f"put {len(runtime.requests)} records of the {len(rows)} rows records.csv holds")
        if len(set(identifiers)) != len(identifiers):
            raise fail("ingest", "a record identifier was put twice: records.csv is not one row per key")
        unknown = sorted({v["FeatureName"] for r in runtime.requests for v in r["Record"]} - names)
        if unknown or set(header) - names:
            raise fail("ingest", f"features {unknown or sorted(set(header) - names)} are not in group {group}'s "
                                 "definitions")
        report.add(Line("ingest", len(rows), len(runtime.requests), 0,
                        f"group={group} features={len(header)} -> PutRecord x{len(runtime.requests)}"))
        return {"group": group, "records": len(runtime.requests)}


# -- 4. prepare --------------------------------------------------------------------------------------


def stage_libraries(target: Path) -> Path:
    """The Prepare step's libraries asset: the installed packages, each a top-level folder, zipped
    (as ``python_bundle`` stages them for the CDK asset)."""
    from ml_platform.constructs.core.python_bundle import package_directory
    from ml_platform.constructs.training.training_pipeline import REBALANCE_PACKAGES

    archive = target / "libraries.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        for package in sorted(REBALANCE_PACKAGES):
            folder = package_directory(package)
            for path in sorted(folder.rglob("*")):
                relative = path.relative_to(folder)
                if path.is_file() and "__pycache__" not in relative.parts and "tests" not in relative.parts \
                        and path.suffix != ".pyc":
                    bundle.write(path, f"{package}/{relative.as_posix()}")
    return archive


@contextlib.contextmanager
def packages_from_zip(packages: tuple[str, ...]) -> Iterator[dict[str, str]]:
    """Inside, ``packages`` are not yet imported (as in the job's image, which lacks them), so the
    step imports them from what it unpacks; afterwards the process gets its own modules and
    ``sys.path`` back. Yields package -> the file it was imported from (filled on exit)."""
    def owned(name: str) -> bool:
        return any(name == p or name.startswith(p + ".") for p in packages)

    saved = {name: module for name, module in sys.modules.items() if owned(name)}
    for name in saved:
        del sys.modules[name]
    path = list(sys.path)
    imported: dict[str, str] = {}
    try:
        yield imported
    finally:
        imported.update({p: getattr(sys.modules.get(p), "__file__", None) or "not imported" for p in packages})
        for name in [n for n in sys.modules if owned(n)]:
            del sys.modules[name]
        sys.modules.update(saved)
        sys.path[:] = path


def prepare_step(s3: Any, platform: Platform, work: Path, run_id: str, report: Report, rows_in: int
                 ) -> dict[str, Any]:
    from ml_platform.constructs.training.training_pipeline import REBALANCE_PACKAGES
    from ml_platform.jobs.training_pipeline import prepare

    with stage("prepare"):
        step = platform.steps["Prepare"]
        box = Container(work / run_id / "prepare")
        run_processing_inputs(s3, platform.tokens, step, box,
                              {"code": code_input, "libraries": lambda local: stage_libraries(local)})
        arguments = list(step["Arguments"]["AppSpecification"].get("ContainerArguments", []))
        argv = box.arguments(arguments) + ["--input", str(box.path(prepare.INPUT)), "--output", str(box.path(prepare.OUTPUT))]
        with packages_from_zip(REBALANCE_PACKAGES) as imported:
            counts = prepare.cli(argv)
        if "--rebalance" in arguments and not all("prepare-libs-" in path for path in imported.values()):
            raise fail("prepare", f"SMOTE's packages were imported from {imported}, not from the libraries zip")
        uris = run_processing_outputs(s3, platform.tokens, step, box)
        synthetic = sum(counts.values()) - rows_in
        report.add(Line("prepare", rows_in, sum(counts.values()), len(uris),
                        f"train={counts['train']} (synthetic={synthetic}) validation={counts['validation']} "
                        f"test={counts['test']}"))
        return {"counts": counts, "uris": uris, "synthetic": synthetic}


# -- 5. train ----------------------------------------------------------------------------------------


def hyperparameter(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def train_step(s3: Any, platform: Platform, work: Path, run_id: str, report: Report) -> dict[str, Any]:
    import xgboost

    with stage("train"):
        step = platform.steps["Train"]
        job = step["Arguments"]
        image = job["AlgorithmSpecification"]["TrainingImage"]
        version = re.search(r"xgboost:(\d+\.\d+)-", image)
        if not version or not xgboost.__version__.startswith(version.group(1) + "."):
            raise fail("train", f"local xgboost {xgboost.__version__} is not the release of the image {image}")
        box = Container(work / run_id / "train")
        matrices, rows_in = {}, 0
        for channel in job["InputDataConfig"]:
            if channel["ContentType"] != "text/csv":
                raise fail("train", f"channel {channel['ChannelName']} is {channel['ContentType']}, not text/csv")
            local = box.path(f"/opt/ml/input/data/{channel['ChannelName']}")
            copy_in(s3, platform.tokens(channel["DataSource"]["S3DataSource"]["S3Uri"]), local)
            # the built-in container: label in column 0, no header
            matrices[channel["ChannelName"]] = xgboost.DMatrix(f"{local}?format=csv&label_column=0")
            rows_in += matrices[channel["ChannelName"]].num_row()
        hyperparameters = {k: hyperparameter(v) for k, v in job["HyperParameters"].items()}
        rounds = hyperparameters.pop("num_round")
        evals_result: dict[str, Any] = {}
        booster = xgboost.train({**hyperparameters, "seed": 0, "nthread": 1}, matrices["train"], num_boost_round=rounds,
                                evals=[(matrices["train"], "train"), (matrices["validation"], "validation")],
                                evals_result=evals_result, verbose_eval=False)
        model_dir = box.path("/opt/ml/model")
        model_dir.mkdir(parents=True, exist_ok=True)
        booster.save_model(str(model_dir / "xgboost-model"))
        output = box.path("/opt/ml/output/model.tar.gz")
        output.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(output, "w:gz") as archive:
            for path in sorted(model_dir.iterdir()):
                archive.add(path, arcname=path.name)
        job_name = f"pipelines-{run_id}-Train-local"
        uri = f"{platform.tokens(job['OutputDataConfig']['S3OutputPath']).rstrip('/')}/{job_name}/output/model.tar.gz"
        artifacts = platform.pipeline.model_artifacts
        if not uri.startswith(f"s3://{artifacts.zone.value}/{artifacts.prefix}"):
            raise fail("train", f"the model lands at {uri}, outside the pipeline's model artifacts hand-off {artifacts}")
        bucket, key = split_uri(uri)
        s3.upload_file(str(output), bucket, key)
        platform.tokens.properties["Steps.Train.ModelArtifacts.S3ModelArtifacts"] = uri
        metric = hyperparameters.get("eval_metric", "")
        validation = evals_result["validation"].get(metric, [math.nan])[-1] if metric else math.nan
        report.add(Line("train", rows_in, 1, 1, f"validation-{metric}={validation:.3f} rounds={rounds} -> {uri}"))
        return {"uri": uri, "job": job_name, "validation": validation}


# -- 6. evaluate -------------------------------------------------------------------------------------


def json_get(document: Any, path: str) -> Any:
    """``Std:JsonGet``'s path: ``a.b[0].c``."""
    value = document
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        value = value[int(part[1:-1])] if part.startswith("[") else value[part]
    return value


_CONDITIONS = {"GreaterThanOrEqualTo": lambda a, b: a >= b, "GreaterThan": lambda a, b: a > b,
               "LessThanOrEqualTo": lambda a, b: a <= b, "LessThan": lambda a, b: a < b}


def evaluate_step(s3: Any, platform: Platform, work: Path, run_id: str, report: Report, test_rows: int
                  ) -> dict[str, Any]:
    from ml_platform.jobs.training_pipeline import evaluate

    with stage("evaluate"):
        step = platform.steps["Evaluate"]
        box = Container(work / run_id / "evaluate")
        run_processing_inputs(s3, platform.tokens, step, box, {"code": code_input})
        evaluate.main(box.path(evaluate.MODEL), box.path(evaluate.TEST), box.path(evaluate.OUTPUT))
        uris = run_processing_outputs(s3, platform.tokens, step, box)
        [property_file] = step["PropertyFiles"]
        bucket, prefix = split_uri(uris[property_file["OutputName"]].rstrip("/") + "/")
        document = json.loads(s3.get_object(Bucket=bucket, Key=prefix + property_file["FilePath"])["Body"].read())
        [condition] = platform.steps["CheckMetric"]["Arguments"]["Conditions"]
        left = condition["LeftValue"]["Std:JsonGet"]
        if left["PropertyFile"] != {"Get": f"Steps.Evaluate.PropertyFiles.{property_file['PropertyFileName']}"}:
            raise fail("evaluate", f"CheckMetric reads {left['PropertyFile']}, Evaluate writes "
                                   f"{property_file['PropertyFileName']}")
        try:
            value = json_get(document, left["Path"])
        except (KeyError, IndexError, TypeError):
            raise fail("evaluate", f"evaluation.json {document} has no {left['Path']}") from None
        passed = _CONDITIONS[condition["Type"]](value, condition["RightValue"])
        auc = document["metrics"]["auc"]["value"]
        if auc <= MIN_AUC:
            raise fail("evaluate", f"held-out auc {auc:.3f} does not beat {MIN_AUC}: the planted signal was lost")
        if not passed:
            raise fail("evaluate", f"{left['Path']}={value} fails CheckMetric ({condition['Type']} "
                                   f"{condition['RightValue']}): MetricTooLow, nothing registered")
        register = platform.steps["Register"]["Arguments"]
        report.add(Line("evaluate", test_rows, 1, 1,
                        f"auc={auc:.3f}; CheckMetric {left['Path']} {condition['Type']} {condition['RightValue']} "
                        f"-> Register runs ({register['ModelPackageGroupName']})"))
        return {"auc": auc, "threshold": condition["RightValue"], "register": passed}


# -- 7. serve ----------------------------------------------------------------------------------------


def capture_record(row: str, score: str, event_id: str, inference_id: str, at: dt.datetime,
                   modes: tuple[str, ...]) -> dict[str, Any]:
    """One captured invocation as Model Monitor writes it (text/csv request and response)."""
    data: dict[str, Any] = {}
    if "input" in modes:
        data["endpointInput"] = {"observedContentType": "text/csv", "mode": "INPUT", "data": row, "encoding": "CSV"}
    if "output" in modes:
        data["endpointOutput"] = {"observedContentType": "text/csv; charset=utf-8", "mode": "OUTPUT",
                                  "data": score, "encoding": "CSV"}
    return {"captureData": data,
            "eventMetadata": {"eventId": event_id, "inferenceId": inference_id,
                              "inferenceTime": at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"},
            "eventVersion": "0"}


def sampled(inference_id: str, percent: int) -> bool:
    return int(hashlib.sha256(inference_id.encode()).hexdigest(), 16) % 100 < percent


def serve_step(s3: Any, platform: Platform, work: Path, run_id: str, report: Report) -> dict[str, Any]:
    import numpy as np
    import xgboost

    from ml_platform.lambdas.ground_truth_merge.merge import captured_id, csv_input

    with stage("serve"):
        box = Container(work / run_id / "serve")
        [container] = platform.steps["Register"]["Arguments"]["InferenceSpecification"]["Containers"]
        model_dir = box.path("/opt/ml/model")
        copy_in(s3, platform.tokens(container["ModelDataUrl"]), model_dir)
        with tarfile.open(model_dir / "model.tar.gz") as archive:
            members = sorted(m.name for m in archive.getmembers())
            if members != ["xgboost-model"]:
                raise fail("serve", f"model.tar.gz holds {members}; the XGBoost container loads xgboost-model")
            archive.extractall(model_dir)
        booster = xgboost.Booster()
        booster.load_model(str(model_dir / "xgboost-model"))
        # held-out rows as a transform job input: the test split without its label
        test_dir = box.path("/opt/ml/processing/test")
        copy_in(s3, platform.tokens.properties["Steps.Prepare.ProcessingOutputConfig.Outputs['test'].S3Output.S3Uri"],
                test_dir)
        rows = [r for r in csv.reader((test_dir / "data.csv").open()) if r]
        requests = [",".join(r[1:]) for r in rows]
        labels = [r[0] for r in rows]
        batch = box.path("/opt/ml/input/requests.csv")
        batch.parent.mkdir(parents=True, exist_ok=True)
        batch.write_text("".join(f"{q}\n" for q in requests))
        requests = batch.read_text().splitlines()  # one text/csv request per line, as the endpoint receives it
        matrix = np.array([[float(v) if v else np.nan for v in q.split(",")] for q in requests], dtype=float)
        scores = booster.predict(xgboost.DMatrix(matrix)).tolist()
        # capture: <DestinationS3Uri>/<endpoint>/<variant>/yyyy/mm/dd/hh/<file>.jsonl
        capture = platform.endpoint.settings.data_capture
        variant = platform.endpoint.settings.variant_name
        folder = f"{platform.capture_destination.rstrip('/')}/{platform.endpoint.name}/{variant}/{SERVE_HOUR:%Y/%m/%d/%H}/"
        declared = platform.endpoint.capture
        if not folder.startswith(f"s3://{declared.zone.value}/{declared.prefix}"):
            raise fail("serve", f"capture lands in {folder}, the endpoint's capture hand-off is {declared}")
        records, served = [], []
        for number, (request, score, label) in enumerate(zip(requests, scores, labels)):
            inference_id = f"{run_id}-{number:05d}"
            served.append((inference_id, label))
            if not sampled(inference_id, capture.sampling_percent):
                continue
            at = SERVE_HOUR + dt.timedelta(seconds=7 * number)
            event_id = str(uuid.uuid5(uuid.NAMESPACE_URL, inference_id))
            record = capture_record(request, f"{score:.6f}", event_id, inference_id, at, tuple(capture.capture))
            # the merge Lambda's own parser must read back the id and the request row
            if captured_id(record) != inference_id or csv_input(record) != request:
                raise fail("serve", f"capture record {json.dumps(record)[:160]}... is not what the ground truth merge "
                                    f"parses (id {captured_id(record)!r}, row {csv_input(record)!r})")
            records.append(record)
        bucket, prefix = split_uri(folder)
        name = f"05-00-000-{uuid.uuid5(uuid.NAMESPACE_URL, run_id)}.jsonl"
        s3.put_object(Bucket=bucket, Key=prefix + name, Body="".join(json.dumps(r) + "\n" for r in records).encode())
        report.add(Line("serve", len(requests), len(records), 1,
                        f"captured {capture.sampling_percent}% -> {folder}"))
        return {"served": served, "captured": {r["eventMetadata"]["inferenceId"] for r in records},
                "folder": folder, "width": len(rows[0]) if rows else 0}


# -- 8. ground truth merge ---------------------------------------------------------------------------


@contextlib.contextmanager
def s3_clock(at: dt.datetime) -> Iterator[None]:
    """moto stamps LastModified from its clock: objects put inside are "written at" ``at``."""
    import moto.s3.models as models

    real = models.utcnow
    models.utcnow = lambda: at.astimezone(UTC).replace(tzinfo=None)
    try:
        yield
    finally:
        models.utcnow = real


def merge_step(s3: Any, platform: Platform, report: Report, served: dict[str, Any], features_width: int
               ) -> dict[str, Any]:
    from ml_platform.lambdas.ground_truth_merge.merge import MergeConfig, merge, parse_hour

    with stage("merge"):
        config = MergeConfig.from_environment(platform.merge_env)
        labels = [{config.id_attribute: inference_id, config.label_attribute: int(label)}
                  for inference_id, label in served["served"]]
        with s3_clock(LABELS_AT):
            s3.put_object(Bucket=config.labels.bucket, Key=f"{config.labels.prefix}crm-export-{LABELS_AT:%Y%m%d%H%M}.jsonl",
                          Body="".join(json.dumps(line) + "\n" for line in labels).encode())
        hour = parse_hour({"hour": LABELS_AT.replace(minute=0).strftime("%Y-%m-%dT%H:%M:%SZ")}, dt.datetime.now(UTC))
        result = merge(s3, config, hour)
        captured = len(served["captured"])
        if result["labels"] != len(labels) or result["matched"] != captured:
            raise fail("merge", f"{result['labels']} labels, {result['matched']} matched a capture; expected "
                                f"{len(labels)} and {captured}: the capture and the merge disagree on location or record")
        ground_truth = s3.get_object(Bucket=config.ground_truth.bucket, Key=result["ground_truth_key"])["Body"].read()
        lines = [json.loads(line) for line in ground_truth.decode().splitlines() if line.strip()]
        gt_uri = f"s3://{config.ground_truth.bucket}/{config.ground_truth.prefix}"
        if gt_uri != platform.ground_truth_uri.rstrip("/") + "/":
            raise fail("merge", f"ground truth goes to {gt_uri}, the model quality monitor reads {platform.ground_truth_uri}")
        if not re.fullmatch(r"\d{4}/\d{2}/\d{2}/\d{2}/[^/]+\.jsonl", result["ground_truth_key"][len(config.ground_truth.prefix):]) \
                or any(set(l) != {"groundTruthData", "eventMetadata", "eventVersion"} for l in lines):
            raise fail("merge", f"ground truth {result['ground_truth_key']} is not Model Monitor's yyyy/mm/dd/hh JSON Lines")
        feedback_uri = f"s3://{config.feedback.bucket}/{config.feedback.prefix}"
        arguments = platform.prod_steps["Features"]["Arguments"]["AppSpecification"]["ContainerArguments"]
        read_uri = platform.tokens(arguments[arguments.index("--feedback-uri") + 1]) \
            if "--feedback-uri" in arguments else None
        if feedback_uri != read_uri:
            raise fail("merge", f"feedback goes to {feedback_uri}, the Features step of "
                                f"{platform.prod_pipeline.pipeline_name} reads {read_uri or 'no feedback'}")
        body = s3.get_object(Bucket=config.feedback.bucket, Key=result["feedback_key"])["Body"].read().decode()
        rows = [r for r in csv.reader(io.StringIO(body)) if r]
        widths = {len(r) for r in rows}
        if widths != {features_width}:
            raise fail("merge", f"feedback rows have {sorted(widths)} fields; the feature set has {features_width} "
                                "(label + features)")
        report.add(Line("merge", len(labels), len(lines) + len(rows), 2,
                        f"matched={result['matched']} unmatched={result['unmatched']} ground truth={len(lines)} lines, "
                        f"feedback={len(rows)} rows -> s3://{config.feedback.bucket}/{result['feedback_key']}"))
        return {"matched": result["matched"], "feedback_rows": len(rows), "ground_truth_lines": len(lines)}


# -- 9. retrain gate ---------------------------------------------------------------------------------


def gate_step(platform: Platform, report: Report) -> dict[str, Any]:
    import boto3

    from ml_platform.constructs.monitoring.model_monitor import TYPES
    from ml_platform.lambdas.retrain_gate.gate import Execution, GateConfig, Trigger, decide, handle, recent_executions

    with stage("retrain-gate"):
        config = GateConfig.from_environment(platform.gate_env)
        if config.pipeline_name != platform.prod_pipeline.pipeline_name:
            raise fail("retrain-gate", f"the gate starts {config.pipeline_name!r}, the training pipeline is "
                                       f"{platform.prod_pipeline.pipeline_name!r}")
        client = boto3.client("sagemaker")
        client.create_pipeline(PipelineName=platform.prod_pipeline.pipeline_name,
                               PipelineDefinition=json.dumps(platform.prod_definition, default=str),
                               RoleArn="arn:aws:iam::111111111111:role/pipeline", ClientRequestToken="l" * 32)
        schedule = f"{platform.endpoint.name}-{TYPES['model_quality'][1]}"  # the schedule that found violations

        def event(number: int, at: dt.datetime) -> Trigger:
            return Trigger.from_event({
                "version": "0", "id": f"violation-{number}", "detail-type": "SageMaker Processing Job State Change",
                "source": "aws.sagemaker", "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "detail": {"MonitoringScheduleName": schedule, "ProcessingJobStatus": "Completed",
                           "ExitMessage": "CompletedWithViolations: Job completed successfully with violations."}})

        now = dt.datetime.now(UTC)
        outcomes = {}
        first = handle(client, config, event(1, now), now)  # (a) no execution yet
        outcomes["first"] = first["decision"]
        running = [Execution(e.arn, "Executing", e.start_time) for e in recent_executions(client, config.pipeline_name)]
        outcomes["running"] = "started" if decide(now + dt.timedelta(minutes=30), running, config.cooldown).start \
            else "skipped"  # (b) moto's executions end at once; the decision on the same data, one running
        later = now + dt.timedelta(minutes=30)
        outcomes["cooldown"] = handle(client, config, event(2, later), later)["decision"]  # (c)
        after = now + config.cooldown + dt.timedelta(minutes=1)
        outcomes["after cooldown"] = handle(client, config, event(3, after), after)["decision"]
        expected = {"first": "started", "running": "skipped", "cooldown": "skipped", "after cooldown": "started"}
        if outcomes != expected:
            raise fail("retrain-gate", f"decisions {outcomes}, expected {expected}")
        execution_id = first["execution_arn"].rsplit("/", 1)[-1]
        report.add(Line("retrain-gate", len(outcomes), sum(v == "started" for v in outcomes.values()), 0,
                        " ".join(f"{k}={v}" for k, v in outcomes.items())
                        + f" (cooldown {config.cooldown // dt.timedelta(hours=1)}h) -> execution {execution_id}"))
        return {"decisions": outcomes, "execution_id": execution_id}


# -- the run -----------------------------------------------------------------------------------------


@contextlib.contextmanager
def mocked_aws(region: str) -> Iterator[None]:
    """moto's AWS with placeholder credentials, restored afterwards (they never leave this run)."""
    from moto import mock_aws

    names = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_PROFILE")
    saved = {n: os.environ.get(n) for n in names}
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION=region)
    os.environ.pop("AWS_SESSION_TOKEN", None)
    os.environ.pop("AWS_PROFILE", None)
    try:
        with mock_aws():
            yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run(work: Path, spark: Any, out: Callable[[str], None] | None = None) -> Report:
    """Every stage in order, in ``work``; :raises StageFailure: naming the stage that broke.

    :param out: where the stage lines go. Default: this moment's standard output (the stages' own
        code prints into :data:`LOGS`).
    """
    import boto3

    from ml_platform.config import load_environment
    from ml_platform.constructs.lake.data_lake import Zone

    if out is None:
        stream = sys.stdout

        def out(text: str) -> None:
            print(text, file=stream, flush=True)

    started = time.monotonic()
    report = Report(out=out)
    with stage("platform"):
        dev_config = load_environment(ROOT / "config" / "dev.yaml")
        prod_config = load_environment(ROOT / "config" / "prod.yaml")
        platform = platform_of(dev_config, prod_config)
        columns = {name: dict(d.columns) for name, d in dev_config.data_catalog.datasets.items()}
    with mocked_aws(dev_config.region):
        s3 = boto3.client("s3")
        for zone in Zone:
            s3.create_bucket(Bucket=zone.value)
        landed = land(s3, platform, columns, report)
        processed = glue(s3, spark, platform, work, landed, columns, report)
        run_id = "lifecycle-run-1"
        built = features_step(s3, platform, platform.pipeline, work, run_id, "features", report, landed)
        ingested = ingest_step(s3, platform, work, run_id, report) if "Ingest" in platform.steps else None
        prepared = prepare_step(s3, platform, work, run_id, report, built["schema"]["rows"])
        trained = train_step(s3, platform, work, run_id, report)
        evaluated = evaluate_step(s3, platform, work, run_id, report, prepared["counts"]["test"])
        served = serve_step(s3, platform, work, run_id, report)
        merged = merge_step(s3, platform, report, served, 1 + len(built["schema"]["columns"]))
        gated = gate_step(platform, report)
        if platform.prod_pipeline.settings.features.spec() != platform.pipeline.settings.features.spec():
            raise fail("retrain-features", "prod's feature spec differs from dev's: the runs' rows do not compare")
        retrained = features_step(s3, platform, platform.prod_pipeline, work, gated["execution_id"],
                                  "retrain-features", report, landed)
        grown = retrained["schema"]["rows"] - built["schema"]["rows"]
        if grown != merged["matched"] or retrained["schema"]["feedback_rows"] != merged["feedback_rows"]:
            raise fail("retrain-features", f"the training set grew by {grown} rows, {merged['matched']} labels matched")
    report.facts.update(landed=landed, processed=processed, features=built["schema"], ingested=ingested, prepared=prepared["counts"],
                        synthetic=prepared["synthetic"], model_uri=trained["uri"], auc=evaluated["auc"],
                        threshold=evaluated["threshold"], register=evaluated["register"],
                        captured=len(served["captured"]), served=len(served["served"]), merged=merged,
                        gate=gated["decisions"], retrain=retrained["schema"], grown=grown,
                        seconds=time.monotonic() - started)
    out(f"lifecycle: OK, {len(report.lines)} stages in {report.facts['seconds']:.1f}s; auc={evaluated['auc']:.3f} "
        f">= {evaluated['threshold']}, model {trained['uri']}; retraining set {built['schema']['rows']} -> "
        f"{retrained['schema']['rows']} rows (+{grown} labeled feedback)")
    return report


def main(argv: list[str] | None = None, *, spark: Any = None, out: Callable[[str], None] | None = None) -> Report:
    """Run the lifecycle (see the module); ``spark``: a session to reuse (else one is started and stopped).

    :raises StageFailure: naming the stage whose hand-off drifted.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--workdir", type=Path, help="keep the run's files here (default: a temporary folder)")
    args = parser.parse_args(argv)
    own_spark = spark is None
    work = args.workdir or Path(tempfile.mkdtemp(prefix="lifecycle-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        if own_spark:
            with stage("glue"):
                spark = spark_session()
        return run(work, spark, out)
    finally:
        if own_spark and spark is not None:
            spark.stop()
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    try:
        main()
    except StageFailure as failure:
        print(f"lifecycle: FAILED: {failure}", file=sys.stderr)
        raise SystemExit(1) from None
