"""Environment files: defaults, and one readable line per problem for every kind of mistake."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from ml_platform.config import ConfigError, load_environment, load_environments
from ml_platform.constructs.lake.data_lake import DEFAULT_ACCESS_LOG_RETENTION_DAYS, ZONE_READERS, Zone
from ml_platform.constructs.lake.lake_lifecycle import ARCHIVE_CLASSES, READABLE_CLASSES, LifecyclePolicy, Transition
from tests.conftest import CONFIG_DIR

MINIMAL = """\
account: "123456789012"
region: eu-west-1
prefix: acme-ml
tags:
  project: churn
  environment: {env}
  owner: data-team
  cost_center: "4711"
"""


def write(tmp_path: Path, text: str, name: str = "dev.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_environment(path)
    lines = str(caught.value).splitlines()
    assert lines == caught.value.problems
    assert all(line.startswith(f"{path}: ") for line in lines), lines
    return [line.removeprefix(f"{path}: ") for line in lines]


def test_committed_environments_load():
    environments = load_environments(CONFIG_DIR)
    assert sorted(environments) == sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
    assert {"dev", "prod", "staging"} <= set(environments)
    assert environments["prod"].termination_protection is True
    assert environments["prod"].allow_data_deletion is False
    assert environments["dev"].allow_data_deletion is True


def test_minimal_file_takes_documented_defaults(tmp_path):
    config = load_environment(write(tmp_path, MINIMAL.format(env="dev")))
    assert config.name == "dev"
    assert config.allow_data_deletion is False
    assert config.termination_protection is True
    assert config.data_lake.lifecycle == LifecyclePolicy()
    assert config.data_lake.zone_lifecycle == {}
    assert config.data_lake.access_log_retention_days == DEFAULT_ACCESS_LOG_RETENTION_DAYS == 365
    assert config.stack_name("DataLake") == "acme-ml-dev-DataLake"
    assert config.tags.as_aws_tags() == {
        "Project": "churn", "Environment": "dev", "Owner": "data-team", "CostCenter": "4711"
    }


def test_lifecycle_and_zone_overrides_are_read(tmp_path):
    text = MINIMAL.format(env="dev") + textwrap.dedent("""\
        data_lake:
          lifecycle:
            transitions: [{storage_class: INTELLIGENT_TIERING, days: 0}]
            noncurrent_version_expiration_days: 10
          zone_lifecycle:
            raw: {abort_incomplete_multipart_upload_days: 2}
          access_log_retention_days: 30
        """)
    lake = load_environment(write(tmp_path, text)).data_lake
    assert lake.lifecycle.transitions == (Transition(storage_class="INTELLIGENT_TIERING", days=0),)
    assert lake.lifecycle.noncurrent_version_expiration_days == 10
    assert lake.zone_lifecycle == {Zone.RAW: LifecyclePolicy(abort_incomplete_multipart_upload_days=2)}
    assert lake.access_log_retention_days == 30


@pytest.mark.parametrize(
    ("replace", "by", "expected"),
    [
        ('account: "123456789012"', 'account: "12345"',
         "account: must be a 12-digit AWS account ID in quotes, e.g. '111111111111' (got '12345')"),
        ('account: "123456789012"', "account: 123456789012",
         "account: input should be a valid string; put the value in quotes (got 123456789012)"),
        ("region: eu-west-1", "region: europe",
         "region: must be an AWS region code such as 'us-east-1' or 'eu-west-2' (got 'europe')"),
        ("prefix: acme-ml", "prefix: Acme_ML",
         "prefix: must be 2-15 lower-case letters, digits or '-', starting with a letter and not "
         "ending with '-' (it starts stack and resource names) (got 'Acme_ML')"),
        ("owner: data-team", "owner: 'data<team>'",
         "tags.owner: must be 1-256 letters, digits, spaces or _ . : / = + - @ (AWS tag values) "
         "(got 'data<team>')"),
        ("  owner: data-team\n", "",
         "tags.owner: required key is missing"),
        ("environment: dev", "environment: prod",
         "tags.environment: must be the environment name 'dev', the file's name (got 'prod')"),
    ],
)
def test_bad_identifiers_and_missing_keys(tmp_path, replace, by, expected):
    text = MINIMAL.format(env="dev").replace(replace, by)
    [problem] = problems_of(write(tmp_path, text))
    assert problem.startswith(expected), problem


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("colour: blue\n",
         "colour: unknown key; allowed keys: account, region, prefix, tags, allow_data_deletion, "
         "termination_protection, requires_approval, alerts, data_lake, network, data_catalog, training"),
        ("data_lake:\n  lifecycle:\n    expire_days: 3\n",
         "data_lake.lifecycle.expire_days: unknown key; allowed keys: transitions, "
         "noncurrent_version_expiration_days, abort_incomplete_multipart_upload_days"),
        ("data_lake:\n  lifecycle:\n    transitions: [{storage_class: GLACIER, days: 1, size: 2}]\n",
         "data_lake.lifecycle.transitions[0].size: unknown key; allowed keys: storage_class, days"),
        ("allow_data_deletion: maybe\n",
         "allow_data_deletion: input should be a valid boolean (got 'maybe')"),
        ("data_lake:\n  access_log_retention_days: '30'\n",
         "data_lake.access_log_retention_days: input should be a valid integer (got '30')"),
        ("data_lake:\n  access_log_retention_days: 0\n",
         "data_lake.access_log_retention_days: input should be greater than or equal to 1 (got 0)"),
        ("data_lake:\n  lifecycle:\n    noncurrent_version_expiration_days: 40000\n",
         "data_lake.lifecycle.noncurrent_version_expiration_days: input should be less than or "
         "equal to 36500 (got 40000)"),
        ("data_lake:\n  lifecycle:\n    transitions: [{storage_class: TAPE, days: 40}]\n",
         "data_lake.lifecycle.transitions[0].storage_class: input should be 'STANDARD_IA', "
         "'INTELLIGENT_TIERING', 'ONEZONE_IA', 'GLACIER_IR', 'GLACIER' or 'DEEP_ARCHIVE' (got 'TAPE')"),
        ("data_lake:\n  lifecycle:\n    transitions: [{storage_class: STANDARD_IA, days: 10}]\n",
         "data_lake.lifecycle: transitions[0]: STANDARD_IA after 10 days is not allowed; S3 needs "
         "at least 30 days"),
        ("data_lake:\n  zone_lifecycle:\n    bronze: {}\n",
         "data_lake.zone_lifecycle.bronze: input should be 'raw', 'processed', 'curated' or "
         "'artifacts' (got 'bronze')"),
    ],
)
def test_unknown_keys_wrong_types_and_out_of_range_values(tmp_path, extra, expected):
    [problem] = problems_of(write(tmp_path, MINIMAL.format(env="dev") + extra))
    assert problem.startswith(expected), problem


def test_every_problem_of_a_file_is_reported(tmp_path):
    text = MINIMAL.format(env="dev").replace("eu-west-1", "mars-1") + "colour: blue\n"
    problems = problems_of(write(tmp_path, text))
    assert [p.split(":")[0] for p in problems] == ["region", "colour"]


def test_invalid_yaml_names_line_and_column(tmp_path):
    [problem] = problems_of(write(tmp_path, MINIMAL.format(env="dev") + "tags: [unclosed\n"))
    assert problem.startswith("line 10, column 1: invalid YAML:"), problem


def test_duplicate_key_is_rejected_not_silently_overwritten(tmp_path):
    [problem] = problems_of(write(tmp_path, MINIMAL.format(env="dev") + "region: us-east-1\n"))
    assert problem == "line 9, column 1: invalid YAML: key 'region' is given twice"


@pytest.mark.parametrize(("text", "got"), [("", "an empty file"), ("- a\n- b\n", "list")])
def test_top_level_must_be_a_mapping(tmp_path, text, got):
    [problem] = problems_of(write(tmp_path, text))
    assert problem.startswith(f"expected a mapping of settings at the top level, got {got}; allowed keys: account,")


def test_name_is_taken_from_the_file_not_the_content(tmp_path):
    [problem] = problems_of(write(tmp_path, MINIMAL.format(env="dev") + "name: other\n"))
    assert problem == "name: unknown key; the environment name is the file name"


def test_file_name_must_be_a_valid_environment_name(tmp_path):
    [problem] = problems_of(write(tmp_path, MINIMAL.format(env="Dev_1"), name="Dev_1.yaml"))
    assert problem.startswith("file name 'Dev_1.yaml' is not a valid environment name")


def test_unreadable_file(tmp_path):
    [problem] = problems_of(tmp_path / "dev.yaml")
    assert problem == "cannot read the file: No such file or directory"


def test_directory_problems_are_collected_across_files(tmp_path):
    write(tmp_path, MINIMAL.format(env="dev").replace("eu-west-1", "nowhere"), "dev.yaml")
    write(tmp_path, MINIMAL.format(env="qa") + "colour: red\n", "qa.yaml")
    write(tmp_path, MINIMAL.format(env="prod"), "prod.yaml")
    with pytest.raises(ConfigError) as caught:
        load_environments(tmp_path)
    assert [p.split(": ")[:2] for p in caught.value.problems] == [
        [str(tmp_path / "dev.yaml"), "region"],
        [str(tmp_path / "qa.yaml"), "colour"],
    ]


def test_empty_directory(tmp_path):
    with pytest.raises(ConfigError, match=r"no environment files \(\*\.yaml\) found"):
        load_environments(tmp_path)


CATALOG = """\
data_catalog:
  datasets:
    sales:
      format: csv
      columns: {order_id: string, amount: double}
