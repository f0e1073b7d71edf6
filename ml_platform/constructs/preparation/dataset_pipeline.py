"""``DatasetPipeline``: everything one dataset needs to go from its source zone to typed Parquet.

A crawler of the source prefix, the ETL job (with the dataset's Data Quality rules), a crawler of
the output, the workflow that chains them, and the rules as a Glue Data Quality ruleset.

The job evaluates the rules itself (``EvaluateDataQuality`` on the typed frame, before it writes),
so the ruleset names no target table: the output table is created by the first crawl of the
output, after the first workflow run, and a first deploy must not depend on it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Annotated, Literal

from aws_cdk import RemovalPolicy
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from constructs import Construct
from pydantic import AfterValidator, Field, model_validator

from ml_platform.constructs.lake.data_lake import DataZoneName, dataset_prefix
from ml_platform.constructs.lake.lake_access import ILake, Zone
from ml_platform.constructs.preparation.glue_crawler import CrawlerSettings, GlueCrawler
from ml_platform.constructs.preparation.glue_etl import JobSettings, QualitySettings, RawToParquetJob
from ml_platform.constructs.preparation.glue_security import GlueSecurity
from ml_platform.constructs.preparation.glue_workflow import DatasetWorkflow
from ml_platform.constructs.lake.lake_locations import DAILY, LakeDataset
from ml_platform.constructs.core.schedule import CronExpression
from ml_platform.constructs.core.validation import StrictSettings, check_problems
from ml_platform.jobs.glue.raw_to_parquet import raw_to_parquet_logic as logic


def _checked(problem_of: Callable[[str], str | None]) -> AfterValidator:
    def check(value: str) -> str:
        problem = problem_of(value)
        if problem:
            raise ValueError(problem)
        return value

    return AfterValidator(check)


ColumnName = Annotated[str, _checked(logic.column_name_problem)]
ColumnType = Annotated[str, _checked(logic.column_type_problem)]
_TABLE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def table_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a dataset with catalog tables, or None."""
    if not _TABLE_NAME.match(name):
        return (
            f"dataset name {name!r} is invalid; use 1-64 lower-case letters, digits or '_', starting "
            "with a letter (it names catalog tables)"
        )
    return None


DatasetName = Annotated[str, _checked(table_name_problem)]


class DatasetSettings(StrictSettings):
    """One dataset's pipeline.

    :ivar format: ``csv`` (with a header row) or ``json`` (one object per line) in the source zone.
    :ivar columns: output columns in order, name to Spark SQL type. At least one.
    :ivar source_zone: where the data lands. Default: ``raw``.
    :ivar target_zone: where the Parquet goes. Default: ``processed``.
    :ivar schedule: AWS cron (UTC) of the workflow. Default: none, on demand.
    :ivar crawler: crawler behaviour of both crawlers. Default: ``CrawlerSettings()``.
    :ivar job: job size. Default: ``JobSettings()``.
    :ivar quality: Data Quality rules. Default: none.
    """

    format: Literal["csv", "json"]
    columns: Annotated[dict[ColumnName, ColumnType], Field(min_length=1)]
    source_zone: DataZoneName = "raw"
    target_zone: DataZoneName = "processed"
    schedule: CronExpression | None = None
    crawler: CrawlerSettings = CrawlerSettings()
    job: JobSettings = JobSettings()
    quality: QualitySettings | None = None

    @model_validator(mode="after")
    def _zones_differ(self) -> DatasetSettings:
        if self.source_zone == self.target_zone:
            raise ValueError(f"source_zone and target_zone are both {self.source_zone!r}; they must differ")
        return self


