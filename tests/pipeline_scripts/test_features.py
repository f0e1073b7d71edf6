"""The feature step on Parquet data the tests write in Hive layout, as Glue and DataBrew do."""

from __future__ import annotations

import ast
import copy
import csv
import json
import re
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ml_platform.jobs.training_pipeline import features

AS_OF = date(2026, 3, 31)
SCRIPTS = Path(features.__file__).parent

SPEC = {
    "label": "churned",
    "join_on": "customer_id",
    "window_days": 90,
    "sources": [
        {"name": "accounts", "columns": ["customer_id", "age", "segment", "tenure_months", "churned"]},
        {"name": "sales", "columns": ["customer_id", "amount"], "aggregate": {"amount": "sum"}},
    ],
    "features": [
        {"column": "age", "impute": "median"},
        {"column": "amount", "impute": "constant", "value": 0},
        {"column": "tenure_months", "impute": "mean"},
        {"column": "segment", "impute": "mode", "encode": "ordinal"},
    ],
}


def put(root: Path, dataset: str, day: str, rows: list[dict] | pa.Table, name: str = "part-00000.parquet") -> Path:
    """``rows`` as ``<root>/<dataset>/year=YYYY/month=MM/day=DD/<name>`` (partition values in the path only)."""
    year, month, dd = day.split("-")
    folder = root / dataset / f"year={year}" / f"month={month}" / f"day={dd}"
    folder.mkdir(parents=True, exist_ok=True)
    table = rows if isinstance(rows, pa.Table) else pa.Table.from_pandas(pd.DataFrame(rows), preserve_index=False)
    (folder / name).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / name)
    return folder / name


def single(columns: list[str], feature_list: list[dict], **extra) -> dict:
    """A spec with one source ``events`` (no join)."""
    return {"label": "label", "sources": [{"name": "events", "columns": columns}], "features": feature_list, **extra}


def run(tmp_path: Path, spec: dict, as_of: date = AS_OF, out: str = "out") -> tuple[list[list[str]], dict]:
    spec_path = tmp_path / f"{out}-spec.json"
    spec_path.write_text(json.dumps(spec))
    features.main(["--spec", str(spec_path), "--input", str(tmp_path / "in"), "--feedback", str(tmp_path / "feedback"),
                   "--output", str(tmp_path / out), "--as-of", as_of.isoformat()])
    with (tmp_path / out / "data.csv").open(newline="") as handle:
        rows = list(csv.reader(handle))
    return rows, json.loads((tmp_path / out / "schema.json").read_text())


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    """Accounts (a daily snapshot) and sales for the example spec."""
    root = tmp_path / "in"
    put(root, "accounts", "2026-03-30", [
        {"customer_id": 1, "age": 30, "segment": "gold", "tenure_months": 12, "churned": True},
        {"customer_id": 2, "age": None, "segment": "silver", "tenure_months": 24, "churned": False},
        {"customer_id": 3, "age": 50, "segment": None, "tenure_months": None, "churned": True},
    ])
    put(root, "accounts", "2026-03-31", [
        {"customer_id": 1, "age": 31, "segment": "gold", "tenure_months": 13, "churned": True},
        {"customer_id": 4, "age": 40, "segment": "bronze", "tenure_months": 6, "churned": False},
    ])
    put(root, "sales", "2026-03-20", [{"customer_id": 1, "amount": 10.5}, {"customer_id": 2, "amount": 4.0}])
    put(root, "sales", "2026-03-21", [{"customer_id": 1, "amount": 2.0}])
    return root


# -- reading and joining ------------------------------------------------------------------------------

def test_the_example_spec_end_to_end(tmp_path, lake):
    rows, schema = run(tmp_path, SPEC)
    # customers 1 (newest snapshot), 2, 3 and 4; columns: age, amount, tenure_months, segment
    assert schema["columns"] == ["age", "amount", "tenure_months", "segment"]
    assert schema["encodings"] == {"segment": ["bronze", "gold", "silver"]}
    assert schema["sources"] == {"accounts": 5, "sales": 3}
    assert schema["rows"] == 4 and schema["feedback_rows"] == 0
    assert schema["window"] == {"from": "2026-01-01", "to": "2026-03-31"}
    customer_1 = ["1", "31", "12.5", "13", "1"]  # newest age and tenure, sales summed, gold = 1
    customer_2 = ["0", "40", "4", "24", "2"]  # age: median of 31, 50, 40
    # no sales: constant 0; the mean tenure; the mode of a three-way tie is the smallest, bronze
    customer_3 = ["1", "50", "0", str((13 + 24 + 6) / 3), "0"]
    customer_4 = ["0", "40", "0", "6", "0"]
    assert sorted(rows) == sorted([customer_1, customer_2, customer_3, customer_4])


