"""``DqRecommendationWorkflow``: one Step Functions workflow that runs the Glue Data Quality rule
recommendations of several datasets, each started by its own schedule with that dataset's input.

The workflow calls AWS SDK integrations only (no Lambda):

1. ``glue:StartDataQualityRuleRecommendationRun`` on the table the execution input names
   (``DataSource.GlueTable``), as the run role the input names (a role of the dataset's own, that
   reads only that table and its data); the execution name is the ``ClientToken``, so a retried
   start starts one run;
2. ``glue:GetDataQualityRuleRecommendationRun`` every :data:`POLL_SECONDS` until the run ends;
3. ``s3:PutObject`` of the ``RecommendedRuleset`` (DQDL text) to
   ``s3://<artifacts>/data-quality-recommendations/<dataset>/<execution name>.dqdl``, SSE-KMS with
   the lake key (the folder literal is part of the definition; only ``<dataset>`` comes from the input).

The execution input (:data:`INPUT_FIELDS`, written by :meth:`execution_input`)::

    {"dataset": "sales", "database": "<db>", "table": "sales", "runRole": "arn:aws:iam::...:role/...",
     "workers": 2, "timeout": 60}

The workflow does not validate its input: its only callers are the datasets' schedules, whose inputs
are fixed in the template, and its scheduler role may start only this state machine. Whatever the
input says, the workflow's role may pass only the run roles of the datasets added with
:meth:`add_dataset`, read only their tables' definitions and write only under their folders; a run
role reads only its own dataset, so a mismatched input makes the run fail, not read more.

A run that fails, times out or stops fails the execution; failed, timed-out or aborted executions
go to the alert topic.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from ml_platform.constructs.core.alerting import IAlerts
from ml_platform.constructs.core.compliance import acknowledge, acknowledge_wildcard_resource
from ml_platform.constructs.core.iam_roles import ManagedPolicyRole
from ml_platform.constructs.core.validation import check_problems
from ml_platform.constructs.lake.data_lake import dataset_prefix
from ml_platform.constructs.lake.lake_access import ILake, Zone
from ml_platform.constructs.lake.s3_grants import grant_key_via_s3

#: The zone the recommendations are written to (outside every table's prefix).
RECOMMENDATIONS_ZONE = Zone.ARTIFACTS
#: Folder of the recommendations in :data:`RECOMMENDATIONS_ZONE`: ``<this><dataset>/``.
RECOMMENDATIONS_PREFIX = "data-quality-recommendations/"
#: Seconds between two ``GetDataQualityRuleRecommendationRun`` calls.
POLL_SECONDS = 60
#: Time the workflow has beyond the longest run's own timeout (starting, polling, writing).
EXTRA_MINUTES = 30
#: The longest run timeout Glue accepts (``Timeout`` of ``StartDataQualityRuleRecommendationRun``).
MAX_TIMEOUT_MINUTES = 2880
#: Run statuses that end the run without a ruleset (``TaskStatusType`` of the Glue API).
FAILED_RUN = ("FAILED", "STOPPED", "TIMEOUT")
#: Statuses of an execution that ends without writing a ruleset.
FAILED_EXECUTION = ("FAILED", "TIMED_OUT", "ABORTED")
#: Attempts of each SDK call (each is idempotent: the start through its client token).
CALL_ATTEMPTS = 3
#: Retention of the state machine's execution logs.
LOG_RETENTION = logs.RetentionDays.ONE_YEAR
#: The Data Quality recommendation actions the workflow calls; IAM authorizes them only on the
#: account's ``dataQualityRuleset/*`` (AWS Glue Developer Guide, "Configure IAM permissions for
#: AWS Glue Data Quality").
RUN_ACTIONS = ("glue:StartDataQualityRuleRecommendationRun", "glue:GetDataQualityRuleRecommendationRun")
#: Catalog read of the workflow's role: the table the run is started on (its definition only).
START_CATALOG_READ = ("glue:GetTable",)
#: The fields of the execution input, in order.
INPUT_FIELDS = ("dataset", "database", "table", "runRole", "workers", "timeout")


def recommendations_prefix(dataset: str) -> str:
    """``data-quality-recommendations/<dataset>/``: where ``dataset``'s rulesets are written."""
    return RECOMMENDATIONS_PREFIX + dataset_prefix(dataset)


