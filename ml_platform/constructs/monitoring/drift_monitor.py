"""``ProcessingDriftMonitor``: data drift of an endpoint's captured inputs, without Model Monitor.

Model Monitor is closed to new AWS customers; this engine does what its data quality schedule
does with a plain SageMaker processing job. Every run of an EventBridge Scheduler schedule invokes
the launcher (``ml_platform/lambdas/drift_launcher``, in the platform's subnets), which starts the
drift job (``ml_platform/jobs/drift/drift.py check``, the whole ``jobs/drift`` folder shipped as a
zipped asset and unpacked by the container's entrypoint) in the region's SageMaker scikit-learn
image over the capture of the full hour before the scheduled time: network isolation, the
platform's subnets and job security group, the lake key on volumes and reports. When such a job
completes, an EventBridge rule invokes the metrics function (``ml_platform/lambdas/drift_metrics``),
which puts its ``metrics.json`` to CloudWatch as Model Monitor does:
``feature_baseline_drift_<feature>`` in ``aws/sagemaker/Endpoints/data-metrics`` with the
dimensions ``Endpoint`` and ``MonitoringSchedule`` (:attr:`ProcessingDriftMonitor.schedule_name`,
the name Model Monitor's data quality schedule has), so alarms and dashboards do not change with
the engine. A deploy fails while the baselines are missing (a :class:`BaselineCheck`).

Failures: a schedule run the scheduler cannot deliver goes to the alerts' dead-letter queue
(whose depth alarms); a drift job that fails or stops is routed to the alert topic; each drift
alarm notifies it; the functions' errors alarm through the stack's ``AlertRoutes.cover_functions``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from aws_cdk import Duration, Fn, RemovalPolicy, Stack, TimeZone, Token
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as targets
from constructs import Construct

from ml_platform.constructs.core.alerting import IAlerts
from ml_platform.constructs.core.compliance import acknowledge_wildcard_resource
from ml_platform.constructs.core.iam_roles import ManagedPolicyRole
from ml_platform.constructs.core.validation import check_problems
from ml_platform.constructs.core.vpc_function import VpcFunction
from ml_platform.constructs.lake.lake_access import ILake
from ml_platform.constructs.lake.lake_locations import LakeDataset, object_folder
from ml_platform.constructs.lake.s3_grants import grant_key_via_s3
from ml_platform.constructs.monitoring.baseline_check import BaselineCheck
from ml_platform.constructs.monitoring.capture_check import capture_problems
from ml_platform.constructs.monitoring.model_monitor import DATA_METRICS, DEFAULT_METRIC_STATISTIC, TYPES
from ml_platform.constructs.monitoring.monitor_settings import METRIC_NAME_PATTERN, interval_hours, monitoring_cron
from ml_platform.constructs.serving.endpoint_settings import offered_instance_types
from ml_platform.constructs.training.ml_network import INetwork, subnet_ids
from ml_platform.constructs.training.sagemaker_images import builtin_image
from ml_platform.constructs.training.sagemaker_roles import LakeLocation, LakeObject, RoleSettings, SageMakerRoles
from ml_platform.runtime import JOBS_DIR

#: The processing code: every file of this folder, zipped.
DRIFT_CODE = JOBS_DIR / "drift"
#: Version of the SageMaker scikit-learn image the drift job runs in (Python 3, numpy, pandas, scipy).
SKLEARN_IMAGE_VERSION = "1.4-2"
DEFAULT_SCHEDULE = "hourly"
DEFAULT_INSTANCE_TYPE = "ml.m5.large"
DEFAULT_VOLUME_SIZE_GB = 30
DEFAULT_MAX_RUNTIME_MINUTES = 60
#: Minutes past the hour every run starts: the previous hour's capture files have landed by then.
SCHEDULE_MINUTE = 10
#: Job names are ``<prefix>-<yyyymmddhh>`` and, for a re-run, ``-<hhmmss>``: 63 characters at most.
JOB_PREFIX_MAX = 63 - len("-yyyymmddhh") - len("-hhmmss")
#: ContainerArguments items are at most 256 characters; ``--headers`` is one item.
HEADERS_MAX_CHARS = 256
_JOB_PREFIX = re.compile(r"^[a-z0-9](-*[a-z0-9])*$")
_NO_DLQ = ("EventBridge Scheduler invokes the launcher, and EventBridge the metrics function, each with retries "
           "and the alerts dead-letter queue; errors alarm, and a lost run's window is re-run with {\"hour\": ...} "
           "(docs/monitoring.md).")


class ProcessingDriftMonitor(Construct):
    """Hourly (or ``schedule``) drift checks of ``endpoint_name``'s captured inputs by a processing job.

    :param endpoint_name: the monitored endpoint (a name or a token; with a token, give ``job_prefix``).
    :param capture: where the endpoint captures its data (its ``capture``); its last folder must be
        ``endpoint_name`` (checked when the name is known at synth).
    :param statistics: the baseline statistics (``drift.py baseline``'s statistics.json) in the lake.
    :param constraints: the baseline constraints (constraints.json) in the lake.
    :param headers: the feature columns of a captured CSV request, in order.
    :param reports: where the jobs write: ``<prefix><endpoint>/data-quality/<job name>/``.
    :param lake: the lake of capture, baselines and reports (a ``DataLake`` or ``DataLake.from_existing``);
        its key encrypts the jobs' volumes and reports.
    :param network: subnets and job security group of the jobs and the functions; it must reach the
        ``sagemaker_api`` and ``monitoring`` (CloudWatch) interface endpoints.
    :param alerts: where failures and alarms go (an ``AlertRoutes``).
    :param key: encrypts the functions' logs and environment; its policy must already admit
        ``logs.<region>.amazonaws.com`` (:func:`ml_platform.constructs.core.keys.allow_cloudwatch_logs`).
    :param schedule: ``hourly``, ``daily``, ``every N hours`` or a Model Monitor cron
        (:func:`~ml_platform.constructs.monitoring.monitor_settings.monitoring_cron`), run at
        :data:`SCHEDULE_MINUTE` past the hour, UTC. Each run checks the hour before it.
        Default: :data:`DEFAULT_SCHEDULE`.
    :param instance_type: a processing instance type. Default: :data:`DEFAULT_INSTANCE_TYPE`.
    :param volume_size_gb: 1-16384. Default: :data:`DEFAULT_VOLUME_SIZE_GB`.
    :param max_runtime_minutes: at most the time between two runs. Default: :data:`DEFAULT_MAX_RUNTIME_MINUTES`.
    :param role: the jobs' execution role (the training stack's monitoring role); it is granted the
        capture, the baselines' folders, the code and the reports, and must already have what
        SageMaker needs in the network and of the volume key (as ``SageMakerRoles`` gives).
        Default: a new ``SageMakerRoles`` monitoring role.
    :param drift_alarms: feature (one of ``headers``) -> drift (0-1] above which an alarm notifies
        the alert topic. Default: none.
    :param job_prefix: job names' prefix (lowercase letters, digits, ``-``; at most
        :data:`JOB_PREFIX_MAX`). Default: ``<endpoint name, lowercase>-drift``.
    :param removal_policy: of the functions' log groups. Default: RETAIN.
    :param model_package_arn: the model package version the endpoint serves: its registered data
        quality baselines are copied to ``statistics`` and ``constraints`` at each deploy
        (:class:`BaselineCheck`). Default: none (they are made by hand).
    :param registered_in: where that version's registered baselines lie; required with
        ``model_package_arn``.
    :raises ValueError: one line naming every problem.

    :ivar schedule_name: the ``MonitoringSchedule`` dimension: ``<endpoint>-data-quality``.
    :ivar job_prefix: every job's name starts with ``<job_prefix>-``.
    :ivar role: the jobs' execution role. :ivar launcher: :ivar publisher: the two ``VpcFunction``s.
    :ivar schedule: the scheduler schedule. :ivar rule: the completed-job rule. :ivar alarms: drift alarms.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint_name: str,
        capture: LakeDataset,
        statistics: LakeObject,
        constraints: LakeObject,
        headers: Sequence[str],
        reports: LakeLocation,
        lake: ILake,
        network: INetwork,
        alerts: IAlerts,
        key: kms.IKey,
        schedule: str = DEFAULT_SCHEDULE,
        instance_type: str = DEFAULT_INSTANCE_TYPE,
        volume_size_gb: int = DEFAULT_VOLUME_SIZE_GB,
        max_runtime_minutes: int = DEFAULT_MAX_RUNTIME_MINUTES,
        role: iam.IRole | None = None,
        drift_alarms: Mapping[str, float] | None = None,
        job_prefix: str | None = None,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
        model_package_arn: str | None = None,
        registered_in: LakeLocation | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        drift_alarms = dict(drift_alarms or {})
        named = not Token.is_unresolved(endpoint_name)
        if job_prefix is None and named:
            job_prefix = f"{endpoint_name.lower()}-drift"
        cron, problems = self._problems(endpoint_name, capture, headers, schedule, instance_type, volume_size_gb,
                                        max_runtime_minutes, drift_alarms, job_prefix, network)
        stack = Stack.of(self)
        image = None
        if Token.is_unresolved(stack.region):
            problems.append("the stack needs an explicit region to resolve the scikit-learn image")
        else:
            try:
                image = builtin_image("sklearn", stack.region, SKLEARN_IMAGE_VERSION)
            except ValueError as error:
                problems.append(str(error))
        check_problems(f"ProcessingDriftMonitor {self.node.path}", problems)
        assert cron is not None and job_prefix is not None and image is not None
        self.endpoint_name, self.job_prefix, self.headers = endpoint_name, job_prefix, tuple(headers)
        self.schedule_name = f"{endpoint_name}-{TYPES['data_quality'][1]}"
        self.cron, self._lake, self._reports = cron, lake, reports
        self.reports_prefix = f"{reports.prefix}{endpoint_name}/{TYPES['data_quality'][1]}/"
        self.role: iam.IRole = role or SageMakerRoles(
            self, "Roles", lake=lake, settings={"monitoring": RoleSettings()}, network=network).role("monitoring")
        self.code = s3_assets.Asset(self, "Code", path=str(DRIFT_CODE), exclude=["__pycache__", "*.pyc", "tests"])
        self._grant_job_role(capture, statistics, constraints)
        self.baseline_check = BaselineCheck(
            self, "Baselines", lake=lake, objects=[statistics, constraints], network=network, logs_key=key,
            removal_policy=removal_policy, model_package_arn=model_package_arn,
            copies={"ModelDataQuality.Statistics": statistics, "ModelDataQuality.Constraints": constraints}
            if model_package_arn is not None else None, registered_in=registered_in)
        self.launcher = VpcFunction(
            self, "Launcher", name="drift_launcher", network=network, key=key, reserved_concurrency=1,
            description=f"Starts the drift job of {endpoint_name} over the previous hour's capture",
            no_dlq_reason=_NO_DLQ, removal_policy=removal_policy,
            environment={
                "JOB_PREFIX": job_prefix, "ENDPOINT_NAME": endpoint_name, "SCHEDULE_NAME": self.schedule_name,
                "IMAGE_URI": image,
                "ROLE_ARN": self.role.role_arn, "INSTANCE_TYPE": instance_type,
                "VOLUME_SIZE_GB": str(volume_size_gb), "MAX_RUNTIME_SECONDS": str(max_runtime_minutes * 60),
                "KMS_KEY_ARN": lake.encryption_key.key_arn, "SUBNETS": Fn.join(",", subnet_ids(network)),
                "SECURITY_GROUP": network.job_security_group.security_group_id,
                "CODE_URI": self.code.s3_object_url,
                "STATISTICS_URI": lake.s3_uri(statistics.zone, statistics.key),
                "CONSTRAINTS_URI": lake.s3_uri(constraints.zone, constraints.key),
                "CAPTURE_BUCKET": lake.bucket(capture.zone).bucket_name, "CAPTURE_PREFIX": capture.prefix,
                "REPORTS_URI": lake.s3_uri(reports.zone, self.reports_prefix), "HEADERS": ",".join(headers),
            })
        self._grant_launcher(capture)
        self.publisher = VpcFunction(
            self, "Metrics", name="drift_metrics", network=network, key=key, reserved_concurrency=2,
            description=f"Puts the drift metrics of {endpoint_name}'s completed drift jobs to CloudWatch",
            no_dlq_reason=_NO_DLQ, removal_policy=removal_policy,
            environment={"METRICS_BUCKET": lake.bucket(reports.zone).bucket_name,
                         "METRICS_PREFIX": self.reports_prefix, "JOB_PREFIX": job_prefix,
                         "ENDPOINT_NAME": endpoint_name, "SCHEDULE_NAME": self.schedule_name})
        self._grant_publisher()
        self.schedule = self._schedule(alerts)
        self.rule, self.failed = self._rules(alerts)
        self.alarms = [alerts.notify(self.metric_feature_drift(feature, statistic="Maximum").create_alarm(
            self, f"Drift{index}", threshold=threshold, evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=f"{endpoint_name} (drift job): baseline drift of feature {feature} above {threshold}"))
            for index, (feature, threshold) in enumerate(drift_alarms.items())]

    # -- grants and metrics --------------------------------------------------------------------

    def grant_read_reports(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` list, read and decrypt every job's reports (:attr:`reports_prefix`); nothing else."""
        return self._lake.grant_read(grantee, self._reports.zone, self.reports_prefix)

    def metric_feature_drift(self, feature: str, *, statistic: str = DEFAULT_METRIC_STATISTIC,
                             period: Duration | None = None) -> cloudwatch.Metric:
        """The baseline drift (0-1) of ``feature`` the jobs publish: ``feature_baseline_drift_<feature>``
        in ``aws/sagemaker/Endpoints/data-metrics``, dimensions ``Endpoint`` and ``MonitoringSchedule``.

        :param statistic: Default: :data:`~ml_platform.constructs.monitoring.model_monitor.DEFAULT_METRIC_STATISTIC`.
        :param period: Default: the schedule's interval (one job each).
        :raises ValueError: if ``feature`` is not a metric name.
        """
        check_problems(f"ProcessingDriftMonitor {self.node.path}", [] if re.fullmatch(METRIC_NAME_PATTERN, feature) else [
            f"metric_feature_drift: feature {feature!r} is not a metric name; allowed: 1-200 letters, digits, "
            "'_', '.', '-'"])
        return cloudwatch.Metric(
            namespace=DATA_METRICS, metric_name=f"feature_baseline_drift_{feature}", statistic=statistic,
            period=period or Duration.hours(interval_hours(self.cron)),
            dimensions_map={"Endpoint": self.endpoint_name, "MonitoringSchedule": self.schedule_name})

    # -- validation ----------------------------------------------------------------------------

    @staticmethod
    def _problems(endpoint_name: str, capture: LakeDataset, headers: Sequence[str], schedule: str,
                  instance_type: str, volume_size_gb: int, max_runtime_minutes: int,
                  drift_alarms: Mapping[str, float], job_prefix: str | None,
                  network: INetwork) -> tuple[str | None, list[str]]:
        problems: list[str] = []
        if not Token.is_unresolved(endpoint_name):
            problems += capture_problems(capture, endpoint_name)
        try:
            cron: str | None = monitoring_cron(schedule)
        except ValueError as error:
            cron = None
            problems.append(str(error))
        if instance_type not in offered_instance_types("ProcessingInstanceType"):
            problems.append(f"instance_type {instance_type!r} is not offered by SageMaker for processing jobs")
        if not 1 <= volume_size_gb <= 16384:
            problems.append(f"volume_size_gb is {volume_size_gb}; allowed: 1 to 16384")
        limit = interval_hours(cron) * 60 if cron else 1440
        if not 1 <= max_runtime_minutes <= limit:
            problems.append(f"max_runtime_minutes is {max_runtime_minutes}; allowed: 1 to {limit} (the minutes "
                            "between two runs)")
        bad = [h for h in headers if not h or "," in h or len(h) > 256]
        if not headers or bad:
            problems.append(f"headers {list(headers)!r} are invalid; allowed: one or more column names without ','")
        elif len(set(headers)) != len(headers):
            problems.append(f"headers {list(headers)!r} repeat a column; allowed: distinct column names")
        elif len(",".join(headers)) > HEADERS_MAX_CHARS:
            problems.append(f"headers are {len(','.join(headers))} characters joined with ','; allowed: at most "
                            f"{HEADERS_MAX_CHARS} (one container argument)")
        for feature, threshold in drift_alarms.items():
            if feature not in headers or not re.fullmatch(METRIC_NAME_PATTERN, feature):
                problems.append(f"drift_alarms: feature {feature!r} is not one of headers ({', '.join(headers)}) "
                                "with a metric name (letters, digits, '_', '.', '-')")
            if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold <= 1:
                problems.append(f"drift_alarms: threshold {threshold!r} of {feature!r}; allowed: above 0, at most 1")
        if job_prefix is None:
            problems.append("job_prefix is required when endpoint_name is a token")
        elif not _JOB_PREFIX.match(job_prefix) or len(job_prefix) > JOB_PREFIX_MAX:
            problems.append(f"job_prefix {job_prefix!r} is invalid; allowed: lowercase letters, digits and '-', "
                            f"at most {JOB_PREFIX_MAX} characters (pass job_prefix for a long endpoint name)")
        lacking = [e for e in ("sagemaker_api", "monitoring") if not network.reaches(e)]
        if lacking:
            problems.append(f"the network does not reach the {' and '.join(lacking)} interface endpoint(s) the "
                            "launcher and metrics functions call; add them to network.interface_endpoints")
        return cron, problems

    # -- permissions ---------------------------------------------------------------------------

    def _grant_job_role(self, capture: LakeDataset, statistics: LakeObject, constraints: LakeObject) -> None:
        lake, role = self._lake, self.role
        capture.grant_read(lake, role)
        for zone, folder in sorted({(o.zone, object_folder(o.key)) for o in (statistics, constraints)}):
            lake.grant_read(role, zone, folder)
        lake.grant_write(role, self._reports.zone, self.reports_prefix)
        iam.Grant.add_to_principal(grantee=role, actions=["s3:GetObject"],
                                   resource_arns=[self.code.bucket.arn_for_objects(self.code.s3_object_key)])

    def _grant_launcher(self, capture: LakeDataset) -> None:
        """Create and tag only this monitor's jobs, isolated and encrypted with the lake key; pass
        only the job role; list only the capture."""
        role, key = self.launcher.role, self._lake.encryption_key.key_arn
        jobs = Stack.of(self).format_arn(service="sagemaker", resource="processing-job",
                                         resource_name=f"{self.job_prefix}-*")
        role.add_to_principal_policy(iam.PolicyStatement(
            actions=["sagemaker:CreateProcessingJob"], resources=[jobs],
            conditions={"Bool": {"sagemaker:NetworkIsolation": "true"},
                        "ArnEquals": {"sagemaker:VolumeKmsKey": key, "sagemaker:OutputKmsKey": key}}))
        role.add_to_principal_policy(iam.PolicyStatement(
            actions=["sagemaker:AddTags"], resources=[jobs],
            conditions={"StringEquals": {"sagemaker:TaggingAction": "CreateProcessingJob"}}))
        acknowledge_wildcard_resource(role, jobs, "Each run names its processing job after the hour it checks; "
                                      "the launcher may only create (and tag on creation) jobs of this prefix.")
        iam.Grant.add_to_principal(grantee=role, actions=["iam:PassRole"], resource_arns=[self.role.role_arn],
                                   conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}})
        iam.Grant.add_to_principal(grantee=role, actions=["s3:ListBucket"],
                                   resource_arns=[self._lake.bucket(capture.zone).bucket_arn],
                                   conditions={"StringLike": {"s3:prefix": [f"{capture.prefix}*"]}})

    def _grant_publisher(self) -> None:
        """Read only the jobs' metrics (under the reports prefix); put metrics only to the data-metrics namespace."""
        role = self.publisher.role
        # the lake's prefix grant: objects and listing of this monitor's reports only (the wildcard
        # on the objects under the prefix is acknowledged by the grant)
        self._lake.grant_read(role, self._reports.zone, self.reports_prefix)
        role.add_to_principal_policy(iam.PolicyStatement(
            actions=["cloudwatch:PutMetricData"], resources=["*"],
            conditions={"StringEquals": {"cloudwatch:namespace": DATA_METRICS}}))
        acknowledge_wildcard_resource(role, "*", "cloudwatch:PutMetricData has no resource-level permissions; "
                                      f"the function may put metrics only to {DATA_METRICS}.")

    # -- triggers ------------------------------------------------------------------------------

    def _schedule(self, alerts: IAlerts) -> scheduler.Schedule:
        role = ManagedPolicyRole.for_service(self, "SchedulerRole", service="scheduler.amazonaws.com",
                                             description=f"Invokes the drift launcher of {self.endpoint_name}")
        alerts.key.grant(role, "kms:GenerateDataKey", "kms:Decrypt")  # sends to the encrypted dead-letter queue
        target = targets.LambdaInvoke(
            # pyright only: jsii names Function.grant_invoke*'s parameter "grantee" unlike IFunction's (aws/jsii#4541)
            self.launcher.function,  # pyright: ignore[reportArgumentType]
            input=scheduler.ScheduleTargetInput.from_object({"scheduled_time": scheduler.ContextAttribute.scheduled_time}),
            dead_letter_queue=alerts.dead_letters, retry_attempts=2, max_event_age=Duration.hours(1),
            # pyright only: jsii names Role.grant_*_role's parameter "identity", IRole's "grantee" (aws/aws-cdk#21099)
            role=role)  # pyright: ignore[reportArgumentType]
        acknowledge_wildcard_resource(role, f"{self.launcher.function.function_arn}:*", "aws-cdk-lib's Lambda "
                                      "target grants every version of the launcher; the schedule invokes the function "
                                      "itself, and this role can invoke nothing else.")
        cron = self.cron.replace("cron(0 ", f"cron({SCHEDULE_MINUTE} ", 1)
        schedule = scheduler.Schedule(
            self, "Schedule", description=f"Checks the drift of {self.endpoint_name}'s previous hour",
            schedule=scheduler.ScheduleExpression.expression(cron, TimeZone.ETC_UTC),
            # pyright only: jsii names LambdaInvoke.bind's parameter "schedule", IScheduleTarget's "_schedule" (aws/jsii#4541)
            target=target)  # pyright: ignore[reportArgumentType]
        schedule.node.add_dependency(self.baseline_check.resource)
        if isinstance(self.role, Construct):
            schedule.node.add_dependency(self.role)  # the job role's policies exist before the first job
        return schedule

    def _rules(self, alerts: IAlerts) -> tuple[events.Rule, events.Rule]:
        base = {"source": ["aws.sagemaker"], "detail_type": ["SageMaker Processing Job State Change"]}
        name = [{"prefix": f"{self.job_prefix}-"}]
        completed = events.Rule(
            self, "Completed", description=f"Puts the metrics of {self.endpoint_name}'s completed drift jobs",
            event_pattern=events.EventPattern(**base, detail={"ProcessingJobName": name,
                                                              "ProcessingJobStatus": ["Completed"]}),
            # pyright only: jsii names LambdaFunction.bind's parameter "_id", IRuleTarget's "id" (aws/jsii#4541)
            targets=[alerts.lambda_target(self.publisher.function)])  # pyright: ignore[reportArgumentType]
        failed = alerts.route(
            self, "Failed", f"A drift job of {self.endpoint_name} failed or stopped",
            events.EventPattern(**base, detail={"ProcessingJobName": name,
                                                "ProcessingJobStatus": ["Failed", "Stopped"]}))
        return completed, failed
