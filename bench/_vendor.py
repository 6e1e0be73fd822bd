"""A fast loopback OpenAI-compatible vendor for the benchmarks: `POST …/chat/completions`
answers at once with a fixed 2-field answer (a tool call when the request offers tools,
else JSON text), `GET …/models` lists one model. Plain asyncio, HTTP/1.1 keep-alive, so
the vendor itself costs well under a millisecond.

With `"stream": true` the same answer comes as OpenAI's server-sent events, one HTTP
chunk (Transfer-Encoding: chunked, so the connection is kept) per event: the role, the
content or the tool call's arguments in a few pieces, the finish reason, the usage chunk
(`choices: []`) when `stream_options.include_usage` is true, then `data: [DONE]`.

    python bench/_vendor.py PORT
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

ANSWER = {"signal": "buy", "confidence": 0.75}


def completion(request: dict[str, Any]) -> dict[str, Any]:
    tools = request.get("tools") or []
    content = json.dumps(ANSWER)
    message: dict[str, Any] = {"role": "assistant", "content": None}
    finish = "stop"
    if tools:
        name = tools[0]["function"]["name"]
        message["tool_calls"] = [{"id": "call_1", "type": "function", "function": {"name": name, "arguments": content}}]
        finish = "tool_calls"
    else:
        message["content"] = content
    return {
        "id": "chatcmpl-bench", "object": "chat.completion", "created": 1_700_000_000,
        "model": request.get("model", "bench-model"),
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 60, "completion_tokens": 12, "total_tokens": 72},
    }


def stream_events(request: dict[str, Any]) -> list[bytes]:
    """The answer of `completion(request)` as OpenAI's stream events (each `data: …\n\n`)."""
    body = completion(request)
    message = body["choices"][0]["message"]
    base = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": body["created"], "model": body["model"]}
    include_usage = bool((request.get("stream_options") or {}).get("include_usage"))
    if include_usage:
        base["usage"] = None  # as OpenAI: null on every chunk but the last

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

    text = json.dumps(ANSWER)
    pieces = [text[i:i + 10] for i in range(0, len(text), 10)]
    if message.get("tool_calls"):
        call = message["tool_calls"][0]
        events = [chunk({"role": "assistant", "content": None, "tool_calls": [
            {"index": 0, "id": call["id"], "type": "function", "function": {"name": call["function"]["name"], "arguments": ""}},
        ]})]
        events += [chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}) for piece in pieces]
    else:
        events = [chunk({"role": "assistant", "content": ""})]
        events += [chunk({"content": piece}) for piece in pieces]
    events.append(chunk({}, body["choices"][0]["finish_reason"]))
    if include_usage:
        events.append({**base, "choices": [], "usage": body["usage"]})
    return [f"data: {json.dumps(event)}\n\n".encode() for event in events] + [b"data: [DONE]\n\n"]


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            length = 0
            for line in lines[1:]:
                if line.lower().startswith("content-length:"):
                    length = int(line.split(":", 1)[1])
            body = await reader.readexactly(length) if length else b""
            if method == "POST" and path.endswith("/chat/completions"):
                request = json.loads(body or b"{}")
                if request.get("stream"):
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                                 b"Transfer-Encoding: chunked\r\n\r\n")
                    for event in stream_events(request):
                        writer.write(b"%x\r\n%s\r\n" % (len(event), event))
                        await writer.drain()
                    writer.write(b"0\r\n\r\n")
                    await writer.drain()
                    continue
                payload = completion(request)
            elif method == "GET" and path.endswith("/models"):
                payload = {"object": "list", "data": [{"id": "bench-model", "object": "model", "owned_by": "bench"}]}
            else:
                payload = {"error": {"message": "not found", "type": "invalid_request_error"}}
            data = json.dumps(payload).encode()
            status = "200 OK" if "error" not in payload else "404 Not Found"
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n".encode()
                + data
            )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def serve(port: int) -> None:
    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
