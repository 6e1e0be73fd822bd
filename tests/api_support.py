"""Helpers for the API tests: bearer tokens for the named world and a small JSON client."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from tradingagents.services import api_token_create

BASE = "/api/v1"


class ApiClient:
    """Calls the API as one user (or anonymously), JSON in and out."""

    def __init__(self, token: str | None = None) -> None:
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def call(self, method: str, path: str, body: Any = None, **params: Any):
        url = path if path.startswith("/") and not path.startswith(BASE) and path.startswith("/api") else BASE + path
        kwargs: dict[str, Any] = {"headers": self.headers}
        if body is not None:
            kwargs.update(data=json.dumps(body), content_type="application/json")
        elif params:
            kwargs["data"] = params
        return getattr(self.client, method.lower())(url, **kwargs)

    def get(self, path: str, **params: Any):
        return self.call("GET", path, **params)

    def post(self, path: str, body: Any = None):
        return self.call("POST", path, {} if body is None else body)

    def patch(self, path: str, body: Any):
        return self.call("PATCH", path, body)

    def put(self, path: str, body: Any):
        return self.call("PUT", path, body)

    def delete(self, path: str):
        return self.call("DELETE", path)


def client_for(user) -> ApiClient:
    _, token = api_token_create(user=user, name="tests")
    return ApiClient(token)


@pytest.fixture
def as_superuser(superuser) -> ApiClient:
    return client_for(superuser)


@pytest.fixture
def as_editor(editor) -> ApiClient:
    return client_for(editor)


@pytest.fixture
def as_reader(reader) -> ApiClient:
    return client_for(reader)


@pytest.fixture
def as_outsider(outsider) -> ApiClient:
    return client_for(outsider)


@pytest.fixture
def anonymous(db) -> ApiClient:
    return ApiClient()


def assert_error_shape(response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"detail", "errors"}, body
    assert isinstance(body["detail"], str) and body["detail"]
    for item in body["errors"]:
        assert set(item) == {"loc", "msg"} and isinstance(item["loc"], list) and isinstance(item["msg"], str)
    return body
