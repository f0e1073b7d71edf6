"""The idle cost lines of one environment, read from its synthesized templates.

Idle means no requests and no jobs. What bills then is what is provisioned by the hour or the
month: interface VPC endpoints (per endpoint and Availability Zone, one zone per subnet), KMS keys,
CloudWatch alarms (with the two that each target tracking policy creates) and dashboards, Secrets
Manager secrets, NAT gateways, public IPv4 addresses and the instances of SageMaker endpoints at
their idle size: the autoscaling minimum (averaged over the week when scheduled actions change it)
or the initial count of a fixed fleet; serverless variants and asynchronous ones that scale to zero
cost nothing. Each line names the config keys that drive it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tools.review.cost_catalog import DRIVERS, STACK_SECTIONS
from tools.review.cost_prices import HOURS_PER_MONTH, Price, PriceTable

_HASH = re.compile(r"[0-9A-F]{8}$")
ENDPOINT_RESOURCE = re.compile(r"^endpoint/([^/]+)/variant/([^/]+)$")
INSTANCES = "sagemaker:variant:DesiredInstanceCount"
PROVISIONED = "sagemaker:variant:DesiredProvisionedConcurrency"
#: Alarms Application Auto Scaling creates for each target tracking policy (high and low).
TARGET_TRACKING_ALARMS = 2
#: Alarm periods under this many seconds are high resolution.
HIGH_RESOLUTION_BELOW = 60


@dataclass(frozen=True)
class Resource:
    """One resource of one stack."""

    stack: str
    logical_id: str
    type: str
    properties: dict[str, Any]

    @property
    def name(self) -> str:
        """The logical ID without CDK's hash suffix."""
        return _HASH.sub("", self.logical_id) or self.logical_id

    @property
    def label(self) -> str:
        """``<stack>/<name>``."""
        return f"{self.stack}/{self.name}"


@dataclass(frozen=True)
class CostLine:
    """One thing that bills while idle: ``count`` units at ``unit_price`` per ``period``.

    ``unit_price`` is ``None`` when the price table has no price for it; such a line with a
    ``count`` above zero is :attr:`missing` and left out of totals. ``free_units`` are the account's
    free tier (shared with everything else in the account).
    """

    what: str
    resource_type: str
    count: float
    unit: str
    unit_price: float | None
    period: str
    source: str
    keys: tuple[str, ...]
    resources: tuple[str, ...] = ()
    note: str = ""
    free_units: int = 0

    @property
    def missing(self) -> bool:
        """Bills while idle but the price table has no price for it."""
        return self.unit_price is None and self.count > 0

    def _cost(self, count: float) -> float:
        if self.unit_price is None:
            return 0.0
        return count * self.unit_price * (HOURS_PER_MONTH if self.period == "hour" else 1)

    @property
    def per_month(self) -> float:
        """Per month of 730 hours, without free tiers."""
        return self._cost(self.count)

    @property
    def per_month_after_free_tier(self) -> float:
        """Per month when this environment alone uses the account's free tier."""
        return self._cost(max(0.0, self.count - self.free_units))

    @property
    def per_hour(self) -> float:
        """Per hour, without free tiers."""
        return self.per_month / HOURS_PER_MONTH


def stack_label(env: str, stack_name: str) -> str:
    """``mlp-dev-DataLake`` -> ``DataLake``."""
    marker = f"-{env}-"
    return stack_name.split(marker, 1)[1] if marker in stack_name else stack_name


def name_prefix(env: str, stack_name: str) -> str:
    """``mlp-dev-DataLake`` -> ``mlp-dev-``, the start of the environment's resource names."""
    marker = f"-{env}-"
    return stack_name.split(marker, 1)[0] + marker if marker in stack_name else ""


def walk(env: str, templates: dict[str, dict[str, Any]]) -> list[Resource]:
    """Every resource of every template, sorted by stack and logical ID."""
    return sorted(
        (Resource(stack_label(env, stack), logical_id, body.get("Type", ""), body.get("Properties") or {})
         for stack, template in templates.items()
         for logical_id, body in (template.get("Resources") or {}).items()),
        key=lambda r: (r.stack, r.logical_id))


def make_line(price: Price | None, *, what: str, resource_type: str, count: float, keys: list[str] | tuple[str, ...],
          resources: list[str] | tuple[str, ...] = (), note: str = "", unit: str = "", free: bool = False) -> CostLine:
    return CostLine(what=what, resource_type=resource_type, count=count,
                    unit=price.unit if price else unit or "no price in the table",
                    unit_price=price.value if price else None, period=price.period if price else "hour",
                    source=price.source if price else "", keys=tuple(dict.fromkeys(keys)),
                    resources=tuple(resources), note=note,
                    free_units=price.free_per_account if price and free else 0)


def _keys(resource_type: str, found: list[Resource]) -> list[str]:
    keys = {key for r in found
            for key in DRIVERS.get((resource_type, r.stack)) or (STACK_SECTIONS.get(r.stack, r.stack),)}
    return sorted(keys, key=lambda key: (key.split(".")[0], key))


