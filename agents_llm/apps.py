from __future__ import annotations

from django.apps import AppConfig


class AgentsLLMConfig(AppConfig):
    name = "agents_llm"
    verbose_name = "Agents"

    def ready(self) -> None:
        from agents_llm import signals

        signals.connect()  # live events for agents, tasks and LLM configs
