"""The README stands on its own: a clone of the project has no file outside it, and
every link it holds leads somewhere (a file or folder of the project, or a heading)."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

from django.conf import settings

ROOT = Path(settings.BASE_DIR).resolve()
README = ROOT / "README.md"

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
# [text](target "title") and ![alt](target): one level of brackets in the text and of
# parentheses in the target, an optional <…> around the target and an optional title.
INLINE = re.compile(
    r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]"
    r"\(\s*(<[^>\n]*>|(?:[^()\s]|\([^()\s]*\))+)(?:\s+(?:\"[^\"]*\"|'[^']*'|\([^)]*\)))?\s*\)"
)
AUTOLINK = re.compile(r"<([a-zA-Z][a-zA-Z0-9+.-]{1,31}:[^<>\s]*)>")
REFERENCE_DEFINITION = re.compile(r"^ {0,3}\[([^\]]+)\]:\s*(<[^>\n]*>|\S+)")
# [text][label], [label][] and a lone [label] (a shortcut reference: a link only when defined).
REFERENCE = re.compile(r"(?<![\]\\])\[((?:[^\[\]]|\[[^\]]*\])+)\](?:\[([^\]]*)\])?(?![(:\[])")
HTML_LINK = re.compile(r"<(?:a|img)\b[^>]*?\b(?:href|src)\s*=\s*[\"']([^\"']*)[\"']", re.I)
HTML_ANCHOR = re.compile(r"<[a-z][^>]*?\b(?:id|name)\s*=\s*[\"']([^\"']+)[\"']", re.I)
ATX_HEADING = re.compile(r"^ {0,3}#{1,6}(?:\s+(.*?))?(?:\s+#+)?\s*$")
SETEXT_UNDERLINE = re.compile(r"^ {0,3}(?:=+|-+)\s*$")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def prose(text: str) -> list[str]:
    """The lines of Markdown outside fenced code blocks, with inline code spans blanked
    (a link in a code span is not a link, but a code span may be a link's text)."""
    lines: list[str] = []
    fence = ""
    for line in text.splitlines():
        opened = FENCE.match(line)
        if fence:
            if opened and opened.group(1)[0] == fence[0] and len(opened.group(1)) >= len(fence) \
                    and not line.strip().lstrip(fence[0]):
                fence = ""
            lines.append("")
        elif opened:
            fence = opened.group(1)
            lines.append("")
        else:
            lines.append(CODE_SPAN.sub("code", line))
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: its rendered text, lower case, without punctuation
    but hyphens and underscores, spaces turned into hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link: its text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = re.sub(r"`([^`]*)`", r"\1", text).replace("*", "")  # code spans, emphasis
    text = re.sub(r"(?<!\w)_+|_+(?!\w)", "", text)  # _emphasis_, not snake_case
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every in-page anchor of a Markdown file: heading slugs (a repeated one gets -1,
    -2, … as on GitHub) and explicit HTML ids or names."""
    raw = text.splitlines()
    found: set[str] = set()
    seen: dict[str, int] = {}
    lines = prose(text)
    for index, line in enumerate(lines):
        heading = ATX_HEADING.match(line)
        title = heading.group(1) or "" if heading else None
        if title is None and index + 1 < len(lines) and line.strip() and SETEXT_UNDERLINE.match(lines[index + 1]) \
                and not line.lstrip().startswith(("|", "-", "*", ">")):
            title = line.strip()
        if title is not None:
            # The slug is of the heading's text as written, code spans included.
            source = raw[index] if heading else raw[index].strip()
            base = slug(ATX_HEADING.match(source).group(1) or "" if heading else source)
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
        found.update(HTML_ANCHOR.findall(line))
    return found


def links(text: str) -> list[str]:
    """Every link target in Markdown `text`: inline links and images, autolinks,
    reference-style links (through their definitions) and HTML links."""
    lines = prose(text)
    definitions: dict[str, str] = {}
    for line in lines:
        match = REFERENCE_DEFINITION.match(line)
        if match:
            definitions[" ".join(match.group(1).lower().split())] = match.group(2)
    targets: list[str] = list(definitions.values())
    for line in lines:
        if REFERENCE_DEFINITION.match(line):
            continue
        targets += INLINE.findall(line)
        targets += AUTOLINK.findall(line)
        targets += HTML_LINK.findall(line)
        for text_part, label in REFERENCE.findall(INLINE.sub("", line)):
            key = " ".join((label or text_part).lower().split())
            if label:  # [text][label] must be defined; a lone [text] may be plain prose
                assert key in definitions, f"README uses the undefined link reference [{label}]"
    return [target[1:-1] if target.startswith("<") and target.endswith(">") else target for target in targets]


def test_the_readme_links_to_nothing_outside_the_project():
    text = README.read_text()
    targets = links(text)

    # Guards the link parser itself: the README has links, so none found means the
    # parser missed them and every check below would pass without looking.
    assert targets, "found no link in README.md: the link parser misses its links"
    assert "../" not in text
    own_anchors = anchors(text)
    for target in targets:
        if SCHEME.match(target) or target.startswith("//"):
            continue  # another site: not checked here (no network)
        path, _, anchor = target.partition("#")
        path = unquote(path.split("?", 1)[0])
        if path:
            file = (ROOT / path.lstrip("/")).resolve()
            assert file.is_relative_to(ROOT), f"README links to {target}, outside the project"
            assert file.exists(), f"README links to {target}, which is not in the project"
            if anchor and file.suffix.lower() == ".md":
                assert unquote(anchor) in anchors(file.read_text()), f"README links to {target}: no such heading"
        elif anchor:
            assert unquote(anchor) in own_anchors, f"README links to #{anchor}, which is no heading of it"


def test_the_link_parser_finds_every_kind_of_link_and_anchor():
    sample = """# A title

See [the `gateway`](integrations/x.py "title"), ![logo](static/logo.png), <https://example.com/a>,
[a ref][ref], [Ref] and <a href="docs/y.md#part">y</a>. Not links: `[x](y)` and [plain text].

```sh
echo "[z](nowhere)"
# Not a heading
```

## Scale out on PostgreSQL + Redis
## `make test` & co.
## A title
Setext heading
--------------

[ref]: https://example.com/ref
"""
    assert sorted(links(sample)) == sorted([
        "https://example.com/ref", "integrations/x.py", "static/logo.png", "https://example.com/a", "docs/y.md#part",
    ])
    assert anchors(sample) == {
        "a-title", "scale-out-on-postgresql--redis", "make-test--co", "a-title-1", "setext-heading",
    }


def test_the_readme_describes_the_layout_itself():
    text = README.read_text()
    layout = text[text.index("## Layout"):]

    for directory in ("tradingagents/", "providers/", "agents_llm/", "templates/", "static/", "bench/", "tests/"):
        assert directory in layout
        assert (README.parent / directory).is_dir()
