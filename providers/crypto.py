"""Encryption of stored secrets. The only module that decrypts.

Fernet tokens via MultiFernet: the first key (ENCRYPTION_KEY) encrypts, every key
(ENCRYPTION_KEY + ENCRYPTION_KEYS_PREVIOUS) is tried for decrypting, so keys can be
rotated without downtime and `manage.py rotatekeys` re-encrypts under the newest key.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class UndecryptableSecret(Exception):
    """No configured key can decrypt a stored secret. The message never holds the secret."""


@lru_cache(maxsize=8)
def _multifernet(keys: tuple[str, ...]) -> MultiFernet:
    fernets = []
    for position, key in enumerate(keys):
        try:
            fernets.append(Fernet(key.strip().encode()))
        except (ValueError, TypeError) as exc:
            name = "ENCRYPTION_KEY" if position == 0 else "ENCRYPTION_KEYS_PREVIOUS"
            raise ImproperlyConfigured(
                f"{name} holds a value that is not a Fernet key (32 url-safe base64-encoded "
                "bytes); generate one with "
                "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`."
            ) from exc
    return MultiFernet(fernets)


def _keys() -> tuple[str, ...]:
    return (settings.ENCRYPTION_KEY, *[k for k in settings.ENCRYPTION_KEYS_PREVIOUS if k])


def encrypt(plaintext: str) -> str:
    return _multifernet(_keys()).encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _multifernet(_keys()).decrypt(token.encode()).decode()
    except InvalidToken:
        raise UndecryptableSecret(
            "The stored API key cannot be decrypted with ENCRYPTION_KEY or any key in "
            "ENCRYPTION_KEYS_PREVIOUS. Add the key it was encrypted with to "
            "ENCRYPTION_KEYS_PREVIOUS, or enter the API key again."
        ) from None


def is_current(token: str) -> bool:
    """True when the newest key decrypts the token (rotation has nothing to do)."""
    try:
        Fernet(settings.ENCRYPTION_KEY.encode()).decrypt(token.encode())
    except InvalidToken:
        return False
    return True


def rotate(token: str) -> str:
    """Re-encrypt a token under the newest key. Raises UndecryptableSecret."""
    try:
        return _multifernet(_keys()).rotate(token.encode()).decode()
    except InvalidToken:
        decrypt(token)  # raises the explanatory error
        raise


def hint(last4: str) -> str:
    """How a stored secret is shown anywhere: only its last 4 characters."""
    return f"…{last4}" if last4 else ""
