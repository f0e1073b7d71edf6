"""Settings of the ``monitoring`` section: Model Monitor schedules per serving endpoint."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from ml_platform.constructs.monitoring.monitor_settings import MonitorSettings
from ml_platform.constructs.core.validation import StrictSettings
from ml_platform.constructs.serving.serving_settings import EndpointKey, ServingSettings
from ml_platform.constructs.training.training_settings import TrainingSettings

#: What each type reads from the captured data.
#: (Explainability is not offered: see monitor_settings.EXPLAINABILITY_NOT_OFFERED.)
NEEDS_CAPTURE = {"data_quality": ("input",), "model_quality": ("output",), "bias": ("input", "output")}


#: What runs data-quality drift checks: SageMaker Model Monitor schedules, or the platform's own
#: scheduled processing jobs (for accounts Model Monitor is closed to; docs/monitoring.md).
Engine = Literal["model_monitor", "processing"]
#: Default of ``monitoring.engine``.
DEFAULT_ENGINE: Engine = "model_monitor"


class MonitoringSection(StrictSettings):
    """:ivar endpoints: a key of ``serving.endpoints`` to what is monitored on it (at least one).
    :ivar engine: ``model_monitor`` or ``processing``: which runs the ``data_quality`` checks
        (model quality and bias always run on Model Monitor). ``processing`` needs
        ``data_quality.headers``. Default: :data:`DEFAULT_ENGINE`.

    Remove the section (or an endpoint's entry) to turn monitoring off; the schedules go with it."""

    endpoints: Annotated[dict[EndpointKey, MonitorSettings], Field(min_length=1)]
    engine: Engine = DEFAULT_ENGINE

    def problems_with(self, serving: ServingSettings | None, training: TrainingSettings | None) -> list[str]:
        """``monitoring.<key path>: <problem>`` for what the serving and training sections must provide."""
        problems = []
        if training is None or "monitoring" not in training.roles:
            problems.append("monitoring: needs training.roles.monitoring, the monitoring jobs' execution role")
        served = serving.endpoints if serving else {}
        pipelines = {p.model for p in training.pipelines} if training else set()
        for key, monitor in self.endpoints.items():
            where = f"monitoring.endpoints.{key}"
            endpoint = served.get(key)
            if endpoint is None:
                problems.append(f"{where}: {key!r} is not in serving.endpoints ({', '.join(served) or 'none'})")
                continue
            if endpoint.serverless is not None:
                problems.append(f"{where}: serverless endpoints capture no data, so Model Monitor cannot watch them")
                continue
            if endpoint.data_capture is None:
                problems.append(f"{where}: needs serving.endpoints.{key}.data_capture")
                continue
            for kind in monitor.jobs():
                lacking = [m for m in NEEDS_CAPTURE[kind] if m not in endpoint.data_capture.capture]
                if lacking:
                    problems.append(f"{where}.{kind}: needs serving.endpoints.{key}.data_capture.capture to include "
                                    f"{' and '.join(lacking)}")
            if monitor.retrain_on_violations and endpoint.model not in pipelines:
                problems.append(f"{where}.retrain_on_violations: needs a training pipeline of model "
                                f"{endpoint.model!r} (training.pipelines)")
            if self.engine == "processing" and monitor.data_quality is not None and not monitor.data_quality.headers:
                problems.append(f"{where}.data_quality.headers: the processing engine needs the captured CSV's "
                                "column names, in order")
            if monitor.baselines_from_served_version and (endpoint.version is None or endpoint.model not in pipelines):
                problems.append(f"{where}.baselines_from_served_version: needs serving.endpoints.{key}.version, a "
                                f"registry version of a model the training pipelines train (model: {endpoint.model!r}, "
                                f"version: {endpoint.version!r})")
            if monitor.feedback is not None and endpoint.model not in pipelines:
                problems.append(f"{where}.feedback: labeled rows go to the training pipeline of the served model, "
                                f"and model {endpoint.model!r} has none (training.pipelines)")
        return problems