"""


def test_data_catalog_is_optional_and_takes_defaults(tmp_path):
    assert load_environment(write(tmp_path, MINIMAL.format(env="dev"))).data_catalog is None
    catalog = load_environment(write(tmp_path, MINIMAL.format(env="dev") + CATALOG)).data_catalog
    sales = catalog.datasets["sales"]
    assert (sales.source_zone, sales.target_zone, sales.schedule, sales.quality) == ("raw", "processed", None, None)
    assert sales.job.worker_type == "G.1X" and sales.crawler.recrawl == "new_folders_only"
    assert catalog.athena.bytes_scanned_cutoff_mb == 10_240
    assert load_environment(write(tmp_path, MINIMAL.format(env="dev"))).alerts.emails == ()


@pytest.mark.parametrize(("extra", "expected"), [
    ("      schedule: every day\n",
     "data_catalog.datasets.sales.schedule: schedule 'every day' must look like cron("),
    ("      quality: {rules: ['iscomplete \"x\"']}\n",
     "data_catalog.datasets.sales.quality.rules: invalid DQDL: rules[0] uses unknown rule type 'iscomplete'"),
    ("      crawler: {on_schema_update: update_in_database}\n",
     "data_catalog.datasets.sales.crawler: recrawl 'new_folders_only' needs on_schema_update and on_object_delete both 'log'"),
    ("      job: {workers: 1}\n",
     "data_catalog.datasets.sales.job.workers: input should be greater than or equal to 2 (got 1)"),
    ("      colour: red\n",
     "data_catalog.datasets.sales.colour: unknown key; allowed keys: format, columns, source_zone, target_zone, "
     "schedule, crawler, job, quality"),
])
def test_dataset_mistakes_name_their_key_path(tmp_path, extra, expected):
    [problem] = problems_of(write(tmp_path, MINIMAL.format(env="dev") + CATALOG + extra))
    assert problem.startswith(expected), problem


def test_bad_dataset_name_and_column_type(tmp_path):
    text = MINIMAL.format(env="dev") + CATALOG.replace("sales:", "Sales-EU:").replace("amount: double", "amount: money")
    problems = problems_of(write(tmp_path, text))
    assert problems[0].startswith("data_catalog.datasets.Sales-EU: dataset name 'Sales-EU' is invalid")
    assert problems[1].startswith("data_catalog.datasets.Sales-EU.columns.amount: type 'money' is not supported")


BREW = """\
  databrew:
    customers:
      format: csv
      recipe:
        - {action: mask_range, columns: [card], stop: -4}
