"""Ready-to-run PydanticAI agents, one per (agent, task), cached in the process.

An entry is keyed by (agent id, task id) and remembers a fingerprint of everything
that shaped it: the agent's instructions, the task's schema version and retry count,
each LLM config and the providers it names (type, endpoint, enabled, key versions).
The fingerprint is computed from the rows the run loads anyway, so a change made by
any process is seen by the next run of every process; the registry is a cache, never
the source of truth.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from contextvars import ContextVar
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from pydantic_ai import Agent
from pydantic_ai.models import Model

from agents_llm import output_schema
from agents_llm.metering import PriceSource
from agents_llm.models import AgentConfig, AgentLLMConfig, AgentRun, AgentTaskAssignment, TaskConfig
from agents_llm.selectors import agent_llm_configs
from providers import backends
from providers.catalog import type_info
from providers.crypto import UndecryptableSecret
from providers.models import LLMProvider
from providers.selectors import resolve_api_key
from providers.services import provider_mark_undecryptable
from tradingagents import hot_reads


@dataclass(frozen=True)
class Link:
    """One model in a fallback chain: a config's model, or its fallback model."""

    config_id: int
    provider_id: int
    provider_name: str
    provider_type: str
    model_name: str
    model: Model | None  # None when it could not be built (see `error`)
    error: tuple[str, str] | None = None  # (error class, safe message)
    price_in_per_1k: Decimal | None = None  # the config's explicit prices, when set
    price_out_per_1k: Decimal | None = None
    price_cached_per_1k: Decimal | None = None
    is_fallback_model: bool = False
    redact: Callable[[str], str] = field(default=lambda text: text, repr=False, compare=False)

    @property
    def synthetic(self) -> bool:
        return self.provider_type == "offline"

    @property
    def price(self) -> PriceSource:
        return PriceSource(
            self.provider_type, self.model_name, self.price_in_per_1k, self.price_out_per_1k, self.price_cached_per_1k,
        )


@dataclass(frozen=True)
class RuntimeAgent:
    agent_id: int
    task_id: int
    fingerprint: tuple[Any, ...]
    agent: Agent[None, Any]
    chain: tuple[Link, ...]


class AgentRegistry:
    """Bounded LRU of RuntimeAgents, safe to share between threads."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[int, int], RuntimeAgent] = OrderedDict()
        self._lock = threading.Lock()
        self._build_locks: dict[tuple[int, int], threading.Lock] = {}
        self.hits = 0
        self.misses = 0
        self.builds = 0

    def get_or_create(
        self,
        agent: AgentConfig,
        task: TaskConfig,
        *,
        configs: Sequence[AgentLLMConfig] | None = None,
    ) -> RuntimeAgent:
        """The agent for (agent, task). `configs` are the agent's enabled LLM configs by
        priority, with providers; loaded here (one query) when not given."""
        if configs is None:
            configs = list(agent_llm_configs(agent, enabled_only=True))
        key = (agent.pk, task.pk)
        fp = fingerprint(agent, task, configs)
        entry = self._hit(key, fp)
        if entry is not None:
            return entry
        with self._lock:
            self.misses += 1
            build_lock = self._build_locks.setdefault(key, threading.Lock())
        # One builder per key: concurrent first calls wait for it instead of building too.
        with build_lock:
            with self._lock:
                entry = self._entries.get(key)
                if entry is not None and entry.fingerprint == fp:
                    self._entries.move_to_end(key)
                    return entry
            entry = _build(agent, task, configs, fp)
            with self._lock:
                self.builds += 1
                self._entries[key] = entry
                self._entries.move_to_end(key)
                while len(self._entries) > self.size:
                    evicted, _ = self._entries.popitem(last=False)
                    self._build_locks.pop(evicted, None)
            return entry

    def peek(self, agent: AgentConfig, task: TaskConfig, configs: Sequence[AgentLLMConfig]) -> RuntimeAgent | None:
        """get_or_create()'s agent when it is built already, else None: never builds."""
        return self._hit((agent.pk, task.pk), fingerprint(agent, task, configs))

    def _hit(self, key: tuple[Any, Any], fp: tuple[Any, ...]) -> RuntimeAgent | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.fingerprint != fp:
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"size": len(self._entries), "hits": self.hits, "misses": self.misses, "builds": self.builds}

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._build_locks.clear()
            self.hits = self.misses = self.builds = 0
        run_targets.clear()


