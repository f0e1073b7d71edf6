"""The edges of the architecture picture (see :mod:`tools.review.architecture_model` for the rules)
and :func:`build_architecture`, which puts nodes and edges together."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Mapping
from typing import Any

from tests.lineage import EXTRACTORS, Context, Location
from tools.review.architecture_model import (
    CAMEL_BOUNDARY, EARLY_STAGES, Access, Architecture, Edge, Node, NodeBuilder, clean, prefix_label, short_prefix,
    short_stack, strip_hash,
)

_MODEL_PACKAGE = re.compile(r"model-package/([^/\"]+)/(\d+)")
#: A model served as ``version: approved`` names its environment's promotion parameter
#: (``/<prefix>/<env>/models/<model>/approved-package``, ml_platform.constructs.training.promotion).
_APPROVED_PARAMETER = re.compile(r"^/([^/]+)/([^/]+)/models/([^/]+)/approved-package$")
_REGISTERS = re.compile(r'"ModelPackageGroupName"\s*:\s*"([^"]+)"')
_ZONE_URI = re.compile(r"bucket:(raw|processed|curated|artifacts)(/[^\"*]*)?")


class ArchitectureBuilder(NodeBuilder):
    """Nodes, then the edges between them."""

    def zone_nodes(self) -> dict[str, str]:
        return {zone: self.owner[key] for key, zone in self.resolver.zone_of.items() if key in self.owner}

    def lineage_accesses(self) -> list[Access]:
        """What each drawn node reads and writes in the lake, per the lineage engine."""
        ctx = Context(self.env, self.resolver)
        for res in ctx.resources():
            extract = EXTRACTORS.get(res.type)
            if extract is not None:
                extract(ctx, res)
        return [Access(self.owner[(a.stack, a.logical_id)], a.mode, a.location, False) for a in set(ctx.accesses)
                if (a.stack, a.logical_id) in self.owner and "ModelPackageName" not in a.via]

    def grant_accesses(self) -> list[Access]:
        """S3 grants of the labeling stage's roles (Ground Truth jobs run outside CloudFormation),
        as accesses of the node that owns the role (a work team, or a function acting as it)."""
        roles_of_node: dict[tuple[str, str], str] = {k: n for k, n in self.owner.items()
                                                     if self.by_key.get(k) and self.by_key[k].type == "AWS::IAM::Role"}
        for res in self.of_type("AWS::Lambda::Function"):
            if (res.stack, res.lid) in self.owner:
                for key in self.refs(res.props.get("Role"), res):
                    roles_of_node[key] = self.owner[(res.stack, res.lid)]
        found = []
        for policy in self.of_type("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy"):
            if self.stack_stage[policy.stack] != "labeling":
                continue
            nodes = {roles_of_node[k] for k in self.refs(policy.props.get("Roles"), policy) if k in roles_of_node}
            for statement in policy.props.get("PolicyDocument", {}).get("Statement", []):
                actions = statement.get("Action")
                actions = [actions] if isinstance(actions, str) else actions or []
                mode = "write" if "s3:PutObject" in actions else "read" if "s3:GetObject" in actions else None
                if mode is None or statement.get("Effect") != "Allow":
                    continue
                for match in _ZONE_URI.finditer(self.text(statement.get("Resource"), policy)):
                    prefix = (match[2] or "/").lstrip("/").rstrip("*")
                    found += [Access(n, mode, Location(match[1], prefix), True) for n in sorted(nodes)]
        return found

    def data_edges(self) -> None:
        """Lake reads and writes. Reads of data written outside the platform, or by preparation, come
        from the lake zone; data written after preparation is drawn from its writer to its reader
        (the hand-off, labelled with the zone), and what no one reads goes "back to the lake"."""
        zones = self.zone_nodes()
        accesses = [a for a in self.lineage_accesses() + self.grant_accesses() if a.location.zone in zones]
        reads = [a for a in accesses if a.mode == "read"]
        writes = [a for a in accesses if a.mode == "write"]
        labels: dict[tuple[str, str, str], set[str]] = defaultdict(set)
        for read in reads:
            writers = {w for w in writes if w.location.hands_over_to(read.location) and w.node != read.node}
            if not writers and any(w.location.hands_over_to(read.location) for w in writes):
                continue  # its own scratch data
            short = short_prefix(read.location.key)
            late = [w for w in writers if self.nodes[w.node].stage not in EARLY_STAGES]
            for writer in late:
                style = "grant" if writer.granted or read.granted else "data"
                labels[(writer.node, read.node, style)].add(f"{read.location.zone}: {short}")
            if len(late) < len(writers) or not writers:
                labels[(zones[read.location.zone], read.node, "grant" if read.granted else "data")].add(short)
        for write in writes:
            stage = self.nodes[write.node].stage
            readers = {r.node for r in reads if write.location.hands_over_to(r.location)}
            if readers - {write.node} and stage not in EARLY_STAGES:
                continue  # drawn as hand-offs
            if readers == {write.node}:
                continue  # scratch
            target = zones[write.location.zone] if stage in EARLY_STAGES else self.return_node(write.location.zone)
            labels[(write.node, target, "grant" if write.granted else "data")].add(short_prefix(write.location.key))
        for (src, dst, style), keys in labels.items():
            back = labels.get((dst, src, style))
            if back is None:
                self.edges.add(Edge(src, dst, prefix_label(keys), style))
            elif src in zones.values():  # read and written by one node: one edge, both ways
                self.edges.add(Edge(dst, src, prefix_label(keys | back), "both"))

    def return_node(self, zone: str) -> str:
        """The zone's node in the last cluster, "back to the lake"."""
        node_id = f"return_{zone}"
        if node_id not in self.nodes:
            lake = self.nodes[self.zone_nodes()[zone]]
            self.nodes[node_id] = Node(node_id, "return", "zone", lake.title, f"{lake.detail} (as in the lake)",
                                       list(lake.members))
        return node_id

    def registry_edges(self) -> None:
        groups = {self.text(r.props.get("ModelPackageGroupName"), r): self.owner[(r.stack, r.lid)]
                  for r in self.of_type("AWS::SageMaker::ModelPackageGroup") if (r.stack, r.lid) in self.owner}
        for pipeline in self.of_type("AWS::SageMaker::Pipeline"):
            definition = self.text(pipeline.props.get("PipelineDefinition", {}).get("PipelineDefinitionBody"), pipeline)
            for name in _REGISTERS.findall(definition):
                if name in groups and (pipeline.stack, pipeline.lid) in self.owner:
                    self.edges.add(Edge(self.owner[(pipeline.stack, pipeline.lid)], groups[name], "registers", "control"))
        for model in self.of_type("AWS::SageMaker::Model"):
            user = self.owner.get((model.stack, model.lid))
            for match in _MODEL_PACKAGE.finditer(self.text(model.props.get("Containers"), model)):
                if user and match[1] in groups:
                    self.edges.add(Edge(groups[match[1]], user, f"serves v{match[2]}", "control"))
            parameters = self.templates.get(model.stack, {}).get("Parameters", {})
            for container in model.props.get("Containers") or []:
                ref = container.get("ModelPackageName", {}).get("Ref") if isinstance(container.get("ModelPackageName"), dict) else None
                approved = _APPROVED_PARAMETER.match(str(parameters.get(ref, {}).get("Default", ""))) if ref else None
                group = "-".join(approved.groups()) if approved else None
                if user and group in groups:
                    self.edges.add(Edge(groups[group], user, "serves the approved", "control"))

    def catalog_edges(self) -> None:
        for crawler in self.of_type("AWS::Glue::Crawler"):
            for key in self.refs(crawler.props.get("DatabaseName"), crawler):
                if key in self.owner and (crawler.stack, crawler.lid) in self.owner:
                    self.edges.add(Edge(self.owner[(crawler.stack, crawler.lid)], self.owner[key], "tables", "control"))
        databases = {self.text(r.props.get("DatabaseInput", {}).get("Name"), r): self.owner.get((r.stack, r.lid))
                     for r in self.of_type("AWS::Glue::Database")}
        for ruleset in self.of_type("AWS::Glue::DataQualityRuleset"):
            database = self.text(ruleset.props.get("TargetTable", {}).get("DatabaseName"), ruleset)
            source = databases.get(database) or next(iter(self.refs(ruleset.props.get("TargetTable"), ruleset)), None)
            source = self.owner.get(source) if isinstance(source, tuple) else source
            node_id = self.owner.get((ruleset.stack, ruleset.lid))
            if source and node_id:
                self.edges.add(Edge(source, node_id, "checks", "control"))
            for job in self.of_type("AWS::Glue::Job"):  # a job that evaluates the ruleset's rules itself
                if node_id and job.props.get("DefaultArguments", {}).get("--dq_ruleset") == ruleset.props.get("Ruleset"):
                    self.edges.add(Edge(node_id, self.owner[(job.stack, job.lid)], "rules", "control"))

    def control_edges(self) -> None:
        for rule in self.of_type("AWS::Events::Rule"):
            targets = {self.owner[k] for t in rule.props.get("Targets", []) for k in self.refs(t.get("Arn"), rule)
                       if k in self.owner and self.nodes[self.owner[k]].stage != "alerts"}
            sources = {self.owner[k] for k in self.refs(rule.props.get("EventPattern"), rule) if k in self.owner}
            label = " ".join(CAMEL_BOUNDARY.split(strip_hash(rule.lid))).lower()
            for src in sources:
                for dst in targets - {src}:
                    self.edges.add(Edge(src, dst, label, "control"))
        pipelines = {self.text(r.props.get("PipelineName"), r): self.owner[(r.stack, r.lid)]
                     for r in self.of_type("AWS::SageMaker::Pipeline") if (r.stack, r.lid) in self.owner}
        for function in self.of_type("AWS::Lambda::Function"):
            variables = function.props.get("Environment", {}).get("Variables", {})
            for variable, value in variables.items():
                node_id = pipelines.get(self.text(value, function)) if "PIPELINE" in variable else None
                if node_id and (function.stack, function.lid) in self.owner:
                    self.edges.add(Edge(self.owner[(function.stack, function.lid)], node_id, "starts", "control"))

    def alert_lane(self) -> None:
        """One lane node per stage with alert routes into the Alerting stack's topics."""
        topics = [r for r in self.of_type("AWS::SNS::Topic") if self.stack_stage[r.stack] == "alerts"]
        if not topics:
            return
        self.add_items("alerts", "topic", [(t, "alert topic", f"SNS · {strip_hash(t.lid)}") for t in topics], {})
        topic_keys = {(t.stack, t.lid) for t in topics}
        counts: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)  # (stage, topic node) -> kinds
        for res in self.of_type("AWS::Events::Rule", "AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm"):
            value = res.props.get("Targets") if res.type == "AWS::Events::Rule" else res.props.get("AlarmActions")
            for key in set(self.refs(value, res)) & topic_keys:
                noun = "rule" if res.type == "AWS::Events::Rule" else "alarm"
                counts[(self.stack_stage[res.stack], self.owner[key])][noun] += 1
        for (stage, topic), kinds in sorted(counts.items()):
            node_id = f"alerts_{stage}"
            parts = [f"{n} {noun}{'s' if n > 1 else ''}" for noun, n in sorted(kinds.items(), reverse=True)]
            title = "EventBridge & alarms" if len(kinds) > 1 else ("EventBridge" if "rule" in kinds else "CloudWatch")
            self.nodes[node_id] = Node(node_id, "alerts", f"routes_{stage}", title, " · ".join(parts))
            self.edges.add(Edge(node_id, topic, "", "alert"))

    def build(self) -> Architecture:
        self.build_nodes()
        self.data_edges()
        self.registry_edges()
        self.catalog_edges()
        self.control_edges()
        self.alert_lane()
        stacks: dict[str, list[str]] = defaultdict(list)
        for stack, stage in sorted(self.stack_stage.items()):
            stacks[stage].append(short_stack(stack))
        for node in self.nodes.values():
            node.title, node.detail = clean(node.title), clean(node.detail)
        edges = sorted({Edge(e.src, e.dst, "\n".join(clean(line) for line in e.label.split("\n")), e.style)
                        for e in self.edges})
        return Architecture(self.env, self.nodes, edges, dict(stacks))


def build_architecture(env: str, templates: Mapping[str, Mapping[str, Any]]) -> Architecture:
    """The stages, nodes and edges of one environment's ``{stack name: template}``."""
    return ArchitectureBuilder(env, templates).build()