def test_window_keeps_the_partitions_of_the_last_window_days_up_to_as_of(tmp_path):
    root = tmp_path / "in"
    for day, x, label in [("2026-03-21", 21, 1), ("2026-03-22", 22, 1), ("2026-03-31", 31, 0), ("2026-04-01", 41, 0)]:
        put(root, "events", day, [{"x": x, "label": label}])
    rows, schema = run(tmp_path, single(["x", "label"], [{"column": "x"}], window_days=10))
    assert sorted(rows) == [["0", "31"], ["1", "22"]]  # 03-21 is 10 days before: out; 04-01 is after as-of
    assert schema["window"] == {"from": "2026-03-22", "to": "2026-03-31"}
    assert schema["sources"] == {"events": 2}


def test_without_window_days_every_partition_up_to_as_of_is_read(tmp_path):
    root = tmp_path / "in"
    for day, x, label in [("2019-01-01", 1, 1), ("2026-03-31", 2, 0), ("2026-04-01", 3, 0)]:
        put(root, "events", day, [{"x": x, "label": label}])
    rows, schema = run(tmp_path, single(["x", "label"], [{"column": "x"}]))
    assert sorted(rows) == [["0", "2"], ["1", "1"]]
    assert schema["window"] == {"from": None, "to": "2026-03-31"}


def test_partition_values_come_from_the_path(tmp_path):
    root = tmp_path / "in"
    put(root, "events", "2026-02-09", [{"x": 1, "label": 1}])
    put(root, "events", "2026-03-01", [{"x": 2, "label": 0}])
    frame = features.read_source(root, features.Source("events", ("x", "year", "month", "day", "label")),
                                 features.Window(AS_OF))
    assert frame["month"].tolist() == ["02", "03"] and frame["day"].tolist() == ["09", "01"]
    assert frame["year"].tolist() == ["2026", "2026"]
    rows, schema = run(tmp_path, single(["x", "month", "label"], [{"column": "month", "encode": "one_hot"}]))
    assert schema["columns"] == ["month=02", "month=03"]
    assert sorted(rows) == [["0", "0", "1"], ["1", "1", "0"]]


def test_hidden_and_temporary_files_are_not_read(tmp_path):
    root = tmp_path / "in"
    put(root, "events", "2026-03-01", [{"x": 1, "label": 1}, {"x": 2, "label": 0}])
    put(root, "events", "2026-03-01", [{"x": 99, "label": 1}], name="_temporary/part-0.parquet")
    put(root, "events", "2026-03-01", [{"x": 98, "label": 1}], name=".part-1.parquet")
    rows, _ = run(tmp_path, single(["x", "label"], [{"column": "x"}]))
    assert sorted(rows) == [["0", "2"], ["1", "1"]]


def test_the_base_keeps_the_newest_row_per_key(tmp_path):
    root = tmp_path / "in"
    # written out of date order: the partition date decides, not the order of writing
    put(root, "accounts", "2026-03-15", [{"id": "a", "age": 15, "label": 1}])
    put(root, "accounts", "2026-03-01", [{"id": "a", "age": 1, "label": 0}, {"id": "b", "age": 20, "label": 0}])
    put(root, "accounts", "2026-03-10", [{"id": "a", "age": 10, "label": 0}])
    spec = {"label": "label", "join_on": "id", "sources": [{"name": "accounts", "columns": ["id", "age", "label"]}],
            "features": [{"column": "age"}]}
    rows, schema = run(tmp_path, spec)
    assert sorted(rows) == [["0", "20"], ["1", "15"]]
    assert schema["sources"] == {"accounts": 4}


@pytest.mark.parametrize(("function", "customer_1", "customer_2", "customer_3"), [
    ("sum", "60", "", ""),
    ("mean", "20", "", ""),
    ("min", "10", "", ""),
    ("max", "30", "", ""),
    ("count", "3", "0", "0"),
    ("last", "30", "", ""),
])
def test_aggregates_and_the_left_join(tmp_path, function, customer_1, customer_2, customer_3):
    root = tmp_path / "in"
    put(root, "accounts", "2026-03-25", [{"id": 1, "label": 1}, {"id": 2, "label": 0}, {"id": 3, "label": 1}])
    put(root, "sales", "2026-03-01", [{"id": 1, "amount": 10.0}, {"id": 3, "amount": None}])
    put(root, "sales", "2026-03-20", [{"id": 1, "amount": 30.0}])  # the newest partition: last = 30
    put(root, "sales", "2026-03-10", [{"id": 1, "amount": 20.0}, {"id": 1, "amount": None}])
    spec = {"label": "label", "join_on": "id",
            "sources": [{"name": "accounts", "columns": ["id", "label"]},
                        {"name": "sales", "columns": ["id", "amount"], "aggregate": {"amount": function}}],
            "features": [{"column": "id"}, {"column": "amount"}]}
    rows, _ = run(tmp_path, spec)
    # customer 2 has no sales (left join keeps it); customer 3 only a missing amount
    assert sorted(rows) == [["0", "2", customer_2], ["1", "1", customer_1], ["1", "3", customer_3]]


