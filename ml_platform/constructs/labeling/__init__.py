"""Labeling: the Ground Truth workforce, its teams and the labeling task."""

from __future__ import annotations

from ml_platform.constructs.labeling.labeling_settings import LabelingSettings, TaskSettings, TeamSettings, WorkforceSettings
from ml_platform.constructs.labeling.labeling_task import LabelingTask
from ml_platform.constructs.labeling.labeling_workforce import LabelingWorkforce

__all__ = [
    "LabelingSettings",
    "LabelingTask",
    "LabelingWorkforce",
    "TaskSettings",
    "TeamSettings",
    "WorkforceSettings",
]
