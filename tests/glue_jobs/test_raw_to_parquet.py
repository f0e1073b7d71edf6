"""The raw-to-Parquet job's logic, and its transformation on a real local Spark (Glue 5.1's 3.5.6).

The Glue-only parts of the script (catalog reads, bookmarks, EvaluateDataQuality) need AWS Glue;
here the same select expressions run on CSV files the test writes in the lake's layout.
"""

from __future__ import annotations

import ast
import json
from decimal import Decimal
from pathlib import Path

import pytest

from ml_platform.jobs.glue.raw_to_parquet import raw_to_parquet_logic as logic

SCRIPT = Path(logic.__file__).with_name("raw_to_parquet.py")
COLUMNS = json.dumps([["order_id", "string"], ["amount", "decimal(12,2)"], ["ordered_at", "timestamp"], ["units", "int"]])


@pytest.fixture(scope="module")
def spark():
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[1]")
        .appName("raw-to-parquet-test")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.sql.session.timeZone", "UTC")
        # Partition values stay strings ("03"), as the crawler catalogs them for the Glue job.
        .config("spark.sql.sources.partitionColumnTypeInference.enabled", "false")
        .getOrCreate()
    )
    yield session
    session.stop()


def write_raw(root: Path, day: str, text: str) -> None:
    year, month, dd = day.split("-")
    folder = root / "sales" / f"year={year}" / f"month={month}" / f"day={dd}"
    folder.mkdir(parents=True)
    (folder / "part-0.csv").write_text(text)


def test_csv_becomes_typed_parquet_partitioned_by_date(spark, tmp_path):
    raw, out = tmp_path / "raw", tmp_path / "processed"
    write_raw(raw, "2024-03-07", "order_id,amount,ordered_at,units,ignored\nA1,12.50,2024-03-07 10:00:00,3,x\nA2,not-a-number,2024-03-07 11:30:00,1,y\n")
    write_raw(raw, "2024-03-08", "order_id,amount,ordered_at,units,ignored\nA3,0.99,2024-03-08 09:15:00,2,z\n")
    frame = spark.read.option("header", "true").csv(str(raw / "sales"))

    typed = frame.selectExpr(*logic.select_expressions(logic.parse_columns(COLUMNS)))
    typed.write.partitionBy(*logic.PARTITION_KEYS).parquet(str(out / "sales"))

    assert sorted(p.name for p in (out / "sales" / "year=2024").iterdir()) == ["month=03"]
    assert sorted(p.name for p in (out / "sales" / "year=2024" / "month=03").iterdir()) == ["day=07", "day=08"]
    result = spark.read.parquet(str(out / "sales"))
    assert dict(result.dtypes) == {
        "order_id": "string", "amount": "decimal(12,2)", "ordered_at": "timestamp", "units": "int",
        "year": "string", "month": "string", "day": "string",
    }
    rows = {r["order_id"]: r for r in result.collect()}
    assert rows["A1"]["amount"] == Decimal("12.50") and rows["A1"]["units"] == 3
    assert rows["A2"]["amount"] is None  # uncastable values become NULL for Data Quality to catch
    assert rows["A3"]["ordered_at"].isoformat() == "2024-03-08T09:15:00"
    assert (rows["A3"]["year"], rows["A3"]["month"], rows["A3"]["day"]) == ("2024", "03", "08")


def test_select_expressions_cast_in_order_then_partition_keys():
    assert logic.select_expressions([("id", "string"), ("x", "double")]) == [
        "CAST(`id` AS string) AS `id`", "CAST(`x` AS double) AS `x`", "`year`", "`month`", "`day`",
    ]


@pytest.mark.parametrize(("text", "message"), [
    ("not json", "--columns is not JSON"),
    ("[]", "must be a non-empty JSON list"),
    ('[["a"]]', "is not a [name, type] pair"),
    ('[["Amount", "double"]]', "column name 'Amount' is invalid"),
    ('[["year", "int"]]', "'year' is a partition key"),
    ('[["a", "money"]]', "type 'money' is not supported"),
    ('[["a", "decimal(40,2)"]]', "type 'decimal(40,2)' is not supported"),
    ('[["a", "decimal(5,6)"]]', "type 'decimal(5,6)' is not supported"),
    ('[["a", "int"], ["a", "string"]]', "names a column twice"),
])
def test_parse_columns_rejects_bad_input(text, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        logic.parse_columns(text)


def test_parse_columns_keeps_order():
    assert logic.parse_columns(COLUMNS)[0] == ("order_id", "string")
    assert [n for n, _ in logic.parse_columns(COLUMNS)] == ["order_id", "amount", "ordered_at", "units"]


OUTCOMES = [("IsComplete \"id\"", "Passed", None), ("RowCount > 10", "Failed", "Value: 3 does not meet the constraint")]


def test_failed_rule_fails_the_job_when_on_failure_is_fail():
    verdict = logic.quality_verdict(OUTCOMES, "fail")
    assert verdict.fail_job
    assert "1 of 2 rules failed: RowCount > 10 (Value: 3 does not meet the constraint)" in verdict.message
    assert verdict.message.endswith("failing the job, nothing written")


def test_failed_rule_is_only_logged_when_on_failure_is_log():
    verdict = logic.quality_verdict(OUTCOMES, "log")
    assert not verdict.fail_job
    assert verdict.message.endswith("writing the data anyway (on_failure: log)")


def test_all_rules_passing_never_fails():
    assert logic.quality_verdict(OUTCOMES[:1], "fail") == logic.QualityVerdict(False, "Data Quality: all 1 rules passed")


def test_unknown_failure_action_is_rejected():
    with pytest.raises(ValueError, match="--dq_on_failure is 'warn'; allowed: fail, log"):
        logic.quality_verdict(OUTCOMES, "warn")


def test_script_imports_only_what_the_logic_module_defines():
    tree = ast.parse(SCRIPT.read_text())
    imported = [
        alias.name for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "raw_to_parquet_logic"
        for alias in node.names
    ]
    assert imported and all(hasattr(logic, name) for name in imported)


def test_script_reads_every_argument_the_job_passes():
    text = SCRIPT.read_text()
    for argument in ("source_database", "source_table", "target_path", "columns", "dq_ruleset", "dq_on_failure"):
        assert f'"{argument}"' in text