"""


def test_databrew_datasets_are_read_with_typed_steps(tmp_path):
    from ml_platform.constructs.preparation.databrew_steps import MaskRange

    catalog = load_environment(write(tmp_path, MINIMAL.format(env="dev") + CATALOG + BREW)).data_catalog
    assert catalog.databrew["customers"].recipe == (MaskRange(columns=["card"], stop=-4),)


@pytest.mark.parametrize(("change", "expected"), [
    (("stop: -4", "stp: -4"),
     "data_catalog.databrew.customers.recipe[0].mask_range.stp: unknown key; allowed keys: columns, mask_symbol, "
     "action, start, stop, preserve"),
    (("action: mask_range, columns: [card], stop: -4", "action: hash, columns: [email], algorithm: SHA1"),
     "data_catalog.databrew.customers.recipe[0].hash.algorithm: input should be 'HMAC_SHA256'"),
    (("action: mask_range, columns: [card], stop: -4", "action: bogus"),
     "data_catalog.databrew.customers.recipe[0]: input tag 'bogus' found using 'action' does not match"),
    (("customers:", "sales:"),
     "data_catalog: sales prepared by both Glue (datasets) and DataBrew (databrew); they would write the same prefix"),
])
def test_databrew_mistakes_name_their_key_path(tmp_path, change, expected):
    text = MINIMAL.format(env="dev") + CATALOG + BREW.replace(*change)
    problems = problems_of(write(tmp_path, text))
    assert len(problems) == 1 and problems[0].startswith(expected), problems


def test_a_list_of_failing_items_is_not_also_reported_as_too_short(tmp_path):
    text = MINIMAL.format(env="dev") + CATALOG + BREW.replace("stop: -4", "stp: -4")
    assert not [p for p in problems_of(write(tmp_path, text)) if "at least 1 item" in p]


SERVING = """\
training:
  models: [churn]
  roles: {inference: {}}
