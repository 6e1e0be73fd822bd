from __future__ import annotations

from django.apps import AppConfig


class AgentsLLMConfig(AppConfig):
    name = "agents_llm"
    verbose_name = "Agents"
