"""Publishes a DataBrew recipe's working version when its steps change (CloudFormation custom resource)."""