serving:
  endpoints:
    churn:
      model: churn
      version: 3
      instance_type: ml.c5.xlarge
"""


def test_serving_endpoints_take_documented_defaults(tmp_path):
    config = load_environment(write(tmp_path, MINIMAL.format(env="dev") + SERVING))
    endpoint = config.serving.endpoints["churn"]
    assert (endpoint.model, endpoint.version, endpoint.instance_type) == ("churn", 3, "ml.c5.xlarge")
    assert endpoint.initial_instance_count == 2 and endpoint.autoscaling is None
    assert (endpoint.guardrails.traffic, endpoint.guardrails.step_percent) == ("canary", 10)
    assert endpoint.data_capture.sampling_percent == 100 and endpoint.network_isolation is True


@pytest.mark.parametrize(("change", "expected"), [
    (("model: churn", "model: fraud"), ["serving.endpoints.churn.model: 'fraud' is not in training.models (churn)"]),
    (("roles: {inference: {}}", "roles: {}"), ["serving: needs training.roles.inference, the models' execution role"]),
    (("version: 3", "version: 0"), ["serving.endpoints.churn.version: input should be greater than or equal to 1 (got 0)"]),
    (("ml.c5.xlarge", "ml.c5.mega"), ["serving.endpoints.churn.instance_type: instance type 'ml.c5.mega' is not offered "
                                      "by SageMaker for endpoints; e.g. ml.c5.large"]),
    (("      version: 3\n", "      version: 3\n      autoscaling: {max_rps_per_instance: 5, max_capacity: 1}\n"),
     ["serving.endpoints.churn: initial_instance_count 2 must lie between autoscaling min_capacity 1 and max_capacity 1; "
      "canary traffic needs a fleet of at least 2 instances (initial_instance_count and the scaling minimum) in every "
      "variant, and AllTraffic may have fewer; with 1 the first step is the whole fleet, so use all_at_once"]),
    (("    churn:\n", "    churn_eu:\n"), ["serving.endpoints.churn_eu: "]),
    (("      model: churn\n", "      model: churn\n      colour: red\n"), ["serving.endpoints.churn.colour: unknown key; allowed keys: "
                                                                          "network_isolation, environment, instance_type, initial_instance_count, autoscaling, "
                                                                          "serverless, async_inference, variant_name, weight, challengers, guardrails, "
                                                                          "data_capture, version, containers, model"]),
])
def test_serving_mistakes_name_their_key_path(tmp_path, change, expected):
    problems = problems_of(write(tmp_path, MINIMAL.format(env="dev") + SERVING.replace(*change)))
    assert len(problems) == len(expected) and all(p.startswith(e) for p, e in zip(problems, expected)), problems


def test_serving_needs_a_training_section(tmp_path):
    text = MINIMAL.format(env="dev") + SERVING.split("serving:")[0].replace("training:", "unused:").split("unused:")[0]
    problems = problems_of(write(tmp_path, text + "serving:" + SERVING.split("serving:")[1]))
    assert problems == ["serving: needs training.roles.inference, the models' execution role"]


CONTAINERS = """\
training:
  repositories: {churn-inference: {}}
  models: [churn]
  roles: {inference: {reads: [{zone: artifacts, prefix: churn/models/}], images: [churn-inference]}}
serving:
  endpoints:
    churn:
      containers:
        - {repository: churn-inference, tag: v1, model_data: {zone: artifacts, key: churn/models/v1/model.tar.gz}}
        - {algorithm: xgboost, algorithm_version: "1.7-1"}
      instance_type: ml.c5.xlarge
