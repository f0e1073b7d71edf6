"""FeatureSettings: defaults, every validation error, and the seams to the scripts that read them.

``spec()`` is parsed by the feature step's own ``FeatureSpec`` and ``rebalance_argument()`` by the
Prepare step's own argument parsing: what the construct accepts and writes is what the jobs run.
"""

from __future__ import annotations

import copy
import json

import pandas as pd
import pytest


from ml_platform.constructs.preparation.feature_settings import (
    DEFAULT_K_NEIGHBORS,
    FeatureColumn,
    FeatureSettings,
    FeatureSource,
    Rebalance,
)
from ml_platform.jobs.training_pipeline import features as script
from ml_platform.jobs.training_pipeline import prepare

#: The dev/prod churn feature set (config/*.yaml).
BASE = {
    "sources": [
        {"dataset": "accounts", "columns": ["customer_id", "age", "segment", "tenure_months", "churned"]},
        {"dataset": "sales", "columns": ["customer_id", "amount"], "aggregate": {"amount": "sum"}},
    ],
    "join_on": "customer_id",
    "label": "churned",
    "features": [
        {"column": "age", "impute": "median"},
        {"column": "amount", "impute": "constant", "value": 0},
        {"column": "tenure_months", "impute": "median"},
        {"column": "segment", "impute": "mode", "encode": "ordinal"},
    ],
    "window_days": 90,
    "rebalance": {"sampling_strategy": 0.5},
}
#: One source, nothing optional.
SINGLE = {"sources": [{"dataset": "events", "columns": ["x", "label"]}], "label": "label",
          "features": [{"column": "x"}]}


def changed(**changes) -> dict:
    data = copy.deepcopy(BASE)
    data.update(copy.deepcopy(changes))
    return data


def messages(data: dict) -> list[str]:
    """The messages of every error ``data`` raises (pydantic's ``Value error, `` prefix removed)."""
    with pytest.raises(ValueError) as caught:
        FeatureSettings.model_validate(data)
    errors = caught.value.errors(include_url=False)
    # pydantic also reports a tuple whose items fail as "too short": leave out that echo
    errors = [e for e in errors if not (e["type"] == "too_short" and any(
        o is not e and o["loc"][:len(e["loc"])] == e["loc"] for o in errors))]
    return [e["msg"].removeprefix("Value error, ") for e in errors]


def parsed(settings: FeatureSettings) -> script.FeatureSpec:
    """The spec as the job reads it: JSON text, parsed by the feature step."""
    return script.FeatureSpec.parse(json.loads(json.dumps(settings.spec())))


# --- defaults --------------------------------------------------------------------------------------


def test_documented_defaults():
    settings = FeatureSettings.model_validate(SINGLE)
    assert (settings.join_on, settings.window_days, settings.rebalance) == (None, None, None)
    assert settings.sources == (FeatureSource(dataset="events", columns=("x", "label")),)
    assert settings.sources[0].aggregate == {}
    column = settings.features[0]
    assert (column.impute, column.value, column.encode) == ("none", None, "none")
    assert settings.rebalance_argument() is None
    rebalance = Rebalance()
    assert DEFAULT_K_NEIGHBORS == 5
    assert (rebalance.method, rebalance.sampling_strategy, rebalance.k_neighbors) == ("smote", 1.0, DEFAULT_K_NEIGHBORS)


def test_spec_of_the_defaults_leaves_out_every_optional_key():
    assert FeatureSettings.model_validate(SINGLE).spec() == {
        "label": "label", "sources": [{"name": "events", "columns": ["x", "label"]}],
        "features": [{"column": "x", "impute": "none"}]}


def test_rebalance_defaults_in_the_argument():
    settings = FeatureSettings.model_validate({**SINGLE, "rebalance": {}})
    assert settings.rebalance == Rebalance()
    assert settings.rebalance_argument() == {"method": "smote", "sampling_strategy": 1.0,
                                             "k_neighbors": DEFAULT_K_NEIGHBORS}


def test_settings_are_strict_and_frozen():
    settings = FeatureSettings.model_validate(BASE)
    with pytest.raises(ValueError):
        settings.label = "age"  # type: ignore[misc]
    with pytest.raises(ValueError, match="colour\n  Extra inputs are not permitted"):
        FeatureSettings.model_validate({**BASE, "colour": "red"})
    with pytest.raises(ValueError, match="valid integer"):
        FeatureSettings.model_validate({**BASE, "window_days": "90"})