registry = AgentRegistry(settings.AGENT_REGISTRY_SIZE)


def get_or_create(
    agent: AgentConfig, task: TaskConfig, *, configs: Sequence[AgentLLMConfig] | None = None
) -> RuntimeAgent:
    return registry.get_or_create(agent, task, configs=configs)


# Fingerprint ----------------------------------------------------------------


def fingerprint(agent: AgentConfig, task: TaskConfig, configs: Sequence[AgentLLMConfig]) -> tuple[Any, ...]:
    """Everything that shapes the built agent, as a comparable tuple."""
    parts: list[Any] = [agent.instructions, task.schema_version, task.output_retries]
    for c in configs:
        parts.append((
            c.pk, c.model_name, c.temperature, c.max_tokens, c.top_p, c.key_version,
            c.cost_per_1k_input_tokens, c.cost_per_1k_output_tokens, c.cost_per_1k_cached_input_tokens,
            c.prices_from_catalog, c.fallback_model,
            bool(c.api_key_encrypted),
            _provider_part(c.provider),
            _provider_part(c.fallback_provider) if c.fallback_provider_id else None,
        ))
    return tuple(parts)


def _provider_part(provider: LLMProvider) -> tuple[Any, ...]:
    env_key = None
    if not provider.api_key_encrypted:
        # A key from the environment has no version in the database: fingerprint it.
        env_var = type_info(provider.provider_type).env_var
        value = os.environ.get(env_var) if env_var else None
        env_key = hashlib.sha256(value.encode()).hexdigest()[:16] if value else None
    return (
        provider.pk, provider.name, provider.provider_type, provider.base_url, provider.enabled,
        provider.key_version, bool(provider.api_key_encrypted), env_key,
    )


# Building -------------------------------------------------------------------


def _build(
    agent: AgentConfig, task: TaskConfig, configs: Sequence[AgentLLMConfig], fp: tuple[Any, ...]
) -> RuntimeAgent:
    compiled = output_schema.compile_output_type(task.response_schema)
    offline_output = _offline_output(compiled)
    chain: list[Link] = []
    for config in configs:
        # Prices equal to the catalog's are the catalog's: it prices the full usage.
        explicit = not config.prices_from_catalog and bool(
            config.cost_per_1k_input_tokens or config.cost_per_1k_output_tokens
        )
        chain.append(_link(
            config, config.provider, config.model_name, config.api_key_encrypted, offline_output,
            prices=(
                config.cost_per_1k_input_tokens, config.cost_per_1k_output_tokens,
                config.cost_per_1k_cached_input_tokens,
            ) if explicit else None,
        ))
        if config.fallback_provider_id and config.fallback_model:
            # The config's own key belongs to its provider; the fallback provider uses its own.
            same_provider = config.fallback_provider_id == config.provider_id
            chain.append(_link(
                config, config.fallback_provider, config.fallback_model,
                config.api_key_encrypted if same_provider else "", offline_output,
                prices=None, is_fallback_model=True,
            ))
    primary = next((link.model for link in chain if link.model is not None), None)
    pyd_agent: Agent[None, Any] = Agent(
        primary,
        output_type=compiled.output_type,
        instructions=agent.instructions or None,
        name=agent.name,
        retries={"output": task.output_retries},
    )
    return RuntimeAgent(
        agent_id=agent.pk, task_id=task.pk, fingerprint=fp, agent=pyd_agent, chain=tuple(chain),
    )


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