"""


def test_endpoints_may_run_containers_instead_of_a_registry_version(tmp_path):
    config = load_environment(write(tmp_path, MINIMAL.format(env="dev") + CONTAINERS))
    endpoint = config.serving.endpoints["churn"]
    assert endpoint.model is None and endpoint.version is None
    assert [(c.repository, c.tag, c.algorithm) for c in endpoint.containers] == [
        ("churn-inference", "v1", None), (None, None, "xgboost")]
    assert endpoint.containers[0].model_data.key == "churn/models/v1/model.tar.gz"


@pytest.mark.parametrize(("change", "expected"), [
    (("{algorithm: xgboost, ", "{repository: churn-inference, algorithm: xgboost, "),
     "serving.endpoints.churn.containers[1]: give repository and tag (a platform image) or algorithm and algorithm_version"),
    (("{algorithm: xgboost, algorithm_version: \"1.7-1\"}", "{algorithm: xgboost}"),
     "serving.endpoints.churn.containers[1]: give repository and tag"),
    (("      containers:\n", "      version: 2\n      containers:\n"),
     "serving.endpoints.churn: give version (a registry model version) or containers, not both and not neither"),
    (("      containers:\n        - {repository", "      version: 2\n      unused:\n        - {repository"),
     "serving.endpoints.churn.unused: unknown key"),
    (("images: [churn-inference]", "images: []"),
     "serving.endpoints.churn.containers[0].repository: 'churn-inference' is not in training.roles.inference.images (none)"),
    (("algorithm: xgboost", "algorithm: xgbooster"),
     "serving.endpoints.churn.containers[1].algorithm: the SageMaker SDK knows no built-in algorithm 'xgbooster'"),
    (("\"1.7-1\"", "\"9.9\""),
     "serving.endpoints.churn.containers[1]: the SageMaker SDK has no image of xgboost '9.9' in eu-west-1; "
     "supported xgboost version(s): 1, "),
    (("      instance_type", "      challengers: {b: {version: 2, weight: 1, instance_type: ml.c5.large}}\n      instance_type"),
     "serving.endpoints.churn: give model, the registry model whose version is served"),
    (("      instance_type", "      challengers: {b: {weight: 1, instance_type: ml.c5.large}}\n      instance_type"),
     "serving.endpoints.churn.challengers.b: give version (a registry model version) or containers"),
])
def test_container_mistakes_name_their_key_path(tmp_path, change, expected):
    text = MINIMAL.format(env="dev") + CONTAINERS.replace(*change)
    assert change[0] in CONTAINERS
    problems = problems_of(write(tmp_path, text))
    assert len(problems) == 1 and problems[0].startswith(expected), problems


def test_challengers_serve_other_versions_of_the_endpoints_model(tmp_path):
    text = MINIMAL.format(env="dev") + SERVING.replace(
        "      version: 3\n", "      version: 3\n      challengers: {b: {version: 4, weight: 1, instance_type: ml.c5.large}}\n")
    challenger = load_environment(write(tmp_path, text)).serving.endpoints["churn"].challengers["b"]
    assert (challenger.version, challenger.weight, challenger.initial_instance_count) == (4, 1, 2)


def test_batch_transforms_may_run_containers_and_need_model_with_version(tmp_path):
    containers = BATCH.replace("      model: churn\n      version: 2\n", "      containers: [{algorithm: xgboost, algorithm_version: \"1.7-1\"}]\n")
    assert load_environment(write(tmp_path, MINIMAL.format(env="dev") + containers)).serving.batch["nightly"].containers
    problems = problems_of(write(tmp_path, MINIMAL.format(env="dev") + BATCH.replace("      model: churn\n", "")))
    assert problems == ["serving.batch.nightly: give model, the registry model whose version scores"]


BATCH = """\
training:
  models: [churn]
  roles: {inference: {}}
serving:
  batch:
    nightly:
      model: churn
      version: 2
      schedule: "cron(0 3 * * ? *)"
      input: {zone: curated, prefix: churn/scoring/}
      output: {zone: curated, prefix: churn/scores/}
      instance_type: ml.m5.large
