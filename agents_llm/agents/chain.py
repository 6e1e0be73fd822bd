"""An agent's chain of models, and the one fallback loop that walks it.

The chain is the agent's enabled LLM configs in priority order, each followed by its
fallback model. Each link carries its provider, vendor model, resolved key (the
config's own key → the provider's key → `<TYPE>_API_KEY`; a config's own key serves
its fallback model only on the same provider), the config's sampling and prices. A
link that cannot be used (provider disabled, no key, key undecryptable, no endpoint)
stays in the chain with its reason, so that the attempts of a run or call say why it
was skipped.

Runs (agents_llm.runs) and the OpenAI gateway (agents_llm.gateway) both get their
chain here and walk it with `Fallback`; they differ only in how one link is asked.

A lineup (a model per role, which a session is opened with) is an input of the
chain: in a lineup that names the agent, the chain is the lineup's model followed by its
fallback (provider keys only: a lineup holds no key); other agents keep their configs.

Chains are kept per process, by (requested model, lineup), and used with no query while
the CONFIG version is current (tradingagents.versions): any change to an agent, config,
alias, provider, preset or lineup bumps it, in every process.
"""

from __future__ import annotations

import base64
import functools
import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Generic, TypeVar

from django.conf import settings
from django.db.models import Q

from agents_llm.agents.models import AgentConfig, AgentLLMConfig, ModelSetting, alias_key
from agents_llm.agents.selectors import agent_llm_configs, lineup_role
from agents_llm.metering import budgets, pricing
from agents_llm.metering.budgets import Ask, Hold
from agents_llm.metering.pricing import PriceSource, short
from providers import backends, catalog
from providers.catalog import Price, ProviderType, type_info
from providers.crypto import UndecryptableSecret
from providers.models import LLMProvider
from providers.selectors import resolve_api_key
from providers.services import provider_mark_undecryptable
from tradingagents import versions
from tradingagents.dbthreads import db_call, db_call_durably

# Vendors that speak OpenAI's Chat Completions themselves.
OPENAI_PROTOCOL_TYPES = frozenset({
    ProviderType.OPENAI, ProviderType.DEEPSEEK, ProviderType.XAI, ProviderType.GROQ,
    ProviderType.OPENROUTER, ProviderType.OLLAMA, ProviderType.OPENAI_COMPATIBLE,
})
# A vendor's answer with one of these statuses (or any 5xx) may be the model's or the
# credential's fault, not the request's: the next model is tried.
MOVE_ON_STATUSES = frozenset({401, 403, 404, 408, 409, 429})


@dataclass(frozen=True)
class Link:
    """One model of a chain: a config's model, or its fallback model."""

    config_id: int | None  # the agent's LLM config it comes from (None: a lineup's)
    provider: LLMProvider = field(repr=False, compare=False)
    model_name: str
    api_key: str | None = field(default=None, repr=False)
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    price: PriceSource = field(default_factory=lambda: PriceSource("", ""))
    is_fallback_model: bool = False
    error: tuple[str, str] | None = None  # (error class, safe message): not usable

    @property
    def provider_id(self) -> int:
        return self.provider.pk

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
    def openai_protocol(self) -> bool:
        return self.provider.provider_type in OPENAI_PROTOCOL_TYPES

    @property
    def base_url(self) -> str:
        return backends.endpoint(self.provider)

    def redact(self, text: str) -> str:
        return redact(text, self.api_key)


@dataclass(frozen=True)
class Chain:
    agent_id: int
    agent_name: str
    links: tuple[Link, ...]
    # The environment variables its keys came from, with their values then: a key set in
    # the environment has no row whose change would bump the version.
    environment: tuple[tuple[str, str | None], ...] = ()

    def environment_unchanged(self) -> bool:
        return all(os.environ.get(name) == value for name, value in self.environment)


# Building -------------------------------------------------------------------------


