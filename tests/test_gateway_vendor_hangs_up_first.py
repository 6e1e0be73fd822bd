"""A vendor that ends the connection before any byte of its answer (a burst it sheds,
a kept connection it closed) answered nothing: the gateway sends the request once
more instead of answering 502 (issue 27, item 9). One that ends it mid-answer is not
asked again (tests/test_gateway_vendor_connections.py)."""

from __future__ import annotations

import json
import socket
import threading

import pytest

from agents_llm.models import CallStatus, LLMCall
from tests.gateway_support import caller, gateway, make_agent, user_message  # noqa: F401

pytestmark = pytest.mark.django_db

ANSWER = {
    "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "vendor-h",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hold."}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
}


class HangsUpFirst:
    """Accepts connections on loopback; drops the first request unanswered, answers the rest."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.requests = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, body = data.partition(b"\r\n\r\n")
                length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length"))
                while len(body) < length:
                    body += conn.recv(65536)
                self.requests += 1
                if self.requests == 1:
                    continue  # closed with no answer at all
                payload = json.dumps(ANSWER).encode()
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                             b"Content-Length: " + str(len(payload)).encode() + b"\r\n\r\n" + payload)

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def hangs_up_first():
    server = HangsUpFirst()
    yield server
    server.close()


def test_a_request_the_vendor_dropped_before_answering_is_sent_once_more_and_answered(gateway, hangs_up_first):
    from providers.services import provider_create

    provider = provider_create(name="flaky", provider_type="openai_compatible",
                               base_url=f"http://127.0.0.1:{hangs_up_first.port}/v1", api_key="sk-flaky-0000")
    make_agent("flaky-agent", provider, "vendor-h")

    response = gateway.chat({"model": "flaky-agent", "messages": user_message()})

    assert response.status_code == 200, response.content
    assert response.json()["choices"][0]["message"]["content"] == "Hold."
    assert hangs_up_first.requests == 2
    call = LLMCall.objects.get(pk=int(response["x-call-id"]))
    assert call.status == CallStatus.SUCCEEDED and call.output_tokens == 2
