"""How many prompt tokens a vendor will count for an OpenAI chat-completions request body.

`count_prompt(provider_type, model_name, body)` answers a `PromptCount`: `tokens`, whether
the count is `exact` (what the vendor bills) or an upper bound, and the `method` used.

**OpenAI models** (type `openai`, and `openai/…` models on OpenRouter) are counted with
their own tokenizer, offline: o200k_base for gpt-4o, gpt-4.1, gpt-4.5, gpt-5, o1/o3/o4,
gpt-oss; cl100k_base for gpt-4 and gpt-3.5-turbo. The tokenizer is bpe-openai (the Rust
`bpe-openai` crate of github/rust-gems; its wheel ships both encodings, byte-identical
to tiktoken's published files, and counts as tiktoken does). A chat request is counted
as OpenAI counts it (the tiktoken cookbook's formula, checked there against the API):
3 tokens per message, the tokens of every string field of the message (role, content,
name, tool_call_id…), 1 more per `name`, and 3 for the reply's priming. That count is
`exact` for text messages to gpt-3.5-turbo, gpt-4, gpt-4o and gpt-4.1 models. What no
public source pins down exactly is bounded from above with documented margins, and the
count is then not `exact`:
- several text parts in one message: each part counted alone (BPE merges across a
  join can only save tokens) plus 1 per join;
- `tool_calls`: per call the tokens of its id, type, name and arguments plus 3;
- `tools` (and legacy `functions`): the TypeScript-like namespace OpenAI renders them
  into (as reverse-engineered by openai-chat-tokens and the cookbook, whose counts it
  reproduces) plus `TOOLS_MARGIN`; schema keywords that rendering omits are counted
  as their JSON; `tool_choice` naming a function adds 4 + its name;
- `response_format` json_schema: its "# Response Formats" section (name, description,
  the schema as JSON: the larger of compact and spaced) plus `FORMAT_MARGIN`;
- reasoning models (o1, o3, o4, gpt-5, gpt-oss, codex): `REASONING_MARGIN` more, for
  the system preamble of their chat format;
- images: the most the model's image rule can charge for the given `detail` (tiles of
  512 px after OpenAI's downscaling, or 32-px patches capped at 1536, times the model's
  multiplier) — `openai_image_tokens`; audio: 10 tokens a second at the lowest bitrate
  an input format has (MP3 at 8 kbit/s); files: one token per byte plus `FILE_ALLOWANCE`.

**Every other vendor and model** (Anthropic, Google, Mistral, DeepSeek, xAI, Groq,
Ollama, OpenAI-compatible servers, an OpenAI model name this module does not know) gets
an upper bound: the UTF-8 size of every text the prompt is made of. Every token of a
byte-level BPE (and of a SentencePiece tokenizer with byte fallback) covers at least
one byte, so a text of n bytes is never more than n tokens, whatever the vocabulary —
no factor on a known tokenizer can promise that (another vocabulary can split a text
more finely than o200k does; Anthropic publishes no tokenizer for current models).
On English prose this is about 4x what vendors count (CJK about 1.5x). To it are added
what chat formats wrap around text: `OTHER_PER_MESSAGE` per message (role markers and
a SentencePiece prefix), `OTHER_PER_REQUEST` (BOS and the reply's priming), and, when
the request has tools or a json_schema format, `TOOL_PROMPT_ALLOWANCE` for the system
prompt the vendor adds (Anthropic documents at most 530 tokens); tool definitions and
formats count as the bytes of their JSON with spaced separators (as chat templates
render them). Images are bounded by `OTHER_IMAGE_TOKENS`, audio at 32 tokens a second
(Gemini's rate, the highest published). For text, tools and formats the bound is
never below the exact o200k count of the same request.

Counting is pure (the same body gives the same count) and fast: a 100 kB prompt takes
about 3-4 ms with the tokenizer, well under 1 ms for the byte bound.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from typing import Any

O200K = "o200k_base"
CL100K = "cl100k_base"

# The cookbook's formula (How_to_count_tokens_with_tiktoken).
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING = 3

# Margins where OpenAI's rendering is not public (see the module docstring).
TOOLS_MARGIN = 16  # the tools section's header and footer, beyond the rendered namespace
TOOL_FUNCTION_MARGIN = 4  # per function definition
TOOL_CALL_OVERHEAD = 3  # per tool call in an assistant message
FORMAT_MARGIN = 16  # the "# Response Formats" section's framing
JSON_OBJECT_MARGIN = 8  # response_format json_object
REASONING_MARGIN = 64  # the system preamble of reasoning models' chat format
FILE_ALLOWANCE = 4096  # per file part, beyond one token per byte of its data
FILE_ID_ALLOWANCE = 32_768  # a file sent by id: its size is unknown here

# The bound for other vendors.
OTHER_PER_MESSAGE = 8
OTHER_PER_REQUEST = 16
TOOL_PROMPT_ALLOWANCE = 600
OTHER_IMAGE_TOKENS = 8192
AUDIO_MIN_BYTES_PER_SECOND = 1000  # MP3 at 8 kbit/s, the lowest bitrate of an input format
OPENAI_AUDIO_TOKENS_PER_SECOND = 10
OTHER_AUDIO_TOKENS_PER_SECOND = 32

# Model name prefixes, longest family first where one prefix contains another.
_O200K_PREFIXES = ("gpt-4o", "chatgpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "o1", "o3", "o4",
                   "gpt-oss", "codex", "computer-use")
_CL100K_PREFIXES = ("gpt-4", "gpt-3.5", "gpt-35")
_EXACT_ROLES = ("system", "developer", "user", "assistant")
_REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5", "gpt-oss", "codex", "computer-use")

# OpenAI's image rules: (base, per 512-px tile) for tile models; (multiplier) for patch models.
_IMAGE_TILES = (
    ("gpt-4o-mini", 2833, 5667),
    ("gpt-4o", 85, 170), ("chatgpt-4o", 85, 170), ("gpt-4", 85, 170),
    ("gpt-4.1", 75, 150), ("gpt-4.5", 75, 150), ("o1", 75, 150), ("o3", 75, 150), ("computer-use", 65, 129),
    ("gpt-5-chat", 70, 140), ("gpt-5", 70, 140),
)
_IMAGE_PATCHES = (
    ("gpt-4.1-mini", 1.62), ("gpt-4.1-nano", 2.46), ("o4-mini", 1.72),
    ("gpt-5-mini", 1.62), ("gpt-5-nano", 2.46),
)
MAX_TILES = 8  # 2048 x 768 after downscaling: 4 x 2 tiles of 512 px
MAX_PATCHES = 1536
UNKNOWN_IMAGE_TOKENS = 2833 + 5667 * MAX_TILES  # the most any OpenAI model charges


@dataclass(frozen=True)
class PromptCount:
    tokens: int
    exact: bool
    method: str


# The tokenizer -------------------------------------------------------------------------


@cache
def _tokenizer(encoding: str) -> Any:
    """bpe-openai's tiktoken-like Encoding (its public API). Building one takes about
    a second and 70 MB, once per process, on the first request that needs it."""
    import bpe_openai

    return bpe_openai.get_encoding(encoding)


def preload() -> None:
    """Load both tokenizers now rather than in the first request that needs one."""
    for encoding in (O200K, CL100K):
        _tokenizer(encoding)


def count_text(text: str, encoding: str = O200K) -> int:
    """The tokens of `text` in `encoding` (special-token text counts as ordinary text,
    as the API treats it). A text past the tokenizer's limits (a million characters)
    is bounded by its UTF-8 size."""
    if not text:
        return 0
    text = text.encode("utf-8", "replace").decode("utf-8")  # lone surrogates: what the API would receive
    total, start = 0, 0
    while start < len(text):  # the wrapper takes at most a million characters at once
        end = len(text) if len(text) - start <= CHUNK_CHARS else text.rfind(" ", start + 1, start + CHUNK_CHARS)
        end = start + CHUNK_CHARS if end <= start else end  # cut before a space: pieces never count less
        try:
            total += len(_tokenizer(encoding).encode_ordinary(text[start:end]))
        except Exception:  # noqa: BLE001 - bpe_openai's TokenLimitError and kin: never undercount
            total += len(text[start:end].encode())
        start = end
    return total


# The longest text given to the tokenizer at once (its wrapper refuses 1,000,000).
CHUNK_CHARS = 500_000


def truncate_text(text: str, max_tokens: int, encoding: str = O200K) -> str:
    """The longest prefix of `text`, cut at a token boundary, of at most `max_tokens`."""
    tokenizer = _tokenizer(encoding)
    ids = tokenizer.encode_ordinary(text)
    while True:
        prefix = tokenizer.decode(list(ids[:max_tokens]))
        if count_text(prefix, encoding) <= max_tokens:
            return prefix
        max_tokens -= 1


def openai_encoding(provider_type: str, model_name: str) -> str | None:
    """The encoding an OpenAI model is counted in, or None for any other vendor or a
    model this module does not know."""
    name = (model_name or "").strip().lower()
    if provider_type == "openrouter":
        if not name.startswith("openai/"):
            return None
        name = name.removeprefix("openai/")
    elif provider_type != "openai":
        return None
    name = name.removeprefix("ft:")
    if name.startswith(_O200K_PREFIXES):
        return O200K
    if name.startswith(_CL100K_PREFIXES):
        return CL100K
    return None


def count_prompt(provider_type: str, model_name: str, body: dict[str, Any]) -> PromptCount:
    """The prompt tokens the vendor will count for this chat-completions `body`: exact
    where this module knows the vendor's counting, else an upper bound (module docstring)."""
    encoding = openai_encoding(provider_type, model_name)
    if encoding is None:
        return PromptCount(_utf8_bound(body), False, "utf8-bound")
    counter = _OpenAICounter(encoding, model_name.lower().removeprefix("openai/").removeprefix("ft:"))
    tokens = counter.request(body)
    return PromptCount(tokens, counter.exact, encoding if counter.exact else f"{encoding}+margins")


