"""DqRecommendations: on a schedule, a Step Functions workflow (SDK integrations only) starts a Glue
Data Quality recommendation run on the table the dataset's pipeline writes, waits for it and writes
the recommended DQDL to the artifacts zone; each role may do only its part; failures alert."""

from __future__ import annotations

import json
import re

import botocore.session
import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Template
from botocore.validate import ParamValidator

from ml_platform.config import ConfigError, DataCatalogSettings, load_environment
from ml_platform.constructs.core.alerting import AlertPath, AlertRoutes
from ml_platform.constructs.lake.data_lake import DataLake
from ml_platform.constructs.lake.lake_locations import DAILY, LakeDataset
from ml_platform.constructs.preparation.dataset_pipeline import DatasetPipeline, DatasetSettings
from ml_platform.constructs.preparation.dq_recommendation_workflow import (
    EXTRA_MINUTES,
    FAILED_EXECUTION,
    FAILED_RUN,
    INPUT_FIELDS,
    POLL_SECONDS,
    RECOMMENDATIONS_PREFIX,
    DqRecommendationWorkflow,
    recommendations_prefix,
)
from ml_platform.constructs.preparation.dq_recommendations import (
    SCHEDULE_ATTEMPTS,
    DqRecommendations,
    RecommendationSettings,
)
from ml_platform.constructs.preparation.glue_etl import QualitySettings
from ml_platform.stacks.data_catalog_stack import DataCatalogStack
from ml_platform.stacks.data_quality_stack import DataQualityStack
from tests.conftest import assert_gates_pass, synth_gated
from tests.iam_eval import BUCKETS, LAKE_KEY_ARN, Resolver, permitted
from tests.lineage import Location, check_environment
from tests.unit.glue_fixtures import ENV, Catalog

SCHEDULE = "cron(0 4 ? * MON *)"
RULESETS = "arn:aws:glue:eu-west-1:111111111111:dataQualityRuleset/*"
GLUE = "arn:aws:glue:eu-west-1:111111111111"
VIA_S3 = {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}


def dataset(quality: dict | None = None, **extra) -> DatasetSettings:
    return DatasetSettings.model_validate({
        "format": "csv", "columns": {"order_id": "string", "amount": "double"},
        "quality": quality if quality is not None else {"recommendations": {"schedule": SCHEDULE}}, **extra})


#: The datasets :func:`build` recommends on, in order: both join one workflow.
NAMES = ("sales", "orders")


def build(settings: DatasetSettings | None = None, other: DatasetSettings | None = None):
    """Pipelines of ``sales`` (``settings``) and ``orders`` (``other``) and their recommendations,
    fed from the pipelines' hand-offs, in one workflow (timing out after the longer run)."""
    catalog = Catalog()
    pipelines, recommended = {}, {}
    for name, given in zip(NAMES, (settings or dataset(), other or dataset()), strict=True):
        pipelines[name] = DatasetPipeline(catalog.stack, name.title(), dataset=name, lake=catalog.lake,
                                          databases=catalog.databases, security=catalog.security, settings=given,
                                          name_prefix="t-dev")
        assert given.quality is not None and given.quality.recommendations is not None
        recommended[name] = given.quality.recommendations
    key = kms.Key(catalog.stack, "AlertKey", enable_key_rotation=True)
    alerts = AlertRoutes(catalog.stack, "Alerts", topic=sns.Topic(catalog.stack, "Topic", master_key=key), key=key)
    workflow = DqRecommendationWorkflow(catalog.stack, "Workflow", lake=catalog.lake, alerts=alerts,
                                        logs_key=catalog.security.logs_key,
                                        timeout_minutes=max(r.timeout_minutes for r in recommended.values()))
    recommendations = {
        name: DqRecommendations(catalog.stack, f"Recommend{name.title()}", dataset=name,
                                database=pipeline.output_database, table=pipeline.output_table, data=pipeline.output,
                                lake=catalog.lake, settings=recommended[name], workflow=workflow, alerts=alerts)
        for name, pipeline in pipelines.items()
    }
    return catalog, pipelines, workflow, recommendations


@pytest.fixture(scope="module")
def built():
    catalog, pipelines, workflow, recommendations = build()
    return catalog, pipelines, workflow, recommendations, Template.from_stack(catalog.stack)


def _definition(catalog: Catalog, template: Template) -> dict:
    """The state machine's definition with every token resolved to the names of :mod:`tests.iam_eval`."""
    (machine,) = template.find_resources("AWS::StepFunctions::StateMachine").values()
    return json.loads(_resolve(catalog, machine["Properties"]["DefinitionString"]))


