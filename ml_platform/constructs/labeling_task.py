"""``LabelingTask``: the custom image classification task of Ground Truth, its Lambdas and its role.

The task UI is ``ml_platform/labeling_templates/image_classification.liquid.html`` as an
``AWS::SageMaker::HumanTaskUi``. The pre-annotation function turns a manifest line into the task
input (the image and the labels); the consolidation function reads the workers' answers from the
payload Ground Truth writes under the output location and returns one label per image by
majority vote with a confidence. Both run in the platform's isolated subnets. The labeling
execution role reads the input prefix, writes the output prefix (with the lake key) and may
invoke these two functions and nothing else; the input zone's bucket gets the CORS rule the
worker UI needs.
"""

from __future__ import annotations

import json
from pathlib import Path

from aws_cdk import ArnFormat, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from ml_platform.constructs.compliance import acknowledge_wildcard_resource
from ml_platform.constructs.data_lake import DataLake
from ml_platform.constructs.iam_roles import ManagedPolicyRole
from ml_platform.constructs.labeling_settings import TaskSettings
from ml_platform.constructs.ml_network import MlNetwork
from ml_platform.constructs.vpc_function import VpcFunction

TEMPLATE = Path(__file__).resolve().parent.parent / "labeling_templates" / "image_classification.liquid.html"
_SYNCHRONOUS = ("Ground Truth invokes the function synchronously and records a failed data object itself; "
                "a dead-letter queue only ever receives asynchronous invocations.")


class LabelingTask(Construct):
    """Task UI ``<name>-image-classification``, the two Lambdas and the labeling execution role.

    :param name: prefix of the task UI's name.
    :param settings: see :class:`TaskSettings`.
    :param lake: holds input and output.
    :param network: where the functions run.
    :param key: encrypts the functions' logs and environment (it must admit CloudWatch Logs).
    :param removal_policy: of the functions' log groups. Default: RETAIN.
    """

    def __init__(self, scope: Construct, construct_id: str, *, name: str, settings: TaskSettings, lake: DataLake,
                 network: MlNetwork, key: kms.IKey, removal_policy: RemovalPolicy = RemovalPolicy.RETAIN) -> None:
        super().__init__(scope, construct_id)
        self.ui = sagemaker.CfnHumanTaskUi(
            self, "TaskUi", human_task_ui_name=f"{name}-image-classification",
            ui_template=sagemaker.CfnHumanTaskUi.UiTemplateProperty(content=TEMPLATE.read_text()))
        self.pre_annotation = VpcFunction(
            self, "PreAnnotation", name="labeling_pre_annotation", network=network, key=key,
            description=f"Ground Truth pre-annotation of {name}: a manifest line to the task input",
            environment={"LABELS": json.dumps(list(settings.labels)), "TITLE": settings.title},
            no_dlq_reason=_SYNCHRONOUS, removal_policy=removal_policy)
        self.consolidation = VpcFunction(
            self, "Consolidation", name="labeling_consolidation", network=network, key=key,
            description=f"Ground Truth consolidation of {name}: one label per image by majority vote",
            no_dlq_reason=_SYNCHRONOUS, removal_policy=removal_policy)
        lake.grant_read(self.consolidation.role, settings.output.zone, settings.output.prefix)
        lake.allow_labeling_ui(settings.input.zone)
        self.role = ManagedPolicyRole.for_service(self, "Role", service="sagemaker.amazonaws.com",
                                                  description=f"Ground Truth labeling jobs of {name}")
        lake.grant_read(self.role, settings.input.zone, settings.input.prefix)
        lake.grant_write(self.role, settings.output.zone, settings.output.prefix)
        self.role.add_to_principal_policy(iam.PolicyStatement(
            actions=["lambda:InvokeFunction"],
            resources=[self.pre_annotation.function.function_arn, self.consolidation.function.function_arn]))
        logs = Stack.of(self).format_arn(service="logs", resource="log-group",
                                         resource_name="/aws/sagemaker/LabelingJobs:*",
                                         arn_format=ArnFormat.COLON_RESOURCE_NAME)
        self.role.add_to_principal_policy(iam.PolicyStatement(
            actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            resources=[logs]))
        acknowledge_wildcard_resource(self.role, logs, "Ground Truth names a log stream per labeling job; the role "
                                      "may write only the labeling jobs' log group.")
        self.settings = settings