# OpenAI ----------------------------------------------------------------------------------


class _OpenAICounter:
    def __init__(self, encoding: str, model: str) -> None:
        self.encoding = encoding
        self.model = model
        self.exact = True

    def text(self, value: str) -> int:
        return count_text(value, self.encoding)

    def loose(self, value: Any) -> int:
        """A value whose rendering is unknown: the tokens of its JSON."""
        self.exact = False
        return self.text(json.dumps(value, ensure_ascii=False, sort_keys=True))

    def request(self, body: dict[str, Any]) -> int:
        messages = _list(body.get("messages"))
        tokens = sum(self.message(m) for m in messages if isinstance(m, dict)) + REPLY_PRIMING
        functions = [t.get("function") for t in _list(body.get("tools")) if isinstance(t, dict)]
        functions += [f for f in _list(body.get("functions")) if isinstance(f, dict)]
        if any(isinstance(f, dict) for f in functions):
            tokens += self.tools([f for f in functions if isinstance(f, dict)])
            tokens += self.tool_choice(body.get("tool_choice", body.get("function_call")))
        tokens += self.response_format(body.get("response_format"))
        if self.model.startswith(_REASONING_PREFIXES):
            self.exact = False
            tokens += REASONING_MARGIN
        return tokens

    def message(self, message: dict[str, Any]) -> int:
        tokens = TOKENS_PER_MESSAGE
        if message.get("role") not in _EXACT_ROLES:  # tool results: rendered in ways not public
            self.exact = False
        for key, value in message.items():
            if value is None:
                continue
            if key == "content":
                tokens += self.content(value)
            elif key == "tool_calls":
                tokens += self.tool_calls(value)
            elif key == "name" and isinstance(value, str):
                tokens += self.text(value) + TOKENS_PER_NAME
            elif isinstance(value, str):
                tokens += self.text(value)
            else:
                tokens += self.loose(value)
        return tokens

    def content(self, content: Any) -> int:
        if isinstance(content, str):
            return self.text(content)
        if not isinstance(content, list):
            return self.loose(content)
        tokens = 0
        texts = 0
        for part in content:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text" and isinstance(part.get("text"), str):
                texts += 1
                tokens += self.text(part["text"])
            elif kind == "refusal" and isinstance(part.get("refusal"), str):
                texts += 1
                tokens += self.text(part["refusal"])
            else:
                self.exact = False
                tokens += self.media(part, kind)
        if texts > 1:
            self.exact = False
            tokens += texts - 1
        return tokens

    def media(self, part: Any, kind: str | None) -> int:
        if kind == "image_url":
            image = part.get("image_url")
            detail = image.get("detail", "auto") if isinstance(image, dict) else "auto"
            return openai_image_tokens(self.model, detail)
        if kind == "input_audio":
            return audio_tokens(part.get("input_audio"), OPENAI_AUDIO_TOKENS_PER_SECOND)
        if kind == "file":
            return file_tokens(part.get("file"))
        return self.loose(part)

    def tool_calls(self, calls: Any) -> int:
        self.exact = False
        if not isinstance(calls, list):
            return self.loose(calls)
        tokens = 0
        for call in calls:
            if not isinstance(call, dict) or not isinstance(call.get("function"), dict):
                tokens += self.loose(call)
                continue
            function = call["function"]
            tokens += TOOL_CALL_OVERHEAD + sum(
                self.text(v) if isinstance(v, str) else self.loose(v)
                for v in (call.get("id"), call.get("type"), function.get("name"), function.get("arguments"))
                if v is not None
            )
        return tokens

    def tools(self, functions: list[dict[str, Any]]) -> int:
        self.exact = False
        rendered, extra = render_functions(functions)
        tokens = self.text(rendered) + TOOLS_MARGIN + TOOL_FUNCTION_MARGIN * len(functions)
        return tokens + sum(self.text(json.dumps(e, ensure_ascii=False, sort_keys=True)) for e in extra)

    def tool_choice(self, choice: Any) -> int:
        if choice in (None, "auto"):
            return 0
        if choice == "none":
            return 1
        if isinstance(choice, dict):
            function = choice.get("function")
            name = function.get("name") if isinstance(function, dict) else choice.get("name")
            return 4 + (self.text(name) if isinstance(name, str) else self.loose(choice))
        return 4 + self.loose(choice)

    def response_format(self, fmt: Any) -> int:
        if not isinstance(fmt, dict) or fmt.get("type") in (None, "text"):
            return 0
        self.exact = False
        if fmt.get("type") == "json_object":
            return JSON_OBJECT_MARGIN
        spec = fmt.get("json_schema")
        if fmt.get("type") != "json_schema" or not isinstance(spec, dict):
            return self.loose(fmt) + FORMAT_MARGIN
        header = f"# Response Formats\n\n## {spec.get('name', '')}\n\n"
        if isinstance(spec.get("description"), str):
            header += f"// {spec['description']}\n"
        schema = spec.get("schema", {})
        compact = json.dumps(schema, ensure_ascii=False, separators=(",", ":"))
        spaced = json.dumps(schema, ensure_ascii=False)
        return max(self.text(header + compact), self.text(header + spaced)) + FORMAT_MARGIN


