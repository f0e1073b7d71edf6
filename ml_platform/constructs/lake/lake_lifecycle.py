"""Lifecycle settings of a data lake bucket, validated against S3's transition rules.

S3 accepts transitions only "down the waterfall" (Standard-IA, Intelligent-Tiering, One Zone-IA,
Glacier Instant Retrieval, Glacier Flexible Retrieval, Deep Archive), needs at least 30 days before
Standard-IA or One Zone-IA, and keeps an object at least 30 days in an infrequent-access class
before the next transition. These rules are checked at synth so that a bad value fails in seconds,
not when CloudFormation calls ``PutBucketLifecycleConfiguration``.

Two of the classes archive: an object in Glacier Flexible Retrieval (``GLACIER``) or Deep Archive
(``DEEP_ARCHIVE``) must be restored before any GET, which otherwise fails with
``InvalidObjectState``; every other class here (Glacier Instant Retrieval included) is read in
milliseconds. :meth:`LifecyclePolicy.archive_problems` reports the archive transitions of a policy,
for the owners of buckets that are read (see ``DataLake``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from aws_cdk import Duration
from aws_cdk import aws_s3 as s3
from pydantic import Field, model_validator

from ml_platform.constructs.core.validation import StrictSettings

StorageClassName = Literal[
    "STANDARD_IA", "INTELLIGENT_TIERING", "ONEZONE_IA", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE"
]

#: S3's transition waterfall: a rule may only move objects to a class later in this tuple.
WATERFALL: tuple[str, ...] = (
    "STANDARD_IA",
    "INTELLIGENT_TIERING",
    "ONEZONE_IA",
    "GLACIER_IR",
    "GLACIER",
    "DEEP_ARCHIVE",
)
#: Classes S3 accepts only for objects at least this many days old, and keeps them this long
#: before the next transition.
INFREQUENT_ACCESS_MIN_DAYS = 30
_INFREQUENT_ACCESS = ("STANDARD_IA", "ONEZONE_IA")
#: Archive classes: their objects must be restored (``RestoreObject``) before any GET.
ARCHIVE_CLASSES: tuple[str, ...] = ("GLACIER", "DEEP_ARCHIVE")
#: Classes whose objects stay readable by GET, with no restore. ``INTELLIGENT_TIERING`` is one because
#: its optional Archive Access and Deep Archive Access tiers are off unless a bucket enables them
#: (``DataLake`` never does).
READABLE_CLASSES: tuple[str, ...] = tuple(c for c in WATERFALL if c not in ARCHIVE_CLASSES)

_STORAGE_CLASSES = {
    "STANDARD_IA": s3.StorageClass.INFREQUENT_ACCESS,
    "INTELLIGENT_TIERING": s3.StorageClass.INTELLIGENT_TIERING,
    "ONEZONE_IA": s3.StorageClass.ONE_ZONE_INFREQUENT_ACCESS,
    "GLACIER_IR": s3.StorageClass.GLACIER_INSTANT_RETRIEVAL,
    "GLACIER": s3.StorageClass.GLACIER,
    "DEEP_ARCHIVE": s3.StorageClass.DEEP_ARCHIVE,
}

Days = Annotated[int, Field(ge=0, le=36500)]
PositiveDays = Annotated[int, Field(ge=1, le=36500)]


class Transition(StrictSettings):
    """Move current object versions to ``storage_class`` ``days`` after creation."""

    storage_class: StorageClassName
    days: Days


#: Default transitions of every zone: Standard-IA after 30 days, Glacier Instant Retrieval after 90.
DEFAULT_TRANSITIONS: tuple[Transition, ...] = (
    Transition(storage_class="STANDARD_IA", days=30),
    Transition(storage_class="GLACIER_IR", days=90),
)
#: Default days after which a noncurrent (overwritten or deleted) object version is removed.
DEFAULT_NONCURRENT_VERSION_EXPIRATION_DAYS = 90
#: Default days after which an incomplete multipart upload is aborted.
DEFAULT_ABORT_INCOMPLETE_UPLOAD_DAYS = 7


class LifecyclePolicy(StrictSettings):
    """Lifecycle of one bucket: storage-class transitions and clean-up of old versions and uploads.

    :ivar transitions: transitions of current versions, in waterfall order with increasing days.
        Default: Standard-IA after 30 days, Glacier Instant Retrieval after 90 days.
    :ivar noncurrent_version_expiration_days: days a noncurrent version is kept. Default: 90.
    :ivar abort_incomplete_multipart_upload_days: days before an incomplete multipart upload is
        aborted. Default: 7.
    """

    transitions: Annotated[tuple[Transition, ...], Field(strict=False)] = DEFAULT_TRANSITIONS
    noncurrent_version_expiration_days: PositiveDays = DEFAULT_NONCURRENT_VERSION_EXPIRATION_DAYS
    abort_incomplete_multipart_upload_days: PositiveDays = DEFAULT_ABORT_INCOMPLETE_UPLOAD_DAYS

    @model_validator(mode="after")
    def _check_transitions(self) -> LifecyclePolicy:
        problems: list[str] = []
        previous: Transition | None = None
        for index, transition in enumerate(self.transitions):
            where = f"transitions[{index}]"
            if (
                transition.storage_class in _INFREQUENT_ACCESS
                and transition.days < INFREQUENT_ACCESS_MIN_DAYS
            ):
                problems.append(
                    f"{where}: {transition.storage_class} after {transition.days} days is not "
                    f"allowed; S3 needs at least {INFREQUENT_ACCESS_MIN_DAYS} days"
                )
            if previous is not None:
                if WATERFALL.index(transition.storage_class) <= WATERFALL.index(
                    previous.storage_class
                ):
                    problems.append(
                        f"{where}: {transition.storage_class} cannot follow "
                        f"{previous.storage_class}; order transitions as {' -> '.join(WATERFALL)}"
                    )
                elif transition.days <= previous.days:
                    problems.append(
                        f"{where}: {transition.storage_class} after {transition.days} days must "
                        f"come later than {previous.storage_class} after {previous.days} days"
                    )
                elif (
                    previous.storage_class in _INFREQUENT_ACCESS
                    and transition.days - previous.days < INFREQUENT_ACCESS_MIN_DAYS
                ):
                    problems.append(
                        f"{where}: {transition.storage_class} after {transition.days} days is too "
                        f"soon; objects stay at least {INFREQUENT_ACCESS_MIN_DAYS} days in "
                        f"{previous.storage_class} (day {previous.days})"
                    )
            previous = transition
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def archive_problems(self, reason: str) -> list[str]:
        """``transitions[<i>].storage_class: <problem>`` for each transition to an archive class
        (:data:`ARCHIVE_CLASSES`), for a bucket whose objects must stay readable.

        :param reason: why they must, for the message, e.g. ``"raw is read by crawlers"``.
        """
        return [
            f"transitions[{index}].storage_class: {t.storage_class} after {t.days} days makes objects "
            f"unreadable until restored, and {reason}; allowed: {', '.join(READABLE_CLASSES)}"
            for index, t in enumerate(self.transitions)
            if t.storage_class in ARCHIVE_CLASSES
        ]

    def to_rule(self) -> s3.LifecycleRule:
        """The S3 lifecycle rule that implements this policy on a versioned bucket."""
        return s3.LifecycleRule(
            id="transition-and-clean-up",
            enabled=True,
            transitions=[
                s3.Transition(
                    storage_class=_STORAGE_CLASSES[t.storage_class],
                    transition_after=Duration.days(t.days),
                )
                for t in self.transitions
            ],
            noncurrent_version_expiration=Duration.days(self.noncurrent_version_expiration_days),
            abort_incomplete_multipart_upload_after=Duration.days(
                self.abort_incomplete_multipart_upload_days
            ),
        )
