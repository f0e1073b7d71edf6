"""Failure coverage over the synthesized templates of one environment: every resource that can
fail at run time has a route (an EventBridge rule or a CloudWatch alarm) to an SNS topic whose key
policy admits the service that publishes on that route.

Failure sources and what routes them:

- Glue jobs and crawlers, DataBrew jobs and rulesets, SageMaker pipelines and monitoring
  schedules: a rule whose pattern names the resource (by name, or by a reference to it) under the
  service's failure event, with an SNS target whose key admits ``events.amazonaws.com``;
- endpoints, Lambda functions and SQS queues: an alarm with the resource in its dimensions whose
  alarm action is a topic whose key admits ``cloudwatch.amazonaws.com``;
- EventBridge rules and EventBridge Scheduler schedules: every target has a dead-letter queue, and
  that queue is itself covered (it has a depth alarm).

Importable without pytest: ``tests/app/test_alert_coverage.py`` and ``tools/alert_coverage.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.lineage import Resolver

EVENTS, CLOUDWATCH = "events.amazonaws.com", "cloudwatch.amazonaws.com"

#: Resource type -> (property holding its name, event source, detail-type, detail key naming it).
EVENT_ROUTED = {
    "AWS::Glue::Job": ("Name", "aws.glue", "Glue Job State Change", "jobName"),
    "AWS::Glue::Crawler": ("Name", "aws.glue", "Glue Crawler State Change", "crawlerName"),
    "AWS::DataBrew::Job": ("Name", "aws.databrew", "DataBrew Job State Change", "jobName"),
    "AWS::DataBrew::Ruleset": ("Name", "aws.databrew", "DataBrew Ruleset Validation Result", "rulesetName"),
    "AWS::SageMaker::Pipeline": ("PipelineName", "aws.sagemaker",
                                 "SageMaker Model Building Pipeline Execution Status Change", "pipelineArn"),
    "AWS::SageMaker::MonitoringSchedule": ("MonitoringScheduleName", "aws.sagemaker",
                                           "SageMaker Processing Job State Change", "MonitoringScheduleArn"),
}
#: Resource type -> the alarm dimension naming it.
ALARMED = {
    "AWS::SageMaker::Endpoint": "EndpointName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::SQS::Queue": "QueueName",
}
DEAD_LETTERED = ("AWS::Events::Rule", "AWS::Scheduler::Schedule")
FAILURE_SOURCES = (*EVENT_ROUTED, *ALARMED, *DEAD_LETTERED)


@dataclass
class Coverage:
    """The failure sources of one environment, and those without a route (with why)."""

    sources: list[str] = field(default_factory=list)
    uncovered: dict[str, str] = field(default_factory=dict)

    @property
    def covered(self) -> int:
        return len(self.sources) - len(self.uncovered)

    def figure(self) -> str:
        total = len(self.sources)
        return f"{self.covered}/{total} ({100 * self.covered / total:.0f}%)" if total else "0/0"


def _admitted(resolver: Resolver, stack: str, topic_ref: Any) -> set[str]:
    """The services the key of the topic ``topic_ref`` points at lets publish (Decrypt and
    GenerateDataKey), and, for CloudWatch, that the topic policy lets publish."""
    target = resolver.target(topic_ref, stack)
    if target is None:
        return set()
    topic_stack, topic_id = target
    topic = resolver.resource(topic_stack, topic_id) or {}
    if topic.get("Type") != "AWS::SNS::Topic":
        return set()
    key = resolver.target(topic.get("Properties", {}).get("KmsMasterKeyId"), topic_stack)
    if key is None:
        return set()
    key_policy = (resolver.resource(*key) or {}).get("Properties", {}).get("KeyPolicy", {})
    admitted = set()
    for service in (EVENTS, CLOUDWATCH):
        granted = set()
        for statement in key_policy.get("Statement", []):
            if statement.get("Effect") == "Allow" and service in _services(statement):
                granted |= set(_as_list(statement.get("Action")))
        if "kms:Decrypt" in granted and ({"kms:GenerateDataKey", "kms:GenerateDataKey*"} & granted):
            admitted.add(service)
    if CLOUDWATCH in admitted and not _topic_allows(resolver, topic_stack, topic_id, CLOUDWATCH):
        admitted.discard(CLOUDWATCH)
    if EVENTS in admitted and not _topic_allows(resolver, topic_stack, topic_id, EVENTS):
        admitted.discard(EVENTS)
    return admitted


def _topic_allows(resolver: Resolver, stack: str, topic_id: str, service: str) -> bool:
    for res in resolver.stacks[stack].get("Resources", {}).values():
        if res.get("Type") != "AWS::SNS::TopicPolicy":
            continue
        props = res.get("Properties", {})
        if not any(resolver.target(t, stack) == (stack, topic_id) for t in _as_list(props.get("Topics"))):
            continue
        for statement in props.get("PolicyDocument", {}).get("Statement", []):
            if (statement.get("Effect") == "Allow" and service in _services(statement)
                    and "sns:Publish" in _as_list(statement.get("Action"))):
                return True
    return False


def _services(statement: Mapping) -> list[str]:
    principal = statement.get("Principal", {})
    return _as_list(principal.get("Service")) if isinstance(principal, dict) else []


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [] if value is None else [value]


def _identities(resolver: Resolver, stack: str, lid: str, name_property: str | None) -> set[str]:
    """How a pattern or a dimension may name a resource: its resolved name, or a token of it."""
    found = {f"<Ref {stack}/{lid}>"}
    props = (resolver.resource(stack, lid) or {}).get("Properties", {})
    if name_property and props.get(name_property) is not None:
        name = resolver.text(props[name_property], stack)
        found |= {name, name.lower()}
    return found


def _names(value: Any) -> list[str]:
    """Every string under ``value`` (a resolved pattern's detail)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for v in value for s in _names(v)]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _names(v)]
    return []


def failure_coverage(stacks: Mapping[str, Mapping]) -> Coverage:
    """The :class:`Coverage` of one environment's templates (``{stack name: template}``)."""
    resolver = Resolver(stacks)
    rules, alarms, queues_alarmed = [], [], set()
    for stack, template in stacks.items():
        for lid, res in template.get("Resources", {}).items():
            props = res.get("Properties", {})
            if res.get("Type") == "AWS::Events::Rule" and "EventPattern" in props:
                if any(EVENTS in _admitted(resolver, stack, t.get("Arn")) for t in props.get("Targets", [])):
                    rules.append((stack, lid, resolver.resolve(props["EventPattern"], stack)))
            if res.get("Type") == "AWS::CloudWatch::Alarm":
                if any(CLOUDWATCH in _admitted(resolver, stack, a) for a in props.get("AlarmActions", [])):
                    alarms.append((stack, props))
    coverage = Coverage()

    def alarmed(stack: str, lid: str, dimension: str) -> bool:
        mine = _identities(resolver, stack, lid, None)
        for alarm_stack, props in alarms:
            for d in props.get("Dimensions", []):
                if d.get("Name") != dimension:
                    continue
                value = d.get("Value")
                if resolver.target(value, alarm_stack) == (stack, lid) or resolver.text(value, alarm_stack) in mine:
                    return True
                if resolver.text(value, alarm_stack) in _identities(resolver, stack, lid, _NAME_PROPS.get(dimension)):
                    return True
        return False

    for stack, template in stacks.items():
        for lid, res in template.get("Resources", {}).items():
            kind = res.get("Type")
            if kind not in FAILURE_SOURCES:
                continue
            source = f"{stack}/{lid} ({kind})"
            coverage.sources.append(source)
            props = res.get("Properties", {})
            if kind in EVENT_ROUTED:
                name_property, event_source, detail_type, detail_key = EVENT_ROUTED[kind]
                mine = _identities(resolver, stack, lid, name_property)
                mine |= {f"<GetAtt {stack}/{lid}.{a}>" for a in ("Arn", "MonitoringScheduleArn", "PipelineArn")}
                ok = any(event_source in _as_list(p.get("source")) and detail_type in _as_list(p.get("detail-type"))
                         and any(n in mine or any(n.endswith(f"/{m}") for m in mine)
                                 for n in _names(_find(p.get("detail", {}), detail_key)))
                         for _, _, p in rules)
                if not ok:
                    coverage.uncovered[source] = f"no rule on '{detail_type}' names it and reaches an admitted topic"
            elif kind in ALARMED:
                if alarmed(stack, lid, ALARMED[kind]):
                    if kind == "AWS::SQS::Queue":
                        queues_alarmed.add((stack, lid))
                else:
                    coverage.uncovered[source] = f"no alarm on its {ALARMED[kind]} notifies an admitted topic"
    # Dead-lettered sources last: their queues must be covered themselves.
    for stack, template in stacks.items():
        for lid, res in template.get("Resources", {}).items():
            kind, props = res.get("Type"), res.get("Properties", {})
            if kind not in DEAD_LETTERED:
                continue
            source = f"{stack}/{lid} ({kind})"
            targets = props.get("Targets", []) if kind == "AWS::Events::Rule" else [props.get("Target", {})]
            missing = [t.get("Id", "target") for t in targets
                       if resolver.target((t.get("DeadLetterConfig") or {}).get("Arn"), stack) not in queues_alarmed]
            if missing or not targets:
                coverage.uncovered[source] = (f"targets {', '.join(missing)} have no dead-letter queue with a "
                                              "depth alarm")
    return coverage


#: The template property holding the name an alarm dimension gives.
_NAME_PROPS = {"EndpointName": "EndpointName", "FunctionName": "FunctionName", "QueueName": "QueueName"}


def _find(detail: Any, key: str) -> Any:
    """The value of ``key`` anywhere in a pattern's detail (Data Quality nests it in ``context``)."""
    if isinstance(detail, dict):
        if key in detail:
            return detail[key]
        for value in detail.values():
            found = _find(value, key)
            if found is not None:
                return found
    return None


def render(results: Mapping[str, Coverage]) -> str:
    """One line per environment with its figure, then every uncovered source."""
    lines = []
    for env, coverage in sorted(results.items()):
        lines.append(f"failure coverage {env}: {coverage.figure()} failure sources routed to an admitted topic")
        lines += [f"  uncovered {source}: {why}" for source, why in sorted(coverage.uncovered.items())]
    return "\n".join(lines)

