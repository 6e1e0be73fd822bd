"""From the `model` a client asks for to the chain of vendor models that may answer.

The agent's enabled LLM configs in priority order, each followed by its fallback
model, form the chain. Each link carries its provider, vendor model, resolved key
(config key → provider key → `<TYPE>_API_KEY`), the config's sampling and prices. A
link that cannot be used (provider disabled, no key, key undecryptable) stays in the
chain with its reason, so the call's attempts say why it was skipped."""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import Q

from agents_llm.gateway.errors import model_not_found
from agents_llm.metering import PriceSource
from agents_llm.models import AgentAlias, AgentConfig, AgentLLMConfig, alias_key
from agents_llm.selectors import agent_llm_configs
from providers import backends
from providers.catalog import ProviderType, type_info
from providers.crypto import UndecryptableSecret
from providers.models import LLMProvider
from providers.selectors import resolve_api_key
from providers.services import provider_mark_undecryptable

# Vendors that speak OpenAI's Chat Completions themselves: the client's body is
# forwarded with only the model, sampling and key rewritten.
PASSTHROUGH_TYPES = frozenset({
    ProviderType.OPENAI, ProviderType.DEEPSEEK, ProviderType.XAI, ProviderType.GROQ,
    ProviderType.OPENROUTER, ProviderType.OLLAMA, ProviderType.OPENAI_COMPATIBLE,
})


@dataclass(frozen=True)
class Target:
    """One model of the chain."""

    provider: LLMProvider = field(repr=False)
    model_name: str
    api_key: str | None = field(default=None, repr=False)
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    price: PriceSource | None = None
    is_fallback_model: bool = False
    error: tuple[str, str] | None = None  # (error class, safe message): not usable

    @property
    def provider_name(self) -> str:
        return self.provider.name

    @property
    def provider_type(self) -> str:
        return self.provider.provider_type

    @property
    def offline(self) -> bool:
        return self.provider.provider_type == ProviderType.OFFLINE

    @property
    def passthrough(self) -> bool:
        return self.provider.provider_type in PASSTHROUGH_TYPES

    @property
    def base_url(self) -> str:
        return backends.endpoint(self.provider)

    def redact(self, text: str) -> str:
        return redact(text, self.api_key)


@dataclass(frozen=True)
class Route:
    agent_id: int
    agent_name: str
    asked: str
    targets: tuple[Target, ...]


def agent_for_model(model: str) -> AgentConfig:
    """The enabled agent named `model` or answering to it as an alias (any case)."""
    key = alias_key(model)
    agent = (
        AgentConfig.objects.filter(enabled=True)
        .filter(Q(name=model) | Q(name=key) | Q(alias_rows__name_key=key))
        .only("pk", "name")
        .first()
    )
    if agent is None:
        raise model_not_found(model)
    return agent


def route_for(model: str) -> Route:
    """The route for `model`, from the process's cache when one query shows that
    nothing it was built from changed (see RouteCache)."""
    return routes.get(model)


def build_route(model: str) -> Route:
    agent = agent_for_model(model)
    targets: list[Target] = []
    for config in agent_llm_configs(agent, enabled_only=True):
        targets.append(_target(config, config.provider, config.model_name, config.api_key_encrypted, primary=True))
        if config.fallback_provider_id and config.fallback_model:
            # The config's own key belongs to its provider; another provider uses its own.
            same = config.fallback_provider_id == config.provider_id
            targets.append(_target(
                config, config.fallback_provider, config.fallback_model,
                config.api_key_encrypted if same else "", primary=False,
            ))
    return Route(agent_id=agent.pk, agent_name=agent.name, asked=model, targets=tuple(targets))


def _target(config: AgentLLMConfig, provider: LLMProvider, model_name: str, override: str, *, primary: bool) -> Target:
    explicit = primary and not config.prices_from_catalog and bool(
        config.cost_per_1k_input_tokens or config.cost_per_1k_output_tokens
    )
    base = {
        "provider": provider, "model_name": model_name, "temperature": config.temperature,
        "max_tokens": config.max_tokens, "top_p": config.top_p, "is_fallback_model": not primary,
        "price": PriceSource(
            provider.provider_type, model_name,
            config.cost_per_1k_input_tokens if explicit else None,
            config.cost_per_1k_output_tokens if explicit else None,
            config.cost_per_1k_cached_input_tokens if explicit else None,
        ),
    }
    if not provider.enabled:
        return Target(error=("ProviderDisabled", f"Provider '{provider.name}' is disabled."), **base)
    try:
        api_key = resolve_api_key(provider, override)
    except UndecryptableSecret as exc:
        if not override:
            provider_mark_undecryptable(provider=provider, message=str(exc))
        return Target(error=("UndecryptableSecret", str(exc)), **base)
    info = type_info(provider.provider_type)
    if info.needs_key and not api_key:
        return Target(error=("MissingApiKey", (
            f"No API key for provider '{provider.name}' ({provider.provider_type}): set one on the provider "
            f"or the agent's LLM config, or in the environment variable {info.env_var}."
        )), **base)
    if provider.provider_type == ProviderType.OPENAI_COMPATIBLE and not provider.base_url:
        return Target(error=("NoEndpoint", f"Provider '{provider.name}' has no base URL."), **base)
    return Target(api_key=api_key, **base)


