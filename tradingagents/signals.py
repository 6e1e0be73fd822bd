"""Drop cached API token lookups and permission sets the moment they stop being true
(see auth.user_for_token and auth.cached_user_permissions)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save

from tradingagents.cache import safe_delete_many
from tradingagents.models import APIToken


def _forget(key_hashes: list[str]) -> None:
    from tradingagents.auth import token_cache_key

    keys = [token_cache_key(h) for h in key_hashes]
    if not keys:
        return
    # With the cache down this cannot drop the entry; it expires within
    # API_TOKEN_CACHE_SECONDS, and until Redis answers nobody reads it.
    safe_delete_many(keys)
    # Again after commit: a request that read the old row before the commit may have
    # cached it in between.
    transaction.on_commit(lambda: safe_delete_many(keys))


def _token_changed(sender: Any, instance: APIToken, **kwargs: Any) -> None:
    _forget([instance.key_hash])


def _user_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    if not instance.is_active:
        _forget(list(APIToken.objects.filter(user_id=instance.pk).values_list("key_hash", flat=True)))


def _permissions_changed(sender: Any, **kwargs: Any) -> None:
    from tradingagents.auth import permissions_changed

    if kwargs.get("action", "post_").startswith("post_"):
        permissions_changed()


def connect() -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group, Permission

    user_model = get_user_model()
    for model in (user_model, Group, Permission):
        post_save.connect(_permissions_changed, sender=model, dispatch_uid=f"authperms-save-{model.__name__}")
        post_delete.connect(_permissions_changed, sender=model, dispatch_uid=f"authperms-delete-{model.__name__}")
    for through in (user_model.user_permissions.through, user_model.groups.through, Group.permissions.through):
        m2m_changed.connect(_permissions_changed, sender=through, dispatch_uid=f"authperms-m2m-{through.__name__}")
    post_save.connect(_token_changed, sender=APIToken, dispatch_uid="apitoken-cache-save")
    post_delete.connect(_token_changed, sender=APIToken, dispatch_uid="apitoken-cache-delete")
    post_save.connect(_user_changed, sender=settings.AUTH_USER_MODEL, dispatch_uid="apitoken-cache-user")
