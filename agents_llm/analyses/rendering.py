"""Reports as HTML: TradingAgents writes Markdown, and it is model output, so whatever
it holds (tags, scripts, `javascript:` links) must render inert. markdown-it-py renders
it with raw HTML off (an HTML tag in a report shows as text); nh3 (the ammonia
sanitizer) then keeps only harmless tags, attributes and link schemes. No escaping of
our own."""

from __future__ import annotations

import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table").enable("strikethrough")
URL_SCHEMES = {"http", "https", "mailto"}


def report_html(markdown: str) -> SafeString:
    html = _markdown.render(markdown or "")
    return mark_safe(nh3.clean(html, url_schemes=URL_SCHEMES, link_rel="noopener noreferrer nofollow"))  # noqa: S308
