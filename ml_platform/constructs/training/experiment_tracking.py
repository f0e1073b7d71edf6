"""``ExperimentTracking``: a SageMaker managed MLflow tracking server with its artifacts in the lake.

The server keeps experiments, runs, parameters and metrics in a store SageMaker manages; artifacts
go to a prefix of the lake's artifacts zone (encrypted with the lake key). Its service role may
read and write only that prefix (and, with automatic model registration, create model package
groups and versions). People reach it through :meth:`ExperimentTracking.grant_access`; the
training pipeline's jobs log through :meth:`ExperimentTracking.grant_log`. Clients in the
platform's isolated subnets need the ``aws.sagemaker.<region>.experiments`` interface endpoint
(docs/experiment-tracking.md).
"""

from __future__ import annotations

import re

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from ml_platform.constructs.core.compliance import acknowledge_wildcard_resource
from ml_platform.constructs.core.iam_roles import ManagedPolicyRole
from ml_platform.constructs.core.validation import check_problems
from ml_platform.constructs.lake.lake_access import ILake, Zone
from ml_platform.constructs.training.experiment_tracking_settings import ExperimentTrackingSettings

#: The tracking server's name is ``<name_prefix><SERVER_NAME_SUFFIX>``.
SERVER_NAME_SUFFIX = "-mlflow"
#: Tracking server names (AWS::SageMaker::MlflowTrackingServer, TrackingServerName).
SERVER_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,255}$")

#: ``sagemaker-mlflow`` actions of a pipeline job that logs one run (ml_platform/jobs/
#: training_pipeline/tracking.py): find or create the experiment, create the run, log, finish.
LOG_ACTIONS = tuple(f"sagemaker-mlflow:{a}" for a in (
    "GetExperimentByName", "CreateExperiment", "CreateRun", "LogBatch", "UpdateRun"))
#: ``sagemaker-mlflow`` actions of people on the server: every read and write the Service
#: Authorization Reference lists on ``mlflow-tracking-server``, no ``Delete*`` (recorded runs,
#: models and traces stay).
PERSON_ACTIONS = tuple(f"sagemaker-mlflow:{a}" for a in (
    # read
    "GetExperiment", "GetExperimentByName", "SearchExperiments", "GetRun", "SearchRuns", "GetMetricHistory",
    "ListArtifacts", "GetRegisteredModel", "SearchRegisteredModels", "GetLatestModelVersions", "GetModelVersion",
    "GetModelVersionByAlias", "SearchModelVersions", "GetDownloadURIForModelVersionArtifacts", "GetTraceInfo",
    "SearchTraces",
    # write
    "CreateExperiment", "UpdateExperiment", "SetExperimentTag", "RestoreExperiment", "CreateRun", "UpdateRun",
    "RestoreRun", "LogBatch", "LogMetric", "LogParam", "LogInputs", "LogModel", "SetTag", "CreateRegisteredModel",
    "UpdateRegisteredModel", "RenameRegisteredModel", "SetRegisteredModelTag", "SetRegisteredModelAlias",
    "CreateModelVersion", "UpdateModelVersion", "SetModelVersionTag", "TransitionModelVersionStage",
    "StartTrace", "EndTrace", "SetTraceTag",
))
#: Opening the MLflow UI; the action has no resource type, so it is granted on ``*``.
UI_ACTION = "sagemaker-mlflow:AccessUI"
#: SageMaker API calls of people on the server (the UI is opened through a presigned URL).
PERSON_SERVER_ACTIONS = ("sagemaker:CreatePresignedMlflowTrackingServerUrl", "sagemaker:DescribeMlflowTrackingServer")
#: What the server's role needs for automatic model registration (SageMaker's "Set up IAM
#: permissions for MLflow" page).
REGISTRATION_ACTIONS = ("sagemaker:CreateModelPackageGroup", "sagemaker:DescribeModelPackageGroup",
                        "sagemaker:CreateModelPackage", "sagemaker:UpdateModelPackage", "sagemaker:AddTags")