def render_functions(functions: list[dict[str, Any]]) -> tuple[str, list[Any]]:
    """Function definitions as OpenAI renders them for the model (a TypeScript namespace),
    and the schema parts that rendering leaves out (counted as their JSON)."""
    lines = ["# Tools", "", "## functions", "", "namespace functions {", ""]
    extra: list[Any] = []
    for function in functions:
        if isinstance(function.get("description"), str):
            lines.append(f"// {function['description']}")
        params = function.get("parameters") if isinstance(function.get("parameters"), dict) else {}
        extra += [{k: v} for k, v in function.items() if k not in ("name", "description", "parameters", "strict")]
        if params.get("properties"):
            lines.append(f"type {function.get('name', '')} = (_: {{")
            lines.append(_properties(params, 0, extra))
            lines.append("}) => any;")
        else:
            lines.append(f"type {function.get('name', '')} = () => any;")
            extra += [{k: v} for k, v in params.items() if k not in ("type", "properties", "required", "additionalProperties")]
        lines.append("")
    lines.append("} // namespace functions")
    return "\n".join(lines), extra


_RENDERED = {"type", "description", "properties", "required", "enum", "items", "additionalProperties", "title"}


def _properties(schema: dict[str, Any], indent: int, extra: list[Any]) -> str:
    lines = []
    required = schema.get("required") if isinstance(schema.get("required"), list) else []
    properties = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
    extra += [{k: v} for k, v in schema.items() if k not in _RENDERED]
    for name, prop in properties.items():
        prop = prop if isinstance(prop, dict) else {}
        if isinstance(prop.get("description"), str):
            lines.append(f"// {prop['description']}")
        if isinstance(prop.get("title"), str):
            extra.append(prop["title"])
        mark = "" if name in required else "?"
        lines.append(f"{name}{mark}: {_type(prop, indent, extra)},")
    return "\n".join(" " * indent + line for line in lines)


