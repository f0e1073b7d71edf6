"""``RawToParquetJob``: the Glue PySpark job that turns a raw dataset into typed, partitioned Parquet.

Built on the stable ``aws_glue.PySparkEtlJob``. The script (``ml_platform/jobs/glue/
raw_to_parquet``) reads new raw data through the catalog (job bookmarks), casts the configured
columns, evaluates the dataset's Data Quality rules and writes Parquet partitioned by
year/month/day under the target prefix.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from aws_cdk import Duration, Fn, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct
from pydantic import Field, field_validator, model_validator

from ml_platform.constructs.core.compliance import acknowledge_wildcard_resource
from ml_platform.constructs.preparation.dq_recommendations import RecommendationSettings
from ml_platform.constructs.preparation.dqdl import ruleset_document, ruleset_problems
from ml_platform.constructs.preparation.glue_code import ScriptAsset
from ml_platform.constructs.preparation.glue_security import GlueSecurity
from ml_platform.constructs.core.iam_roles import ManagedPolicyRole
from ml_platform.constructs.lake.s3_grants import check_prefix, grant_read_prefix, grant_write_prefix
from ml_platform.constructs.core.validation import StrictSettings, check_problems
from ml_platform.jobs.glue.raw_to_parquet import raw_to_parquet_logic as logic
from ml_platform.runtime import JOBS_DIR

SCRIPT_DIR = JOBS_DIR / "glue" / "raw_to_parquet"
#: Glue version of the job: Spark 3.5, Python 3.11.
GLUE_VERSION = glue.GlueVersion.V5_1
#: Default retention of a job's log groups.
DEFAULT_LOG_RETENTION = logs.RetentionDays.ONE_YEAR
#: What :meth:`RawToParquetJob.grant_start_run` allows on the job.
START_RUN_ACTIONS = ("glue:StartJobRun", "glue:GetJobRun", "glue:GetJobRuns")
_WORKER_TYPES = {"G.1X": glue.WorkerType.G_1X, "G.2X": glue.WorkerType.G_2X,
                 "G.4X": glue.WorkerType.G_4X, "G.8X": glue.WorkerType.G_8X}


class JobSettings(StrictSettings):
    """Size and limits of a job run.

    :ivar worker_type: ``G.1X`` (default, 4 vCPU, 16 GB), ``G.2X``, ``G.4X`` or ``G.8X``.
    :ivar workers: number of workers, 2-299. Default: 2.
    :ivar timeout_minutes: a run is stopped after this long, 1-2880. Default: 60.
    :ivar max_retries: retries of a failed run, 0-10. Default: 0.
    """

    worker_type: Literal["G.1X", "G.2X", "G.4X", "G.8X"] = "G.1X"
    workers: Annotated[int, Field(ge=2, le=299)] = 2
    timeout_minutes: Annotated[int, Field(ge=1, le=2880)] = 60
    max_retries: Annotated[int, Field(ge=0, le=10)] = 0


class QualitySettings(StrictSettings):
    """Data Quality rules evaluated by the job before it writes, and rules recommended for review.

    :ivar rules: DQDL rules, one per item, e.g. ``IsComplete "order_id"``. At least one, unless
        ``recommendations`` is given (then none means no evaluation yet). Default: none.
    :ivar on_failure: ``fail`` (default: a failed rule fails the run and nothing is written) or
        ``log`` (failures are logged and published to CloudWatch; the data is written).
    :ivar recommendations: scheduled Glue Data Quality rule recommendations on the output table,
        written to the lake for a person to adopt into ``rules``
        (:class:`~ml_platform.constructs.preparation.dq_recommendations.RecommendationSettings`).
        Default: none.
    """

    rules: Annotated[tuple[str, ...], Field(strict=False)] = ()
    on_failure: Literal["fail", "log"] = "fail"
    recommendations: RecommendationSettings | None = None

    @field_validator("rules")
    @classmethod
    def _check_rules(cls, rules: tuple[str, ...]) -> tuple[str, ...]:
        problems = ruleset_problems(rules) if rules else []
        if problems:
            raise ValueError("invalid DQDL: " + "; ".join(problems))
        return rules

    @model_validator(mode="after")
    def _rules_or_recommendations(self) -> QualitySettings:
        if not self.rules and self.recommendations is None:
            raise ValueError("invalid DQDL: a ruleset needs at least one rule; give rules, or recommendations "
                             "to have rules recommended for review first")
        return self

    @property
    def evaluated(self) -> bool:
        """Whether the job evaluates rules (there is at least one)."""
        return bool(self.rules)

    @property
    def document(self) -> str:
        """The DQDL ruleset document.

        :raises ValueError: when there are no rules (only recommendations).
        """
        return ruleset_document(self.rules)


class RawToParquetJob(Construct):
    """A Glue job from a raw catalog table to partitioned Parquet under a target prefix.

    :param source_database: catalog database of the raw table (read only).
    :param source_table: the raw table, written by the raw crawler.
    :param source_bucket: bucket the raw table's data lives in; ``source_prefix`` its prefix.
    :param target_bucket: bucket of the output; ``target_prefix`` its prefix (e.g. ``sales/``).
    :param data_key: key of both buckets (decrypt source, encrypt output).
    :param security: Glue security configuration (S3 output, logs and bookmarks encryption).
    :param columns: output columns in order, name to Spark SQL type (``string``, ``double``,
        ``timestamp``, ``decimal(10,2)``, ...). ``year``, ``month`` and ``day`` are added.
    :param settings: worker type and count, timeout, retries. Default: ``JobSettings()``.
    :param quality: Data Quality rules and failure action. Default: none, no evaluation (also
        when it holds only recommendations, which the job does not run).
    :param job_name: Default: generated by CloudFormation.
    :param log_retention: of the job's log groups. Default: one year.
    :param removal_policy: of the log groups. Default: RETAIN.

    Defaults: Glue :data:`GLUE_VERSION`, job bookmarks on, metrics, observability metrics and
    continuous logging on, one concurrent run.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        source_database: glue.IDatabase,
        source_table: str,
        source_bucket: s3.IBucket,
        source_prefix: str,
        target_bucket: s3.IBucket,
        target_prefix: str,
        data_key: kms.IKey,
        security: GlueSecurity,
        columns: Mapping[str, str],
        settings: JobSettings | None = None,
        quality: QualitySettings | None = None,
        job_name: str | None = None,
        log_retention: logs.RetentionDays = DEFAULT_LOG_RETENTION,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        settings = settings or JobSettings()
        problems = [
            f"columns: {p}"
            for name, column_type in columns.items()
            if (p := logic.column_name_problem(name) or logic.column_type_problem(column_type))
        ]
        if not columns:
            problems.append("columns: at least one column is needed")
        for label, prefix in (("source_prefix", source_prefix), ("target_prefix", target_prefix)):
            try:
                check_prefix(prefix)
            except ValueError as error:
                problems.append(f"{label}: {error}")
        check_problems(f"RawToParquetJob {self.node.path}", problems)
        stack = Stack.of(self)

        self.role = ManagedPolicyRole.for_service(
            self, "Role", service="glue.amazonaws.com", description=f"Glue job {source_table} raw to Parquet ({self.node.path})"
        )
        grant_read_prefix(self.role, source_bucket, data_key, source_prefix)
        # Spark removes its temporary files under the output prefix after committing.
        grant_write_prefix(self.role, target_bucket, data_key, target_prefix, allow_delete=True)
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["glue:GetDatabase", "glue:GetTable", "glue:GetPartition",
                         "glue:GetPartitions", "glue:BatchGetPartition"],
                resources=[
                    stack.format_arn(service="glue", resource="catalog"),
                    source_database.database_arn,
                    stack.format_arn(service="glue", resource="table",
                                     resource_name=f"{source_database.database_name}/{source_table}"),
                ],
            )
        )
        security.grant_encryption(self.role)
        evaluated = quality is not None and quality.evaluated
        self._grant_metrics(evaluated)

        logs_prefix = Fn.join("", ["/aws-glue/jobs/", security.name, "-role/", self.role.role_name])
        for stream in ("output", "error"):
            security.log_group(
                self, f"{stream.title()}Logs", name=Fn.join("", [logs_prefix, f"/{stream}"]),
                writer=self.role, retention=log_retention, removal_policy=removal_policy,
            )
        self.log_group = security.log_group(
            self, "ContinuousLogs", name=Fn.join("", [logs_prefix, "/continuous"]),
            writer=self.role, retention=log_retention, removal_policy=removal_policy,
        )

        arguments = {
            "--source_database": source_database.database_name,
            "--source_table": source_table,
            "--target_path": f"s3://{target_bucket.bucket_name}/{target_prefix}",
            "--columns": json.dumps([[name, t] for name, t in columns.items()]),
            "--job-bookmark-option": "job-bookmark-enable",
        }
        if quality is not None and evaluated:
            arguments |= {"--dq_ruleset": quality.document, "--dq_on_failure": quality.on_failure}
        self.job = glue.PySparkEtlJob(
            self,
            "Job",
            job_name=job_name,
            description=f"{source_table}: raw to typed Parquet partitioned by year/month/day",
            # pyright only: jsii renames the interface's parameters (aws/aws-cdk#15584)
            role=self.role,  # pyright: ignore[reportArgumentType]
            script=ScriptAsset(SCRIPT_DIR / "raw_to_parquet.py"),
            # The folder, zipped: the script imports raw_to_parquet_logic from it by name.
            extra_python_files=[ScriptAsset(SCRIPT_DIR)],
            glue_version=GLUE_VERSION,
            worker_configuration=glue.WorkerConfiguration(
                worker_type=_WORKER_TYPES[settings.worker_type],
                number_of_workers=settings.workers,
            ),
            timeout=Duration.minutes(settings.timeout_minutes),
            max_retries=settings.max_retries,
            max_concurrent_runs=1,
            security_configuration=security.configuration,
            enable_metrics=True,
            enable_observability_metrics=True,
            continuous_logging=glue.ContinuousLoggingProps(enabled=True, log_group=self.log_group),
            default_arguments=arguments,
        )
        self.quality = quality

    def _grant_metrics(self, data_quality: bool) -> None:
        namespaces = ["Glue"] + (["Glue Data Quality"] if data_quality else [])
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": namespaces}},
            )
        )
        acknowledge_wildcard_resource(
            self.role,
            "*",
            "cloudwatch:PutMetricData has no resource-level permissions; the statement is limited "
            f"to the namespaces {', '.join(namespaces)} by the cloudwatch:namespace condition.",
        )
        if data_quality:
            rulesets = Stack.of(self).format_arn(
                service="glue", resource="dataQualityRuleset", resource_name="*"
            )
            self.role.add_to_principal_policy(
                iam.PolicyStatement(actions=["glue:PublishDataQuality"], resources=[rulesets])
            )
            acknowledge_wildcard_resource(
                self.role,
                rulesets,
                "Publishing Data Quality results from a job run is authorized on the account's "
                "ruleset resource type; the role has no other Data Quality action.",
            )

    @property
    def job_name(self) -> str:
        """The job's name."""
        return self.job.job_name

    @property
    def job_arn(self) -> str:
        """``arn:<partition>:glue:<region>:<account>:job/<name>``."""
        return self.job.job_arn

    def grant_start_run(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` start runs of this job and read them (``glue:StartJobRun``,
        ``glue:GetJobRun``, ``glue:GetJobRuns`` on :attr:`job_arn`); runs execute as :attr:`role`."""
        return iam.Grant.add_to_principal(
            grantee=grantee, actions=list(START_RUN_ACTIONS), resource_arns=[self.job_arn]
        )

    def metric_elapsed_time(self, **options: Any) -> cloudwatch.Metric:
        """ETL elapsed time of the job's runs in milliseconds (``glue.driver.aggregate.elapsedTime``,
        namespace ``Glue``, dimensions ``JobName``, ``JobRunId=ALL``, ``Type=count``), which the job
        publishes because its metrics are on. It excludes the run's start-up time.

        :param options: ``cloudwatch.MetricOptions`` keywords. Default: maximum over 5 minutes.
        """
        return self.job.metric("glue.driver.aggregate.elapsedTime", glue.MetricType.COUNT,
                               **{"statistic": "Maximum", **options})

    def metric_failed_tasks(self, **options: Any) -> cloudwatch.Metric:
        """Failed Spark tasks of the job's runs (``glue.driver.aggregate.numFailedTasks``, namespace
        ``Glue``, dimensions ``JobName``, ``JobRunId=ALL``, ``Type=count``).

        :param options: ``cloudwatch.MetricOptions`` keywords. Default: sum over 5 minutes.
        """
        return self.job.metric("glue.driver.aggregate.numFailedTasks", glue.MetricType.COUNT,
                               **{"statistic": "Sum", **options})