def test_numbers_given_as_integers_become_floats():
    assert FeatureColumn(column="a", impute="constant", value=0).value == 0.0
    assert isinstance(FeatureColumn(column="a", impute="constant", value=0).value, float)
    assert FeatureColumn(column="a", impute="constant", value="unknown", encode="ordinal").value == "unknown"
    assert Rebalance(sampling_strategy=1).sampling_strategy == 1.0


# --- validation ------------------------------------------------------------------------------------

SALES = {"dataset": "sales", "columns": ["customer_id", "amount"], "aggregate": {"amount": "sum"}}


@pytest.mark.parametrize(("data", "expected"), [
    pytest.param(changed(join_on=None, sources=[BASE["sources"][0], {**SALES, "columns": ["amount"]}]),
                 "several sources need join_on, the key they join on", id="several-sources-without-join_on"),
    pytest.param(changed(sources=[BASE["sources"][0], {**SALES, "dataset": "accounts"}]),
                 "sources name a dataset twice (accounts, accounts)", id="duplicate-dataset"),
    pytest.param(changed(sources=[BASE["sources"][0], {**SALES, "columns": ["amount"]}]),
                 "source 'sales' does not read the join_on column 'customer_id'", id="join_on-missing"),
    pytest.param(changed(sources=[{**BASE["sources"][0], "aggregate": {"age": "max"}}, SALES]),
                 "the base source 'accounts' takes no aggregate (it keeps its newest row per key)",
                 id="aggregate-on-base"),
    pytest.param(changed(sources=[BASE["sources"][0], {**SALES, "aggregate": {"amount": "sum", "visits": "max"}}]),
                 "aggregate names visits, which columns does not list", id="aggregate-of-unread-column"),
    pytest.param(changed(sources=[BASE["sources"][0], {**SALES, "aggregate": {}}]),
                 "source 'sales' column 'amount' needs an aggregate (its rows reduce to one per key)",
                 id="non-base-column-without-aggregate"),
    pytest.param(changed(label="churn"), "column 'churn' is not read by any source", id="label-not-read"),
    pytest.param(changed(features=[*BASE["features"], {"column": "visits"}]),
                 "column 'visits' is not read by any source", id="feature-not-read"),
    pytest.param(changed(features=[*BASE["features"], {"column": "churned"}]),
                 "the label 'churned' is also a feature", id="label-is-feature"),
    pytest.param(changed(features=[{"column": "amount", "impute": "constant"}]),
                 "give value exactly when impute is constant", id="constant-without-value"),
    pytest.param(changed(features=[{"column": "amount", "impute": "median", "value": 0}]),
                 "give value exactly when impute is constant", id="value-without-constant"),
    pytest.param(changed(features=[{"column": "amount", "value": "x"}]),
                 "give value exactly when impute is constant", id="value-with-impute-none"),
    pytest.param(changed(rebalance={"sampling_strategy": 0}), "Input should be greater than 0",
                 id="sampling_strategy-zero"),
    pytest.param(changed(rebalance={"sampling_strategy": -0.5}), "Input should be greater than 0",
                 id="sampling_strategy-negative"),
    pytest.param(changed(rebalance={"sampling_strategy": 1.01}), "Input should be less than or equal to 1",
                 id="sampling_strategy-above-one"),
    pytest.param(changed(rebalance={"k_neighbors": 0}), "Input should be greater than or equal to 1",
                 id="k_neighbors-zero"),
    pytest.param(changed(rebalance={"k_neighbors": 101}), "Input should be less than or equal to 100",
                 id="k_neighbors-above-100"),
    pytest.param(changed(rebalance={"method": "adasyn"}), "Input should be 'smote'", id="rebalance-method"),
    pytest.param(changed(window_days=0), "Input should be greater than or equal to 1", id="window_days-zero"),
    pytest.param(changed(window_days=3651), "Input should be less than or equal to 3650", id="window_days-above"),
    pytest.param(changed(sources=[BASE["sources"][0], {**SALES, "aggregate": {"amount": "median"}}]),
                 "Input should be 'sum', 'mean', 'min', 'max', 'count' or 'last'", id="unknown-aggregate"),
    pytest.param(changed(features=[{"column": "age", "impute": "zero"}]),
                 "Input should be 'none', 'median', 'mean', 'mode' or 'constant'", id="unknown-impute"),
    pytest.param(changed(features=[{"column": "segment", "encode": "binary"}]),
                 "Input should be 'none', 'ordinal' or 'one_hot'", id="unknown-encode"),
    pytest.param(changed(label="1st"), "String should match pattern '^[A-Za-z_][A-Za-z0-9_]{0,127}$'",
                 id="bad-column-name"),
    pytest.param(changed(sources=[]), "Tuple should have at least 1 item after validation, not 0", id="no-sources"),
    pytest.param(changed(features=[]), "Tuple should have at least 1 item after validation, not 0", id="no-features"),
    pytest.param(changed(sources=[{"dataset": "accounts", "columns": []}]),
                 "Tuple should have at least 1 item after validation, not 0", id="no-columns"),
    pytest.param(changed(sources=[{**BASE["sources"][0], "dataset": ""}, SALES]),
                 "String should match pattern '^[A-Za-z0-9][A-Za-z0-9_.=-]{0,127}$'", id="empty-dataset"),
])
def test_each_mistake_is_one_error_with_its_message(data, expected):
    assert messages(data) == [expected]