class ExperimentTracking(Construct):
    """An MLflow tracking server ``<name_prefix>-mlflow`` whose artifacts live in ``lake``.

    :param lake: the lake whose artifacts zone holds the runs' artifacts (a
        :class:`~ml_platform.constructs.lake.data_lake.DataLake` or ``DataLake.from_existing``).
    :param name_prefix: e.g. ``mlp-dev``; the server is named ``<name_prefix>-mlflow``.
    :param settings: size, version, registration, maintenance window, artifact prefix.
        Default: ``ExperimentTrackingSettings()`` (Small, artifacts under ``mlflow/``).
    :param permissions_boundary: applied to the server's role. Default: none.
    :param removal_policy: of the server (DESTROY deletes its experiments and runs; the artifacts
        stay in the lake). Default: RETAIN.
    :raises ValueError: in one line, if the server name is not one SageMaker accepts.

    :ivar server: the ``AWS::SageMaker::MlflowTrackingServer``.
    :ivar server_arn: its ARN, the tracking URI MLflow clients (and the pipeline) use.
    :ivar server_name: its name.
    :ivar role: the service role the server uses for the artifact store.
    :ivar artifact_uri: ``s3://<artifacts bucket>/<artifact prefix>``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        lake: ILake,
        name_prefix: str,
        settings: ExperimentTrackingSettings | None = None,
        permissions_boundary: iam.IManagedPolicy | None = None,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        settings = settings or ExperimentTrackingSettings()
        name = f"{name_prefix}{SERVER_NAME_SUFFIX}"
        check_problems(f"ExperimentTracking {self.node.path}", [] if SERVER_NAME.match(name) else [
            f"name_prefix {name_prefix!r} gives server name {name!r}; use letters, digits and '-', "
            "starting with a letter or digit, 256 characters at most"])
        self.lake, self.settings, self.server_name = lake, settings, name
        self.artifact_prefix = settings.artifact_prefix
        self.artifact_uri = lake.s3_uri(Zone.ARTIFACTS, settings.artifact_prefix)
        self.role = ManagedPolicyRole.for_service(
            self, "ServerRole", service="sagemaker.amazonaws.com",
            description=f"MLflow tracking server {name}: its artifact store in the lake")
        if permissions_boundary is not None:
            iam.PermissionsBoundary.of(self.role).apply(permissions_boundary)
        lake.grant_read_write(self.role, Zone.ARTIFACTS, settings.artifact_prefix)
        if settings.automatic_model_registration:
            self._grant_registration()
        self.server = sagemaker.CfnMlflowTrackingServer(
            self, "Server",
            tracking_server_name=name,
            artifact_store_uri=self.artifact_uri,
            role_arn=self.role.role_arn,
            tracking_server_size=settings.size,
            automatic_model_registration=settings.automatic_model_registration,
            mlflow_version=settings.mlflow_version,
            weekly_maintenance_window_start=settings.weekly_maintenance_window_start,
        )
        # SageMaker uses the role as it creates the server: wait for its policies.
        self.server.node.add_dependency(self.role)
        self.server.apply_removal_policy(removal_policy)
        self.server_arn: str = self.server.attr_tracking_server_arn
        self._log_grants: list[tuple[iam.IPrincipal, iam.Grant]] = []

    def grant_log(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` (the role a pipeline job runs as) log runs: :data:`LOG_ACTIONS` on this
        server only. No artifact access: the pipeline logs parameters and metrics. Granting a
        principal again (every pipeline grants its processing role) returns the first grant: a
        role's statements spread over several managed policies would otherwise repeat it."""
        for principal, grant in self._log_grants:
            if principal is grantee.grant_principal:
                return grant
        grant = iam.Grant.add_to_principal(grantee=grantee, actions=list(LOG_ACTIONS), resource_arns=[self.server_arn])
        self._log_grants.append((grantee.grant_principal, grant))
        return grant

    def grant_access(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` (a person's role) use this server: :data:`PERSON_ACTIONS` and
        :data:`PERSON_SERVER_ACTIONS` on it, :data:`UI_ACTION`, and read and write its artifacts
        (MLflow clients upload artifacts to the artifact store themselves)."""
        calls = iam.Grant.add_to_principal(
            grantee=grantee, actions=[*PERSON_ACTIONS, *PERSON_SERVER_ACTIONS], resource_arns=[self.server_arn])
        acknowledge_wildcard_resource(
            grantee.grant_principal, "*", "sagemaker-mlflow:AccessUI has no resource type in the Service "
            "Authorization Reference; the UI opens only through a presigned URL of this server.")
        ui = iam.Grant.add_to_principal(grantee=grantee, actions=[UI_ACTION], resource_arns=["*"])
        return calls.combine(ui).combine(
            self.lake.grant_read_write(grantee, Zone.ARTIFACTS, self.settings.artifact_prefix))

    def _grant_registration(self) -> None:
        """Model package groups and versions the server registers (named after MLflow models)."""
        stack = Stack.of(self)
        arns = [stack.format_arn(service="sagemaker", resource="model-package-group", resource_name="*"),
                stack.format_arn(service="sagemaker", resource="model-package", resource_name="*")]
        self.role.add_to_principal_policy(iam.PolicyStatement(actions=list(REGISTRATION_ACTIONS), resources=arns))
        for arn in arns:
            acknowledge_wildcard_resource(
                self.role, arn, "Automatic model registration names model package groups after the "
                "models people register in MLflow, known only at run time; the role may create, describe, "
                "tag and update model packages (their approval status included), and deploy nothing.")