def _resolve(catalog: Catalog, value):
    """``value`` of the catalog stack with the lake stack's exports (bucket names and ARNs, the key
    ARN) replaced by the fixed names of :mod:`tests.iam_eval`, then resolved by its Resolver."""
    lake_stack = Stack.of(catalog.lake)
    exports = {f"ExportsOutputFnGetAtt{lake_stack.resolve(catalog.lake.encryption_key.node.default_child.logical_id)}Arn":
               LAKE_KEY_ARN}
    for zone, name in BUCKETS.items():
        bucket = lake_stack.resolve(catalog.lake.bucket(zone).node.default_child.logical_id)
        exports |= {f"ExportsOutputRef{bucket}": name, f"ExportsOutputFnGetAtt{bucket}Arn": f"arn:aws:s3:::{name}"}

    def imports(item):
        if isinstance(item, list):
            return [imports(i) for i in item]
        if isinstance(item, dict):
            if set(item) == {"Fn::ImportValue"}:
                return next(v for k, v in exports.items() if f":{k}" in item["Fn::ImportValue"])
            return {k: imports(v) for k, v in item.items()}
        return item

    return Resolver(catalog.stack, None, ENV)(imports(value))


def _document(catalog: Catalog, template: Template, role) -> dict:
    """Every managed policy of ``role``, resolved, as one document."""
    resources = template.to_json()["Resources"]
    statements = []
    for policy in role.policies:
        document = resources[catalog.stack.resolve(policy.node.default_child.logical_id)]["Properties"]
        statements += _resolve(catalog, document["PolicyDocument"])["Statement"]
    return {"Version": "2012-10-17", "Statement": statements}


def _role_arn(catalog: Catalog, role) -> str:
    return f"arn-{catalog.stack.resolve(role.node.default_child.logical_id)}"


def _inputs(catalog: Catalog, template: Template) -> dict[str, dict]:
    """Each schedule's execution input, resolved, by its description's dataset."""
    return {s["Properties"]["Description"].rsplit(" ", 1)[-1]:
            json.loads(_resolve(catalog, s["Properties"]["Target"]["Input"]))
            for s in template.find_resources("AWS::Scheduler::Schedule").values()}


def _database_name(catalog: Catalog, zone: str) -> str:
    return f"ref-{catalog.stack.resolve(catalog.databases[zone].node.default_child.logical_id)}"


# -- settings ------------------------------------------------------------------------------------


def test_recommendations_are_off_unless_configured():
    assert dataset({"rules": ["RowCount > 0"]}).quality.recommendations is None
    assert dataset(quality={"rules": ["RowCount > 0"]}, schedule=None).quality.recommendations is None


def test_recommendation_defaults_are_small():
    settings = RecommendationSettings(schedule=SCHEDULE)
    assert (settings.workers, settings.timeout_minutes) == (2, 60)


@pytest.mark.parametrize(("recommendations", "message"), [
    ({}, "schedule"),
    ({"schedule": "rate(7 days)"}, "schedule 'rate(7 days)' must look like cron("),
    ({"schedule": "cron(0 4 * * MON *)"}, "exactly one of day-of-month and day-of-week must be '?'"),
    ({"schedule": SCHEDULE, "workers": 1}, "greater than or equal to 2"),
    ({"schedule": SCHEDULE, "workers": 300}, "less than or equal to 299"),
    ({"schedule": SCHEDULE, "timeout_minutes": 0}, "greater than or equal to 1"),
    ({"schedule": SCHEDULE, "timeout_minutes": 2881}, "less than or equal to 2880"),
    ({"schedule": SCHEDULE, "mode": "ADVANCED"}, "mode"),
])
def test_recommendation_settings_errors(recommendations, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        dataset({"recommendations": recommendations})


def test_quality_needs_rules_or_recommendations():
    with pytest.raises(ValueError, match="a ruleset needs at least one rule; give rules, or recommendations"):
        QualitySettings()
    only = QualitySettings.model_validate({"recommendations": {"schedule": SCHEDULE}})
    assert only.rules == () and not only.evaluated
    both = QualitySettings.model_validate({"rules": ["RowCount > 0"], "recommendations": {"schedule": SCHEDULE}})
    assert both.evaluated and both.document == "Rules = [\n    RowCount > 0\n]"


def test_recommendations_alone_add_no_evaluation_to_the_job(built):
    _, pipelines, _, _, template = built
    assert all(p.ruleset is None for p in pipelines.values())
    template.resource_count_is("AWS::Glue::DataQualityRuleset", 0)
    jobs = template.find_resources("AWS::Glue::Job").values()
    assert len(jobs) == len(NAMES) and not any("--dq_ruleset" in j["Properties"]["DefaultArguments"] for j in jobs)


def test_rules_and_recommendations_together_keep_the_evaluation():
    catalog, pipelines, _, _ = build(dataset({"rules": ['IsComplete "order_id"'],
                                              "recommendations": {"schedule": SCHEDULE}}))
    assert pipelines["sales"].ruleset is not None and pipelines["orders"].ruleset is None
    job = Template.from_stack(catalog.stack).to_json()["Resources"][
        catalog.stack.resolve(pipelines["sales"].job.job.node.default_child.logical_id)]
    assert job["Properties"]["DefaultArguments"]["--dq_ruleset"] == 'Rules = [\n    IsComplete "order_id"\n]'


def _arguments(catalog: Catalog, **kwargs) -> dict:
    key = kms.Key(catalog.stack, "Key")
    alerts = AlertRoutes(catalog.stack, "Alerts", topic=sns.Topic(catalog.stack, "Topic"), key=key)
    workflow = DqRecommendationWorkflow(catalog.stack, "W", lake=catalog.lake, alerts=alerts, logs_key=key,
                                        timeout_minutes=60)
    return {"dataset": "sales", "database": catalog.databases["processed"], "table": "sales",
            "data": LakeDataset("processed", "sales/", "parquet", DAILY), "lake": catalog.lake,
            "settings": RecommendationSettings(schedule=SCHEDULE), "workflow": workflow, "alerts": alerts, **kwargs}


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"dataset": "Sales"}, "dataset name 'Sales' is invalid"),
    ({"table": ""}, "table '' is empty"),
    ({"settings": RecommendationSettings(schedule=SCHEDULE, timeout_minutes=61)},
     "timeout_minutes 61 is longer than the workflow's 60; give at most 60"),
])
def test_bad_arguments_fail_in_one_line(kwargs, message):
    catalog = Catalog()
    with pytest.raises(ValueError, match=f"^DqRecommendations Catalog/R: {re.escape(message)}") as error:
        DqRecommendations(catalog.stack, "R", **_arguments(catalog, **kwargs))
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("minutes", [0, 2881])
def test_a_workflow_timeout_out_of_range_fails_in_one_line(minutes):
    catalog = Catalog()
    key = kms.Key(catalog.stack, "Key")
    alerts = AlertRoutes(catalog.stack, "Alerts", topic=sns.Topic(catalog.stack, "Topic"), key=key)
    with pytest.raises(ValueError, match=f"^DqRecommendationWorkflow Catalog/W: timeout_minutes {minutes} is out "
                                         "of range; give 1-2880$"):
        DqRecommendationWorkflow(catalog.stack, "W", lake=catalog.lake, alerts=alerts, logs_key=key,
                                 timeout_minutes=minutes)


