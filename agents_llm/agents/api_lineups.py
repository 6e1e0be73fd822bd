"""`/api/v1/lineups`: named mixes of models, one per role, that a session is opened
with (`POST /api/v1/sessions {"lineup": name}`)."""

# No `from __future__ import annotations`: django-ninja reads these signatures at runtime.

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Path, Router, Schema
from ninja.errors import ValidationError as InputError
from ninja.pagination import paginate
from ninja.responses import Status
from pydantic import ConfigDict

from agents_llm.agents import selectors, services
from agents_llm.agents.models import AgentConfig, Lineup, LineupRole, LLMPreset
from agents_llm.agents.schemas import MAX_INT
from providers.models import LLMProvider
from providers.schemas import SLUG_PATTERN
from tradingagents.auth import require_perm, require_read
from tradingagents.schemas import AUTH_ERRORS, READ_ERRORS, WRITE_ERRORS, Money, Page

router = Router(tags=["lineups"])

MAX_ROLES = 200
# The API's names of a role's fields, where they differ from the model's.
API_NAMES = {"model_name": "model"}


def _cost() -> Any:
    return Field(None, ge=0, max_digits=12, decimal_places=6, description="USD per 1,000 tokens; 0 = price catalog.")


class RoleIn(Schema):
    """A role's model (`provider` and `model`, optionally sampling, fallback and prices),
    or `{"preset": name}`."""

    model_config = ConfigDict(extra="forbid")

    preset: str | None = Field(None, min_length=1, max_length=64, description="A preset's name, alone.")
    provider: str | None = Field(None, min_length=1, max_length=64, description="Provider name.")
    model: str | None = Field(None, min_length=1, max_length=200, description="The vendor's model name.")
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1, le=MAX_INT)
    top_p: float | None = Field(None, ge=0, le=1)
    fallback_provider: str | None = Field(None, min_length=1, max_length=64, description="Provider name.")
    fallback_model: str | None = Field(None, min_length=1, max_length=200)
    cost_per_1k_input_tokens: Decimal | None = _cost()
    cost_per_1k_output_tokens: Decimal | None = _cost()


class LineupIn(Schema):
    name: str = Field(..., min_length=1, max_length=64, pattern=SLUG_PATTERN)
    description: str = Field("", max_length=10_000)
    roles: dict[str, RoleIn] = Field(default_factory=dict, max_length=MAX_ROLES, description="Agent name → its model.")


class LineupPatch(Schema):
    name: str = Field(None, min_length=1, max_length=64, pattern=SLUG_PATTERN)
    description: str = Field(None, max_length=10_000)
    roles: dict[str, RoleIn | None] = Field(
        None, max_length=MAX_ROLES,
        description="Each agent named gets this model instead of its row's (null removes the row); others stay.",
    )


class RoleOut(Schema):
    preset: str | None = None
    provider: str | None = None
    model: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    fallback_provider: str | None = None
    fallback_model: str | None = None
    cost_per_1k_input_tokens: Money | None = None
    cost_per_1k_output_tokens: Money | None = None


class LineupOut(Schema):
    name: str
    description: str
    roles: dict[str, RoleOut] = Field(..., description="Agent name → its model, as given (a preset by its name).")
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_roles(obj: Lineup) -> dict[str, dict[str, Any]]:
        return {row.agent.name: _role_out(row) for row in obj.roles.all()}  # prefetched by the selector


def _role_out(row: LineupRole) -> dict[str, Any]:
    if row.preset_id is not None:
        return {"preset": row.preset.name}
    assert row.provider is not None
    out: dict[str, Any] = {
        "provider": row.provider.name, "model": row.model_name, "temperature": row.temperature,
        "max_tokens": row.max_tokens, "top_p": row.top_p,
        "cost_per_1k_input_tokens": row.cost_per_1k_input_tokens,
        "cost_per_1k_output_tokens": row.cost_per_1k_output_tokens,
    }
    if row.fallback_provider_id is not None:
        out.update(fallback_provider=row.fallback_provider.name, fallback_model=row.fallback_model)
    return out


