"""The hand-off types of the lifecycle: what a stage writes, as a consumer takes it.

A producer (a Glue dataset pipeline, a DataBrew job, the feature step, the training pipeline, an
endpoint's data capture, the feedback loop) exposes each location it writes as a
:class:`LakeDataset`. A consumer takes that object, reads its URI from it, and is granted exactly
that location through :meth:`LakeDataset.grant_read`, so that a consumer's permissions can never
drift from what its producer writes. Raw prefixes typed in configuration remain only for landing
zones written from outside the platform (:meth:`LakeDataset.landing`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from aws_cdk import aws_iam as iam

from ml_platform.constructs.lake.lake_access import ILake, Zone
from ml_platform.constructs.lake.s3_grants import check_prefix

#: Formats of lake data: tables (Parquet, CSV with a header, JSON Lines), label-first CSV without a
#: header (what the built-in algorithms train on), model artifacts (``model.tar.gz``), and
#: SageMaker's own JSON Lines records (data capture, ground truth).
DataFormat = Literal["parquet", "csv", "jsonl", "training-csv", "model", "capture", "ground-truth"]
#: Hive-style daily partitions of the lake layout.
DAILY = ("year", "month", "day")
#: SageMaker's hourly folders (data capture and ground truth): ``yyyy/mm/dd/hh/``.
HOURLY = ("yyyy", "mm", "dd", "hh")


def object_folder(key: str) -> str:
    """The prefix (``a/b/``) holding ``key`` (``a/b/c.json``), or ``""`` at the zone's root."""
    return key.rpartition("/")[0] + "/" if "/" in key else ""


@dataclass(frozen=True)
class LakeDataset:
    """One location of the lake and what is in it.

    :ivar zone: the zone (bucket) of the lake.
    :ivar prefix: key prefix ending in ``/``.
    :ivar format: see :data:`DataFormat`.
    :ivar partitioning: partition keys of the folders below ``prefix``, e.g. :data:`DAILY`.
        Default: none.
    :ivar columns: column names in order, where the producer knows them. Default: unknown.
    :ivar producer: who writes it, for error messages and the docs, e.g. ``Glue job of sales``.
    """

    zone: Zone
    prefix: str
    format: DataFormat
    partitioning: tuple[str, ...] = ()
    columns: tuple[str, ...] | None = None
    producer: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "zone", Zone(self.zone))
        check_prefix(self.prefix)

    @classmethod
    def landing(cls, zone: Zone | str, prefix: str, data_format: DataFormat = "csv") -> LakeDataset:
        """Data written from outside the platform (a landing location named in configuration)."""
        return cls(zone=Zone(zone), prefix=prefix, format=data_format, producer="outside the platform")

    def child(self, prefix: str, data_format: DataFormat | None = None) -> LakeDataset:
        """The location ``<prefix of self><prefix>`` with the same producer."""
        return LakeDataset(self.zone, self.prefix + check_prefix(prefix), data_format or self.format,
                           self.partitioning, self.columns, self.producer)

    def uri(self, lake: ILake) -> str:
        """``s3://<bucket>/<prefix>`` in ``lake`` (a ``DataLake`` or ``DataLake.from_existing``)."""
        return lake.s3_uri(self.zone, self.prefix)

    def grant_read(self, lake: ILake, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` list, read and decrypt exactly this location of ``lake``."""
        return lake.grant_read(grantee, self.zone, self.prefix)

    def grant_write(self, lake: ILake, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` write (and encrypt) exactly this location of ``lake``, without delete."""
        return lake.grant_write(grantee, self.zone, self.prefix)

    def __str__(self) -> str:
        return f"{self.zone.value}/{self.prefix}"
