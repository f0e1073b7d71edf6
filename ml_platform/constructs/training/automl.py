"""Autopilot (AutoML) as the model search of a training pipeline, instead of Train or Tune.

With ``PipelineSettings.automl`` the pipeline runs, after Prepare (and the bias gate, if any):

* **AutoML** (step type ``AutoML``, the ``CreateAutoMLJob`` request): SageMaker Autopilot in
  ``ENSEMBLING`` mode (the only mode SageMaker Pipelines runs; the SageMaker SDK's ``AutoMLStep``
  refuses any other) on the header CSV copies of the train and validation splits Prepare writes
  (outputs :data:`TRAIN_OUTPUT`, :data:`VALIDATION_OUTPUT`), as the training role, in the
  platform's subnets and security group with inter-container traffic encryption, volumes and
  output encrypted by the lake key, writing under ``<model>/pipeline/models/automl/`` (so what
  is registered is in the pipeline's ``model_artifacts``). The pipeline names the job.
* **AutoMLModel** (step type ``Model``, ``CreateModel``): the best candidate's inference
  container (ensembling makes one) with its environment, answering
  :data:`INFERENCE_OUTPUT` (``predicted_label,probability``), as the training role in the VPC.
* **Predict** (step type ``Transform``): a batch transform of the headerless test split: the
  label column is filtered out of each request (``InputFilter $[1:]``) and joined back to the
  response (``JoinSource Input``, ``OutputFilter $[0,-2,-1]``): each output line is
  ``label,predicted_label,probability``.
* **Evaluate** (processing, scikit-learn image): ``evaluate.py --predictions`` turns each line
  into the positive class's probability (Autopilot's ensembling ``probability`` is that of the
  predicted label) and writes the same ``evaluation.json`` and model-quality statistics and
  constraints as for an XGBoost model; Baselines, CheckMetric and Register follow unchanged,
  Register naming the best candidate's image and model data (:func:`best_containers`).

The step dicts are built here from what they need (role ARNs, key, network, S3 URIs);
:class:`~ml_platform.constructs.training.training_pipeline.TrainingPipeline` places them.
:func:`grant_automl` makes the IAM grants, only for a pipeline that uses AutoML.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from pydantic import Field

from ml_platform.constructs.core.compliance import acknowledge_wildcard_resource
from ml_platform.constructs.core.iam_roles import ManagedPolicyRole
from ml_platform.constructs.core.validation import StrictSettings

#: Step names of the AutoML branch.
AUTOML_STEP, MODEL_STEP, TRANSFORM_STEP = "AutoML", "AutoMLModel", "Predict"
#: Prepare's extra outputs: header CSV copies of the train and validation splits for Autopilot.
TRAIN_OUTPUT, VALIDATION_OUTPUT = "automl-train", "automl-validation"
#: What the inference container answers, in this order, in the transform and the registered version.
INFERENCE_OUTPUT = "predicted_label,probability"
#: Variables of the best candidate's container carried to the model and the registered version
#: (those the SageMaker SDK's ``AutoMLStep.get_best_auto_ml_model`` carries), ``SAGEMAKER_INFERENCE_OUTPUT`` set.
INFERENCE_ENVIRONMENT = ("MODEL_NAME", "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", "SAGEMAKER_PROGRAM",
                         "SAGEMAKER_SUBMIT_DIRECTORY", "SAGEMAKER_INFERENCE_SUPPORTED")
#: Autopilot objective metrics of binary classification.
BINARY_OBJECTIVES = ("AUC", "F1", "Accuracy", "BalancedAccuracy", "Precision", "Recall")
#: Where the AutoML job writes, under the pipeline's ``models/`` prefix.
OUTPUT_FOLDER = "automl"
#: The transform's join of the test split's label with the prediction: label, predicted label, probability.
DATA_PROCESSING = {"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-2,-1]"}
#: Actions Autopilot's execution role needs on models and endpoints it creates itself (SageMaker
#: developer guide, "CreateAutoMLJob API: Execution Role Permissions").
AUTOPILOT_ROLE_ACTIONS = (
    "sagemaker:CreateModel", "sagemaker:DescribeModel", "sagemaker:DeleteModel",
    "sagemaker:CreateEndpointConfig", "sagemaker:DescribeEndpointConfig", "sagemaker:DeleteEndpointConfig",
    "sagemaker:CreateEndpoint", "sagemaker:DescribeEndpoint", "sagemaker:DeleteEndpoint",
    "sagemaker:InvokeEndpoint", "sagemaker:ListTags",
)
#: Log groups of the jobs Autopilot starts as its role and of the Predict transform.
AUTOPILOT_LOG_GROUPS = ("/aws/sagemaker/ProcessingJobs", "/aws/sagemaker/TransformJobs")


class AutoMLSettings(StrictSettings):
    """Autopilot instead of Train or Tune (``docs/automl.md``).

    Autopilot chooses the instances of the jobs it starts; ``instance_type``, ``instance_count``,
    ``volume_gb``, ``spot``, ``max_wait_minutes`` and ``input_mode`` of the pipeline do not apply
    to it (they are ignored); ``image``, ``tuning`` and ``hyperparameters`` are refused with it.

    :ivar problem_type: ``BinaryClassification`` (default and only value: the Evaluate step, the
        registration condition and the model-quality baselines are binary classification's).
    :ivar objective: Autopilot's objective metric: ``AUC`` (default), ``F1``, ``Accuracy``,
        ``BalancedAccuracy``, ``Precision`` or ``Recall``. The registration condition still reads
        ``evaluation.json`` of the test split (``metric``).
    :ivar max_candidates: most candidates Autopilot trains (1 to 750). Default 10.
    :ivar max_runtime_minutes: the whole AutoML job's limit; Autopilot stops then and keeps the
        best candidate it finished. Default 240.
    :ivar transform_instance_type: the Predict step's batch transform instance. Default ``ml.m5.xlarge``.
    """

    problem_type: Literal["BinaryClassification"] = "BinaryClassification"
    objective: Literal["AUC", "F1", "Accuracy", "BalancedAccuracy", "Precision", "Recall"] = "AUC"
    max_candidates: Annotated[int, Field(ge=1, le=750)] = 10
    max_runtime_minutes: Annotated[int, Field(ge=1, le=40320)] = 240
    transform_instance_type: Annotated[str, Field(pattern=r"^ml\.[a-z0-9]+\.[a-z0-9]+$")] = "ml.m5.xlarge"


def _get(path: str) -> dict[str, str]:
    return {"Get": path}


def _best(field: str) -> dict[str, str]:
    """A property of the best candidate's (only, in ensembling mode) inference container."""
    return _get(f"Steps.{AUTOML_STEP}.BestCandidate.InferenceContainers[0].{field}")


def best_containers(inference_output: str = INFERENCE_OUTPUT) -> list[dict[str, Any]]:
    """The best candidate's inference container (image, model data, environment) as property
    references, answering ``inference_output``: the model's and the registered version's."""
    environment: dict[str, Any] = {name: _best(f"Environment['{name}']") for name in INFERENCE_ENVIRONMENT}
    environment["SAGEMAKER_INFERENCE_OUTPUT"] = inference_output
    return [{"Image": _best("Image"), "ModelDataUrl": _best("ModelDataUrl"), "Environment": environment}]


def automl_step(settings: AutoMLSettings, *, label: str, train_uri: Any, validation_uri: Any, output_uri: str,
                role_arn: str, key_arn: str, network: dict[str, Any]) -> dict[str, Any]:
    """The ``AutoML`` step: ``CreateAutoMLJob`` without a job name (the pipeline gives it), in
    ``ENSEMBLING`` mode, on header CSV channels whose target column is ``label``.

    :param network: ``{"SecurityGroupIds": [...], "Subnets": [...]}``.
    """
    def channel(kind: str, uri: Any) -> dict[str, Any]:
        return {"ChannelType": kind, "TargetAttributeName": label, "ContentType": "text/csv;header=present",
                "CompressionType": "None",
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri}}}

    return {"Name": AUTOML_STEP, "Type": "AutoML", "Arguments": {
        "InputDataConfig": [channel("training", train_uri), channel("validation", validation_uri)],
        "OutputDataConfig": {"S3OutputPath": output_uri, "KmsKeyId": key_arn},
        "ProblemType": settings.problem_type,
        "AutoMLJobObjective": {"MetricName": settings.objective},
        "AutoMLJobConfig": {
            "Mode": "ENSEMBLING",
            "CompletionCriteria": {"MaxCandidates": settings.max_candidates,
                                   "MaxAutoMLJobRuntimeInSeconds": settings.max_runtime_minutes * 60},
            "SecurityConfig": {"VolumeKmsKeyId": key_arn, "EnableInterContainerTrafficEncryption": True,
                               "VpcConfig": network},
        },
        "RoleArn": role_arn,
    }}


