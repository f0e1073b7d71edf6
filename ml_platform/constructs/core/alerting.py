"""Alerting: one path per environment (:class:`AlertPath`) and the routes each stack adds to it
(:class:`AlertRoutes`).

The path is a KMS-encrypted, TLS-only SNS topic whose key policy and topic policy admit the two
services that publish to it: EventBridge (rules) and CloudWatch (alarms). AWS drops a notification
to an SSE-KMS topic when the publishing service may not use the key (SNS developer guide,
"Configuring AWS KMS permissions": compatibility with event sources from AWS services).

The routes of one stack are EventBridge rules whose targets have a dead-letter queue, alarms on
that queue's depth, on every Lambda function's errors, and any alarm the stack's constructs make.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Protocol, runtime_checkable

from aws_cdk import CfnResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct
from pydantic import Field

from ml_platform.constructs.core.compliance import acknowledge
from ml_platform.constructs.core.validation import StrictSettings

Email = Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")]
HttpsUrl = Annotated[str, Field(pattern=r"^https://[^\s/$.?#][^\s]*$")]

#: How long a dead-letter queue keeps an undelivered event (SQS's maximum).
DEAD_LETTER_RETENTION = Duration.days(14)
#: Period of the error and queue-depth alarms; one datapoint at or above 1 alarms.
ALARM_PERIOD = Duration.minutes(5)
#: The services that publish to the alert topic, and the key actions each needs.
PUBLISHERS = {
    "events.amazonaws.com": ("kms:Decrypt", "kms:GenerateDataKey"),
    "cloudwatch.amazonaws.com": ("kms:Decrypt", "kms:GenerateDataKey*"),
}


class AlertSettings(StrictSettings):
    """Who hears about failures.

    :ivar emails: addresses subscribed to the topic (each confirms from the email). Default: none.
    :ivar https_endpoints: HTTPS URLs subscribed to the topic; SNS posts a subscription
        confirmation the endpoint must confirm (chat webhooks that cannot do so need a relay or
        AWS Chatbot). Default: none.
    """

    emails: Annotated[tuple[Email, ...], Field(strict=False)] = ()
    https_endpoints: Annotated[tuple[HttpsUrl, ...], Field(strict=False)] = ()


class AlertPath(Construct):
    """The environment's alert topic: encrypted with a key whose policy admits EventBridge and
    CloudWatch alarms, TLS-only, with the subscriptions of ``settings``.

    :param settings: subscriptions. Default: none.
    :param key: the topic's key; it must be a key of this app (its policy is extended). Default: a
        new key with yearly rotation.
    :param removal_policy: of a created key. Default: RETAIN.
    :raises ValueError: if ``key`` is imported (its policy cannot admit the publishers).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: AlertSettings | None = None,
        key: kms.IKey | None = None,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        # pyright only: jsii renames the interface's parameters (aws/aws-cdk#15584)
        self.key: kms.IKey = key or kms.Key(  # pyright: ignore[reportAttributeAccessIssue]
            self, "Key", description=f"Encrypts the platform's alerts ({self.node.path})",
            enable_key_rotation=True, removal_policy=removal_policy,
        )
        self.topic = sns.Topic(self, "Topic", display_name="ML platform alerts", master_key=self.key,
                               enforce_ssl=True)
        account = Stack.of(self).account
        for service, key_actions in PUBLISHERS.items():
            # EventBridge's requests to KMS carry no aws:SourceAccount, so its statement has no condition.
            conditions = None if service == "events.amazonaws.com" else {"StringEquals": {"aws:SourceAccount": account}}
            added = self.key.add_to_resource_policy(iam.PolicyStatement(
                # pyright only: jsii renames the interface's parameters (aws/aws-cdk#15584)
                principals=[iam.ServicePrincipal(service)],  # pyright: ignore[reportArgumentType]
                actions=list(key_actions), resources=["*"],
                conditions=conditions,
            ))
            if not added.statement_added:
                raise ValueError(f"AlertPath {self.node.path}: key {key.node.path if key else ''} is imported; "
                                 f"its policy cannot admit {service}: pass a kms.Key of this app or none")
        self.topic.add_to_resource_policy(iam.PolicyStatement(
            # pyright only: jsii renames the interface's parameters (aws/aws-cdk#15584)
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],  # pyright: ignore[reportArgumentType]
            actions=["sns:Publish"],
            resources=[self.topic.topic_arn], conditions={"StringEquals": {"aws:SourceAccount": account}},
        ))
        settings = settings or AlertSettings()
        for email in settings.emails:
            # pyright only: jsii renames the interface's parameters (aws/aws-cdk#15584)
            self.topic.add_subscription(subscriptions.EmailSubscription(email))  # pyright: ignore[reportArgumentType]
        for url in settings.https_endpoints:
            https = subscriptions.UrlSubscription(url, protocol=sns.SubscriptionProtocol.HTTPS)
            # pyright only: jsii renames the interface's parameters (aws/aws-cdk#15584)
            self.topic.add_subscription(https)  # pyright: ignore[reportArgumentType]