"""


def test_serving_may_hold_only_batch_transforms(tmp_path):
    config = load_environment(write(tmp_path, MINIMAL.format(env="dev") + BATCH))
    assert config.serving.endpoints == {}
    scoring = config.serving.batch["nightly"]
    assert (scoring.model, scoring.version, scoring.instance_count, scoring.time_zone) == ("churn", 2, 1, "UTC")


@pytest.mark.parametrize(("change", "expected"), [
    (("model: churn", "model: fraud"), ["serving.batch.nightly.model: 'fraud' is not in training.models (churn)"]),
    (("    nightly:", "    churn-nightly-scores:"),
     ["serving.batch.churn-nightly-scores: job name prefix 'acme-ml-dev-churn-nightly-scores' is longer than 26 characters"]),
    (("instance_type: ml.m5.large", "instance_type: ml.t2.medium"),
     ["serving.batch.nightly.instance_type: instance type 'ml.t2.medium' is not offered by SageMaker for batch transform"]),
    (("  batch:\n", "  other: {}\n  batch:\n"), ["serving.other: unknown key; allowed keys: endpoints, batch"]),
])
def test_batch_mistakes_name_their_key_path(tmp_path, change, expected):
    problems = problems_of(write(tmp_path, MINIMAL.format(env="dev") + BATCH.replace(*change)))
    assert len(problems) == len(expected) and all(p.startswith(e) for p, e in zip(problems, expected)), problems


def test_serving_needs_something_to_serve(tmp_path):
    text = MINIMAL.format(env="dev") + BATCH.split("  batch:")[0] + "  endpoints: {}\n"
    assert problems_of(write(tmp_path, text)) == ["serving: give at least one of endpoints and batch"]


def test_endpoint_names_longer_than_sagemaker_allows_are_refused(tmp_path):
    key = "churn-" + "x" * 25  # 31 characters, the longest key
    text = (MINIMAL.format(env="integrationtest1").replace("prefix: acme-ml", "prefix: acme-ml-platfor")
            + SERVING.replace("    churn:\n", f"    {key}:\n"))
    problems = problems_of(write(tmp_path, text, name="integrationtest1.yaml"))
    assert problems == [f"serving.endpoints.{key}: endpoint name 'acme-ml-platfor-integrationtest1-{key}' is longer "
                        "than 63 characters; use a shorter key"]


MONITORING = SERVING.replace("roles: {inference: {}}", "roles: {inference: {}, monitoring: {}}") + """\
monitoring:
  endpoints:
    churn:
      reports: {zone: artifacts, prefix: churn/reports/}
      data_quality:
        statistics: {zone: artifacts, key: churn/baselines/statistics.json}
        constraints: {zone: artifacts, key: churn/baselines/constraints.json}
"""
MODEL_QUALITY = """\
      model_quality:
        problem_type: Regression
        inference_attribute: "0"
        ground_truth: {zone: curated, prefix: churn/ground-truth/}
        constraints: {zone: artifacts, key: churn/baselines/quality.json}
"""


def test_monitoring_section_loads_with_its_defaults(tmp_path):
    config = load_environment(write(tmp_path, MINIMAL.format(env="dev") + MONITORING))
    monitor = config.monitoring.endpoints["churn"]
    assert list(monitor.jobs()) == ["data_quality"] and monitor.data_quality.schedule == "daily"


@pytest.mark.parametrize(("change", "expected"), [
    (("monitoring:\n  endpoints:\n    churn:", "monitoring:\n  endpoints:\n    fraud:"),
     "monitoring.endpoints.fraud: 'fraud' is not in serving.endpoints (churn)"),
    (("roles: {inference: {}, monitoring: {}}", "roles: {inference: {}}"),
     "monitoring: needs training.roles.monitoring, the monitoring jobs' execution role"),
    (("      instance_type: ml.c5.xlarge\n", "      instance_type: ml.c5.xlarge\n      data_capture: null\n"),
     "monitoring.endpoints.churn: needs serving.endpoints.churn.data_capture"),
    (("      instance_type: ml.c5.xlarge\n", "      serverless: {memory_mb: 2048}\n"),
     "monitoring.endpoints.churn: serverless endpoints capture no data, so Model Monitor cannot watch them"),
    (("      instance_type: ml.c5.xlarge\n", "      instance_type: ml.c5.xlarge\n      data_capture: {capture: [input]}\n"),
     "monitoring.endpoints.churn.model_quality: needs serving.endpoints.churn.data_capture.capture to include output"),
    (("      reports:", "      retrain_on_violations: true\n      reports:"),
     "monitoring.endpoints.churn.retrain_on_violations: needs a training pipeline of model 'churn' (training.pipelines)"),
    (("monitoring:\n  endpoints:", "monitoring:\n  engine: processing\n  endpoints:"),
     "monitoring.endpoints.churn.data_quality.headers: the processing engine needs the captured CSV's column names"),
    (("monitoring:\n  endpoints:", "monitoring:\n  engine: spark\n  endpoints:"),
     "monitoring.engine: "),
    (("      reports:", "      baselines_from_served_version: true\n      reports:"),
     "monitoring.endpoints.churn.baselines_from_served_version: needs serving.endpoints.churn.version, a registry "
     "version of a model the training pipelines train"),
    (("      data_quality:\n", "      data_quality:\n        schedule: weekly\n"),
     "monitoring.endpoints.churn.data_quality.schedule: schedule 'weekly' is not one Model Monitor runs"),
    (("  endpoints:\n    churn:\n      reports", "  endpoints: {}\n  unused:\n    churn:\n      reports"),
     "monitoring.endpoints: "),
])
def test_monitoring_mistakes_name_their_key_path(tmp_path, change, expected):
    text = MONITORING + MODEL_QUALITY
    assert change[0] in text
    problems = problems_of(write(tmp_path, MINIMAL.format(env="dev") + text.replace(*change, 1)))
    assert problems and problems[0].startswith(expected), problems


LABELING = """\
labeling:
  workforce:
    teams: {annotators: {}}
  task:
    input: {zone: raw, prefix: labeling/images/}
    output: {zone: curated, prefix: labeling/labels/}
    labels: [cat, dog]
