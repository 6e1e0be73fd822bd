"""The schema builder's layout in a real Chromium (issue 27): a field's ✕ stays on its
line, the allowed-values box shows a third value without scrolling, and the pattern box
has a label. Screenshot: out/screenshots/schema_builder_layout.png."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.test_browser_schema_builder import SCREENSHOTS, add_field, browser, page  # noqa: F401

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("width", [1400, 1000])
def test_the_remove_button_the_allowed_values_and_the_pattern_read_well(page: Page, live_server, width):  # noqa: F811
    page.set_viewport_size({"width": width, "height": 1000})
    page.goto(f"{live_server.url}/admin/agents_llm/taskconfig/add/")
    root = page.locator("[data-role=cards]")

    card = add_field(page, root, "a_rather_long_field_name_for_a_signal", "string")
    values = card.locator(":scope > .sb-body [data-role=enum]")
    values.fill("buy\nhold\nsell")
    values.dispatch_event("input")

    head = card.locator(":scope > .sb-head")
    name_box = head.locator("[data-role=name]").bounding_box()
    remove_box = head.locator("[data-role=remove]").bounding_box()
    assert abs(remove_box["y"] - name_box["y"]) < name_box["height"], (name_box, remove_box)
    assert page.evaluate("(e) => e.scrollHeight <= e.clientHeight", values.element_handle())
    label = card.locator("label", has=page.locator("[data-role=pattern]"))
    expect(label).to_have_count(1)
    expect(label).to_contain_text("pattern")
    page.screenshot(path=str(SCREENSHOTS / f"schema_builder_layout_{width}.png"), full_page=True)
