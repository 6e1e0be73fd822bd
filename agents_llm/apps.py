from __future__ import annotations

from django.apps import AppConfig


class AgentsLLMConfig(AppConfig):
    name = "agents_llm"
    verbose_name = "Agents"

    def ready(self) -> None:
        from agents_llm import signals
        from agents_llm.analyses.selectors import analysis_events_snapshot
        from agents_llm.models import AgentLLMConfig
        from agents_llm.runs.selectors import run_events_snapshot
        from providers.services import secret_model_register
        from tradingagents import events

        signals.connect()  # live events for agents, tasks and LLM configs
        secret_model_register(AgentLLMConfig)  # rotatekeys re-encrypts its keys too
        events.register_snapshot("runs", run_events_snapshot)
        events.register_snapshot("analyses", analysis_events_snapshot)
        from agents_llm.experiments.services import experiment_events_snapshot

        events.register_snapshot("experiments", experiment_events_snapshot)
