"""Lambda handlers run against moto: fake credentials and a region, never the real AWS."""

from __future__ import annotations

import pytest
from moto import mock_aws


@pytest.fixture
def mocked_aws(monkeypatch):
    """moto's AWS in eu-west-1 with fake credentials, for the test's duration."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        yield
