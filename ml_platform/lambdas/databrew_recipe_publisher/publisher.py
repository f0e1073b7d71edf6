"""Logic of the recipe publisher: parse the custom-resource event, publish or clean up versions.

CloudFormation keeps only a recipe's working version; a recipe job runs a published one. This
publishes the working version on create and on every update (the resource's ``StepsDigest``
property changes with the steps), returns the new version for the job, and deletes the published
versions when the resource is deleted so that CloudFormation can then delete the recipe.
Only boto3 (shipped with the Lambda runtime) is used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

REQUEST_TYPES = ("Create", "Update", "Delete")


@dataclass(frozen=True)
class PublishRequest:
    """The fields of a custom-resource event this function uses."""

    request_type: str
    recipe_name: str
    steps_digest: str
    physical_resource_id: str | None

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> PublishRequest:
        """:raises ValueError: naming the missing or invalid field."""
        request_type = event.get("RequestType")
        if request_type not in REQUEST_TYPES:
            raise ValueError(f"RequestType is {request_type!r}; expected one of {', '.join(REQUEST_TYPES)}")
        properties = event.get("ResourceProperties") or {}
        name, digest = properties.get("RecipeName"), properties.get("StepsDigest")
        if not isinstance(name, str) or not name:
            raise ValueError("ResourceProperties.RecipeName is missing")
        if not isinstance(digest, str) or not digest:
            raise ValueError("ResourceProperties.StepsDigest is missing")
        return cls(request_type, name, digest, event.get("PhysicalResourceId"))


def version_key(version: str) -> tuple[int, ...]:
    """Sort key of a published version such as ``"12.0"``."""
    return tuple(int(part) for part in version.split("."))


def published_versions(client: Any, recipe_name: str) -> list[str]:
    """Every published version of the recipe, oldest first."""
    versions: list[str] = []
    for page in client.get_paginator("list_recipe_versions").paginate(Name=recipe_name):
        versions += [r["RecipeVersion"] for r in page.get("Recipes", []) if r.get("RecipeVersion")]
    return sorted(set(versions), key=version_key)


def publish(client: Any, recipe_name: str, steps_digest: str) -> str:
    """Publish the working version and return the version number it got."""
    client.publish_recipe(Name=recipe_name, Description=f"Steps {steps_digest[:16]}, published on deploy")
    versions = published_versions(client, recipe_name)
    if not versions:
        raise RuntimeError(f"recipe {recipe_name} has no published version after PublishRecipe")
    return versions[-1]


def delete_published(client: Any, recipe_name: str) -> int:
    """Delete every published version (a missing recipe has none); returns how many."""
    try:
        versions = published_versions(client, recipe_name)
    except client.exceptions.ResourceNotFoundException:
        return 0
    for version in reversed(versions):
        client.delete_recipe_version(Name=recipe_name, RecipeVersion=version)
    return len(versions)


def handle(client: Any, request: PublishRequest) -> dict[str, Any]:
    """The response the CDK provider framework turns into the custom resource's result."""
    if request.request_type == "Delete":
        delete_published(client, request.physical_resource_id or request.recipe_name)
        return {"PhysicalResourceId": request.physical_resource_id or request.recipe_name}
    version = publish(client, request.recipe_name, request.steps_digest)
    return {"PhysicalResourceId": request.recipe_name, "Data": {"RecipeVersion": version}}
