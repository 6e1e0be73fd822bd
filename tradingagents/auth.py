"""API authentication: bearer tokens, and the staff session (+ CSRF) for the admin's
own JavaScript. Both resolve to an active user; permissions are checked per write."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone
from django.utils.functional import SimpleLazyObject, empty
from ninja.errors import HttpError
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf

from tradingagents import hot_reads
from tradingagents.cache import cache_available, get_many_on_loop, safe_get, safe_get_many, safe_set
from tradingagents.models import APIToken
from tradingagents.services import token_hash

# Writing last_used_at on every request would turn each read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def token_cache_key(key_hash: str) -> str:
    return f"apitoken:{key_hash}"


def user_for_token(token: str) -> AbstractBaseUser | None:
    """The active user owning an unrevoked token, or None.

    This runs on every request. The lookup is kept in the shared cache for a few
    seconds (a database round trip per request costs a third of the API's throughput);
    revoking or deleting a token and deactivating a user drop the entry at once
    (tradingagents.signals). The user row itself is only loaded when something needs
    more than its id (a permission check, a history record). When the cache is down,
    the database answers (tradingagents.cache.safe_get)."""
    if not token:
        return None
    key_hash = token_hash(token)
    key = token_cache_key(key_hash)
    seconds = getattr(settings, "API_TOKEN_CACHE_SECONDS", 30)
    entry = safe_get(key) if seconds else None
    if entry is None:
        entry = (
            APIToken.objects.filter(key_hash=key_hash, revoked_at__isnull=True, user__is_active=True)
            .values_list("pk", "user_id", "last_used_at")
            .first()
        )
        if entry is None:
            return None
        if seconds:
            safe_set(key, tuple(entry), seconds)
    token_id, user_id, last_used_at = entry
    if _last_use_stale(last_used_at):
        now = timezone.now()
        APIToken.objects.filter(pk=token_id).update(last_used_at=now)
        if seconds:
            safe_set(key, (token_id, user_id, now), seconds)
    return TokenUser(user_id)


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

    def __bool__(self) -> bool:  # ninja tests the auth result for truth
        return True

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        # Django's answer costs three queries (the user, its permissions, its groups');
        # with the ModelBackend alone one query gives the same, kept for the request.
        if obj is not None or list(settings.AUTHENTICATION_BACKENDS) != [MODEL_BACKEND]:
            if self._wrapped is empty:
                self._setup()
            return self._wrapped.has_perm(perm, obj)
        if "_token_perms" not in self.__dict__:
            self.__dict__["_token_perms"] = cached_user_permissions(self.pk)
        is_active, is_superuser, perms = self.__dict__["_token_perms"]
        return is_active and (is_superuser or perm in perms)

    async def has_perm_on_loop(self, perm: str) -> bool | None:
        """has_perm(perm) when the cache answers it (or an earlier check of this
        request did), read from the caller's event loop without a hop to a thread;
        else None: the database must answer, where it is."""
        if list(settings.AUTHENTICATION_BACKENDS) != [MODEL_BACKEND]:
            return None
        if "_token_perms" not in self.__dict__:
            perms = await _user_permissions_on_loop(self.pk)
            if perms is None:
                return None
            self.__dict__["_token_perms"] = perms
        return self.has_perm(perm)


MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


PERMISSIONS_GENERATION_KEY = "authperms:generation"


def permissions_cache_key(user_id: int) -> str:
    return f"authperms:{user_id}"


def cached_user_permissions(user_id: int) -> tuple[bool, bool, frozenset[str]]:
    """user_permissions, kept in the shared cache as long as a token lookup is
    (API_TOKEN_CACHE_SECONDS): a call with a cached token then reads no table at all.
    Each entry carries the permissions generation it was read under; any change to a
    user, a group, a permission or who has which sets a new generation
    (tradingagents.signals), so an entry from before it is never used again."""
    seconds = getattr(settings, "API_TOKEN_CACHE_SECONDS", 30)
    if not seconds or not cache_available():
        return user_permissions(user_id)
    key = permissions_cache_key(user_id)
    found = safe_get_many([PERMISSIONS_GENERATION_KEY, key])
    generation = found.get(PERMISSIONS_GENERATION_KEY)
    perms = _current(generation, found.get(key))
    if perms is not None:
        return perms
    if generation is None:
        # None is never a generation (an evicted key must not revive older entries).
        generation = _new_generation()
    perms = user_permissions(user_id)
    safe_set(key, (generation, perms), seconds)
    return perms


async def _user_permissions_on_loop(user_id: int) -> tuple[bool, bool, frozenset[str]] | None:
    """cached_user_permissions' answer when the cache holds it (read from the event
    loop, tradingagents.cache.get_many_on_loop), else None."""
    if not getattr(settings, "API_TOKEN_CACHE_SECONDS", 30):
        return None
    key = permissions_cache_key(user_id)
    found = await get_many_on_loop([PERMISSIONS_GENERATION_KEY, key])
    return _current(found.get(PERMISSIONS_GENERATION_KEY), found.get(key)) if found is not None else None


def _current(generation: str | None, entry: Any) -> tuple[bool, bool, frozenset[str]] | None:
    """A cached permission set, if it was read under the current generation."""
    return entry[1] if generation is not None and entry is not None and entry[0] == generation else None


def _new_generation() -> str:
    import uuid

    generation = uuid.uuid4().hex
    safe_set(PERMISSIONS_GENERATION_KEY, generation, None, always=True)
    return generation


def permissions_changed() -> None:
    """Retire every cached permission set (a new generation), now and once the
    current transaction commits (a request may read the old rows in between)."""
    from django.db import transaction

    _new_generation()
    transaction.on_commit(_new_generation)


def user_permissions(user_id: int) -> tuple[bool, bool, frozenset[str]]:
    """(is_active, is_superuser, "app_label.codename" of its own and its groups'
    permissions) of a user, in one query: what ModelBackend.has_perm decides from."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group, Permission
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection

    user_model = get_user_model()
    q = connection.ops.quote_name
    user_perms = user_model._meta.get_field("user_permissions").remote_field.through._meta.db_table
    user_groups = user_model._meta.get_field("groups").remote_field.through._meta.db_table
    group_perms = Group._meta.get_field("permissions").remote_field.through._meta.db_table
    sql = (
        f"SELECT u.{q('is_active')}, u.{q('is_superuser')}, ct.{q('app_label')}, p.{q('codename')} "
        f"FROM {q(user_model._meta.db_table)} u "
        f"LEFT JOIN (SELECT up.{q('permission_id')} AS pid FROM {q(user_perms)} up WHERE up.{q('user_id')} = %s "
        f"UNION SELECT gp.{q('permission_id')} FROM {q(user_groups)} ug JOIN {q(group_perms)} gp "
        f"ON gp.{q('group_id')} = ug.{q('group_id')} WHERE ug.{q('user_id')} = %s) x ON 1 = 1 "
        f"LEFT JOIN {q(Permission._meta.db_table)} p ON p.{q('id')} = x.pid "
        f"LEFT JOIN {q(ContentType._meta.db_table)} ct ON ct.{q('id')} = p.{q('content_type_id')} "
        f"WHERE u.{q(user_model._meta.pk.column)} = %s"
    )
    rows = hot_reads.fetch_all(sql, [user_id, user_id, user_id])
    if not rows:
        return False, False, frozenset()
    return bool(rows[0][0]), bool(rows[0][1]), frozenset(f"{app}.{code}" for _, _, app, code in rows if code)


