"""The architecture picture's content: lifecycle stages, their nodes and the hand-offs between them,
derived from one environment's synthesized templates (``{stack name: template}``).

Resources are classified by type (:data:`KINDS`) into a lifecycle stage (:data:`STAGES`); the
resources of a kind that scales with config (crawlers, Glue jobs, ...) are one node, and a kind
whose members are drawn one by one (buckets, pipelines, endpoints, ...) becomes one node too once
it has more than :data:`MAX_INDIVIDUAL` members. Edges (drawn by
:mod:`tools.review.architecture_edges`):

* data hand-offs from the lineage engine (``tests/lineage.py``, the same reading of the templates
  that ``make lineage`` checks): a lake zone to each reader, each writer to its zone, labelled with
  the key prefixes; a resource's scratch data (read back only by itself) is left out;
* the registry: a pipeline whose definition names a model package group registers into it; a
  model whose ``ModelPackageName`` is a version of that group serves it;
* the catalog: crawlers to the Glue databases they fill, the databases to the Data Quality
  rulesets that check their tables;
* control: EventBridge rules from the resources their pattern names to the targets they start,
  and a function whose environment names a pipeline starts it (retraining);
* the labeling stage's S3 grants (Ground Truth jobs run outside CloudFormation);
* alert routes: per stage, the rules and alarms that publish to the Alerting stack's topic.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.lineage import Location, Resolver
from tools.review.stages import stack_stage

#: Lifecycle stages, left to right: (key, title). ``alerts`` is the side lane, ``network`` shared.
STAGES = (
    ("lake", "Data lake"),
    ("preparation", "Catalog & preparation"),
    ("training", "Training pipeline & registry"),
    ("serving", "Serving"),
    ("monitoring", "Monitoring & feedback"),
    ("labeling", "Labeling"),
    ("return", "Back to the lake"),
)
#: Stages whose lake writes are drawn into the lake's zones (later ones: hand-offs or "return").
EARLY_STAGES = ("lake", "preparation")
STAGE_ORDER = {key: i for i, (key, _) in enumerate(STAGES)}
SIDE_STAGES = ("network", "alerts", "governance")
#: A kind drawn one node per resource becomes one grouped node above this many members.
MAX_INDIVIDUAL = 5
#: Names shown in a grouped node's label (the rest are counted, and listed in its tooltip).
MAX_LISTED = 3
#: Key prefixes shown on one edge label.
MAX_PREFIXES = 2

_HASH = re.compile(r"^(.+?)[0-9A-F]{8}$")
CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_TOKEN = re.compile(r"<[^<>]*>|\$\{[^}]*\}|Fn::|\{[a-z-]+\}")


@dataclass(frozen=True)
class Kind:
    """How one kind of node is drawn: a noun (singular, plural) and whether one node stands for
    all its resources in a stage (``grouped``) or each gets its own."""

    noun: str
    plural: str
    grouped: bool


#: The stage of each drawn resource type (a function's is its stack's).
TYPE_STAGES = {
    "AWS::S3::Bucket": "lake", "AWS::Glue::Crawler": "preparation", "AWS::Glue::Job": "preparation",
    "AWS::Glue::DataQualityRuleset": "preparation", "AWS::Glue::Database": "preparation",
    "AWS::DataBrew::Job": "preparation", "AWS::Athena::WorkGroup": "preparation", "AWS::ECR::Repository": "training",
    "AWS::SageMaker::Pipeline": "training", "AWS::SageMaker::ModelPackageGroup": "training",
    "AWS::SageMaker::Endpoint": "serving", "AWS::Scheduler::Schedule": "serving",
    "AWS::SageMaker::MonitoringSchedule": "monitoring", "AWS::SageMaker::Workforce": "labeling",
    "AWS::SageMaker::Workteam": "labeling", "AWS::EC2::VPC": "network",
}
#: Node kinds (keys returned by ``_Builder.classify``).
KINDS: dict[str, Kind] = {
    "bucket": Kind("S3 bucket", "S3 buckets", False),
    "crawler": Kind("Glue crawler", "Glue crawlers", True),
    "job": Kind("Glue ETL job", "Glue ETL jobs", True),
    "dataqualityruleset": Kind("Glue Data Quality ruleset", "Glue Data Quality rulesets", True),
    "glue_database": Kind("Glue Data Catalog database", "Glue Data Catalog databases", True),
    "databrew": Kind("DataBrew job", "DataBrew jobs", True),
    "workgroup": Kind("Athena workgroup", "Athena workgroups", True),
    "ecr": Kind("ECR repository", "ECR repositories", True),
    "pipeline": Kind("SageMaker pipeline", "SageMaker pipelines", False),
    "registry": Kind("model registry group", "model registry groups", False),
    "endpoint": Kind("endpoint", "endpoints", False),
    "batch": Kind("batch transform", "batch transforms", False),
    "monitor": Kind("Model Monitor", "Model Monitors", False),
    "function": Kind("Lambda function", "Lambda functions", False),
    "workforce": Kind("Ground Truth workforce", "Ground Truth workforces", True),
    "workteam": Kind("work team", "work teams", False),
    "vpc": Kind("VPC", "VPCs", False),
    "topic": Kind("SNS alert topic", "SNS alert topics", False),
}
#: The picture's names of the report's stages (:mod:`tools.review.stages`) where they differ.
STAGE_NAMES = {"catalog/preparation": "preparation", "alerting": "alerts"}
#: Types that only count towards the stage of their stack (they are drawn through another node).
STAGE_HINTS = {
    "AWS::SageMaker::EndpointConfig": "serving", "AWS::SageMaker::Model": "serving",
    "AWS::SageMaker::DataQualityJobDefinition": "monitoring", "AWS::SageMaker::ModelQualityJobDefinition": "monitoring",
    "AWS::SageMaker::ModelBiasJobDefinition": "monitoring", "AWS::SageMaker::ModelExplainabilityJobDefinition": "monitoring",
    "AWS::Cognito::UserPool": "labeling", "AWS::Glue::Workflow": "preparation", "AWS::DataBrew::Dataset": "preparation",
}
#: What each monitoring type checks, for labels.
MONITOR_TYPES = {"DataQuality": "data quality", "ModelQuality": "model quality", "ModelBias": "bias",
                 "ModelExplainability": "explainability"}


def strip_hash(logical_id: str) -> str:
    """``LakeRawBucketA1B2C3D4`` -> ``LakeRawBucket``."""
    match = _HASH.match(logical_id)
    return match[1] if match else logical_id


def short_stack(stack: str) -> str:
    """``mlp-prod-DataCatalog2`` -> ``DataCatalog2``."""
    return stack.rsplit("-", 1)[-1]


def clean(text: str) -> str:
    """``text`` without CloudFormation tokens or run-time placeholders."""
    return re.sub(r"[ \t]+", " ", _TOKEN.sub("", text)).strip(" ·:")


@dataclass
class Node:
    """One box: a resource, or all resources of one kind in a stage (``members`` > 1)."""

    id: str
    stage: str
    kind: str
    title: str
    detail: str = ""
    members: list[str] = field(default_factory=list)  # stripped logical IDs, for the tooltip


@dataclass(frozen=True, order=True)
class Edge:
    """``style``: data (a lake read or write), both (read and written), control, grant, alert."""

    src: str
    dst: str
    label: str
    style: str


#: What a drawn resource stands for besides itself (an endpoint: its config and models).
Owned = dict[tuple[str, str], list[tuple[str, str]]]


@dataclass(frozen=True)
class Access:
    node: str
    mode: str  # "read" or "write"
    location: Location
    granted: bool  # from an IAM grant (labeling), not from the resource's own properties


@dataclass
class Architecture:
    env: str
    nodes: dict[str, Node]
    edges: list[Edge]
    stacks: dict[str, list[str]]  # stage -> short stack names

    def stage_nodes(self, stage: str) -> list[Node]:
        return [n for n in self.nodes.values() if n.stage == stage]

    @property
    def stages(self) -> list[str]:
        """The lifecycle stages that have nodes, in lifecycle order."""
        return [key for key, _ in STAGES if self.stage_nodes(key)]


@dataclass(frozen=True)
class Res:
    stack: str
    lid: str
    type: str
    props: dict[str, Any]


class NodeBuilder:
    """Classifies one environment's resources into nodes (:meth:`build_nodes`); edges: :class:`~tools.review.architecture_edges.ArchitectureBuilder`."""

    def __init__(self, env: str, templates: Mapping[str, Mapping[str, Any]]) -> None:
        self.env, self.templates = env, templates
        self.resolver = Resolver(templates)
        self.resources = [Res(s, lid, r.get("Type", ""), r.get("Properties", {}) or {})
                          for s, t in sorted(templates.items()) for lid, r in sorted(t.get("Resources", {}).items())]
        self.by_key = {(r.stack, r.lid): r for r in self.resources}
        self.prefix = _env_prefix(templates)
        self.stack_stage = {s: self._stack_stage(s) for s in templates}
        self.owner: dict[tuple[str, str], str] = {}  # resource -> node id
        self.nodes: dict[str, Node] = {}
        self.edges: set[Edge] = set()

    # -- helpers -----------------------------------------------------------------------------

    def of_type(self, *types: str) -> list[Res]:
        return [r for r in self.resources if r.type in types]

    def text(self, value: Any, res: Res) -> str:
        return self.resolver.text(value, res.stack)

    def name(self, value: Any, res: Res, fallback: str) -> str:
        """A physical name without the ``<prefix>-<env>-`` part, or ``fallback``."""
        text = self.text(value, res) if value is not None else ""
        for prefix in (self.prefix, self.prefix.replace("-", "_")):
            if prefix and text.startswith(prefix):
                text = text[len(prefix):]
        return text if text and not _TOKEN.search(text) else fallback

    def refs(self, value: Any, res: Res) -> Iterator[tuple[str, str]]:
        """Every resource ``value`` references (``Ref``, ``Fn::GetAtt``, cross-stack outputs)."""
        if isinstance(value, dict):
            target = self.resolver.target(value, res.stack) if len(value) == 1 else None
            if target:
                yield target
            else:
                for v in value.values():
                    yield from self.refs(v, res)
        elif isinstance(value, list):
            for v in value:
                yield from self.refs(v, res)

    def _stack_stage(self, stack: str) -> str:
        """The stage of a stack: by its name (:func:`tools.review.stages.stack_stage`) where the picture
        has that stage, else by most of its resources."""
        named = stack_stage(short_stack(stack))
        named = STAGE_NAMES.get(named, named)
        if named in STAGE_ORDER or named in SIDE_STAGES:
            return named
        votes: Counter[str] = Counter()
        for res in self.templates[stack].get("Resources", {}).values():
            stage = TYPE_STAGES.get(res.get("Type", "")) or STAGE_HINTS.get(res.get("Type", ""), "")
            if stage:
                votes[stage] += 1
        order = {key: i for i, key in enumerate([k for k, _ in STAGES] + list(SIDE_STAGES))}
        return min(votes, key=lambda k: (-votes[k], order[k])) if votes else "network"

    def stage_of(self, res: Res) -> str:
        if self.stack_stage[res.stack] == "governance":  # the audit trail's bucket is no lake zone
            return "governance"
        return TYPE_STAGES.get(res.type) or self.stack_stage[res.stack]

    # -- nodes -------------------------------------------------------------------------------

    def add_items(self, stage: str, kind_key: str, items: list[tuple[Res, str, str]],
                  owned: Mapping[tuple[str, str], list[tuple[str, str]]]) -> None:
        """``items``: (resource, title, detail) of one kind in one stage. Items of one title are one
        node (e.g. the schedules of one monitored endpoint); their details are joined."""
        kind = KINDS[kind_key]
        by_title: dict[str, list[tuple[Res, str]]] = defaultdict(list)
        for res, title, detail in sorted(items, key=lambda i: (i[1], i[0].lid)):
            by_title[title].append((res, detail))
        if kind.grouped or len(by_title) > MAX_INDIVIDUAL:
            titles = sorted(by_title)
            listed = ", ".join(titles[:MAX_LISTED]) + (f" +{len(titles) - MAX_LISTED} more" if len(titles) > MAX_LISTED else "")
            count = len(titles)
            groups = {f"{stage}_{kind_key}": (f"{count} {kind.plural}" if count > 1 else kind.noun, listed,
                                              [r for members in by_title.values() for r, _ in members])}
        else:
            groups = {f"{stage}_{kind_key}_{i}": (title, _join_details([d for _, d in members]), [r for r, _ in members])
                      for i, (title, members) in enumerate(by_title.items())}
        for node_id, (title, detail, resources) in groups.items():
            self.nodes[node_id] = Node(node_id, stage, kind_key, title, detail, sorted(strip_hash(r.lid) for r in resources))
            for res in resources:
                for key in [(res.stack, res.lid), *owned.get((res.stack, res.lid), [])]:
                    self.owner[key] = node_id

    def build_nodes(self) -> None:
        groups: dict[tuple[str, str], list[tuple[Res, str, str]]] = defaultdict(list)
        owned: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
        for res in self.resources:
            item = self.classify(res, owned)
            if item:
                kind_key, title, detail = item
                groups[(self.stage_of(res), kind_key)].append((res, title, detail))
        for (stage, kind_key), items in sorted(groups.items()):
            self.add_items(stage, kind_key, items, owned)

    def classify(self, res: Res, owned: Owned) -> tuple[str, str, str] | None:
        """(kind key, title, detail) of a drawn resource; ``owned`` collects what it stands for."""
        t, p, lid = res.type, res.props, strip_hash(res.lid)
        if t == "AWS::S3::Bucket":
            zone = self.resolver.zone_of.get((res.stack, res.lid))
            title = f"{zone} zone" if zone else " ".join(CAMEL_BOUNDARY.split(lid.removeprefix("DataLake"))).lower()
            return "bucket", title, f"S3 · {lid}"
        if t == "AWS::DataBrew::Job":
            return "databrew", self.name(p.get("Name"), res, lid), ""
        if t == "AWS::Glue::Database":
            return "glue_database", self.name(p.get("DatabaseInput", {}).get("Name"), res, lid), ""
        if t in ("AWS::Glue::Crawler", "AWS::Glue::Job", "AWS::Glue::DataQualityRuleset", "AWS::Athena::WorkGroup"):
            return t.split("::")[-1].lower(), self.name(p.get("Name"), res, lid), ""
        if t == "AWS::ECR::Repository":
            return "ecr", self.name(p.get("RepositoryName"), res, lid), ""
        if t == "AWS::SageMaker::Pipeline":
            return "pipeline", self.name(p.get("PipelineName"), res, lid), f"SageMaker pipeline · {lid}"
        if t == "AWS::SageMaker::ModelPackageGroup":
            return "registry", self.name(p.get("ModelPackageGroupName"), res, lid), f"model registry group · {lid}"
        if t == "AWS::SageMaker::Endpoint":
            return self._endpoint(res, owned)
        if t == "AWS::Scheduler::Schedule":
            return self._batch(res, owned)
        if t == "AWS::SageMaker::MonitoringSchedule":
            return self._monitor(res, owned)
        if t == "AWS::Lambda::Function" and not self._is_provider(res):
            name = lid.removesuffix("Function").removesuffix("Handler")
            return "function", " ".join(CAMEL_BOUNDARY.split(name)).lower(), f"Lambda · {lid}"
        if t == "AWS::SageMaker::Workforce":
            return "workforce", self.name(p.get("WorkforceName"), res, lid) or lid, "private, Cognito"
        if t == "AWS::SageMaker::Workteam":
            for role in self._labeling_roles(res.stack):
                owned[(res.stack, res.lid)].append(role)
            return "workteam", self.name(p.get("WorkteamName"), res, lid), f"Ground Truth work team · {lid}"
        if t == "AWS::EC2::VPC":
            subnets = sum(1 for r in self.of_type("AWS::EC2::Subnet") if r.stack == res.stack)
            endpoints = sum(1 for r in self.of_type("AWS::EC2::VPCEndpoint") if r.stack == res.stack)
            return "vpc", "VPC", f"{subnets} subnets · {endpoints} VPC endpoints"
        return None

    def _endpoint(self, res: Res, owned: Owned) -> tuple[str, str, str]:
        lid = strip_hash(res.lid)
        config = next((self.by_key[k] for k in self.refs(res.props.get("EndpointConfigName"), res) if k in self.by_key), None)
        detail = "real-time endpoint"
        if config:
            owned[(res.stack, res.lid)].append((config.stack, config.lid))
            variants = config.props.get("ProductionVariants", [])
            for variant in variants:
                for key in self.refs(variant.get("ModelName"), config):
                    owned[(res.stack, res.lid)].append(key)
            if "AsyncInferenceConfig" in config.props:
                detail = "async endpoint"
            elif variants and all("ServerlessConfig" in v for v in variants):
                detail = "serverless endpoint"
            instances = [f"{v['InstanceType']} ×{v.get('InitialInstanceCount', 1)}" for v in variants if isinstance(v.get("InstanceType"), str)]
            if instances:
                detail += " · " + ", ".join(instances)
        return "endpoint", self.name(res.props.get("EndpointName"), res, lid), f"{detail} · {lid}"

    def _batch(self, res: Res, owned: Owned) -> tuple[str, str, str] | None:
        if "createTransformJob" not in self.text(res.props.get("Target", {}).get("Arn"), res):
            return None
        lid = strip_hash(res.lid)
        for key in self.refs(res.props.get("Target", {}).get("Input"), res):
            if self.by_key.get(key) and self.by_key[key].type == "AWS::SageMaker::Model":
                owned[(res.stack, res.lid)].append(key)
        schedule = self.text(res.props.get("ScheduleExpression"), res).replace(" ", "\u00a0")  # wraps as one word
        name = lid.removesuffix("Schedule")
        return "batch", " ".join(CAMEL_BOUNDARY.split(name)).lower(), f"batch transform · {schedule}"

    def _monitor(self, res: Res, owned: Owned) -> tuple[str, str, str]:
        config = res.props.get("MonitoringScheduleConfig", {})
        for key in self.refs(config.get("MonitoringJobDefinitionName"), res):
            owned[(res.stack, res.lid)].append(key)
        endpoint = self.name(res.props.get("EndpointName"), res, strip_hash(res.lid))
        checks = MONITOR_TYPES.get(str(config.get("MonitoringType")), str(config.get("MonitoringType", "")))
        return "monitor", endpoint, f"Model Monitor: {checks}"

    def _is_provider(self, res: Res) -> bool:
        """Deploy-time functions: custom resource providers (a ``ServiceToken`` names them)."""
        if "Provider" in res.lid or "CustomResource" in res.lid:
            return True
        key = (res.stack, res.lid)
        for other in self.resources:
            if other.type.startswith("Custom::") or other.type == "AWS::CloudFormation::CustomResource":
                if key in set(self.refs(other.props.get("ServiceToken"), other)):
                    return True
            elif other.type == "AWS::Lambda::Function" and "Provider" in other.lid:
                if key in set(self.refs(other.props.get("Environment"), other)):
                    return True  # the user function of a provider framework
        return False

    def _labeling_roles(self, stack: str) -> list[tuple[str, str]]:
        """Roles of ``stack`` that SageMaker assumes (the labeling jobs' role)."""
        return [(r.stack, r.lid) for r in self.of_type("AWS::IAM::Role") if r.stack == stack
                and "sagemaker.amazonaws.com" in json.dumps(r.props.get("AssumeRolePolicyDocument", {}))]

    # -- edges -------------------------------------------------------------------------------

def _join_details(details: list[str]) -> str:
    """Details of one node's resources: ``Model Monitor: bias`` and ``Model Monitor: data quality``
    -> ``Model Monitor: bias, data quality``."""
    unique = sorted(set(details))
    heads = {d.split(": ", 1)[0] for d in unique}
    if len(unique) > 1 and len(heads) == 1 and all(": " in d for d in unique):
        return f"{heads.pop()}: " + ", ".join(d.split(": ", 1)[1] for d in unique)
    return " · ".join(unique)


def _env_prefix(templates: Mapping[str, Any]) -> str:
    names = [s.rsplit("-", 1)[0] for s in templates if "-" in s]
    return f"{Counter(names).most_common(1)[0][0]}-" if names else ""


def short_prefix(key: str) -> str:
    """The first two folders of a key, without run-time placeholders: ``churn/feedback/``."""
    parts = [p for p in key.split("/") if p and "{" not in p]
    return "/".join(parts[:2]) + "/" if parts else "/"


def prefix_label(prefixes: set[str]) -> str:
    listed = sorted(prefixes)
    extra = len(listed) - MAX_PREFIXES
    return "\n".join(listed[:MAX_PREFIXES] + ([f"+{extra} more"] if extra > 0 else []))
