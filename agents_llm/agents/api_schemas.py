"""`POST /api/v1/schemas/validate`: live feedback for the schema builder.

The body is parsed here rather than by ninja, because ninja's parser lets a deeply nested
body escape as a RecursionError (a 500). Any JSON object with a `schema` object gets a 200
with `{"valid": ...}`; a body that is not that gets the API's 422 error shape.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.http.request import RawPostDataException
from ninja import Router, Schema
from ninja.errors import ValidationError as NinjaValidationError

from agents_llm.output_schema import schema_errors
from tradingagents import strict_json
from tradingagents.errors import BodyTooLarge
from tradingagents.schemas import ErrorOut
from tradingagents.throttling import UserRateThrottle

router = Router(tags=["schemas"])

MAX_BODY_BYTES = 1_000_000
MAX_BODY_DEPTH = 100_000  # the check below is iterative; the schema's own depth is reported by the linter


class SchemaValidateThrottle(UserRateThrottle):
    """Per user: any active user may call this, and each call costs CPU."""

    scope = "schema_validate"


validate_throttle = SchemaValidateThrottle(getattr(settings, "API_SCHEMA_VALIDATE_RATE", "120/m"))


class SchemaErrorOut(Schema):
    path: str
    msg: str


class SchemaValidationOut(Schema):
    valid: bool
    errors: list[SchemaErrorOut] | None = None


REQUEST_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {"schema": {"type": "object", "description": "The JSON Schema to check."}},
                "required": ["schema"],
            },
            "example": {"schema": {"type": "object", "properties": {"signal": {"type": "string"}}}},
        }
    },
}


def _invalid(msg: str, loc: list[str] | None = None) -> NinjaValidationError:
    return NinjaValidationError([{"loc": loc or ["body"], "msg": msg, "type": "value_error"}])


def _body(request: HttpRequest) -> Any:
    try:
        raw = request.body
    except RawPostDataException:
        raise BodyTooLarge(MAX_BODY_BYTES) from None
    if len(raw) > MAX_BODY_BYTES:
        raise BodyTooLarge(MAX_BODY_BYTES)
    try:
        data = strict_json.loads(raw)
        # Nothing is stored, so NUL characters may pass; no pattern can hold a lone surrogate.
        strict_json.check(data, max_depth=MAX_BODY_DEPTH, nul=True)
    except strict_json.InvalidJSON as exc:
        raise _invalid(exc.msg, ["body", *exc.loc]) from None
    except RecursionError:
        raise _invalid("The request body is nested too deeply.") from None
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise _invalid(f"The request body is not valid JSON: {exc}.") from None
    return data


@router.post(
    "/validate",
    response={200: SchemaValidationOut, 413: ErrorOut, 429: ErrorOut},
    throttle=[validate_throttle],
    exclude_none=True,
    openapi_extra={"requestBody": REQUEST_BODY},
    summary="Check a task output schema",
    url_name="schemas_validate",
)
def validate(request: HttpRequest):
    """Every problem with `schema` as a task output schema, each with its JSON path.
    Throttled per user (`API_SCHEMA_VALIDATE_RATE`, 120 a minute)."""
    body = _body(request)
    if not isinstance(body, dict) or "schema" not in body:
        raise _invalid("Send a JSON object with the schema under the key 'schema'.")
    schema = body["schema"]
    if not isinstance(schema, dict):
        raise _invalid("The schema must be a JSON object.", ["body", "schema"])
    errors = schema_errors(schema)
    if not errors:
        return {"valid": True}
    return {"valid": False, "errors": [{"path": e.path, "msg": e.msg} for e in errors]}
