"""/api/v1/providers: CRUD, filters, write-only secrets, the permission matrix."""

from __future__ import annotations

import pytest

from providers.models import LLMProvider, ValidationStatus
from tests.api_support import anonymous, as_editor, as_outsider, as_reader, as_superuser, assert_error_shape  # noqa: F401

pytestmark = pytest.mark.django_db


def test_it_creates_a_provider_and_keeps_the_key_encrypted_and_write_only(as_editor):
    response = as_editor.post("/providers", {"name": "oai", "provider_type": "openai", "api_key": "sk-test-0000WXYZ"})

    body = response.json()
    provider = LLMProvider.objects.get(name="oai")
    assert response.status_code == 201
    assert body["has_api_key"] is True and body["api_key_hint"] == "…WXYZ"
    assert "api_key" not in body and "api_key_encrypted" not in body
    assert body["validation_status"] == "pending"
    assert provider.api_key_encrypted and "sk-test-0000WXYZ" not in provider.api_key_encrypted


def test_it_lists_providers_with_filters_ordering_and_pagination(as_reader, offline_provider, openai_provider):
    page = as_reader.get("/providers", limit=1, ordering="-name").json()
    only_openai = as_reader.get("/providers", provider_type="openai").json()
    searched = as_reader.get("/providers", q="offl").json()

    assert page["count"] == 2 and [p["name"] for p in page["items"]] == ["openai-main"]
    assert [p["name"] for p in only_openai["items"]] == ["openai-main"]
    assert [p["name"] for p in searched["items"]] == ["offline"]


def test_it_reads_one_provider(as_reader, openai_provider):
    body = as_reader.get(f"/providers/{openai_provider.pk}").json()
    assert body["name"] == "openai-main" and body["api_key_hint"] == "…0001"


def test_it_updates_part_of_a_provider_and_keeps_the_key_when_none_is_sent(as_editor, openai_provider):
    before = openai_provider.api_key_encrypted

    response = as_editor.patch(f"/providers/{openai_provider.pk}", {"enabled": False})

    openai_provider.refresh_from_db()
    assert response.status_code == 200 and response.json()["enabled"] is False
    assert openai_provider.enabled is False and openai_provider.api_key_encrypted == before


def test_an_empty_api_key_removes_the_stored_key(as_editor, openai_provider):
    response = as_editor.patch(f"/providers/{openai_provider.pk}", {"api_key": ""})

    openai_provider.refresh_from_db()
    assert response.json()["has_api_key"] is False and openai_provider.api_key_encrypted == ""


def test_it_deletes_a_provider(as_editor, openai_provider):
    response = as_editor.delete(f"/providers/{openai_provider.pk}")
    assert response.status_code == 204
    assert not LLMProvider.objects.filter(pk=openai_provider.pk).exists()


def test_deleting_a_provider_still_used_by_a_config_is_a_409(as_editor, offline_config, offline_provider):
    body = assert_error_shape(as_editor.delete(f"/providers/{offline_provider.pk}"), 409)
    assert "in use" in body["detail"]
    assert LLMProvider.objects.filter(pk=offline_provider.pk).exists()


def test_a_duplicate_name_is_a_409_naming_the_field(as_editor, openai_provider):
    body = assert_error_shape(as_editor.post("/providers", {"name": "openai-main", "provider_type": "openai"}), 409)
    assert body["errors"][0]["loc"] == ["body", "name"]
    assert LLMProvider.objects.filter(name="openai-main").count() == 1


def test_an_unknown_provider_type_is_a_422_naming_the_field(as_editor):
    body = assert_error_shape(as_editor.post("/providers", {"name": "x", "provider_type": "skynet"}), 422)
    assert body["errors"][0]["loc"] == ["body", "provider_type"]
    assert not LLMProvider.objects.exists()


def test_an_openai_compatible_provider_without_base_url_is_a_422_naming_base_url(as_editor):
    body = assert_error_shape(as_editor.post("/providers", {"name": "local", "provider_type": "openai_compatible"}), 422)
    assert body["errors"][0]["loc"] == ["body", "base_url"]


def test_validate_marks_the_provider_pending_and_answers_202(as_editor, openai_provider):
    LLMProvider.objects.filter(pk=openai_provider.pk).update(validation_status=ValidationStatus.INVALID)

    response = as_editor.post(f"/providers/{openai_provider.pk}/validate")

    assert response.status_code == 202 and response.json()["validation_status"] == "pending"
    openai_provider.refresh_from_db()
    assert openai_provider.validation_status == ValidationStatus.PENDING


def test_validate_enqueues_the_background_check(as_editor, openai_provider, monkeypatch, django_capture_on_commit_callbacks):
    sent = []
    monkeypatch.setattr("providers.tasks.validate_provider.send", lambda provider_id: sent.append(provider_id))

    with django_capture_on_commit_callbacks(execute=True):
        as_editor.post(f"/providers/{openai_provider.pk}/validate")

    assert sent == [openai_provider.pk]


@pytest.mark.parametrize(
    "who, read, create, update, delete",
    [
        ("as_superuser", 200, 201, 200, 204),
        ("as_editor", 200, 201, 200, 204),
        ("as_reader", 200, 403, 403, 403),
        ("as_outsider", 401, 401, 401, 401),
        ("anonymous", 401, 401, 401, 401),
    ],
)
def test_permission_matrix(request, who, read, create, update, delete, openai_provider):
    client = request.getfixturevalue(who)

    assert client.get("/providers").status_code == read
    assert client.get(f"/providers/{openai_provider.pk}").status_code == read
    assert client.post("/providers", {"name": "new-one", "provider_type": "offline"}).status_code == create
    assert client.patch(f"/providers/{openai_provider.pk}", {"enabled": False}).status_code == update
    assert client.post(f"/providers/{openai_provider.pk}/validate").status_code == (202 if update == 200 else update)
    assert client.delete(f"/providers/{openai_provider.pk}").status_code == delete
    assert LLMProvider.objects.filter(name="new-one").exists() == (create == 201)
    assert LLMProvider.objects.filter(pk=openai_provider.pk).exists() == (delete != 204)
