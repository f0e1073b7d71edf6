"""``LabelingTask``: the custom image classification task of Ground Truth, its Lambdas and its role.

The task UI is ``ml_platform/jobs/labeling_ui/image_classification.liquid.html``, shipped as an
S3 asset: the CDK CLI uploads it to the bootstrap assets bucket during the deploy, under a key
named after its content. A custom labeling job takes its URI, :attr:`LabelingTask.ui_template_uri`,
as ``HumanTaskConfig.UiConfig.UiTemplateS3Uri``; the labeling execution role may read that object.
There is no ``AWS::SageMaker::HumanTaskUi``: that resource is the worker task template of an
Augmented AI (A2I) flow definition, and ``CreateLabelingJob`` takes a ``HumanTaskUiArn`` only for
the AWS-owned UIs of named entity recognition, 3D point cloud and video frame tasks.

The pre-annotation function turns a manifest line into the task input (the image and the
labels); the consolidation function reads the workers' answers from the payload Ground Truth
writes under the output location and returns one label per image by majority vote with a
confidence. Both run in the platform's isolated subnets. The labeling execution role reads the
input prefix and the task template, writes the output prefix (with the lake key) and may invoke
these two functions and nothing else; the input zone's bucket gets the CORS rule the worker UI
needs (or, with ``input_cors_configured``, already has it).

The lake is any :class:`~ml_platform.constructs.lake.lake_access.ILake` (a ``DataLake`` or the
buckets an app already has, ``DataLake.from_existing``) and the network any
:class:`~ml_platform.constructs.training.ml_network.INetwork`; nothing of either is created.
"""

from __future__ import annotations

import json
import re

from aws_cdk import ArnFormat, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from ml_platform.constructs.core.compliance import acknowledge_wildcard_resource
from ml_platform.constructs.core.iam_roles import ManagedPolicyRole
from ml_platform.constructs.core.validation import check_problems
from ml_platform.constructs.core.vpc_function import VpcFunction
from ml_platform.constructs.labeling.labeling_settings import TaskSettings
from ml_platform.constructs.lake.lake_access import ILake
from ml_platform.constructs.training.ml_network import INetwork
from ml_platform.runtime import JOBS_DIR

#: The worker task template (Liquid) every labeling job of the task shows.
TEMPLATE = JOBS_DIR / "labeling_ui" / "image_classification.liquid.html"
_SYNCHRONOUS = ("Ground Truth invokes the function synchronously and records a failed data object itself; "
                "a dead-letter queue only ever receives asynchronous invocations.")
#: A labeling job name prefix :meth:`LabelingTask.grant_start_labeling_job` accepts: the start of a job
#: name (``[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}``) in lowercase, as SageMaker spells names in its ARNs.
JOB_NAME_PREFIX = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class LabelingTask(Construct):
    """The task template in S3, the two Lambdas and the labeling execution role.

    :param name: names the task in the functions' and the role's descriptions.
    :param settings: see :class:`TaskSettings`.
    :param lake: holds input and output (a ``DataLake``, or ``DataLake.from_existing`` over the app's
        buckets and key).
    :param network: where the functions run (an ``MlNetwork``, or ``MlNetwork.from_existing``).
    :param key: encrypts the functions' logs and environment (it must admit CloudWatch Logs).
    :param removal_policy: of the functions' log groups. Default: RETAIN.
    :param input_cors_configured: the input zone's bucket already has Ground Truth's CORS rule (GET
        from any origin, exposing ``Access-Control-Allow-Origin``), set where the bucket is defined;
        say so for an imported bucket, whose rules this app cannot change. Default: False: the rule
        is added through ``lake.allow_labeling_ui``, which raises for an imported bucket.

    :ivar ui_template: the asset of :data:`TEMPLATE`.
    :ivar ui_template_uri: ``s3://<assets bucket>/<content hash>.html``, the ``UiTemplateS3Uri`` of a
        labeling job (also the Labeling stack's output ``TaskUiTemplateUri``).
    :ivar role: the labeling execution role.
    """

    def __init__(self, scope: Construct, construct_id: str, *, name: str, settings: TaskSettings, lake: ILake,
                 network: INetwork, key: kms.IKey, removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
                 input_cors_configured: bool = False) -> None:
        super().__init__(scope, construct_id)
        self.name, self.settings, self._lake = name, settings, lake
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
        if not input_cors_configured:
            lake.allow_labeling_ui(settings.input.zone)
        self.role = ManagedPolicyRole.for_service(self, "Role", service="sagemaker.amazonaws.com",
                                                  description=f"Ground Truth labeling jobs of {name}")
        self.ui_template = s3_assets.Asset(self, "UiTemplate", path=str(TEMPLATE))
        self.ui_template_uri: str = self.ui_template.s3_object_url
        # That one object: an asset grant would read every asset of the account.
        iam.Grant.add_to_principal(grantee=self.role, actions=["s3:GetObject"], resource_arns=[
            self.ui_template.bucket.arn_for_objects(self.ui_template.s3_object_key)])
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

    def grant_start_labeling_job(self, grantee: iam.IGrantable, *, job_name_prefix: str | None = None) -> iam.Grant:
        """Let ``grantee`` start labeling jobs of this task: ``sagemaker:CreateLabelingJob`` on the
        jobs named ``<job_name_prefix>*`` and ``iam:PassRole`` of :attr:`role`, to SageMaker only.

        The grantee starts a job as docs/labeling.md shows; the job itself reads and writes with
        :attr:`role`, so the grantee needs no access to the lake.

        :param job_name_prefix: how the jobs' names start, in lowercase. Default: the task's ``name``.
        :raises ValueError: if the prefix is not the lowercase start of a labeling job name.
        """
        prefix = self.name if job_name_prefix is None else job_name_prefix
        check_problems(f"LabelingTask {self.node.path}", [] if JOB_NAME_PREFIX.match(prefix) else [
            f"job_name_prefix {prefix!r} is not the start of a labeling job name in lowercase; allowed: lowercase "
            "letters, digits and hyphens, at most 63, starting with a letter or digit (pass job_name_prefix "
            "when the task's name does not qualify)"])
        jobs = Stack.of(self).format_arn(service="sagemaker", resource="labeling-job", resource_name=f"{prefix}*")
        create = iam.Grant.add_to_principal(grantee=grantee, actions=["sagemaker:CreateLabelingJob"],
                                            resource_arns=[jobs])
        return create.combine(iam.Grant.add_to_principal(
            grantee=grantee, actions=["iam:PassRole"], resource_arns=[self.role.role_arn],
            conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}))

    def grant_read_output(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` list and read what the task's labeling jobs write (``settings.output``:
        output manifests and workers' annotations) and decrypt it with the lake key."""
        return self._lake.grant_read(grantee, self.settings.output.zone, self.settings.output.prefix)