class DqRecommendationWorkflow(Construct):
    """The shared part of Data Quality rule recommendations: a state machine whose execution input
    names the dataset, its role, its log group, the schedules' role and the failure rule.

    Datasets join with :meth:`add_dataset` (:class:`~ml_platform.constructs.preparation.dq_recommendations.DqRecommendations`
    does it): each adds its run role to the roles the workflow may pass, its table to those it may
    read, and its folder to those it may write.

    :param lake: any :class:`~ml_platform.constructs.lake.lake_access.ILake`: holds the artifacts
        zone; its key encrypts the rulesets.
    :param alerts: any :class:`~ml_platform.constructs.core.alerting.IAlerts`: failed executions
        go to its topic; the scheduler role may encrypt to its (dead-letter queue's) key.
    :param logs_key: encrypts the log group; its policy must admit CloudWatch Logs.
    :param timeout_minutes: the longest run timeout of the datasets that join, 1-2880; the
        execution times out :data:`EXTRA_MINUTES` after it. Default: 2880 (Glue's longest).
    :param removal_policy: of the log group. Default: RETAIN.
    :raises ValueError: in one line, when ``timeout_minutes`` is out of range.

    :ivar state_machine: the workflow. :ivar role: its role. :ivar log_group: its execution logs.
    :ivar scheduler_role: the role every dataset's schedule starts the workflow as (it may start
        only this state machine). :ivar failed: the rule routing failed executions to ``alerts``.
    :ivar run_roles: the run roles added, in order.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        lake: ILake,
        alerts: IAlerts,
        logs_key: kms.IKey,
        timeout_minutes: int = MAX_TIMEOUT_MINUTES,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        check_problems(f"DqRecommendationWorkflow {self.node.path}", [] if 1 <= timeout_minutes <= MAX_TIMEOUT_MINUTES
                       else [f"timeout_minutes {timeout_minutes} is out of range; give 1-{MAX_TIMEOUT_MINUTES}"])
        self.timeout_minutes = timeout_minutes
        self._lake = lake
        self.run_roles: list[ManagedPolicyRole] = []
        stack = Stack.of(self)
        self._rulesets = stack.format_arn(service="glue", resource="dataQualityRuleset", resource_name="*")
        self.role = ManagedPolicyRole.for_service(
            self, "Role", service="states.amazonaws.com",
            description="Runs the Data Quality rule recommendations of its stack's datasets")
        self.log_group = logs.LogGroup(self, "Logs", encryption_key=logs_key, retention=LOG_RETENTION,
                                       removal_policy=removal_policy)
        self.state_machine = self._state_machine()
        grant_key_via_s3(self.role, lake.encryption_key, ["kms:GenerateDataKey"])
        acknowledge_wildcard_resource(self.role, self._rulesets, "Starting and reading Data Quality recommendation "
                                      "runs is authorized only on the account's dataQualityRuleset/* (Glue "
                                      "Developer Guide, IAM permissions for Data Quality); each run acts as a "
                                      "role that reads one table.")
        acknowledge(self.role.policy, ["AwsSolutions-IAM5[Resource::*]"],
                    "Step Functions needs the log-delivery (logs:*LogDelivery, logs:DescribeResourcePolicies, "
                    "logs:DescribeLogGroups, logs:PutResourcePolicy) and X-Ray actions on '*': they take no "
                    "resource ARN (Service Authorization Reference).")
        self.scheduler_role = ManagedPolicyRole.for_service(
            self, "SchedulerRole", service="scheduler.amazonaws.com",
            description="Starts the Data Quality rule recommendations workflow of its stack")
        alerts.key.grant(self.scheduler_role, "kms:GenerateDataKey", "kms:Decrypt")  # the encrypted dead-letter queue
        self.failed = alerts.route(self, "Failed", "Recommending Data Quality rules failed",
                                   events.EventPattern(
                                       source=["aws.states"], detail_type=["Step Functions Execution Status Change"],
                                       detail={"stateMachineArn": [self.state_machine.state_machine_arn],
                                               "status": list(FAILED_EXECUTION)}))

    def _state_machine(self) -> sfn.StateMachine:
        """Start the run, poll it, put its ruleset; a run ending otherwise fails the execution."""
        start = tasks.CallAwsService(
            self, "StartRun", comment="Start a recommendation run on the input's table as its run role",
            service="glue", action="startDataQualityRuleRecommendationRun",
            parameters={
                "DataSource": {"GlueTable": {"DatabaseName": sfn.JsonPath.string_at("$.database"),
                                             "TableName": sfn.JsonPath.string_at("$.table")}},
                "Role": sfn.JsonPath.string_at("$.runRole"),
                "NumberOfWorkers": sfn.JsonPath.number_at("$.workers"),
                "Timeout": sfn.JsonPath.number_at("$.timeout"),
                "ClientToken": sfn.JsonPath.string_at("$$.Execution.Name"),
            },
            # the tables and run roles are granted by add_dataset
            iam_action=RUN_ACTIONS[0], iam_resources=[self._rulesets],
            result_selector={"RunId": sfn.JsonPath.string_at("$.RunId")}, result_path="$.run",
        )
        wait = sfn.Wait(self, "WaitForRun", time=sfn.WaitTime.duration(Duration.seconds(POLL_SECONDS)))
        get = tasks.CallAwsService(
            self, "GetRun", comment="Read the run's status (and, once it succeeded, its ruleset)",
            service="glue", action="getDataQualityRuleRecommendationRun",
            parameters={"RunId": sfn.JsonPath.string_at("$.run.RunId")},
            iam_action=RUN_ACTIONS[1], iam_resources=[self._rulesets], result_path="$.result",
        )
        # a custom state: a CallAwsService would grant its put on fixed resources, and the
        # datasets' folders are known only as they join (add_dataset grants them)
        put = sfn.CustomState(self, "WriteRuleset", state_json={
            "Type": "Task", "Comment": "Write the recommended DQDL ruleset for review",
            "Resource": f"arn:{Aws.PARTITION}:states:::aws-sdk:s3:putObject",
            "Parameters": {
                "Bucket": self._lake.bucket(RECOMMENDATIONS_ZONE).bucket_name,
                "Key.$": f"States.Format('{RECOMMENDATIONS_PREFIX}{{}}/{{}}.dqdl', $.dataset, $$.Execution.Name)",
                "Body.$": "$.result.RecommendedRuleset",
                "ContentType": "text/plain",
                "ServerSideEncryption": "aws:kms",
                "SSEKMSKeyId": self._lake.encryption_key.key_arn,
            },
        })
        for task in (start, get, put):
            task.add_retry(errors=["States.ALL"], max_attempts=CALL_ATTEMPTS, interval=Duration.seconds(5),
                           backoff_rate=2)
        failed = sfn.Fail(self, "RunFailed", error="DataQualityRecommendationRunFailed",
                          cause_path=sfn.JsonPath.format("Recommendation run {} ended {}",
                                                         sfn.JsonPath.string_at("$.run.RunId"),
                                                         sfn.JsonPath.string_at("$.result.Status")))
        ended = (sfn.Choice(self, "RunEnded")
                 .when(sfn.Condition.string_equals("$.result.Status", "SUCCEEDED"), put)
                 .when(sfn.Condition.or_(*(sfn.Condition.string_equals("$.result.Status", s) for s in FAILED_RUN)),
                       failed)
                 .otherwise(wait))
        definition = start.next(wait).next(get).next(ended)
        return sfn.StateMachine(
            self, "StateMachine",
            comment="Recommends Data Quality rules for the dataset of its input and writes them for review",
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            state_machine_type=sfn.StateMachineType.STANDARD,
            # pyright only: jsii renames the interface's parameters (aws/aws-cdk#15584)
            role=self.role,  # pyright: ignore[reportArgumentType]
            timeout=Duration.minutes(self.timeout_minutes + EXTRA_MINUTES),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
        )

    def add_dataset(self, dataset: str, *, run_role: ManagedPolicyRole, catalog: Sequence[str]) -> None:
        """Let the workflow run ``dataset``'s recommendations: pass ``run_role`` to Glue, read the
        definitions of ``catalog`` (the catalog, database and table ARNs) and write under
        :func:`recommendations_prefix` ``(dataset)``."""
        prefix = recommendations_prefix(dataset)
        self.run_roles.append(run_role)
        self.role.add_to_principal_policy(iam.PolicyStatement(
            actions=["iam:PassRole"], resources=[run_role.role_arn],
            conditions={"StringEquals": {"iam:PassedToService": "glue.amazonaws.com"}}))
        self.role.add_to_principal_policy(iam.PolicyStatement(actions=list(START_CATALOG_READ),
                                                              resources=list(catalog)))
        objects = self._lake.bucket(RECOMMENDATIONS_ZONE).arn_for_objects(f"{prefix}*")
        self.role.add_to_principal_policy(iam.PolicyStatement(actions=["s3:PutObject"], resources=[objects]))
        acknowledge_wildcard_resource(self.role, objects, f"The workflow writes one object per execution of "
                                      f"dataset {dataset} under '{prefix}'; IAM can name a set of objects only "
                                      f"with a trailing wildcard.")

    @staticmethod
    def execution_input(*, dataset: str, database: str, table: str, run_role_arn: str, workers: int,
                        timeout_minutes: int) -> dict[str, str | int]:
        """The execution input of one dataset's run (:data:`INPUT_FIELDS`)."""
        return dict(zip(INPUT_FIELDS, (dataset, database, table, run_role_arn, workers, timeout_minutes), strict=True))

