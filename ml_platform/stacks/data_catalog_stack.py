"""The stack that catalogs, prepares and queries an environment's lake with Glue and Athena."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_glue as glue
from constructs import Construct

from ml_platform.config import DataCatalogSettings
from ml_platform.constructs.lake.athena_workgroup import AthenaWorkgroup
from ml_platform.constructs.lake.data_lake import DataLake
from ml_platform.constructs.lake.lake_access import Zone
from ml_platform.constructs.preparation.databrew_pipeline import DataBrewPipeline, PiiSecret
from ml_platform.constructs.preparation.dataset_pipeline import DatasetPipeline
from ml_platform.constructs.preparation.glue_security import GlueSecurity
from ml_platform.constructs.core.alerting import (
    AlertPath,
    databrew_job_failed,
    databrew_validation_failed,
    glue_crawler_failed,
    glue_data_quality_failed,
    glue_job_failed,
)
from ml_platform.constructs.core.removal import data_removal_policy
from ml_platform.stacks.alerting_stack import alert_routes

#: Zones with catalog databases (artifacts hold models and scripts, not tables).
CATALOG_ZONES = (Zone.RAW, Zone.PROCESSED, Zone.CURATED)


class DataCatalogStack(Stack):
    """Catalog databases per zone, one :class:`DatasetPipeline` per dataset, DataBrew preparation,
    Athena, and the failures of crawlers, jobs and rule evaluations routed to the alert path. (The
    scheduled rule recommendations of ``quality.recommendations`` live in the DataQuality stacks:
    :class:`~ml_platform.stacks.data_quality_stack.DataQualityStack`.)

    :param lake: the environment's lake.
    :param alerts: the environment's alert path.
    :param settings: the ``data_catalog`` section of the environment.
    :param name_prefix: ``<prefix>-<env>``; names crawlers, jobs, workflows and the workgroup.
    :param allow_data_deletion: with the context flag, log groups and keys go with the stack.
    :param primary: the environment's first DataCatalog stack, when this is a further one
        (docs/partitioning.md): this stack then creates the pipelines of ``settings``, their alert
        routes and a security configuration ``<name_prefix>-glue-<construct id>`` of its own, and
        uses the primary's databases and PII secret; Athena stays in the primary. Default: ``None``, this is the first stack and owns them.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        lake: DataLake,
        alerts: AlertPath,
        settings: DataCatalogSettings,
        name_prefix: str,
        allow_data_deletion: bool,
        primary: DataCatalogStack | None = None,
        **stack_props: Any,
    ) -> None:
        super().__init__(scope, construct_id, **stack_props)
        removal = data_removal_policy(self, allow_data_deletion=allow_data_deletion)
        # Every stack has its own security configuration (and logs key): cdk-nag checks a job's
        # log and bookmark encryption only in the job's own template (docs/partitioning.md).
        self.security = GlueSecurity(
            self, "GlueSecurity", data_key=lake.encryption_key,
            name=f"{name_prefix}-glue" if primary is None else f"{name_prefix}-glue-{construct_id.lower()}",
            removal_policy=removal,
        )
        self.databases: dict[str, glue.IDatabase] = primary.databases if primary is not None else {
            zone: glue.Database(
                self, f"{zone.value.title()}Database",
                database_name=f"{name_prefix}_{zone.value}".replace("-", "_"),
                description=f"Tables of the {zone.value} zone",
            )
            for zone in CATALOG_ZONES
        }
        self.pipelines = {
            dataset: DatasetPipeline(
                self, f"Dataset{dataset.title().replace('_', '')}", dataset=dataset, lake=lake,
                databases=self.databases, security=self.security, settings=dataset_settings,
                name_prefix=name_prefix, removal_policy=removal,
            )
            for dataset, dataset_settings in settings.datasets.items()
        }
        self.pii_secret: PiiSecret | None = None
        self.databrew: dict[str, DataBrewPipeline] = {}
        if settings.databrew:
            pii_secret = self.pii_secret = (
                primary.pii_secret if primary is not None and primary.pii_secret is not None
                else PiiSecret(self, "PiiSecret", key=lake.encryption_key, removal_policy=removal))
            self.databrew = {
                dataset: DataBrewPipeline(
                    self, f"Brew{dataset.title().replace('_', '')}", dataset=dataset, lake=lake,
                    settings=brew_settings,
                    # pyright only: jsii renames the interface's parameters (aws/aws-cdk#15584)
                    secret=pii_secret.secret,  # pyright: ignore[reportArgumentType]
                    logs_key=self.security.logs_key, name_prefix=name_prefix, removal_policy=removal,
                )
                for dataset, brew_settings in settings.databrew.items()
            }
        #: Every dataset's processed output by name: what consumers (the feature step) read.
        self.outputs = {**{d: p.output for d, p in self.pipelines.items()},
                        **{d: b.output for d, b in self.databrew.items()}}
        self.athena: AthenaWorkgroup = primary.athena if primary is not None else AthenaWorkgroup(
            self, "Athena", name=f"{name_prefix}-lake", results_bucket=lake.artifacts_bucket,
            key=lake.encryption_key, settings=settings.athena, removal_policy=removal,
        )
        self.alerts = alert_routes(self, alerts)
        self._route_failures()

    def _route_failures(self) -> None:
        """Failed crawlers, Glue jobs, Data Quality evaluations, DataBrew jobs and validations."""
        pipelines, brews = list(self.pipelines.values()), list(self.databrew.values())
        route = self.alerts.route
        if pipelines:  # a further stack may hold DataBrew datasets only
            route(self, "CrawlerFailed", "A crawler failed", glue_crawler_failed(
                [c.crawler_name for p in pipelines for c in (p.source_crawler, p.target_crawler)]))
            route(self, "JobFailed", "A Glue job run failed, timed out or stopped",
                  glue_job_failed([p.job.job_name for p in pipelines]))
        if any(p.ruleset is not None for p in pipelines):
            route(self, "DataQualityFailed", "A Data Quality evaluation failed",
                  glue_data_quality_failed([p.job.job_name for p in pipelines if p.ruleset is not None]))
        if brews:
            route(self, "DataBrewJobFailed", "A DataBrew job run failed, timed out or stopped",
                  databrew_job_failed([j.name for b in brews for j in (b.recipe_job, b.profile_job)]))
            rulesets = [b.ruleset.name for b in brews if b.ruleset is not None]
            if rulesets:
                route(self, "DataBrewValidationFailed", "A DataBrew ruleset validation failed",
                      databrew_validation_failed(rulesets))
        self.alerts.cover_functions()
