"""The OpenAI-protocol interface: any OpenAI client calls an agent by name.

`POST /v1/chat/completions` and `GET /v1/models` (views.py). The `model` a client asks
for names an agent (or one of its aliases); the agent's enabled LLM configs, in
priority order and each followed by its fallback, form the chain of vendor models the
request is tried on (agents_llm.agents.chain). OpenAI-protocol vendors get the client's body with
only the model, sampling and key rewritten; the others are translated through
PydanticAI's model classes; `offline` answers synthetically (forward.py). Every call
is recorded and priced once, in agents_llm.metering. This room keeps only the protocol:
parse, forward or translate, stream, and OpenAI's errors.
"""
