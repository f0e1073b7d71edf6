"""``TrainingPipeline``: an ``AWS::SageMaker::Pipeline`` from lake data to a registered model version.

Steps: Features (processing, with ``features``: the model's training set from lake datasets and
labeled feedback, see :mod:`~ml_platform.constructs.preparation.feature_settings`) -> Prepare (processing:
split into train/validation/test, optionally SMOTE on the train split) -> with ``bias_check``: Bias
(processing: Clarify's pre-training bias metrics of the train split, ``bias.py``) -> CheckBias
(condition: every configured metric within its threshold, else the Fail step BiasTooHigh; Train
depends on it) -> Train (built-in algorithm or a
platform image; managed spot training with checkpoints in the artifacts zone; File, FastFile or
Pipe input) or Tune (hyperparameter tuning, optionally warm-started from a parent tuning job) ->
Evaluate (processing in the training image, as the processing role: ``evaluation.json`` and the
test split's model quality statistics and constraints) -> Baselines (processing, after Evaluate:
Model Monitor data-quality ``statistics.json``/``constraints.json`` of the train split, computed
by the drift job's ``drift.py baseline``) -> CheckMetric (condition on the evaluation metric) ->
Register (model package, ``PendingManualApproval``, carrying the baselines as ``ModelMetrics`` and
``DriftCheckBaselines``) or Fail.

With ``automl`` (:mod:`~ml_platform.constructs.training.automl`, ``docs/automl.md``), SageMaker
Autopilot replaces Train/Tune: Prepare also writes header copies of train and validation ->
AutoML (ensembling) -> AutoMLModel (the best candidate) -> Predict (batch transform of the test
split) -> Evaluate (``evaluate.py --predictions`` in the scikit-learn image, same report and
model-quality files) -> Baselines -> CheckMetric -> Register (the best candidate's container).

Two optional steps: with a feature group (``feature_group``), Features also writes the run's
feature records and Ingest (processing, after Features, ``ingest.py``) puts them into the group;
with a tracking server (``experiment_tracking``), Track (processing, after Evaluate,
``tracking.py``) logs the execution as one MLflow run of the model's experiment. Both run as the
processing role in the scikit-learn image.

Evaluate loads the model the training step wrote, so a pipeline trains only what it can evaluate:
built-in XGBoost (``xgboost-model`` in ``model.tar.gz``), or a custom image that runs ``python3``
with the ``xgboost`` package and writes the same file (the processing role is granted pulls of
exactly that image's repository). Built-in ``linear-learner`` is refused at synth: its
``model.tar.gz`` holds ``model_algo-1``, a serialized Apache MXNet object, which neither
``evaluate.py`` nor the scikit-learn processing image (no MXNet) can load.

The definition is emitted as the documented pipeline definition JSON (version 2020-12-01):
CloudFormation tokens (role ARNs, buckets, keys, subnets) cannot pass through the SageMaker SDK,
so the SDK is used only where it is the authority and works offline, for built-in image URIs.
Every job runs in the platform's subnets and security group with volumes and outputs encrypted by
the lake key.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct
from pydantic import Field, field_validator, model_validator

from ml_platform.constructs.core.compliance import acknowledge_wildcard_resource
from ml_platform.constructs.core.naming import sagemaker_pipeline_arn
from ml_platform.constructs.lake.lake_access import ILake, Zone
from ml_platform.constructs.preparation.feature_settings import FeatureSettings
from ml_platform.constructs.core.json_asset import json_asset
from ml_platform.constructs.lake.lake_locations import DAILY, LakeDataset
from ml_platform.constructs.core.python_bundle import python_bundle
from ml_platform.constructs.training.experiment_tracking import ExperimentTracking
from ml_platform.constructs.training.feature_store import FeatureGroup
from ml_platform.constructs.training import automl as automl_steps
from ml_platform.constructs.training.automl import AutoMLSettings
from ml_platform.constructs.training.image_repositories import ImageRepositories
from ml_platform.constructs.training.ml_network import INetwork, subnet_ids
from ml_platform.constructs.training.model_registry import ModelRegistry
from ml_platform.constructs.training.sagemaker_images import builtin_image
from ml_platform.constructs.training.sagemaker_roles import LakeLocation, SageMakerRoles
from ml_platform.constructs.core.validation import StrictSettings
from ml_platform.jobs.training_pipeline.bias import METRICS as BIAS_METRICS
from ml_platform.jobs.training_pipeline.evaluate import MODEL_QUALITY_DIR
from ml_platform.runtime import JOBS_DIR

SCRIPTS = JOBS_DIR / "training_pipeline"
#: The drift job's folder, shipped (zipped) to the Baselines step, which runs its ``drift.py baseline``.
DRIFT_CODE = JOBS_DIR / "drift"
#: Name of the label column in the baselines and bias report of a pipeline with ``input`` (its CSV
#: has no header; the features are ``_c0``, ``_c1``, ... as Model Monitor names headerless columns).
INPUT_LABEL = "label"
#: Default thresholds of the pre-training bias gate (absolute values of Clarify's metrics).
DEFAULT_BIAS_THRESHOLDS: dict[str, float] = {"CI": 0.3, "DPL": 0.2}
#: The built-in algorithms a pipeline trains (those whose model the Evaluate step loads), with their image versions.
ALGORITHM_VERSIONS = {"xgboost": "1.7-1"}
#: Built-in algorithms refused, with the reason: the Evaluate step could not load their model.
UNEVALUABLE_ALGORITHMS = {
    "linear-learner": "its model.tar.gz holds model_algo-1, a serialized Apache MXNet object, which the Evaluate "
                      "step (evaluate.py, XGBoost models only) cannot load and the scikit-learn processing image "
                      "has no MXNet for",
}
#: scikit-learn 1.4.2: the oldest release imbalanced-learn 0.14 (SMOTE) runs with.
SKLEARN_VERSION = "1.4-2"
#: Pure-Python packages the Prepare step imports for SMOTE, shipped zipped (jobs have no internet).
REBALANCE_PACKAGES = ("imblearn", "sklearn_compat")
#: CloudWatch namespace of SageMaker pipeline execution metrics (dimension ``PipelineName``).
PIPELINE_METRICS_NAMESPACE = "AWS/Sagemaker/ModelBuildingPipeline"
#: Default period of the ``metric_*`` methods.
DEFAULT_METRIC_PERIOD = Duration.minutes(5)
#: Where the Features step writes the run's feature records (``records.csv``) for the Ingest step.
RECORDS_DIR = "/opt/ml/processing/records"
#: How a failed Track step counts: ``best_effort`` (the step warns and succeeds, registration never
#: waits for it) or ``required`` (the step fails on a tracking error and CheckMetric waits for it).
TrackingMode = Literal["best_effort", "required"]
InstanceType = Annotated[str, Field(pattern=r"^ml\.[a-z0-9]+\.[a-z0-9]+$")]
_COMPARISONS = {">=": "GreaterThanOrEqualTo", ">": "GreaterThan", "<=": "LessThanOrEqualTo", "<": "LessThan"}


class MetricCheck(StrictSettings):
    """Register only when ``metrics.<...>`` of ``evaluation.json`` compares well with ``threshold``."""

    path: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.\[\]]+$")] = "metrics.auc.value"
    comparison: Literal[">=", ">", "<=", "<"] = ">="
    threshold: Annotated[float, Field(strict=False)] = 0.7


class ParameterRange(StrictSettings):
    """A continuous hyperparameter range for tuning."""

    min: Annotated[float, Field(strict=False)]
    max: Annotated[float, Field(strict=False)]
    scaling: Literal["Auto", "Linear", "Logarithmic"] = "Auto"

    @model_validator(mode="after")
    def _ordered(self) -> ParameterRange:
        if self.min >= self.max:
            raise ValueError(f"min {self.min:g} must be less than max {self.max:g}")
        return self


class TuningSettings(StrictSettings):
    """Hyperparameter tuning instead of a single training job.

    :ivar objective_metric: e.g. ``validation:auc``. :ivar objective: ``Maximize`` (default) or ``Minimize``.
    :ivar ranges: hyperparameter name to range, at least one. :ivar max_jobs: Default 10.
    :ivar max_parallel_jobs: Default 2. :ivar warm_start_parent: name of a finished tuning job to start from.
    """

    objective_metric: Annotated[str, Field(min_length=1, max_length=255)] = "validation:auc"
    objective: Literal["Maximize", "Minimize"] = "Maximize"
    ranges: Annotated[dict[str, ParameterRange], Field(min_length=1)]
    max_jobs: Annotated[int, Field(ge=1, le=500)] = 10
    max_parallel_jobs: Annotated[int, Field(ge=1, le=100)] = 2
    warm_start_parent: Annotated[str, Field(pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}$")] | None = None

    @model_validator(mode="after")
    def _parallel(self) -> TuningSettings:
        if self.max_parallel_jobs > self.max_jobs:
            raise ValueError(f"max_parallel_jobs {self.max_parallel_jobs} exceeds max_jobs {self.max_jobs}")
        return self


class BiasFacet(StrictSettings):
    """A sensitive column and its sensitive group d (every other row is facet a).

    :ivar column: a feature of the training set (``features``: one of its feature columns; an
        encoded one is given by its category values; ``input``: ``_c0``, ``_c1``, ...).
    :ivar values: the group's values. Give this or ``threshold``.
    :ivar threshold: the group is the rows whose (numeric) value is greater than it.
    """

    column: Annotated[str, Field(min_length=1, max_length=256)]
    values: Annotated[tuple[str | int | float, ...], Field(strict=False, min_length=1)] | None = None
    threshold: Annotated[float, Field(strict=False)] | None = None

    @model_validator(mode="after")
    def _one_group(self) -> BiasFacet:
        if (self.values is None) == (self.threshold is None):
            raise ValueError(f"facet {self.column!r}: give values or threshold, exactly one")
        return self


class BiasCheck(StrictSettings):
    """A pre-training bias gate: the Bias step computes SageMaker Clarify's pre-training metrics of
    the train split per facet and writes Clarify's report (``analysis.json``) to the lake; the
    pipeline fails (Fail step ``BiasTooHigh``) before training when a metric's absolute value
    exceeds its threshold.

    :ivar label: the label column. Default: the training set's (``features.label``, or
        :data:`INPUT_LABEL` with ``input``); another name is refused.
    :ivar positive_label_values: label values of the positive outcome. Default: ``[1]``.
    :ivar facets: the sensitive columns, at least one.
    :ivar metrics: metric name (``CI``, ``DPL``, ``KL``, ``JS``, ``LP``, ``TVD``, ``KS``) to the
        largest absolute value allowed (above 0, at most the metric's largest possible value).
        Default: :data:`DEFAULT_BIAS_THRESHOLDS`.
    """

    label: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    positive_label_values: Annotated[tuple[str | int | float, ...], Field(strict=False, min_length=1)] = (1,)
    facets: Annotated[tuple[BiasFacet, ...], Field(strict=False, min_length=1)]
    metrics: Annotated[dict[str, Annotated[float, Field(strict=False)]], Field(min_length=1)] = Field(
        default_factory=lambda: dict(DEFAULT_BIAS_THRESHOLDS))

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, value: dict[str, float]) -> dict[str, float]:
        problems = []
        for name, threshold in value.items():
            if name not in BIAS_METRICS:
                problems.append(f"unknown metric {name!r} (allowed: {', '.join(BIAS_METRICS)})")
            elif not 0 < threshold <= BIAS_METRICS[name][1]:
                problems.append(f"threshold {threshold:g} of {name} is out of range (above 0, at most "
                                f"{BIAS_METRICS[name][1]:g})")
        if problems:
            raise ValueError("; ".join(problems))
        return value

    def problems(self, label: str, features: list[str] | None) -> list[str]:
        """What does not fit a training set with ``label`` and the feature columns ``features``
        (None: ``input`` data, whose features are ``_c0``, ``_c1``, ...)."""
        found = []
        if self.label is not None and self.label != label:
            found.append(f"bias_check label {self.label!r} is not the training set's label {label!r}")
        for facet in self.facets:
            known = (features is not None and facet.column in features) or (
                features is None and re.fullmatch(r"_c\d+", facet.column) is not None)
            if not known:
                allowed = ", ".join(features) if features is not None else "_c0, _c1, ... (input data has no names)"
                found.append(f"bias_check facet column {facet.column!r} is not a feature of the training set "
                             f"(label {label!r}; features: {allowed})")
        return found

    def config(self, label: str) -> dict[str, Any]:
        """The ``--config`` JSON of ``bias.py``."""
        return {"label": label, "positive_label_values": list(self.positive_label_values),
                "facets": [{"column": f.column, **({"values": list(f.values)} if f.values is not None
                                                   else {"threshold": f.threshold})} for f in self.facets],
                "metrics": dict(sorted(self.metrics.items()))}


class PipelineSettings(StrictSettings):
    """One training pipeline.

    :ivar model: the registered model (one of ``training.models``).
    :ivar features: build the training set from lake datasets (the Features step). Give this or
        ``input``.
    :ivar input: a landing location of ready CSV training data (label in the first column, no
        header) written from outside the platform. Give this or ``features``.
    :ivar algorithm: built-in ``xgboost`` (default; the only built-in algorithm whose model the
        Evaluate step loads: ``linear-learner`` is refused, see :data:`UNEVALUABLE_ALGORITHMS`); or give ``image``.
    :ivar image: a platform repository with a custom training image (``:latest`` is not used: tag
        ``image_tag``). Evaluate runs ``evaluate.py`` in it with ``python3``: it needs the
        ``xgboost`` package and must write its model as ``xgboost-model`` in ``model.tar.gz``.
        :ivar image_tag: Default ``1``.
    :ivar instance_type, instance_count, volume_gb: training resources. Defaults ``ml.m5.xlarge``, 1, 30.
    :ivar processing_instance_type: Default ``ml.m5.large``.
    :ivar max_runtime_minutes: Default 60. :ivar spot: managed spot training. Default true.
    :ivar max_wait_minutes: with spot, at least ``max_runtime_minutes``. Default 120.
    :ivar input_mode: ``File`` (default), ``FastFile`` or ``Pipe``.
    :ivar hyperparameters: passed to the algorithm as strings. Default: none.
    :ivar metric: the registration condition. Default: ``metrics.auc.value >= 0.7``.
    :ivar tuning: tune instead of training once. Default: none.
    :ivar bias_check: a pre-training bias gate before training (:class:`BiasCheck`). Default: none.
    :ivar tracking: with ``training.experiment_tracking``, how the Track step's failure counts:
        ``best_effort`` (a tracking outage is printed and the execution goes on to registration) or
        ``required`` (the execution fails and registers nothing when the run cannot be logged).
        Default: ``best_effort``.
    :ivar automl: SageMaker Autopilot searches the model instead of Train/Tune
        (:class:`~ml_platform.constructs.training.automl.AutoMLSettings`, ``docs/automl.md``);
        refused with ``image``, ``tuning`` or ``hyperparameters``; ``instance_type``,
        ``instance_count``, ``volume_gb``, ``spot``, ``max_wait_minutes`` and ``input_mode`` do not
        apply to it. Default: none.
    """

    model: Annotated[str, Field(min_length=1)]
    features: FeatureSettings | None = None
    input: LakeLocation | None = None
    algorithm: Literal["xgboost"] | None = "xgboost"
    image: str | None = None
    image_tag: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,128}$")] = "1"
    instance_type: InstanceType = "ml.m5.xlarge"
    instance_count: Annotated[int, Field(ge=1, le=100)] = 1
    volume_gb: Annotated[int, Field(ge=1, le=16384)] = 30
    processing_instance_type: InstanceType = "ml.m5.large"
    max_runtime_minutes: Annotated[int, Field(ge=1, le=40320)] = 60
    spot: bool = True
    max_wait_minutes: Annotated[int, Field(ge=1, le=40320)] = 120
    input_mode: Literal["File", "FastFile", "Pipe"] = "File"
    hyperparameters: dict[str, str | int | float] = {}
    metric: MetricCheck = MetricCheck()
    tuning: TuningSettings | None = None
    bias_check: BiasCheck | None = None
    automl: AutoMLSettings | None = None
    tracking: TrackingMode = "best_effort"

    @field_validator("algorithm", mode="before")
    @classmethod
    def _evaluable(cls, value: Any) -> Any:
        if isinstance(value, str) and value in UNEVALUABLE_ALGORITHMS:
            raise ValueError(f"algorithm {value!r} cannot be evaluated: {UNEVALUABLE_ALGORITHMS[value]}; allowed: "
                             f"{', '.join(repr(a) for a in ALGORITHM_VERSIONS)}, or a custom image (see image)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> PipelineSettings:
        if (self.features is None) == (self.input is None):
            raise ValueError("give exactly one of features (a training set built from lake datasets) and input "
                             "(ready CSV written from outside the platform)")
        if self.automl is not None:
            refused = [f"{key} ({reason})" for key, given, reason in (
                ("image", self.image is not None, "Autopilot brings its own containers"),
                ("tuning", self.tuning is not None, "Autopilot tunes its candidates itself"),
                ("hyperparameters", bool(self.hyperparameters), "Autopilot chooses them"),
            ) if given]
            if refused:
                raise ValueError(f"automl cannot be combined with {', '.join(refused)}; remove "
                                 f"{'it' if len(refused) == 1 else 'them'} or automl")
        if (self.algorithm is None) == (self.image is None):
            raise ValueError("give exactly one of algorithm (built-in) and image (a platform repository)")
        if self.spot and self.max_wait_minutes < self.max_runtime_minutes:
            raise ValueError(f"max_wait_minutes {self.max_wait_minutes} must be at least max_runtime_minutes "
                             f"{self.max_runtime_minutes} with spot training")
        if self.bias_check is not None:
            problems = self.bias_check.problems(self.label, [f.column for f in self.features.features]
                                                if self.features is not None else None)
            if problems:
                raise ValueError("; ".join(problems))
        return self

    @property
    def label(self) -> str:
        """The label column's name in the baselines and the bias report."""
        return self.features.label if self.features is not None else INPUT_LABEL


def _input(name: str, uri: Any, local_path: str) -> dict[str, Any]:
    """A processing input copied in full to ``local_path`` before the script starts."""
    return {"InputName": name, "AppManaged": False, "S3Input": {
        "S3Uri": uri, "LocalPath": local_path, "S3DataType": "S3Prefix", "S3InputMode": "File",
        "S3DataDistributionType": "FullyReplicated", "S3CompressionType": "None"}}


def _step_output(step: str, output: str) -> dict[str, str]:
    """The S3 URI a processing step wrote ``output`` to (a property reference: a data dependency)."""
    return {"Get": f"Steps.{step}.ProcessingOutputConfig.Outputs['{output}'].S3Output.S3Uri"}


def feature_source_problems(features: FeatureSettings | None, sources: Mapping[str, LakeDataset]) -> list[str]:
    """A problem per source dataset of ``features`` that nothing in ``sources`` writes, and per
    column a source with a known schema does not have."""
    problems = []
    for source in features.sources if features else ():
        found = sources.get(source.dataset)
        if found is None:
            problems.append(f"features source {source.dataset!r} is not a dataset of the platform "
                            f"({', '.join(sorted(sources)) or 'none'})")
        elif found.columns is not None:
            known = set(found.columns) | set(found.partitioning)
            problems += [f"features source {source.dataset!r} has no column {c!r} ({', '.join(found.columns)})"
                         for c in source.columns if c not in known]
    return problems


class TrainingPipeline(Construct):
    """A SageMaker pipeline named ``<name_prefix>-<model>`` (see the module docstring).

    :param settings: the pipeline's settings.
    :param lake: the feature set under ``<model>/features/`` of the curated zone, everything else
        under ``<model>/pipeline/`` of the artifacts zone (checkpoints under ``<model>/checkpoints/``);
        grants are made here. A :class:`~ml_platform.constructs.lake.data_lake.DataLake` or
        ``DataLake.from_existing`` over the app's own buckets and key.
    :param roles: processing, training and pipeline execution roles.
    :param network: subnets and security group of every job (an :class:`~ml_platform.constructs.
        training.ml_network.MlNetwork` or ``MlNetwork.from_existing``).
    :param registry: where versions are registered (``settings.model`` must be one of its models).
    :param sources: what the datasets ``settings.features`` names write, by dataset name (e.g. a
        :class:`~ml_platform.constructs.preparation.dataset_pipeline.DatasetPipeline`'s ``output``). Default: none.
    :param images: the platform repositories (for ``settings.image``).
    :param name_prefix: e.g. ``mlp-dev``.
    :param reads_feedback: the Features step also reads labeled feedback rows from :attr:`feedback`
        (give True when a :class:`~ml_platform.constructs.monitoring.feedback_loop.FeedbackLoop` writes them).
        Default: False (then :attr:`feedback` is None).
    :param experiment_tracking: the MLflow tracking server each execution is logged to (the Track
        step); the processing role is granted :meth:`ExperimentTracking.grant_log`. Default: none,
        no Track step.
    :param feature_group: the feature group this pipeline's feature records go to (the Ingest
        step; needs ``settings.features``, from which the group's set is derived); the processing
        role is granted :meth:`FeatureGroup.grant_write` on it. Default: none, no Ingest step.

    Hand-offs it exposes: :attr:`features_output` (the training sets it builds),
    :attr:`model_artifacts` (what it registers: whoever serves a version must read it, see
    :meth:`grant_read_model_artifacts`) and :attr:`feedback` (labeled rows of served predictions it
    reads into the next training set, with ``reads_feedback``).

    Who may start it: :meth:`grant_start_execution`. How its runs go: :meth:`metric_execution_failed`,
    :meth:`metric_execution_succeeded`, :meth:`metric_execution_duration` (SageMaker's
    ``AWS/Sagemaker/ModelBuildingPipeline`` metrics).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: PipelineSettings,
        lake: ILake,
        roles: SageMakerRoles,
        network: INetwork,
        registry: ModelRegistry,
        name_prefix: str,
        sources: Mapping[str, LakeDataset] | None = None,
        images: ImageRepositories | None = None,
        reads_feedback: bool = False,
        experiment_tracking: ExperimentTracking | None = None,
        feature_group: FeatureGroup | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        sources = dict(sources or {})
        problems = [f"needs a {a} execution role in training.roles" for a in ("processing", "training", "pipeline")
                    if a not in roles.roles]
        if settings.model not in registry.groups:
            problems.append(f"model {settings.model!r} is not in the registry ({', '.join(registry.groups)})")
        if settings.image and (images is None or settings.image not in images.repositories):
            problems.append(f"image {settings.image!r} is not a platform repository")
        problems += feature_source_problems(settings.features, sources)
        if reads_feedback and settings.features is None:
            problems.append("reads_feedback needs features (feedback rows join the training set the Features step "
                            "builds)")
        elif reads_feedback and settings.features is not None and settings.features.undeclared_categories():
            problems.append("reads_feedback needs declared categories on the encoded features "
                            f"{', '.join(settings.features.undeclared_categories())} (feedback rows keep the "
                            "codes they were served with)")
        if feature_group is not None and settings.features is None:
            problems.append(f"feature_group {feature_group.feature_group_name!r} needs features (the Features step "
                            "writes the records it ingests)")
        if problems:
            raise ValueError(f"TrainingPipeline {self.node.path}: " + "; ".join(problems))
        stack = Stack.of(self)
        self.settings, self.lake, self.network = settings, lake, network
        self.experiment_tracking, self.feature_group = experiment_tracking, feature_group
        model = settings.model
        artifacts = lake.bucket(Zone.ARTIFACTS)
        work = f"{model}/pipeline/"
        self.work_uri = f"s3://{artifacts.bucket_name}/{work}"
        #: Where each execution's step outputs go (``runs/<execution id>/<output>/``), baselines
        #: and reports included: in the artifacts zone.
        self.runs_prefix = f"{work}runs/"
        self.checkpoint_uri = f"s3://{artifacts.bucket_name}/{model}/checkpoints/"
        producer = f"training pipeline {name_prefix}-{model}"
        self.model_artifacts = LakeDataset(Zone.ARTIFACTS, f"{work}models/", "model", producer=producer)
        self.features_output = LakeDataset(Zone.CURATED, f"{model}/features/", "training-csv", producer=producer)
        self.feedback = LakeDataset(Zone.CURATED, f"{model}/feedback/", "training-csv", DAILY,
                                    producer=f"feedback loop of {model}") if reads_feedback else None
        self.sources = {s.dataset: sources[s.dataset] for s in settings.features.sources} if settings.features else {}
        processing, training, pipeline = roles.roles["processing"], roles.roles["training"], roles.roles["pipeline"]

        # Grants of exactly the locations this pipeline uses, from the hand-offs that name them.
        if settings.input is not None:
            lake.grant_read(processing, Zone(settings.input.zone), settings.input.prefix)
        for source in self.sources.values():
            source.grant_read(lake, processing)
        if self.feedback is not None:
            self.feedback.grant_read(lake, processing)
        if settings.features is not None:
            self.features_output.grant_read(lake, processing)
            self.features_output.grant_write(lake, processing)
        lake.grant_read_write(processing, Zone.ARTIFACTS, work)
        lake.grant_read_write(training, Zone.ARTIFACTS, work)
        lake.grant_read_write(training, Zone.ARTIFACTS, f"{model}/checkpoints/")
        lake.grant_read(pipeline, Zone.ARTIFACTS, work)  # the service reads evaluation.json as this role
        if feature_group is not None:
            feature_group.grant_write(processing)  # Ingest (its records are run outputs under ``work``)
        if experiment_tracking is not None:
            experiment_tracking.grant_log(processing)  # Track
        scripts = (*(["features"] if settings.features else []), *(["ingest"] if feature_group else []), "prepare",
                   *(["bias"] if settings.bias_check else []), "evaluate", "baselines",
                   *(["tracking"] if experiment_tracking else []))
        self.scripts = {name: s3_assets.Asset(self, f"{name.title()}Script", path=str(SCRIPTS / f"{name}.py"))
                        for name in scripts}
        #: The drift job's folder as one zip: the Baselines step runs its ``drift.py baseline``.
        self.drift_code = s3_assets.Asset(self, "DriftCode", path=str(DRIFT_CODE),
                                          exclude=["__pycache__", "*.pyc", "tests"])
        iam.Grant.add_to_principal(
            grantee=processing, actions=["s3:GetObject"],
            resource_arns=[a.bucket.arn_for_objects(a.s3_object_key)
                           for a in (*self.scripts.values(), self.drift_code)])
        self.feature_spec = (json_asset(self, "FeatureSpec", settings.features.spec(), reader=processing)
                             if settings.features else None)
        rebalance = settings.features.rebalance_argument() if settings.features else None
        self.libraries = (python_bundle(self, "RebalanceLibraries", REBALANCE_PACKAGES, reader=processing)
                          if rebalance else None)
        if settings.image:
            assert images is not None  # a missing repository is reported above
            # Train runs in the image as the training role, Evaluate as the processing role.
            images.grant_pull(training, settings.image)
            images.grant_pull(processing, settings.image)
            self.image_uri = images.repositories[settings.image].repository_uri_for_tag(settings.image_tag)
        else:
            assert settings.algorithm is not None  # PipelineSettings requires algorithm or image
            version = ALGORITHM_VERSIONS[settings.algorithm]
            self.image_uri = builtin_image(settings.algorithm, stack.region, version)
        self.processing_image = builtin_image("sklearn", stack.region, SKLEARN_VERSION)
        if settings.automl is not None:
            # The AutoML job, its model and the Predict transform run as the training role.
            automl_steps.grant_automl(pipeline, training)
        self._roles = {"processing": processing.role_arn, "training": training.role_arn}
        self.pipeline_name = f"{name_prefix}-{model}"
        self.definition = self._definition(registry.groups[model].model_package_group_name, settings)
        self.pipeline = sagemaker.CfnPipeline(
            self, "Pipeline", pipeline_name=f"{name_prefix}-{model}", role_arn=pipeline.role_arn,
            pipeline_description=f"{'Build features, prepare' if settings.features else 'Prepare'}, "
                                 f"{'search with Autopilot' if settings.automl else 'train'}, evaluate and register {model}",
            pipeline_definition={"PipelineDefinitionBody": stack.to_json_string(self.definition)},
        )
        self.pipeline.node.add_dependency(pipeline, processing, training)
        #: The pipeline's ARN (SageMaker writes the name in lower case in it).
        self.pipeline_arn = sagemaker_pipeline_arn(self, self.pipeline_name)

    # -- grants and metrics --------------------------------------------------------------------------

    def grant_start_execution(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` (a person, a schedule, a retraining trigger) start runs of this pipeline
        and follow them: ``sagemaker:StartPipelineExecution`` on the pipeline, and
        ``sagemaker:DescribePipelineExecution`` and ``sagemaker:ListPipelineExecutionSteps`` on its
        executions (``<pipeline ARN>/execution/*``). It may not change, stop or delete the pipeline.
        """
        executions = f"{self.pipeline_arn}/execution/*"
        acknowledge_wildcard_resource(
            grantee.grant_principal, executions,
            f"SageMaker names the executions of {self.pipeline_name} when they start; the grant covers "
            "the executions of that one pipeline.")
        start = iam.Grant.add_to_principal(grantee=grantee, actions=["sagemaker:StartPipelineExecution"],
                                           resource_arns=[self.pipeline_arn])
        return start.combine(iam.Grant.add_to_principal(
            grantee=grantee, actions=["sagemaker:DescribePipelineExecution", "sagemaker:ListPipelineExecutionSteps"],
            resource_arns=[executions]))

    def grant_read_model_artifacts(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` (a model, a batch transform, a person) list, read and decrypt what the
        pipeline trains: the :attr:`model_artifacts` location of the lake, and nothing else."""
        return self.model_artifacts.grant_read(self.lake, grantee)

    def metric(self, metric_name: str, *, statistic: str = "Sum",
               period: Duration = DEFAULT_METRIC_PERIOD) -> cloudwatch.Metric:
        """SageMaker's pipeline metric ``metric_name`` for this pipeline: namespace
        :data:`PIPELINE_METRICS_NAMESPACE`, dimension ``PipelineName`` (the name as given, not lower
        case). Default statistic ``Sum``, period 5 minutes. Creates no resource."""
        return cloudwatch.Metric(namespace=PIPELINE_METRICS_NAMESPACE, metric_name=metric_name,
                                 dimensions_map={"PipelineName": self.pipeline_name},
                                 statistic=statistic, period=period)

    def metric_execution_failed(self, *, period: Duration = DEFAULT_METRIC_PERIOD) -> cloudwatch.Metric:
        """Executions of this pipeline that failed (``ExecutionFailed``, Count, ``Sum``)."""
        return self.metric("ExecutionFailed", period=period)

    def metric_execution_succeeded(self, *, period: Duration = DEFAULT_METRIC_PERIOD) -> cloudwatch.Metric:
        """Executions of this pipeline that succeeded (``ExecutionSucceeded``, Count, ``Sum``)."""
        return self.metric("ExecutionSucceeded", period=period)

    def metric_execution_duration(self, *, statistic: str = "Maximum",
                                  period: Duration = DEFAULT_METRIC_PERIOD) -> cloudwatch.Metric:
        """How long executions of this pipeline ran (``ExecutionDuration``, milliseconds).
        Default statistic ``Maximum``."""
        return self.metric("ExecutionDuration", statistic=statistic, period=period)

    # -- definition --------------------------------------------------------------------------------

    def _definition(self, group: str, settings: PipelineSettings) -> dict[str, Any]:
        model_data: dict[str, Any] | None
        if settings.automl is not None:
            search = self._automl(settings)
            model_data = None
            evaluate = self._evaluate_predictions(settings)
        else:
            search = [self._tune(settings) if settings.tuning else self._train(settings)]
            model_data = (
                {"Std:Join": {"On": "/", "Values": [f"{self.work_uri}models",
                                                     {"Get": "Steps.Tune.BestTrainingJob.TrainingJobName"},
                                                     "output/model.tar.gz"]}}
                if settings.tuning else {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}
            )
            evaluate = self._evaluate(settings, model_data)
        if settings.bias_check is not None:
            search[0]["DependsOn"] = ["CheckBias"]
        return {
            "Version": "2020-12-01",
            "Metadata": {},
            "Parameters": [
                *([{"Name": "InputData", "Type": "String",
                    "DefaultValue": self.lake.s3_uri(settings.input.zone, settings.input.prefix)}]
                  if settings.input is not None else []),
                {"Name": "ModelApprovalStatus", "Type": "String", "DefaultValue": "PendingManualApproval"},
            ],
            "Steps": [
                *([self._features(settings)] if settings.features is not None else []),
                *([self._ingest(settings)] if self.feature_group is not None else []),
                self._prepare(settings),
                *(self._bias(settings) if settings.bias_check is not None else []),
                *search,
                evaluate,
                self._baselines(settings),
                *([self._track(settings)] if self.experiment_tracking is not None else []),
                {
                    "Name": "CheckMetric",
                    "Type": "Condition",
                    **({"DependsOn": ["Track"]} if self.experiment_tracking is not None
                       and settings.tracking == "required" else {}),
                    "Arguments": {
                        "Conditions": [{
                            "Type": _COMPARISONS[settings.metric.comparison],
                            "LeftValue": {"Std:JsonGet": {
                                "PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.EvaluationReport"},
                                "Path": settings.metric.path}},
                            "RightValue": settings.metric.threshold,
                        }],
                        "IfSteps": [self._register(group, model_data, settings)],
                        "ElseSteps": [{"Name": "MetricTooLow", "Type": "Fail", "Arguments": {
                            "ErrorMessage": f"{settings.metric.path} did not satisfy "
                                            f"{settings.metric.comparison} {settings.metric.threshold:g}"}}],
                    },
                },
            ],
        }

    def _output_uri(self, name: str) -> dict[str, Any]:
        return {"Std:Join": {"On": "/", "Values": [f"{self.work_uri}runs", {"Get": "Execution.PipelineExecutionId"}, name]}}

    def _network(self) -> dict[str, Any]:
        return {"SecurityGroupIds": [self.network.job_security_group.security_group_id],
                "Subnets": subnet_ids(self.network)}

    def _processing(self, name: str, image: str, script: str, inputs: list[dict[str, Any]], outputs: list[str],
                    settings: PipelineSettings, arguments: list[Any] | None = None,
                    output_uris: Mapping[str, Any] | None = None) -> dict[str, Any]:
        key = self.lake.encryption_key.key_arn
        asset = self.scripts[script]
        code = _input("code", asset.s3_object_url, "/opt/ml/processing/code")
        output_uris = output_uris or {}
        app: dict[str, Any] = {"ImageUri": image, "ContainerEntrypoint": [
            "python3", f"/opt/ml/processing/code/{asset.s3_object_key}"]}
        if arguments:
            app["ContainerArguments"] = arguments
        return {
            "Name": name,
            "Type": "Processing",
            "Arguments": {
                "ProcessingResources": {"ClusterConfig": {
                    "InstanceType": settings.processing_instance_type, "InstanceCount": 1,
                    "VolumeSizeInGB": 30, "VolumeKmsKeyId": key}},
                "AppSpecification": app,
                "RoleArn": self._roles["processing"],
                "ProcessingInputs": [code, *inputs],
                **({"ProcessingOutputConfig": {"KmsKeyId": key, "Outputs": [
                    {"OutputName": out, "AppManaged": False, "S3Output": {
                        "S3Uri": output_uris.get(out, self._output_uri(out)), "LocalPath": f"/opt/ml/processing/{out}",
                        "S3UploadMode": "EndOfJob"}} for out in outputs]}} if outputs else {}),
                "NetworkConfig": {"EnableNetworkIsolation": False, "EnableInterContainerTrafficEncryption": True,
                                  "VpcConfig": self._network()},
                "StoppingCondition": {"MaxRuntimeInSeconds": settings.max_runtime_minutes * 60},
            },
        }

    def _features(self, settings: PipelineSettings) -> dict[str, Any]:
        """The training set of this run: the sources' partitions of the window (as of the run's
        date) and the labeled feedback, to ``<features prefix><execution id>/``."""
        spec = self.feature_spec
        assert spec is not None
        inputs = [_input(f"source-{name}", source.uri(self.lake), f"/opt/ml/processing/input/{name}")
                  for name, source in self.sources.items()]
        inputs.append(_input("spec", spec.s3_object_url, "/opt/ml/processing/spec"))
        output = self._features_uri("/")
        arguments = ["--spec", f"/opt/ml/processing/spec/{spec.s3_object_key}"]
        if self.feedback is not None:
            arguments += ["--feedback-uri", self.feedback.uri(self.lake)]
        outputs = ["features"]
        if self.feature_group is not None:
            identifier = self.feature_group.settings.record_identifier
            assert identifier is not None  # a resolved feature set has one
            arguments += ["--records", RECORDS_DIR, "--record-identifier", identifier]
            outputs.append("records")
        return self._processing("Features", self.processing_image, "features", inputs, outputs, settings,
                                arguments=arguments, output_uris={"features": output})

    def _ingest(self, settings: PipelineSettings) -> dict[str, Any]:
        """The run's feature records (the Features step's ``records`` output) into the feature group."""
        assert self.feature_group is not None
        inputs = [_input("records", _step_output("Features", "records"), RECORDS_DIR)]
        arguments = ["--feature-group", self.feature_group.feature_group_name, "--records", f"{RECORDS_DIR}/records.csv"]
        return self._processing("Ingest", self.processing_image, "ingest", inputs, [], settings, arguments=arguments)

    def _track(self, settings: PipelineSettings) -> dict[str, Any]:
        """One MLflow run per execution (named after it) in the model's experiment: the Evaluate
        step's metrics, the training parameters, the pipeline as a tag."""
        tracking = self.experiment_tracking
        assert tracking is not None
        inputs = [_input("evaluation", _step_output("Evaluate", "evaluation"), "/opt/ml/processing/evaluation")]
        if settings.automl is not None:  # Autopilot chooses algorithms, hyperparameters and instances
            params = {"automl_objective": settings.automl.objective,
                      "automl_max_candidates": str(settings.automl.max_candidates),
                      "automl_max_runtime_minutes": str(settings.automl.max_runtime_minutes)}
        else:
            params = {**{k: str(v) for k, v in sorted(settings.hyperparameters.items())},
                      **({"algorithm": settings.algorithm} if settings.algorithm else {}),
                      **({"image": f"{settings.image}:{settings.image_tag}"} if settings.image else {}),
                      "instance_type": settings.instance_type, "instance_count": str(settings.instance_count),
                      **({"tuning_max_jobs": str(settings.tuning.max_jobs)} if settings.tuning else {})}
        arguments: list[Any] = ["--server-arn", tracking.server_arn, "--experiment", settings.model,
                                "--run-name", {"Get": "Execution.PipelineExecutionId"},
                                "--evaluation", "/opt/ml/processing/evaluation"]
        for key, value in params.items():
            arguments += ["--param", f"{key}={value}"]
        arguments += ["--tag", f"pipeline={self.pipeline_name}"]
        if settings.tracking == "best_effort":
            arguments.append("--best-effort")
        step = self._processing("Track", self.processing_image, "tracking", inputs, [], settings, arguments=arguments)
        step["DependsOn"] = ["Evaluate"]
        return step

    def _prepare(self, settings: PipelineSettings) -> dict[str, Any]:
        source = ({"Get": "Steps.Features.ProcessingOutputConfig.Outputs['features'].S3Output.S3Uri"}
                  if settings.features is not None else {"Get": "Parameters.InputData"})
        inputs = [_input("data", source, "/opt/ml/processing/input")]
        arguments = None
        rebalance = settings.features.rebalance_argument() if settings.features else None
        if rebalance is not None and self.libraries is not None:
            inputs.append(_input("libraries", self.libraries.s3_object_url, "/opt/ml/processing/libs"))
            arguments = ["--rebalance", json.dumps(rebalance, sort_keys=True), "--libs", "/opt/ml/processing/libs"]
        outputs = ["train", "validation", "test"]
        if settings.automl is not None:
            arguments = [*(arguments or []), "--automl", settings.label]
            outputs += [automl_steps.TRAIN_OUTPUT, automl_steps.VALIDATION_OUTPUT]
        return self._processing("Prepare", self.processing_image, "prepare", inputs, outputs, settings,
                                arguments=arguments)

    def _evaluate(self, settings: PipelineSettings, model_data: dict[str, Any]) -> dict[str, Any]:
        """Score the model on the test split in the training image (it has the library that loads
        the model), as the processing role (which may pull a custom image, see ``__init__``)."""
        inputs = [
            _input("model", model_data, "/opt/ml/processing/model"),
            _input("test", {"Get": "Steps.Prepare.ProcessingOutputConfig.Outputs['test'].S3Output.S3Uri"},
                   "/opt/ml/processing/test"),
        ]
        step = self._processing("Evaluate", self.image_uri, "evaluate", inputs, ["evaluation"], settings)
        step["PropertyFiles"] = [{"PropertyFileName": "EvaluationReport", "OutputName": "evaluation",
                                  "FilePath": "evaluation.json"}]
        return step

    def _automl(self, settings: PipelineSettings) -> list[dict[str, Any]]:
        """AutoML (as the training role, output under ``models/automl``), AutoMLModel, Predict."""
        assert settings.automl is not None
        key = self.lake.encryption_key.key_arn
        return [
            automl_steps.automl_step(
                settings.automl, label=settings.label, train_uri=_step_output("Prepare", automl_steps.TRAIN_OUTPUT),
                validation_uri=_step_output("Prepare", automl_steps.VALIDATION_OUTPUT),
                output_uri=f"{self.work_uri}models/{automl_steps.OUTPUT_FOLDER}", role_arn=self._roles["training"],
                key_arn=key, network=self._network()),
            automl_steps.model_step(role_arn=self._roles["training"], network=self._network()),
            automl_steps.transform_step(settings.automl, test_uri=_step_output("Prepare", "test"),
                                        output_uri=self._output_uri("predictions"), key_arn=key),
        ]

    def _evaluate_predictions(self, settings: PipelineSettings) -> dict[str, Any]:
        """Score the Predict transform's output (label, predicted label, probability per line) in
        the scikit-learn image: the same ``evaluation.json`` and model-quality files."""
        inputs = [_input("predictions", automl_steps.predictions_uri(), "/opt/ml/processing/predictions")]
        step = self._processing("Evaluate", self.processing_image, "evaluate", inputs, ["evaluation"], settings,
                                arguments=["--predictions", "/opt/ml/processing/predictions"])
        step["PropertyFiles"] = [{"PropertyFileName": "EvaluationReport", "OutputName": "evaluation",
                                  "FilePath": "evaluation.json"}]
        return step

    def _baselines(self, settings: PipelineSettings) -> dict[str, Any]:
        """Model Monitor data-quality baselines of the train split (``baselines.py`` runs the drift
        job's ``drift.py baseline``), after Evaluate: only a model that trained and scored gets them."""
        inputs = [_input("drift", self.drift_code.s3_object_url, "/opt/ml/processing/drift"),
                  _input("train", _step_output("Prepare", "train"), "/opt/ml/processing/train")]
        arguments = ["--label", settings.label, "--drift", "/opt/ml/processing/drift",
                     "--dataset", "/opt/ml/processing/train", "--output", "/opt/ml/processing/baselines"]
        if settings.features is not None:
            inputs.append(_input("schema", self._schema_uri(), "/opt/ml/processing/schema"))
            arguments += ["--schema", "/opt/ml/processing/schema"]
        step = self._processing("Baselines", self.processing_image, "baselines", inputs, ["baselines"], settings,
                                arguments=arguments)
        step["DependsOn"] = ["Evaluate"]
        return step

    def _features_uri(self, suffix: str) -> dict[str, Any]:
        """``<features prefix><execution id><suffix>``: this run's training set (``/``) or a file of it."""
        return {"Std:Join": {"On": "", "Values": [
            self.features_output.uri(self.lake), {"Get": "Execution.PipelineExecutionId"}, suffix]}}

    def _schema_uri(self) -> dict[str, Any]:
        """The feature step's ``schema.json`` of this run (an S3 prefix matching that one object;
        Prepare, which the steps reading it follow, ran after Features wrote it)."""
        return self._features_uri("/schema.json")

    def _bias(self, settings: PipelineSettings) -> list[dict[str, Any]]:
        """The Bias step on the train split and the CheckBias condition whose else branch fails the
        pipeline (with the metrics over their thresholds as the message)."""
        check = settings.bias_check
        assert check is not None
        inputs = [_input("train", _step_output("Prepare", "train"), "/opt/ml/processing/train")]
        arguments = ["--config", json.dumps(check.config(settings.label), sort_keys=True),
                     "--dataset", "/opt/ml/processing/train", "--output", "/opt/ml/processing/bias"]
        if settings.features is not None:
            inputs.append(_input("schema", self._schema_uri(), "/opt/ml/processing/schema"))
            arguments += ["--schema", "/opt/ml/processing/schema"]
        step = self._processing("Bias", self.processing_image, "bias", inputs, ["bias"], settings,
                                arguments=arguments)
        step["PropertyFiles"] = [{"PropertyFileName": "BiasGate", "OutputName": "bias", "FilePath": "gate.json"}]
        report = {"PropertyFile": {"Get": "Steps.Bias.PropertyFiles.BiasGate"}}
        condition = {"Name": "CheckBias", "Type": "Condition", "Arguments": {
            "Conditions": [{"Type": "LessThanOrEqualTo",
                            "LeftValue": {"Std:JsonGet": {**report, "Path": "violations"}}, "RightValue": 0}],
            "IfSteps": [],
            "ElseSteps": [{"Name": "BiasTooHigh", "Type": "Fail", "Arguments": {"ErrorMessage": {"Std:Join": {
                "On": ": ", "Values": ["pre-training bias over its thresholds",
                                       {"Std:JsonGet": {**report, "Path": "message"}}]}}}}],
        }}
        return [step, condition]

    def _training_job(self, settings: PipelineSettings) -> dict[str, Any]:
        key = self.lake.encryption_key.key_arn
        channels = [
            {"ChannelName": channel, "ContentType": "text/csv", "InputMode": settings.input_mode,
             "DataSource": {"S3DataSource": {
                 "S3DataType": "S3Prefix", "S3DataDistributionType": "FullyReplicated",
                 "S3Uri": {"Get": f"Steps.Prepare.ProcessingOutputConfig.Outputs['{channel}'].S3Output.S3Uri"}}}}
            for channel in ("train", "validation")
        ]
        job: dict[str, Any] = {
            "AlgorithmSpecification": {"TrainingImage": self.image_uri, "TrainingInputMode": settings.input_mode},
            "RoleArn": self._roles["training"],
            "InputDataConfig": channels,
            "OutputDataConfig": {"S3OutputPath": f"{self.work_uri}models", "KmsKeyId": key},
            "ResourceConfig": {"InstanceType": settings.instance_type, "InstanceCount": settings.instance_count,
                               "VolumeSizeInGB": settings.volume_gb, "VolumeKmsKeyId": key},
            "VpcConfig": self._network(),
            "EnableInterContainerTrafficEncryption": True,
            "EnableManagedSpotTraining": settings.spot,
            "StoppingCondition": {"MaxRuntimeInSeconds": settings.max_runtime_minutes * 60},
        }
        if settings.spot:
            job["StoppingCondition"]["MaxWaitTimeInSeconds"] = settings.max_wait_minutes * 60
            job["CheckpointConfig"] = {"S3Uri": self.checkpoint_uri}
        return job

    def _train(self, settings: PipelineSettings) -> dict[str, Any]:
        arguments = self._training_job(settings)
        arguments["HyperParameters"] = {k: str(v) for k, v in sorted(settings.hyperparameters.items())}
        return {"Name": "Train", "Type": "Training", "Arguments": arguments}

    def _tune(self, settings: PipelineSettings) -> dict[str, Any]:
        tuning = settings.tuning
        assert tuning is not None
        definition = self._training_job(settings)
        definition["StaticHyperParameters"] = {k: str(v) for k, v in sorted(settings.hyperparameters.items())
                                               if k not in tuning.ranges}
        definition["AlgorithmSpecification"]["MetricDefinitions"] = []
        arguments: dict[str, Any] = {
            "HyperParameterTuningJobConfig": {
                "Strategy": "Bayesian",
                "HyperParameterTuningJobObjective": {"Type": tuning.objective, "MetricName": tuning.objective_metric},
                "ResourceLimits": {"MaxNumberOfTrainingJobs": tuning.max_jobs,
                                   "MaxParallelTrainingJobs": tuning.max_parallel_jobs},
                "ParameterRanges": {"ContinuousParameterRanges": [
                    {"Name": name, "MinValue": str(r.min), "MaxValue": str(r.max), "ScalingType": r.scaling}
                    for name, r in sorted(tuning.ranges.items())]},
            },
            "TrainingJobDefinition": definition,
        }
        if tuning.warm_start_parent:
            arguments["WarmStartConfig"] = {"WarmStartType": "IdenticalDataAndAlgorithm",
                                            "ParentHyperParameterTuningJobs": [
                                                {"HyperParameterTuningJobName": tuning.warm_start_parent}]}
        return {"Name": "Tune", "Type": "Tuning", "Arguments": arguments}

    def _register(self, group: str, model_data: dict[str, Any] | None, settings: PipelineSettings) -> dict[str, Any]:
        """The model package, with the run's baselines: data quality (Baselines step) and model
        quality (Evaluate step) as ``ModelMetrics`` and ``DriftCheckBaselines``, and the bias
        report as ``ModelMetrics.Bias.PreTrainingReport`` with ``bias_check``."""
        def source(step: str, output: str, *path: str) -> dict[str, Any]:
            return {"ContentType": "application/json",
                    "S3Uri": {"Std:Join": {"On": "/", "Values": [_step_output(step, output), *path]}}}

        def pair(step: str, output: str, *folder: str) -> dict[str, Any]:
            return {"Statistics": source(step, output, *folder, "statistics.json"),
                    "Constraints": source(step, output, *folder, "constraints.json")}

        data_quality = pair("Baselines", "baselines")
        model_quality = pair("Evaluate", "evaluation", MODEL_QUALITY_DIR)
        metrics: dict[str, Any] = {"ModelQuality": model_quality, "ModelDataQuality": data_quality}
        if settings.bias_check is not None:
            metrics["Bias"] = {"PreTrainingReport": source("Bias", "bias", "analysis.json")}
        return {
            "Name": "Register",
            "Type": "RegisterModel",
            "Arguments": {
                "ModelPackageGroupName": group,
                "ModelApprovalStatus": {"Get": "Parameters.ModelApprovalStatus"},
                "InferenceSpecification": {
                    "Containers": (automl_steps.best_containers() if settings.automl is not None
                                   else [{"Image": self.image_uri, "ModelDataUrl": model_data}]),
                    "SupportedContentTypes": ["text/csv"],
                    "SupportedResponseMIMETypes": ["text/csv"],
                    "SupportedRealtimeInferenceInstanceTypes": ["ml.m5.large", "ml.m5.xlarge"],
                    "SupportedTransformInstanceTypes": ["ml.m5.large", "ml.m5.xlarge"],
                },
                "ModelMetrics": metrics,
                "DriftCheckBaselines": {"ModelQuality": model_quality, "ModelDataQuality": data_quality},
            },
        }
