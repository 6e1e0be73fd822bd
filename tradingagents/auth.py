"""API authentication: bearer tokens, and the staff session (+ CSRF) for the admin's
own JavaScript. Both resolve to an active user; permissions are checked per write."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest
from django.utils import timezone
from django.utils.functional import SimpleLazyObject
from ninja.errors import HttpError
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf

from tradingagents import strict_json, versions
from tradingagents.dbthreads import db_call
from tradingagents.models import APIToken
from tradingagents.services import token_hash

# Writing last_used_at on every request would turn each read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)

# Kept per process while the AUTH version is current: any change to a token, a user, a
# group or a permission bumps it (tradingagents.signals), in every process.
_tokens = versions.VersionedCache((versions.AUTH,), 10_000)  # key hash -> (token id, user id, last used)
_permissions = versions.VersionedCache((versions.AUTH,), 10_000)  # user id -> (is_active, is_superuser, perms)


def user_for_token(token: str, seen: versions.Versions | None = None) -> AbstractBaseUser | None:
    """The active user owning an unrevoked token, or None. Runs on every request: a
    cached lookup costs no query (the user row itself is only loaded when something
    needs more than its id and permissions)."""
    if not token or strict_json.text_problem(token):  # a lone surrogate, a NUL: no token of ours
        return None
    key_hash = token_hash(token)
    seen = seen or _tokens.versions()
    entry = _tokens.get(key_hash, seen)
    if entry is None:
        entry = (
            APIToken.objects.filter(key_hash=key_hash, revoked_at__isnull=True, user__is_active=True)
            .values_list("pk", "user_id", "last_used_at")
            .first()
        )
        if entry is None:
            return None
        _tokens.put(key_hash, seen, tuple(entry))
    token_id, user_id, last_used_at = entry
    if _last_use_stale(last_used_at):
        now = timezone.now()
        APIToken.objects.filter(pk=token_id).update(last_used_at=now)
        _tokens.put(key_hash, seen, (token_id, user_id, now))
    return TokenUser(user_id)


async def auser_for_token(token: str, seen: versions.Versions | None = None) -> AbstractBaseUser | None:
    """user_for_token() from an event loop: a cached lookup (with the user's cached
    permissions) stays on the loop; anything else goes to a database thread. `seen`:
    the versions, when the caller read them already."""
    if not token or strict_json.text_problem(token):
        return None
    seen = seen or await _tokens.aversions()
    entry = _tokens.get(token_hash(token), seen)
    if entry is None or _last_use_stale(entry[2]):
        return await db_call(user_for_token, token)
    user = TokenUser(entry[1])
    perms = _permissions.get(user.pk, seen)
    if perms is not None:
        user.__dict__["_token_perms"] = perms
    return user


def _last_use_stale(last_used_at: Any) -> bool:
    """Whether a token's last_used_at is due to be written again."""
    return last_used_at is None or timezone.now() - last_used_at > LAST_USED_RESOLUTION


class TokenUser(SimpleLazyObject):
    """The token's (active) user, loaded on first use of anything but its id."""

    def __init__(self, user_id: int) -> None:
        from django.contrib.auth import get_user_model

        super().__init__(lambda: get_user_model().objects.get(pk=user_id))
        self.__dict__["_token_user_id"] = user_id

    @property
    def pk(self) -> int:
        return self.__dict__["_token_user_id"]

    id = pk

    @property
    def is_authenticated(self) -> bool:
        return True

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # isinstance() and inspect need no query: it is a user
        from django.contrib.auth import get_user_model

        return get_user_model()

    def __bool__(self) -> bool:  # ninja tests the auth result for truth
        return True

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        # Django's answer costs three queries (the user, its permissions, its groups');
        # with the ModelBackend alone one query gives the same, kept while current.
        if obj is not None or list(settings.AUTHENTICATION_BACKENDS) != [MODEL_BACKEND]:
            from django.contrib.auth import get_user_model

            return get_user_model()._default_manager.get(pk=self.pk).has_perm(perm, obj)
        if "_token_perms" not in self.__dict__:
            self.__dict__["_token_perms"] = cached_user_permissions(self.pk)
        is_active, is_superuser, perms = self.__dict__["_token_perms"]
        return is_active and (is_superuser or perm in perms)

    def known_perm(self, perm: str) -> bool | None:
        """has_perm(perm) when it is known without a query (else None)."""
        if "_token_perms" not in self.__dict__ or list(settings.AUTHENTICATION_BACKENDS) != [MODEL_BACKEND]:
            return None
        return self.has_perm(perm)


MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def cached_user_permissions(user_id: int) -> tuple[bool, bool, frozenset[str]]:
    """user_permissions(), kept while the AUTH version is current."""
    seen = _permissions.versions()
    perms = _permissions.get(user_id, seen)
    if perms is None:
        perms = user_permissions(user_id)
        _permissions.put(user_id, seen, perms)
    return perms


def user_permissions(user_id: int) -> tuple[bool, bool, frozenset[str]]:
    """(is_active, is_superuser, "app_label.codename" of its own and its groups'
    permissions) of a user: what ModelBackend.has_perm decides from."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from django.db.models import Q

    user = get_user_model().objects.filter(pk=user_id).values("is_active", "is_superuser").first()
    if user is None:
        return False, False, frozenset()
    codes = (
        Permission.objects.filter(Q(user__pk=user_id) | Q(group__user__pk=user_id))
        .values_list("content_type__app_label", "codename")
        .distinct()
    )
    return user["is_active"], user["is_superuser"], frozenset(f"{app}.{code}" for app, code in codes)


def clear() -> None:
    _tokens.clear()
    _permissions.clear()


class TokenAuth(HttpBearer):
    """On an async view (a running event loop in this thread) the answer is a
    coroutine, so that ninja does not hop to a thread for it: a cached token costs
    nothing, else it is read on a database thread (tradingagents.dbthreads)."""

    def __init__(self) -> None:
        super().__init__()
        self.is_async = True  # ninja then awaits what authenticate() returns when it is a coroutine

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return self._accept(request, user_for_token(token.strip()))
        return self._authenticate_async(request, token.strip())

    async def _authenticate_async(self, request: HttpRequest, token: str) -> AbstractBaseUser | None:
        return self._accept(request, await auser_for_token(token))

    @staticmethod
    def _accept(request: HttpRequest, user: AbstractBaseUser | None) -> AbstractBaseUser | None:
        if user is not None:
            # Services and django-simple-history read request.user.
            request.user = user
        return user


class StaffSessionAuth(APIKeyCookie):
    """A logged-in staff user's session. CSRF is only checked once a session user is
    found, so a request without credentials gets 401, not a CSRF 403."""

    param_name = "sessionid"

    def __init__(self) -> None:
        self.param_name = settings.SESSION_COOKIE_NAME
        super().__init__(csrf=True)

    def __call__(self, request: HttpRequest) -> Any:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or not user.is_active or not user.is_staff:
            return None
        if not getattr(request, "_ninja_csrf_exempt", False) and check_csrf(request):
            raise HttpError(403, "CSRF check failed: send the X-CSRFToken header with the session.")
        return user

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:  # pragma: no cover - see __call__
        return None


token_auth = TokenAuth()
session_auth = StaffSessionAuth()
API_AUTH = [token_auth, session_auth]


def may_read(request: HttpRequest, model: str) -> bool:
    """Whether the caller may read `model` ("app_label.modelname"): its view permission,
    or its change permission, as the admin decides."""
    app, name = model.split(".")
    user = request.auth  # type: ignore[attr-defined]
    return user.has_perm(f"{app}.view_{name}") or user.has_perm(f"{app}.change_{name}")


def require_read(request: HttpRequest, model: str) -> None:
    """Every read of a model checks its view permission, so the API shows no more than
    the admin does."""
    if not may_read(request, model):
        app, name = model.split(".")
        raise HttpError(403, f"Permission denied: reading these needs {app}.view_{name}.")


def require_perm(request: HttpRequest, *perms: str) -> None:
    """Every write checks the Django model permission of what it changes, so the
    admin's groups govern the API too."""
    user = request.auth  # type: ignore[attr-defined]
    missing = [p for p in perms if not user.has_perm(p)]
    if missing:
        raise HttpError(403, f"Permission denied: this needs {', '.join(missing)}.")
