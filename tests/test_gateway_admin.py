"""Operators see gateway calls in the admin and edit an agent's aliases there."""

from __future__ import annotations

import pytest

from agents_llm.models import AgentAlias, LLMCall
from tests.conftest import CANARY_LAST4
from tests.gateway_support import caller, gateway, make_agent, user_message, vendor, vendor_provider  # noqa: F401

pytestmark = pytest.mark.django_db


def test_the_calls_list_and_a_call_page_show_what_answered_without_secrets(client, superuser, gateway, vendor, vendor_provider):
    make_agent("trader", vendor_provider, "vendor-a", aliases=["Trader"])
    gateway.chat({"model": "Trader", "messages": user_message()})
    call = LLMCall.objects.get()
    client.force_login(superuser)

    listing = client.get("/admin/agents_llm/llmcall/?status__exact=succeeded")
    page = client.get(f"/admin/agents_llm/llmcall/{call.pk}/change/")

    assert listing.status_code == 200 and page.status_code == 200
    assert "vendor/vendor-a" in listing.content.decode()
    assert "Trader" in page.content.decode()
    for response in (listing, page):
        assert CANARY_LAST4 not in response.content.decode()


def test_aliases_are_edited_on_the_agent_page_and_clashes_are_refused(client, superuser, vendor_provider):
    bull = make_agent("bull_researcher", vendor_provider, "m", aliases=["Bull Researcher"])
    bear = make_agent("bear_researcher", vendor_provider, "m")
    client.force_login(superuser)
    page = client.get(f"/admin/agents_llm/agentconfig/{bear.pk}/change/")
    assert "Gateway aliases" in page.content.decode()

    form = _agent_form(page)
    form.update({"alias_rows-TOTAL_FORMS": "1", "alias_rows-0-name": "bull researcher"})
    refused = client.post(f"/admin/agents_llm/agentconfig/{bear.pk}/change/", form)

    assert refused.status_code == 200
    assert "already an alias of agent &#x27;bull_researcher&#x27;" in refused.content.decode()
    assert list(AgentAlias.objects.values_list("agent_id", "name")) == [(bull.pk, "Bull Researcher")]

    form["alias_rows-0-name"] = "Bear Researcher"
    saved = client.post(f"/admin/agents_llm/agentconfig/{bear.pk}/change/", form)

    assert saved.status_code == 302
    assert AgentAlias.objects.get(agent=bear).name == "Bear Researcher"


def _agent_form(page) -> dict[str, str]:
    """The change form's current values, as a browser would submit them."""
    from html.parser import HTMLParser

    values: dict[str, str] = {}

    class Parser(HTMLParser):
        select: str | None = None
        textarea: str | None = None

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            name = a.get("name")
            if tag == "input" and name and a.get("type") not in ("submit", "button", "file"):
                if a.get("type") == "checkbox":
                    if "checked" in a:
                        values[name] = "on"
                else:
                    values[name] = a.get("value") or ""
            elif tag == "select" and name:
                self.select = name
                values.setdefault(name, "")
            elif tag == "option" and self.select and "selected" in a:
                values[self.select] = a.get("value") or ""
            elif tag == "textarea" and name:
                self.textarea = name
                values[name] = ""

        def handle_endtag(self, tag):
            if tag == "select":
                self.select = None
            if tag == "textarea":
                self.textarea = None

        def handle_data(self, data):
            if self.textarea:
                values[self.textarea] += data

    Parser().feed(page.content.decode())
    return values
