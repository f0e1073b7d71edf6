"""Region availability: botocore's offline endpoint data, and the services each section creates."""

from __future__ import annotations

import json
import socket

import botocore
import pytest

from ml_platform import region_services
from ml_platform.region_services import (
    SECTION_SERVICES,
    SERVICE_NAMES,
    available_regions,
    missing_services,
)
from tests.conftest import ROOT

#: CloudFormation namespace (``AWS::<namespace>::...``) to botocore service name.
CFN_NAMESPACES = {
    "ApplicationAutoScaling": "application-autoscaling", "Athena": "athena", "CloudWatch": "cloudwatch",
    "Cognito": "cognito-idp", "DataBrew": "databrew", "EC2": "ec2", "ECR": "ecr", "Events": "events",
    "Glue": "glue", "KMS": "kms", "Lambda": "lambda", "Logs": "logs", "S3": "s3", "SageMaker": "sagemaker",
    "Scheduler": "scheduler", "SecretsManager": "secretsmanager", "SNS": "sns", "SQS": "sqs",
    "StepFunctions": "stepfunctions", "SSM": "ssm", "CloudTrail": "cloudtrail", "Budgets": "budgets",
}
#: Stack name suffix to the keys of SECTION_SERVICES that build it (every stack routes its failures
#: to the alert path, so every stack has ``alerts``).
STACK_SECTIONS = {stack: ("alerts", *sections) for stack, sections in {
    "Alerting": (), "DataLake": ("data_lake",), "Network": ("network",),
    "DataCatalog": ("data_catalog", "data_catalog.databrew"), "DataQuality": ("data_catalog.recommendations",),
    "Training": ("training", "training.feature_store", "training.experiment_tracking"),
    "Serving": ("serving", "serving.batch"), "Monitoring": ("monitoring", "monitoring.processing"),
    "Governance": ("governance",), "Workbench": ("workbench",), "Labeling": ("labeling",),
}.items()}


def test_endpoint_data_is_read_offline(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("botocore tried to open a socket")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    for cached in (available_regions, region_services._session, region_services._partitions):
        cached.cache_clear()
    assert "eu-central-1" in available_regions("databrew")
    assert missing_services("us-east-1", dict(SECTION_SERVICES)) == []


def test_databrew_is_missing_in_zurich_and_the_rest_of_the_platform_is_there():
    assert "eu-central-2" not in available_regions("databrew")
    assert "eu-central-1" in available_regions("databrew")
    others = {key: services for key, services in SECTION_SERVICES.items() if key != "data_catalog.databrew"}
    assert missing_services("eu-central-2", others) == []


def test_missing_service_is_one_line_naming_the_key_and_the_regions_that_offer_it():
    [problem] = missing_services("eu-central-2", {"data_catalog.databrew": ("databrew", "lambda")})
    assert problem.startswith(
        "data_catalog.databrew: needs AWS Glue DataBrew (databrew), which region 'eu-central-2' does not "
        "offer; regions that do: af-south-1, ap-east-1, "
    ), problem
    assert problem.endswith(f", us-west-2 (botocore {botocore.__version__} endpoint data)")
    assert "\n" not in problem


def test_each_missing_service_of_each_key_is_reported():
    problems = missing_services("cn-north-1", {"labeling": ("sagemaker", "cognito-idp"), "serving": ("sagemaker",),
                                               "monitoring": ("cognito-idp",)})
    assert [p.split(" (")[0] for p in problems] == [
        "labeling: needs Amazon Cognito user pools", "monitoring: needs Amazon Cognito user pools"
    ]
    assert problems[0].endswith(f"regions that do: none (botocore {botocore.__version__} endpoint data)")


def test_other_partitions_are_checked_against_their_own_regions():
    assert missing_services("us-gov-west-1", {"training": ("sagemaker", "ecr")}) == []
    assert available_regions("sagemaker", "aws-cn") == ("cn-north-1", "cn-northwest-1")


def test_unknown_region_is_one_region_problem_listing_the_regions_of_its_partition():
    [problem] = missing_services("eu-central-9", {"training": ("sagemaker",)})
    assert problem.startswith(
        f"region: not a region in the endpoint data of botocore {botocore.__version__}; allowed: af-south-1, "
    ), problem
    assert "eu-central-2, " in problem and "cn-north-1" not in problem
    assert problem.endswith("(upgrade botocore if the region is new) (got 'eu-central-9')")


@pytest.mark.parametrize("partition", ["aws", "aws-cn", "aws-us-gov"])
def test_regions_are_those_botocore_lists_for_each_service(partition):
    session = region_services._session()
    for service in SERVICE_NAMES:
        prefix = session.get_service_data(service)["metadata"].get("endpointPrefix", service)
        assert region_services.ENDPOINT_PREFIXES.get(service, service) == prefix, service
        assert available_regions(service, partition) == tuple(
            sorted(session.get_available_regions(service, partition_name=partition))
        ), (service, partition)


def test_every_declared_service_is_a_botocore_service_with_a_name():
    for services in SECTION_SERVICES.values():
        for service in services:
            # a global service has no regional endpoint in botocore's data: not checked per region
            assert available_regions(service) or service in region_services.GLOBAL_SERVICES, service
            assert service in SERVICE_NAMES, service
    assert region_services.GLOBAL_SERVICES == {"budgets"} and not available_regions("budgets")


@pytest.mark.parametrize("template", sorted((ROOT / "tests" / "snapshots").glob("*/*.template.json")),
                         ids=lambda path: path.name)
def test_each_stack_creates_only_services_its_sections_declare(template):
    stack = template.name.removesuffix(".template.json").rsplit("-", 1)[1]
    declared = {service for key in STACK_SECTIONS[stack] for service in SECTION_SERVICES[key]}
    used = set()
    for resource in json.loads(template.read_text())["Resources"].values():
        kind = resource["Type"]
        if kind.startswith("Custom::"):
            used.add("lambda")  # custom resources here are Lambda-backed
        elif not kind.startswith("AWS::IAM::"):
            namespace = kind.split("::")[1]
            assert namespace in CFN_NAMESPACES, f"{kind}: add its service to CFN_NAMESPACES and SECTION_SERVICES"
            used.add(CFN_NAMESPACES[namespace])
    assert used <= declared, f"{template.name} creates {sorted(used - declared)} not in SECTION_SERVICES"


def test_feature_store_and_experiment_tracking_are_sections_of_their_own():
    from ml_platform.config import load_environment
    from ml_platform.region_services import SECTION_SERVICES, enabled_sections
    from tests.conftest import CONFIG_DIR

    dev = load_environment(CONFIG_DIR / "dev.yaml")
    assert "training.feature_store" in enabled_sections(dev)  # dev feeds the churn set
    assert "training.experiment_tracking" not in enabled_sections(dev)
    assert set(SECTION_SERVICES["training.feature_store"]) >= {"sagemaker", "glue", "s3"}


def test_data_quality_recommendations_declare_what_their_stack_creates_and_the_runs_use():
    from ml_platform.config import load_environment
    from ml_platform.region_services import SECTION_SERVICES, enabled_sections
    from tests.conftest import CONFIG_DIR

    assert "data_catalog.recommendations" in enabled_sections(load_environment(CONFIG_DIR / "dev.yaml"))
    assert "data_catalog.recommendations" not in enabled_sections(load_environment(CONFIG_DIR / "staging.yaml"))
    # the DataQuality stack's workflow, schedule and log group under its own key; the runs are Glue's
    assert set(SECTION_SERVICES["data_catalog.recommendations"]) == {
        "stepfunctions", "scheduler", "logs", "kms", "glue"}
