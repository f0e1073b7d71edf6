"""What :mod:`tools.review.cost` knows about resource types it does not price by the hour.

Every type a template holds is either priced (the price table's ``resource_types``), listed here
with why it costs nothing while idle, or reported as unclassified, so that nothing is skipped
silently. Kinds: ``free`` (no charge of its own), ``usage`` (bills per request, GB or run while
used), ``runs`` (starts billed work on a schedule, whether or not new data arrived).
"""

from __future__ import annotations

#: Stack (name without ``<prefix>-<env>-``) -> the config section that creates it.
STACK_SECTIONS: dict[str, str] = {
    "Alerting": "alerts",
    "DataLake": "data_lake",
    "Network": "network",
    "DataCatalog": "data_catalog",
    "DataQuality": "data_catalog.datasets.*.quality.recommendations",
    "Training": "training",
    "Serving": "serving",
    "Monitoring": "monitoring",
    "Labeling": "labeling",
    "Workbench": "workbench",
    "Governance": "governance",
}

#: (resource type, stack) -> the config keys that create it, where narrower than the section.
DRIVERS: dict[tuple[str, str], tuple[str, ...]] = {
    ("AWS::KMS::Key", "Training"): ("training.repositories",),
    ("AWS::SecretsManager::Secret", "DataCatalog"): ("data_catalog.databrew",),
    ("AWS::EC2::VPCEndpoint", "Network"): ("network.interface_endpoints", "network.az_count"),
    ("AWS::EC2::VPCEndpoint", "Workbench"): ("workbench.users", "network.az_count"),
    ("AWS::KMS::Key", "Workbench"): ("workbench",),
}

FREE, USAGE, RUNS = "free", "usage", "runs"
KIND_TITLES = {
    RUNS: "Not idle: starts billed runs on a schedule, whether or not new data arrived",
    USAGE: "Bills only by usage (requests, GB stored or processed, run time)",
    FREE: "No charge of its own",
}