def test_every_cross_field_problem_is_reported_at_once():
    data = changed(label="churn", features=[{"column": "visits"}],
                   sources=[BASE["sources"][0], {**SALES, "columns": ["amount"]}])
    assert messages(data) == ["source 'sales' does not read the join_on column 'customer_id'; "
                              "column 'churn' is not read by any source; column 'visits' is not read by any source"]


@pytest.mark.parametrize(("field", "value"), [
    ("sampling_strategy", 1), ("sampling_strategy", 1e-9), ("k_neighbors", 1), ("k_neighbors", 100)])
def test_rebalance_bounds_are_inclusive_where_documented(field, value):
    assert getattr(Rebalance(**{field: value}), field) == value


@pytest.mark.parametrize("days", [1, 3650])
def test_window_days_bounds(days):
    assert FeatureSettings.model_validate(changed(window_days=days)).spec()["window_days"] == days


def test_one_source_needs_no_join_and_a_join_key_may_be_given_anyway():
    assert FeatureSettings.model_validate(SINGLE).join_on is None
    keyed = FeatureSettings.model_validate({**SINGLE, "join_on": "x", "features": [{"column": "x"}]})
    assert parsed(keyed).join_on == "x"


# --- spec(): the seam to the feature step -----------------------------------------------------------

EVERYTHING = {
    "sources": [
        {"dataset": "accounts", "columns": ["customer_id", "age", "segment", "plan", "region", "churned"]},
        {"dataset": "sales", "columns": ["customer_id", "amount", "orders", "low", "high", "avg", "latest"],
         "aggregate": {"orders": "count", "amount": "sum", "low": "min", "high": "max", "avg": "mean",
                       "latest": "last"}},
    ],
    "join_on": "customer_id",
    "label": "churned",
    "features": [
        {"column": "age", "impute": "median"},
        {"column": "amount", "impute": "constant", "value": 0},
        {"column": "orders"},
        {"column": "avg", "impute": "mean"},
        {"column": "segment", "impute": "mode", "encode": "ordinal"},
        {"column": "plan", "impute": "constant", "value": "basic", "encode": "one_hot"},
        {"column": "region", "encode": "one_hot"},
        {"column": "low", "impute": "constant", "value": -1.5},
        {"column": "high", "impute": "none", "encode": "none"},
        {"column": "latest", "impute": "mode"},
    ],
    "window_days": 30,
    "rebalance": {"sampling_strategy": 0.25, "k_neighbors": 3},
}


def test_spec_is_the_documented_document():
    spec = FeatureSettings.model_validate(EVERYTHING).spec()
    assert spec == {
        "label": "churned",
        "join_on": "customer_id",
        "window_days": 30,
        "sources": [
            {"name": "accounts", "columns": ["customer_id", "age", "segment", "plan", "region", "churned"]},
            {"name": "sales", "columns": ["customer_id", "amount", "orders", "low", "high", "avg", "latest"],
             "aggregate": {"amount": "sum", "avg": "mean", "high": "max", "latest": "last", "low": "min",
                           "orders": "count"}},
        ],
        "features": [
            {"column": "age", "impute": "median"},
            {"column": "amount", "impute": "constant", "value": 0.0},
            {"column": "orders", "impute": "none"},
            {"column": "avg", "impute": "mean"},
            {"column": "segment", "impute": "mode", "encode": "ordinal"},
            {"column": "plan", "impute": "constant", "value": "basic", "encode": "one_hot"},
            {"column": "region", "impute": "none", "encode": "one_hot"},
            {"column": "low", "impute": "constant", "value": -1.5},
            {"column": "high", "impute": "none"},
            {"column": "latest", "impute": "mode"},
        ],
    }
    assert list(spec["sources"][1]["aggregate"]) == sorted(spec["sources"][1]["aggregate"])  # stable asset hash


