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
from typing import Annotated, Literal

import botocore.session
from pydantic import AfterValidator, Field, model_validator

from ml_platform.constructs.s3_grants import check_prefix
from ml_platform.constructs.schedule import ZonedCronExpression
from ml_platform.constructs.validation import StrictSettings

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


class EndpointSettings(ModelOptions):
    """How a real-time endpoint serves its model: fleet, scaling, deployments, capture.

    :ivar instance_type: e.g. ``ml.m5.large``.
    :ivar initial_instance_count: instances at creation; two or more keep serving when an
        Availability Zone fails and are needed for canary or linear traffic. Default: 2.
    :ivar autoscaling: target tracking. Default: none (a fixed fleet).
    :ivar guardrails: blue/green updates with auto-rollback. Default: canary of 10%.
    :ivar data_capture: capture to the lake. Default: every request and response; ``null`` turns it off.
    And the :class:`ModelOptions`.
    """

    instance_type: InstanceType
    initial_instance_count: Annotated[int, Field(ge=1)] = 2
    autoscaling: AutoScalingSettings | None = None
    guardrails: GuardrailSettings = GuardrailSettings()
    data_capture: DataCaptureSettings | None = DataCaptureSettings()

    @model_validator(mode="after")
    def _fleet(self) -> EndpointSettings:
        problems = []
        scaling = self.autoscaling
        fewest = min(self.initial_instance_count, scaling.min_capacity if scaling else self.initial_instance_count)
        if self.guardrails.traffic != "all_at_once" and fewest < 2:
            problems.append(f"{self.guardrails.traffic} traffic needs a fleet of at least 2 instances (initial_instance_count "
                            "and autoscaling min_capacity); with 1 the first step is the whole fleet, so use all_at_once")
        if scaling is not None:
            if not scaling.min_capacity <= self.initial_instance_count <= scaling.max_capacity:
                problems.append(
                    f"initial_instance_count {self.initial_instance_count} must lie between autoscaling "
                    f"min_capacity {scaling.min_capacity} and max_capacity {scaling.max_capacity}")
            if BURSTABLE.match(self.instance_type):
                problems.append(f"instance_type {self.instance_type!r} is burstable; autoscaling needs a "
                                "non-burstable type such as ml.m5.large or ml.c5.large")
        if problems:
            raise ValueError("; ".join(problems))
        return self
