"""API authentication: bearer tokens, and the staff session (+ CSRF) for the admin's
own JavaScript. Both resolve to an active user; permissions are checked per write."""

from __future__ import annotations

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

from tradingagents.cache import safe_get, safe_set
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
    now = timezone.now()
    if last_used_at is None or now - last_used_at > LAST_USED_RESOLUTION:
        APIToken.objects.filter(pk=token_id).update(last_used_at=now)
        if seconds:
            safe_set(key, (token_id, user_id, now), seconds)
    return TokenUser(user_id)


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
            self.__dict__["_token_perms"] = user_permissions(self.pk)
        is_active, is_superuser, perms = self.__dict__["_token_perms"]
        return is_active and (is_superuser or perm in perms)


MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


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
    with connection.cursor() as cursor:
        cursor.execute(sql, [user_id, user_id, user_id])
        rows = cursor.fetchall()
    if not rows:
        return False, False, frozenset()
    return bool(rows[0][0]), bool(rows[0][1]), frozenset(f"{app}.{code}" for _, _, app, code in rows if code)


class TokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> AbstractBaseUser | None:
        user = user_for_token(token.strip())
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
