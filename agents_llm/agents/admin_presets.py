"""Admin for LLM presets, and the agents' "Apply preset…" action."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from simple_history.admin import SimpleHistoryAdmin

from agents_llm.agents.models import AgentConfig, LLMPreset
from agents_llm.agents.services import preset_apply


@admin.register(LLMPreset)
class LLMPresetAdmin(SimpleHistoryAdmin):
    list_display = ("name", "provider", "model_name", "temperature", "max_tokens", "fallback_model", "updated_at")
    list_select_related = ("provider", "fallback_provider")
    search_fields = ("name", "model_name", "description")


class PresetChoiceForm(forms.Form):
    # No preset is chosen for the operator: applying one replaces each agent's primary config.
    preset = forms.ModelChoiceField(
        queryset=LLMPreset.objects.select_related("provider"), empty_label="— choose a preset —",
        error_messages={"required": "Choose the preset to apply."},
    )


@admin.action(description="Apply preset… (sets each selected agent's primary LLM config)")
def apply_preset(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[AgentConfig]):
    if not (request.user.has_perm("agents_llm.add_agentllmconfig") and request.user.has_perm("agents_llm.change_agentllmconfig")):
        modeladmin.message_user(request, "Applying a preset needs the permissions to add and change LLM configs.", messages.ERROR)
        return None
    form = PresetChoiceForm(request.POST if "apply" in request.POST else None)
    if form.is_valid():
        preset = form.cleaned_data["preset"]
        agents = list(queryset.order_by("name"))
        try:
            preset_apply(preset=preset, agents=agents, user=request.user)
        except ValidationError as exc:
            modeladmin.message_user(request, f"Nothing was changed: {' '.join(exc.messages)}", messages.ERROR)
            return None
        modeladmin.message_user(
            request, f"Applied preset '{preset.name}' ({preset.model_name}) to {len(agents)} agent(s): "
            f"{', '.join(a.name for a in agents)}.", messages.SUCCESS,
        )
        return None
    return TemplateResponse(request, "admin/agents_llm/agentconfig/apply_preset.html", {
        **modeladmin.admin_site.each_context(request),
        "title": "Apply an LLM preset", "form": form, "agents": queryset.order_by("name"),
        "opts": modeladmin.model._meta, "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
    })