def test_the_workflow_times_out_after_glues_longest_run_by_default():
    catalog = Catalog()
    arguments = _arguments(catalog)
    workflow = DqRecommendationWorkflow(catalog.stack, "Default", lake=catalog.lake, alerts=arguments["alerts"],
                                        logs_key=catalog.security.logs_key)
    assert workflow.timeout_minutes == 2880 and workflow.run_roles == []
    DqRecommendations(catalog.stack, "R", **{**arguments, "workflow": workflow,
                                             "settings": RecommendationSettings(schedule=SCHEDULE, timeout_minutes=2880)})
    machine = catalog.stack.resolve(workflow.state_machine.node.default_child.logical_id)
    definition = Template.from_stack(catalog.stack).to_json()["Resources"][machine]["Properties"]["DefinitionString"]
    assert json.loads(_resolve(catalog, definition))["TimeoutSeconds"] == (2880 + EXTRA_MINUTES) * 60


# -- the workflow --------------------------------------------------------------------------------


def test_the_workflow_starts_polls_and_writes(built):
    catalog, _, _, _, template = built
    template.resource_count_is("AWS::StepFunctions::StateMachine", 1)
    definition = _definition(catalog, template)
    states = definition["States"]
    assert definition["StartAt"] == "StartRun"
    assert [states["StartRun"]["Next"], states["WaitForRun"]["Next"], states["GetRun"]["Next"]] == [
        "WaitForRun", "GetRun", "RunEnded"]
    assert states["WaitForRun"] == {"Type": "Wait", "Seconds": POLL_SECONDS, "Next": "GetRun"}
    choice = states["RunEnded"]
    assert choice["Choices"][0] == {"Variable": "$.result.Status", "StringEquals": "SUCCEEDED", "Next": "WriteRuleset"}
    assert [c["StringEquals"] for c in choice["Choices"][1]["Or"]] == list(FAILED_RUN)
    assert choice["Choices"][1]["Next"] == "RunFailed" and choice["Default"] == "WaitForRun"
    assert states["RunFailed"]["Type"] == "Fail" and states["WriteRuleset"]["End"] is True
    resources = {name: s.get("Resource") for name, s in states.items() if s["Type"] == "Task"}
    assert resources == {
        "StartRun": "arn:aws:states:::aws-sdk:glue:startDataQualityRuleRecommendationRun",
        "GetRun": "arn:aws:states:::aws-sdk:glue:getDataQualityRuleRecommendationRun",
        "WriteRuleset": "arn:aws:states:::aws-sdk:s3:putObject",
    }
    assert definition["TimeoutSeconds"] == (60 + EXTRA_MINUTES) * 60
    for name in resources:
        assert states[name]["Retry"][0]["ErrorEquals"] == ["States.ALL"]


