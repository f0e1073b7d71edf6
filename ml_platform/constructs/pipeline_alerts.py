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


class PipelineAlerts(Construct):
    """An SNS topic (KMS-encrypted, TLS-only) and EventBridge rules for pipeline failures.

    :param crawler_names: crawlers whose ``Failed`` state is reported.
    :param job_names: jobs whose ``FAILED``, ``TIMEOUT``, ``ERROR`` or ``STOPPED`` state is reported.
    :param data_quality: also report failed Data Quality evaluations of those jobs. Default: True.
    :param settings: email subscriptions. Default: none.
    :param key: key of the topic. Default: a new key with yearly rotation.
    :param removal_policy: of a created key. Default: RETAIN.
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
        super().__init__(scope, construct_id)
        settings = settings or AlertSettings()
        self.key = key or kms.Key(
            self, "Key", description=f"Encrypts pipeline alerts of {self.node.path}",
            enable_key_rotation=True, removal_policy=removal_policy,
        )
        self.topic = sns.Topic(
            self, "Topic", display_name="Data pipeline failures", master_key=self.key, enforce_ssl=True
        )
        # EventBridge publishes to the encrypted topic with this key.
        self.key.grant(iam.ServicePrincipal("events.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey")
        for email in settings.emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))
        target = targets.SnsTopic(self.topic)
        self.rules: list[events.Rule] = []
        if crawler_names:
            self._rule("CrawlerFailed", "A crawler failed", events.EventPattern(
                source=["aws.glue"], detail_type=["Glue Crawler State Change"],
                detail={"crawlerName": list(crawler_names), "state": ["Failed"]},
            ), target)
        if job_names:
            self._rule("JobFailed", "A job run failed, timed out or stopped", events.EventPattern(
                source=["aws.glue"], detail_type=["Glue Job State Change"],
                detail={"jobName": list(job_names), "state": ["FAILED", "TIMEOUT", "ERROR", "STOPPED"]},
            ), target)
            if data_quality:
                self._rule("DataQualityFailed", "A Data Quality evaluation failed", events.EventPattern(
                    source=["aws.glue-dataquality"],
                    detail_type=["Data Quality Evaluation Results Available"],
                    detail={"context": {"jobName": list(job_names)}, "state": ["FAILED"]},
                ), target)

    def _rule(self, construct_id: str, description: str, pattern: events.EventPattern,
              target: events.IRuleTarget) -> None:
        self.rules.append(
            events.Rule(self, construct_id, description=description, event_pattern=pattern, targets=[target])
        )
