"""``ModelPromotion``: an approved model package version becomes what ``version: approved`` serves.

When a person approves a version of a model's package group (``ModelApprovalStatus`` ``Approved``
in a ``SageMaker Model Package State Change`` event), an EventBridge rule starts a Step Functions
state machine that writes the version's ARN into the SSM parameter
``/<prefix>/<env>/models/<model>/approved-package`` (``ssm:PutParameter``, ``Overwrite``); the
serving stack reads that parameter through a stack parameter of type
``AWS::SSM::Parameter::Value<String>``, which CloudFormation resolves again at every deploy, so the
next deploy serves the version through the endpoint's guardrails. The same rule can forward the
event to the delivery pipeline's event bus in the tooling account, which starts that deploy.

The parameter holds the version approved last, not the highest number: approving an older version
again makes it the served one (a rollback).

Why the state machine creates the parameter and no CloudFormation resource does: CloudFormation's
``AWS::SSM::Parameter`` handler calls ``PutParameter`` with the template's value on every update of
the resource (a tag change included), which would reset the approved version to a placeholder.
So the parameter exists from the first approval on; until then a deploy of a stack that reads it
fails before changing anything (CloudFormation cannot resolve the parameter), which is the
correct outcome: nothing has been approved to serve. Versions approved before the promotion was
deployed are not recorded: put the ARN once by hand (``aws ssm put-parameter --name <name> --type
String --overwrite --value <model package ARN>``). The parameter stays when the stack is deleted.

Rejections reach the alert path through the registry's decision rule
(:class:`~ml_platform.constructs.training.model_registry.ModelRegistry`); a deployment that the
endpoint's alarms roll back notifies through those alarms (SageMaker documents no EventBridge event
that marks a rollback), and fails the deploy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy, Stack, Token
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from ml_platform.constructs.core.alerting import IAlerts
from ml_platform.constructs.core.compliance import acknowledge
from ml_platform.constructs.core.iam_roles import ManagedPolicyRole
from ml_platform.constructs.core.validation import check_problems

#: The event SageMaker sends when a model package version changes, e.g. is approved.
PACKAGE_STATE_CHANGE = "SageMaker Model Package State Change"
#: Statuses of a Standard workflow's execution that end it without writing the parameter.
FAILED_EXECUTION = ("FAILED", "TIMED_OUT", "ABORTED")
#: How long a promotion may take before Step Functions stops it (one API call, retried).
PROMOTION_TIMEOUT = Duration.minutes(5)
#: Attempts of the ``PutParameter`` call (it is idempotent, so every error is retried).
PUT_ATTEMPTS = 3
#: Retention of the state machine's execution logs.
LOG_RETENTION = logs.RetentionDays.ONE_YEAR
PARAMETER_NAME = re.compile(r"^/[a-zA-Z0-9_.\-/]{1,1010}$")
EVENT_BUS_ARN = re.compile(r"^arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus/[A-Za-z0-9._\-/]{1,256}$")


def approved_package_parameter(prefix: str, environment: str, model: str) -> str:
    """The SSM parameter name holding ``model``'s approved package ARN in ``environment``:
    ``/<prefix>/<env>/models/<model>/approved-package``."""
    return f"/{prefix}/{environment}/models/{model}/approved-package"


@dataclass(frozen=True)
class PromotionTarget:
    """Where an environment records and delivers approved versions.

    :ivar prefix: the platform prefix, e.g. ``mlp``.
    :ivar environment: the environment name, e.g. ``dev``.
    :ivar delivery_bus_arn: the delivery pipeline's event bus, which approvals are forwarded to.
        Default: none (not forwarded).
    """

    prefix: str
    environment: str
    delivery_bus_arn: str | None = None

    def parameter_name(self, model: str) -> str:
        """:func:`approved_package_parameter` of ``model`` here."""
        return approved_package_parameter(self.prefix, self.environment, model)


def approved_package_pattern(group_names: list[str]) -> events.EventPattern:
    """Approval of a version of any of ``group_names`` (what the delivery bus also matches)."""
    return events.EventPattern(source=["aws.sagemaker"], detail_type=[PACKAGE_STATE_CHANGE],
                               detail={"ModelPackageGroupName": group_names, "ModelApprovalStatus": ["Approved"]})


class ModelPromotion(Construct):
    """A rule on approvals of ``group_name``'s versions, a state machine writing the approved ARN
    into the SSM parameter ``parameter_name``, and (optionally) forwarding of the approvals to the
    delivery event bus.

    :param group_name: the model package group, e.g. ``ModelRegistry.groups[model].model_package_group_name``.
    :param parameter_name: the SSM parameter (see :func:`approved_package_parameter`). The state
        machine creates it at the first approval and overwrites it at each later one; the
        construct creates no parameter (see the module documentation).
    :param alerts: any :class:`~ml_platform.constructs.core.alerting.IAlerts`: the rule's targets
        dead-letter to its queue; failed, timed-out or aborted promotions go to its topic.
    :param logs_key: encrypts the state machine's log group; its policy must admit CloudWatch Logs
        (:func:`~ml_platform.constructs.core.keys.allow_cloudwatch_logs`).
    :param delivery_bus_arn: the delivery pipeline's event bus in the tooling account,
        ``arn:<partition>:events:<region>:<account>:event-bus/<prefix>-delivery``, which must let
        this account ``PutEvents``. Default: none, approvals are not forwarded.
    :param removal_policy: of the log group. Default: RETAIN.

    :ivar rule: the approval rule. :ivar state_machine: the Standard workflow writing the parameter.
    :ivar role: the state machine's role. :ivar events_role: the role of the rule's targets.
    :ivar failed: the rule routing failed promotions to ``alerts``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        group_name: str,
        parameter_name: str,
        alerts: IAlerts,
        logs_key: kms.IKey,
        delivery_bus_arn: str | None = None,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        problems = []
        if not Token.is_unresolved(parameter_name) and not PARAMETER_NAME.match(parameter_name):
            problems.append(f"parameter_name {parameter_name!r} is not an SSM parameter path; use "
                            "/<prefix>/<env>/models/<model>/approved-package")
        if (delivery_bus_arn is not None and not Token.is_unresolved(delivery_bus_arn)
                and not EVENT_BUS_ARN.match(delivery_bus_arn)):
            problems.append(f"delivery_bus_arn {delivery_bus_arn!r} is not an event bus ARN "
                            "(arn:aws:events:<region>:<account>:event-bus/<name>)")
        check_problems(f"ModelPromotion {self.node.path}", problems)
        stack = Stack.of(self)
        self.group_name, self.parameter_name = group_name, parameter_name
        #: ``arn:<partition>:ssm:<region>:<account>:parameter/<name without the leading slash>``.
        self.parameter_arn = stack.format_arn(service="ssm", resource="parameter",
                                              resource_name=parameter_name.lstrip("/"))
        self.state_machine = self._state_machine(logs_key, removal_policy)
        #: The role EventBridge starts the state machine (and puts events on the delivery bus) as.
        self.events_role = ManagedPolicyRole.for_service(
            self, "EventsRole", service="events.amazonaws.com",
            description=f"Starts the promotion of {group_name} and forwards its approvals")
        # pyright only: jsii renames the interface's parameters (aws/aws-cdk#15584)
        rule_targets: list[events.IRuleTarget] = [targets.SfnStateMachine(  # pyright: ignore[reportAssignmentType]
            self.state_machine, dead_letter_queue=alerts.dead_letters, role=self.events_role)]  # pyright: ignore[reportArgumentType]
        self.delivery_bus: events.IEventBus | None = None
        if delivery_bus_arn is not None:
            self.delivery_bus = events.EventBus.from_event_bus_arn(self, "DeliveryBus", delivery_bus_arn)
            rule_targets.append(targets.EventBus(
                # pyright only: jsii renames the interface's parameters (aws/aws-cdk#15584)
                self.delivery_bus, dead_letter_queue=alerts.dead_letters, role=self.events_role))  # pyright: ignore[reportArgumentType]
        self.rule = events.Rule(
            self, "Approved", description=f"A version of {group_name} was approved: record it and deliver it",
            event_pattern=approved_package_pattern([group_name]), targets=rule_targets)
        self.failed = alerts.route(self, "PromotionFailed", f"Recording an approved version of {group_name} failed",
                                   events.EventPattern(
                                       source=["aws.states"], detail_type=["Step Functions Execution Status Change"],
                                       detail={"stateMachineArn": [self.state_machine.state_machine_arn],
                                               "status": list(FAILED_EXECUTION)}))

    def _state_machine(self, logs_key: kms.IKey, removal_policy: RemovalPolicy) -> sfn.StateMachine:
        """One task: ``ssm:PutParameter`` (SDK integration) of the event's ``ModelPackageArn``."""
        put = tasks.CallAwsService(
            self, "RecordApprovedVersion",
            comment="Overwrite the parameter with the approved model package version",
            service="ssm", action="putParameter",
            parameters={
                "Name": self.parameter_name,
                "Value": sfn.JsonPath.string_at("$.detail.ModelPackageArn"),
                "Type": "String",
                "Overwrite": True,
                "Description": f"The model package version of {self.group_name} approved last",
            },
            iam_action="ssm:PutParameter", iam_resources=[self.parameter_arn],
            result_path=sfn.JsonPath.DISCARD,
        )
        put.add_retry(errors=["States.ALL"], max_attempts=PUT_ATTEMPTS, interval=Duration.seconds(2),
                      backoff_rate=2)
        self.role = ManagedPolicyRole.for_service(
            self, "Role", service="states.amazonaws.com",
            description=f"Writes the approved version of {self.group_name} into {self.parameter_name}")
        self.log_group = logs.LogGroup(self, "Logs", encryption_key=logs_key, retention=LOG_RETENTION,
                                       removal_policy=removal_policy)
        machine = sfn.StateMachine(
            self, "StateMachine",
            comment=f"Records the approved version of {self.group_name} for the endpoints serving it",
            definition_body=sfn.DefinitionBody.from_chainable(put),
            state_machine_type=sfn.StateMachineType.STANDARD,
            # pyright only: jsii renames the interface's parameters (aws/aws-cdk#15584)
            role=self.role,  # pyright: ignore[reportArgumentType]
            timeout=PROMOTION_TIMEOUT,
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
        )
        acknowledge(self.role.policy, ["AwsSolutions-IAM5[Resource::*]"],
                        "Step Functions needs the log-delivery (logs:*LogDelivery, logs:DescribeResourcePolicies, "
                "logs:DescribeLogGroups, logs:PutResourcePolicy) and X-Ray actions on '*': they take no "
                "resource ARN (Service Authorization Reference); the SSM write names its one parameter.")
        return machine