def test_the_run_takes_table_role_workers_and_timeout_from_the_execution_input(built):
    catalog, _, _, _, template = built
    start = _definition(catalog, template)["States"]["StartRun"]
    assert start["Parameters"] == {
        "DataSource": {"GlueTable": {"DatabaseName.$": "$.database", "TableName.$": "$.table"}},
        "Role.$": "$.runRole", "NumberOfWorkers.$": "$.workers", "Timeout.$": "$.timeout",
        "ClientToken.$": "$$.Execution.Name",  # idempotent: a retried start starts one run
    }
    assert start["ResultSelector"] == {"RunId.$": "$.RunId"} and start["ResultPath"] == "$.run"


def test_each_schedule_starts_the_run_on_its_pipelines_table_as_its_own_run_role(built):
    catalog, pipelines, _, recommendations, template = built
    inputs = _inputs(catalog, template)
    assert sorted(inputs) == sorted(NAMES)
    for name, pipeline in pipelines.items():
        # the hand-off: the names come from the pipeline, which are those the target crawler writes
        assert inputs[name] == {
            "dataset": name, "database": _database_name(catalog, pipeline.output.zone.value),
            "table": pipeline.output_table, "runRole": _role_arn(catalog, recommendations[name].run_role),
            "workers": 2, "timeout": 60}
        assert list(inputs[name]) == list(INPUT_FIELDS)
        assert _resolve(catalog, catalog.stack.resolve(recommendations[name].input)) == inputs[name]
        assert pipeline.output_database is catalog.databases[pipeline.output.zone.value]
        assert pipeline.output_table == pipeline.target_crawler.table_name == name
        crawler = template.to_json()["Resources"][catalog.stack.resolve(pipeline.target_crawler.crawler.logical_id)]
        assert catalog.stack.resolve(crawler["Properties"]["DatabaseName"]) == catalog.stack.resolve(
            pipeline.output_database.database_name)


def test_the_ruleset_is_written_under_the_inputs_dataset_folder(built):
    catalog, _, _, recommendations, template = built
    put = _definition(catalog, template)["States"]["WriteRuleset"]["Parameters"]
    assert recommendations["sales"].output == ("artifacts", f"{RECOMMENDATIONS_PREFIX}sales/")
    assert recommendations_prefix("sales") == "data-quality-recommendations/sales/"
    assert put == {
        "Bucket": BUCKETS["artifacts"],
        "Key.$": "States.Format('data-quality-recommendations/{}/{}.dqdl', $.dataset, $$.Execution.Name)",
        "Body.$": "$.result.RecommendedRuleset",
        "ContentType": "text/plain", "ServerSideEncryption": "aws:kms", "SSEKMSKeyId": LAKE_KEY_ARN,
    }
    assert _resolve(catalog, catalog.stack.resolve(recommendations["sales"].uri)) == (
        f"s3://{BUCKETS['artifacts']}/data-quality-recommendations/sales/")


def test_each_sdk_request_fits_botocores_model(built):
    catalog, _, _, _, template = built
    states = _definition(catalog, template)["States"]
    execution = _inputs(catalog, template)["sales"]
    session = botocore.session.get_session()
    samples = {"$$.Execution.Name": "0f4c1b7e-execution", "$.run.RunId": "dqrun-1",
               "$.result.RecommendedRuleset": "Rules = [ RowCount > 0 ]",
               **{f"$.{k}": v for k, v in execution.items()}}

    def request(parameters: dict) -> dict:
        return {k.removesuffix(".$"): (samples[v] if k.endswith(".$") and v in samples else
                                       request(v) if isinstance(v, dict) else v)
                for k, v in parameters.items()}

    for state, service, operation in (("StartRun", "glue", "StartDataQualityRuleRecommendationRun"),
                                      ("GetRun", "glue", "GetDataQualityRuleRecommendationRun"),
                                      ("WriteRuleset", "s3", "PutObject")):
        sent = request(states[state]["Parameters"])
        if state == "WriteRuleset":
            sent["Key"] = "data-quality-recommendations/sales/0f4c1b7e-execution.dqdl"
        if state == "StartRun":
            sent["Role"] = "arn:aws:iam::111111111111:role/run"
        shape = session.get_service_model(service).operation_model(operation).input_shape
        report = ParamValidator().validate(sent, shape)
        assert not report.has_errors(), (state, report.generate_report())
    assert "RecommendedRuleset" in session.get_service_model("glue").operation_model(
        "GetDataQualityRuleRecommendationRun").output_shape.members
    status = session.get_service_model("glue").shape_for("TaskStatusType").enum
    assert {"SUCCEEDED", *FAILED_RUN} <= set(status)


def test_options_reach_their_schedules_input_and_the_longest_sets_the_workflow_timeout():
    settings = dataset({"recommendations": {"schedule": SCHEDULE, "workers": 5, "timeout_minutes": 120}})
    catalog, _, workflow, _ = build(settings)
    template = Template.from_stack(catalog.stack)
    inputs = _inputs(catalog, template)
    assert (inputs["sales"]["workers"], inputs["sales"]["timeout"]) == (5, 120)
    assert (inputs["orders"]["workers"], inputs["orders"]["timeout"]) == (2, 60)
    assert workflow.timeout_minutes == 120
    assert _definition(catalog, template)["TimeoutSeconds"] == (120 + EXTRA_MINUTES) * 60


