"""Errors in OpenAI's shape: {"error": {"message", "type", "param", "code"}}.

The OpenAI SDKs parse this body into their exception's message and `code`; the JSON
API's own error shape would reach a gateway client as an unreadable blob."""

from __future__ import annotations

from typing import Any

from django.http import JsonResponse


class GatewayError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def response(self) -> JsonResponse:
        response = JsonResponse(self.body(), status=self.status)
        for name, value in self.headers.items():
            response[name] = value
        return response


RETRY_AFTER_SECONDS = 2  # as the JSON API's 503


def service_unavailable() -> GatewayError:
    """The database cannot answer now (restarting, out of connections): the server is
    busy, not broken. OpenAI's SDKs retry a 503 after its Retry-After."""
    return GatewayError(
        503, f"The server is busy; retry in {RETRY_AFTER_SECONDS} s.", type="server_error",
        code="service_unavailable", headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def bad_request(message: str, param: str | None = None) -> GatewayError:
    return GatewayError(400, message, param=param, code="invalid_request")


def unauthorized(message: str = "Invalid or missing API key: send 'Authorization: Bearer <API token>'.") -> GatewayError:
    return GatewayError(401, message, type="authentication_error", code="invalid_api_key")


def model_not_found(model: str) -> GatewayError:
    return GatewayError(
        404, f"The model '{model}' does not exist: name an enabled agent or one of its aliases (GET /v1/models lists them).",
        param="model", code="model_not_found",
    )
