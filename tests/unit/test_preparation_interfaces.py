"""The preparation constructs in a team's own app: over ``DataLake.from_existing`` (the app's buckets
and key), imported catalog databases and keys, with their ``grant_*`` and ``metric_*`` methods."""

from __future__ import annotations

import pytest
from aws_cdk import App, RemovalPolicy, Stack
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk.assertions import Template

from ml_platform.constructs.lake import DataLake, LakeDataset
from ml_platform.constructs.preparation import (
    DataBrewDatasetSettings,
    DataBrewPipeline,
    DatasetPipeline,
    DatasetSettings,
    GlueCrawler,
    GlueSecurity,
    RawToParquetJob,
)
from ml_platform.constructs.preparation.databrew_pipeline import START_JOB_RUN_ACTIONS
from ml_platform.constructs.preparation.glue_crawler import START_ACTIONS as CRAWLER_START_ACTIONS
from ml_platform.constructs.preparation.glue_etl import START_RUN_ACTIONS
from ml_platform.constructs.preparation.glue_workflow import START_ACTIONS as WORKFLOW_START_ACTIONS
from tests.iam_eval import Resolver, permitted

ENV = {"account": "111111111111", "region": "eu-west-1"}
ARN = "arn:aws:{service}:eu-west-1:111111111111:{resource}"
KEY_ARN = ARN.format(service="kms", resource="key/team-lake-key")
LOGS_KEY_ARN = ARN.format(service="kms", resource="key/team-logs-key")
SECRET_KEY_ARN = ARN.format(service="kms", resource="key/team-secret-key")
#: What the library must never create in an app that brings its own lake and keys.
LAKE_TYPES = ("AWS::S3::Bucket", "AWS::KMS::Key", "AWS::EC2::VPC", "AWS::EC2::SecurityGroup")


class TeamApp:
    """One stack holding only what a team already has: buckets, keys and catalog databases."""

    def __init__(self) -> None:
        self.stack = Stack(App(), "Team", env=ENV)
        key = kms.Key.from_key_arn(self.stack, "LakeKey", KEY_ARN)
        buckets = {z: s3.Bucket.from_bucket_name(self.stack, f"Bucket{z}", f"team-{z}")
                   for z in ("raw", "processed", "artifacts")}
        self.lake = DataLake.from_existing(self.stack, "Lake", buckets=buckets, encryption_key=key)
        self.logs_key = kms.Key.from_key_arn(self.stack, "LogsKey", LOGS_KEY_ARN)
        self.databases = {
            z: glue.Database.from_database_arn(self.stack, f"{z}Db", ARN.format(service="glue", resource=f"database/team_{z}"))
            for z in ("raw", "processed")
        }
        self.security = GlueSecurity(self.stack, "Security", data_key=key, logs_key=self.logs_key, name="team-glue")
        self.analyst = iam.Role(self.stack, "Analyst", assumed_by=iam.AccountRootPrincipal())

    def template(self) -> dict:
        return Template.from_stack(self.stack).to_json()

    def created(self, resource_type: str) -> list[dict]:
        return [r for r in self.template()["Resources"].values() if r["Type"] == resource_type]

    def policy(self, role: iam.IRole) -> dict:
        """``role``'s policy (a construct role's managed ``policy``, else its default policy) with the
        stack's tokens resolved to fixed values."""
        policy = getattr(role, "policy", None) or role.node.find_child("DefaultPolicy")
        logical = self.stack.resolve(policy.node.default_child.logical_id)
        document = self.template()["Resources"][logical]["Properties"]["PolicyDocument"]
        return Resolver(self.stack, None, ENV)(document)


def name_of(team: TeamApp, resource) -> str:
    """What :class:`Resolver` turns the ``Ref`` (the name) of ``resource`` into: ``ref-<logical id>``."""
    cfn = getattr(resource.node, "default_child", None) or resource
    return Resolver(team.stack, None, ENV)(team.stack.resolve(cfn.ref))