class DatasetPipeline(Construct):
    """Crawlers, ETL job, workflow and ruleset of one dataset of the lake.

    :param dataset: the dataset's name (its prefix ``<dataset>/`` in both zones).
    :param lake: the lake holding both zones: a ``DataLake``, or ``DataLake.from_existing`` over
        the app's own buckets and key (any :class:`~ml_platform.constructs.lake.lake_access.ILake`).
    :param databases: catalog database of each zone, by zone name; at least the source and
        target zones of ``settings``.
    :param security: the Glue security configuration.
    :param settings: the dataset's settings.
    :param name_prefix: prefix of the crawler, job and workflow names, e.g. ``mlp-dev``.
    :param removal_policy: of log groups. Default: RETAIN.

    :ivar output: what the job writes, the hand-off to consumers (Parquet under ``<dataset>/`` of
        the target zone, partitioned by day, with the configured columns).
    :ivar output_database: :ivar output_table: the catalog table of :attr:`output` (the target
        zone's database, the table named after the dataset), created by the first crawl of the output.
    :ivar ruleset: with ``quality.rules``, the Glue Data Quality ruleset named
        ``<name_prefix>-<dataset>-<target_zone>`` holding the DQDL document the job evaluates,
        with no target table; else None.
    :raises ValueError: in one line, when ``databases`` lacks the source or target zone.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        dataset: str,
        lake: ILake,
        databases: Mapping[str, glue.IDatabase],
        security: GlueSecurity,
        settings: DatasetSettings,
        name_prefix: str,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        prefix = dataset_prefix(dataset)
        source, target = Zone(settings.source_zone), Zone(settings.target_zone)
        check_problems(f"DatasetPipeline {self.node.path}", [
            f"databases has no database for zone {zone.value!r} (the {role} zone of {dataset}); "
            f"it has {', '.join(repr(str(z)) for z in databases) or 'none'}"
            for zone, role in ((source, "source"), (target, "target")) if zone.value not in databases
        ])
        self._lake = lake
        job_name = f"{name_prefix}-{dataset}-to-{target}"
        self.source_crawler = GlueCrawler(
            self, "SourceCrawler", bucket=lake.bucket(source), prefix=prefix,
            database=databases[source], settings=settings.crawler,
            classifiers=[_csv_classifier(self, f"{name_prefix}-{dataset}-csv")]
            if settings.format == "csv"
            else None,
            crawler_name=f"{name_prefix}-{dataset}-{source}",
            data_key=lake.encryption_key, security=security, removal_policy=removal_policy,
        )
        self.job = RawToParquetJob(
            self, "Transform", source_database=databases[source], source_table=dataset,
            source_bucket=lake.bucket(source), source_prefix=prefix,
            target_bucket=lake.bucket(target), target_prefix=prefix,
            columns=settings.columns, settings=settings.job, quality=settings.quality,
            job_name=job_name,
            data_key=lake.encryption_key, security=security, removal_policy=removal_policy,
        )
        self.output = LakeDataset(target, prefix, "parquet", DAILY, columns=tuple(settings.columns),
                                  producer=f"Glue job {job_name}")
        self.target_crawler = GlueCrawler(
            self, "TargetCrawler", bucket=lake.bucket(target), prefix=prefix,
            database=databases[target], settings=settings.crawler,
            crawler_name=f"{name_prefix}-{dataset}-{target}",
            data_key=lake.encryption_key, security=security, removal_policy=removal_policy,
        )
        #: The catalog database and table of :attr:`output`, which the target crawler creates at the
        #: first crawl of the output (what table-level consumers such as rule recommendations read).
        self.output_database: glue.IDatabase = databases[target]
        self.output_table: str = self.target_crawler.table_name
        self.workflow = DatasetWorkflow(
            self, "Workflow", source_crawler=self.source_crawler, job=self.job,
            target_crawler=self.target_crawler, schedule=settings.schedule,
            workflow_name=f"{name_prefix}-{dataset}",
        )
        self.ruleset: glue.CfnDataQualityRuleset | None = None
        if settings.quality is not None and settings.quality.evaluated:
            # The L1, without TargetTable: the L2 requires a target table, and the output table
            # does not exist until the target crawler's first run (see the module docstring).
            self.ruleset = glue.CfnDataQualityRuleset(
                self, "Ruleset",
                name=f"{name_prefix}-{dataset}-{target}",
                description=f"Rules the job {job_name} evaluates before writing {dataset} to {target}",
                ruleset=settings.quality.document,
            )

    def grant_read_output(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` list, read and decrypt the processed dataset (:attr:`output`) in the lake.

        Reading its catalog table (Athena, Spark) is granted separately.
        """
        return self.output.grant_read(self._lake, grantee)

    def grant_start(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` start the dataset's workflow (crawl, transform, crawl) and read its runs;
        see :meth:`DatasetWorkflow.grant_start`."""
        return self.workflow.grant_start(grantee)


def _csv_classifier(scope: Construct, name: str) -> str:
    """A CSV classifier that reads the first row as the header (Glue's own may not)."""
    classifier = glue.CfnClassifier(
        scope,
        "CsvClassifier",
        csv_classifier=glue.CfnClassifier.CsvClassifierProperty(
            name=name, contains_header="PRESENT", delimiter=",", quote_symbol='"'
        ),
    )
    return classifier.ref
