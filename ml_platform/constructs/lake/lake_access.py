"""The zones of a lake and access to them: :class:`Zone`, the :class:`ILake` interface every
consumer takes, and :class:`ExistingLake`, a lake made of buckets and a key an app already has.

A consumer (a crawler, a pipeline, an endpoint, ...) needs of a lake only the bucket of a zone, its
key, S3 URIs and least-privilege grants on a key prefix. :class:`~ml_platform.constructs.lake.
data_lake.DataLake` (buckets it creates) and :class:`ExistingLake` (buckets it is given) both
provide them, through :class:`ZoneAccess`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from ml_platform.constructs.core.validation import check_problems
from ml_platform.constructs.lake.s3_grants import check_prefix, grant_read_prefix, grant_write_prefix


class Zone(enum.StrEnum):
    """The buckets of a lake."""

    RAW = "raw"
    PROCESSED = "processed"
    CURATED = "curated"
    ARTIFACTS = "artifacts"


@runtime_checkable
class ILake(Protocol):
    """What the platform's constructs need of a lake; :class:`~ml_platform.constructs.lake.
    data_lake.DataLake` and :class:`ExistingLake` provide it."""

    @property
    def encryption_key(self) -> kms.IKey:
        """The key that encrypts the zones' objects."""
        ...

    def bucket(self, zone: Zone | str) -> s3.IBucket:
        """The bucket of ``zone``."""
        ...

    def s3_uri(self, zone: Zone | str, prefix: str = "") -> str:
        """``s3://<bucket of zone>/<prefix>``."""
        ...

    def grant_read(self, grantee: iam.IGrantable, zone: Zone | str, prefix: str = "") -> iam.Grant:
        """List, read and decrypt objects under ``prefix`` of ``zone``."""
        ...

    def grant_write(self, grantee: iam.IGrantable, zone: Zone | str, prefix: str = "", *,
                    allow_delete: bool = False) -> iam.Grant:
        """Write (and with ``allow_delete`` delete) objects under ``prefix`` of ``zone``."""
        ...

    def grant_read_write(self, grantee: iam.IGrantable, zone: Zone | str, prefix: str = "") -> iam.Grant:
        """:meth:`grant_read` and :meth:`grant_write` on the same prefix."""
        ...

    def allow_labeling_ui(self, zone: Zone | str) -> None:
        """Let Ground Truth's worker UI read objects of ``zone`` through pre-signed URLs (CORS)."""
        ...


class ZoneAccess:
    """Bucket lookup, URIs and grants over ``self._buckets`` and ``self.encryption_key``; the
    shared implementation of :class:`ILake`. ``self._owner`` names the lake in errors."""

    _buckets: dict[Zone, s3.IBucket]
    _labeling_ui_zones: set[Zone]
    _owner: str
    encryption_key: kms.IKey

    def bucket(self, zone: Zone | str) -> s3.IBucket:
        """The bucket of ``zone`` (``raw``, ``processed``, ``curated`` or ``artifacts``)."""
        found = self._buckets.get(self._zone(zone))
        if found is None:
            raise ValueError(f"{self._owner}: zone {str(zone)!r} has no bucket; this lake has "
                             f"{', '.join(z.value for z in self._buckets)}")
        return found

    def s3_uri(self, zone: Zone | str, prefix: str = "") -> str:
        """``s3://<bucket of zone>/<prefix>``."""
        return f"s3://{self.bucket(zone).bucket_name}/{prefix}"

    def grant_read(self, grantee: iam.IGrantable, zone: Zone | str, prefix: str = "") -> iam.Grant:
        """Let ``grantee`` list and read objects under ``prefix`` of ``zone``, and decrypt them.

        :param prefix: key prefix ending in ``/`` (for example ``dataset_prefix("sales")``), or
            ``""`` for the whole zone.
        """
        return grant_read_prefix(grantee, self.bucket(zone), self.encryption_key, self._prefix(prefix))

    def grant_write(self, grantee: iam.IGrantable, zone: Zone | str, prefix: str = "", *,
                    allow_delete: bool = False) -> iam.Grant:
        """Let ``grantee`` write objects under ``prefix`` of ``zone``, encrypting with the lake key.

        :param prefix: key prefix ending in ``/``, or ``""`` for the whole zone.
        :param allow_delete: also allow ``s3:DeleteObject`` under ``prefix``. Default: False.
        """
        return grant_write_prefix(grantee, self.bucket(zone), self.encryption_key, self._prefix(prefix),
                                  allow_delete=allow_delete)

    def grant_read_write(self, grantee: iam.IGrantable, zone: Zone | str, prefix: str = "") -> iam.Grant:
        """:meth:`grant_read` and :meth:`grant_write` (without delete) on the same prefix."""
        return self.grant_read(grantee, zone, prefix).combine(self.grant_write(grantee, zone, prefix))

    def allow_labeling_ui(self, zone: Zone | str) -> None:
        """Let Ground Truth's worker UI (any origin, in the worker's browser) GET objects of ``zone``
        through the pre-signed URLs its template creates: the CORS rule Ground Truth documents.
        Reads still need a pre-signed URL of a principal the bucket policy and key allow.

        :raises ValueError: if the zone's bucket is imported (its CORS rules are not this app's).
        """
        bucket = self.bucket(zone)
        if not isinstance(bucket, s3.Bucket):
            raise ValueError(f"{self._owner}: the {self._zone(zone).value} bucket is imported, so its CORS rules "
                             "are not this app's; add Ground Truth's rule (GET from any origin, exposing "
                             "Access-Control-Allow-Origin) to it where the bucket is defined")
        if self._zone(zone) in self._labeling_ui_zones:
            return
        self._labeling_ui_zones.add(self._zone(zone))
        bucket.add_cors_rule(allowed_methods=[s3.HttpMethods.GET], allowed_origins=["*"],
                             exposed_headers=["Access-Control-Allow-Origin"])

    def _zone(self, zone: Zone | str) -> Zone:
        try:
            return Zone(zone)
        except ValueError:
            raise ValueError(f"{self._owner}: zone {zone!r} is unknown; allowed: "
                             f"{', '.join(z.value for z in Zone)}") from None

    def _prefix(self, prefix: str) -> str:
        try:
            return check_prefix(prefix)
        except ValueError as error:
            raise ValueError(f"{self._owner}: {error}") from None


class ExistingLake(ZoneAccess, Construct):
    """A lake made of buckets and a key the app already has (see ``DataLake.from_existing``).

    Nothing is created: grants go to the grantee's policies, and the buckets' own policies, keys
    and lifecycle stay as they are.

    :param buckets: the bucket of each zone a consumer will use, by zone (``raw``, ``processed``,
        ``curated``, ``artifacts``); zones left out raise a one-line error when asked for.
    :param encryption_key: the key that encrypts those buckets' objects (SSE-KMS).
    :raises ValueError: naming an unknown zone, or when ``buckets`` is empty.
    """

    def __init__(self, scope: Construct, construct_id: str, *,
                 buckets: Mapping[Zone, s3.IBucket] | Mapping[str, s3.IBucket], encryption_key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        self._owner = f"ExistingLake {self.node.path}"
        known = {z.value for z in Zone}
        check_problems(self._owner, [f"buckets has unknown zone {str(z)!r}; allowed: {', '.join(known)}"
                                     for z in buckets if str(z) not in known]
                       + (["buckets is empty; give the bucket of each zone the app uses"] if not buckets else []))
        self._buckets = {Zone(z): b for z, b in buckets.items()}
        self._labeling_ui_zones = set()
        self.encryption_key = encryption_key