def test_each_schedule_starts_the_one_workflow_in_utc_as_the_one_scheduler_role_and_dead_letters(built):
    catalog, _, workflow, recommendations, template = built
    schedules = template.find_resources("AWS::Scheduler::Schedule")
    assert len(schedules) == len(NAMES)
    machine = catalog.stack.resolve(workflow.state_machine.node.default_child.logical_id)
    for name, item in recommendations.items():
        properties = schedules[catalog.stack.resolve(item.schedule.node.default_child.logical_id)]["Properties"]
        assert properties["Description"] == f"Recommends Data Quality rules for {name}"
        assert properties["ScheduleExpression"] == SCHEDULE and properties["ScheduleExpressionTimezone"] == "Etc/UTC"
        target = properties["Target"]
        assert target["Arn"] == {"Ref": machine}
        assert _resolve(catalog, target["RoleArn"]) == _role_arn(catalog, workflow.scheduler_role)
        assert "Arn" in target["DeadLetterConfig"]
        assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": SCHEDULE_ATTEMPTS}
    document = _document(catalog, template, workflow.scheduler_role)
    assert permitted(document, "states:StartExecution", f"ref-{machine}")
    assert not permitted(document, "states:StartExecution",
                         "arn:aws:states:eu-west-1:111111111111:stateMachine:other")
    assert {a for s in document["Statement"] for a in _actions(s) if a.startswith("states:")} == {
        "states:StartExecution"}


def _actions(statement: dict) -> list[str]:
    return [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]


def test_failed_executions_reach_the_alert_topic(built):
    catalog, _, workflow, _, template = built
    rules = [r["Properties"] for r in template.find_resources("AWS::Events::Rule").values()
             if r["Properties"]["EventPattern"].get("detail-type") == ["Step Functions Execution Status Change"]]
    (rule,) = rules
    machine = catalog.stack.resolve(workflow.state_machine.node.default_child.logical_id)
    assert rule["EventPattern"]["detail"] == {"stateMachineArn": [{"Ref": machine}], "status": list(FAILED_EXECUTION)}
    topic = catalog.stack.resolve(catalog.stack.node.find_child("Topic").node.default_child.logical_id)
    assert [t["Arn"] for t in rule["Targets"]] == [{"Ref": topic}]


def test_the_workflow_is_standard_traced_and_logs_encrypted(built):
    catalog, _, workflow, _, template = built
    (machine,) = template.find_resources("AWS::StepFunctions::StateMachine").values()
    properties = machine["Properties"]
    assert properties["StateMachineType"] == "STANDARD" and properties["TracingConfiguration"] == {"Enabled": True}
    assert properties["LoggingConfiguration"]["Level"] == "ALL"
    group = catalog.stack.resolve(workflow.log_group.node.default_child.logical_id)
    assert properties["LoggingConfiguration"]["Destinations"][0]["CloudWatchLogsLogGroup"]["LogGroupArn"] == {
        "Fn::GetAtt": [group, "Arn"]}
    assert _resolve(catalog, properties["RoleArn"]) == _role_arn(catalog, workflow.role)


# -- least privilege -----------------------------------------------------------------------------