def _roles(given: dict[str, RoleIn | None]) -> dict[AgentConfig, dict[str, Any] | None]:
    """The request's roles with agents, providers and presets found by name; every
    unknown name is a 422 naming it, all at once."""
    agents = {a.name: a for a in AgentConfig.objects.filter(name__in=list(given))}
    names = {n for role in given.values() if role for n in (role.provider, role.fallback_provider) if n}
    providers = {p.name: p for p in LLMProvider.objects.filter(name__in=names)}
    presets = {p.name: p for p in LLMPreset.objects.filter(name__in=[r.preset for r in given.values() if r and r.preset])}
    errors: list[dict[str, Any]] = []
    roles: dict[AgentConfig, dict[str, Any] | None] = {}
    for name, role in given.items():
        loc = ["body", "roles", name[:64]]
        if name not in agents:
            errors.append({"loc": loc, "msg": f"No agent named {name[:64]!r}."})
            continue
        if role is None:
            roles[agents[name]] = None
            continue
        fields = role.dict(exclude_none=True)
        if "model" in fields:
            fields["model_name"] = fields.pop("model")
        for field, known, what in (
            ("provider", providers, "provider"), ("fallback_provider", providers, "provider"), ("preset", presets, "preset"),
        ):
            if field in fields:
                if fields[field] not in known:
                    errors.append({"loc": [*loc, field], "msg": f"No {what} named {fields[field]!r}."})
                else:
                    fields[field] = known[fields[field]]
        roles[agents[name]] = fields
    if errors:
        raise InputError(errors)
    return roles


def _invalid(exc: services.LineupRolesInvalid) -> Status:
    errors = [
        {"loc": ["body", "roles", agent, *([] if field == "__all__" else [API_NAMES.get(field, field)])], "msg": msg}
        for agent, fields in exc.errors.items()
        for field, messages in fields.items()
        for msg in messages
    ]
    first = errors[0]
    return Status(422, {"detail": f"Invalid input at {'.'.join(first['loc'])}: {first['msg']}", "errors": errors})


def _lineup(name: str) -> Lineup:
    return get_object_or_404(selectors.lineups_with_roles(), name=name)


@router.get("/lineups", response={200: list[LineupOut], **AUTH_ERRORS}, exclude_none=True)
@paginate(Page)
def list_lineups(request: HttpRequest) -> QuerySet[Lineup]:
    require_read(request, "agents_llm.lineup")
    return selectors.lineups_with_roles().order_by("name")


@router.post("/lineups", response={201: LineupOut, **WRITE_ERRORS}, exclude_none=True)
def create_lineup(request: HttpRequest, payload: LineupIn):
    """A lineup and its roles, all or nothing; an unknown agent, provider or preset is a
    422 naming it."""
    require_perm(request, "agents_llm.add_lineup")
    roles = _roles(dict(payload.roles))
    try:
        lineup = services.lineup_create(
            name=payload.name, description=payload.description, roles=roles, user=request.auth,
        )
    except services.LineupRolesInvalid as exc:
        return _invalid(exc)
    return Status(201, _lineup(lineup.name))


@router.get("/lineups/{name}", response={200: LineupOut, **READ_ERRORS}, exclude_none=True)
def get_lineup(request: HttpRequest, name: str = Path(..., max_length=64)):
    require_read(request, "agents_llm.lineup")
    return _lineup(name)


@router.patch("/lineups/{name}", response={200: LineupOut, **WRITE_ERRORS}, exclude_none=True)
def update_lineup(request: HttpRequest, payload: LineupPatch, name: str = Path(..., max_length=64)):
    """Rename, describe, or set some roles: each agent named gets the model given in
    place of its row (null removes it); the others stay. All or nothing."""
    require_perm(request, "agents_llm.change_lineup")
    lineup = get_object_or_404(Lineup, name=name)
    data = payload.dict(exclude_unset=True)
    roles = _roles(dict(payload.roles)) if payload.roles else None
    data.pop("roles", None)
    try:
        services.lineup_update(lineup=lineup, data=data, roles=roles, user=request.auth)
    except services.LineupRolesInvalid as exc:
        return _invalid(exc)
    return _lineup(lineup.name)
