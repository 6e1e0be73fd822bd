"""Retire every cached token lookup and permission set (tradingagents.auth) the moment
one stops being true: any change to a token, a user, a group or a permission bumps
the AUTH version (tradingagents.versions), which every process checks."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import m2m_changed, post_delete, post_save

from tradingagents import versions
from tradingagents.models import APIToken


def _changed(sender: Any, **kwargs: Any) -> None:
    if kwargs.get("action", "post_").startswith("post_"):
        versions.bump(versions.AUTH)


def connect() -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group, Permission

    user_model = get_user_model()
    for model in (user_model, Group, Permission, APIToken):
        post_save.connect(_changed, sender=model, dispatch_uid=f"auth-version-save-{model.__name__}")
        post_delete.connect(_changed, sender=model, dispatch_uid=f"auth-version-delete-{model.__name__}")
    for through in (user_model.user_permissions.through, user_model.groups.through, Group.permissions.through):
        m2m_changed.connect(_changed, sender=through, dispatch_uid=f"auth-version-m2m-{through.__name__}")
