"""A vendor's error that echoes the key base64-encoded (an HTTP Basic header,
`base64(user:key)`, or the key alone) never shows it: not in the client's answer, not
in the call's stored attempts."""

from __future__ import annotations

import base64
import json

import pytest

from agents_llm.agents.chain import redact
from agents_llm.models import LLMCall
from tests.conftest import CANARY_KEY
from tests.gateway_support import caller, gateway, make_agent, user_message, vendor, vendor_provider  # noqa: F401


def _encodings(text: str) -> list[str]:
    """`text` in base64: standard and URL-safe, with and without its padding."""
    standard = base64.b64encode(text.encode()).decode()
    urlsafe = base64.urlsafe_b64encode(text.encode()).decode()
    return [standard, standard.rstrip("="), urlsafe, urlsafe.rstrip("=")]


# The key's bytes at each offset of a 3-byte group (users of 0 to 5 characters), and
# after or before a colon, so every alignment of its base64 is covered.
FORMS = [CANARY_KEY, f":{CANARY_KEY}", f"{CANARY_KEY}:", "u:" + CANARY_KEY, "ab:" + CANARY_KEY,
         "abcd:" + CANARY_KEY, "user:" + CANARY_KEY, f"{CANARY_KEY}:x"]
ENCODED = sorted({encoded for form in FORMS for encoded in _encodings(form)})


@pytest.mark.parametrize("encoded", ENCODED)
def test_a_base64_encoding_of_the_key_in_any_form_is_redacted(encoded):
    message = f"401: bad credentials in header Authorization: Basic {encoded} (check it)"

    redacted = redact(message, CANARY_KEY)

    assert encoded not in redacted
    assert redacted == "401: bad credentials in header Authorization: Basic [redacted] (check it)"


def test_a_truncated_encoding_of_the_key_is_redacted_too():
    encoded = base64.b64encode(f"user:{CANARY_KEY}".encode()).decode()

    assert redact(f"got {encoded[:24]}...", CANARY_KEY) == "got [redacted]..."


def test_base64_that_does_not_hold_the_key_is_kept():
    other = base64.b64encode(b"user:sk-another-key-000000000000000000000").decode()
    message = f"request id {other} failed; trace YWJjZGVmZ2hpamtsbW5vcA=="

    assert redact(message, CANARY_KEY) == message


@pytest.mark.django_db
@pytest.mark.parametrize("encoded", [_encodings(f"user:{CANARY_KEY}")[0], _encodings(CANARY_KEY)[3]])
def test_a_vendor_error_echoing_the_key_in_base64_never_reaches_the_client_or_the_call(
    gateway, vendor, vendor_provider, encoded
):
    make_agent("trader", vendor_provider, "vendor-a")
    vendor.script("vendor-a", {"status": 401, "message": f"Invalid credentials: Basic {encoded}"})

    response = gateway.chat({"model": "trader", "messages": user_message()})

    assert response.status_code == 502
    text = response.content.decode()
    assert "Invalid credentials: Basic [redacted]" in text
    assert encoded[8:40] not in text
    call = LLMCall.objects.get(pk=int(response["x-call-id"]))
    stored = json.dumps(call.attempts)
    assert "Basic [redacted]" in stored
    assert encoded[8:40] not in stored and CANARY_KEY not in stored
