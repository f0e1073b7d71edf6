"""The recipe publisher against moto's DataBrew: publish on create and update, clean up on delete."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import boto3
import pytest

from ml_platform.lambdas.databrew_recipe_publisher import publisher
from ml_platform.lambdas.databrew_recipe_publisher.publisher import PublishRequest, handle

STEPS_V1 = [{"Action": {"Operation": "DELETE", "Parameters": {"sourceColumns": '["ssn"]'}}}]
STEPS_V2 = [{"Action": {"Operation": "DELETE_DUPLICATE_ROWS"}}]


@pytest.fixture
def databrew(mocked_aws):
    client = boto3.client("databrew")
    client.create_recipe(Name="mlp-dev-customers", Steps=STEPS_V1)
    return client


def event(request_type: str, digest: str = "a" * 64, physical: str | None = None, name: str = "mlp-dev-customers") -> dict:
    found = {"RequestType": request_type, "ResourceProperties": {"ServiceToken": "arn", "RecipeName": name, "StepsDigest": digest}}
    if physical:
        found["PhysicalResourceId"] = physical
    return found


def test_create_publishes_the_working_version_for_the_job(databrew):
    result = handle(databrew, PublishRequest.from_event(event("Create")))
    assert result == {"PhysicalResourceId": "mlp-dev-customers", "Data": {"RecipeVersion": "1.0"}}
    assert publisher.published_versions(databrew, "mlp-dev-customers") == ["1.0"]


def test_update_after_a_step_change_publishes_the_next_version(databrew):
    handle(databrew, PublishRequest.from_event(event("Create")))
    databrew.update_recipe(Name="mlp-dev-customers", Steps=STEPS_V2)
    result = handle(databrew, PublishRequest.from_event(event("Update", "b" * 64, "mlp-dev-customers")))
    assert result["Data"] == {"RecipeVersion": "2.0"}
    published = databrew.describe_recipe(Name="mlp-dev-customers", RecipeVersion="2.0")
    assert published["Steps"][0]["Action"]["Operation"] == "DELETE_DUPLICATE_ROWS"


def test_delete_removes_published_versions_so_the_recipe_can_go(databrew):
    handle(databrew, PublishRequest.from_event(event("Create")))
    handle(databrew, PublishRequest.from_event(event("Update", physical="mlp-dev-customers")))
    result = handle(databrew, PublishRequest.from_event(event("Delete", physical="mlp-dev-customers")))
    assert result == {"PhysicalResourceId": "mlp-dev-customers"}
    assert publisher.published_versions(databrew, "mlp-dev-customers") == []


def test_delete_of_a_missing_recipe_succeeds(databrew):
    assert publisher.delete_published(databrew, "never-created") == 0


def test_versions_sort_numerically_not_as_text():
    assert sorted(["10.0", "9.0", "2.0"], key=publisher.version_key) == ["2.0", "9.0", "10.0"]


@pytest.mark.parametrize(("bad", "message"), [
    ({"RequestType": "Poke", "ResourceProperties": {"RecipeName": "r", "StepsDigest": "d"}}, "RequestType is 'Poke'"),
    ({"RequestType": "Create", "ResourceProperties": {"StepsDigest": "d"}}, "RecipeName is missing"),
    ({"RequestType": "Create", "ResourceProperties": {"RecipeName": "r"}}, "StepsDigest is missing"),
    ({"RequestType": "Create"}, "RecipeName is missing"),
])
def test_malformed_events_are_rejected(bad, message):
    with pytest.raises(ValueError, match=message):
        PublishRequest.from_event(bad)


def test_lambda_entry_point_uses_the_flat_module_layout_of_the_asset(databrew, monkeypatch):
    folder = Path(publisher.__file__).parent
    monkeypatch.syspath_prepend(str(folder))
    sys.modules.pop("handler", None)
    handler = importlib.import_module("handler")
    assert handler.on_event(event("Create"), None)["Data"] == {"RecipeVersion": "1.0"}
    sys.modules.pop("handler", None)
    sys.modules.pop("publisher", None)
