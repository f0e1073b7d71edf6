"""``DqRecommendations``: Glue Data Quality rule recommendations for one dataset, on a schedule,
written to the lake for a person to review and adopt.

A dataset brings what must stay its own: a run role that reads only its table and data, and an
EventBridge Scheduler schedule that starts its stack's shared
:class:`~ml_platform.constructs.preparation.dq_recommendation_workflow.DqRecommendationWorkflow`
with this dataset's execution input (dataset, database, table, run role, workers, timeout). The
workflow starts a Glue recommendation run on the table as the run role, polls it and writes the
``RecommendedRuleset`` (DQDL) to
``s3://<artifacts>/data-quality-recommendations/<dataset>/<execution name>.dqdl``.

The files go to the artifacts zone, not beside the data: everything under ``<dataset>/`` of the
target zone is the table (its crawler and Athena read every object there). Nothing adopts a
recommendation by itself: a person copies the rules they accept into ``quality.rules``
(docs/constructs.md, "Reviewing and adopting recommended rules").

A schedule the scheduler could not deliver goes to the alerts' dead-letter queue; a failed run fails
the execution, which the workflow routes to the alert topic. Before the first workflow run of the
dataset there is no table: that run fails (and alerts).
"""

from __future__ import annotations

from typing import Annotated

from aws_cdk import Duration, Stack, TimeZone
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as targets
from constructs import Construct
from pydantic import Field

from ml_platform.constructs.core.alerting import IAlerts
from ml_platform.constructs.core.iam_roles import ManagedPolicyRole
from ml_platform.constructs.core.schedule import CronExpression
from ml_platform.constructs.core.validation import StrictSettings, check_problems
from ml_platform.constructs.lake.lake_access import ILake
from ml_platform.constructs.lake.lake_locations import LakeDataset
from ml_platform.constructs.preparation.dq_recommendation_workflow import (
    MAX_TIMEOUT_MINUTES,
    RECOMMENDATIONS_ZONE,
    DqRecommendationWorkflow,
    recommendations_prefix,
)

#: Catalog reads of the run's role: the table, its database and partitions.
CATALOG_READ = ("glue:GetDatabase", "glue:GetTable", "glue:GetPartition", "glue:GetPartitions",
                "glue:BatchGetPartition")
#: Retries of a schedule the scheduler could not deliver, before its dead-letter queue.
SCHEDULE_ATTEMPTS = 2


class RecommendationSettings(StrictSettings):
    """Scheduled Glue Data Quality rule recommendations of a dataset (``quality.recommendations``).

    :ivar schedule: AWS cron expression (UTC) of the runs, e.g. ``cron(0 4 ? * MON *)``. Required.
    :ivar workers: G.1X workers of a run, 2-299. Default: 2.
    :ivar timeout_minutes: a run is stopped after this long, 1-2880. Default: 60.
    """

    schedule: CronExpression
    workers: Annotated[int, Field(ge=2, le=299)] = 2
    timeout_minutes: Annotated[int, Field(ge=1, le=MAX_TIMEOUT_MINUTES)] = 60


