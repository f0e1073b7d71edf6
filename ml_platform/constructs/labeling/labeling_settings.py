"""Settings of Ground Truth labeling: the private workforce, its work teams and the labeling task.

There is one private workforce per account and region. ``cognito`` (the default) creates a user
pool for it, ``oidc`` uses your identity provider, and ``existing`` imports a workforce made
elsewhere (for example by another environment in the same account).
"""

from __future__ import annotations

import ipaddress
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from ml_platform.constructs.training.sagemaker_roles import LakeLocation
from ml_platform.constructs.core.validation import StrictSettings

TeamName = Annotated[str, Field(pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,40}$")]
HttpsUrl = Annotated[str, Field(pattern=r"^https://\S+$", max_length=500)]


def _cidr(value: str) -> str:
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError:
        raise ValueError(f"{value!r} is not a CIDR block such as 203.0.113.0/24 (host bits must be zero)") from None
    if network.version != 4:
        raise ValueError(f"{value!r} is IPv6; Ground Truth's source IP allow-list takes IPv4 CIDR blocks")
    return value


Cidr = Annotated[str, AfterValidator(_cidr)]


class CognitoSettings(StrictSettings):
    """A user pool for the workforce: no self sign-up, TOTP MFA required, strong passwords,
    threat protection (Plus tier).

    :ivar domain_prefix: the hosted sign-in domain ``<prefix>.auth.<region>.amazoncognito.com``;
        globally unique. Default: ``<platform prefix>-<env>-labeling-<account>``.
    :ivar password_min_length: 12-99. Default: 14.
    """

    domain_prefix: Annotated[str, Field(pattern=r"^[a-z0-9](-?[a-z0-9]){0,62}$")] | None = None
    password_min_length: Annotated[int, Field(ge=12, le=99)] = 14

    @model_validator(mode="after")
    def _allowed_domain(self) -> CognitoSettings:
        if self.domain_prefix and any(w in self.domain_prefix for w in ("aws", "amazon", "cognito")):
            raise ValueError(f"domain_prefix {self.domain_prefix!r} may not contain aws, amazon or cognito")
        return self


class OidcSettings(StrictSettings):
    """Your OpenID Connect identity provider instead of Cognito.

    :ivar client_id: the client registered for Ground Truth (letters, digits, ``_`` and ``+``, as
        SageMaker requires).
    :ivar client_secret_name: Secrets Manager secret holding the client secret (read at deploy).
    :ivar issuer: and the endpoints, all ``https://``.
    """

    client_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_+]+$", max_length=1024)]
    client_secret_name: Annotated[str, Field(pattern=r"^[A-Za-z0-9/_+=.@-]+$", max_length=512)]
    issuer: HttpsUrl
    authorization_endpoint: HttpsUrl
    token_endpoint: HttpsUrl
    user_info_endpoint: HttpsUrl
    logout_endpoint: HttpsUrl
    jwks_uri: HttpsUrl


class ExistingWorkforce(StrictSettings):
    """A private workforce that already exists in the account and region (Cognito-based).

    :ivar workforce_name: its name.
    :ivar user_pool_id: its Cognito user pool.
    :ivar client_id: its app client.
    """

    workforce_name: Annotated[str, Field(pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")]
    user_pool_id: Annotated[str, Field(pattern=r"^[\w-]+_[0-9a-zA-Z]+$")]
    client_id: Annotated[str, Field(pattern=r"^[\w+]{1,128}$")]


class TeamSettings(StrictSettings):
    """A work team: a group of the workforce's users who get the team's tasks.

    :ivar description: shown to workers. Default: the team's name.
    """

    description: Annotated[str, Field(min_length=1, max_length=200)] | None = None


class WorkforceSettings(StrictSettings):
    """:ivar cognito: a new user pool (the default when neither ``oidc`` nor ``existing`` is given).
    :ivar oidc: your identity provider.
    :ivar existing: import the account's workforce.
    :ivar source_cidrs: the only networks workers may open tasks from (IPv4, at most 10). Default: any.
    :ivar teams: work teams by name, at least one; each is a Cognito group (or an OIDC group of that name).
    """

    cognito: CognitoSettings | None = None
    oidc: OidcSettings | None = None
    existing: ExistingWorkforce | None = None
    source_cidrs: Annotated[tuple[Cidr, ...], Field(strict=False, max_length=10)] = ()
    teams: Annotated[dict[TeamName, TeamSettings], Field(min_length=1)]

    @model_validator(mode="after")
    def _one_kind(self) -> WorkforceSettings:
        given = [k for k in ("cognito", "oidc", "existing") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"give one of cognito, oidc and existing, not {' and '.join(given)}")
        if self.existing is not None and self.source_cidrs:
            raise ValueError("source_cidrs belong to the existing workforce; change them where it is defined")
        return self

    @property
    def kind(self) -> str:
        return "oidc" if self.oidc else "existing" if self.existing else "cognito"


class TaskSettings(StrictSettings):
    """The custom image classification task and where its data lives.

    :ivar input: manifests and the images they name (the worker UI reads them: CORS is added to
        the zone's bucket).
    :ivar output: where labeling jobs write, and the consolidation function reads workers' answers.
    :ivar labels: the categories a worker chooses from, 2-30.
    :ivar title: the task's header. Default: ``Choose the label that fits the image``.
    """

    input: LakeLocation
    output: LakeLocation
    labels: Annotated[tuple[Annotated[str, Field(min_length=1, max_length=64)], ...],
                      Field(strict=False, min_length=2, max_length=30)]
    title: Annotated[str, Field(min_length=1, max_length=200)] = "Choose the label that fits the image"

    @model_validator(mode="after")
    def _distinct(self) -> TaskSettings:
        repeated = sorted({label for label in self.labels if self.labels.count(label) > 1})
        if repeated:
            raise ValueError(f"labels repeat {', '.join(map(repr, repeated))}")
        if (self.input.zone, self.input.prefix) == (self.output.zone, self.output.prefix):
            raise ValueError("input and output must differ: the output would be read back as input")
        return self


class LabelingSettings(StrictSettings):
    """:ivar workforce: who labels. :ivar task: what they label."""

    workforce: WorkforceSettings
    task: TaskSettings
