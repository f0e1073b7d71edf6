"""Lambda entry point (``handler.on_event``) called by the CDK custom-resource provider framework."""

import boto3
from publisher import PublishRequest, handle


def on_event(event, context):
    return handle(boto3.client("databrew"), PublishRequest.from_event(event))