class RouteCache:
    """model -> Route, kept in the process and checked on every call against one query
    that reads every row the route was built from (the agent, its enabled configs and
    their providers, keys included): a change by any process rebuilds it. One statement
    instead of three ORM queries, model building and key decryption per call."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[str, tuple[list[tuple[Any, ...]], Route]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, model: str) -> Route:
        rows = self._rows(model)
        with self._lock:
            entry = self._entries.get(model)
            if entry is not None and entry[0] == rows:
                self._entries.move_to_end(model)
                return entry[1]
        route = build_route(model)  # raises model_not_found when there is no such agent
        if rows:
            with self._lock:
                self._entries[model] = (rows, route)
                self._entries.move_to_end(model)
                while len(self._entries) > self.size:
                    self._entries.popitem(last=False)
        return route

    async def get_on_loop(self, model: str) -> Route | None:
        """get()'s route when it is cached and the check, read from the caller's event
        loop (tradingagents.loop_db), shows it current; else None: never builds."""
        from tradingagents import hot_reads

        with self._lock:
            entry = self._entries.get(model)
        if entry is None:
            return None
        rows = await hot_reads.fetch_all_on_loop(*self._check_statement(model))
        with self._lock:
            if self._entries.get(model) is not entry or entry[0] != rows:
                return None
            self._entries.move_to_end(model)
        return entry[1]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def _rows(self, model: str) -> list[tuple[Any, ...]]:
        from tradingagents import hot_reads

        return hot_reads.fetch_all(*self._check_statement(model))

    @staticmethod
    def _check_statement(model: str) -> tuple[str, list[Any]]:
        from tradingagents import hot_reads

        key = alias_key(model)
        return hot_reads.statement("route", _route_sql), [True, True, model, key, key]


def _route_sql(quote: Callable[[str], str], columns: Callable[[type[Any], str], str]) -> str:
    """The freshness check of a route (see hot_reads.statement)."""

    def table(model: type[Any]) -> str:
        return quote(model._meta.db_table)

    return (
        f"SELECT a.{quote('id')}, a.{quote('name')}, {columns(AgentLLMConfig, 'c')}, {columns(LLMProvider, 'p')}, "
        f"{columns(LLMProvider, 'f')} FROM {table(AgentConfig)} a "
        f"LEFT JOIN {table(AgentLLMConfig)} c ON c.{quote('agent_id')} = a.{quote('id')} AND c.{quote('enabled')} = %s "
        f"LEFT JOIN {table(LLMProvider)} p ON p.{quote('id')} = c.{quote('provider_id')} "
        f"LEFT JOIN {table(LLMProvider)} f ON f.{quote('id')} = c.{quote('fallback_provider_id')} "
        f"WHERE a.{quote('enabled')} = %s AND (a.{quote('name')} = %s OR a.{quote('name')} = %s OR a.{quote('id')} IN "
        f"(SELECT {quote('agent_id')} FROM {table(AgentAlias)} WHERE {quote('name_key')} = %s)) "
        f"ORDER BY a.{quote('id')}, c.{quote('priority')}, c.{quote('id')}"
    )


routes = RouteCache(settings.AGENT_REGISTRY_SIZE)


_WORD = re.compile(r"[A-Za-z0-9_\-.*]{4,}")


def redact(text: str, secret: str | None) -> str:
    """`text` without the key or any recognisable part of it. Vendors echo keys back
    in error messages, whole or masked ("sk-abc***...wxyz"): any word sharing four or
    more consecutive characters with the key goes."""
    if not text or not secret or len(secret) < 8:
        return text
    text = text.replace(secret, "[redacted]")

    def scrub(match: re.Match[str]) -> str:
        word = match.group(0)
        for piece in re.split(r"[*.]+", word):
            if len(piece) >= 4 and any(piece[i:i + 4] in secret for i in range(len(piece) - 3)):
                return "[redacted]"
        return word

    return _WORD.sub(scrub, text)

