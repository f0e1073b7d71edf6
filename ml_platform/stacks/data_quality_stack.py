"""The stack of scheduled Glue Data Quality rule recommendations: one shared
:class:`DqRecommendationWorkflow` and one :class:`DqRecommendations` (run role and schedule) per
dataset with ``quality.recommendations``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_kms as kms
from constructs import Construct

from ml_platform.constructs.core.alerting import AlertPath
from ml_platform.constructs.core.keys import allow_cloudwatch_logs
from ml_platform.constructs.core.naming import pascal_case
from ml_platform.constructs.core.removal import data_removal_policy
from ml_platform.constructs.core.validation import check_problems
from ml_platform.constructs.lake.data_lake import DataLake
from ml_platform.constructs.preparation.dataset_pipeline import DatasetPipeline
from ml_platform.constructs.preparation.dq_recommendation_workflow import DqRecommendationWorkflow
from ml_platform.constructs.preparation.dq_recommendations import DqRecommendations, RecommendationSettings
from ml_platform.stacks.alerting_stack import alert_routes


class DataQualityStack(Stack):
    """One :class:`DqRecommendationWorkflow` (state machine, its role and log group, the schedules'
    role, the failure rule routed to ``alerts``) and a :class:`DqRecommendations` per dataset of
    ``recommendations`` (a run role reading the table its pipeline writes, in whichever DataCatalog
    stack holds the pipeline, and a schedule starting the workflow with that dataset's input). The
    workflow's executions time out 30 minutes after the longest ``timeout_minutes`` of the stack's
    datasets.

    The recommendations live apart from the DataCatalog stacks so that turning them on adds no
    resource to a DataCatalog stack (whose group sizes were measured without them;
    docs/partitioning.md). The stack reads the databases of the first DataCatalog stack and the
    lake's buckets and key through cross-stack references; it depends on every DataCatalog stack
    that holds one of its datasets, and nothing depends on it.

    :param lake: the environment's lake: holds the datasets and the artifacts zone the rulesets go to.
    :param alerts: the environment's alert path.
    :param recommendations: the settings of each dataset whose recommendations this stack holds,
        by dataset name, in config order.
    :param pipelines: every Glue dataset's pipeline by name, whichever DataCatalog stack holds it
        (the stage passes the union); at least the datasets of ``recommendations``.
    :param allow_data_deletion: with the context flag, the logs key and log groups go with the stack.
    :raises ValueError: in one line, when a dataset of ``recommendations`` has no pipeline.

    :ivar key: encrypts the workflow's log group (its policy admits CloudWatch Logs).
    :ivar workflow: the shared :class:`DqRecommendationWorkflow` (``None`` without recommendations).
    :ivar recommendations: the :class:`DqRecommendations` by dataset.
    :ivar catalog_stacks: the DataCatalog stacks that hold this stack's datasets (it depends on them).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        lake: DataLake,
        alerts: AlertPath,
        recommendations: Mapping[str, RecommendationSettings],
        pipelines: Mapping[str, DatasetPipeline],
        allow_data_deletion: bool,
        **stack_props: Any,
    ) -> None:
        super().__init__(scope, construct_id, **stack_props)
        known = ", ".join(pipelines) or "none"
        check_problems(f"DataQualityStack {self.node.path}", [
            f"recommendations: dataset {dataset!r} has no Glue pipeline; datasets with pipelines: {known}"
            for dataset in recommendations if dataset not in pipelines
        ])
        removal = data_removal_policy(self, allow_data_deletion=allow_data_deletion)
        self.key = kms.Key(self, "LogsKey", description="Encrypts the Data Quality recommendation workflow's logs",
                           enable_key_rotation=True, removal_policy=removal)
        allow_cloudwatch_logs(self.key)
        self.alerts = alert_routes(self, alerts)
        self.workflow: DqRecommendationWorkflow | None = None
        self.recommendations: dict[str, DqRecommendations] = {}
        if recommendations:
            workflow = self.workflow = DqRecommendationWorkflow(
                self, "Recommendations", lake=lake, alerts=self.alerts,
                # pyright only: jsii renames the interface's parameters (aws/aws-cdk#15584)
                logs_key=self.key,  # pyright: ignore[reportArgumentType]
                timeout_minutes=max(s.timeout_minutes for s in recommendations.values()), removal_policy=removal)
            self.recommendations = {
                dataset: DqRecommendations(
                    self, f"Recommend{pascal_case(dataset)}", dataset=dataset, lake=lake,
                    database=pipelines[dataset].output_database, table=pipelines[dataset].output_table,
                    data=pipelines[dataset].output, settings=settings, workflow=workflow, alerts=self.alerts,
                )
                for dataset, settings in recommendations.items()
            }
        self.catalog_stacks: list[Stack] = list(dict.fromkeys(Stack.of(pipelines[d]) for d in recommendations))
        for holder in self.catalog_stacks:
            self.add_stack_dependency(holder, "the recommended datasets' pipelines write the tables read here")
        self.alerts.cover_functions()