def build_chain(agent_id: int, agent_name: str, lineup_id: int | None = None) -> Chain:
    """The agent's chain; in a lineup that names the agent, the lineup's model and its
    fallback instead of the agent's configs."""
    role = lineup_role(lineup_id, agent_id) if lineup_id is not None else None
    links: list[Link] = []
    if role is not None:
        setting = role.setting()
        links.extend(_links(setting, explicit=setting.explicit_prices))
    else:
        for config in agent_llm_configs(agent_id, enabled_only=True):
            # Prices equal to the catalog's are the catalog's: it prices the full usage.
            explicit = not config.prices_from_catalog and bool(
                config.cost_per_1k_input_tokens or config.cost_per_1k_output_tokens
            )
            links.extend(_links(config, explicit=explicit, config=config))
    environment: dict[str, str | None] = {}
    for link in links:
        env_var = type_info(link.provider_type).env_var
        if env_var and not link.provider.api_key_encrypted:
            environment[env_var] = os.environ.get(env_var)
    return Chain(agent_id=agent_id, agent_name=agent_name, links=tuple(links), environment=tuple(environment.items()))


def _links(setting: AgentLLMConfig | ModelSetting, *, explicit: bool, config: AgentLLMConfig | None = None) -> list[Link]:
    """A setting's model, then its fallback model. A config's own key serves its
    fallback model only on the same provider; a lineup's models use their providers' keys."""
    own_key = config.api_key_encrypted if config is not None else ""
    base: dict[str, Any] = {
        "config_id": config.pk if config is not None else None,
        "temperature": setting.temperature, "max_tokens": setting.max_tokens, "top_p": setting.top_p,
    }
    primary = setting.provider
    links = [_link(primary, setting.model_name, own_key, PriceSource(
        primary.provider_type, setting.model_name,
        setting.cost_per_1k_input_tokens if explicit else None,
        setting.cost_per_1k_output_tokens if explicit else None,
        setting.cost_per_1k_cached_input_tokens if explicit else None,
    ), is_fallback_model=False, **base)]
    fallback = setting.fallback_provider
    if fallback is not None and setting.fallback_model:
        same = fallback.pk == primary.pk
        links.append(_link(
            fallback, setting.fallback_model, own_key if same else "",
            PriceSource(fallback.provider_type, setting.fallback_model), is_fallback_model=True, **base,
        ))
    return links


def _link(provider: LLMProvider, model_name: str, override: str, price: PriceSource, **fields: Any) -> Link:
    base: dict[str, Any] = {"provider": provider, "model_name": model_name, "price": price, **fields}
    if not provider.enabled:
        return Link(error=("ProviderDisabled", f"Provider '{provider.name}' is disabled."), **base)
    try:
        api_key = resolve_api_key(provider, override)
    except UndecryptableSecret as exc:
        if not override:
            provider_mark_undecryptable(provider=provider, message=str(exc))
        return Link(error=("UndecryptableSecret", str(exc)), **base)
    info = type_info(provider.provider_type)
    if info.needs_key and not api_key:
        return Link(error=("MissingApiKey", (
            f"No API key for provider '{provider.name}' ({provider.provider_type}): set one on the provider "
            f"or the agent's LLM config, or in the environment variable {info.env_var}."
        )), **base)
    if provider.provider_type == ProviderType.OPENAI_COMPATIBLE and not provider.base_url:
        return Link(error=("NoEndpoint", f"Provider '{provider.name}' has no base URL."), **base)
    return Link(api_key=api_key, **base)


# Cached lookups -------------------------------------------------------------------

_chains = versions.VersionedCache((versions.CONFIG,), settings.AGENT_REGISTRY_SIZE)


class AgentNotFound(LookupError):
    def __init__(self, model: str) -> None:
        super().__init__(model)
        self.model = model