def assert_nothing_of_the_lake_created(team: TeamApp) -> None:
    assert {t: team.created(t) for t in LAKE_TYPES} == {t: [] for t in LAKE_TYPES}


def s3_object(bucket: str, key: str) -> str:
    return f"arn:aws:s3:::{bucket}/{key}"


VIA_S3 = {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}


# -- DatasetPipeline, its workflow, crawlers and job ---------------------------------------------

@pytest.fixture(scope="module")
def glue_pipeline():
    team = TeamApp()
    pipeline = DatasetPipeline(
        team.stack, "Sales", dataset="sales", lake=team.lake, databases=team.databases,
        security=team.security, name_prefix="team",
        settings=DatasetSettings(format="csv", columns={"order_id": "string", "amount": "double"}),
    )
    pipeline.grant_read_output(team.analyst)
    pipeline.grant_start(team.analyst)
    pipeline.source_crawler.grant_start(team.analyst)
    pipeline.job.grant_start_run(team.analyst)
    return team, pipeline


def test_a_dataset_pipeline_over_an_existing_lake_creates_no_lake_and_crawls_its_buckets(glue_pipeline):
    team, pipeline = glue_pipeline
    assert_nothing_of_the_lake_created(team)
    paths = sorted(team.stack.resolve(c["Properties"]["Targets"]["S3Targets"][0]["Path"])
                   for c in team.created("AWS::Glue::Crawler"))
    assert paths == ["s3://team-processed/sales/", "s3://team-raw/sales/"]
    assert team.stack.resolve(pipeline.output.uri(team.lake)) == "s3://team-processed/sales/"


def test_grant_read_output_reads_exactly_the_processed_dataset(glue_pipeline):
    team, _ = glue_pipeline
    policy = team.policy(team.analyst)
    assert permitted(policy, "s3:GetObject", s3_object("team-processed", "sales/year=2024/month=01/day=02/part.parquet"))
    assert permitted(policy, "kms:Decrypt", KEY_ARN, VIA_S3)
    assert not permitted(policy, "s3:GetObject", s3_object("team-raw", "sales/a.csv"))
    assert not permitted(policy, "s3:GetObject", s3_object("team-processed", "orders/a.parquet"))
    assert not permitted(policy, "s3:PutObject", s3_object("team-processed", "sales/a.parquet"))


def test_grant_start_starts_the_workflow_only(glue_pipeline):
    team, pipeline = glue_pipeline
    policy = team.policy(team.analyst)
    workflow = ARN.format(service="glue", resource=f"workflow/{name_of(team, pipeline.workflow.workflow)}")
    assert WORKFLOW_START_ACTIONS == ("glue:StartWorkflowRun", "glue:GetWorkflowRun", "glue:GetWorkflowRuns")
    assert all(permitted(policy, action, workflow) for action in WORKFLOW_START_ACTIONS)
    assert not permitted(policy, "glue:StartWorkflowRun", ARN.format(service="glue", resource="workflow/other"))
    assert not permitted(policy, "glue:DeleteWorkflow", workflow)


def test_crawler_grant_start_names_the_crawler(glue_pipeline):
    team, pipeline = glue_pipeline
    policy = team.policy(team.analyst)
    arn = ARN.format(service="glue", resource=f"crawler/{name_of(team, pipeline.source_crawler.crawler)}")
    assert CRAWLER_START_ACTIONS == ("glue:StartCrawler", "glue:GetCrawler")
    assert all(permitted(policy, action, arn) for action in CRAWLER_START_ACTIONS)
    assert not permitted(policy, "glue:StartCrawler", ARN.format(service="glue", resource="crawler/other"))
    assert not permitted(policy, "glue:UpdateCrawler", arn)


