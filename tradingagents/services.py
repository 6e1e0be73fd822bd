"""Writes for the access layer: API tokens."""

from __future__ import annotations

import hashlib
import secrets

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from tradingagents.models import APIToken

TOKEN_PREFIX = "ta_"
PREFIX_LENGTH = 10


def token_hash(token: str) -> str:
    """How a token is stored and looked up (also by the websocket consumer)."""
    return hashlib.sha256(token.encode()).hexdigest()


def api_token_create(*, user: AbstractBaseUser, name: str = "") -> tuple[APIToken, str]:
    """Create a token for `user`. Returns (row, token); the token itself is never
    stored, so this is the only moment it can be shown."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = APIToken(user=user, name=name, prefix=token[:PREFIX_LENGTH], key_hash=token_hash(token))
    row.full_clean()
    row.save()
    return row, token


def api_token_revoke(*, token: APIToken) -> APIToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token
