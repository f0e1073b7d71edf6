"""``LabelingWorkforce``: Ground Truth's private workforce and its work teams.

With ``cognito`` (the default) a user pool holds the workers: no self sign-up (an administrator
adds each worker), TOTP MFA required, passwords of at least ``password_min_length`` characters
of four kinds, threat protection enforced (Cognito's Plus tier), a hosted sign-in domain and an
app client with a secret for Ground Truth. ``oidc`` uses your identity provider, its client
secret read from Secrets Manager at deploy time. ``existing`` imports the account's workforce
(one private workforce per account and region). Each team is a Cognito group (or an OIDC group
of the same name) and gets an encrypted SNS topic for new-task notifications that SageMaker may
publish to only from this account's work team; the key that encrypts the topics lets SageMaker
use it for this account's work teams (:attr:`LabelingWorkforce.key_statement`).
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, SecretValue, Stack, Token
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from constructs import Construct

from ml_platform.constructs.labeling.labeling_settings import CognitoSettings, WorkforceSettings
from ml_platform.constructs.core.naming import pascal_case
from ml_platform.constructs.core.validation import check_problems

SAGEMAKER = "sagemaker.amazonaws.com"


def _shown(key: kms.IKey) -> str:
    """The key's ARN and a space for an error message, or nothing when the ARN is a token."""
    return "" if Token.is_unresolved(key.key_arn) else f"{key.key_arn} "