def _type(prop: dict[str, Any], indent: int, extra: list[Any]) -> str:
    kind = prop.get("type")
    extra += [{k: v} for k, v in prop.items() if k not in _RENDERED]
    if isinstance(prop.get("enum"), list):
        return " | ".join(json.dumps(v, ensure_ascii=False) for v in prop["enum"])
    if kind == "object" and isinstance(prop.get("properties"), dict):
        return "{\n" + _properties(prop, indent + 2, extra) + "\n" + " " * indent + "}"
    if kind == "array":
        items = prop.get("items") if isinstance(prop.get("items"), dict) else {}
        return f"{_type(items, indent, extra) or 'any'}[]"
    if isinstance(kind, list):
        return " | ".join("number" if k == "integer" else str(k) for k in kind)
    if kind == "integer":
        return "number"
    return kind if isinstance(kind, str) else "any"


def openai_image_tokens(model: str, detail: str = "auto") -> int:
    """The most an image can cost on `model` at `detail`, whatever its size."""
    for prefix, multiplier in _IMAGE_PATCHES:
        if model.startswith(prefix):
            return math.ceil(MAX_PATCHES * multiplier)
    for prefix, base, tile in _IMAGE_TILES:
        if model.startswith(prefix):
            return base if detail == "low" else base + tile * MAX_TILES
    return UNKNOWN_IMAGE_TOKENS