def test_join_keys_of_different_kinds_are_an_error(tmp_path):
    root = tmp_path / "in"
    put(root, "accounts", "2026-03-25", [{"id": 1, "label": 1}])
    put(root, "sales", "2026-03-25", [{"id": "1", "amount": 1.0}])
    spec = {"label": "label", "join_on": "id",
            "sources": [{"name": "accounts", "columns": ["id", "label"]},
                        {"name": "sales", "columns": ["id", "amount"], "aggregate": {"amount": "sum"}}],
            "features": [{"column": "amount"}]}
    with pytest.raises(ValueError, match="join key 'id' holds numbers in source 'accounts' but text in source 'sales'"):
        run(tmp_path, spec)


def test_a_missing_column_names_the_source_and_the_column(tmp_path, lake):
    spec = copy.deepcopy(SPEC)
    spec["sources"][1]["columns"].append("discount")
    spec["sources"][1]["aggregate"]["discount"] = "max"
    with pytest.raises(ValueError, match=r"source 'sales': column 'discount' is missing in year=2026/month=03/day=20"):
        run(tmp_path, spec)


def test_a_missing_source_folder_is_an_error(tmp_path, lake):
    spec = copy.deepcopy(SPEC)
    spec["sources"][1]["name"] = "refunds"
    with pytest.raises(ValueError, match="source 'refunds': no folder"):
        run(tmp_path, spec)


# -- imputation and encoding ----------------------------------------------------------------------------

@pytest.mark.parametrize(("impute", "extra", "filled"), [
    ("median", {}, 5.0),
    ("mean", {}, 5.2),
    ("mode", {}, 1.0),
    ("constant", {"value": -1}, -1.0),
    ("none", {}, None),
])
def test_numeric_imputation(tmp_path, impute, extra, filled):
    values = [1, 1, 5, 9, 10, None]
    put(tmp_path / "in", "events", "2026-03-01", [{"x": x, "label": i % 2} for i, x in enumerate(values)])
    rows, schema = run(tmp_path, single(["x", "label"], [{"column": "x", "impute": impute, **extra}]))
    assert [r[1] for r in rows[:5]] == ["1", "1", "5", "9", "10"]
    if filled is None:
        assert rows[5][1] == "" and schema["imputed"] == {}
    else:
        assert float(rows[5][1]) == pytest.approx(filled) and schema["imputed"]["x"] == pytest.approx(filled)


def test_text_mode_breaks_ties_by_the_smallest_category(tmp_path):
    values = ["b", "a", "b", "a", None]
    put(tmp_path / "in", "events", "2026-03-01", [{"s": s, "label": i % 2} for i, s in enumerate(values)])
    rows, schema = run(tmp_path, single(["s", "label"], [{"column": "s", "impute": "mode", "encode": "ordinal"}]))
    assert [r[1] for r in rows] == ["1", "0", "1", "0", "0"]
    assert schema["imputed"] == {"s": "a"} and schema["encodings"] == {"s": ["a", "b"]}


SEGMENTS = ["silver", "gold", "bronze", None, "gold"]


def test_ordinal_encoding_codes_the_sorted_categories(tmp_path):
    put(tmp_path / "in", "events", "2026-03-01", [{"s": s, "label": i % 2} for i, s in enumerate(SEGMENTS)])
    rows, schema = run(tmp_path, single(["s", "label"], [{"column": "s", "encode": "ordinal"}]))
    assert [r[1] for r in rows] == ["2", "1", "0", "", "1"]  # a missing value without impute stays empty
    assert schema["columns"] == ["s"] and schema["encodings"] == {"s": ["bronze", "gold", "silver"]}


def test_one_hot_encoding_writes_a_column_per_category(tmp_path):
    put(tmp_path / "in", "events", "2026-03-01", [{"s": s, "label": i % 2} for i, s in enumerate(SEGMENTS)])
    rows, schema = run(tmp_path, single(["s", "label"], [{"column": "s", "encode": "one_hot"}]))
    assert schema["columns"] == ["s=bronze", "s=gold", "s=silver"]
    assert [r[1:] for r in rows] == [["0", "0", "1"], ["0", "1", "0"], ["1", "0", "0"], ["", "", ""], ["0", "1", "0"]]


