"""``DataBrewPipeline``: a DataBrew dataset over a lake prefix, its recipe, recipe and profile jobs.

The recipe (typed steps, :mod:`ml_platform.constructs.preparation.databrew_steps`) cleans the data and treats
its personal data; the recipe job writes Parquet partitioned by date to the target zone,
encrypted with the lake key; the profile job profiles the source, detects PII entities and
validates the ruleset, writing its report to the artifacts zone. Both jobs may run on schedules.
A scheduled recipe job reads only the files that landed since its previous run (an incremental
window on the files' last-modified date) and appends them to its output.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Annotated, Literal, TypedDict

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_databrew as databrew
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct
from pydantic import Field, model_validator

from ml_platform.constructs.core.compliance import acknowledge, compliance_rule_ids, default_resource
from ml_platform.constructs.lake.data_lake import DataZoneName, dataset_prefix
from ml_platform.constructs.lake.lake_access import ILake, Zone
from ml_platform.constructs.preparation.databrew_rules import AnyRule, rule_names_problem
from ml_platform.constructs.preparation.databrew_steps import AnyStep, RecipeContext
from ml_platform.constructs.core.iam_roles import ManagedPolicyRole
from ml_platform.constructs.lake.lake_locations import DAILY, LakeDataset
from ml_platform.constructs.preparation.recipe_publisher import RecipePublisher
from ml_platform.constructs.lake.s3_grants import grant_read_prefix, grant_write_prefix
from ml_platform.constructs.core.schedule import CronExpression
from ml_platform.constructs.core.validation import StrictSettings

#: PII entity types the profile job detects by default.
DEFAULT_PII_ENTITY_TYPES = ("EMAIL", "PHONE_NUMBER", "CREDIT_CARD", "PERSON_NAME", "IP_ADDRESS", "USA_SSN")
#: Partition keys of the lake layout, captured from the path and written as output partitions.
PARTITION_KEYS = DAILY
#: Prefix of the profile reports in the artifacts zone.
PROFILE_PREFIX = "databrew-profiles/"
#: What :meth:`DataBrewPipeline.grant_start_job_runs` allows on the recipe and profile jobs.
START_JOB_RUN_ACTIONS = ("databrew:StartJobRun", "databrew:DescribeJobRun", "databrew:ListJobRuns")
_FORMATS = {"csv": "CSV", "json": "JSON", "parquet": "PARQUET"}


class DataBrewJobSettings(StrictSettings):
    """:ivar capacity: DataBrew nodes, 1-149. Default: 5. :ivar timeout_minutes: 1-2880. Default: 60.
    :ivar max_retries: 0-10. Default: 0."""

    capacity: Annotated[int, Field(ge=1, le=149)] = 5
    timeout_minutes: Annotated[int, Field(ge=1, le=2880)] = 60
    max_retries: Annotated[int, Field(ge=0, le=10)] = 0


class DataBrewDatasetSettings(StrictSettings):
    """One dataset prepared by DataBrew.

    :ivar format: ``csv`` (header row, comma), ``json`` (one object per line) or ``parquet``.
    :ivar recipe: the steps, in order. At least one.
    :ivar ruleset: data quality rules the profile job validates. Default: none.
    :ivar source_zone: Default ``raw``. :ivar target_zone: Default ``processed``.
    :ivar recipe_schedule: AWS cron (UTC) of the recipe job. Default: none, on demand.
    :ivar profile_schedule: AWS cron (UTC) of the profile job. Default: none, on demand.
    :ivar job: size and limits of both jobs. Default: ``DataBrewJobSettings()``.
    :ivar pii_entity_types: entity types the profile job detects. Default: :data:`DEFAULT_PII_ENTITY_TYPES`.
    :ivar latest_files: read only the newest N files (by last-modified date) of the layout, e.g.
        the last day's drop; for on-demand runs, not with ``incremental_days`` or ``recipe_schedule``.
        Default: none, every file of every day.
    :ivar incremental_days: 1-31. Each run reads only the files last modified in the N days before
        it starts (DataBrew evaluates the window when the job starts), so that successive scheduled
        runs read each file once; it must equal the period of ``recipe_schedule``, which must run
        once a day (N=1) or once a week (N=7) at a fixed time, best away from when files land
        (the window moves with the job's actual start). The profile job reads the same window.
        Default: 1 with ``recipe_schedule``, else none (every file of every day).
    """

    format: Literal["csv", "json", "parquet"]
    recipe: Annotated[tuple[AnyStep, ...], Field(strict=False, min_length=1)]
    ruleset: Annotated[tuple[AnyRule, ...], Field(strict=False)] = ()
    source_zone: DataZoneName = "raw"
    target_zone: DataZoneName = "processed"
    recipe_schedule: CronExpression | None = None
    profile_schedule: CronExpression | None = None
    job: DataBrewJobSettings = DataBrewJobSettings()
    pii_entity_types: Annotated[
        tuple[Annotated[str, Field(pattern=r"^[A-Z][A-Z_]{1,63}$")], ...], Field(strict=False, min_length=1)
    ] = DEFAULT_PII_ENTITY_TYPES
    latest_files: Annotated[int, Field(ge=1, le=100_000)] | None = None
    incremental_days: Annotated[int, Field(ge=1, le=31)] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> DataBrewDatasetSettings:
        if self.source_zone == self.target_zone:
            raise ValueError(f"source_zone and target_zone are both {self.source_zone!r}; they must differ")
        problem = rule_names_problem(self.ruleset) or self._window_problem()
        if problem:
            raise ValueError(problem)
        return self

    @property
    def window_days(self) -> int | None:
        """Days of files each run reads (:attr:`incremental_days` or its default), None for all."""
        if self.incremental_days is not None:
            return self.incremental_days
        return 1 if self.recipe_schedule else None

    def _window_problem(self) -> str | None:
        days = self.window_days
        if days is None:
            return None
        if self.latest_files is not None and self.incremental_days is not None:
            return "latest_files and incremental_days both select the files a run reads; set only one"
        if self.latest_files is not None:
            return ("latest_files would make scheduled runs re-read or skip files; runs of recipe_schedule "
                    "read the incremental_days window (default 1 day), so remove latest_files")
        if self.recipe_schedule is None:
            return None
        period = schedule_period_days(self.recipe_schedule)
        if period is None:
            return (f"recipe_schedule {self.recipe_schedule!r} must run once a day or once a week at a fixed time "
                    "(e.g. cron(0 3 * * ? *)) so that incremental windows neither overlap nor leave gaps")
        if days != period:
            effect = "read files twice" if days > period else "skip files"
            return (f"incremental_days is {days} but recipe_schedule runs every {period} day(s): "
                    f"set incremental_days: {period}, or its windows {effect}")
        return None

    @property
    def uses_secret(self) -> bool:
        return any(step.uses_secret for step in self.recipe)

    @property
    def uses_key(self) -> bool:
        return any(step.uses_key for step in self.recipe)


class PiiSecret(Construct):
    """The environment's generated secret for keyed hashing and deterministic encryption.

    Encrypted with ``key``; never DataBrew's shared ``databrew!default``. Not rotated on a
    schedule: a new key changes every hash and ciphertext, so rotation is a planned re-run.
    """

    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey, removal_policy: RemovalPolicy) -> None:
        super().__init__(scope, construct_id)
        self.secret = secretsmanager.Secret(
            self,
            "Secret",
            description="Key of DataBrew keyed hashing and deterministic encryption",
            encryption_key=key,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=32, exclude_punctuation=True, include_space=False
            ),
            removal_policy=removal_policy,
        )
        reason = (
            "Rotating this key changes every hash and deterministic ciphertext already in the lake "
            "and breaks joins on them; rotation is a planned re-processing, not a schedule."
        )
        acknowledge(default_resource(self.secret, secretsmanager.CfnSecret),
                    ["AwsSolutions-SMG4", *compliance_rule_ids("SecretsManagerRotationEnabled")], reason)


class _JobCommon(TypedDict):
    """The ``CfnJob`` properties the recipe and profile jobs share."""

    encryption_mode: str
    encryption_key_arn: str
    log_subscription: str
    max_capacity: int
    max_retries: int
    timeout: int


class DataBrewPipeline(Construct):
    """Dataset, recipe (published on deploy), recipe job, ruleset, profile job and schedules.

    With an incremental window (:attr:`DataBrewDatasetSettings.window_days`) the dataset selects
    the files last modified in the window and the recipe job appends their rows to its output.
    DataBrew can only overwrite the whole output location, never one partition, so a manual
    re-run or retry within a window, or an on-demand run without one, appends its rows again.

    :ivar output: what the recipe job writes: Parquet under ``<dataset>/year=/month=/day=/`` of the
        target zone, the hand-off to consumers (read its URI, grant reads through it).
    :param dataset: the dataset's name; its data is under ``<dataset>/year=/month=/day=/``.
    :param lake: the lake (source, target and artifacts zones, and the key): a ``DataLake`` or
        ``DataLake.from_existing`` over the app's own buckets and key (any ``ILake``).
    :param settings: the dataset's DataBrew settings.
    :param secret: the secret of keyed hashing and deterministic encryption, e.g. the environment's
        :class:`PiiSecret` ``.secret``; the recipe job may decrypt it with the secret's own
        ``encryption_key``, or, when the secret does not name one (an imported secret), the lake key.
    :param logs_key: key of the jobs' log groups (it must admit CloudWatch Logs).
    :param name_prefix: names DataBrew resources ``<name_prefix>-<dataset>[-...]``.
    :param removal_policy: of log groups. Default: RETAIN.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        dataset: str,
        lake: ILake,
        settings: DataBrewDatasetSettings,
        secret: secretsmanager.ISecret,
        logs_key: kms.IKey,
        name_prefix: str,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        prefix = dataset_prefix(dataset)
        source, target = lake.bucket(Zone(settings.source_zone)), lake.bucket(Zone(settings.target_zone))
        name = f"{name_prefix}-{dataset}"
        artifacts = lake.bucket(Zone.ARTIFACTS)
        self._lake = lake

        self.dataset = databrew.CfnDataset(
            self, "Dataset", name=name, format=_FORMATS[settings.format],
            format_options=_format_options(settings.format),
            input=databrew.CfnDataset.InputProperty(
                s3_input_definition=databrew.CfnDataset.S3LocationProperty(
                    bucket=source.bucket_name, bucket_owner=stack.account,
                    key=prefix + "".join(f"{k}={{{k}}}/" for k in PARTITION_KEYS),
                )
            ),
            path_options=databrew.CfnDataset.PathOptionsProperty(
                files_limit=databrew.CfnDataset.FilesLimitProperty(
                    max_files=settings.latest_files, ordered_by="LAST_MODIFIED_DATE", order="DESCENDING"
                )
                if settings.latest_files
                else None,
                last_modified_date_condition=_last_modified_window(settings.window_days),
                parameters=[
                    databrew.CfnDataset.PathParameterProperty(
                        path_parameter_name=key,
                        dataset_parameter=databrew.CfnDataset.DatasetParameterProperty(
                            name=key, type="String", create_column=True
                        ),
                    )
                    for key in PARTITION_KEYS
                ]
            ),
        )

        context = RecipeContext(secret_arn=secret.secret_arn, kms_key_arn=lake.encryption_key.key_arn)
        self.recipe = databrew.CfnRecipe(
            self, "Recipe", name=name, description=f"Cleans {dataset} and treats its personal data",
            steps=[
                databrew.CfnRecipe.RecipeStepProperty(
                    action=databrew.CfnRecipe.ActionProperty(
                        operation=rendered["Action"]["Operation"],
                        parameters=rendered["Action"].get("Parameters"),
                    )
                )
                for rendered in (step.render(context) for step in settings.recipe)
            ],
        )
        publisher = RecipePublisher.of(self, logs_key=logs_key, removal_policy=removal_policy)
        self.published = publisher.publish(self, "PublishedVersion", recipe_name=name,
                                           steps_digest=steps_digest(settings))
        self.published.node.add_dependency(self.recipe)

        self.recipe_role = self._role("RecipeRole", f"DataBrew recipe job of {dataset}")
        grant_read_prefix(self.recipe_role, source, lake.encryption_key, prefix)
        grant_write_prefix(self.recipe_role, target, lake.encryption_key, prefix)
        if settings.uses_secret:
            # Identity policy only: secret.grant_read would add the role to the lake key's policy,
            # which lives in the lake's stack and would depend back on this one.
            self.recipe_role.add_to_principal_policy(iam.PolicyStatement(
                actions=["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                resources=[secret.secret_arn]))
            secret_key = secret.encryption_key or lake.encryption_key
            self.recipe_role.add_to_principal_policy(iam.PolicyStatement(
                actions=["kms:Decrypt"], resources=[secret_key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"secretsmanager.{stack.region}.amazonaws.com"}}))
        if settings.uses_key:
            self.recipe_role.add_to_principal_policy(iam.PolicyStatement(
                actions=["kms:GenerateDataKey", "kms:Decrypt"], resources=[lake.encryption_key.key_arn]))
        self.output = LakeDataset(zone=Zone(settings.target_zone), prefix=prefix, format="parquet",
                                  partitioning=DAILY, producer=f"DataBrew recipe job of {dataset}")
        self.recipe_job = databrew.CfnJob(
            self, "RecipeJob", name=f"{name}-recipe", type="RECIPE", role_arn=self.recipe_role.role_arn,
            dataset_name=name, recipe=databrew.CfnJob.RecipeProperty(
                name=name, version=self.published.get_att_string("RecipeVersion")),
            # Appends: Overwrite would empty the whole location, every earlier day included.
            outputs=[databrew.CfnJob.OutputProperty(
                location=databrew.CfnJob.S3LocationProperty(bucket=target.bucket_name, key=self.output.prefix,
                                                            bucket_owner=stack.account),
                format="PARQUET", compression_format="SNAPPY", partition_columns=list(self.output.partitioning),
                overwrite=False,
            )],
            **self._job_common(lake, settings, f"{name}-recipe", self.recipe_role, logs_key, removal_policy),
        )
        self.recipe_job.add_resource_dependency(self.dataset)

        self.ruleset: databrew.CfnRuleset | None = None
        if settings.ruleset:
            self.ruleset = databrew.CfnRuleset(
                self, "Ruleset", name=name, description=f"Data quality rules of {dataset}",
                target_arn=stack.format_arn(service="databrew", resource="dataset", resource_name=name),
                rules=[rule.to_rule() for rule in settings.ruleset],
            )
            self.ruleset.add_resource_dependency(self.dataset)
        self.profile_role = self._role("ProfileRole", f"DataBrew profile job of {dataset}")
        grant_read_prefix(self.profile_role, source, lake.encryption_key, prefix)
        grant_write_prefix(self.profile_role, artifacts, lake.encryption_key, PROFILE_PREFIX + prefix)
        self.profile_job = databrew.CfnJob(
            self, "ProfileJob", name=f"{name}-profile", type="PROFILE", role_arn=self.profile_role.role_arn,
            dataset_name=name,
            output_location=databrew.CfnJob.OutputLocationProperty(
                bucket=artifacts.bucket_name, key=PROFILE_PREFIX + prefix, bucket_owner=stack.account),
            profile_configuration=databrew.CfnJob.ProfileConfigurationProperty(
                entity_detector_configuration=databrew.CfnJob.EntityDetectorConfigurationProperty(
                    entity_types=list(settings.pii_entity_types))),
            validation_configurations=[databrew.CfnJob.ValidationConfigurationProperty(
                ruleset_arn=stack.format_arn(service="databrew", resource="ruleset", resource_name=name),
                validation_mode="CHECK_ALL")] if self.ruleset else None,
            **self._job_common(lake, settings, f"{name}-profile", self.profile_role, logs_key, removal_policy),
        )
        self.profile_job.add_resource_dependency(self.dataset)
        if self.ruleset:
            self.profile_job.add_resource_dependency(self.ruleset)

        self.schedules = []
        for job, cron, kind in ((self.recipe_job, settings.recipe_schedule, "recipe"),
                                (self.profile_job, settings.profile_schedule, "profile")):
            if cron:
                schedule = databrew.CfnSchedule(self, f"{kind.title()}Schedule", name=f"{name}-{kind}",
                                                cron_expression=cron, job_names=[job.name])
                schedule.add_resource_dependency(job)
                self.schedules.append(schedule)

    @property
    def job_arns(self) -> list[str]:
        """The ARNs of the recipe job and the profile job (``arn:...:databrew:<region>:<account>:job/<name>``)."""
        stack = Stack.of(self)
        return [stack.format_arn(service="databrew", resource="job", resource_name=job.name)
                for job in (self.recipe_job, self.profile_job)]

    def grant_start_job_runs(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` start runs of the recipe and profile jobs and read them
        (``databrew:StartJobRun``, ``databrew:DescribeJobRun``, ``databrew:ListJobRuns`` on
        :attr:`job_arns`); the runs execute as the jobs' own roles."""
        return iam.Grant.add_to_principal(
            grantee=grantee, actions=list(START_JOB_RUN_ACTIONS), resource_arns=self.job_arns
        )

    def grant_read_output(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` list, read and decrypt what the recipe job writes (:attr:`output`)."""
        return self.output.grant_read(self._lake, grantee)

    def _role(self, construct_id: str, description: str) -> ManagedPolicyRole:
        return ManagedPolicyRole.for_service(self, construct_id, service="databrew.amazonaws.com",
                                             description=description)

    def _job_common(self, lake: ILake, settings: DataBrewDatasetSettings, job_name: str,
                    role: ManagedPolicyRole, logs_key: kms.IKey, removal_policy: RemovalPolicy) -> _JobCommon:
        """Encryption, logging and limits both jobs share; the job logs only to its own group."""
        group = logs.LogGroup(
            self, f"{role.node.id.removesuffix('Role')}Logs", log_group_name=f"/aws-glue-databrew/jobs/{job_name}",
            encryption_key=logs_key, retention=logs.RetentionDays.ONE_YEAR, removal_policy=removal_policy,
        )
        group.grant_write(role)
        return {
            "encryption_mode": "SSE-KMS", "encryption_key_arn": lake.encryption_key.key_arn,
            "log_subscription": "ENABLE", "max_capacity": settings.job.capacity,
            "max_retries": settings.job.max_retries, "timeout": settings.job.timeout_minutes,
        }


def steps_digest(settings: DataBrewDatasetSettings) -> str:
    """A digest of the recipe steps, independent of the secret and key they will reference."""
    placeholder = RecipeContext(secret_arn="<secret>", kms_key_arn="<key>")
    rendered = [step.render(placeholder) for step in settings.recipe]
    return hashlib.sha256(json.dumps(rendered, sort_keys=True).encode()).hexdigest()


_WEEKDAY = re.compile(r"^(?:[1-7]|SUN|MON|TUE|WED|THU|FRI|SAT)$")


def schedule_period_days(cron: str) -> int | None:
    """1 if ``cron`` (a valid AWS cron) fires once every day, 7 if once a week, else None."""
    minutes, hours, day_of_month, month, day_of_week, year = cron.strip()[len("cron("):-1].split()
    if not (minutes.isdigit() and hours.isdigit() and month == "*" and year == "*"):
        return None
    if (day_of_month, day_of_week) in (("*", "?"), ("?", "*")):
        return 1
    if day_of_month == "?" and _WEEKDAY.match(day_of_week.upper()):
        return 7
    return None


def _last_modified_window(days: int | None) -> databrew.CfnDataset.FilterExpressionProperty | None:
    """Files last modified less than ``days`` days before the job starts (DataBrew's "now")."""
    if days is None:
        return None
    return databrew.CfnDataset.FilterExpressionProperty(
        expression="relative_after :window_start",
        values_map=[databrew.CfnDataset.FilterValueProperty(value_reference=":window_start", value=f"-{days}d")],
    )


def _format_options(data_format: str) -> databrew.CfnDataset.FormatOptionsProperty | None:
    if data_format == "csv":
        return databrew.CfnDataset.FormatOptionsProperty(
            csv=databrew.CfnDataset.CsvOptionsProperty(delimiter=",", header_row=True))
    if data_format == "json":
        return databrew.CfnDataset.FormatOptionsProperty(
            json=databrew.CfnDataset.JsonOptionsProperty(multi_line=False))
    return None
