"""What a run needs, kept per process while the CONFIG version is current
(tradingagents.versions): its target (the agent, the task, whether the agent is
assigned to it) and the PydanticAI agent built for the pair, with a model for each
link of the agent's chain (agents_llm.agents.chain).

A change to any row these are built from (by any process) bumps the version, so the
next run rebuilds them; a hit costs no query.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelMessagesTypeAdapter, ModelResponse
from pydantic_ai.models import Model, ModelRequestParameters
from pydantic_ai.models.wrapper import WrapperModel
from pydantic_ai.settings import ModelSettings

from agents_llm import output_schema
from agents_llm.agents.chain import Chain, Link, Meter, build_chain
from agents_llm.agents.models import AgentConfig, AgentTaskAssignment, TaskConfig
from agents_llm.metering.pricing import TokenUsage
from providers import backends
from tradingagents import versions


@dataclass(frozen=True)
class RunTarget:
    agent: AgentConfig
    task: TaskConfig
    assigned: bool
    chain: Chain
    lineup_id: int | None = None  # the lineup of the run's session: an input of the chain


@dataclass(frozen=True)
class RuntimeAgent:
    """The PydanticAI agent for (agent, task), and the model of each usable link of its
    chain (by the link's identity: links that cannot run carry their reason instead)."""

    agent_id: int
    task_id: int
    agent: Agent[None, Any]
    chain: Chain
    models: dict[int, Model]
    source: Chain  # the target's chain it was built from

    def model(self, link: Link, meter: Meter | None = None) -> Model:
        model = self.models[id(link)]
        return model if meter is None else MeteredModel(model, meter, link)


class MeteredModel(WrapperModel):
    """A run's model in a session: each request reserves its worst case first (its
    prompt bounded by its UTF-8 size: a byte-level BPE token covers at least one byte;
    its output by the cap the reservation was sized on, which is sent), then holds what
    it used until the run's row is written."""

    def __init__(self, wrapped: Model, meter: Meter, link: Link) -> None:
        super().__init__(wrapped)
        self.meter, self.link = meter, link

    async def request(
        self, messages: list[ModelMessage], model_settings: ModelSettings | None, params: ModelRequestParameters,
    ) -> ModelResponse:
        tools = [dataclasses.asdict(tool) for tool in [*params.function_tools, *params.output_tools]]
        prompt = len(ModelMessagesTypeAdapter.dump_json(messages)) + len(repr(tools).encode())
        cap = (model_settings or {}).get("max_tokens")
        hold = await self.meter.reserve(self.link, cap, prompt)
        if hold.max_tokens and hold.max_tokens != cap:
            model_settings = {**(model_settings or {}), "max_tokens": hold.max_tokens}
        try:
            response = await self.wrapped.request(messages, model_settings, params)
        except Exception:  # a cancelled request keeps its hold until the run's row is written
            await self.meter.used(hold, self.link, TokenUsage())
            raise
        await self.meter.used(hold, self.link, TokenUsage.from_pydantic(response.usage))
        return response


class AgentRegistry:
    """RunTargets and RuntimeAgents of this process, counted (hits, misses, builds).
    A caller reads the versions once (`versions()`) and passes them to both lookups, so
    that a built agent is never kept under versions newer than its target's."""

    def __init__(self, size: int) -> None:
        self.targets = versions.VersionedCache((versions.CONFIG,), size)
        self.agents = versions.VersionedCache((versions.CONFIG,), size)
        self._lock = threading.Lock()
        self._build_locks: dict[tuple[int, int, int | None], threading.Lock] = {}
        self.hits = self.misses = self.builds = 0

    def versions(self) -> versions.Versions | None:
        return self.targets.versions()

    def target(
        self, agent_ref: int | str, task_ref: int | str, *, load: Callable[[], tuple[AgentConfig, TaskConfig]],
        seen: versions.Versions | None, lineup_id: int | None = None,
    ) -> RunTarget:
        """The target named by the refs (ids or names, as the API names them), its chain
        routed by `lineup_id` when given; `load` resolves them on a miss, and raises what
        the caller should see when either does not exist."""
        key = (agent_ref, task_ref, lineup_id)
        target = self.targets.get(key, seen)
        if target is None or not target.chain.environment_unchanged():
            agent, task = load()
            target = RunTarget(
                agent=agent, task=task,
                assigned=AgentTaskAssignment.objects.filter(agent=agent, task=task).exists(),
                chain=build_chain(agent.pk, agent.name, lineup_id), lineup_id=lineup_id,
            )
            self.targets.put(key, seen, target)
        return target

    def runtime(self, target: RunTarget, *, seen: versions.Versions | None) -> RuntimeAgent:
        """The built agent for a target; one build per pair under concurrency. Raises
        output_schema.OutputSchemaError when the task's schema cannot be compiled."""
        key = (target.agent.pk, target.task.pk, target.lineup_id)
        entry = self.agents.get(key, seen)
        if entry is not None and entry.source == target.chain:
            with self._lock:
                self.hits += 1
            return entry
        with self._lock:
            self.misses += 1
            build_lock = self._build_locks.setdefault(key, threading.Lock())
        with build_lock:  # concurrent first runs wait for one build instead of building too
            entry = self.agents.get(key, seen)
            if entry is None or entry.source != target.chain:
                entry = _build(target)
                with self._lock:
                    self.builds += 1
                self.agents.put(key, seen, entry)
            return entry

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"hits": self.hits, "misses": self.misses, "builds": self.builds}

    def clear(self) -> None:
        self.targets.clear()
        self.agents.clear()
        with self._lock:
            self._build_locks.clear()
            self.hits = self.misses = self.builds = 0


