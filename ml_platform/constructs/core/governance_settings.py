"""Settings of audit and governance (config section ``governance``): the CloudTrail trail (created,
or an existing organization trail), Glue Data Catalog encryption and the monthly cost budget.

Example::

    governance:
      trail: {}                          # a trail of its own (the default); or
      # trail: {existing_trail_arn: arn:aws:cloudtrail:us-east-1:111111111111:trail/org-trail}
      catalog_encryption: {service_role: true}   # the default (true is the same); false: none
      budget: {monthly_usd: 2000, thresholds_percent: [80, 100], forecast: true}
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from ml_platform.constructs.core.validation import StrictSettings

#: Days the trail's log files are kept in its bucket: seven years.
DEFAULT_TRAIL_RETENTION_DAYS = 2557
#: Days after which log files move to S3 Glacier Flexible Retrieval (restore before reading).
DEFAULT_ARCHIVE_AFTER_DAYS = 90
#: Days a noncurrent (overwritten or deleted) version of a log file is kept.
TRAIL_NONCURRENT_VERSION_DAYS = 90
#: Default budget thresholds, in percent of the monthly amount.
DEFAULT_THRESHOLDS_PERCENT: tuple[float, ...] = (80, 100)
#: Notifications one budget may have (CloudFormation ``AWS::Budgets::Budget``, NotificationsWithSubscribers).
MAX_BUDGET_NOTIFICATIONS = 5
#: A trail's ARN (CloudTrail trail names: 3-128 letters, digits, ``.``, ``_``, ``-``).
TRAIL_ARN_PATTERN = r"^arn:aws[a-z-]*:cloudtrail:[a-z0-9-]+:[0-9]{12}:trail/[A-Za-z0-9][A-Za-z0-9._-]{1,126}[A-Za-z0-9]$"

#: Retention periods CloudWatch Logs accepts (``PutRetentionPolicy``), in days.
LogRetentionDays = Literal[1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192,
                           2557, 2922, 3288, 3653]
Days = Annotated[int, Field(ge=1, le=36500)]
Percent = Annotated[float, Field(gt=0, le=1_000_000)]

_CREATED_TRAIL_OPTIONS = ("data_events", "retention_days", "archive_after_days", "cloudwatch_logs_retention_days")


class TrailSettings(StrictSettings):
    """The environment's CloudTrail trail: one of its own, or an existing (organization) trail.

    A created trail records management events of every region and S3 data events of the lake's
    buckets, validates log files (digests), encrypts them with a key of its own and writes them to a
    bucket of its own (versioned, TLS-only, access-logged, retained).

    :ivar create: create the trail. Default: true unless ``existing_trail_arn`` is given.
    :ivar existing_trail_arn: an organization trail that already records this account; nothing is
        created and the ARN becomes the stack output ``TrailArn``. Default: none.
    :ivar data_events: S3 data events recorded on the lake's buckets: ``all`` (reads and writes) or
        ``write_only``. Default: ``all``.
    :ivar retention_days: days log files are kept. Default: :data:`DEFAULT_TRAIL_RETENTION_DAYS` (2557).
    :ivar archive_after_days: days after which log files move to Glacier Flexible Retrieval, or
        null for never. Default: :data:`DEFAULT_ARCHIVE_AFTER_DAYS` (90).
    :ivar cloudwatch_logs_retention_days: also deliver events to an encrypted CloudWatch Logs group
        kept this many days, or null for no delivery. Default: null.
    """

    create: bool | None = None
    existing_trail_arn: Annotated[str, Field(pattern=TRAIL_ARN_PATTERN)] | None = None
    data_events: Literal["all", "write_only"] = "all"
    retention_days: Days = DEFAULT_TRAIL_RETENTION_DAYS
    archive_after_days: Days | None = DEFAULT_ARCHIVE_AFTER_DAYS
    cloudwatch_logs_retention_days: LogRetentionDays | None = None

    @model_validator(mode="after")
    def _one_kind_of_trail(self) -> TrailSettings:
        problems = []
        if self.existing_trail_arn is not None:
            if self.create:
                problems.append(f"create: true and existing_trail_arn {self.existing_trail_arn!r} exclude each "
                                "other; keep one")
            options = [k for k in _CREATED_TRAIL_OPTIONS if k in self.model_fields_set]
            if options:
                problems.append(f"{', '.join(options)} configure a created trail; with existing_trail_arn "
                                "nothing is created, remove them")
        elif self.create is False:
            problems.append("create: false needs existing_trail_arn (the organization trail recording this "
                            "account); for no trail at all write trail: null")
        if self.archive_after_days is not None and self.archive_after_days >= self.retention_days:
            problems.append(f"archive_after_days {self.archive_after_days} must be less than retention_days "
                            f"{self.retention_days}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def creates(self) -> bool:
        """Whether a trail is created (no ``existing_trail_arn``)."""
        return self.existing_trail_arn is None


class BudgetSettings(StrictSettings):
    """A monthly AWS Budgets cost budget whose notifications go to the alert topic.

    :ivar monthly_usd: the budgeted amount per calendar month, in USD (required, above 0).
    :ivar thresholds_percent: notify when actual cost exceeds each of these percentages of
        ``monthly_usd``. Default: :data:`DEFAULT_THRESHOLDS_PERCENT` (80, 100).
    :ivar forecast: also notify when the month's forecast exceeds each threshold. Default: true.
        With it, at most 2 thresholds fit a budget's 5 notifications; without, 5.
    """

    monthly_usd: Annotated[float, Field(gt=0, le=1_000_000_000)]
    thresholds_percent: Annotated[tuple[Percent, ...], Field(strict=False, min_length=1)] = DEFAULT_THRESHOLDS_PERCENT
    forecast: bool = True

    @model_validator(mode="after")
    def _fits_a_budget(self) -> BudgetSettings:
        problems = []
        repeated = sorted({t for t in self.thresholds_percent if self.thresholds_percent.count(t) > 1})
        if repeated:
            problems.append(f"thresholds_percent names {', '.join(f'{t:g}' for t in repeated)} more than once")
        count = len(self.thresholds_percent) * (2 if self.forecast else 1)
        if count > MAX_BUDGET_NOTIFICATIONS:
            kinds = "actual and forecast " if self.forecast else ""
            problems.append(f"{len(self.thresholds_percent)} thresholds make {count} {kinds}notifications; a budget "
                            f"takes at most {MAX_BUDGET_NOTIFICATIONS}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def notifications(self) -> list[tuple[str, float]]:
        """``(ACTUAL | FORECASTED, threshold)`` of each notification, thresholds ascending."""
        kinds = ("ACTUAL", "FORECASTED") if self.forecast else ("ACTUAL",)
        return [(kind, t) for t in sorted(self.thresholds_percent) for kind in kinds]


class CatalogEncryptionSettings(StrictSettings):
    """Glue Data Catalog encryption with the lake key (metadata at rest and connection passwords).

    :ivar service_role: mode ``SSE-KMS-WITH-SERVICE-ROLE``: the stack creates a role that AWS Glue
        assumes to encrypt and decrypt catalog objects with the lake key on each caller's behalf, so
        crawlers, jobs, Athena users and SageMaker roles need no permission on the key. ``false``:
        mode ``SSE-KMS``, where every principal that reads or writes the catalog needs
        ``kms:GenerateDataKey``, ``kms:Decrypt`` and ``kms:Encrypt`` on the lake key
        (``CatalogEncryption.grant_catalog_use``). Default: true.
    """

    service_role: bool = True


class GovernanceSettings(StrictSettings):
    """Audit and governance of one environment (config section ``governance``).

    :ivar trail: the CloudTrail trail, or null for none. Default: a created trail (``TrailSettings()``).
    :ivar catalog_encryption: encrypt the account's Glue Data Catalog in this region (metadata and
        connection passwords) with the lake key, as :class:`CatalogEncryptionSettings` say; ``true``
        is ``{}``, ``false`` or null is none. Default: ``CatalogEncryptionSettings()`` (with a
        service role).
    :ivar budget: a monthly cost budget. Default: none.
    """

    trail: TrailSettings | None = TrailSettings()
    catalog_encryption: CatalogEncryptionSettings | None = CatalogEncryptionSettings()
    budget: BudgetSettings | None = None

    @field_validator("catalog_encryption", mode="before")
    @classmethod
    def _true_or_false(cls, value: object) -> object:
        """``true``: the default settings; ``false``: no catalog encryption."""
        if value is True:
            return {}
        if value is False:
            return None
        return value
