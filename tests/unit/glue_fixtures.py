"""Builders shared by the Glue construct tests: a lake stack and a catalog stack beside it."""

from __future__ import annotations

from aws_cdk import App, Stack
from aws_cdk import aws_glue as glue

from ml_platform.constructs.lake.data_lake import DataLake
from ml_platform.constructs.preparation.glue_security import GlueSecurity

ENV = {"account": "111111111111", "region": "eu-west-1"}


class Catalog:
    """A lake in its own stack, and a catalog stack with a security configuration and databases."""

    def __init__(self) -> None:
        self.app = App()
        self.lake = DataLake(Stack(self.app, "Lake", env=ENV), "Lake")
        self.stack = Stack(self.app, "Catalog", env=ENV)
        self.security = GlueSecurity(self.stack, "Security", data_key=self.lake.encryption_key, name="t-glue")
        self.databases = {
            zone: glue.Database(self.stack, f"{zone}Db", database_name=f"t_{zone}")
            for zone in ("raw", "processed", "curated")
        }

    def resources(self, resource_type: str | None = None) -> dict[str, dict]:
        from aws_cdk.assertions import Template

        found = Template.from_stack(self.stack).to_json()["Resources"]
        return {k: v for k, v in found.items() if resource_type in (None, v["Type"])}

    def one(self, resource_type: str) -> dict:
        [resource] = self.resources(resource_type).values()
        return resource

    def policy_of(self, role) -> list[dict]:
        logical = self.stack.resolve(role.policy.node.default_child.logical_id)
        return self.resources()[logical]["Properties"]["PolicyDocument"]["Statement"]


def actions(statements: list[dict]) -> set[str]:
    found: set[str] = set()
    for statement in statements:
        value = statement["Action"]
        found |= {value} if isinstance(value, str) else set(value)
    return found