def test_a_constant_category_becomes_a_category_of_its_own(tmp_path):
    put(tmp_path / "in", "events", "2026-03-01", [{"s": s, "label": i % 2} for i, s in enumerate(SEGMENTS)])
    rows, schema = run(tmp_path, single(["s", "label"], [
        {"column": "s", "impute": "constant", "value": "unknown", "encode": "one_hot"}]))
    assert schema["columns"] == ["s=bronze", "s=gold", "s=silver", "s=unknown"]
    assert rows[3][1:] == ["0", "0", "0", "1"] and schema["imputed"] == {"s": "unknown"}


def test_bools_and_decimals_are_written_as_numbers(tmp_path):
    table = pa.table({"flag": pa.array([True, False, None]),
                      "price": pa.array([Decimal("12.50"), Decimal("3.00"), None], pa.decimal128(10, 2)),
                      "label": pa.array([1, 0, 1])})
    put(tmp_path / "in", "events", "2026-03-01", table)
    rows, _ = run(tmp_path, single(["flag", "price", "label"], [{"column": "flag"}, {"column": "price"}]))
    assert rows == [["1", "1", "12.5"], ["0", "0", "3"], ["1", "", ""]]


@pytest.mark.parametrize(("feature", "message"), [
    ({"column": "s"}, "feature 's' holds text .* set encode"),
    ({"column": "s", "impute": "mean", "encode": "ordinal"}, "feature 's': impute 'mean' needs numbers"),
    ({"column": "x", "impute": "constant", "value": "n/a"}, "feature 'x': constant 'n/a' is not a number"),
])
def test_features_that_cannot_be_written_as_numbers(tmp_path, feature, message):
    put(tmp_path / "in", "events", "2026-03-01", [{"x": 1.0, "s": "a", "label": 1}, {"x": None, "s": "b", "label": 0}])
    with pytest.raises(ValueError, match=message):
        run(tmp_path, single(["x", "s", "label"], [feature]))


# -- the label ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("positive", "negative"), [
    (True, False), ("true", "false"), ("Yes", "NO"), (1, 0), ("1", "0"), (1.0, 0.0),
])
def test_labels_become_0_and_1_and_rows_without_one_are_dropped(tmp_path, positive, negative):
    put(tmp_path / "in", "events", "2026-03-01",
        [{"x": 1, "label": positive}, {"x": 2, "label": negative}, {"x": 3, "label": None}])
    rows, schema = run(tmp_path, single(["x", "label"], [{"column": "x"}]))
    assert rows == [["1", "1"], ["0", "2"]] and schema["rows"] == 2 and schema["sources"] == {"events": 3}


def test_labels_that_are_not_0_or_1_are_named(tmp_path):
    put(tmp_path / "in", "events", "2026-03-01",
        [{"x": 1, "label": "maybe"}, {"x": 2, "label": "1"}, {"x": 3, "label": "2"}])
    with pytest.raises(ValueError, match=r"label 'label' must be 0/1.*bad values: '2', 'maybe'"):
        run(tmp_path, single(["x", "label"], [{"column": "x"}]))


def test_no_rows_in_the_window_is_an_error(tmp_path, lake):
    with pytest.raises(ValueError, match=r"no input rows in the window 2025-10-03\.\.2025-12-31"):
        run(tmp_path, SPEC, as_of=date(2025, 12, 31))


def test_one_class_is_an_error(tmp_path):
    put(tmp_path / "in", "events", "2026-03-01", [{"x": 1, "label": 0}, {"x": 2, "label": 0}])
    with pytest.raises(ValueError, match="only one class"):
        run(tmp_path, single(["x", "label"], [{"column": "x"}]))


# -- the spec -------------------------------------------------------------------------------------------

def _without(key):
    return lambda s: s.pop(key)


