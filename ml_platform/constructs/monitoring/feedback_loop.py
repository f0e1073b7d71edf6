"""``FeedbackLoop``: late labels merged with an endpoint's captured requests, every hour.

The function (``ml_platform/lambdas/ground_truth_merge``) reads the label files that landed in the
previous hour (a Ground Truth labeling job's output manifest, or a business system's export: JSON
Lines with an inference ID and a label) and writes them

* as Model Monitor ground truth (``<ground truth prefix>yyyy/mm/dd/hh/labels.jsonl``), which the
  model quality and bias monitors merge with the captured predictions by inference ID, and
* joined with the captured request, as label-first CSV rows under the model's feedback location
  (``year=/month=/day=/``), which the training pipeline's feature step adds to the next training
  set of its window.

Re-running an hour rewrites the same two objects, so a retried run never duplicates rows.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from ml_platform.constructs.core.alerting import IAlerts
from ml_platform.constructs.lake.lake_access import ILake, Zone
from ml_platform.constructs.lake.lake_locations import HOURLY, LakeDataset
from ml_platform.constructs.monitoring.capture_check import capture_problems
from ml_platform.constructs.training.ml_network import INetwork
from ml_platform.constructs.monitoring.monitor_settings import FeedbackSettings
from ml_platform.constructs.core.validation import check_problems
from ml_platform.constructs.core.vpc_function import VpcFunction

#: Minutes past each hour the merge runs (captures of the previous hour are complete by then).
MERGE_MINUTE = 15
_NO_DLQ = ("An hourly schedule invokes the merge; EventBridge retries a failed invocation, and an hour that "
           "still fails is re-run by invoking the function with {\"hour\": ...} (docs/monitoring.md).")


class FeedbackLoop(Construct):
    """Hourly merge of ``settings.labels`` with ``capture`` into :attr:`ground_truth` and ``feedback``.

    :param endpoint_name: the endpoint whose predictions are labeled.
    :param model: the served model; ground truth goes under ``<model>/ground-truth/<endpoint>/`` of
        the curated zone.
    :param capture: the endpoint's data capture (its ``capture``); its last folder must be
        ``endpoint_name``.
    :param feedback: where labeled rows go: the model's training pipeline's ``feedback``.
    :param settings: where labels land and how they are read.
    :param lake: the lake of all four locations (a ``DataLake``, or ``DataLake.from_existing``).
    :param network: the function runs in its subnets with its job security group (S3 through a
        gateway endpoint); any :class:`~ml_platform.constructs.training.ml_network.INetwork`.
    :param key: encrypts the function's logs and environment. This construct does not edit its
        policy: the policy must already let ``logs.<region>.amazonaws.com`` use it (for a key the
        app creates, :func:`ml_platform.constructs.core.keys.allow_cloudwatch_logs`).
    :param removal_policy: of the log group. Default: RETAIN.
    :param alerts: where a schedule event EventBridge could not deliver goes (the dead-letter
        queue of these routes). Default: nowhere.

    :ivar ground_truth: the hand-off to Model Monitor (hourly JSON Lines folders).
    :ivar labels: the landing location of the label files.
    :ivar function: the merge function (its metrics: ``function.metric_errors()``, ...).
    :raises ValueError: naming the capture if it is not ``endpoint_name``'s, or labels that
        overlap what the loop writes.
    """

    def __init__(self, scope: Construct, construct_id: str, *, endpoint_name: str, model: str,
                 capture: LakeDataset, feedback: LakeDataset, settings: FeedbackSettings, lake: ILake,
                 network: INetwork, key: kms.IKey, removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
                 alerts: IAlerts | None = None) -> None:
        super().__init__(scope, construct_id)
        suffix = f"{endpoint_name}/"
        self.labels = LakeDataset.landing(settings.labels.zone, settings.labels.prefix, "jsonl")
        self.ground_truth = LakeDataset(Zone.CURATED, f"{model}/ground-truth/{endpoint_name}/", "ground-truth",
                                        HOURLY, producer=f"feedback loop of {endpoint_name}")
        problems = capture_problems(capture, endpoint_name)
        problems += [f"labels {self.labels} overlap the {what} {location} it writes; land labels elsewhere"
                     for what, location in (("ground truth", self.ground_truth), ("feedback", feedback))
                     if location.zone == self.labels.zone and (location.prefix.startswith(self.labels.prefix)
                                                               or self.labels.prefix.startswith(location.prefix))]
        check_problems(f"FeedbackLoop {self.node.path}", problems)
        self.capture, self.feedback, self._lake = capture, feedback, lake
        self.handler = VpcFunction(
            self, "Handler", name="ground_truth_merge", network=network, key=key, reserved_concurrency=1,
            description=f"Merges late labels of {endpoint_name} into ground truth and training feedback",
            no_dlq_reason=_NO_DLQ, timeout=Duration.minutes(5), removal_policy=removal_policy,
            environment={
                "ENDPOINT_NAME": endpoint_name,
                "BUCKET_CAPTURE": lake.bucket(capture.zone).bucket_name,
                "CAPTURE_PREFIX": capture.prefix.removesuffix(suffix),
                "BUCKET_LABELS": lake.bucket(self.labels.zone).bucket_name,
                "LABELS_PREFIX": self.labels.prefix,
                "ID_ATTRIBUTE": settings.id_attribute,
                "LABEL_ATTRIBUTE": settings.label_attribute,
                "BUCKET_GROUND_TRUTH": lake.bucket(self.ground_truth.zone).bucket_name,
                "GROUND_TRUTH_PREFIX": self.ground_truth.prefix,
                "BUCKET_FEEDBACK": lake.bucket(feedback.zone).bucket_name,
                "FEEDBACK_PREFIX": feedback.prefix,
                "LOOKBACK_DAYS": str(settings.lookback_days),
            },
        )
        self.function, self.role = self.handler.function, self.handler.role
        capture.grant_read(lake, self.role)
        self.labels.grant_read(lake, self.role)
        self.ground_truth.grant_write(lake, self.role)
        feedback.grant_write(lake, self.role)
        # pyright only: jsii names parameters of Function.grant_invoke* ("grantee") and LambdaFunction.bind
        # ("_id") unlike IFunction's and IRuleTarget's (aws/jsii#4541).
        target = (alerts.lambda_target(self.function) if alerts is not None  # pyright: ignore[reportArgumentType]
                  else targets.LambdaFunction(self.function))  # pyright: ignore[reportArgumentType]
        self.schedule = events.Rule(
            self, "Hourly", description=f"Merges the previous hour's labels of {endpoint_name}",
            schedule=events.Schedule.cron(minute=str(MERGE_MINUTE)),
            targets=[target])  # pyright: ignore[reportArgumentType]

    def grant_read_ground_truth(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` list, read and decrypt the ground truth this loop writes
        (:attr:`ground_truth`, hourly JSON Lines), e.g. an app's own analysis job."""
        return self.ground_truth.grant_read(self._lake, grantee)

    def grant_write_labels(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` land label files under :attr:`labels` (write, encrypting with the lake
        key; no delete), e.g. the role of the business system or labeling job that exports them."""
        return self.labels.grant_write(self._lake, grantee)