"""


def test_labeling_section_loads_and_its_mistakes_name_their_key_path(tmp_path):
    config = load_environment(write(tmp_path, MINIMAL.format(env="dev") + LABELING))
    assert config.labeling.workforce.kind == "cognito" and config.labeling.task.labels == ("cat", "dog")
    problems = problems_of(write(tmp_path, MINIMAL.format(env="dev") + LABELING.replace("[cat, dog]", "[cat]").replace(
        "teams: {annotators: {}}", "teams: {annotators: {}}\n    source_cidrs: [10.0.0.1/8]")))
    assert [p.split(":")[0] for p in problems] == ["labeling.workforce.source_cidrs[0]", "labeling.task.labels"]


# -- lifecycle classes of zones that are read --------------------------------------------------------

ARCHIVE_LIFECYCLE = """\
data_lake:
  lifecycle:
    transitions: [{storage_class: GLACIER_IR, days: 90}, {storage_class: DEEP_ARCHIVE, days: 365}]
"""


def _lake(lifecycle: str = "", zones: str = "") -> str:
    return MINIMAL.format(env="dev") + "data_lake:\n" + lifecycle + zones


@pytest.mark.parametrize("storage_class", READABLE_CLASSES)
def test_readable_classes_are_accepted_for_every_zone(tmp_path, storage_class):
    transition = f"{{storage_class: {storage_class}, days: 30}}"
    text = _lake(f"  lifecycle: {{transitions: [{transition}]}}\n",
                 f"  zone_lifecycle: {{raw: {{transitions: [{transition}]}}}}\n")
    lake = load_environment(write(tmp_path, text)).data_lake
    assert lake.lifecycle.transitions[0].storage_class == storage_class


@pytest.mark.parametrize("storage_class", ARCHIVE_CLASSES)
def test_archive_class_in_the_lifecycle_of_read_zones_is_refused(tmp_path, storage_class):
    text = _lake(f"  lifecycle:\n    transitions: [{{storage_class: {storage_class}, days: 120}}]\n")
    assert problems_of(write(tmp_path, text)) == [
        f"data_lake.lifecycle.transitions[0].storage_class: {storage_class} after 120 days makes objects "
        "unreadable until restored, and it applies to zones raw, processed, curated, artifacts, which the "
        "platform reads; allowed: STANDARD_IA, INTELLIGENT_TIERING, ONEZONE_IA, GLACIER_IR"
    ]


@pytest.mark.parametrize("zone", [z.value for z in Zone])
@pytest.mark.parametrize("storage_class", ARCHIVE_CLASSES)
def test_archive_class_in_a_zone_lifecycle_is_refused_naming_the_zone(tmp_path, zone, storage_class):
    text = _lake(zones=f"  zone_lifecycle:\n    {zone}:\n      transitions: [{{storage_class: {storage_class}, days: 1}}]\n")
    [problem] = problems_of(write(tmp_path, text))
    assert problem.startswith(
        f"data_lake.zone_lifecycle.{zone}.transitions[0].storage_class: {storage_class} after 1 days makes objects "
        f"unreadable until restored, and {zone} is read by {ZONE_READERS[Zone(zone)]}; allowed: "
    ), problem


def test_each_archive_transition_is_one_line_and_an_unused_lifecycle_is_not_checked(tmp_path):
    every_zone = "".join(f"    {z.value}: {{}}\n" for z in Zone)
    assert load_environment(write(tmp_path, MINIMAL.format(env="dev") + ARCHIVE_LIFECYCLE + "  zone_lifecycle:\n"
                                  + every_zone)).data_lake.zone_lifecycle.keys() == set(Zone)
    text = (MINIMAL.format(env="dev") + ARCHIVE_LIFECYCLE.replace("{storage_class: GLACIER_IR, days: 90}",
                                                                  "{storage_class: GLACIER, days: 90}")
            + "  zone_lifecycle:\n    raw: {}\n")
    problems = problems_of(write(tmp_path, text))
    assert [p.split(":")[0] for p in problems] == [
        "data_lake.lifecycle.transitions[0].storage_class", "data_lake.lifecycle.transitions[1].storage_class"
    ]
    assert "it applies to zones processed, curated, artifacts," in problems[0]


@pytest.mark.parametrize("path", sorted(CONFIG_DIR.glob("*.yaml")), ids=lambda p: p.name)
def test_committed_lake_lifecycles_keep_read_zones_readable(path):
    import yaml

    from ml_platform.config import DataLakeSettings

    lake = DataLakeSettings.model_validate(yaml.safe_load(path.read_text()).get("data_lake", {}))
    assert lake.problems() == []


# -- services of the region -------------------------------------------------------------------------


def test_a_section_whose_service_the_region_lacks_is_named(tmp_path):
    zurich = MINIMAL.format(env="dev").replace("eu-west-1", "eu-central-2")
    assert load_environment(write(tmp_path, zurich + CATALOG)).region == "eu-central-2"
    [problem] = problems_of(write(tmp_path, zurich + CATALOG + BREW))
    assert problem.startswith(
        "data_catalog.databrew: needs AWS Glue DataBrew (databrew), which region 'eu-central-2' does not offer; "
        "regions that do: af-south-1, "
    ), problem


def test_a_region_botocore_does_not_know_is_refused(tmp_path):
    [problem] = problems_of(write(tmp_path, MINIMAL.format(env="dev").replace("eu-west-1", "eu-west-9")))
    assert problem.startswith("region: not a region in the endpoint data of botocore "), problem
    assert problem.endswith("(got 'eu-west-9')")


def test_alerts_are_one_section_for_the_environment(tmp_path):
    """Subscriptions live in the environment's one ``alerts`` section; a bad address names its key."""
    [problem] = problems_of(write(tmp_path, MINIMAL.format(env="dev") + "alerts:\n  emails: [ops]\n"))
    assert problem.startswith("alerts.emails[0]: "), problem
    [problem] = problems_of(write(tmp_path, MINIMAL.format(env="dev") + "alerts:\n  https_endpoints: [http://x.example.com]\n"))
    assert problem.startswith("alerts.https_endpoints[0]: "), problem