@pytest.mark.parametrize(("change", "message"), [
    (lambda s: s.update(extra=1), r"spec has unknown key\(s\) 'extra'"),
    (_without("label"), "spec needs 'label'"),
    (_without("sources"), "spec needs 'sources'"),
    (_without("features"), "spec needs 'features'"),
    (lambda s: s.update(label=""), "spec 'label' must be a non-empty string"),
    (lambda s: s.update(join_on=3), "spec 'join_on' must be a non-empty string"),
    (lambda s: s.update(window_days=0), "spec 'window_days' must be a whole number of days >= 1"),
    (lambda s: s.update(window_days=True), "spec 'window_days' must be a whole number"),
    (lambda s: s.update(sources=[]), "spec 'sources' must be a non-empty list"),
    (lambda s: s.pop("join_on"), "without 'join_on' the spec takes exactly one source, got 2"),
    (lambda s: s["sources"].__setitem__(1, "sales"), r"sources\[1\] must be a JSON object"),
    (lambda s: s["sources"][1].update(name="../x"), r"sources\[1\] 'name' must be a dataset folder name"),
    (lambda s: s["sources"][1].update(name="accounts"), "source 'accounts' is listed twice"),
    (lambda s: s["sources"][1].update(columns=[]), "source 'sales' 'columns' must be a non-empty list"),
    (lambda s: s["sources"][1].update(columns=["customer_id", "amount", "amount"]),
     "source 'sales' lists column 'amount' twice"),
    (lambda s: s["sources"][1].update(columns=["amount"]), "source 'sales' must list the join key 'customer_id'"),
    (lambda s: s["sources"][0].update(aggregate={"age": "max"}), "source 'accounts' is the base"),
    (lambda s: s["sources"][1].update(aggregate=["amount"]), "source 'sales' 'aggregate' must map column names"),
    (lambda s: s["sources"][1].update(aggregate={"amount": "sum", "tax": "sum"}),
     "source 'sales' aggregates 'tax', which is not in its columns"),
    (lambda s: s["sources"][1].update(aggregate={"amount": "sum", "customer_id": "count"}),
     "source 'sales' cannot aggregate the join key 'customer_id'"),
    (lambda s: s["sources"][1].update(aggregate={"amount": "median"}),
     "source 'sales' aggregate 'amount': unknown function 'median'"),
    (lambda s: s["sources"][1].update(aggregate={}), "source 'sales' column 'amount' needs an aggregate"),
    (lambda s: s["sources"][1].update(columns=["customer_id", "age"], aggregate={"age": "max"}),
     "column 'age' comes from both source 'accounts' and source 'sales'"),
    (lambda s: s.update(label="score"), "label 'score' is not a column of any source"),
    (lambda s: s.update(features=[]), "spec 'features' must be a non-empty list"),
    (lambda s: s["features"].append("age"), r"features\[4\] must be a JSON object"),
    (lambda s: s["features"].append({"impute": "mean"}), r"features\[4\] needs 'column'"),
    (lambda s: s["features"].append({"column": "age", "scale": 2}), r"features\[4\] has unknown key\(s\) 'scale'"),
    (lambda s: s["features"].append({"column": "income"}), "feature 'income' is not a column of any source"),
    (lambda s: s["features"].append({"column": "churned"}), "feature 'churned' is the label"),
    (lambda s: s["features"].append({"column": "age"}), "feature 'age' is listed twice"),
    (lambda s: s["features"][0].update(impute="zero"), "feature 'age': unknown impute 'zero'"),
    (lambda s: s["features"][1].pop("value"), "feature 'amount': impute 'constant' needs 'value'"),
    (lambda s: s["features"][1].update(value=[0]), "feature 'amount': constant 'value' must be a number or a string"),
    (lambda s: s["features"][0].update(value=3), "feature 'age': 'value' is only used with impute 'constant'"),
    (lambda s: s["features"][3].update(encode="binary"), "feature 'segment': unknown encode 'binary'"),
])
def test_spec_validation(change, message):
    spec = copy.deepcopy(SPEC)
    change(spec)
    with pytest.raises(ValueError, match=message):
        features.FeatureSpec.parse(spec)


def test_the_spec_the_construct_writes_parses():
    """``impute: none`` and an explicit ``encode: none`` are the defaults; a float constant is a number."""
    spec = copy.deepcopy(SPEC)
    spec["features"][0] = {"column": "age", "impute": "none", "encode": "none"}
    spec["features"][1]["value"] = 0.0
    parsed = features.FeatureSpec.parse(spec)
    assert parsed.features[0] == features.Feature("age") and parsed.features[1].value == 0.0
    assert parsed.window_days == 90 and parsed.join_on == "customer_id"
    assert [s.name for s in parsed.sources] == ["accounts", "sales"]


def test_a_spec_that_is_not_json_is_an_error(tmp_path):
    (tmp_path / "spec.json").write_text("{")
    with pytest.raises(ValueError, match="is not valid JSON"):
        features.FeatureSpec.load(tmp_path / "spec.json")


# -- feedback -------------------------------------------------------------------------------------------

def _feedback(tmp_path: Path, day: str, rows: list[list[str]], name: str = "labeled.csv") -> None:
    year, month, dd = day.split("-")
    folder = tmp_path / "feedback" / f"year={year}" / f"month={month}" / f"day={dd}"
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / name).open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)


def test_feedback_rows_of_the_window_are_appended_as_they_are(tmp_path, lake):
    lake_rows, _ = run(tmp_path, SPEC, out="without")
    _feedback(tmp_path, "2026-03-31", [["0", "1.5", "2", "3", "1"]], name="more.csv")
    _feedback(tmp_path, "2026-03-30", [["1", "33", "7.25", "", "2"], ["0", "61", "0", "3", "0"]])
    _feedback(tmp_path, "2026-01-01", [["1", "1", "1", "1", "1"]])  # the first day of the 90: read
    _feedback(tmp_path, "2025-12-31", [["1", "9", "9", "9", "9"]])  # the day before: not read
    _feedback(tmp_path, "2026-04-01", [["1", "8", "8", "8", "8"]])  # after as-of: not read
    (tmp_path / "feedback" / "loose.csv").write_text("1,2,3,4,5\n")  # no partition: not read
    rows, schema = run(tmp_path, SPEC)
    assert rows == lake_rows + [["1", "1", "1", "1", "1"], ["1", "33", "7.25", "", "2"], ["0", "61", "0", "3", "0"],
                                ["0", "1.5", "2", "3", "1"]]  # in date order
    assert schema["feedback_rows"] == 4 and schema["rows"] == len(lake_rows) + 4