def test_job_grant_start_run_names_the_job(glue_pipeline):
    team, pipeline = glue_pipeline
    policy = team.policy(team.analyst)
    job = ARN.format(service="glue", resource=f"job/{name_of(team, pipeline.job.job)}")
    assert START_RUN_ACTIONS == ("glue:StartJobRun", "glue:GetJobRun", "glue:GetJobRuns")
    assert all(permitted(policy, action, job) for action in START_RUN_ACTIONS)
    assert not permitted(policy, "glue:StartJobRun", ARN.format(service="glue", resource="job/other"))
    assert not permitted(policy, "glue:UpdateJob", job)


def test_job_metrics_are_the_glue_job_metrics_it_publishes_and_create_nothing(glue_pipeline):
    team, pipeline = glue_pipeline
    rules_before = len(team.created("AWS::Events::Rule"))
    elapsed, failed = pipeline.job.metric_elapsed_time(), pipeline.job.metric_failed_tasks()
    dimensions = {"JobName": pipeline.job.job.node.default_child.ref, "JobRunId": "ALL", "Type": "count"}
    assert (elapsed.namespace, elapsed.metric_name, elapsed.statistic) == ("Glue", "glue.driver.aggregate.elapsedTime", "Maximum")
    assert (failed.namespace, failed.metric_name, failed.statistic) == ("Glue", "glue.driver.aggregate.numFailedTasks", "Sum")
    resolve = team.stack.resolve
    assert resolve(elapsed.dimensions) == resolve(dimensions) == resolve(failed.dimensions)
    assert pipeline.job.metric_failed_tasks(statistic="Maximum").statistic == "Maximum"
    # the metrics exist only because the job turns them on
    arguments = team.created("AWS::Glue::Job")[0]["Properties"]["DefaultArguments"]
    assert arguments["--enable-metrics"] == ""
    assert len(team.created("AWS::Events::Rule")) == rules_before


def test_databases_without_the_target_zone_are_refused_in_one_line():
    team = TeamApp()
    with pytest.raises(ValueError, match=(
        r"^DatasetPipeline Team/Sales: databases has no database for zone 'processed' "
        r"\(the target zone of sales\); it has 'raw'$"
    )):
        DatasetPipeline(
            team.stack, "Sales", dataset="sales", lake=team.lake, databases={"raw": team.databases["raw"]},
            security=team.security, name_prefix="team",
            settings=DatasetSettings(format="csv", columns={"order_id": "string"}),
        )


def test_a_standalone_crawler_and_job_take_any_bucket_key_and_database():
    team = TeamApp()
    bucket, key = team.lake.bucket("raw"), team.lake.encryption_key
    crawler = GlueCrawler(team.stack, "Crawler", bucket=bucket, prefix="sales/", data_key=key,
                          database=team.databases["raw"], security=team.security,
                          classifiers=("team-csv",))
    RawToParquetJob(team.stack, "Job", source_database=team.databases["raw"], source_table="sales",
                    source_bucket=bucket, source_prefix="sales/", target_bucket=team.lake.bucket("processed"),
                    target_prefix="sales/", data_key=key, security=team.security, columns={"a": "string"})
    assert_nothing_of_the_lake_created(team)
    assert team.created("AWS::Glue::Crawler")[0]["Properties"]["Classifiers"] == ["team-csv"]
    assert crawler.table_name == "sales"


# -- GlueSecurity's logs key --------------------------------------------------------------------

def _logs_statement(stack: Stack, key: kms.Key) -> list[dict]:
    logical = stack.resolve(key.node.default_child.logical_id)
    statements = Template.from_stack(stack).to_json()["Resources"][logical]["Properties"]["KeyPolicy"]["Statement"]
    return [s for s in statements if s.get("Sid") == "AllowCloudWatchLogsOfThisAccount"]


def test_a_logs_key_of_the_app_is_opened_to_cloudwatch_logs_and_an_imported_one_is_left_alone():
    stack = Stack(App(), "Team", env=ENV)
    data_key = kms.Key.from_key_arn(stack, "LakeKey", KEY_ARN)
    own = kms.Key(stack, "OwnLogsKey")
    GlueSecurity(stack, "Own", data_key=data_key, logs_key=own, name="own-glue")
    GlueSecurity(stack, "Imported", data_key=data_key, name="imported-glue",
                 logs_key=kms.Key.from_key_arn(stack, "LogsKey", LOGS_KEY_ARN))
    [statement] = _logs_statement(stack, own)
    assert statement["Principal"] == {"Service": "logs.eu-west-1.amazonaws.com"}
    assert len(Template.from_stack(stack).find_resources("AWS::KMS::Key")) == 1  # only the app's own


