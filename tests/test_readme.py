"""The README stands on its own: a clone of the project has no file outside it."""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings

README = Path(settings.BASE_DIR) / "README.md"


def test_the_readme_links_to_nothing_outside_the_project():
    text = README.read_text()

    assert "../" not in text
    for target in re.findall(r"\\]\\(([^)#]+)\\)", text):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        assert (README.parent / target).exists(), f"README links to {target}, which is not in the project"


def test_the_readme_describes_the_layout_itself():
    text = README.read_text()
    layout = text[text.index("## Layout"):]

    for directory in ("tradingagents/", "providers/", "agents_llm/", "templates/", "static/", "bench/", "tests/"):
        assert directory in layout
        assert (README.parent / directory).is_dir()
