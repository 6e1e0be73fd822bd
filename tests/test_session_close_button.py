"""The session page's "Close session" button closes the session (a POST with the
form's CSRF token), for its owner or whoever may change sessions; others get 403 and
the session stays open. It used to only navigate back."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from agents_llm.metering.sessions import session_create
from agents_llm.models import MeteredSession, SessionStatus

pytestmark = pytest.mark.django_db


def _page(client: Client, session: MeteredSession) -> str:
    return client.get(reverse("admin:agents_llm_meteredsession_change", args=[session.pk])).content.decode()


def test_the_button_posts_to_the_close_view_which_closes_the_session(superuser):
    session, _ = session_create(owner=superuser, name="NVDA")
    client = Client(enforce_csrf_checks=True)
    client.force_login(superuser)

    html = _page(client, session)
    url = reverse("admin:agents_llm_meteredsession_close", args=[session.pk])
    assert f'formaction="{url}" formmethod="post"' in html
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    refused = client.post(url)  # no CSRF token
    assert refused.status_code == 403
    assert MeteredSession.objects.get(pk=session.pk).status == SessionStatus.OPEN

    response = client.post(url, {"csrfmiddlewaretoken": token})

    assert response.status_code == 302 and response["Location"] == reverse(
        "admin:agents_llm_meteredsession_change", args=[session.pk])
    closed = MeteredSession.objects.get(pk=session.pk)
    assert closed.status == SessionStatus.CLOSED and closed.closed_at is not None
    after = _page(client, session)
    assert "Closed session" in after and 'data-role="close-session"' not in after


def test_a_get_does_not_close_the_session(client, superuser):
    session, _ = session_create(owner=superuser, name="NVDA")
    client.force_login(superuser)

    response = client.get(reverse("admin:agents_llm_meteredsession_close", args=[session.pk]))

    assert response.status_code == 405
    assert MeteredSession.objects.get(pk=session.pk).status == SessionStatus.OPEN


def test_its_owner_may_close_it_without_the_change_permission(client, reader):
    session, _ = session_create(owner=reader, name="mine")
    client.force_login(reader)

    assert 'data-role="close-session"' in _page(client, session)
    response = client.post(reverse("admin:agents_llm_meteredsession_close", args=[session.pk]))

    assert response.status_code == 302
    assert MeteredSession.objects.get(pk=session.pk).status == SessionStatus.CLOSED


def test_a_reader_who_does_not_own_it_sees_no_button_and_gets_403(client, superuser, reader):
    session, _ = session_create(owner=superuser, name="not theirs")
    client.force_login(reader)

    assert 'data-role="close-session"' not in _page(client, session)
    response = client.post(reverse("admin:agents_llm_meteredsession_close", args=[session.pk]))

    assert response.status_code == 403
    assert MeteredSession.objects.get(pk=session.pk).status == SessionStatus.OPEN


def test_a_user_with_the_change_permission_may_close_anyones(client, superuser):
    session, _ = session_create(owner=superuser, name="team")
    closer = User.objects.create_user("closer", password="closer-pass-123", is_staff=True)
    closer.user_permissions.set(Permission.objects.filter(codename__in=["view_meteredsession", "change_meteredsession"]))
    client.force_login(closer)

    response = client.post(reverse("admin:agents_llm_meteredsession_close", args=[session.pk]))

    assert response.status_code == 302
    assert MeteredSession.objects.get(pk=session.pk).status == SessionStatus.CLOSED