class LabelingWorkforce(Construct):
    """The private workforce ``name`` (or the imported one) and a work team per ``settings.teams``.

    :param name: workforce name, and the prefix of team names (``<name>-<team>``).
    :param settings: see :class:`WorkforceSettings`.
    :param key: encrypts the teams' topics; :attr:`key_statement` is added to its policy so that
        SageMaker may use it for them. A ``kms.Key`` of this app; an imported key's policy cannot be
        extended, so an imported key needs ``key_allows_sagemaker``.
    :param domain_prefix: the Cognito domain when the settings give none.
    :param removal_policy: of the user pool. Default: RETAIN (workers' accounts survive a stack deletion).
    :param key_allows_sagemaker: ``key``'s policy already holds the equivalent of :attr:`key_statement`,
        added where the key is defined (for an imported key). Default: False: the statement is added,
        and an imported key raises.

    :ivar key_statement: the key-policy statement that lets SageMaker encrypt notifications of this
        account's work teams (``kms:GenerateDataKey*``, ``kms:Decrypt``).
    :ivar teams: the work teams by team key. :ivar topics: their notification topics by team key.
    :raises ValueError: for a team name longer than SageMaker allows, or an imported key without
        ``key_allows_sagemaker``.
    """

    def __init__(self, scope: Construct, construct_id: str, *, name: str, settings: WorkforceSettings,
                 key: kms.IKey, domain_prefix: str, removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
                 key_allows_sagemaker: bool = False) -> None:
        super().__init__(scope, construct_id)
        self.settings, self.name = settings, name
        self.key_statement = self._sagemaker_statement()
        key_refused = not key_allows_sagemaker and not key.add_to_resource_policy(self.key_statement).statement_added
        too_long = [t for t in settings.teams if len(f"{name}-{t}") > 63]
        check_problems(f"LabelingWorkforce {self.node.path}", [
            f"team name '{name}-{t}' is longer than 63 characters; use a shorter team key" for t in too_long] + ([
                f"key {_shown(key)}is imported, so SageMaker's statement for work team notifications cannot be "
                "added to its policy; pass a kms.Key of this app, or add key_statement's permissions to the key's policy where "
                "it is defined and pass key_allows_sagemaker=True"] if key_refused else []))
        self.user_pool: cognito.UserPool | None = None
        self.client: cognito.UserPoolClient | None = None
        self.workforce: sagemaker.CfnWorkforce | None = None
        source_ips = sagemaker.CfnWorkforce.SourceIpConfigProperty(cidrs=list(settings.source_cidrs)) \
            if settings.source_cidrs else None
        if settings.kind == "cognito":
            pool, client = self._cognito(domain_prefix, removal_policy)
            self.user_pool, self.client = pool, client
            self.workforce = sagemaker.CfnWorkforce(
                self, "Workforce", workforce_name=name, source_ip_config=source_ips,
                cognito_config=sagemaker.CfnWorkforce.CognitoConfigProperty(
                    client_id=client.user_pool_client_id, user_pool=pool.user_pool_id))
            self.workforce.node.add_dependency(self.domain)  # workers sign in through the pool's domain
        elif settings.kind == "oidc":
            oidc = settings.oidc
            assert oidc is not None
            self.workforce = sagemaker.CfnWorkforce(
                self, "Workforce", workforce_name=name, source_ip_config=source_ips,
                oidc_config=sagemaker.CfnWorkforce.OidcConfigProperty(
                    client_id=oidc.client_id,
                    client_secret=SecretValue.secrets_manager(oidc.client_secret_name).unsafe_unwrap(),
                    issuer=oidc.issuer, authorization_endpoint=oidc.authorization_endpoint,
                    token_endpoint=oidc.token_endpoint, user_info_endpoint=oidc.user_info_endpoint,
                    logout_endpoint=oidc.logout_endpoint, jwks_uri=oidc.jwks_uri))
        self.workforce_name = settings.existing.workforce_name if settings.existing else name
        self.topics: dict[str, sns.Topic] = {}
        self.teams = {team: self._team(team, team_settings.description or team, key)
                      for team, team_settings in settings.teams.items()}

    def _cognito(self, domain_prefix: str, removal_policy: RemovalPolicy
                 ) -> tuple[cognito.UserPool, cognito.UserPoolClient]:
        """The user pool of the workers, its sign-in domain (:attr:`domain`) and Ground Truth's app client."""
        settings = self.settings.cognito or CognitoSettings()
        pool = cognito.UserPool(
            self, "Users", user_pool_name=self.name, self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(username=True, email=True),
            mfa=cognito.Mfa.REQUIRED, mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            password_policy=cognito.PasswordPolicy(
                min_length=settings.password_min_length, require_lowercase=True, require_uppercase=True,
                require_digits=True, require_symbols=True, temp_password_validity=Duration.days(3)),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            feature_plan=cognito.FeaturePlan.PLUS,
            standard_threat_protection_mode=cognito.StandardThreatProtectionMode.FULL_FUNCTION,
            deletion_protection=removal_policy == RemovalPolicy.RETAIN, removal_policy=removal_policy,
        )
        self.domain = pool.add_domain("Domain", cognito_domain=cognito.CognitoDomainOptions(
            domain_prefix=settings.domain_prefix or domain_prefix))
        # SageMaker sets the client's OAuth settings (the labeling portal's callback) when it
        # creates the workforce; the template leaves them to it (docs/labeling.md).
        client = pool.add_client(
            "GroundTruth", user_pool_client_name=f"{self.name}-ground-truth", generate_secret=True,
            disable_o_auth=True, prevent_user_existence_errors=True,
            auth_flows=cognito.AuthFlow(user_srp=True),
            supported_identity_providers=[cognito.UserPoolClientIdentityProvider.COGNITO])
        return pool, client

    def grant_describe(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` describe the work teams (``sagemaker:DescribeWorkteam``: their ARNs, which
        a labeling job names, and members) and the workforce (``sagemaker:DescribeWorkforce``: its
        labeling portal sign-in URL and IP allow-list), and nothing else."""
        teams = iam.Grant.add_to_principal(grantee=grantee, actions=["sagemaker:DescribeWorkteam"],
                                           resource_arns=[t.attr_workteam_arn for t in self.teams.values()])
        workforce = self.workforce.attr_workforce_arn if self.workforce is not None else Stack.of(self).format_arn(
            service="sagemaker", resource="workforce", resource_name=self.workforce_name)
        return teams.combine(iam.Grant.add_to_principal(grantee=grantee, actions=["sagemaker:DescribeWorkforce"],
                                                        resource_arns=[workforce]))

    def _sagemaker_statement(self) -> iam.PolicyStatement:
        """SageMaker encrypts the teams' notifications with the key, for this account's work teams only."""
        return iam.PolicyStatement(
            sid="AllowSageMakerWorkteamNotifications",
            # pyright only: jsii names ServicePrincipal's parameter "_statement", IPrincipal's "statement" (aws/aws-cdk#31454)
            principals=[iam.ServicePrincipal(SAGEMAKER)],  # pyright: ignore[reportArgumentType]
            actions=["kms:GenerateDataKey*", "kms:Decrypt"], resources=["*"],
            conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account},
                        "ArnLike": {"aws:SourceArn": self._team_arn("*")}})

    def _team_arn(self, team_name: str) -> str:
        return Stack.of(self).format_arn(service="sagemaker", resource="workteam",
                                         resource_name=f"private-crowd/{team_name}")

    def _team(self, team: str, description: str, key: kms.IKey) -> sagemaker.CfnWorkteam:
        team_name = f"{self.name}-{team}"
        topic = sns.Topic(self, f"{pascal_case(team)}Topic", display_name=f"New labeling tasks for {team_name}",
                          master_key=key, enforce_ssl=True)
        topic.add_to_resource_policy(iam.PolicyStatement(
            sid="AllowThisAccountsWorkteam", actions=["sns:Publish"],
            # pyright only: jsii names ServicePrincipal's parameter "_statement", IPrincipal's "statement" (aws/aws-cdk#31454)
            principals=[iam.ServicePrincipal(SAGEMAKER)],  # pyright: ignore[reportArgumentType]
            resources=[topic.topic_arn],
            conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account},
                        "ArnLike": {"aws:SourceArn": self._team_arn(team_name)}}))
        self.topics[team] = topic
        if self.settings.kind == "oidc":
            member = sagemaker.CfnWorkteam.MemberDefinitionProperty(
                oidc_member_definition=sagemaker.CfnWorkteam.OidcMemberDefinitionProperty(oidc_groups=[team]))
        else:
            pool, client = self._pool_and_client()
            if self.user_pool is not None:
                group = cognito.CfnUserPoolGroup(self, f"{pascal_case(team)}Group", user_pool_id=pool, group_name=team,
                                                 description=description)
                group_name = group.ref
            else:
                group_name = team  # the imported pool's administrators create the group
            member = sagemaker.CfnWorkteam.MemberDefinitionProperty(
                cognito_member_definition=sagemaker.CfnWorkteam.CognitoMemberDefinitionProperty(
                    cognito_client_id=client, cognito_user_group=group_name, cognito_user_pool=pool))
        workteam = sagemaker.CfnWorkteam(
            self, f"{pascal_case(team)}Team", workteam_name=team_name, description=description,
            workforce_name=self.workforce_name, member_definitions=[member],
            notification_configuration=sagemaker.CfnWorkteam.NotificationConfigurationProperty(
                notification_topic_arn=topic.topic_arn))
        if self.workforce is not None:
            workteam.add_resource_dependency(self.workforce)
        return workteam

    def _pool_and_client(self) -> tuple[str, str]:
        if self.user_pool is not None and self.client is not None:
            return self.user_pool.user_pool_id, self.client.user_pool_client_id
        existing = self.settings.existing
        assert existing is not None
        return existing.user_pool_id, existing.client_id