def _link(
    config: AgentLLMConfig,
    provider: LLMProvider,
    model_name: str,
    override_encrypted: str,
    offline_output: Callable[[], dict[str, Any]] | None,
    *,
    prices: tuple[Decimal, Decimal, Decimal | None] | None,
    is_fallback_model: bool = False,
) -> Link:
    base = {
        "config_id": config.pk,
        "provider_id": provider.pk,
        "provider_name": provider.name,
        "provider_type": provider.provider_type,
        "model_name": model_name,
        "is_fallback_model": is_fallback_model,
        "price_in_per_1k": prices[0] if prices else None,
        "price_out_per_1k": prices[1] if prices else None,
        "price_cached_per_1k": prices[2] if prices else None,
    }
    if not provider.enabled:
        return Link(model=None, error=("ProviderDisabled", f"Provider '{provider.name}' is disabled."), **base)
    try:
        api_key = resolve_api_key(provider, override_encrypted)
    except UndecryptableSecret as exc:
        if not override_encrypted:
            provider_mark_undecryptable(provider=provider, message=str(exc))
        return Link(model=None, error=("UndecryptableSecret", str(exc)), **base)
    settings_ = backends.request_settings(
        temperature=config.temperature, max_tokens=config.max_tokens, top_p=config.top_p
    )
    if provider.is_offline and offline_output is None:
        return Link(model=None, error=(
            "NoSyntheticAnswer", "The offline provider cannot build an answer that matches this task's schema.",
        ), **base)
    try:
        model = backends.build_model(
            provider=provider, model_name=model_name, api_key=api_key,
            model_settings=settings_, offline_output=offline_output,
        )
    except backends.MissingApiKey as exc:
        return Link(model=None, error=("MissingApiKey", str(exc)), **base)
    return Link(model=model, redact=_redactor(api_key), **base)


def _redactor(secret: str | None) -> Callable[[str], str]:
    if not secret or len(secret) < 6:
        return lambda text: text
    return lambda text: text.replace(secret, "…" + secret[-4:])


# What a run names: agent, task, configs, assignment ------------------------------


@dataclass(frozen=True)
class RunTarget:
    agent: AgentConfig
    task: TaskConfig
    configs: tuple[AgentLLMConfig, ...]  # enabled, by priority, with their providers
    assigned: bool


class RunTargets:
    """(agent ref, task ref) -> RunTarget, cached in the process and checked on every
    use against one query that reads every row the target was built from (agent, task,
    assignment, enabled configs and their providers): any change, by any process,
    rebuilds it. One statement instead of five ORM queries and their model building."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[Any, Any], tuple[list[tuple[Any, ...]], RunTarget]] = OrderedDict()
        self._lock = threading.Lock()

    def get(
        self, agent_ref: int | str, task_ref: int | str, *, load: Callable[[], tuple[AgentConfig, TaskConfig]],
        rows: list[tuple[Any, ...]] | None = None,
    ) -> RunTarget:
        """The target named by the refs (an id, or a name first and then a numeric id,
        as the API names them); `load` resolves them on a miss, and raises what the
        caller should see when either does not exist. `rows`: what check_statement()
        read just now, when the caller read it itself (with other work, in one round trip)."""
        key = (agent_ref, task_ref)
        if rows is None:
            rows = hot_reads.fetch_all(*self.check_statement(agent_ref, task_ref))
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] == rows:
                self._entries.move_to_end(key)
                return entry[1]
        agent, task = load()
        target = RunTarget(
            agent=agent,
            task=task,
            configs=tuple(agent_llm_configs(agent, enabled_only=True)),
            assigned=AgentTaskAssignment.objects.filter(agent=agent, task=task).exists(),
        )
        if rows:
            with self._lock:
                self._entries[key] = (rows, target)
                self._entries.move_to_end(key)
                while len(self._entries) > self.size:
                    self._entries.popitem(last=False)
        return target

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def current(self, agent_ref: int | str, task_ref: int | str, target: RunTarget, rows: list[tuple[Any, ...]]) -> bool:
        """Whether `target` is the cached one and `rows`, what check_statement() read,
        show it current: get()'s answer on a hit, without its `load` on a miss."""
        key = (agent_ref, task_ref)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[1] is not target or entry[0] != rows:
                return False
            self._entries.move_to_end(key)
            return True

    def peek(self, agent_ref: int | str, task_ref: int | str) -> RunTarget | None:
        """The cached target, unchecked (no query): what a caller may start from while
        the check runs, and must drop when get() then answers another target."""
        with self._lock:
            entry = self._entries.get((agent_ref, task_ref))
        return entry[1] if entry is not None else None

    def check_statement(self, agent_ref: int | str, task_ref: int | str) -> tuple[str, list[Any]]:
        """(sql, params) of the one read that tells whether a cached target is current."""
        return hot_reads.statement("run target", _target_sql), [True, *_ref_params(agent_ref), *_ref_params(task_ref)]

    def check_statement_of_run(self, run_id: int) -> tuple[str, list[Any]]:
        """check_statement(run.agent_id, run.task_id) for a run known by its id only:
        the same rows, read in the same round trip as the run's claim."""
        return hot_reads.statement("run target of a run", _target_of_run_sql), [True, run_id, run_id]


