"""The stack that catalogs, prepares and queries an environment's lake with Glue and Athena."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_glue as glue
from constructs import Construct

from ml_platform.config import DataCatalogSettings
from ml_platform.constructs.athena_workgroup import AthenaWorkgroup
from ml_platform.constructs.data_lake import DataLake, Zone
from ml_platform.constructs.databrew_pipeline import DataBrewPipeline, PiiSecret
from ml_platform.constructs.dataset_pipeline import DatasetPipeline
from ml_platform.constructs.glue_security import GlueSecurity
from ml_platform.constructs.pipeline_alerts import PipelineAlerts
from ml_platform.constructs.removal import data_removal_policy

#: Zones with catalog databases (artifacts hold models and scripts, not tables).
CATALOG_ZONES = (Zone.RAW, Zone.PROCESSED, Zone.CURATED)


class DataCatalogStack(Stack):
    """Catalog databases per zone, one :class:`DatasetPipeline` per dataset, Athena and alerts.

    :param lake: the environment's lake.
    :param settings: the ``data_catalog`` section of the environment.
    :param name_prefix: ``<prefix>-<env>``; names crawlers, jobs, workflows and the workgroup.
    :param allow_data_deletion: with the context flag, log groups and keys go with the stack.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        lake: DataLake,
        settings: DataCatalogSettings,
        name_prefix: str,
        allow_data_deletion: bool,
        **stack_props: Any,
    ) -> None:
        super().__init__(scope, construct_id, **stack_props)
        removal = data_removal_policy(self, allow_data_deletion=allow_data_deletion)
        self.security = GlueSecurity(
            self, "GlueSecurity", data_key=lake.encryption_key, name=f"{name_prefix}-glue",
            removal_policy=removal,
        )
        self.databases: dict[str, glue.IDatabase] = {
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
        self.pii_secret = (
            PiiSecret(self, "PiiSecret", key=lake.encryption_key, removal_policy=removal)
            if settings.databrew
            else None
        )
        self.databrew = {
            dataset: DataBrewPipeline(
                self, f"Brew{dataset.title().replace('_', '')}", dataset=dataset, lake=lake,
                settings=brew_settings, secret=self.pii_secret.secret,
                logs_key=self.security.logs_key, name_prefix=name_prefix, removal_policy=removal,
            )
            for dataset, brew_settings in settings.databrew.items()
        }
        #: Every dataset's processed output by name: what consumers (the feature step) read.
        self.outputs = {**{d: p.output for d, p in self.pipelines.items()},
                        **{d: b.output for d, b in self.databrew.items()}}
        self.athena = AthenaWorkgroup(
            self, "Athena", name=f"{name_prefix}-lake", results_bucket=lake.artifacts_bucket,
            key=lake.encryption_key, settings=settings.athena, removal_policy=removal,
        )
        pipelines = list(self.pipelines.values())
        self.alerts = PipelineAlerts(
            self, "Alerts",
            crawler_names=[c for p in pipelines for c in (p.source_crawler.crawler_name, p.target_crawler.crawler_name)],
            job_names=[p.job.job_name for p in pipelines],
            data_quality=any(p.ruleset is not None for p in pipelines),
            settings=settings.alerts, removal_policy=removal,
        )
