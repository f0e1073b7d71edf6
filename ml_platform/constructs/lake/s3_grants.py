"""Least-privilege S3 grants on one key prefix of a KMS-encrypted bucket.

Shared by :class:`~ml_platform.constructs.lake.data_lake.DataLake` and every construct whose role
reads or writes a prefix of the lake (crawlers, jobs, workgroups).

Listing a bucket is granted by one ``s3:ListBucket`` statement per role and bucket whose
``StringLike`` ``s3:prefix`` list (sorted, each prefix once) grows with each prefix granted: IAM
matches any value of the list, so it allows what one statement per prefix allowed, in far fewer
characters. A :class:`~ml_platform.constructs.core.iam_roles.ManagedPolicyRole` grows the statement
only while its managed policy fits (:meth:`~ml_platform.constructs.core.iam_roles.ManagedPolicyRole.try_grow`),
else a new statement in its current policy takes over; other principals get one statement per
prefix, as aws-cdk-lib's grants do.
"""

from __future__ import annotations

import re

from aws_cdk import Stack, Token
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3

from ml_platform.constructs.core.compliance import acknowledge_wildcard_resource
from ml_platform.constructs.core.iam_roles import ManagedPolicyRole

_PREFIX = re.compile(r"^([A-Za-z0-9!_.*'()=-]+/)*$")


def check_prefix(prefix: str) -> str:
    """Return ``prefix`` if it is ``""`` or path segments each ending in ``/``.

    :raises ValueError: naming the prefix and the expected form.
    """
    # "${Token[" begins every string token aws-cdk-lib encodes: a plain string needs no call to it
    if not _PREFIX.match(prefix) and ("${Token[" not in prefix or not Token.is_unresolved(prefix)):
        raise ValueError(
            f"prefix {prefix!r} is invalid; use '' or path segments each ending in '/' "
            "(letters, digits and !_.*'()=- only), e.g. 'sales/' or 'sales/year=2024/'"
        )
    return prefix


def grant_key_via_s3(grantee: iam.IGrantable, key: kms.IKey, actions: list[str]) -> iam.Grant:
    """``actions`` on ``key``, only through S3 in the key's stack region."""
    region = Stack.of(key).region
    return iam.Grant.add_to_principal(
        grantee=grantee,
        actions=actions,
        resource_arns=[key.key_arn],
        conditions={"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
    )


def grant_read_prefix(
    grantee: iam.IGrantable, bucket: s3.IBucket, key: kms.IKey, prefix: str = ""
) -> iam.Grant:
    """List and read objects under ``prefix`` of ``bucket``, and decrypt them with ``key``."""
    check_prefix(prefix)
    objects = iam.Grant.add_to_principal(
        grantee=grantee,
        actions=["s3:GetObject", "s3:GetObjectVersion"],
        resource_arns=[_objects(grantee, bucket, prefix)],
    )
    listing = _grant_listing(grantee, bucket, prefix)
    location = iam.Grant.add_to_principal(
        grantee=grantee, actions=["s3:GetBucketLocation"], resource_arns=[bucket.bucket_arn]
    )
    grant = objects if listing is None else objects.combine(listing)
    return grant.combine(location).combine(grant_key_via_s3(grantee, key, ["kms:Decrypt"]))


def grant_write_prefix(
    grantee: iam.IGrantable,
    bucket: s3.IBucket,
    key: kms.IKey,
    prefix: str = "",
    *,
    allow_delete: bool = False,
) -> iam.Grant:
    """Write objects under ``prefix`` of ``bucket``, encrypting with ``key``."""
    check_prefix(prefix)
    actions = ["s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
    if allow_delete:
        actions.append("s3:DeleteObject")
    objects = iam.Grant.add_to_principal(
        grantee=grantee, actions=actions, resource_arns=[_objects(grantee, bucket, prefix)]
    )
    # Multipart uploads with SSE-KMS decrypt the data key of earlier parts.
    return objects.combine(grant_key_via_s3(grantee, key, ["kms:GenerateDataKey", "kms:Decrypt"]))


class _Listing:
    """The ``s3:ListBucket`` statement of one role and bucket that later prefixes extend."""

    def __init__(self, statement: iam.PolicyStatement, pattern: str) -> None:
        self.statement = statement
        self.patterns = [pattern]


#: Attribute of a ManagedPolicyRole holding its listing statements, by bucket ARN (token).
_LISTINGS = "_s3_listing_statements"


def _grant_listing(grantee: iam.IGrantable, bucket: s3.IBucket, prefix: str) -> iam.Grant | None:
    """List ``bucket`` under ``prefix``: a new statement, or ``None`` where the principal's listing
    statement of ``bucket`` grew to (or already) include ``prefix``."""
    principal = grantee.grant_principal
    # the whole bucket (no condition) and prefixes known only at deploy time stay statements of their own
    if not prefix or Token.is_unresolved(prefix) or not isinstance(principal, ManagedPolicyRole):
        return _listing_statement(grantee, bucket, prefix)
    pattern = f"{prefix}*"
    listings: dict[str, _Listing] | None = getattr(principal, _LISTINGS, None)
    if listings is None:
        listings = {}
        setattr(principal, _LISTINGS, listings)
    listing = listings.get(bucket.bucket_arn)
    if listing is not None:
        if pattern in listing.patterns:
            return None
        patterns = sorted({*listing.patterns, pattern})
        if principal.try_grow(listing.statement, {"StringLike": {"s3:prefix": patterns}}):
            listing.patterns = patterns
            return None
    grant = _listing_statement(grantee, bucket, prefix)
    [statement] = grant.principal_statements  # a ManagedPolicyRole adds every statement
    listings[bucket.bucket_arn] = _Listing(statement, pattern)
    return grant


def _listing_statement(grantee: iam.IGrantable, bucket: s3.IBucket, prefix: str) -> iam.Grant:
    return iam.Grant.add_to_principal(
        grantee=grantee,
        actions=["s3:ListBucket"],
        resource_arns=[bucket.bucket_arn],
        conditions={"StringLike": {"s3:prefix": [f"{prefix}*"]}} if prefix else None,
    )


def _objects(grantee: iam.IGrantable, bucket: s3.IBucket, prefix: str) -> str:
    """The ARN of the objects under ``prefix``, its unavoidable wildcard acknowledged."""
    arn = bucket.arn_for_objects(f"{prefix}*")
    acknowledge_wildcard_resource(
        grantee.grant_principal,
        arn,
        (f"Object-level S3 actions are granted on the objects under the prefix '{prefix}' only; "
         "IAM can name a set of objects only with a trailing wildcard.") if prefix else
        ("Object-level S3 actions are granted on every object of this one bucket (a whole-zone grant, "
         "e.g. reading the curated zone); IAM names a bucket's objects only with a wildcard."),
    )
    return arn
