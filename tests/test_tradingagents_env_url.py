"""`manage.py tradingagents_env --url` takes the server's URL with or without the
gateway's /v1 (and a trailing slash): the line it prints ends in one /v1, never /v1/v1."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tradingagents.models import APIToken

pytestmark = pytest.mark.django_db


def _backend_url(url: str) -> str:
    out = StringIO()
    call_command("tradingagents_env", "--url", url, stdout=out, stderr=StringIO())
    return dict(line.split("=", 1) for line in out.getvalue().splitlines())["TRADINGAGENTS_LLM_BACKEND_URL"]


@pytest.mark.parametrize("url", [
    "http://10.0.0.5:8000", "http://10.0.0.5:8000/", "http://10.0.0.5:8000/v1", "http://10.0.0.5:8000/v1/",
    " http://10.0.0.5:8000/V1// ",
])
def test_the_url_with_or_without_v1_gives_one_v1(superuser, url):
    assert _backend_url(url) == "http://10.0.0.5:8000/v1"
    assert APIToken.objects.filter(user=superuser).count() == 1


def test_a_url_under_a_path_keeps_its_path(superuser):
    assert _backend_url("https://example.org/agents/v1") == "https://example.org/agents/v1"


@pytest.mark.parametrize("url", ["10.0.0.5:8000", "ftp://host/v1", "/v1"])
def test_a_url_that_is_not_a_servers_is_refused_before_a_token_is_made(superuser, url):
    with pytest.raises(CommandError, match="--url .*http://HOST:PORT"):
        _backend_url(url)
    assert not APIToken.objects.exists()
