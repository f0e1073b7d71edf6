"""The platform's delivery pipeline (CDK Pipelines): settings and the stack of the tooling account."""

from ml_platform.delivery.settings import (
    ConnectionSource,
    DeliverySettings,
    S3Source,
    ToolingSettings,
    load_delivery_settings,
)

__all__ = ["ConnectionSource", "DeliverySettings", "S3Source", "ToolingSettings", "load_delivery_settings"]