def test_feedback_of_another_width_names_the_file(tmp_path, lake):
    _feedback(tmp_path, "2026-03-30", [["1", "33", "7.25", "1"]], name="short.csv")
    with pytest.raises(ValueError, match=r"feedback file year=2026/month=03/day=30/short\.csv: line 1 has 4 columns, "
                                         r"expected 5"):
        run(tmp_path, SPEC)


def test_feedback_with_a_bad_label_names_the_file(tmp_path, lake):
    _feedback(tmp_path, "2026-03-30", [["yes", "33", "7.25", "1", "0"]], name="bad.csv")
    with pytest.raises(ValueError, match=r"bad\.csv: line 1 has label 'yes', not 0/1"):
        run(tmp_path, SPEC)


def test_feedback_may_complete_the_classes(tmp_path):
    put(tmp_path / "in", "events", "2026-03-01", [{"x": 1, "label": 0}])
    _feedback(tmp_path, "2026-03-02", [["1", "5"]])
    rows, _ = run(tmp_path, single(["x", "label"], [{"column": "x"}]))
    assert rows == [["0", "1"], ["1", "5"]]


# -- the output ------------------------------------------------------------------------------------------

def test_same_inputs_give_byte_identical_outputs(tmp_path, lake):
    _feedback(tmp_path, "2026-03-30", [["1", "33", "7.25", "", "2"]])
    run(tmp_path, SPEC, out="first")
    run(tmp_path, SPEC, out="second")
    for name in ("data.csv", "schema.json"):
        assert (tmp_path / "first" / name).read_bytes() == (tmp_path / "second" / name).read_bytes()


def test_xgboost_trains_on_the_output(tmp_path, lake):
    xgboost = pytest.importorskip("xgboost")
    spec = copy.deepcopy(SPEC)
    spec["features"][0]["impute"] = "none"  # a missing age stays an empty field: XGBoost's missing value
    rows, schema = run(tmp_path, spec)
    text = (tmp_path / "out" / "data.csv").read_text()
    assert not re.search(r"[A-Za-z]", text)  # no header, numbers only
    matrix = xgboost.DMatrix(f"{tmp_path / 'out' / 'data.csv'}?format=csv&label_column=0")
    assert matrix.num_row() == schema["rows"] == 4 and matrix.num_col() == len(schema["columns"]) == 4
    assert matrix.get_label().tolist() == [float(r[0]) for r in rows]
    booster = xgboost.train({"objective": "binary:logistic", "base_score": 0.5}, matrix, num_boost_round=2)
    assert len(booster.predict(matrix)) == 4


def test_the_script_runs_as_one_file_and_prints_a_summary(tmp_path, lake):
    (tmp_path / "spec.json").write_text(json.dumps(SPEC))
    _feedback(tmp_path, "2026-03-30", [["1", "33", "7.25", "", "2"]])
    done = subprocess.run(
        [sys.executable, str(SCRIPTS / "features.py"), "--spec", str(tmp_path / "spec.json"),
         "--input", str(tmp_path / "in"), "--feedback", str(tmp_path / "feedback"), "--output", str(tmp_path / "out"),
         "--as-of", "2026-03-31"],
        cwd=tmp_path, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "features: sources accounts=5 sales=3, feedback=1, rows out=5, columns=4"


def test_a_missing_feedback_folder_is_no_error(tmp_path, lake):
    rows, schema = run(tmp_path, SPEC)
    assert not (tmp_path / "feedback").exists() and schema["feedback_rows"] == 0 and len(rows) == 4


@pytest.mark.parametrize("script", ["features.py", "prepare.py"])
def test_scripts_run_on_the_python_of_the_processing_image(script):
    """The scikit-learn 1.4-2 image runs Python 3.10; a script imports the standard library and
    what the image has (pandas, pyarrow, numpy, boto3: the image's requirements.txt pins
    boto3==1.28.57), or imblearn from the libs input."""
    source = (SCRIPTS / script).read_text()
    tree = ast.parse(source, feature_version=(3, 10))
    imported = {a.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module and node.level == 0}
    allowed = set(sys.stdlib_module_names) | {"__future__", "pandas", "pyarrow", "numpy", "boto3", "imblearn"}
    assert imported <= allowed, imported - allowed
    assert "datetime.UTC" not in source and "from datetime import UTC" not in source  # Python 3.11+


def test_feedback_is_downloaded_from_s3_keeping_partitions_and_only_csv(tmp_path):
    """The step reads the feedback prefix itself (SageMaker refuses an empty input prefix)."""
    import boto3
    from moto import mock_aws

    from ml_platform.jobs.training_pipeline.features import download_feedback

    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="lake-curated")
        s3.put_object(Bucket="lake-curated", Key="churn/feedback/year=2026/month=11/day=28/feedback-13.csv",
                      Body=b"1,40,12.5,3,1\n")
        s3.put_object(Bucket="lake-curated", Key="churn/feedback/notes.txt", Body=b"x")
        s3.put_object(Bucket="lake-curated", Key="churn/other/year=2026/month=11/day=28/x.csv", Body=b"0,1\n")
        assert download_feedback("s3://lake-curated/churn/feedback/", tmp_path, s3) == 1
        assert download_feedback("s3://lake-curated/churn/empty/", tmp_path / "none", s3) == 0
    assert (tmp_path / "year=2026/month=11/day=28/feedback-13.csv").read_text() == "1,40,12.5,3,1\n"
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["feedback-13.csv"]
    with pytest.raises(ValueError, match="is not s3://<bucket>/<prefix>"):
        download_feedback("lake-curated/churn/", tmp_path)