def chain_for_model(model: str, lineup_id: int | None = None) -> Chain:
    """The chain of the enabled agent named `model` or answering to it as an alias (any
    case), routed by the lineup `lineup_id` when it names the agent. Raises AgentNotFound."""
    seen = _chains.versions()
    key = ("model", model, lineup_id)
    chain = _chains.get(key, seen)
    if chain is None or not chain.environment_unchanged():
        name_key = alias_key(model)
        agent = (
            AgentConfig.objects.filter(enabled=True)
            .filter(Q(name=model) | Q(name=name_key) | Q(alias_rows__name_key=name_key))
            .only("pk", "name")
            .first()
        )
        if agent is None:
            raise AgentNotFound(model)
        chain = build_chain(agent.pk, agent.name, lineup_id)
        _chains.put(key, seen, chain)
    return chain


async def achain_for_model(model: str, seen: versions.Versions | None = None, lineup_id: int | None = None) -> Chain:
    """chain_for_model() from an event loop: a current cached chain costs no query and
    no thread; else it is built on a database thread. `seen`: the versions, when the
    caller read them already."""
    chain = _chains.get(("model", model, lineup_id), seen or await _chains.aversions())
    if chain is not None and chain.environment_unchanged():
        return chain
    return await db_call(chain_for_model, model, lineup_id)


def clear() -> None:
    _chains.clear()


# Walking a chain --------------------------------------------------------------------


class AttemptFailed(Exception):
    """One link did not give a usable answer. `move_on`: the next link may; else the
    request itself is at fault and the walk stops. `details` go on the attempt's record."""

    def __init__(self, error_class: str, message: str, *, move_on: bool = True, **details: Any) -> None:
        super().__init__(message)
        self.error_class = error_class
        self.message = message
        self.move_on = move_on
        self.details = details


def moves_on(status: int) -> bool:
    """Whether a vendor's HTTP error status is worth trying the next model for."""
    return status in MOVE_ON_STATUSES or status >= 500


A = TypeVar("A")