@pytest.mark.parametrize("data", [EVERYTHING, BASE, SINGLE], ids=["every-option", "dev-config", "single"])
def test_the_feature_step_reads_the_spec_as_the_settings_mean_it(data, tmp_path):
    settings = FeatureSettings.model_validate(data)
    path = tmp_path / "features.json"
    path.write_text(json.dumps(settings.spec(), indent=2, sort_keys=True))  # as json_asset writes it
    spec = script.FeatureSpec.load(path)
    assert spec == parsed(settings)
    assert (spec.label, spec.join_on, spec.window_days) == (settings.label, settings.join_on, settings.window_days)
    assert [(s.name, s.columns, s.aggregate) for s in spec.sources] == [
        (s.dataset, s.columns, dict(s.aggregate)) for s in settings.sources]
    assert [(f.column, f.impute, f.value, f.encode) for f in spec.features] == [
        (f.column, f.impute, f.value, None if f.encode == "none" else f.encode) for f in settings.features]


@pytest.mark.parametrize("impute", ["none", "median", "mean", "mode"])
@pytest.mark.parametrize("encode", ["none", "ordinal", "one_hot"])
def test_every_impute_and_encode_passes_the_seam(impute, encode):
    settings = FeatureSettings.model_validate({**SINGLE, "features": [{"column": "x", "impute": impute, "encode": encode}]})
    [feature] = parsed(settings).features
    assert (feature.impute, feature.value, feature.encode) == (impute, None, None if encode == "none" else encode)


@pytest.mark.parametrize(("value", "encode"), [(0, "none"), (2.5, "none"), (-3, "none"), ("unknown", "ordinal"),
                                               ("", "one_hot"), (7, "one_hot")])
def test_every_constant_passes_the_seam(value, encode):
    settings = FeatureSettings.model_validate(
        {**SINGLE, "features": [{"column": "x", "impute": "constant", "value": value, "encode": encode}]})
    [feature] = parsed(settings).features
    assert (feature.impute, feature.value, feature.encode) == ("constant", value, None if encode == "none" else encode)


def test_a_text_constant_of_an_unencoded_feature_is_refused():
    with pytest.raises(ValueError, match="a numeric feature cannot take a text value"):
        FeatureColumn(column="x", impute="constant", value="unknown")


def test_the_dev_feature_set_builds_a_training_set(tmp_path):
    """The spec of the committed churn settings, run by the step on Parquet in the lake layout."""
    settings = FeatureSettings.model_validate(BASE)
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(settings.spec()))
    root = tmp_path / "input"
    accounts = pd.DataFrame({"customer_id": ["a", "b", "c"], "age": [30, None, 50], "segment": ["x", "y", None],
                             "tenure_months": [3, 12, None], "churned": [True, False, True]})
    sales = pd.DataFrame({"customer_id": ["a", "a", "b"], "amount": [1.5, 2.5, 4.0]})
    for name, frame in (("accounts", accounts), ("sales", sales)):
        folder = root / name / "year=2026" / "month=03" / "day=01"
        folder.mkdir(parents=True)
        frame.to_parquet(folder / "part-0.parquet", index=False)
    out = tmp_path / "out"
    schema = script.main(["--spec", str(spec_path), "--input", str(root), "--feedback", str(tmp_path / "none"),
                          "--output", str(out), "--as-of", "2026-03-31"])
    rows = (out / "data.csv").read_text().splitlines()
    assert schema["rows"] == len(rows) == 3
    assert sorted(r.split(",")[:3] for r in rows) == [["0", "40", "4"], ["1", "30", "4"], ["1", "50", "0"]]


# Defects: what the construct accepts, the step refuses at run time (the pipeline fails in AWS).
@pytest.mark.parametrize("data", [
    pytest.param(changed(sources=[BASE["sources"][0], {**SALES, "columns": ["customer_id", "amount", "age"],
                                                       "aggregate": {"amount": "sum", "age": "max"}}]), id="column-of-two-sources"),
    pytest.param({**SINGLE, "sources": [{"dataset": "events", "columns": ["x", "x", "label"]}]},
                 id="column-twice-in-a-source"),
    pytest.param({**SINGLE, "features": [{"column": "x"}, {"column": "x"}]}, id="feature-twice"),
    pytest.param(changed(sources=[BASE["sources"][0], {**SALES, "aggregate": {"amount": "sum",
                                                                             "customer_id": "count"}}]),
                 id="aggregate-of-the-join-key"),
    pytest.param({**SINGLE, "features": [{"column": "x", "impute": "constant", "value": float("inf")}]},
                 id="non-finite-constant"),
    pytest.param({**SINGLE, "sources": [{"dataset": "my events", "columns": ["x", "label"]}]},
                 id="dataset-not-a-folder-name"),
])
def test_construct_accepts_only_specs_the_step_accepts(data):
    """Each of these would fail the pipeline in AWS: the settings refuse them at synth."""
    with pytest.raises(ValueError):
        FeatureSettings.model_validate(data)