def model_step(*, role_arn: str, network: dict[str, Any]) -> dict[str, Any]:
    """The ``Model`` step: a SageMaker model of the best candidate, for the Predict transform."""
    [container] = best_containers()
    return {"Name": MODEL_STEP, "Type": "Model", "Arguments": {
        "ExecutionRoleArn": role_arn, "PrimaryContainer": container, "VpcConfig": network}}


def transform_step(settings: AutoMLSettings, *, test_uri: Any, output_uri: Any, key_arn: str) -> dict[str, Any]:
    """The ``Transform`` step: the model on the headerless, label-first test split, each output line
    ``label,predicted_label,probability`` (:data:`DATA_PROCESSING`)."""
    return {"Name": TRANSFORM_STEP, "Type": "Transform", "Arguments": {
        "ModelName": _get(f"Steps.{MODEL_STEP}.ModelName"),
        "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": test_uri}},
                           "ContentType": "text/csv", "SplitType": "Line", "CompressionType": "None"},
        "TransformOutput": {"S3OutputPath": output_uri, "Accept": "text/csv", "AssembleWith": "Line",
                            "KmsKeyId": key_arn},
        "TransformResources": {"InstanceType": settings.transform_instance_type, "InstanceCount": 1,
                               "VolumeKmsKeyId": key_arn},
        "DataProcessing": dict(DATA_PROCESSING),
        "BatchStrategy": "MultiRecord",
    }}


