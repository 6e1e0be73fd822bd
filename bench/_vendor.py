"""A fast loopback OpenAI-compatible vendor for the benchmarks: `POST …/chat/completions`
answers at once with a fixed 2-field answer (a tool call when the request offers tools,
else JSON text), `GET …/models` lists one model. Plain asyncio, HTTP/1.1 keep-alive, so
the vendor itself costs well under a millisecond.

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
                payload = completion(json.loads(body or b"{}"))
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
