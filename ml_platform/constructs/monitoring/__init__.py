"""Monitoring: Model Monitor schedules and alarms, the processing drift engine, the baseline check, the feedback loop and the retrain gate."""

from __future__ import annotations

from ml_platform.constructs.monitoring.baseline_check import BaselineCheck
from ml_platform.constructs.monitoring.drift_monitor import ProcessingDriftMonitor
from ml_platform.constructs.monitoring.feedback_loop import FeedbackLoop
from ml_platform.constructs.monitoring.model_monitor import ModelMonitor
from ml_platform.constructs.monitoring.monitor_settings import Bias, DataQuality, FeedbackSettings, ModelQuality, MonitorSettings
from ml_platform.constructs.monitoring.monitoring_settings import MonitoringSection
from ml_platform.constructs.monitoring.retrain_gate import RetrainGate

__all__ = [
    "BaselineCheck",
    "Bias",
    "DataQuality",
    "FeedbackLoop",
    "FeedbackSettings",
    "ModelMonitor",
    "ModelQuality",
    "MonitorSettings",
    "MonitoringSection",
    "ProcessingDriftMonitor",
    "RetrainGate",
]