@pytest.mark.parametrize(("change", "expected"), [
    (("interface_endpoints: [sagemaker_api, sagemaker_runtime, sts, logs, ecr_api, ecr_docker, featurestore_runtime]",
      "interface_endpoints: [sagemaker_api, sts, logs, ecr_api, ecr_docker, featurestore_runtime]"),
     "workbench: Studio in VPC-only mode needs network.interface_endpoints to include sagemaker_runtime "
     "(got sagemaker_api, sts, logs, ecr_api, ecr_docker, featurestore_runtime)"),
    (("  personas: {}\n", ""), "workbench.users: dana, emil need training.personas (their roles)"),
])
def test_workbench_mistakes_name_their_key_path(tmp_path, change, expected):
    text = (CONFIG_DIR / "dev.yaml").read_text()
    assert change[0] in text
    assert expected in problems_of(write(tmp_path, text.replace(*change, 1)))


# -- training.feature_store ----------------------------------------------------------------------------


def test_dev_feeds_the_churn_feature_set_offline_only():
    training = load_environment(CONFIG_DIR / "dev.yaml").training
    assert training is not None and training.feature_store is not None
    [(name, churn)] = training.feature_store.feature_sets.items()
    assert (name, churn.pipeline, churn.online) == ("churn", "churn", None)
    assert training.fed_feature_sets() == {"churn": "churn"}


@pytest.mark.parametrize(("change", "expected"), [
    ((", featurestore_runtime]", "]"),
     "training.feature_store: feature sets churn are fed by pipelines, whose Ingest steps need featurestore_runtime "
     "in network.interface_endpoints (PutRecord from the isolated subnets)"),
    (("      churn: {pipeline: churn}\n", "      churn: {pipeline: nope}\n"),
     "training: feature_store.feature_sets.churn.pipeline 'nope' is not a training pipeline (churn)"),
])
def test_feature_store_mistakes_are_one_line(tmp_path, change, expected):
    text = (CONFIG_DIR / "dev.yaml").read_text()
    assert change[0] in text
    problems = problems_of(write(tmp_path, text.replace(*change, 1)))
    assert any(expected in p for p in problems), problems


def test_a_feature_store_needs_the_data_catalog(tmp_path):
    text = (CONFIG_DIR / "dev.yaml").read_text()
    start, end = text.index("\ndata_catalog:\n"), text.index("\ntraining:\n")
    # without a catalog the churn pipeline reads ready input; an external set keeps the store
    text = text[:start] + text[end:]
    text = text.replace("      churn: {pipeline: churn}\n", "      churn:\n        record_identifier: id\n"
                        "        features: [{name: id, type: String}]\n", 1)
    problems = problems_of(write(tmp_path, text))
    assert ("training.feature_store: needs a data_catalog section (the offline stores' tables go to its curated "
            "Glue database)") in problems