#: Resource type -> (kind, why).
IDLE_FREE: dict[str, tuple[str, str]] = {
    "AWS::ApplicationAutoScaling::ScalableTarget": (FREE, "its minimum capacity is priced in the endpoint lines"),
    "AWS::ApplicationAutoScaling::ScalingPolicy": (FREE, "alarms that target tracking creates are counted as alarms"),
    "AWS::Athena::WorkGroup": (USAGE, "per TB scanned by queries"),
    "AWS::Cognito::UserPool": (USAGE, "per monthly active user at the pool's tier; no sign-ins while idle"),
    "AWS::Cognito::UserPoolClient": (FREE, "part of the user pool"),
    "AWS::Cognito::UserPoolDomain": (FREE, "part of the user pool"),
    "AWS::Cognito::UserPoolGroup": (FREE, "part of the user pool"),
    "AWS::DataBrew::Dataset": (FREE, "jobs that read it bill"),
    "AWS::DataBrew::Job": (USAGE, "per node-hour while a run lasts"),
    "AWS::DataBrew::Recipe": (FREE, "the recipe job bills"),
    "AWS::DataBrew::Ruleset": (FREE, "the profile job bills"),
    "AWS::DataBrew::Schedule": (RUNS, "starts its jobs on time"),
    "AWS::EC2::FlowLog": (USAGE, "per GB of flow-log data delivered"),
    "AWS::EC2::RouteTable": (FREE, "no charge"),
    "AWS::EC2::SecurityGroup": (FREE, "no charge"),
    "AWS::EC2::SecurityGroupEgress": (FREE, "no charge"),
    "AWS::EC2::SecurityGroupIngress": (FREE, "no charge"),
    "AWS::EC2::Subnet": (FREE, "no charge"),
    "AWS::EC2::SubnetRouteTableAssociation": (FREE, "no charge"),
    "AWS::EC2::VPC": (FREE, "no charge"),
    "AWS::ECR::Repository": (USAGE, "per GB of images stored"),
    "AWS::Events::Rule": (USAGE, "rules are free; custom events and the targets they start bill"),
    "AWS::Glue::Classifier": (FREE, "no charge"),
    "AWS::Glue::Crawler": (USAGE, "per DPU-hour while a crawl runs"),
    "AWS::Glue::DataQualityRuleset": (FREE, "evaluated inside a billed job run"),
    "AWS::Glue::Database": (USAGE, "Data Catalog storage beyond the free million objects, and requests"),
    "AWS::Glue::Job": (USAGE, "per DPU-hour while a run lasts"),
    "AWS::Glue::SecurityConfiguration": (FREE, "no charge"),
    "AWS::Glue::Trigger": (RUNS, "a scheduled trigger starts its crawlers and jobs on time"),
    "AWS::Glue::Workflow": (FREE, "its crawlers and jobs bill"),
    "AWS::IAM::ManagedPolicy": (FREE, "no charge"),
    "AWS::IAM::Policy": (FREE, "no charge"),
    "AWS::IAM::Role": (FREE, "no charge"),
    "AWS::Lambda::Function": (USAGE, "per request and GB-second of run time"),
    "AWS::Lambda::Permission": (FREE, "no charge"),
    "AWS::Logs::LogGroup": (USAGE, "per GB ingested and stored"),
    "AWS::S3::Bucket": (USAGE, "per GB stored and per request"),
    "AWS::S3::BucketPolicy": (FREE, "no charge"),
    "AWS::SNS::Topic": (USAGE, "per publish and delivery"),
    "AWS::SNS::TopicPolicy": (FREE, "no charge"),
    "AWS::SQS::Queue": (USAGE, "per request"),
    "AWS::SQS::QueuePolicy": (FREE, "no charge"),
    "AWS::SageMaker::DataQualityJobDefinition": (FREE, "its schedule's runs bill"),
    "AWS::SageMaker::EndpointConfig": (FREE, "priced through the endpoint that runs it"),
    "AWS::SageMaker::Model": (FREE, "priced through the endpoint or transform that runs it"),
    "AWS::SageMaker::ModelBiasJobDefinition": (FREE, "its schedule's runs bill"),
    "AWS::SageMaker::ModelExplainabilityJobDefinition": (FREE, "its schedule's runs bill"),
    "AWS::SageMaker::FeatureGroup": (USAGE, "per write and read request unit and online-store GB-month; the offline "
                                            "store is S3 storage in the lake"),
    "AWS::SageMaker::ModelPackageGroup": (FREE, "no charge"),
    "AWS::SageMaker::ModelQualityJobDefinition": (FREE, "its schedule's runs bill"),
    "AWS::SageMaker::MonitoringSchedule": (RUNS, "starts a processing job on each run of its schedule"),
    "AWS::SageMaker::Pipeline": (FREE, "an execution bills its steps' jobs"),
    "AWS::SageMaker::Workforce": (FREE, "labeling bills per object labeled"),
    "AWS::SageMaker::Workteam": (FREE, "labeling bills per object labeled"),
    "AWS::Scheduler::Schedule": (RUNS, "starts its target on time (a batch transform, a drift job or a Glue run bills while it runs)"),
    "AWS::StepFunctions::StateMachine": (USAGE, "a standard workflow bills per state transition, nothing while idle"),
    "AWS::SageMaker::Domain": (USAGE, "Studio apps bill while they run (idle ones stop); home directories bill as EFS storage"),
    "AWS::SageMaker::UserProfile": (FREE, "no charge of its own"),
    "AWS::CloudTrail::Trail": (USAGE, "the first copy of management events is free; S3 data events bill per 100,000 events"),
    "AWS::Budgets::Budget": (FREE, "budgets without actions cost nothing"),
    "AWS::Glue::DataCatalogEncryptionSettings": (FREE, "no charge"),
}

#: Custom resources run their provider function on deploy only.
CUSTOM_RESOURCE = (USAGE, "a custom resource: its provider function runs on deploys")


def classify(resource_type: str) -> tuple[str, str] | None:
    """``(kind, why)`` for a type that costs nothing while idle, ``None`` when unknown."""
    if resource_type.startswith("Custom::") or resource_type == "AWS::CloudFormation::CustomResource":
        return CUSTOM_RESOURCE
    return IDLE_FREE.get(resource_type)
