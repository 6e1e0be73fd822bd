"""`/api/v1/presets`: named LLM settings, applied to many agents at once."""

# No `from __future__ import annotations`: django-ninja reads these signatures at runtime.


from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Path, Router, Schema
from ninja.errors import ValidationError as InputError

from agents_llm.agents import services
from agents_llm.agents.models import AgentConfig, LLMPreset
from agents_llm.agents.schemas import LLMConfigOut
from tradingagents.auth import require_perm, require_read
from tradingagents.schemas import AUTH_ERRORS, MAX_ID, WRITE_ERRORS, Money

router = Router(tags=["presets"])


class PresetOut(Schema):
    name: str
    description: str
    provider: str
    model_name: str
    temperature: float
    max_tokens: int | None
    top_p: float | None
    fallback_provider: str | None
    fallback_model: str
    cost_per_1k_input_tokens: Money
    cost_per_1k_output_tokens: Money

    @staticmethod
    def resolve_provider(obj: LLMPreset) -> str:
        return obj.provider.name

    @staticmethod
    def resolve_fallback_provider(obj: LLMPreset) -> str | None:
        return obj.fallback_provider.name if obj.fallback_provider_id else None


class PresetApplyIn(Schema):
    agents: list[int | str] = Field(..., min_length=1, max_length=500, description="Agent names or ids.")


class PresetApplyOut(Schema):
    preset: str
    configs: list[LLMConfigOut]


@router.get("/presets", response={200: list[PresetOut], **AUTH_ERRORS})
def list_presets(request: HttpRequest):
    require_read(request, "agents_llm.llmpreset")
    return list(LLMPreset.objects.select_related("provider", "fallback_provider"))


@router.post("/presets/{name}/apply", response={200: PresetApplyOut, **WRITE_ERRORS})
def apply_preset(request: HttpRequest, payload: PresetApplyIn, name: str = Path(..., max_length=64)):
    """Set the preset on each agent's primary LLM config; all agents or none."""
    require_perm(request, "agents_llm.add_agentllmconfig", "agents_llm.change_agentllmconfig")
    preset = get_object_or_404(LLMPreset.objects.select_related("provider", "fallback_provider"), name=name)
    agents = []
    for index, ref in enumerate(payload.agents):
        query = AgentConfig.objects.filter(pk=int(ref)) if str(ref).isdigit() and int(ref) <= MAX_ID else (
            AgentConfig.objects.filter(name=ref)
        )
        agent = query.first()
        if agent is None:
            raise InputError([{"loc": ("body", "agents", index), "msg": f"No agent with id or name {ref!r}."}])
        agents.append(agent)
    configs = services.preset_apply(preset=preset, agents=agents, user=request.auth)
    return {"preset": preset.name, "configs": configs}