def test_the_workflow_role_passes_exactly_its_datasets_run_roles_reads_their_tables_and_writes_their_folders(built):
    catalog, _, workflow, recommendations, template = built
    document = _document(catalog, template, workflow.role)
    for action in ("glue:StartDataQualityRuleRecommendationRun", "glue:GetDataQualityRuleRecommendationRun"):
        assert permitted(document, action, RULESETS)
    run_roles = [_role_arn(catalog, recommendations[name].run_role) for name in NAMES]
    assert [_role_arn(catalog, r) for r in workflow.run_roles] == run_roles
    passed = [s for s in document["Statement"] if s["Action"] == "iam:PassRole"]
    assert sorted(r for s in passed for r in ([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"])
                  ) == sorted(run_roles)
    assert all(s["Condition"] == {"StringEquals": {"iam:PassedToService": "glue.amazonaws.com"}} for s in passed)
    for run_role in run_roles:
        assert permitted(document, "iam:PassRole", run_role, {"iam:PassedToService": "glue.amazonaws.com"})
        assert not permitted(document, "iam:PassRole", run_role, {"iam:PassedToService": "ec2.amazonaws.com"})
    assert not permitted(document, "iam:PassRole", "arn:aws:iam::111111111111:role/other",
                         {"iam:PassedToService": "glue.amazonaws.com"})
    artifacts = f"arn:aws:s3:::{BUCKETS['artifacts']}"
    for name in NAMES:
        assert permitted(document, "s3:PutObject", f"{artifacts}/data-quality-recommendations/{name}/run.dqdl")
    assert not permitted(document, "s3:PutObject", f"{artifacts}/data-quality-recommendations/other/run.dqdl")
    assert not permitted(document, "s3:PutObject", f"{artifacts}/models/run.dqdl")
    assert not permitted(document, "s3:PutObject", f"arn:aws:s3:::{BUCKETS['processed']}/sales/x.dqdl")
    assert permitted(document, "kms:GenerateDataKey", LAKE_KEY_ARN, VIA_S3)
    assert not permitted(document, "kms:GenerateDataKey", LAKE_KEY_ARN)
    assert not permitted(document, "s3:GetObject", f"arn:aws:s3:::{BUCKETS['processed']}/sales/x.parquet")
    database = _database_name(catalog, "processed")
    for name in NAMES:
        assert permitted(document, "glue:GetTable", f"{GLUE}:table/{database}/{name}")
    assert not permitted(document, "glue:GetTable", f"{GLUE}:table/{database}/other")
    glue_actions = {a for s in document["Statement"] for a in _actions(s) if a.startswith("glue:")}
    assert glue_actions == {"glue:StartDataQualityRuleRecommendationRun",
                            "glue:GetDataQualityRuleRecommendationRun", "glue:GetTable"}


def test_each_run_role_reads_only_its_datasets_output_and_table(built):
    catalog, pipelines, _, recommendations, template = built
    processed = f"arn:aws:s3:::{BUCKETS['processed']}"
    database = _database_name(catalog, "processed")
    for name, other in (NAMES, NAMES[::-1]):
        pipeline, role = pipelines[name], recommendations[name].run_role
        trust = template.to_json()["Resources"][catalog.stack.resolve(
            role.node.default_child.logical_id)]["Properties"]["AssumeRolePolicyDocument"]
        assert trust["Statement"][0]["Principal"] == {"Service": "glue.amazonaws.com"}
        document = _document(catalog, template, role)
        assert pipeline.output.prefix == f"{name}/" and pipeline.output.zone.value == "processed"
        assert permitted(document, "s3:GetObject", f"{processed}/{name}/year=2026/month=01/day=01/part-0.parquet")
        assert not permitted(document, "s3:GetObject", f"{processed}/{other}/part-0.parquet")
        assert not permitted(document, "s3:PutObject", f"{processed}/{name}/x")
        assert permitted(document, "kms:Decrypt", LAKE_KEY_ARN, VIA_S3)
        for resource in (f"{GLUE}:catalog", f"{GLUE}:database/{database}", f"{GLUE}:table/{database}/{name}"):
            assert permitted(document, "glue:GetTable", resource)
        assert permitted(document, "glue:GetPartitions", f"{GLUE}:table/{database}/{name}")
        assert not permitted(document, "glue:GetTable", f"{GLUE}:table/{database}/{other}")
        assert not permitted(document, "glue:UpdateTable", f"{GLUE}:table/{database}/{name}")
        assert not any(a.startswith(("iam:", "states:")) for s in document["Statement"] for a in _actions(s))


# -- the data quality stack, lineage and gates ----------------------------------------------------


def _recommended(settings: DataCatalogSettings) -> dict[str, RecommendationSettings]:
    """The recommendation settings of the datasets that have them, as the stage passes them."""
    return {d: s.quality.recommendations for d, s in settings.datasets.items()
            if s.quality is not None and s.quality.recommendations is not None}


def _environment(datasets: dict) -> tuple[App, DataCatalogStack, DataQualityStack, list[Stack]]:
    app = App()
    lake_stack = Stack(app, "t-dev-DataLake", env=ENV)
    lake = DataLake(lake_stack, "DataLake")
    alerting = Stack(app, "t-dev-Alerting", env=ENV)
    path = AlertPath(alerting, "Alerts")
    settings = DataCatalogSettings.model_validate({"datasets": datasets})
    stack = DataCatalogStack(app, "t-dev-DataCatalog", lake=lake, alerts=path, settings=settings,
                             name_prefix="t-dev", allow_data_deletion=False, env=ENV)
    quality = DataQualityStack(app, "t-dev-DataQuality", lake=lake, alerts=path, pipelines=stack.pipelines,
                               recommendations=_recommended(settings), allow_data_deletion=False, env=ENV)
    return app, stack, quality, [lake_stack, alerting, stack, quality]


SALES = {"format": "csv", "columns": {"order_id": "string"}}
RECOMMENDED = {**SALES, "quality": {"recommendations": {"schedule": SCHEDULE}}}


def test_the_data_quality_stack_recommends_on_the_tables_of_the_catalog_stacks_pipelines():
    _, stack, quality, _ = _environment({
        "sales": RECOMMENDED,
        "orders": {**SALES, "quality": {"rules": ["RowCount > 0"]}},
        "events": SALES,
    })
    assert list(quality.recommendations) == ["sales"]
    recommendations = quality.recommendations["sales"]
    assert recommendations.table == stack.pipelines["sales"].output_table
    assert recommendations.database_name == stack.pipelines["sales"].output_database.database_name
    assert recommendations.workflow is quality.workflow
    assert quality.catalog_stacks == [stack] and stack in quality.dependencies
    Template.from_stack(quality).resource_count_is("AWS::StepFunctions::StateMachine", 1)
    # the DataCatalog stack holds none of it (its group sizes were measured without them)
    catalog = Template.from_stack(stack)
    for kind in ("AWS::StepFunctions::StateMachine", "AWS::Scheduler::Schedule"):
        catalog.resource_count_is(kind, 0)


#: Resources of a DataQuality stack: shared (logs key, dead-letter queue with its policy and
#: alarm; the workflow's state machine, log group, failure rule, role and scheduler role with a
#: managed policy each) and per dataset (run role, its managed policy, schedule).
SHARED = {"AWS::KMS::Key": 1, "AWS::SQS::Queue": 1, "AWS::SQS::QueuePolicy": 1, "AWS::CloudWatch::Alarm": 1,
          "AWS::StepFunctions::StateMachine": 1, "AWS::Logs::LogGroup": 1, "AWS::Events::Rule": 1,
          "AWS::IAM::Role": 2, "AWS::IAM::ManagedPolicy": 2}
PER_DATASET = {"AWS::IAM::Role": 1, "AWS::IAM::ManagedPolicy": 1, "AWS::Scheduler::Schedule": 1}


@pytest.mark.parametrize("count", [1, 3])
def test_one_workflow_per_stack_and_a_run_role_and_schedule_per_dataset(count):
    names = [f"ds{n}" for n in range(count)]
    _, _, quality, _ = _environment({name: RECOMMENDED for name in names})
    template = Template.from_stack(quality)
    resources = template.to_json()["Resources"].values()
    expected = {kind: SHARED.get(kind, 0) + count * PER_DATASET.get(kind, 0) for kind in {*SHARED, *PER_DATASET}}
    assert {kind: sum(r["Type"] == kind for r in resources) for kind in expected} == expected
    assert len(resources) == sum(expected.values())
    assert list(quality.recommendations) == names
    assert all(r.workflow is quality.workflow for r in quality.recommendations.values())
    assert quality.workflow is not None and len(quality.workflow.run_roles) == count


def test_the_data_quality_stack_encrypts_logs_with_its_own_key_and_alerts_on_its_own_routes():
    _, _, quality, _ = _environment({"sales": RECOMMENDED, "orders": RECOMMENDED})
    template = Template.from_stack(quality)
    key = quality.resolve(quality.key.node.default_child.logical_id)
    (group,) = template.find_resources("AWS::Logs::LogGroup").values()
    assert group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": [key, "Arn"]}
    (policy,) = [s for s in template.to_json()["Resources"][key]["Properties"]["KeyPolicy"]["Statement"]
                 if s.get("Sid") == "AllowCloudWatchLogsOfThisAccount"]
    assert policy["Principal"] == {"Service": "logs.eu-west-1.amazonaws.com"}
    assert quality.workflow is not None and quality.alerts.rules == [quality.workflow.failed]
    template.resource_count_is("AWS::SQS::Queue", 1)  # the schedules' dead-letter queue, of this stack


def test_the_workflow_times_out_after_the_stacks_longest_run():
    _, _, quality, _ = _environment({
        "sales": RECOMMENDED,
        "orders": {**SALES, "quality": {"recommendations": {"schedule": SCHEDULE, "timeout_minutes": 240}}}})
    assert quality.workflow is not None and quality.workflow.timeout_minutes == 240
    (machine,) = Template.from_stack(quality).find_resources("AWS::StepFunctions::StateMachine").values()
    assert f'\\"TimeoutSeconds\\":{(240 + EXTRA_MINUTES) * 60}' in json.dumps(machine["Properties"]["DefinitionString"])


def test_the_run_roles_description_is_plain_text():
    _, _, quality, _ = _environment({"sales": RECOMMENDED})
    role = quality.recommendations["sales"].run_role.node.default_child
    assert quality.resolve(role.description) == (
        "Glue Data Quality recommendation runs on the processed table of dataset sales")


def test_a_recommended_dataset_without_a_pipeline_is_refused_in_one_line():
    app = App()
    lake = DataLake(Stack(app, "Lake", env=ENV), "DataLake")
    path = AlertPath(Stack(app, "Alerting", env=ENV), "Alerts")
    with pytest.raises(ValueError) as caught:
        DataQualityStack(app, "Quality", lake=lake, alerts=path, pipelines={},
                         recommendations={"sales": RecommendationSettings(schedule=SCHEDULE)},
                         allow_data_deletion=False, env=ENV)
    assert str(caught.value) == ("DataQualityStack Quality: recommendations: dataset 'sales' has no Glue "
                                 "pipeline; datasets with pipelines: none")


def test_lineage_sees_each_schedules_run_read_its_table_and_the_workflow_write_its_folder():
    app, _, quality, stacks = _environment({"sales": RECOMMENDED, "orders": RECOMMENDED})
    assembly = app.synth()
    templates = {s.stack_name: assembly.get_stack_by_name(s.stack_name).template for s in stacks}
    report = check_environment("dev", templates)
    assert not report.problems, "\n".join(map(str, report.problems))
    machine = [a for a in report.accesses if a.type == "AWS::StepFunctions::StateMachine"]
    roles = {name: quality.resolve(r.run_role.node.default_child.logical_id)
             for name, r in quality.recommendations.items()}
    assert quality.workflow is not None
    workflow_role = quality.resolve(quality.workflow.role.node.default_child.logical_id)
    assert {(a.mode, a.location, a.role) for a in machine} == {
        ("read", Location("processed", "sales/"), f"role:{roles['sales']}"),
        ("read", Location("processed", "orders/"), f"role:{roles['orders']}"),
        ("write", Location("artifacts", "data-quality-recommendations/sales/"), f"role:{workflow_role}"),
        ("write", Location("artifacts", "data-quality-recommendations/orders/"), f"role:{workflow_role}"),
    }
    # the written prefixes lie outside every location a crawler catalogs
    crawled = [a.location for a in report.accesses if a.type == "AWS::Glue::Crawler"]
    for name in ("sales", "orders"):
        written = Location("artifacts", f"data-quality-recommendations/{name}/")
        assert not any(written.hands_over_to(c) or c.hands_over_to(written) for c in crawled)


def test_lineage_refuses_a_workflow_input_no_schedule_gives():
    app, _, quality, stacks = _environment({"sales": RECOMMENDED})
    assembly = app.synth()
    templates = {s.stack_name: json.loads(json.dumps(assembly.get_stack_by_name(s.stack_name).template))
                 for s in stacks}
    resources = templates["t-dev-DataQuality"]["Resources"]
    (schedule,) = [r for r in resources.values() if r["Type"] == "AWS::Scheduler::Schedule"]
    target = schedule["Properties"]["Target"]
    parts = target["Input"]["Fn::Join"][1]
    target["Input"]["Fn::Join"][1] = [p.replace('"table"', '"tableName"') if isinstance(p, str) else p for p in parts]
    problems = [str(p) for p in check_environment("dev", templates).problems]
    assert any("the execution input has no 'table'" in p for p in problems), problems
    resources = {k: v for k, v in resources.items() if v["Type"] != "AWS::Scheduler::Schedule"}
    templates["t-dev-DataQuality"]["Resources"] = resources
    problems = [str(p) for p in check_environment("dev", templates).problems]
    assert any("comes from the execution input and no schedule of the templates starts this state machine" in p
               for p in problems), problems


@pytest.fixture(scope="module")
def gated(tmp_path_factory):
    def build_in(stage):
        lake = DataLake(Stack(stage, "Lake", env=ENV), "DataLake")
        path = AlertPath(Stack(stage, "Alerting", env=ENV), "Alerts")
        settings = DataCatalogSettings.model_validate(
            {"datasets": {"sales": RECOMMENDED, "orders": RECOMMENDED}})
        catalog = DataCatalogStack(stage, "Catalog", lake=lake, alerts=path, name_prefix="t-dev",
                                   allow_data_deletion=False, env=ENV, settings=settings)
        DataQualityStack(stage, "Quality", lake=lake, alerts=path, pipelines=catalog.pipelines,
                         recommendations=_recommended(settings), allow_data_deletion=False, env=ENV)
    return synth_gated(tmp_path_factory.mktemp("dq-recommendations-gated"), build_in)


def test_the_gates_pass(gated):
    assert_gates_pass(gated)


CONFIG = """\
account: "123456789012"
region: eu-west-1
prefix: acme-ml
tags: {project: churn, environment: dev, owner: data-team, cost_center: "4711"}
data_catalog:
  datasets:
    sales:
      format: csv
      columns: {order_id: string}
      quality:
        recommendations: %s
"""


def test_a_config_file_turns_recommendations_on(tmp_path):
    path = tmp_path / "dev.yaml"
    path.write_text(CONFIG % '{schedule: "cron(0 4 ? * MON *)", workers: 3}')
    quality = load_environment(path).data_catalog.datasets["sales"].quality
    assert quality.rules == () and quality.recommendations == RecommendationSettings(schedule=SCHEDULE, workers=3)


@pytest.mark.parametrize(("value", "expected"), [
    ('{schedule: "cron(0 4 * * * *)"}', "data_catalog.datasets.sales.quality.recommendations.schedule: "
                                        "schedule 'cron(0 4 * * * *)' "),
    ('{schedule: "cron(0 4 ? * MON *)", workers: 0}', "data_catalog.datasets.sales.quality.recommendations.workers: "),
    ("{}", "data_catalog.datasets.sales.quality.recommendations.schedule: "),
])
def test_config_mistakes_name_their_key_path_in_one_line(tmp_path, value, expected):
    path = tmp_path / "dev.yaml"
    path.write_text(CONFIG % value)
    with pytest.raises(ConfigError) as caught:
        load_environment(path)
    [line] = str(caught.value).splitlines()
    assert line.startswith(f"{path}: {expected}"), line