def _ref_params(ref: int | str) -> tuple[str, int]:
    from tradingagents.schemas import MAX_ID

    if isinstance(ref, str):
        return ref, int(ref) if ref.isdigit() and len(ref) < 19 else -1
    return "", ref if 1 <= ref <= MAX_ID else -1


def _target_of_run_sql(quote: Callable[[str], str], columns: Callable[[type[Any], str], str]) -> str:
    return _target_sql(quote, columns, by_run=True)


def _target_sql(quote: Callable[[str], str], columns: Callable[[type[Any], str], str], *, by_run: bool = False) -> str:
    """The freshness check of a run target (see hot_reads.statement)."""

    def table(model: type[Any]) -> str:
        return quote(model._meta.db_table)

    if by_run:  # the agent and task of the run whose id is given (twice)
        runs = f"{table(AgentRun)} r WHERE r.{quote('id')} = %s"
        where = (
            f"a.{quote('id')} = (SELECT r.{quote('agent_id')} FROM {runs}) "
            f"AND t.{quote('id')} = (SELECT r.{quote('task_id')} FROM {runs})"
        )
    else:
        where = f"(a.{quote('name')} = %s OR a.{quote('id')} = %s) AND (t.{quote('name')} = %s OR t.{quote('id')} = %s)"
    return (
        f"SELECT {columns(AgentConfig, 'a')}, {columns(TaskConfig, 't')}, "
        f"EXISTS (SELECT 1 FROM {table(AgentTaskAssignment)} s WHERE s.{quote('agent_id')} = a.{quote('id')} "
        f"AND s.{quote('task_id')} = t.{quote('id')}), "
        f"{columns(AgentLLMConfig, 'c')}, {columns(LLMProvider, 'p')}, {columns(LLMProvider, 'f')} "
        f"FROM {table(AgentConfig)} a CROSS JOIN {table(TaskConfig)} t "
        f"LEFT JOIN {table(AgentLLMConfig)} c ON c.{quote('agent_id')} = a.{quote('id')} AND c.{quote('enabled')} = %s "
        f"LEFT JOIN {table(LLMProvider)} p ON p.{quote('id')} = c.{quote('provider_id')} "
        f"LEFT JOIN {table(LLMProvider)} f ON f.{quote('id')} = c.{quote('fallback_provider_id')} "
        f"WHERE {where} "
        f"ORDER BY a.{quote('id')}, t.{quote('id')}, c.{quote('priority')}, c.{quote('id')}"
    )


run_targets = RunTargets(settings.AGENT_REGISTRY_SIZE)


def run_target(
    agent_ref: int | str, task_ref: int | str, *, load: Callable[[], tuple[AgentConfig, TaskConfig]]
) -> RunTarget:
    return run_targets.get(agent_ref, task_ref, load=load)