def _interface_endpoints(found: list[Resource], prices: PriceTable) -> list[CostLine]:
    interface = [r for r in found if r.properties.get("VpcEndpointType") == "Interface"]
    others = len(found) - len(interface)
    zones, described, unresolved = 0, [], []
    for r in interface:
        subnets = r.properties.get("SubnetIds")
        count = len(subnets) if isinstance(subnets, list) else 1
        if not isinstance(subnets, list):
            unresolved.append(r.label)
        zones += count
        service = r.properties.get("ServiceName")
        short = service.split(".", 3)[-1] if isinstance(service, str) else r.name
        described.append(f"{r.label} ({short}, {count} AZ{'s' if count != 1 else ''})")
    notes = [f"{others} gateway or other endpoint{'s' if others != 1 else ''} not billed per hour"] if others else []
    if unresolved:
        notes.append(f"subnets not readable, counted as 1 AZ: {', '.join(unresolved)}")
    return [make_line(prices.get("interface_endpoint"), what=f"interface VPC endpoints ({len(interface)}, per AZ)",
                  resource_type="AWS::EC2::VPCEndpoint", count=zones, keys=_keys("AWS::EC2::VPCEndpoint", found),
                  resources=described, note="; ".join(notes), unit="interface endpoint per AZ-hour")]


def _kms_keys(found: list[Resource], prices: PriceTable) -> list[CostLine]:
    rotating = sum(1 for r in found if r.properties.get("EnableKeyRotation") is True)
    surcharge = prices.get("kms_rotation")
    note = ""
    if rotating and surcharge is not None:
        note = (f"{rotating} of {len(found)} rotate automatically: each of the first two rotations adds "
                f"{surcharge.value:g} per key-month (+{rotating * surcharge.value:g} after the first, "
                f"+{2 * rotating * surcharge.value:g} from the second); not in the total")
    return [make_line(prices.get("kms_key"), what="KMS customer managed keys", resource_type="AWS::KMS::Key",
                  count=len(found), keys=_keys("AWS::KMS::Key", found), resources=[r.label for r in found],
                  note=note, unit="key-month")]


def _alarm_metrics(alarm: Resource) -> int:
    metrics = alarm.properties.get("Metrics")
    if not isinstance(metrics, list):
        return 1
    count = max(1, sum(1 for m in metrics if isinstance(m, dict) and "MetricStat" in m))
    anomaly = any("ANOMALY_DETECTION_BAND" in str(m.get("Expression", "")) for m in metrics if isinstance(m, dict))
    return count * 3 if anomaly else count


def _high_resolution(alarm: Resource) -> bool:
    periods = [alarm.properties.get("Period")] + [
        (m.get("MetricStat") or {}).get("Period")
        for m in alarm.properties.get("Metrics") or [] if isinstance(m, dict)]
    return any(isinstance(p, int) and p < HIGH_RESOLUTION_BELOW for p in periods)


def _alarms(found: list[Resource], policies: list[Resource], prices: PriceTable) -> list[CostLine]:
    tracking = [p for p in policies if p.properties.get("PolicyType") == "TargetTrackingScaling"]
    high = [a for a in found if _high_resolution(a)]
    standard = [a for a in found if a not in high]
    created = TARGET_TRACKING_ALARMS * len(tracking)
    per_stack: dict[str, int] = {}
    for a in standard:
        per_stack[a.stack] = per_stack.get(a.stack, 0) + _alarm_metrics(a)
    for p in tracking:
        per_stack[p.stack] = per_stack.get(p.stack, 0) + TARGET_TRACKING_ALARMS
    price = prices.get("alarm_standard")
    origin = f"{len(standard)} in the templates" + (f", {created} that target tracking creates" if created else "")
    lines = [make_line(price, what=f"CloudWatch alarms, standard resolution ({origin})",
                   resource_type="AWS::CloudWatch::Alarm", count=sum(per_stack.values()),
                   keys=_keys("AWS::CloudWatch::Alarm", standard + tracking),
                   resources=[f"{stack}: {n}" for stack, n in sorted(per_stack.items())], free=True,
                   note=(f"the first {price.free_per_account} alarm metrics of the account are free"
                         if price and price.free_per_account else ""), unit="alarm metric-month")]
    if high:
        lines.append(make_line(prices.get("alarm_high_resolution"), what="CloudWatch alarms, high resolution",
                           resource_type="AWS::CloudWatch::Alarm", count=sum(_alarm_metrics(a) for a in high),
                           keys=_keys("AWS::CloudWatch::Alarm", high), resources=[a.label for a in high],
                           unit="high-resolution alarm metric-month"))
    return lines


def _dashboards(env: str, found: list[Resource], templates: dict[str, dict[str, Any]],
                prices: PriceTable) -> list[CostLine]:
    keys = []
    for r in found:
        name = r.properties.get("DashboardName")
        prefix = stack_prefix(env, templates, r.stack)
        if r.stack == "Serving" and isinstance(name, str) and name.startswith(prefix):
            keys.append(f"serving.endpoints.{name[len(prefix):]}")
        else:
            keys.append(STACK_SECTIONS.get(r.stack, r.stack))
    price = prices.get("dashboard")
    return [make_line(price, what="CloudWatch dashboards", resource_type="AWS::CloudWatch::Dashboard", count=len(found),
                  keys=sorted(set(keys)), resources=[r.label for r in found], free=True, unit="dashboard-month",
                  note=f"the first {price.free_per_account} dashboards of the account are free"
                  if price and price.free_per_account else "")]


