"""``RetrainGate``: starts a training pipeline on monitoring violations, one execution at a time.

An hourly monitor can report violations every hour; starting the pipeline on each would run up
to 24 tuning runs a day on the same data. The gate (``ml_platform/lambdas/retrain_gate``) starts
an execution only when none is running (single flight: the function's reserved concurrency is 1,
so two events cannot both see "none running") and the newest one started at least the cooldown
ago; a redelivered event maps to the same idempotency token and cannot start a second execution.
Each execution builds its training set as of its own start, so a retrain uses the fresh window.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from ml_platform.constructs.training.ml_network import INetwork
from ml_platform.constructs.core.validation import check_problems
from ml_platform.constructs.core.naming import sagemaker_pipeline_arn
from ml_platform.constructs.core.vpc_function import VpcFunction

#: Why the gate needs no dead-letter queue of its own (EventBridge invokes it asynchronously).
_NO_DLQ = ("EventBridge invokes the gate for monitoring violations; a failed invocation is retried by "
           "EventBridge, and a lost one is superseded by the next monitoring execution's violations.")


class RetrainGate(Construct):
    """A function that starts ``pipeline_name`` unless it runs or started within ``cooldown_hours``.

    :param pipeline_name: the SageMaker pipeline to start.
    :param cooldown_hours: hours after an execution starts before another may start (0: only
        single flight).
    :param network: the function runs in its subnets (it reaches SageMaker through the network's
        ``sagemaker_api`` interface endpoint); any
        :class:`~ml_platform.constructs.training.ml_network.INetwork` that ``reaches("sagemaker_api")``.
    :param key: encrypts the function's logs and environment. This construct does not edit its
        policy: the policy must already let ``logs.<region>.amazonaws.com`` use it (for a key the
        app creates, :func:`ml_platform.constructs.core.keys.allow_cloudwatch_logs`).
    :param description: of the function.
    :param removal_policy: of the log group. Default: RETAIN.

    :ivar function: the gate (its metrics: ``function.metric_errors()``, ``metric_throttles()``, ...).
    :ivar role: the function's role: list and start executions of ``pipeline_name`` only.
    :ivar pipeline_arn: the pipeline's ARN.
    :raises ValueError: naming a cooldown out of range, or a network that does not reach SageMaker.
    """

    def __init__(self, scope: Construct, construct_id: str, *, pipeline_name: str, cooldown_hours: int,
                 network: INetwork, key: kms.IKey, description: str,
                 removal_policy: RemovalPolicy = RemovalPolicy.RETAIN) -> None:
        super().__init__(scope, construct_id)
        problems = [] if 0 <= cooldown_hours <= 720 else [f"cooldown_hours is {cooldown_hours}; allowed: 0 to 720"]
        if not network.reaches("sagemaker_api"):
            problems.append("the network has no sagemaker_api interface endpoint, so the gate could not reach "
                            "SageMaker from its isolated subnets; add it to network.interface_endpoints")
        check_problems(f"RetrainGate {self.node.path}", problems)
        self.handler = VpcFunction(
            self, "Handler", name="retrain_gate", description=description, network=network, key=key,
            no_dlq_reason=_NO_DLQ, reserved_concurrency=1, removal_policy=removal_policy,
            environment={"PIPELINE_NAME": pipeline_name, "COOLDOWN_MINUTES": str(cooldown_hours * 60)},
        )
        self.function, self.role = self.handler.function, self.handler.role
        self.pipeline_arn = sagemaker_pipeline_arn(self, pipeline_name)
        self.role.add_to_principal_policy(iam.PolicyStatement(
            actions=["sagemaker:ListPipelineExecutions", "sagemaker:StartPipelineExecution"],
            resources=[self.pipeline_arn]))
