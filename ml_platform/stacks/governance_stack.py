"""The stack of an environment's audit and governance: CloudTrail, Data Catalog encryption, budget."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_s3 as s3
from constructs import Construct

from ml_platform.constructs.core.alerting import AlertPath
from ml_platform.constructs.core.governance import (
    TRAIL_TAMPERING_CALLS,
    AuditTrail,
    CatalogEncryption,
    CostBudget,
    allow_budgets_to_publish,
)
from ml_platform.constructs.core.governance_settings import GovernanceSettings
from ml_platform.constructs.core.removal import data_removal_policy
from ml_platform.constructs.lake.lake_access import ILake, Zone
from ml_platform.stacks.alerting_stack import alert_routes


class GovernanceStack(Stack):
    """What ``settings`` enables: a trail ``<name_prefix>-audit`` recording the lake's buckets (or the
    output ``TrailArn`` of an existing organization trail), the Data Catalog encryption settings
    with the lake key (by default through a service role Glue assumes, so that the catalog's callers
    need no key permission; :class:`CatalogEncryption`), and a budget ``<name_prefix>-monthly``
    notifying the alert topic.

    A created trail's tampering calls (:data:`TRAIL_TAMPERING_CALLS`) alert. A budget adds statements
    to the alert topic's policy and key policy (in the alerting stack) so that AWS Budgets may publish.

    :param lake: the lake whose zone buckets the trail records; the trail bucket's access logs go to
        its ``access_log_bucket`` when it has one (a :class:`DataLake` does).
    :param cost_tag: ``(key, value)`` of the cost allocation tag the budget filters on, e.g.
        ``("Environment", "prod")``. Default: none (the account's whole cost).
    """

    def __init__(self, scope: Construct, construct_id: str, *, settings: GovernanceSettings, name_prefix: str,
                 lake: ILake, alerts: AlertPath, allow_data_deletion: bool,
                 cost_tag: tuple[str, str] | None = None, **stack_props: Any) -> None:
        super().__init__(scope, construct_id, **stack_props)
        removal = data_removal_policy(self, allow_data_deletion=allow_data_deletion)
        self.alerts = alert_routes(self, alerts)
        self.trail: AuditTrail | None = None
        if settings.trail is not None and settings.trail.creates:
            access_logs = getattr(lake, "access_log_bucket", None)
            self.trail = AuditTrail(
                self, "Trail", trail_name=f"{name_prefix}-audit", data_buckets=_zone_buckets(lake),
                settings=settings.trail, access_log_bucket=access_logs if isinstance(access_logs, s3.Bucket) else None,
                removal_policy=removal)
            CfnOutput(self, "TrailArn", value=self.trail.trail_arn, description="The trail recording this environment")
            CfnOutput(self, "TrailBucketName", value=self.trail.bucket.bucket_name,
                      description="Where the trail's log and digest files are (AWSLogs/<account>/CloudTrail/...)")
            self.alerts.route(self, "TrailTampering", "The audit trail was stopped, deleted or changed",
                              events.EventPattern(source=["aws.cloudtrail"], detail_type=["AWS API Call via CloudTrail"],
                                                  detail={"eventSource": ["cloudtrail.amazonaws.com"],
                                                          "eventName": list(TRAIL_TAMPERING_CALLS),
                                                          "requestParameters": {"name": [self.trail.trail_name,
                                                                                         self.trail.trail_arn]}}))
        elif settings.trail is not None:
            CfnOutput(self, "TrailArn", value=str(settings.trail.existing_trail_arn),
                      description="The existing (organization) trail recording this environment; not managed here")
        self.catalog_encryption: CatalogEncryption | None = None
        if settings.catalog_encryption is not None:
            self.catalog_encryption = CatalogEncryption(self, "CatalogEncryption", key=lake.encryption_key,
                                                        service_role=settings.catalog_encryption.service_role,
                                                        removal_policy=removal)
        self.budget: CostBudget | None = None
        if settings.budget is not None:
            allow_budgets_to_publish(alerts)
            self.budget = CostBudget(self, "Budget", settings=settings.budget, topic_arn=alerts.topic.topic_arn,
                                     budget_name=f"{name_prefix}-monthly", cost_tag=cost_tag)
        #: Errors of the functions aws-cdk-lib adds here for its own custom resources.
        self.alerts.cover_functions()


def _zone_buckets(lake: ILake) -> list[s3.IBucket]:
    """The bucket of each zone ``lake`` has, in zone order."""
    found = []
    for zone in Zone:
        try:
            found.append(lake.bucket(zone))
        except ValueError:
            continue  # an existing lake without this zone
    return found
