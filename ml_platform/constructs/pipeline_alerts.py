"""``PipelineAlerts``: failed crawlers, jobs and Data Quality evaluations, to an encrypted topic."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from aws_cdk import RemovalPolicy
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct
from pydantic import Field

from ml_platform.constructs.validation import StrictSettings

Email = Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")]


class AlertSettings(StrictSettings):
    """:ivar emails: addresses subscribed to the topic (each must confirm). Default: none."""

    emails: Annotated[tuple[Email, ...], Field(strict=False)] = ()


class AlertTopic(Construct):
    """A KMS-encrypted, TLS-only SNS topic that EventBridge rules publish to, with email subscribers.

    :param display_name: the topic's display name.
    :param settings: email subscriptions. Default: none.
    :param key: key of the topic. Default: a new key with yearly rotation.
    :param removal_policy: of a created key. Default: RETAIN.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        display_name: str,
        settings: AlertSettings | None = None,
        key: kms.IKey | None = None,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        self.key = key or kms.Key(
            self, "Key", description=f"Encrypts the notifications of {self.node.path}",
            enable_key_rotation=True, removal_policy=removal_policy,
        )
        self.topic = sns.Topic(self, "Topic", display_name=display_name, master_key=self.key, enforce_ssl=True)
        # EventBridge publishes to the encrypted topic with this key.
        self.key.grant(iam.ServicePrincipal("events.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey")
        for email in (settings or AlertSettings()).emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))
        self._target = targets.SnsTopic(self.topic)
        self.rules: list[events.Rule] = []

    def route(self, construct_id: str, description: str, pattern: events.EventPattern) -> events.Rule:
        """An EventBridge rule sending events that match ``pattern`` to the topic."""
        rule = events.Rule(self, construct_id, description=description, event_pattern=pattern, targets=[self._target])
        self.rules.append(rule)
        return rule


class PipelineAlerts(AlertTopic):
    """Failed crawlers, jobs and Data Quality evaluations, to an :class:`AlertTopic`.

    :param crawler_names: crawlers whose ``Failed`` state is reported.
    :param job_names: jobs whose ``FAILED``, ``TIMEOUT``, ``ERROR`` or ``STOPPED`` state is reported.
    :param data_quality: also report failed Data Quality evaluations of those jobs. Default: True.
    :param settings, key, removal_policy: as for :class:`AlertTopic`.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        crawler_names: Sequence[str],
        job_names: Sequence[str],
        data_quality: bool = True,
        settings: AlertSettings | None = None,
        key: kms.IKey | None = None,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id, display_name="Data pipeline failures", settings=settings,
                         key=key, removal_policy=removal_policy)
        if crawler_names:
            self.route("CrawlerFailed", "A crawler failed", events.EventPattern(
                source=["aws.glue"], detail_type=["Glue Crawler State Change"],
                detail={"crawlerName": list(crawler_names), "state": ["Failed"]},
            ))
        if job_names:
            self.route("JobFailed", "A job run failed, timed out or stopped", events.EventPattern(
                source=["aws.glue"], detail_type=["Glue Job State Change"],
                detail={"jobName": list(job_names), "state": ["FAILED", "TIMEOUT", "ERROR", "STOPPED"]},
            ))
            if data_quality:
                self.route("DataQualityFailed", "A Data Quality evaluation failed", events.EventPattern(
                    source=["aws.glue-dataquality"],
                    detail_type=["Data Quality Evaluation Results Available"],
                    detail={"context": {"jobName": list(job_names)}, "state": ["FAILED"]},
                ))