async def cached_user_for_token(token: str) -> AbstractBaseUser | None:
    """user_for_token's answer when the cache holds it (a fresh entry that needs no
    last_used_at write), read from the caller's event loop without a hop to a thread
    (tradingagents.cache.get_many_on_loop); else None."""
    if not token or not getattr(settings, "API_TOKEN_CACHE_SECONDS", 30):
        return None
    key = token_cache_key(token_hash(token))
    found = await get_many_on_loop([key])
    entry = found.get(key) if found is not None else None
    if entry is None or _last_use_stale(entry[2]):
        return None
    return TokenUser(entry[1])


class TokenAuth(HttpBearer):
    """On an async view (a running event loop in this thread) the answer is a
    coroutine, so that ninja does not hop to a thread for it: the token is read from
    the cache from the loop when it is there, else on the runner's database threads."""

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
        from agents_llm.runner import db_call

        user = await cached_user_for_token(token)
        if user is None:
            user = await db_call(user_for_token, token)
        return self._accept(request, user)

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


def require_perm(request: HttpRequest, *perms: str) -> None:
    """Every write checks the Django model permission of what it changes, so the
    admin's groups govern the API too."""
    user = request.auth  # type: ignore[attr-defined]
    missing = [p for p in perms if not user.has_perm(p)]
    if missing:
        raise HttpError(403, f"Permission denied: this needs {', '.join(missing)}.")


async def require_perm_on_loop(request: HttpRequest, perm: str) -> bool:
    """require_perm(request, perm) when the cache answers it, read from the caller's
    event loop: True once checked (HttpError 403 when denied), False when the answer
    needs the database (the caller then calls require_perm where the database is)."""
    user = request.auth  # type: ignore[attr-defined]
    if not isinstance(user, TokenUser) or await user.has_perm_on_loop(perm) is None:
        return False
    require_perm(request, perm)
    return True
