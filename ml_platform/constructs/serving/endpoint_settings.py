"""Settings of a real-time SageMaker endpoint: instances, autoscaling, deployment guardrails, capture.

The rules here are SageMaker's own limits, checked before anything is synthesized: instance types
are the ones botocore's SageMaker service model lists for production variants (so the list is
offline and moves with the pinned botocore), a canary is at most half the fleet and a linear step
10-50% of it, and burstable ``ml.t*`` instances are refused with autoscaling because their CPU
credits make invocations per instance a misleading scaling signal.
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from typing import Annotated, Any, Literal

import botocore.session
from pydantic import AfterValidator, Field, model_validator

from ml_platform.constructs.lake.s3_grants import check_prefix
from ml_platform.constructs.training.sagemaker_roles import LakeLocation
from ml_platform.constructs.core.schedule import ZonedCronExpression
from ml_platform.constructs.core.validation import StrictSettings

#: ``arn:<partition>:sagemaker:<region>:<account>:model-package/<group>/<version>``: one version.
MODEL_PACKAGE_ARN = re.compile(r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:model-package/[a-zA-Z0-9-]{1,63}/\d+$")
#: Burstable families (``ml.t2``, ``ml.t3``, ...), not Trainium (``ml.trn1``).
BURSTABLE = re.compile(r"^ml\.t\d+\.")


@functools.cache
def offered_instance_types(shape: str) -> tuple[str, ...]:
    """Instance types botocore's SageMaker service model lists for ``shape``, e.g.
    ``TransformInstanceType``."""
    model = botocore.session.get_session().get_service_model("sagemaker")
    return tuple(model.shape_for(shape).enum)


def instance_types() -> tuple[str, ...]:
    """Instance types SageMaker offers for endpoint variants."""
    return offered_instance_types("ProductionVariantInstanceType")


def _instance_type(value: str) -> str:
    if value not in instance_types():
        close = [t for t in instance_types() if t.startswith(value.rsplit(".", 1)[0] + ".")]
        hint = f"e.g. {', '.join(close[:6])}" if close else "see botocore's ProductionVariantInstanceType"
        raise ValueError(f"instance type {value!r} is not offered by SageMaker for endpoints; {hint}")
    return value


InstanceType = Annotated[str, AfterValidator(_instance_type)]


def _time_zone(value: str) -> str:
    if value != "UTC" and value not in zoneinfo.available_timezones():
        raise ValueError(f"time zone {value!r} is unknown; use an IANA name such as 'UTC' or 'Europe/Berlin'")
    return value


#: An IANA time zone name, e.g. ``Europe/Berlin``.
TimeZoneName = Annotated[str, AfterValidator(_time_zone)]


class ScheduledCapacity(StrictSettings):
    """From ``schedule`` on, the fleet's bounds become ``min_capacity``/``max_capacity``.

    Target tracking keeps working between the new bounds; a later schedule sets them again
    (e.g. raise the minimum at 07:00 on weekdays and lower it at 19:00).

    :ivar schedule: AWS cron expression, e.g. ``cron(0 7 ? * MON-FRI *)``.
    :ivar min_capacity: new minimum. Default: unchanged.
    :ivar max_capacity: new maximum. Default: unchanged.
    """

    schedule: ZonedCronExpression
    min_capacity: Annotated[int, Field(ge=1)] | None = None
    max_capacity: Annotated[int, Field(ge=1)] | None = None

    @model_validator(mode="after")
    def _bounds(self) -> ScheduledCapacity:
        if self.min_capacity is None and self.max_capacity is None:
            raise ValueError("give min_capacity, max_capacity or both")
        if self.min_capacity and self.max_capacity and self.min_capacity > self.max_capacity:
            raise ValueError(f"min_capacity {self.min_capacity} exceeds max_capacity {self.max_capacity}")
        return self


class AutoScalingSettings(StrictSettings):
    """Target tracking on ``SageMakerVariantInvocationsPerInstance``.

    The target is ``max_rps_per_instance * safety_factor * 60`` invocations per instance per
    minute: measure ``max_rps_per_instance`` with a load test on one instance (the highest rate
    at which latency and errors stay acceptable), and keep ``safety_factor`` below 1 so that
    the fleet scales out before instances saturate.

    :ivar min_capacity: fewest instances. Default: 1.
    :ivar max_capacity: most instances. Default: 2.
    :ivar max_rps_per_instance: measured requests per second one instance sustains.
    :ivar safety_factor: share of that rate to aim for, in (0, 1]. Default: 0.5.
    :ivar scale_in_cooldown_seconds: wait after scaling in. Default: 300.
    :ivar scale_out_cooldown_seconds: wait after scaling out. Default: 60.
    :ivar schedules: bounds that change on a schedule (e.g. business hours). Default: none.
    :ivar time_zone: IANA time zone of the schedules. Default: UTC.
    """

    min_capacity: Annotated[int, Field(ge=1)] = 1
    max_capacity: Annotated[int, Field(ge=1)] = 2
    max_rps_per_instance: Annotated[float, Field(gt=0, strict=False)]
    safety_factor: Annotated[float, Field(gt=0, le=1, strict=False)] = 0.5
    scale_in_cooldown_seconds: Annotated[int, Field(ge=0, le=3600)] = 300
    scale_out_cooldown_seconds: Annotated[int, Field(ge=0, le=3600)] = 60
    schedules: Annotated[tuple[ScheduledCapacity, ...], Field(strict=False)] = ()
    time_zone: TimeZoneName = "UTC"

    @model_validator(mode="after")
    def _bounds(self) -> AutoScalingSettings:
        if self.min_capacity > self.max_capacity:
            raise ValueError(f"min_capacity {self.min_capacity} exceeds max_capacity {self.max_capacity}")
        return self

    @property
    def target_invocations_per_instance(self) -> float:
        """Invocations per instance per minute the fleet is kept at."""
        return round(self.max_rps_per_instance * self.safety_factor * 60, 2)


class GuardrailSettings(StrictSettings):
    """Blue/green updates: traffic shifts to the new fleet, and rolls back if an alarm fires.

    :ivar traffic: ``canary`` (one step of ``step_percent``, then the rest), ``linear`` (steps of
        ``step_percent``) or ``all_at_once``. Default: canary.
    :ivar step_percent: the canary (at most 50) or linear step (10-50) as a share of the fleet.
        Default: 10.
    :ivar wait_seconds: baking time after each step, 0-3600. Default: 300.
    :ivar termination_wait_seconds: how long the old fleet stays after the shift, 0-3600. Default: 600.
    :ivar max_5xx_errors_per_minute: rollback when the sum of 5XX errors in a minute exceeds it.
        Default: 5.
    :ivar max_p99_latency_ms: rollback when the p99 model latency of a minute exceeds it. Default: 1000.
    """

    traffic: Literal["canary", "linear", "all_at_once"] = "canary"
    step_percent: Annotated[int, Field(ge=1, le=50)] = 10
    wait_seconds: Annotated[int, Field(ge=0, le=3600)] = 300
    termination_wait_seconds: Annotated[int, Field(ge=0, le=3600)] = 600
    max_5xx_errors_per_minute: Annotated[int, Field(ge=0)] = 5
    max_p99_latency_ms: Annotated[int, Field(ge=1)] = 1000

    @model_validator(mode="after")
    def _linear_step(self) -> GuardrailSettings:
        if self.traffic == "linear" and self.step_percent < 10:
            raise ValueError(f"step_percent {self.step_percent} is too small for linear traffic; allowed: 10-50")
        return self


class DataCaptureSettings(StrictSettings):
    """Requests and responses written to the lake's raw zone, encrypted with the lake key.

    :ivar sampling_percent: share of invocations captured, 1-100. Default: 100.
    :ivar capture: ``input``, ``output`` or both. Default: both.
    :ivar prefix: under the raw zone; the endpoint's name is appended. Default: ``data-capture/``.
    """

    sampling_percent: Annotated[int, Field(ge=1, le=100)] = 100
    capture: Annotated[tuple[Literal["input", "output"], ...], Field(strict=False, min_length=1)] = ("input", "output")
    prefix: Annotated[str, AfterValidator(check_prefix)] = "data-capture/"


EnvironmentName = Annotated[str, Field(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]{0,1023}$")]
EnvironmentValue = Annotated[str, Field(max_length=1024)]


class ModelOptions(StrictSettings):
    """How the model's container runs, for endpoints and batch transform alike.

    :ivar network_isolation: the container makes no outbound calls. Default: True.
    :ivar environment: environment variables of the container (visible in the model's
        description: no secrets). Default: none.
    """

    network_isolation: bool = True
    environment: Annotated[dict[EnvironmentName, EnvironmentValue], Field(max_length=100)] = {}


#: Variant names: SageMaker allows 63 letters, digits and hyphens.
VariantName = Annotated[str, Field(pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")]
#: Serverless memory sizes SageMaker accepts, in MB.
SERVERLESS_MEMORY = (1024, 2048, 3072, 4096, 5120, 6144)


def _serverless_memory(value: int) -> int:
    if value not in SERVERLESS_MEMORY:
        raise ValueError(f"memory_mb {value} is not offered; allowed: {', '.join(map(str, SERVERLESS_MEMORY))}")
    return value


class ProvisionedScalingSettings(StrictSettings):
    """Target tracking of a serverless variant's provisioned concurrency on its utilization.

    :ivar min_capacity: least provisioned concurrency. Default: 1.
    :ivar max_capacity: most provisioned concurrency, at most the variant's ``max_concurrency``.
    :ivar target_utilization: share of the provisioned concurrency in use that scaling aims for,
        0.1-1. Default: 0.7.
    :ivar schedules: bounds that change on a schedule. Default: none.
    :ivar time_zone: IANA time zone of the schedules. Default: UTC.
    """

    min_capacity: Annotated[int, Field(ge=1, le=200)] = 1
    max_capacity: Annotated[int, Field(ge=1, le=200)]
    target_utilization: Annotated[float, Field(ge=0.1, le=1, strict=False)] = 0.7
    schedules: Annotated[tuple[ScheduledCapacity, ...], Field(strict=False)] = ()
    time_zone: TimeZoneName = "UTC"


class ServerlessSettings(StrictSettings):
    """One serverless variant: SageMaker starts containers per request and bills per millisecond.

    Serverless endpoints run outside the platform's VPC, without network isolation, data capture
    or deployment guardrails (SageMaker supports none of them there), on CPUs only: an update
    replaces the variant at once, and the error and latency alarms only notify.

    :ivar memory_mb: memory per container: 1024, 2048, 3072, 4096, 5120 or 6144.
    :ivar max_concurrency: concurrent invocations before requests are throttled, 1-200. Default: 5.
    :ivar provisioned_concurrency: containers kept warm (billed while provisioned), at most
        ``max_concurrency``. Default: none (cold starts, no idle cost).
    :ivar provisioned_scaling: scale the provisioned concurrency. Default: fixed.
    """

    memory_mb: Annotated[int, AfterValidator(_serverless_memory)]
    max_concurrency: Annotated[int, Field(ge=1, le=200)] = 5
    provisioned_concurrency: Annotated[int, Field(ge=1, le=200)] | None = None
    provisioned_scaling: ProvisionedScalingSettings | None = None

    @model_validator(mode="after")
    def _concurrency(self) -> ServerlessSettings:
        problems = []
        provisioned, scaling = self.provisioned_concurrency, self.provisioned_scaling
        if provisioned is not None and provisioned > self.max_concurrency:
            problems.append(f"provisioned_concurrency {provisioned} exceeds max_concurrency {self.max_concurrency}")
        if scaling is not None:
            if provisioned is None:
                problems.append("provisioned_scaling needs provisioned_concurrency")
            elif not scaling.min_capacity <= provisioned <= scaling.max_capacity:
                problems.append(f"provisioned_concurrency {provisioned} must lie between provisioned_scaling "
                                f"min_capacity {scaling.min_capacity} and max_capacity {scaling.max_capacity}")
            if scaling.max_capacity > self.max_concurrency:
                problems.append(f"provisioned_scaling max_capacity {scaling.max_capacity} exceeds "
                                f"max_concurrency {self.max_concurrency}")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class BacklogScalingSettings(StrictSettings):
    """Scaling of an asynchronous endpoint on its queue: target tracking on
    ``ApproximateBacklogSizePerInstance``, down to ``min_capacity`` (0 stops every instance), and
    one instance started by the ``HasBacklogWithoutCapacity`` alarm when requests wait at zero.

    :ivar min_capacity: fewest instances; 0 scales to zero when the queue is empty. Default: 0.
    :ivar max_capacity: most instances. Default: 2.
    :ivar backlog_per_instance: queued requests per instance scaling aims for. Default: 5.
    :ivar scale_in_cooldown_seconds: wait after scaling in. Default: 600.
    :ivar scale_out_cooldown_seconds: wait after scaling out. Default: 300.
    """

    min_capacity: Annotated[int, Field(ge=0)] = 0
    max_capacity: Annotated[int, Field(ge=1)] = 2
    backlog_per_instance: Annotated[float, Field(gt=0, strict=False)] = 5
    scale_in_cooldown_seconds: Annotated[int, Field(ge=0, le=3600)] = 600
    scale_out_cooldown_seconds: Annotated[int, Field(ge=0, le=3600)] = 300

    @model_validator(mode="after")
    def _bounds(self) -> BacklogScalingSettings:
        if self.min_capacity > self.max_capacity:
            raise ValueError(f"min_capacity {self.min_capacity} exceeds max_capacity {self.max_capacity}")
        return self


class AsyncInferenceSettings(StrictSettings):
    """Asynchronous inference: clients upload a request to ``input`` and call
    ``InvokeEndpointAsync``; SageMaker queues it and writes the result under ``output``.

    :ivar input: where clients put requests; the execution role reads it.
    :ivar output: where results go; failures go to ``<output prefix>failures/``.
    :ivar max_concurrent_invocations_per_instance: 1-1000. Default: SageMaker's choice.
    :ivar notify: publish each success and error to an encrypted SNS topic of the endpoint.
        Default: True.
    :ivar scaling: scale on the backlog, to zero by default. Default: a fixed fleet.
    """

    input: LakeLocation
    output: LakeLocation
    max_concurrent_invocations_per_instance: Annotated[int, Field(ge=1, le=1000)] | None = None
    notify: bool = True
    scaling: BacklogScalingSettings | None = None


class ChallengerSettings(StrictSettings):
    """Another instance variant of the endpoint, for an A/B test of a second model.

    Traffic splits by weight: a variant receives ``weight / sum of weights`` of the requests.

    :ivar weight: relative share of the traffic, above 0.
    :ivar instance_type: e.g. ``ml.m5.large``.
    :ivar initial_instance_count: instances at creation. Default: 2.
    :ivar autoscaling: target tracking for this variant. Default: none.
    """

    weight: Annotated[float, Field(gt=0, strict=False)]
    instance_type: InstanceType
    initial_instance_count: Annotated[int, Field(ge=1)] = 2
    autoscaling: AutoScalingSettings | None = None


def _fleet_problems(what: str, instance_type: str, count: int, scaling: AutoScalingSettings | None) -> list[str]:
    if scaling is None:
        return []
    problems = []
    if not scaling.min_capacity <= count <= scaling.max_capacity:
        problems.append(f"{what}initial_instance_count {count} must lie between autoscaling "
                        f"min_capacity {scaling.min_capacity} and max_capacity {scaling.max_capacity}")
    if BURSTABLE.match(instance_type):
        problems.append(f"{what}instance_type {instance_type!r} is burstable; autoscaling needs a "
                        "non-burstable type such as ml.m5.large or ml.c5.large")
    return problems


class EndpointSettings(ModelOptions):
    """How an endpoint serves its model: instances or serverless, scaling, deployments, capture.

    Give ``instance_type`` (a real-time or, with ``async_inference``, an asynchronous endpoint on
    instances) or ``serverless``, not both.

    :ivar instance_type: e.g. ``ml.m5.large``.
    :ivar initial_instance_count: instances at creation; two or more keep serving when an
        Availability Zone fails and are needed for canary or linear traffic. Default: 2.
    :ivar autoscaling: target tracking on invocations per instance. Default: none (a fixed fleet).
    :ivar serverless: a serverless variant instead of instances. Default: none.
    :ivar async_inference: queue requests instead of answering them in the call. Default: none.
    :ivar variant_name: name of the (first) variant; keep it stable, deployments need the same
        names. Default: ``AllTraffic``.
    :ivar weight: traffic weight of that variant against ``challengers``. Default: 1.
    :ivar challengers: more instance variants by name, each serving another model. Default: none.
    :ivar guardrails: blue/green updates with auto-rollback (not for serverless). Default: canary of 10%.
    :ivar data_capture: capture to the lake. Default: every request and response (none when
        serverless); ``null`` turns it off.
    And the :class:`ModelOptions` (``network_isolation`` defaults to False when serverless).
    """

    instance_type: InstanceType | None = None
    initial_instance_count: Annotated[int, Field(ge=1)] = 2
    autoscaling: AutoScalingSettings | None = None
    serverless: ServerlessSettings | None = None
    async_inference: AsyncInferenceSettings | None = None
    variant_name: VariantName = "AllTraffic"
    weight: Annotated[float, Field(gt=0, strict=False)] = 1
    challengers: dict[VariantName, ChallengerSettings] = {}
    guardrails: GuardrailSettings = GuardrailSettings()
    data_capture: DataCaptureSettings | None = DataCaptureSettings()

    @model_validator(mode="before")
    @classmethod
    def _serverless_defaults(cls, data: Any) -> Any:
        """Serverless endpoints support neither capture nor isolation: they default to off."""
        if isinstance(data, dict) and data.get("serverless") is not None:
            data = {"data_capture": None, "network_isolation": False, **data}
        return data

    @model_validator(mode="after")
    def _fleet(self) -> EndpointSettings:
        problems = self._serverless_problems() if self.serverless else self._instance_problems()
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _serverless_problems(self) -> list[str]:
        given = [key for key, unsupported in (
            ("instance_type", self.instance_type is not None), ("autoscaling", self.autoscaling is not None),
            ("async_inference", self.async_inference is not None), ("challengers", bool(self.challengers)),
            ("data_capture", self.data_capture is not None), ("network_isolation", self.network_isolation),
            ("guardrails", "guardrails" in self.model_fields_set),
        ) if unsupported]
        return [f"serverless endpoints do not support {', '.join(given)}; remove {'them' if len(given) > 1 else 'it'}"
                ] if given else []

    def _instance_problems(self) -> list[str]:
        if self.instance_type is None:
            return ["give instance_type (instances) or serverless"]
        problems = _fleet_problems("", self.instance_type, self.initial_instance_count, self.autoscaling)
        for name, challenger in self.challengers.items():
            problems += _fleet_problems(f"challengers.{name}.", challenger.instance_type,
                                        challenger.initial_instance_count, challenger.autoscaling)
        if self.variant_name in self.challengers:
            problems.append(f"challengers: {self.variant_name!r} is already the name of the first variant")
        backlog = self.async_inference.scaling if self.async_inference else None
        if backlog is not None:
            if self.autoscaling is not None:
                problems.append("an asynchronous endpoint scales on its backlog (async_inference.scaling); remove autoscaling")
            if not max(backlog.min_capacity, 1) <= self.initial_instance_count <= backlog.max_capacity:
                problems.append(f"initial_instance_count {self.initial_instance_count} must lie between "
                                f"max(1, async_inference.scaling min_capacity {backlog.min_capacity}) and "
                                f"max_capacity {backlog.max_capacity}")
        if self.async_inference is not None and self.challengers:
            problems.append("challengers are for real-time endpoints; an asynchronous endpoint has one variant")
        if self.guardrails.traffic != "all_at_once":
            fleets = {self.variant_name: (self.initial_instance_count, self.autoscaling, backlog),
                      **{n: (c.initial_instance_count, c.autoscaling, None) for n, c in self.challengers.items()}}
            small = [name for name, (count, scaling, queue) in fleets.items()
                     if min([count, *(s.min_capacity for s in (scaling, queue) if s is not None)]) < 2]
            if small:
                problems.append(
                    f"{self.guardrails.traffic} traffic needs a fleet of at least 2 instances (initial_instance_count "
                    f"and the scaling minimum) in every variant, and {', '.join(small)} may have fewer; with 1 the "
                    "first step is the whole fleet, so use all_at_once")
        return problems

    @property
    def variants(self) -> dict[str, float]:
        """Every variant's name and traffic weight, the first one first."""
        return {self.variant_name: self.weight, **{n: c.weight for n, c in self.challengers.items()}}

    @property
    def scales(self) -> bool:
        """Whether anything scales the endpoint (so an update must keep the scaled capacity)."""
        return bool(self.autoscaling or any(c.autoscaling for c in self.challengers.values())
                    or (self.async_inference and self.async_inference.scaling)
                    or (self.serverless and self.serverless.provisioned_scaling))