class DqRecommendations(Construct):
    """A dataset's run role and schedule: the schedule starts ``workflow`` with this dataset's input.

    :param dataset: the dataset's name; its rulesets go to :func:`recommendations_prefix`.
    :param database: the catalog database of the table (``DatasetPipeline.output_database``).
    :param table: the table (``DatasetPipeline.output_table``), created by the first crawl of the output.
    :param data: what the table holds (``DatasetPipeline.output``): the run's role reads exactly it.
    :param lake: any :class:`~ml_platform.constructs.lake.lake_access.ILake`: holds ``data`` and the
        artifacts zone (``workflow``'s lake); its key decrypts the data.
    :param settings: schedule, workers and timeout.
    :param workflow: the stack's shared workflow; the dataset joins it (its role may then pass
        :attr:`run_role`, read ``table``'s definition and write under :func:`recommendations_prefix`).
    :param alerts: any :class:`~ml_platform.constructs.core.alerting.IAlerts`: a schedule the
        scheduler could not deliver (after :data:`SCHEDULE_ATTEMPTS` retries, or older than an hour)
        goes to its dead-letter queue.
    :raises ValueError: in one line, for an invalid dataset name, an empty table, or a
        ``settings.timeout_minutes`` longer than ``workflow.timeout_minutes``.

    :ivar run_role: the role the recommendation run acts as (trusts ``glue.amazonaws.com``).
    :ivar schedule: the scheduler schedule. :ivar workflow: the workflow it starts.
    :ivar input: the execution input of its runs
        (:data:`~ml_platform.constructs.preparation.dq_recommendation_workflow.INPUT_FIELDS`).
    :ivar output: ``(zone, prefix)`` of the written rulesets.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        dataset: str,
        database: glue.IDatabase,
        table: str,
        data: LakeDataset,
        lake: ILake,
        settings: RecommendationSettings,
        workflow: DqRecommendationWorkflow,
        alerts: IAlerts,
    ) -> None:
        super().__init__(scope, construct_id)
        problems = [] if table else ["table '' is empty; give the catalog table the pipeline writes"]
        if settings.timeout_minutes > workflow.timeout_minutes:
            problems.append(f"timeout_minutes {settings.timeout_minutes} is longer than the workflow's "
                            f"{workflow.timeout_minutes}; give at most {workflow.timeout_minutes}")
        try:
            prefix = recommendations_prefix(dataset)
        except ValueError as error:
            prefix = ""
            problems.insert(0, str(error))
        check_problems(f"DqRecommendations {self.node.path}", problems)
        stack = Stack.of(self)
        self.dataset, self.table, self.settings, self.workflow = dataset, table, settings, workflow
        self.database_name = database.database_name
        self.output = (RECOMMENDATIONS_ZONE, prefix)
        self._lake = lake
        catalog = [stack.format_arn(service="glue", resource="catalog"), database.database_arn,
                   stack.format_arn(service="glue", resource="table",
                                    resource_name=f"{database.database_name}/{table}")]

        self.run_role = ManagedPolicyRole.for_service(
            self, "RunRole", service="glue.amazonaws.com",
            description=f"Glue Data Quality recommendation runs on the {data.zone.value} table of dataset {dataset}")
        data.grant_read(lake, self.run_role)
        self.run_role.add_to_principal_policy(iam.PolicyStatement(actions=list(CATALOG_READ), resources=catalog))
        workflow.add_dataset(dataset, run_role=self.run_role, catalog=catalog)

        self.input = workflow.execution_input(
            dataset=dataset, database=self.database_name, table=table, run_role_arn=self.run_role.role_arn,
            workers=settings.workers, timeout_minutes=settings.timeout_minutes)
        self.schedule = scheduler.Schedule(
            self, "Schedule", description=f"Recommends Data Quality rules for {dataset}",
            schedule=scheduler.ScheduleExpression.expression(settings.schedule, TimeZone.ETC_UTC),
            # pyright only: jsii names StepFunctionsStartExecution.bind's parameter "schedule", IScheduleTarget's "_schedule" (aws/jsii#4541)
            target=targets.StepFunctionsStartExecution(  # pyright: ignore[reportArgumentType]
                workflow.state_machine, input=scheduler.ScheduleTargetInput.from_object(self.input),
                dead_letter_queue=alerts.dead_letters, retry_attempts=SCHEDULE_ATTEMPTS,
                max_event_age=Duration.hours(1),
                # pyright only: jsii names Role.grant_*_role's parameter "identity", IRole's "grantee" (aws/aws-cdk#21099)
                role=workflow.scheduler_role),  # pyright: ignore[reportArgumentType]
        )

    @property
    def uri(self) -> str:
        """``s3://<artifacts bucket>/data-quality-recommendations/<dataset>/``."""
        zone, prefix = self.output
        return self._lake.s3_uri(zone, prefix)

    def grant_read_recommendations(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` list, read and decrypt the written rulesets; nothing else of the lake."""
        zone, prefix = self.output
        return self._lake.grant_read(grantee, zone, prefix)
