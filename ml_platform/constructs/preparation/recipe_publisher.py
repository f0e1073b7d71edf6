"""``RecipePublisher``: publishes DataBrew recipe versions during the deploy, one provider per stack.

CloudFormation keeps only a recipe's working version while a recipe job runs a published one. A
``Custom::DataBrewRecipeVersion`` per recipe (see :meth:`RecipePublisher.publish`) calls the
Lambda in ``ml_platform/lambdas/databrew_recipe_publisher`` through the CDK provider framework;
its ``StepsDigest`` property changes with the steps, so every step change publishes a new version
and the job is pointed at it.
"""

from __future__ import annotations


from aws_cdk import CustomResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import custom_resources as cr
from constructs import Construct

from ml_platform.constructs.core.compliance import (
    DEPLOY_ONLY_DLQ_REASON,
    acknowledge_compliance_rule,
    acknowledge_wildcard_resource,
    default_resource,
    skip_checkov,
)
from ml_platform.constructs.core.iam_roles import ManagedPolicyRole
from ml_platform.runtime import LAMBDAS_DIR, RUNTIME

HANDLER_DIR = LAMBDAS_DIR / "databrew_recipe_publisher"

_NO_VPC = (
    "The function calls only the DataBrew API during deploys, reaches no VPC resource and holds no "
    "data; the platform's subnets are isolated and have no DataBrew interface endpoint, which would "
    "cost an endpoint per zone for a function that runs only while a stack deploys."
)


class RecipePublisher(Construct):
    """The Lambda and provider that publish recipes; use :meth:`of` for the stack's one instance.

    :param logs_key: key of the functions' log groups (it must admit CloudWatch Logs) and of the
        provider framework's environment variables.
    :param log_retention: of the log groups. Default: one year.
    :param removal_policy: of the log groups. Default: RETAIN.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        logs_key: kms.IKey,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_YEAR,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        self.role = ManagedPolicyRole.for_service(
            self, "Role", service="lambda.amazonaws.com",
            description="Publishes DataBrew recipe versions during deploys",
        )
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            handler="handler.on_event",
            code=lambda_.Code.from_asset(str(HANDLER_DIR), exclude=["__pycache__", "*.pyc", "__init__.py"]),
            # pyright only: jsii renames the interface's parameters (aws/aws-cdk#15584)
            role=self.role,  # pyright: ignore[reportArgumentType]
            timeout=Duration.minutes(2),
            memory_size=256,
            reserved_concurrent_executions=2,
            log_group=logs.LogGroup(
                self, "FunctionLogs", encryption_key=logs_key, retention=log_retention,
                removal_policy=removal_policy,
            ),
            description="Publishes DataBrew recipe versions (custom resource handler)",
        )
        self.framework_role = ManagedPolicyRole.for_service(
            self, "FrameworkRole", service="lambda.amazonaws.com",
            description="Runs the custom-resource provider framework of the recipe publisher",
        )
        # aws-cdk-lib gives a role it is handed no logging permissions: each writes its own group
        self.function.log_group.grant_write(self.role)
        provider_logs = logs.LogGroup(
            self, "ProviderLogs", encryption_key=logs_key, retention=log_retention, removal_policy=removal_policy,
        )
        provider_logs.grant_write(self.framework_role)
        self.provider = cr.Provider(
            self,
            "Provider",
            # pyright only: jsii renames the interface's parameters (aws/aws-cdk#15584)
            on_event_handler=self.function,  # pyright: ignore[reportArgumentType]
            # pyright only: jsii renames the interface's parameters (aws/aws-cdk#15584)
            framework_on_event_role=self.framework_role,  # pyright: ignore[reportArgumentType]
            provider_function_env_encryption=logs_key,
            log_group=provider_logs,
        )
        framework = default_resource(self.provider.node.find_child("framework-onEvent"), lambda_.CfnFunction)
        framework.reserved_concurrent_executions = 2
        acknowledge_wildcard_resource(
            self.framework_role,
            f"{self.function.function_arn}:*",
            "The provider framework invokes the one publisher function it fronts, in any of its "
            "versions; the function itself is named exactly.",
        )
        for function in (default_resource(self.function, lambda_.CfnFunction), framework):
            self._explain(function)

    @classmethod
    def of(cls, scope: Construct, *, logs_key: kms.IKey, removal_policy: RemovalPolicy) -> RecipePublisher:
        """The stack's publisher, created on first use."""
        stack = Stack.of(scope)
        found = stack.node.try_find_child("RecipePublisher")
        if isinstance(found, RecipePublisher):
            return found
        return cls(stack, "RecipePublisher", logs_key=logs_key, removal_policy=removal_policy)

    def publish(self, scope: Construct, construct_id: str, *, recipe_name: str, steps_digest: str) -> CustomResource:
        """A resource whose ``RecipeVersion`` attribute is the version published for these steps."""
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["databrew:PublishRecipe", "databrew:ListRecipeVersions", "databrew:DeleteRecipeVersion"],
                resources=[Stack.of(self).format_arn(service="databrew", resource="recipe", resource_name=recipe_name)],
            )
        )
        return CustomResource(
            scope,
            construct_id,
            service_token=self.provider.service_token,
            resource_type="Custom::DataBrewRecipeVersion",
            properties={"RecipeName": recipe_name, "StepsDigest": steps_digest},
        )

    def _explain(self, function: lambda_.CfnFunction) -> None:
        acknowledge_compliance_rule(function, "LambdaInsideVPC", _NO_VPC)
        skip_checkov(function, "CKV_AWS_117", _NO_VPC)
        acknowledge_compliance_rule(function, "LambdaDLQ", DEPLOY_ONLY_DLQ_REASON)
        skip_checkov(function, "CKV_AWS_116", DEPLOY_ONLY_DLQ_REASON)
