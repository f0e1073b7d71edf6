"""Fails a deploy while Model Monitor baselines are missing (CloudFormation custom resource)."""
