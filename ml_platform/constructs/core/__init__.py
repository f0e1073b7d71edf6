"""Shared by every stage: validation, naming, compliance exceptions, alerting, removal."""

from __future__ import annotations

from ml_platform.constructs.core.alerting import AlertPath, AlertRoutes, AlertSettings, IAlerts
from ml_platform.constructs.core.iam_limits import check_iam_sizes, iam_size_problems
from ml_platform.constructs.core.iam_roles import ManagedPolicyRole
from ml_platform.constructs.core.removal import REMOVE_DATA_ON_DESTROY_CONTEXT, data_removal_policy
from ml_platform.constructs.core.validation import SettingsError, StrictSettings

__all__ = [
    "AlertPath",
    "AlertRoutes",
    "AlertSettings",
    "IAlerts",
    "ManagedPolicyRole",
    "REMOVE_DATA_ON_DESTROY_CONTEXT",
    "SettingsError",
    "StrictSettings",
    "check_iam_sizes",
    "data_removal_policy",
    "iam_size_problems",
]