# --- declared categories: codes that hold across runs (feedback rows keep the codes they were served with)


def test_declared_categories_fix_the_codes_in_their_order(tmp_path):
    put(tmp_path / "in", "events", "2026-03-01", [{"s": s, "label": i % 2} for i, s in enumerate(SEGMENTS)])
    declared = ["gold", "silver", "bronze", "platinum"]
    rows, schema = run(tmp_path, single(["s", "label"], [{"column": "s", "encode": "ordinal", "categories": declared}]))
    codes = {s: r[1] for s, r in zip(SEGMENTS, rows)}
    assert (codes["gold"], codes["silver"], codes["bronze"], codes[None]) == ("0", "1", "2", "")
    assert schema["encodings"] == {"s": declared}


def test_a_window_without_a_category_shifts_sorted_codes_but_not_declared_ones(tmp_path):
    """The drift declared categories prevent: without 'bronze' in the window, sorted codes move."""
    put(tmp_path / "in", "events", "2026-03-01", [{"s": s, "label": i % 2} for i, s in enumerate(["gold", "silver"] * 2)])
    sorted_rows, _ = run(tmp_path, single(["s", "label"], [{"column": "s", "encode": "ordinal"}]), out="sorted")
    declared_rows, _ = run(tmp_path, single(["s", "label"], [
        {"column": "s", "encode": "ordinal", "categories": ["bronze", "gold", "silver"]}]), out="declared")
    assert [r[1] for r in sorted_rows[:2]] == ["0", "1"]      # gold, silver among two categories
    assert [r[1] for r in declared_rows[:2]] == ["1", "2"]    # the codes of a window that has bronze


def test_a_value_outside_the_declared_categories_is_missing_and_one_hot_keeps_its_width(tmp_path):
    put(tmp_path / "in", "events", "2026-03-01", [{"s": s, "label": i % 2} for i, s in enumerate(SEGMENTS)])
    rows, schema = run(tmp_path, single(["s", "label"], [
        {"column": "s", "encode": "one_hot", "categories": ["gold", "silver", "platinum"]}]))
    assert schema["columns"] == ["s=gold", "s=silver", "s=platinum"]
    by_value = {s: r[1:] for s, r in zip(SEGMENTS, rows)}
    assert by_value["bronze"] == ["", "", ""] and by_value["gold"] == ["1", "0", "0"]


@pytest.mark.parametrize(("feature", "message"), [
    ({"column": "s", "categories": ["a"]}, "'categories' needs encode"),
    ({"column": "s", "encode": "ordinal", "categories": ["a", "a"]}, "non-empty list of distinct strings"),
    ({"column": "s", "encode": "ordinal", "categories": []}, "non-empty list of distinct strings"),
    ({"column": "s", "encode": "ordinal", "impute": "constant", "value": "z", "categories": ["a"]},
     "constant 'z' is not one of its categories"),
])
def test_bad_declared_categories_are_spec_errors(feature, message):
    with pytest.raises(ValueError, match=message):
        features.FeatureSpec.parse(single(["s", "label"], [feature]))


# --- feature records (--records): what the Ingest step puts into the feature group