@runtime_checkable
class IAlerts(Protocol):
    """Where a construct sends what can fail: :class:`AlertRoutes` provides it (over the app's own
    topic and key, or an :class:`AlertPath`'s)."""

    @property
    def topic(self) -> sns.ITopic:
        """The alert topic."""
        ...

    @property
    def key(self) -> kms.IKey:
        """The topic's key (it also encrypts the dead-letter queue)."""
        ...

    @property
    def dead_letters(self) -> sqs.IQueue:
        """Where undeliverable events go."""
        ...

    def route(self, scope: Construct, construct_id: str, description: str, pattern: events.EventPattern) -> events.Rule:
        """A rule in ``scope`` sending matching events to the topic."""
        ...

    def notify(self, alarm: cloudwatch.Alarm, *, ok: bool = False) -> cloudwatch.Alarm:
        """Send ``alarm``'s state changes to the topic."""
        ...

    def lambda_target(self, function: lambda_.IFunction) -> targets.LambdaFunction:
        """A rule target invoking ``function`` that dead-letters."""
        ...


class AlertRoutes(Construct):
    """One stack's routes to the alert topic: rules with a dead-letter queue, alarms, and an error
    alarm for every Lambda function of the stack (:meth:`cover_functions`).

    :param topic: the alert topic (:attr:`AlertPath.topic`).
    :param key: the topic's key; it also encrypts the dead-letter queue, so its policy must admit
        EventBridge (as :class:`AlertPath`'s does).
    """

    def __init__(self, scope: Construct, construct_id: str, *, topic: sns.ITopic, key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        self.topic, self.key = topic, key
        self._action = actions.SnsAction(topic)
        self.alarms: list[cloudwatch.Alarm] = []
        self.rules: list[events.Rule] = []
        self._dead_letters: sqs.Queue | None = None
        self._covered: set[str] = set()

    @property
    def dead_letters(self) -> sqs.Queue:
        """The stack's dead-letter queue (made on first use), encrypted with the topic's key, with
        an alarm on its depth."""
        if self._dead_letters is None:
            self._dead_letters = sqs.Queue(
                self, "DeadLetters", encryption=sqs.QueueEncryption.KMS, encryption_master_key=self.key,
                enforce_ssl=True, retention_period=DEAD_LETTER_RETENTION,
            )
            acknowledge(self._dead_letters, ["AwsSolutions-SQS3"],
                        "This queue is the dead-letter queue of the stack's EventBridge and Scheduler targets; "
                        "its depth alarms to the alert topic.")
            self.notify(cloudwatch.Alarm(
                self, "DeadLettersAlarm", alarm_description="Events that could not be delivered to their target",
                metric=self._dead_letters.metric_approximate_number_of_messages_visible(
                    period=ALARM_PERIOD, statistic="Maximum"),
                threshold=1, evaluation_periods=1, treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            ))
        return self._dead_letters

    def route(self, scope: Construct, construct_id: str, description: str, pattern: events.EventPattern) -> events.Rule:
        """An EventBridge rule in ``scope`` sending events that match ``pattern`` to the topic."""
        target = targets.SnsTopic(self.topic, dead_letter_queue=self.dead_letters)
        rule = events.Rule(scope, construct_id, description=description, event_pattern=pattern,
                           # pyright only: jsii renames the interface's parameters (aws/aws-cdk#15584)
                           targets=[target])  # pyright: ignore[reportArgumentType]
        self.rules.append(rule)
        return rule

    def notify(self, alarm: cloudwatch.Alarm, *, ok: bool = False) -> cloudwatch.Alarm:
        """Send ``alarm``'s ALARM (and with ``ok``, its OK) state changes to the topic."""
        # pyright only: jsii renames the interface's parameters (aws/aws-cdk#15584)
        alarm.add_alarm_action(self._action)  # pyright: ignore[reportArgumentType]
        if ok:
            # pyright only: jsii renames the interface's parameters (aws/aws-cdk#15584)
            alarm.add_ok_action(self._action)  # pyright: ignore[reportArgumentType]
        self.alarms.append(alarm)
        return alarm

    def lambda_target(self, function: lambda_.IFunction) -> targets.LambdaFunction:
        """A rule target invoking ``function`` whose undeliverable events go to the dead-letter queue."""
        return targets.LambdaFunction(function, dead_letter_queue=self.dead_letters)

    def cover_functions(self) -> None:
        """An error alarm for every Lambda function of this stack that has none yet, including the
        functions aws-cdk-lib adds for its own custom resources."""
        stack = Stack.of(self)
        for construct in stack.node.find_all():
            # the L1 class, or a raw CfnResource as aws-cdk-lib's providers create (no type asked of the others)
            if ((isinstance(construct, lambda_.CfnFunction) or type(construct) is CfnResource
                 and construct.cfn_resource_type == "AWS::Lambda::Function")
                    and Stack.of(construct) is stack and construct.node.path not in self._covered):
                self._covered.add(construct.node.path)
                name = construct.node.path[len(stack.node.path) + 1:].replace("/", "-")
                self.notify(cloudwatch.Alarm(
                    self, f"{name}-Errors", alarm_description=f"Errors of the function {name}",
                    metric=cloudwatch.Metric(namespace="AWS/Lambda", metric_name="Errors",
                                             dimensions_map={"FunctionName": construct.ref},
                                             statistic="Sum", period=ALARM_PERIOD),
                    threshold=1, evaluation_periods=1, treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                    comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                ))


# Event patterns of the failures the platform reports (EventBridge events reference of each service).

def glue_crawler_failed(names: Sequence[str]) -> events.EventPattern:
    return events.EventPattern(source=["aws.glue"], detail_type=["Glue Crawler State Change"],
                               detail={"crawlerName": list(names), "state": ["Failed"]})


def glue_job_failed(names: Sequence[str]) -> events.EventPattern:
    return events.EventPattern(source=["aws.glue"], detail_type=["Glue Job State Change"],
                               detail={"jobName": list(names), "state": ["FAILED", "TIMEOUT", "ERROR", "STOPPED"]})


def glue_data_quality_failed(job_names: Sequence[str]) -> events.EventPattern:
    return events.EventPattern(source=["aws.glue-dataquality"],
                               detail_type=["Data Quality Evaluation Results Available"],
                               detail={"context": {"jobName": list(job_names)}, "state": ["FAILED"]})


def databrew_job_failed(names: Sequence[str]) -> events.EventPattern:
    return events.EventPattern(source=["aws.databrew"], detail_type=["DataBrew Job State Change"],
                               detail={"jobName": list(names), "state": ["FAILED", "TIMEOUT", "STOPPED"]})


def databrew_validation_failed(ruleset_names: Sequence[str]) -> events.EventPattern:
    return events.EventPattern(source=["aws.databrew"], detail_type=["DataBrew Ruleset Validation Result"],
                               detail={"rulesetName": list(ruleset_names), "validationState": ["FAILED"]})


def pipeline_execution_failed(pipeline_arns: Sequence[str]) -> events.EventPattern:
    return events.EventPattern(source=["aws.sagemaker"],
                               detail_type=["SageMaker Model Building Pipeline Execution Status Change"],
                               detail={"pipelineArn": list(pipeline_arns), "currentPipelineExecutionStatus": ["Failed"]})


#: SageMaker jobs of any origin (pipeline steps, schedules, people): detail-type and status field.
SAGEMAKER_JOBS = {
    "TrainingJobFailed": ("SageMaker Training Job State Change", "TrainingJobStatus"),
    "TuningJobFailed": ("SageMaker HyperParameter Tuning Job State Change", "HyperParameterTuningJobStatus"),
    "ProcessingJobFailed": ("SageMaker Processing Job State Change", "ProcessingJobStatus"),
    "TransformJobFailed": ("SageMaker Transform Job State Change", "TransformJobStatus"),
    "LabelingJobFailed": ("SageMaker Ground Truth Labeling Job State Change", "LabelingJobStatus"),
}


def sagemaker_job_failed(kind: str) -> events.EventPattern:
    detail_type, status = SAGEMAKER_JOBS[kind]
    return events.EventPattern(source=["aws.sagemaker"], detail_type=[detail_type], detail={status: ["Failed"]})
