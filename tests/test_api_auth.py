"""Who gets in: bearer tokens (hashed, revocable), staff sessions with CSRF."""

from __future__ import annotations

import hashlib
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from tests.api_support import ApiClient, anonymous, as_outsider, as_reader, assert_error_shape, client_for  # noqa: F401
from tradingagents.models import APIToken
from tradingagents.services import api_token_create, api_token_revoke

pytestmark = pytest.mark.django_db


def test_a_token_is_stored_only_as_a_hash_and_a_short_prefix(reader):
    row, token = api_token_create(user=reader, name="ci")

    row.refresh_from_db()
    assert row.key_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token.startswith(row.prefix) and len(row.prefix) < len(token)
    assert not APIToken.objects.filter(key_hash=token).exists()


def test_a_request_without_credentials_gets_401_in_the_error_shape(anonymous):
    body = assert_error_shape(anonymous.get("/agents"), 401)
    assert "Bearer" in body["detail"]


def test_a_write_without_credentials_gets_401_not_a_csrf_403(anonymous):
    assert_error_shape(anonymous.post("/agents", {"name": "x"}), 401)


def test_an_unknown_token_gets_401(db):
    assert_error_shape(ApiClient("ta_not-a-real-token").get("/agents"), 401)


def test_a_revoked_token_gets_401(reader):
    row, token = api_token_create(user=reader)
    assert ApiClient(token).get("/agents").status_code == 200

    api_token_revoke(token=row)

    assert_error_shape(ApiClient(token).get("/agents"), 401)
    assert APIToken.objects.get(pk=row.pk).revoked_at is not None


def test_the_token_of_an_inactive_user_gets_401(as_outsider):
    assert_error_shape(as_outsider.get("/agents"), 401)


def test_a_used_token_records_when_it_was_last_used(reader):
    row, token = api_token_create(user=reader)
    assert row.last_used_at is None

    ApiClient(token).get("/agents")

    row.refresh_from_db()
    assert row.last_used_at is not None


def test_a_staff_session_can_read(reader):
    client = Client()
    client.force_login(reader)
    assert client.get("/api/v1/agents").status_code == 200


def test_a_staff_session_write_needs_the_csrf_token(editor):
    client = Client(enforce_csrf_checks=True)
    client.force_login(editor)

    refused = client.post("/api/v1/agents", {"name": "csrf-less"}, content_type="application/json")
    client.get("/admin/")  # sets the csrftoken cookie
    csrf = client.cookies["csrftoken"].value
    accepted = client.post(
        "/api/v1/agents", {"name": "with-csrf"}, content_type="application/json", headers={"X-CSRFToken": csrf}
    )

    body = assert_error_shape(refused, 403)
    assert "CSRF" in body["detail"]
    assert accepted.status_code == 201, accepted.content
    assert accepted.json()["name"] == "with-csrf"


def test_a_session_of_a_user_who_is_not_staff_gets_401(db):
    from django.contrib.auth.models import User

    user = User.objects.create_user("plain", password="plain-pass-123")
    client = Client()
    client.force_login(user)
    assert_error_shape(client.get("/api/v1/agents"), 401)


def test_createapitoken_prints_a_working_token_once(reader):
    out, err = StringIO(), StringIO()
    call_command("createapitoken", "reader", "--name", "ci", stdout=out, stderr=err)
    token = out.getvalue().strip()

    row = APIToken.objects.get(user=reader)
    assert row.name == "ci" and row.key_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in err.getvalue()
    assert ApiClient(token).get("/agents").status_code == 200


def test_createapitoken_refuses_an_unknown_user(db):
    with pytest.raises(CommandError, match="No user named 'ghost'"):
        call_command("createapitoken", "ghost")


def test_the_admin_shows_a_new_token_once_and_stores_only_its_hash(superuser, reader):
    client = Client()
    client.force_login(superuser)

    response = client.post("/admin/tradingagents/apitoken/add/", {"user": reader.pk, "name": "dashboard"})

    row = APIToken.objects.get(user=reader)
    token = response.context["token"]
    assert response.status_code == 200
    assert token.encode() in response.content and b"will not be shown again" in response.content
    assert row.key_hash == hashlib.sha256(token.encode()).hexdigest()
    change_page = client.get(f"/admin/tradingagents/apitoken/{row.pk}/change/")
    assert token.encode() not in change_page.content


def test_the_admin_revoke_action_revokes_the_selected_tokens(superuser, reader):
    row, token = api_token_create(user=reader)
    client = Client()
    client.force_login(superuser)

    client.post("/admin/tradingagents/apitoken/", {"action": "revoke", "_selected_action": [row.pk]})

    row.refresh_from_db()
    assert row.revoked_at is not None
    assert ApiClient(token).get("/agents").status_code == 401


def test_a_staff_user_cannot_mint_a_token_for_someone_else_in_the_admin(editor, superuser):
    client = Client()
    client.force_login(editor)

    response = client.post("/admin/tradingagents/apitoken/add/", {"user": superuser.pk, "name": "escalate"})

    assert response.status_code == 200  # the form is shown again with an error
    assert not APIToken.objects.filter(user=superuser).exists()


def test_revoking_a_token_that_was_just_used_shuts_it_out_at_once(reader):
    row, token = api_token_create(user=reader)
    client = ApiClient(token)
    assert client.get("/agents").status_code == 200  # the lookup is cached now

    row.refresh_from_db()
    api_token_revoke(token=row)

    assert_error_shape(client.get("/agents"), 401)


def test_deleting_a_token_that_was_just_used_shuts_it_out_at_once(reader):
    row, token = api_token_create(user=reader)
    client = ApiClient(token)
    assert client.get("/agents").status_code == 200

    row.delete()

    assert_error_shape(client.get("/agents"), 401)


def test_deactivating_a_user_shuts_out_their_tokens_at_once(reader):
    _, token = api_token_create(user=reader)
    client = ApiClient(token)
    assert client.get("/agents").status_code == 200

    reader.is_active = False
    reader.save()

    assert_error_shape(client.get("/agents"), 401)
