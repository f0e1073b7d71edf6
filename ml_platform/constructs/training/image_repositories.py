"""``ImageRepositories``: ECR repositories for the platform's custom training and inference images.

Immutable tags, scan on push, KMS encryption, and lifecycle rules that expire untagged images and
keep a bounded number of tagged ones. Roles pull with :meth:`ImageRepositories.grant_pull`; a build
(CI) pushes with :meth:`ImageRepositories.grant_push`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct
from pydantic import Field

from ml_platform.constructs.core.compliance import acknowledge_wildcard_resource
from ml_platform.constructs.core.naming import pascal_case
from ml_platform.constructs.core.validation import StrictSettings, check_problems

_SEGMENT = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
#: Default number of tagged images a repository keeps.
DEFAULT_KEEP_IMAGES = 30
#: Default days an untagged image is kept.
DEFAULT_UNTAGGED_DAYS = 7
#: What pushing an image to one repository takes (ECR user guide, "IAM permissions for pushing an image").
PUSH_ACTIONS = ("ecr:CompleteLayerUpload", "ecr:UploadLayerPart", "ecr:InitiateLayerUpload",
                "ecr:BatchCheckLayerAvailability", "ecr:PutImage", "ecr:BatchGetImage")


class RepositorySettings(StrictSettings):
    """:ivar keep_images: tagged images kept, the oldest expire first. Default: 30.
    :ivar untagged_days: days an untagged image is kept. Default: 7."""

    keep_images: Annotated[int, Field(ge=1, le=10_000)] = DEFAULT_KEEP_IMAGES
    untagged_days: Annotated[int, Field(ge=1, le=3650)] = DEFAULT_UNTAGGED_DAYS


class ImageRepositories(Construct):
    """One ECR repository ``<name_prefix>/<name>`` per entry of ``repositories``.

    :param repositories: repository name (lower-case letters, digits, ``._-``) to settings.
    :param name_prefix: e.g. ``mlp-dev``; the repositories are ``<name_prefix>/<name>``.
    :param key: encrypts the images. Default: a new key with yearly rotation.
    :param removal_policy: of repositories and key. Default: RETAIN (DESTROY also empties them).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        repositories: Mapping[str, RepositorySettings],
        name_prefix: str,
        key: kms.IKey | None = None,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        check_problems(
            f"ImageRepositories {self.node.path}",
            [f"repository name {n!r} is invalid; use lower-case letters, digits and . _ - between them"
             for n in repositories if not _SEGMENT.match(n)],
        )
        # pyright only: jsii names Key.add_alias's parameter "alias_name", IKey's "alias" (aws/jsii#4541)
        self.key: kms.IKey = key or kms.Key(  # pyright: ignore[reportAttributeAccessIssue]
            self, "Key", description=f"Encrypts the images of {self.node.path}",
            enable_key_rotation=True, removal_policy=removal_policy,
        )
        self.repositories: dict[str, ecr.Repository] = {}
        for name, settings in repositories.items():
            self.repositories[name] = ecr.Repository(
                self, f"{pascal_case(name)}Repository",
                repository_name=f"{name_prefix}/{name}",
                image_tag_mutability=ecr.TagMutability.IMMUTABLE,
                image_scan_on_push=True,
                encryption=ecr.RepositoryEncryption.KMS,
                encryption_key=self.key,
                lifecycle_rules=[
                    ecr.LifecycleRule(description="Expire untagged images", rule_priority=1,
                                      tag_status=ecr.TagStatus.UNTAGGED,
                                      max_image_age=Duration.days(settings.untagged_days)),
                    ecr.LifecycleRule(description="Keep the newest tagged images", rule_priority=2,
                                      tag_status=ecr.TagStatus.ANY, max_image_count=settings.keep_images),
                ],
                removal_policy=removal_policy,
                empty_on_delete=removal_policy == RemovalPolicy.DESTROY,
            )

    def grant_pull(self, grantee: iam.IGrantable, name: str) -> iam.Grant:
        """Let ``grantee`` pull images of repository ``name``: ``ecr:BatchCheckLayerAvailability``,
        ``ecr:GetDownloadUrlForLayer`` and ``ecr:BatchGetImage`` on that repository, and
        ``ecr:GetAuthorizationToken`` (the registry login, which has no resource-level permissions).

        :raises ValueError: in one line, if ``name`` is not a repository of this construct.
        """
        repository = self._repository(name)
        self._acknowledge_login(grantee, "pulling")
        return repository.grant_pull(grantee)

    def grant_push(self, grantee: iam.IGrantable, name: str) -> iam.Grant:
        """Let ``grantee`` (a build) push images to repository ``name``: the actions of
        :data:`PUSH_ACTIONS` on that repository (the set ECR's user guide documents for pushing),
        and ``ecr:GetAuthorizationToken``. Tags stay immutable: a push cannot overwrite a tag. No key
        permission is needed: ECR encrypts and decrypts layers through its own grant on the key.

        :raises ValueError: in one line, if ``name`` is not a repository of this construct.
        """
        repository = self._repository(name)
        self._acknowledge_login(grantee, "pushing")
        login = iam.Grant.add_to_principal(grantee=grantee, actions=["ecr:GetAuthorizationToken"], resource_arns=["*"])
        return repository.grant(grantee, *PUSH_ACTIONS).combine(login)

    def _repository(self, name: str) -> ecr.Repository:
        found = self.repositories.get(name)
        if found is None:
            raise ValueError(f"ImageRepositories {self.node.path}: repository {name!r} is unknown; "
                             f"allowed: {', '.join(sorted(self.repositories)) or 'none'}")
        return found

    @staticmethod
    def _acknowledge_login(grantee: iam.IGrantable, what: str) -> None:
        acknowledge_wildcard_resource(
            grantee.grant_principal, "*",
            f"ecr:GetAuthorizationToken has no resource-level permissions; {what} is limited to "
            "named repositories by the other statements.",
        )