def _decoded_size(data: Any) -> int:
    if not isinstance(data, str):
        return 0
    data = data.split(",", 1)[1] if data.startswith("data:") else data
    return math.ceil(len(data) * 3 / 4)


def audio_tokens(audio: Any, per_second: int) -> int:
    size = _decoded_size(audio.get("data")) if isinstance(audio, dict) else 0
    return math.ceil(size / AUDIO_MIN_BYTES_PER_SECOND * per_second) + OTHER_PER_MESSAGE


def file_tokens(file: Any) -> int:
    if not isinstance(file, dict):
        return FILE_ID_ALLOWANCE
    if isinstance(file.get("file_data"), str):
        return _decoded_size(file["file_data"]) + FILE_ALLOWANCE
    return FILE_ID_ALLOWANCE


# Other vendors: the UTF-8 bound ---------------------------------------------------------


def _size(value: Any) -> int:
    if isinstance(value, str):
        return len(value.encode("utf-8", "replace"))
    return len(json.dumps(value, ensure_ascii=False).encode("utf-8", "replace"))


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _utf8_bound(body: dict[str, Any]) -> int:
    messages = [m for m in _list(body.get("messages")) if isinstance(m, dict)]
    tokens = OTHER_PER_REQUEST + OTHER_PER_MESSAGE * len(messages)
    for message in messages:
        for key, value in message.items():
            if value is None:
                continue
            tokens += _other_content(value) if key == "content" else _size(value)
    tools = _list(body.get("tools")) + _list(body.get("functions"))
    fmt = body.get("response_format")
    structured = isinstance(fmt, dict) and fmt.get("type") not in (None, "text")
    if tools:
        tokens += _size(tools) + _size(body.get("tool_choice") or "")
    if structured:
        tokens += _size(fmt)
    if tools or structured:
        tokens += TOOL_PROMPT_ALLOWANCE
    return tokens


def _other_content(content: Any) -> int:
    if not isinstance(content, list):
        return _size(content)
    tokens = 0
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            tokens += _size(part["text"]) + 1
        elif kind == "image_url":
            tokens += OTHER_IMAGE_TOKENS
        elif kind == "input_audio":
            tokens += audio_tokens(part.get("input_audio"), OTHER_AUDIO_TOKENS_PER_SECOND)
        elif kind == "file":
            tokens += file_tokens(part.get("file"))
        else:
            tokens += _size(part)
    return tokens
