"""Idle instances of SageMaker endpoints: one cost line per endpoint variant.

A variant's idle size is, in this order: the ``MinCapacity`` of the scalable target on its
``DesiredInstanceCount`` (the weekly average when scheduled actions change the minimum), at least 1
for a real-time variant (only asynchronous endpoints, or inference components, scale to zero); else
its ``InitialInstanceCount``. A serverless variant bills nothing idle unless it keeps provisioned
concurrency. Config keys are named from the endpoint's name without ``<prefix>-<env>-``: the first
variant is ``serving.endpoints.<key>``, the others ``serving.endpoints.<key>.challengers.<variant>``.
"""

from __future__ import annotations

from typing import Any

from tools.review.cost_model import (
    ENDPOINT_RESOURCE, INSTANCES, PROVISIONED, CostLine, Resource, make_line, stack_prefix)
from tools.review.cost_prices import PriceTable
from tools.review.cost_schedule import weekly_minimum


def _target_name(value: Any) -> str | None:
    """The logical ID a ``Ref`` or ``Fn::GetAtt`` points at."""
    if isinstance(value, dict):
        if "Ref" in value:
            return str(value["Ref"])
        attribute = value.get("Fn::GetAtt")
        if isinstance(attribute, list) and attribute:
            return str(attribute[0])
    return None


def _text(value: Any, stack: dict[str, Resource]) -> str | None:
    """A string property, with ``Fn::Join`` and references to endpoints resolved to their names."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        texts = [_text(part, stack) for part in parts]
        return None if any(t is None for t in texts) else separator.join(t for t in texts if t is not None)
    target = stack.get(_target_name(value) or "")
    name = target.properties.get("EndpointName") if target else None
    return name if isinstance(name, str) else None


def _scalable_targets(resources: list[Resource],
                      stacks: dict[str, dict[str, Resource]]) -> dict[tuple[str, str, str], Resource]:
    """``(endpoint name, variant, dimension)`` -> its scalable target."""
    targets = {}
    for r in resources:
        if (r.type != "AWS::ApplicationAutoScaling::ScalableTarget"
                or r.properties.get("ServiceNamespace") != "sagemaker"):
            continue
        match = ENDPOINT_RESOURCE.match(_text(r.properties.get("ResourceId"), stacks[r.stack]) or "")
        if match:
            targets[(match.group(1), match.group(2), str(r.properties.get("ScalableDimension")))] = r
    return targets


def _idle_minimum(target: Resource) -> tuple[float, str]:
    """The minimum a target keeps while idle, and how it was read."""
    minimum = target.properties.get("MinCapacity", 0)
    actions = target.properties.get("ScheduledActions") or []
    if not actions:
        return float(minimum), ""
    average = weekly_minimum(actions)
    if average is None:
        return float(minimum), (f"scheduled actions not modelled, priced at MinCapacity {minimum}: "
                                + ", ".join(str(a.get("Schedule")) for a in actions))
    levels = sorted({a["ScalableTargetAction"]["MinCapacity"] for a in actions
                     if "MinCapacity" in (a.get("ScalableTargetAction") or {})})
    zone = next((a.get("Timezone") for a in actions if a.get("Timezone")), "UTC")
    return average, (f"scheduled minimum {'/'.join(map(str, levels))} ({zone}), weekly average {average:.2f}; "
                     "instances above the minimum leave only through the scaling policy's scale-in")


def _variant_line(*, endpoint: Resource, key: str, variant: dict[str, Any], first: bool, is_async: bool,
                  targets: dict[tuple[str, str, str], Resource], name: str, prices: PriceTable) -> CostLine:
    variant_name = str(variant.get("VariantName", "AllTraffic"))
    base = f"serving.endpoints.{key}" + ("" if first else f".challengers.{variant_name}")
    what = f"SageMaker endpoint {key}, variant {variant_name}"
    if "ServerlessConfig" in variant:
        serverless = variant["ServerlessConfig"]
        provisioned: float = serverless.get("ProvisionedConcurrency") or 0
        note, keys = "serverless: billed per request and GB processed, nothing while idle", [f"{base}.serverless"]
        target = targets.get((name, variant_name, PROVISIONED))
        if target is not None:
            provisioned, _ = _idle_minimum(target)
        if provisioned:
            note = "provisioned concurrency bills per hour while provisioned"
            keys = [f"{base}.serverless.provisioned_concurrency", f"{base}.serverless.provisioned_scaling.min_capacity"]
        return make_line(None, what=f"{what}: serverless, {serverless.get('MemorySizeInMB')} MB",
                     resource_type="AWS::SageMaker::Endpoint", count=provisioned, keys=keys,
                     resources=[endpoint.label], note=note, unit="provisioned concurrency-hour")
    instance_type = str(variant.get("InstanceType"))
    initial = variant.get("InitialInstanceCount", 1)
    keys = [f"{base}.instance_type"]
    target = targets.get((name, variant_name, INSTANCES))
    if target is None:
        count: float = initial
        keys.append(f"{base}.initial_instance_count")
        note = "a fixed fleet" + (" (asynchronous without scaling)" if is_async else "")
    else:
        count, note = _idle_minimum(target)
        if is_async:
            keys.append(f"{base}.async_inference.scaling.min_capacity")
            note = "; ".join(filter(None, [f"asynchronous: scales in to {count:g} when the queue is empty "
                                           f"(starts with {initial} after a deploy, billed until scaled in)", note]))
        else:
            keys.append(f"{base}.autoscaling.min_capacity")
            if target.properties.get("ScheduledActions"):
                keys.append(f"{base}.autoscaling.schedules")
            if count < 1:
                count, note = 1.0, "; ".join(filter(None, [
                    "a real-time variant keeps at least 1 instance (scale to zero needs inference components)", note]))
    return make_line(prices.instance(instance_type), what=f"{what}: {instance_type} instances",
                 resource_type="AWS::SageMaker::Endpoint", count=count, keys=keys, resources=[endpoint.label],
                 note=note, unit=f"{instance_type} instance-hour")


def endpoint_lines(env: str, templates: dict[str, dict[str, Any]], resources: list[Resource],
                   prices: PriceTable) -> list[CostLine]:
    """One line per variant of every ``AWS::SageMaker::Endpoint``."""
    stacks: dict[str, dict[str, Resource]] = {}
    for r in resources:
        stacks.setdefault(r.stack, {})[r.logical_id] = r
    targets = _scalable_targets(resources, stacks)
    lines = []
    for endpoint in (r for r in resources if r.type == "AWS::SageMaker::Endpoint"):
        stack = stacks[endpoint.stack]
        name = endpoint.properties.get("EndpointName")
        name = name if isinstance(name, str) else endpoint.name
        prefix = stack_prefix(env, templates, endpoint.stack)
        key = name[len(prefix):] if prefix and name.startswith(prefix) else name
        config = stack.get(_target_name(endpoint.properties.get("EndpointConfigName")) or "")
        variants = config.properties.get("ProductionVariants") if config else None
        if not isinstance(variants, list) or not variants:
            lines.append(make_line(None, what=f"SageMaker endpoint {key}", resource_type="AWS::SageMaker::Endpoint",
                               count=0, keys=[f"serving.endpoints.{key}"], resources=[endpoint.label],
                               note="its endpoint config is not in this stack: not priced"))
            continue
        is_async = "AsyncInferenceConfig" in config.properties  # type: ignore[union-attr]
        lines += [_variant_line(endpoint=endpoint, key=key, variant=v, first=i == 0, is_async=is_async,
                                targets=targets, name=name, prices=prices) for i, v in enumerate(variants)]
    return lines