# -- DataBrewPipeline ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def brew():
    team = TeamApp()
    secret_key = kms.Key.from_key_arn(team.stack, "SecretKey", SECRET_KEY_ARN)
    secret = secretsmanager.Secret.from_secret_attributes(
        team.stack, "Secret", encryption_key=secret_key,
        secret_complete_arn=ARN.format(service="secretsmanager", resource="secret:team-pii-AbCdEf"),
    )
    pipeline = DataBrewPipeline(
        team.stack, "Customers", dataset="customers", lake=team.lake, secret=secret, logs_key=team.logs_key,
        name_prefix="team", removal_policy=RemovalPolicy.RETAIN,
        settings=DataBrewDatasetSettings(format="csv", recipe=[{"action": "hash", "columns": ["email"]}]),
    )
    pipeline.grant_start_job_runs(team.analyst)
    pipeline.grant_read_output(team.analyst)
    return team, pipeline


def test_a_databrew_pipeline_over_an_existing_lake_profiles_into_its_artifacts_bucket(brew):
    team, pipeline = brew
    assert_nothing_of_the_lake_created(team)
    [profile] = [j for j in team.created("AWS::DataBrew::Job") if j["Properties"]["Type"] == "PROFILE"]
    assert profile["Properties"]["OutputLocation"]["Bucket"] == "team-artifacts"
    assert profile["Properties"]["EncryptionKeyArn"] == KEY_ARN
    writes = team.policy(pipeline.profile_role)
    assert permitted(writes, "s3:PutObject", s3_object("team-artifacts", "databrew-profiles/customers/report.json"))


def test_the_recipe_job_decrypts_the_secret_with_the_secrets_own_key(brew):
    team, pipeline = brew
    policy = team.policy(pipeline.recipe_role)
    via_secrets_manager = {"kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com"}
    assert permitted(policy, "kms:Decrypt", SECRET_KEY_ARN, via_secrets_manager)
    assert not permitted(policy, "kms:Decrypt", KEY_ARN, via_secrets_manager)


def test_grant_start_job_runs_names_both_jobs_only(brew):
    team, pipeline = brew
    policy = team.policy(team.analyst)
    jobs = [ARN.format(service="databrew", resource=f"job/team-customers-{kind}") for kind in ("recipe", "profile")]
    assert Resolver(team.stack, None, ENV)(team.stack.resolve(pipeline.job_arns)) == jobs
    assert START_JOB_RUN_ACTIONS == ("databrew:StartJobRun", "databrew:DescribeJobRun", "databrew:ListJobRuns")
    assert all(permitted(policy, action, job) for action in START_JOB_RUN_ACTIONS for job in jobs)
    assert not permitted(policy, "databrew:StartJobRun", ARN.format(service="databrew", resource="job/other"))
    assert not permitted(policy, "databrew:UpdateRecipeJob", jobs[0])


def test_databrew_grant_read_output_reads_exactly_the_recipe_output(brew):
    team, pipeline = brew
    policy = team.policy(team.analyst)
    assert pipeline.output == LakeDataset("processed", "customers/", "parquet", ("year", "month", "day"),
                                          producer="DataBrew recipe job of customers")
    assert permitted(policy, "s3:GetObject", s3_object("team-processed", "customers/year=2024/month=1/day=2/p.parquet"))
    assert not permitted(policy, "s3:GetObject", s3_object("team-raw", "customers/a.csv"))
    assert not permitted(policy, "s3:GetObject", s3_object("team-artifacts", "databrew-profiles/customers/r.json"))