def predictions_uri() -> dict[str, str]:
    """Where Predict wrote its output (the Evaluate step's ``predictions`` input)."""
    return _get(f"Steps.{TRANSFORM_STEP}.TransformOutput.S3OutputPath")


def _arns(stack: Stack, *kinds: str) -> list[str]:
    return [stack.format_arn(service="sagemaker", resource=kind, resource_name="*") for kind in kinds]


def grant_automl(pipeline: ManagedPolicyRole, automl: ManagedPolicyRole) -> None:
    """The grants of a pipeline with AutoML (the other roles' grants are made by ``SageMakerRoles``).

    ``pipeline`` (the pipeline execution role) may create, describe and stop AutoML jobs and
    transform jobs and create and describe models, tagging them; it passes ``automl`` (already
    allowed: the training role). ``automl`` (the AutoML job's, the model's and the transform's
    role: the training role) may pass itself to SageMaker (Autopilot starts its processing,
    training and transform jobs with it), create, use and delete the models, endpoint
    configurations and endpoints Autopilot makes itself (SageMaker developer guide,
    "CreateAutoMLJob API: Execution Role Permissions"), and write the processing and transform
    job log groups. Its lake, key, network and metric grants are the training role's.
    """
    stack = Stack.of(automl)
    jobs = _arns(stack, "automl-job", "transform-job")
    models = _arns(stack, "model")
    pipeline.add_to_principal_policy(iam.PolicyStatement(
        actions=["sagemaker:CreateAutoMLJob", "sagemaker:DescribeAutoMLJob", "sagemaker:StopAutoMLJob",
                 "sagemaker:CreateTransformJob", "sagemaker:DescribeTransformJob", "sagemaker:StopTransformJob",
                 "sagemaker:AddTags"],
        resources=jobs))
    pipeline.add_to_principal_policy(iam.PolicyStatement(
        actions=["sagemaker:CreateModel", "sagemaker:DescribeModel", "sagemaker:AddTags"], resources=models))
    for arn in (*jobs, *models):
        acknowledge_wildcard_resource(
            pipeline, arn, "A pipeline names its AutoML job, model and transform job at run time; they run "
            "with the one role it may pass.")
    automl.add_to_principal_policy(iam.PolicyStatement(
        actions=["iam:PassRole"], resources=[automl.role_arn],
        conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}))
    own = _arns(stack, "model", "endpoint-config", "endpoint")
    automl.add_to_principal_policy(iam.PolicyStatement(actions=list(AUTOPILOT_ROLE_ACTIONS), resources=own))
    for arn in own:
        acknowledge_wildcard_resource(
            automl, arn, "Autopilot names the models and endpoints it creates (for explainability and "
            "model insights) at run time; limited to SageMaker models and endpoints of this account and region.")
    groups = [stack.format_arn(service="logs", resource="log-group", resource_name=f"{g}:*",
                               arn_format=ArnFormat.COLON_RESOURCE_NAME) for g in AUTOPILOT_LOG_GROUPS]
    automl.add_to_principal_policy(iam.PolicyStatement(
        actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
        resources=groups))
    for arn in groups:
        acknowledge_wildcard_resource(
            automl, arn, "SageMaker names log streams after each job Autopilot starts; only the processing "
            "and transform job log groups.")
