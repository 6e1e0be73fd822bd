"""Schemas shared by every router: the one error shape and pagination."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from ninja import Field as NinjaField
from ninja import Schema
from ninja.pagination import LimitOffsetPagination
from pydantic import Field, PlainSerializer

# Money out of the API as a plain decimal string: "0.00150000", never "0E-8" or "1.5E+3".
Money = Annotated[Decimal, PlainSerializer(lambda d: format(d, "f"), return_type=str)]


class ErrorItem(Schema):
    loc: list[str | int] = Field(description="Where the problem is, e.g. [\"body\", \"name\"].")
    msg: str


class ErrorOut(Schema):
    detail: str
    errors: list[ErrorItem] = Field(default_factory=list)


# Responses every authenticated operation can give, documented once.
AUTH_ERRORS: dict[int, Any] = {401: ErrorOut, 403: ErrorOut, 422: ErrorOut}
READ_ERRORS: dict[int, Any] = {**AUTH_ERRORS, 404: ErrorOut}
WRITE_ERRORS: dict[int, Any] = {**READ_ERRORS, 400: ErrorOut, 409: ErrorOut}

# Ids of our tables are 64-bit; anything larger cannot exist.
MAX_ID = 2**63 - 1


MAX_PAGE_SIZE = 200


class Page(LimitOffsetPagination):
    """limit/offset pagination; the page size is capped so one request stays cheap."""

    class Input(Schema):
        limit: int = NinjaField(50, ge=1, le=MAX_PAGE_SIZE, description=f"Page size, at most {MAX_PAGE_SIZE}.")
        offset: int = NinjaField(0, ge=0, le=10**9)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_limit=MAX_PAGE_SIZE, **kwargs)
