"""OpenAI chat messages and tools to PydanticAI's, and a PydanticAI answer back to an
OpenAI message, for vendors that do not speak OpenAI's protocol (Anthropic, Google,
Mistral). PydanticAI's model classes then speak each vendor's own protocol."""

from __future__ import annotations

import secrets
from typing import Any

from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    SystemPromptPart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models import ModelRequestParameters
from pydantic_ai.tools import ToolDefinition

from agents_llm.gateway.protocol import ChatRequest

# The output tool a json format becomes: vendors without a native JSON mode answer
# structured output most reliably as a call to one tool with the schema.
OUTPUT_TOOL = "final_result"


class Untranslatable(ValueError):
    """A request this vendor cannot be asked through PydanticAI (e.g. image content)."""


def _text(content: Any, where: str) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    texts = []
    for part in content:
        if not isinstance(part, dict) or part.get("type") not in ("text", "input_text"):
            kind = part.get("type") if isinstance(part, dict) else type(part).__name__
            raise Untranslatable(f"{where} has a '{kind}' part; only text parts can be sent to this agent's provider.")
        texts.append(str(part.get("text", "")))
    return "\n".join(texts)


def to_pydantic(messages: list[dict[str, Any]]) -> list[ModelMessage]:
    result: list[ModelMessage] = []
    pending: list[Any] = []  # request parts waiting for the next response
    call_names: dict[str, str] = {}

    def flush() -> None:
        if pending:
            result.append(ModelRequest(parts=list(pending)))
            pending.clear()

    for index, message in enumerate(messages):
        role = message["role"]
        where = f"messages[{index}]"
        if role in ("system", "developer"):
            pending.append(SystemPromptPart(content=_text(message.get("content"), where)))
        elif role == "user":
            pending.append(UserPromptPart(content=_text(message.get("content"), where)))
        elif role in ("tool", "function"):
            call_id = str(message.get("tool_call_id") or message.get("name") or "")
            name = call_names.get(call_id) or str(message.get("name") or "tool")
            pending.append(ToolReturnPart(tool_name=name, content=_text(message.get("content"), where), tool_call_id=call_id))
        else:  # assistant
            flush()
            parts: list[Any] = []
            text = _text(message.get("content"), where)
            if text:
                parts.append(TextPart(content=text))
            for call in message.get("tool_calls") or []:
                function = call.get("function") or {}
                call_id = str(call.get("id") or "call_" + secrets.token_hex(6))
                call_names[call_id] = str(function.get("name"))
                parts.append(ToolCallPart(
                    tool_name=str(function.get("name")), args=function.get("arguments") or "{}", tool_call_id=call_id,
                ))
            result.append(ModelResponse(parts=parts or [TextPart(content="")]))
    flush()
    return result


def parameters(req: ChatRequest) -> ModelRequestParameters:
    tools = {} if req.tool_choice == "none" else dict(req.tools)
    if req.forced_tool:
        tools = {req.forced_tool: tools[req.forced_tool]}
    descriptions = {
        t["function"]["name"]: t["function"].get("description") for t in req.body.get("tools") or []
    }
    function_tools = [
        ToolDefinition(name=name, parameters_json_schema=schema, description=descriptions.get(name))
        for name, schema in tools.items()
    ]
    if req.format_schema is not None:
        output = ToolDefinition(
            name=OUTPUT_TOOL, parameters_json_schema=req.format_schema, kind="output",
            description=f"Give the answer ({req.format_name}) as this tool's arguments.",
        )
        return ModelRequestParameters(
            function_tools=function_tools, output_mode="tool", output_tools=[output], allow_text_output=False,
        )
    must_call = req.tool_choice == "required" or req.forced_tool is not None
    return ModelRequestParameters(function_tools=function_tools, allow_text_output=not must_call)


FINISH = {"stop": "stop", "length": "length", "tool_call": "tool_calls", "content_filter": "content_filter"}


def to_openai(response: ModelResponse, req: ChatRequest) -> tuple[dict[str, Any], str]:
    """The answer as an OpenAI assistant message, and its finish reason."""
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for part in response.parts:
        if isinstance(part, TextPart):
            texts.append(part.content)
        elif isinstance(part, ToolCallPart):
            if part.tool_name == OUTPUT_TOOL and req.format_schema is not None:
                texts.append(part.args_as_json_str())
                continue
            calls.append({
                "id": part.tool_call_id or "call_" + secrets.token_hex(6), "type": "function",
                "function": {"name": part.tool_name, "arguments": part.args_as_json_str()},
            })
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None, "refusal": None}
    if calls:
        message["tool_calls"] = calls
    finish = "tool_calls" if calls else FINISH.get(response.finish_reason or "stop", "stop")
    return message, finish