def _secrets(found: list[Resource], prices: PriceTable) -> list[CostLine]:
    count = sum(1 + len(r.properties.get("ReplicaRegions") or []) for r in found)
    return [make_line(prices.get("secret"), what="Secrets Manager secrets (replicas count as secrets)",
                  resource_type="AWS::SecretsManager::Secret", count=count,
                  keys=_keys("AWS::SecretsManager::Secret", found), resources=[r.label for r in found],
                  unit="secret-month")]


def _counted(what: str, price_name: str, resource_type: str,
             unit: str) -> Callable[[list[Resource], PriceTable], list[CostLine]]:
    def build(found: list[Resource], prices: PriceTable) -> list[CostLine]:
        return [make_line(prices.get(price_name), what=what, resource_type=resource_type, count=len(found),
                      keys=_keys(resource_type, found), resources=[r.label for r in found], unit=unit)]
    return build


def _tracking_servers(found: list[Resource], prices: PriceTable) -> list[CostLine]:
    """MLflow tracking servers bill every hour they run, at a rate set by their size: one line per
    size, priced where the table has ``mlflow_tracking_server_<size>``, flagged otherwise."""
    resource_type = "AWS::SageMaker::MlflowTrackingServer"
    by_size: dict[str, list[Resource]] = {}
    for r in found:
        by_size.setdefault(str(r.properties.get("TrackingServerSize", "Small")), []).append(r)
    return [make_line(prices.get(f"mlflow_tracking_server_{size.lower()}"),
                      what=f"SageMaker MLflow tracking servers, size {size}", resource_type=resource_type,
                      count=len(servers), keys=_keys(resource_type, servers), resources=[r.label for r in servers],
                      unit="tracking server-hour",
                      note="runs until stopped (aws sagemaker stop-mlflow-tracking-server); see SageMaker pricing, MLflow")
            for size, servers in sorted(by_size.items())]


def stack_prefix(env: str, templates: dict[str, dict[str, Any]], stack: str) -> str:
    for name in templates:
        if stack_label(env, name) == stack:
            return name_prefix(env, name)
    return ""


def _lines_by_type(env: str, templates: dict[str, dict[str, Any]], resources: list[Resource],
                   prices: PriceTable) -> list[CostLine]:
    from tools.review.cost_endpoints import endpoint_lines

    by_type: dict[str, list[Resource]] = {}
    for r in resources:
        by_type.setdefault(r.type, []).append(r)
    builders = {
        "AWS::EC2::VPCEndpoint": _interface_endpoints,
        "AWS::KMS::Key": _kms_keys,
        "AWS::SecretsManager::Secret": _secrets,
        "AWS::SageMaker::MlflowTrackingServer": _tracking_servers,
        "AWS::EC2::NatGateway": _counted("NAT gateways", "nat_gateway", "AWS::EC2::NatGateway", "NAT gateway-hour"),
        "AWS::EC2::EIP": _counted("Elastic IP addresses (public IPv4)", "public_ipv4", "AWS::EC2::EIP",
                                  "public IPv4 address-hour"),
    }
    lines: list[CostLine] = []
    for resource_type in sorted(set(prices.resource_types) | set(builders)):
        found = by_type.get(resource_type, [])
        if not found:
            continue
        if resource_type == "AWS::CloudWatch::Alarm":
            lines += _alarms(found, by_type.get("AWS::ApplicationAutoScaling::ScalingPolicy", []), prices)
        elif resource_type == "AWS::CloudWatch::Dashboard":
            lines += _dashboards(env, found, templates, prices)
        elif resource_type == "AWS::SageMaker::Endpoint":
            lines += endpoint_lines(env, templates, resources, prices)
        elif resource_type in builders:
            lines += builders[resource_type](found, prices)
        else:  # a type the table prices that no builder knows: one unit per resource
            name = prices.resource_types[resource_type][0]
            lines.append(make_line(prices.get(name), what=resource_type, resource_type=resource_type, count=len(found),
                               keys=_keys(resource_type, found), resources=[r.label for r in found]))
    if "AWS::CloudWatch::Alarm" not in by_type and any(
            p.properties.get("PolicyType") == "TargetTrackingScaling"
            for p in by_type.get("AWS::ApplicationAutoScaling::ScalingPolicy", [])):
        lines += _alarms([], by_type["AWS::ApplicationAutoScaling::ScalingPolicy"], prices)
    return lines


def cost_lines(env: str, templates: dict[str, dict[str, Any]], prices: PriceTable) -> list[CostLine]:
    """The idle cost lines of ``templates``, the most expensive first."""
    lines = _lines_by_type(env, templates, walk(env, templates), prices)
    return sorted(lines, key=lambda line: (-line.per_month, not line.missing, line.what))
