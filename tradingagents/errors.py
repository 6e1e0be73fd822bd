"""Exceptions any router may raise; tradingagents.api turns them into the error shape."""

from __future__ import annotations


class BodyTooLarge(Exception):
    """A body over an endpoint's own limit (413), like Django's RequestDataTooBig."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"The request body is too large (the limit is {limit} bytes).")