# --- rebalance_argument(): the seam to the Prepare step ---------------------------------------------


def prepare_arguments(monkeypatch, argv: list[str]) -> tuple:
    """What ``prepare.py``'s command line hands to its ``main``."""
    monkeypatch.setattr(prepare, "main", lambda *arguments: arguments)
    return prepare.cli(argv)


@pytest.mark.parametrize(("rebalance", "expected"), [
    ({}, {"sampling_strategy": 1.0, "k_neighbors": DEFAULT_K_NEIGHBORS}),
    ({"sampling_strategy": 0.5}, {"sampling_strategy": 0.5, "k_neighbors": DEFAULT_K_NEIGHBORS}),
    ({"sampling_strategy": 1, "k_neighbors": 1}, {"sampling_strategy": 1.0, "k_neighbors": 1}),
    ({"sampling_strategy": 0.01, "k_neighbors": 100}, {"sampling_strategy": 0.01, "k_neighbors": 100}),
])
def test_prepare_parses_the_rebalance_argument(monkeypatch, rebalance, expected):
    argument = FeatureSettings.model_validate({**SINGLE, "rebalance": rebalance}).rebalance_argument()
    assert argument == {"method": "smote", **expected}
    # as the pipeline passes it (training_pipeline._prepare)
    _, _, text, libs = prepare_arguments(
        monkeypatch, ["--rebalance", json.dumps(argument, sort_keys=True), "--libs", "/opt/ml/processing/libs"])
    assert libs == prepare.LIBS
    assert prepare.parse_rebalance(text) == {"method": "smote", **expected, "random_state": prepare.SEED}


def test_prepare_rebalances_the_train_split_with_the_argument(tmp_path):
    """SMOTE runs with exactly the construct's options (imblearn as installed, as in the job's zip)."""
    argument = FeatureSettings.model_validate({**SINGLE, "rebalance": {"sampling_strategy": 0.5, "k_neighbors": 3}}
                                              ).rebalance_argument()
    source = tmp_path / "in"
    source.mkdir()
    rows = [f"{int(i % 8 == 0)},{i},{i % 5}" for i in range(200)]
    (source / "data.csv").write_text("\n".join(rows) + "\n")
    counts = prepare.main(source, tmp_path / "out", json.dumps(argument, sort_keys=True), libs=None)
    train = [r.split(",") for r in (tmp_path / "out" / "train" / "data.csv").read_text().splitlines()]
    labels = [float(r[0]) for r in train]
    minority, majority = labels.count(1.0), labels.count(0.0)
    assert counts["train"] == len(train) > 140 and minority / majority == pytest.approx(0.5, abs=0.01)
    assert counts["validation"] == counts["test"] == 30


@pytest.mark.parametrize(("column", "message"), [
    ({"column": "x", "categories": ["a"]}, "categories need encode"),
    ({"column": "x", "encode": "ordinal", "categories": ["a", "a"]}, "categories list a category twice"),
    ({"column": "x", "encode": "ordinal", "categories": []}, "at least 1 item"),
    ({"column": "x", "encode": "ordinal", "impute": "constant", "value": "z", "categories": ["a"]},
     "the constant 'z' is not one of categories"),
])
def test_declared_categories_errors(column, message):
    with pytest.raises(ValueError, match=message):
        FeatureColumn.model_validate(column)


def test_declared_categories_reach_the_step_in_order_and_satisfy_undeclared_check():
    data = {**SINGLE, "features": [{"column": "x", "encode": "one_hot", "categories": ["b", "a"],
                                    "impute": "constant", "value": 2, }]}
    data["features"][0]["categories"] = ["b", "a", "2"]
    settings = FeatureSettings.model_validate(data)
    assert settings.undeclared_categories() == []
    [feature] = parsed(settings).features
    assert feature.categories == ("b", "a", "2")
    undeclared = FeatureSettings.model_validate({**SINGLE, "features": [{"column": "x", "encode": "ordinal"}]})
    assert undeclared.undeclared_categories() == ["x"]
