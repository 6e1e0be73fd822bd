"""The schema builder in a real Chromium: build, save, reopen, change a bound, reject an invalid schema.

Needs Debian's chromium at /usr/bin/chromium (`.ci/run` installs it); without it the test fails.
Screenshots go to out/screenshots/ (kept by CI).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from playwright.sync_api import Locator, Page, expect

from agents_llm.models import TaskConfig
from tests.browser_support import SCREENSHOTS, browser, signed_in_page  # noqa: F401

pytestmark = pytest.mark.browser

EXPECTED = {
    "type": "object",
    "properties": {
        "signal": {"type": "string", "description": "Where the price goes.", "enum": ["buy", "hold", "sell"]},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        "approve": {"type": "boolean"},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 5},
        "risk": {
            "type": "object",
            "properties": {
                "level": {"type": "integer", "minimum": 1, "maximum": 5},
                "note": {"type": "string", "maxLength": 200},
            },
            "required": ["level"],
            "additionalProperties": False,
        },
    },
    "required": ["signal", "confidence", "approve", "tags", "risk"],
    "additionalProperties": False,
}


@pytest.fixture
def page(transactional_db, live_server, superuser, browser, monkeypatch) -> Iterator[Page]:  # noqa: F811
    with signed_in_page(browser, live_server.url, monkeypatch) as page:
        yield page


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"schema_builder_{name}.png"), full_page=True)


def add_field(page: Page, container: Locator, name: str, type_: str) -> Locator:
    """Click the container's "Add field" and fill the new card's name and type."""
    cards = container.locator(":scope > .sb-card")
    count = cards.count()
    container.locator("xpath=..").locator(":scope > .sb-object-foot [data-role=add-field]").first.click()
    card = cards.nth(count)
    card.locator(":scope > .sb-head [data-role=name]").fill(name)
    card.locator(":scope > .sb-head [data-role=type]").select_option(type_)
    return container.locator(":scope > .sb-card").nth(count)


def card(page: Page, path: str) -> Locator:
    return page.locator(f'.sb-card[data-path="{path}"]')


def preview(page: Page) -> dict:
    return json.loads(page.locator("[data-role=preview]").text_content())


def test_an_operator_builds_saves_changes_and_is_stopped_by_an_invalid_schema(page: Page, live_server):
    page.goto(f"{live_server.url}/admin/agents_llm/taskconfig/add/")
    page.fill("#id_name", "builder-task")
    page.fill("#id_prompt_template", "Analyse {ticker}.")
    root = page.locator("[data-role=cards]")

    signal = add_field(page, root, "signal", "string")
    signal.locator(":scope > [data-role=description]").fill("Where the price goes.")
    signal.locator(":scope > .sb-body [data-role=enum]").fill("buy\nhold\nsell")

    confidence = add_field(page, root, "confidence", "number")
    confidence.locator("[data-role=minimum]").fill("0")
    confidence.locator("[data-role=maximum]").fill("1")

    add_field(page, root, "approve", "boolean")

    tags = add_field(page, root, "tags", "array")
    tags.locator(":scope > .sb-body > label [data-role=maxItems]").fill("5")

    risk = add_field(page, root, "risk", "object")
    children = risk.locator(":scope > .sb-body > [data-role=children]")
    level = add_field(page, children, "level", "integer")
    level.locator("[data-role=minimum]").fill("1")
    level.locator("[data-role=maximum]").fill("5")
    note = add_field(page, children, "note", "string")
    note.locator(":scope > .sb-head [data-role=required]").uncheck()
    note.locator("[data-role=maxLength]").fill("200")

    # Reorder and remove: a scratch field moved above "risk", then removed again.
    add_field(page, root, "scratch", "string")
    card(page, "/properties/scratch").locator(":scope > .sb-head [data-role=move-up]").click()
    assert list(preview(page)["properties"])[-2:] == ["scratch", "risk"]
    card(page, "/properties/scratch").locator(":scope > .sb-head [data-role=remove]").click()

    expect(page.locator("[data-role=status]")).to_have_text("The schema is valid.")
    assert preview(page) == EXPECTED
    shot(page, "1_built")

    page.click("input[name=_continue]")
    expect(page.locator(".messagelist .success")).to_be_visible()
    task = TaskConfig.objects.get(name="builder-task")
    assert task.response_schema == EXPECTED
    assert task.schema_version == 1

    # Reopened: the cards are filled from the stored schema; change one bound.
    expect(card(page, "/properties/risk/properties/level")).to_be_visible()
    assert preview(page) == EXPECTED
    card(page, "/properties/confidence").locator("[data-role=maximum]").fill("0.9")
    shot(page, "2_reopened")
    page.click("input[name=_continue]")
    expect(page.locator(".messagelist .success")).to_be_visible()
    task.refresh_from_db()
    assert task.schema_version == 2
    assert task.response_schema["properties"]["confidence"] == {"type": "number", "minimum": 0, "maximum": 0.9}
    assert task.schema_versions.count() == 2

    # An impossible range: the live check and then the server put the error next to its card.
    confidence = card(page, "/properties/confidence")
    confidence.locator("[data-role=minimum]").fill("5")
    live_error = confidence.locator(":scope > [data-role=errors] li")
    expect(live_error).to_contain_text("must be at least minimum")
    page.click("input[name=_continue]")
    expect(page.locator(".errornote")).to_be_visible()
    expect(card(page, "/properties/confidence").locator(":scope > [data-role=errors] li")).to_contain_text(
        "maximum (0.9) must be at least minimum (5)"
    )
    shot(page, "3_invalid")
    task.refresh_from_db()
    assert task.schema_version == 2
    assert task.response_schema["properties"]["confidence"]["minimum"] == 0


RAW_SCHEMA = {
    "type": "object",
    "$defs": {"level": {"type": "integer", "minimum": 1, "maximum": 5}},
    "properties": {"risk": {"$ref": "#/$defs/level"}},
    "required": ["risk"],
}


@pytest.fixture
def raw_task(transactional_db):
    from agents_llm.agents.services import task_create

    return task_create(name="raw-task", prompt_template="Rate {ticker}.", response_schema=RAW_SCHEMA)


def test_a_schema_the_cards_cannot_show_opens_as_raw_json_and_saves_unchanged(page: Page, live_server, raw_task):
    page.goto(f"{live_server.url}/admin/agents_llm/taskconfig/{raw_task.pk}/change/")

    notice = page.locator("[data-role=notice]")
    expect(notice).to_contain_text("cannot show")
    expect(notice).to_contain_text("$defs")
    expect(page.locator("#id_response_schema")).to_be_visible()
    expect(page.locator("[data-role=cards]")).to_be_hidden()
    shot(page, "4_raw_mode")

    page.click("input[name=_continue]")
    expect(page.locator(".messagelist .success")).to_be_visible()
    raw_task.refresh_from_db()
    assert raw_task.response_schema == RAW_SCHEMA
    assert raw_task.schema_version == 1

    # Rewritten without $defs, it can go back to the cards.
    page.fill("#id_response_schema", json.dumps({
        "type": "object", "properties": {"risk": {"type": "integer", "minimum": 1, "maximum": 5}}, "required": ["risk"],
    }))
    page.click("[data-role=toggle-raw]")
    expect(card(page, "/properties/risk")).to_be_visible()
    expect(card(page, "/properties/risk").locator("[data-role=maximum]")).to_have_value("5")