def records(tmp_path: Path, spec: dict, *extra: str, out: str = "out") -> list[list[str]]:
    spec_path = tmp_path / f"{out}-spec.json"
    spec_path.write_text(json.dumps(spec))
    features.main(["--spec", str(spec_path), "--input", str(tmp_path / "in"), "--feedback", str(tmp_path / "feedback"),
                   "--output", str(tmp_path / out), "--as-of", AS_OF.isoformat(),
                   "--records", str(tmp_path / f"{out}-records"), *extra])
    with (tmp_path / f"{out}-records" / "records.csv").open(newline="") as handle:
        return list(csv.reader(handle))


def test_records_are_one_row_per_key_imputed_and_not_encoded(tmp_path, lake):
    header, *rows = records(tmp_path, SPEC)
    assert header == ["customer_id", "churned", "age", "amount", "tenure_months", "segment"]
    # as the training rows of test_the_example_spec_end_to_end, with the category's text, not its code
    assert sorted(rows) == sorted([["1", "1", "31", "12.5", "13", "gold"], ["2", "0", "40", "4", "24", "silver"],
                                   ["3", "1", "50", "0", str((13 + 24 + 6) / 3), "bronze"],
                                   ["4", "0", "40", "0", "6", "bronze"]])
    # the training set is the same as without --records
    assert (tmp_path / "out" / "data.csv").read_bytes() == _training_set(tmp_path)


def _training_set(tmp_path: Path) -> bytes:
    run(tmp_path, SPEC, out="plain")
    assert not (tmp_path / "plain-records").exists() and not (tmp_path / "plain" / "records.csv").exists()
    return (tmp_path / "plain" / "data.csv").read_bytes()


def test_records_keep_declared_categories_as_the_model_sees_them_and_leave_out_feedback(tmp_path):
    put(tmp_path / "in", "events", "2026-03-01", [{"id": f"e{i}", "s": s, "label": i % 2}
                                                  for i, s in enumerate(["gold", "bronze", None])])
    (tmp_path / "feedback" / "year=2026" / "month=03" / "day=02").mkdir(parents=True)
    (tmp_path / "feedback" / "year=2026" / "month=03" / "day=02" / "rows.csv").write_text("1,0,1\n")
    spec = single(["id", "s", "label"], [{"column": "s", "encode": "one_hot", "categories": ["gold", "silver"]}])
    header, *rows = records(tmp_path, spec, "--record-identifier", "id")
    assert header == ["id", "label", "s"]
    # bronze is outside the declared categories: missing, as in the training row
    assert rows == [["e0", "0", "gold"], ["e1", "1", ""], ["e2", "0", ""]]


def test_a_repeated_identifier_keeps_its_last_row_and_rows_without_one_are_left_out(tmp_path):
    put(tmp_path / "in", "events", "2026-03-01", [{"id": "a", "x": 1, "label": 0}, {"id": None, "x": 2, "label": 1}])
    put(tmp_path / "in", "events", "2026-03-02", [{"id": "a", "x": 3, "label": 1}, {"id": "b", "x": 4, "label": 0}])
    header, *rows = records(tmp_path, single(["id", "x", "label"], [{"column": "x"}]), "--record-identifier", "id")
    assert header == ["id", "label", "x"] and rows == [["a", "1", "3"], ["b", "0", "4"]]


def test_records_need_an_identifier_column(tmp_path, lake):
    with pytest.raises(SystemExit, match="--records needs --record-identifier: the spec has no join_on"):
        records(tmp_path, single(["a", "label"], [{"column": "a"}]))
    with pytest.raises(ValueError, match=r"^record identifier 'nope' is not a column of the joined sources \("):
        records(tmp_path, SPEC, "--record-identifier", "nope", out="bad")


def test_records_are_what_the_ingest_step_reads_for_the_derived_feature_set(tmp_path, lake):
    """The seam: the group's definitions come from derive_feature_set of the pipeline's features;
    ingest.py reads records.csv against them (every column a feature, every value of its type)."""
    from ml_platform.constructs.preparation.feature_settings import FeatureSettings
    from ml_platform.constructs.training.feature_store_settings import derive_feature_set
    from ml_platform.jobs.training_pipeline import ingest

    settings = FeatureSettings(
        sources=[{"dataset": s["name"], "columns": s["columns"], **({"aggregate": s["aggregate"]} if "aggregate" in s
                                                                      else {})} for s in SPEC["sources"]],
        join_on="customer_id", label="churned",
        features=[{k: v for k, v in f.items()} for f in SPEC["features"]])
    definitions = derive_feature_set(settings).definitions()
    schema = ingest.GroupSchema(name="t-dev-churn", record_identifier="customer_id", event_time="event_time",
                                types={d.name: d.type for d in definitions})
    records(tmp_path, SPEC)
    read = ingest.read_records(tmp_path / "out-records" / "records.csv", schema, "2026-03-31T00:00:00Z")
    assert len(read) == 4
    assert {f["FeatureName"] for f in read[0]} == set(schema.types)
