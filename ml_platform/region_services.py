"""Which AWS services each section of an environment creates, and whether its region offers them.

Checked when a configuration file loads, so that a region without a service (DataBrew in
eu-central-2, say) fails with one line naming the section, not with CloudFormation errors at synth
or deploy. The authority is the endpoint data botocore ships with its package
(``botocore/data/endpoints.json``, read offline through ``Session.get_available_regions``): the
regions in which a service has an API endpoint.

Limits: botocore knows endpoints, not features inside a service. SageMaker features with narrower
availability (Ground Truth, Model Monitor) pass wherever SageMaker has an endpoint. A region newer
than the installed botocore is reported as unknown: upgrade botocore.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING

import botocore
import botocore.session

if TYPE_CHECKING:
    from ml_platform.config import EnvironmentConfig

#: Names of the services in messages, by botocore service name.
SERVICE_NAMES: Mapping[str, str] = {
    "s3": "Amazon S3",
    "kms": "AWS KMS",
    "lambda": "AWS Lambda",
    "logs": "CloudWatch Logs",
    "cloudwatch": "CloudWatch",
    "ec2": "Amazon EC2 (VPC)",
    "glue": "AWS Glue",
    "athena": "Amazon Athena",
    "databrew": "AWS Glue DataBrew",
    "secretsmanager": "AWS Secrets Manager",
    "events": "Amazon EventBridge",
    "scheduler": "EventBridge Scheduler",
    "sns": "Amazon SNS",
    "sagemaker": "Amazon SageMaker",
    "ecr": "Amazon ECR",
    "application-autoscaling": "Application Auto Scaling",
    "cognito-idp": "Amazon Cognito user pools",
    "sqs": "Amazon SQS",
    "stepfunctions": "AWS Step Functions",
    "ssm": "AWS Systems Manager (Parameter Store)",
    "cloudtrail": "AWS CloudTrail",
    "budgets": "AWS Budgets",
}
#: Services with one global endpoint (botocore lists no regional one): not checked per region.
GLOBAL_SERVICES = frozenset({"budgets"})

#: Services each part of an environment creates, by the key path that turns it on (IAM is global
#: and not listed). ``alerts``, ``data_lake`` and ``network`` are always created; the others when
#: present. ``alerts`` also covers what every stack adds to route its failures (docs/alerts.md):
#: rules, alarms and a dead-letter queue.
SECTION_SERVICES: Mapping[str, tuple[str, ...]] = {
    "alerts": ("sns", "kms", "events", "sqs", "cloudwatch"),
    "data_lake": ("s3", "kms", "lambda"),
    "network": ("ec2", "logs", "kms", "lambda"),
    "data_catalog": ("glue", "athena", "events", "sns", "kms", "lambda", "logs"),
    "data_catalog.databrew": ("databrew", "secretsmanager", "lambda", "logs"),
    # Data Quality rule recommendations, in the DataQuality stacks: a Step Functions workflow started
    # by EventBridge Scheduler, logging to a log group under a key of the stack; the runs are Glue's.
    "data_catalog.recommendations": ("stepfunctions", "scheduler", "logs", "kms", "glue"),
    "training": ("sagemaker", "ecr", "events", "sns", "kms", "stepfunctions", "ssm", "logs"),
    # Feature Store and MLflow are SageMaker features (botocore lists no endpoints of the
    # featurestore-runtime or sagemaker-mlflow data planes): checked as SageMaker; the offline
    # stores' tables go to the Glue catalog and their files to S3.
    "training.feature_store": ("sagemaker", "glue", "s3", "kms"),
    "training.experiment_tracking": ("sagemaker", "s3"),
    "serving": ("sagemaker", "application-autoscaling", "cloudwatch", "sns", "kms"),
    "serving.batch": ("scheduler",),
    "monitoring": ("sagemaker", "events", "lambda", "logs", "cloudwatch", "sns", "kms"),
    "monitoring.processing": ("scheduler",),
    "governance": ("cloudtrail", "s3", "kms", "glue", "events", "sqs", "logs", "budgets"),
    "workbench": ("sagemaker", "ec2", "kms", "lambda", "logs"),
    "labeling": ("sagemaker", "cognito-idp", "lambda", "logs", "sns", "kms"),
}


def enabled_sections(config: EnvironmentConfig) -> list[str]:
    """The keys of :data:`SECTION_SERVICES` that ``config`` turns on, in that order."""
    present = {
        "alerts": True,
        "data_lake": True,
        "network": True,
        "data_catalog": config.data_catalog is not None,
        "data_catalog.databrew": config.data_catalog is not None and bool(config.data_catalog.databrew),
        "data_catalog.recommendations": config.data_catalog is not None and any(
            d.quality is not None and d.quality.recommendations is not None
            for d in config.data_catalog.datasets.values()),
        "training": config.training is not None,
        "training.feature_store": config.training is not None and config.training.feature_store is not None,
        "training.experiment_tracking": config.training is not None and config.training.experiment_tracking is not None,
        "serving": config.serving is not None,
        "serving.batch": config.serving is not None and bool(config.serving.batch),
        "monitoring": config.monitoring is not None,
        "monitoring.processing": config.monitoring is not None and config.monitoring.engine == "processing",
        "governance": config.governance is not None,
        "workbench": config.workbench is not None,
        "labeling": config.labeling is not None,
    }
    return [key for key in SECTION_SERVICES if present[key]]


def region_problems(config: EnvironmentConfig) -> list[str]:
    """``<key path>: <problem>`` for an unknown region, or for each enabled section's service that
    ``config.region`` does not offer."""
    return missing_services(config.region, {key: SECTION_SERVICES[key] for key in enabled_sections(config)})


def missing_services(region: str, services: Mapping[str, tuple[str, ...]]) -> list[str]:
    """``<key path>: <problem>`` for each service of ``services`` (key path to botocore service
    names) without an endpoint in ``region``; one ``region`` problem if botocore does not know it."""
    partition = _partition_of(region)
    if partition is None:
        nearby = _regions_like(region)
        return [f"region: not a region in the endpoint data of botocore {botocore.__version__}; allowed: "
                f"{', '.join(nearby)} (upgrade botocore if the region is new) (got {region!r})"]
    problems = []
    for key, names in services.items():
        for service in names:
            if service in GLOBAL_SERVICES:
                continue
            offered = available_regions(service, partition)
            if region not in offered:
                problems.append(
                    f"{key}: needs {SERVICE_NAMES.get(service, service)} ({service}), which region {region!r} "
                    f"does not offer; regions that do: {', '.join(offered) or 'none'} (botocore "
                    f"{botocore.__version__} endpoint data)"
                )
    return problems


#: Endpoint prefix of each service in :data:`SERVICE_NAMES` whose prefix is not its name (the
#: ``endpointPrefix`` of its botocore service model; a test compares them). Reading it from the
#: model at synth would load each service's whole API description.
ENDPOINT_PREFIXES: Mapping[str, str] = {
    "cloudwatch": "monitoring",
    "sagemaker": "api.sagemaker",
    "ecr": "api.ecr",
    "stepfunctions": "states",
}


@cache
def available_regions(service: str, partition: str = "aws") -> tuple[str, ...]:
    """Regions of ``partition`` in which ``service`` (a botocore service name) has an endpoint:
    what ``botocore.session.Session.get_available_regions`` returns, sorted."""
    prefix = ENDPOINT_PREFIXES.get(service, service)
    for data in _session().get_data("endpoints")["partitions"]:
        if data["partition"] == partition:
            endpoints = data["services"].get(prefix, {}).get("endpoints", {})
            return tuple(sorted(name for name in endpoints if name in data["regions"]))
    return ()


@cache
def _session() -> botocore.session.Session:
    return botocore.session.get_session()


@cache
def _partitions() -> dict[str, tuple[str, ...]]:
    """Partition name to its regions, from botocore's endpoint data."""
    data = _session().get_data("endpoints")
    return {p["partition"]: tuple(sorted(p["regions"])) for p in data["partitions"]}


def _partition_of(region: str) -> str | None:
    return next((name for name, regions in _partitions().items() if region in regions), None)


def _regions_like(region: str) -> tuple[str, ...]:
    """Regions of the partition whose naming ``region`` follows (``aws`` for ``eu-...``)."""
    for partition in _session().get_data("endpoints")["partitions"]:
        if re.match(partition["regionRegex"], region):
            return _partitions()[partition["partition"]]
    return tuple(sorted(r for regions in _partitions().values() for r in regions))
