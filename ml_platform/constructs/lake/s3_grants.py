"""Least-privilege S3 grants on one key prefix of a KMS-encrypted bucket.

Shared by :class:`~ml_platform.constructs.lake.data_lake.DataLake` and every construct whose role
reads or writes a prefix of the lake (crawlers, jobs, workgroups).
"""

from __future__ import annotations

import re

from aws_cdk import Stack, Token
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3

from ml_platform.constructs.core.compliance import acknowledge_wildcard_resource

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
    listing = iam.Grant.add_to_principal(
        grantee=grantee,
        actions=["s3:ListBucket"],
        resource_arns=[bucket.bucket_arn],
        conditions={"StringLike": {"s3:prefix": [f"{prefix}*"]}} if prefix else None,
    )
    location = iam.Grant.add_to_principal(
        grantee=grantee, actions=["s3:GetBucketLocation"], resource_arns=[bucket.bucket_arn]
    )
    return (
        objects.combine(listing)
        .combine(location)
        .combine(grant_key_via_s3(grantee, key, ["kms:Decrypt"]))
    )


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


def _objects(grantee: iam.IGrantable, bucket: s3.IBucket, prefix: str) -> str:
    """The ARN of the objects under ``prefix``, its unavoidable wildcard acknowledged."""
    arn = bucket.arn_for_objects(f"{prefix}*")
    acknowledge_wildcard_resource(
        grantee.grant_principal,
        arn,
        f"Object-level S3 actions are granted on the objects under the prefix '{prefix}' only; "
        "IAM can name a set of objects only with a trailing wildcard.",
    )
    return arn