class Fallback(Generic[A]):
    """Tries each usable link of a chain in turn until one answers. Every try is kept on
    `attempts` ({"provider", "model", "error_class", "message", **details}), and
    `current` is the link being tried (for a caller whose deadline cuts the walk short)."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        self.attempts: list[dict[str, Any]] = []
        self.current: Link | None = None
        self.stopped: AttemptFailed | None = None  # the failure that ended the walk early

    def record(self, link: Link | None, error_class: str = "", message: str = "answered", **details: Any) -> None:
        self.attempts.append({
            "provider": link.provider_name if link else "", "model": link.model_name if link else "",
            "error_class": error_class, "message": short(message), **details,
        })

    async def run(self, ask: Callable[[Link], Awaitable[A]], **skipped_details: Any) -> tuple[Link, A] | None:
        """(the link that answered, its answer), or None when none did (see `stopped`)."""
        for link in self.chain.links:
            if link.error is not None:
                self.record(link, *link.error, **skipped_details)
                continue
            self.current = link
            try:
                answer = await ask(link)
            except AttemptFailed as failure:
                self.record(link, failure.error_class, link.redact(failure.message), **failure.details)
                if not failure.move_on:
                    self.stopped = failure
                    return None
                continue
            return link, answer
        return None


# Secrets in messages -----------------------------------------------------------------

_WORD = re.compile(r"[A-Za-z0-9_\-.*]{4,}")
# A run of base64 (standard or URL-safe alphabet, padded or not).
_BASE64_WORD = re.compile(r"[A-Za-z0-9+/_\-]{8,}={0,2}")
# Consecutive base64 characters shared with an encoding of the key that make a word
# "the key": 8 characters are 6 bytes of it.
_BASE64_GRAM = 8


def redact(text: str, secret: str | None) -> str:
    """`text` without the key or any recognisable part of it. Vendors echo keys back
    in error messages, whole or masked ("sk-abc***...wxyz"): the whole key becomes its
    hint ("…" and its last 4 characters, as the admin shows it), and any other word
    sharing four or more consecutive characters with the key goes. So does any
    base64 word holding 6 bytes of the key at any offset, standard or URL-safe, padded
    or not: "Basic " + base64("user:key"), base64(key), base64(":key")."""
    if not text or not secret or len(secret) < 8:
        return text
    text = text.replace(secret, "\x00")  # the hint goes in after the scrub, which would take it
    grams = _base64_grams(secret)

    def scrub_base64(match: re.Match[str]) -> str:
        word = match.group(0)
        if any(word[i:i + _BASE64_GRAM] in grams for i in range(len(word) - _BASE64_GRAM + 1)):
            return "\x01"
        return word

    def scrub(match: re.Match[str]) -> str:
        word = match.group(0)
        for piece in re.split(r"[*.]+", word):
            if len(piece) >= 4 and any(piece[i:i + 4] in secret for i in range(len(piece) - 3)):
                return "\x01"
        return word

    text = _WORD.sub(scrub, _BASE64_WORD.sub(scrub_base64, text))
    return text.replace("\x01", "[redacted]").replace("\x00", "…" + secret[-4:])


@functools.lru_cache(maxsize=256)
def _base64_grams(secret: str) -> frozenset[str]:
    """Every run of _BASE64_GRAM characters that base64 of a text holding `secret` has,
    whatever precedes it: its bytes start at one of three offsets within a 3-byte group,
    and the characters made only of its bits are the same at that offset whatever
    surrounds it."""
    raw = secret.encode()
    grams: set[str] = set()
    for offset in range(3):
        encoded = base64.b64encode(bytes(offset) + raw).decode()
        own = encoded[-(-8 * offset // 6):8 * (offset + len(raw)) // 6]
        for alphabet in (own, own.translate(_URLSAFE)):
            grams.update(alphabet[i:i + _BASE64_GRAM] for i in range(len(alphabet) - _BASE64_GRAM + 1))
    return frozenset(grams)


_URLSAFE = str.maketrans("+/", "-_")


def worst_case_price(link: Link, *, writes_cache: bool = False) -> Price | None:
    """The most a prompt token and an output token of `link` can cost, per 1k (None:
    unknown). A prompt token costs the input price; where the request can write the
    vendor's cache (Anthropic's `cache_control`) the cache-write price, which is higher."""
    if link.offline:
        return Price(Decimal(0), Decimal(0))
    source = link.price
    if source.explicit:
        assert source.input_per_1k is not None and source.output_per_1k is not None
        return Price(max(source.input_per_1k, source.cached_input_per_1k or Decimal(0)), source.output_per_1k)
    if writes_cache:
        return catalog.worst_price_per_1k(link.provider_type, link.model_name)
    return catalog.price_per_1k(link.provider_type, link.model_name)


# The meter of a call or run in a budgeted session ----------------------------------

@dataclass
class Meter:
    """A call's or run's meter in its session: each vendor request reserves its worst
    case before it is sent (waiting, up to SESSION_BUDGET_WAIT_SECONDS, while other
    requests' reservations stand in the way); a failed request then holds only what the
    vendor billed for it; the row of the call or run, when written, counts the spend
    and releases the holds (agents_llm.metering.budgets decides)."""

    session_id: Any
    holds: list[Hold] = field(default_factory=list)

    async def reserve(
        self, link: Link, max_tokens: int | None, prompt_tokens: int, *, writes_cache: bool = False,
    ) -> Hold:
        """`prompt_tokens`: what the link's vendor will count (or more). Raises
        budgets.BudgetRefused when the request does not fit, or waited too long."""
        ask = Ask(
            prompt_tokens=prompt_tokens, max_tokens=max_tokens,
            price=worst_case_price(link, writes_cache=writes_cache), free=link.offline,
        )
        hold = await budgets.areserve(session_id=self.session_id, ask=ask)
        self.holds.append(hold)
        return hold

    async def used(self, hold: Hold, link: Link, usage: pricing.TokenUsage) -> None:
        """A request that ended holds only what the vendor billed for it."""
        cost = pricing.price(link.price, usage).cost
        await db_call_durably(budgets.shrink, hold, usage.total, cost)
        budgets.settled(self.session_id)