registry = AgentRegistry(settings.AGENT_REGISTRY_SIZE)


# Building -------------------------------------------------------------------------


def _build(target: RunTarget) -> RuntimeAgent:
    compiled = output_schema.compile_output_type(target.task.response_schema)
    offline_output = _offline_output(compiled)
    links: list[Link] = []
    models: dict[int, Model] = {}
    for link in target.chain.links:
        model, error = None, link.error
        if error is None:
            model, error = _model(link, offline_output)
        if error is not None:
            link = dataclasses.replace(link, error=error)
        links.append(link)
        if model is not None:
            models[id(link)] = model
    primary = next(iter(models.values()), None)
    agent: Agent[None, Any] = Agent(
        primary,
        output_type=compiled.output_type,
        instructions=target.agent.instructions or None,
        name=target.agent.name,
        retries={"output": target.task.output_retries},
    )
    return RuntimeAgent(
        agent_id=target.agent.pk, task_id=target.task.pk, agent=agent,
        chain=dataclasses.replace(target.chain, links=tuple(links)), models=models, source=target.chain,
    )


def _model(link: Link, offline_output: Callable[[], dict[str, Any]] | None) -> tuple[Model | None, tuple[str, str] | None]:
    if link.offline and offline_output is None:
        return None, ("NoSyntheticAnswer", "The offline provider cannot build an answer that matches this task's schema.")
    settings_ = backends.request_settings(temperature=link.temperature, max_tokens=link.max_tokens, top_p=link.top_p)
    try:
        return backends.build_model(
            provider=link.provider, model_name=link.model_name, api_key=link.api_key,
            model_settings=settings_, offline_output=offline_output,
        ), None
    except backends.MissingApiKey as exc:
        return None, ("MissingApiKey", str(exc))


# The input of the run being executed (set by the runner). Agents are cached across
# runs, so the offline model reads it at request time rather than when it is built.
offline_input: ContextVar[dict[str, Any] | None] = ContextVar("offline_input", default=None)


def _offline_output(compiled: output_schema.CompiledOutput) -> Callable[[], dict[str, Any]] | None:
    try:
        example = compiled.example(seed=0)
    except ValueError:
        return None  # the offline link reports it
    return lambda: offline_answer(compiled, example, offline_input.get())


def offline_answer(
    compiled: output_schema.CompiledOutput, example: dict[str, Any], data: dict[str, Any] | None
) -> dict[str, Any]:
    """The synthetic example, with the value of each input key that names one of its
    properties (asked about NVDA, the answer's `ticker` is NVDA), as long as the
    answer still matches the schema."""
    properties = compiled.json_schema.get("properties") or {}
    if not isinstance(data, dict) or not isinstance(example, dict):
        return example
    answer = dict(example)
    for key, value in data.items():
        if key in properties and answer.get(key) != value:
            candidate = {**answer, key: value}
            if not compiled.validate(candidate):
                answer = candidate
    return answer


def runtime_for(agent: AgentConfig, task: TaskConfig) -> RuntimeAgent:
    """The built agent for (agent, task), loaded as given on a miss."""
    seen = registry.versions()
    target = registry.target(agent.pk, task.pk, load=lambda: (agent, task), seen=seen)
    return registry.runtime(target, seen=seen)
