from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, OuterRef, Subquery
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin
from simple_history.template_utils import HistoricalRecordContextHelper

from agents_llm.agents.admin_presets import apply_preset
from agents_llm.agents.models import (
    AgentAlias,
    AgentConfig,
    AgentLLMConfig,
    AgentTaskAssignment,
    TaskConfig,
    TaskSchemaVersion,
    alias_key,
)
from agents_llm.agents.schema_versions import schema_diff, schema_text
from agents_llm.agents.services import task_create, task_restore_schema_version, task_update
from agents_llm.agents.widgets import SchemaField
from agents_llm.output_schema import schema_errors
from providers.forms import SecretFieldsMixin
from providers.selectors import provider_model_choices
from providers.services import secret_apply

LLM_CONFIG_FORM_FIELDS = (
    "priority", "enabled", "provider", "model_name", "temperature", "max_tokens", "top_p",
    "fallback_provider", "fallback_model", "cost_per_1k_input_tokens", "cost_per_1k_output_tokens",
    "cost_per_1k_cached_input_tokens", "metadata_json",
)


class ModelNameInput(forms.TextInput):
    """A free-text model name with suggestions (a <datalist>) for the provider chosen in
    the same form; static/operator/model_picker.js fills the list when it changes."""

    def __init__(self, *, provider_field: str, choices: dict[str, list[str]], attrs: dict | None = None) -> None:
        super().__init__(attrs={"size": 40, "autocomplete": "off", **(attrs or {})})
        self.provider_field = provider_field
        self.choices = choices

    def get_context(self, name: str, value, attrs):
        attrs = {**(attrs or {})}
        attrs["list"] = f"{attrs.get('id', name)}-models"
        attrs["data-provider-field"] = self.provider_field
        attrs["data-model-choices"] = json.dumps(self.choices, separators=(",", ":"))
        return super().get_context(name, value, attrs)

    def render(self, name: str, value, attrs=None, renderer=None) -> str:
        html = super().render(name, value, attrs, renderer)
        list_id = f"{(attrs or {}).get('id', name)}-models"
        return format_html('{}<datalist id="{}" class="model-choices"></datalist>', html, list_id)

    class Media:
        js = ("operator/model_picker.js",)


def _model_picker_field(db_field, request, **kwargs):
    """model_name / fallback_model with the picker; None for any other field."""
    provider_field = {"model_name": "provider", "fallback_model": "fallback_provider"}.get(db_field.name)
    if provider_field is None:
        return None
    # One query per request, shared by every form of the page (the inline has several).
    if not hasattr(request, "_model_choices"):
        request._model_choices = provider_model_choices()
    kwargs["widget"] = ModelNameInput(provider_field=provider_field, choices=request._model_choices)
    return db_field.formfield(**kwargs)


class AgentLLMConfigForm(SecretFieldsMixin, forms.ModelForm):
    class Meta:
        model = AgentLLMConfig
        fields = ("agent", *LLM_CONFIG_FORM_FIELDS)


class AgentLLMConfigInline(admin.StackedInline):
    model = AgentLLMConfig
    form = AgentLLMConfigForm
    fk_name = "agent"
    extra = 0
    fields = (*LLM_CONFIG_FORM_FIELDS, "key_hint", "api_key", "clear_api_key")
    readonly_fields = ("key_hint",)
    ordering = ("priority",)
    autocomplete_fields = ()

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        return _model_picker_field(db_field, request, **kwargs) or super().formfield_for_dbfield(db_field, request, **kwargs)

    @admin.display(description="Stored key")
    def key_hint(self, obj: AgentLLMConfig) -> str:
        return obj.api_key_hint or "— (uses the provider's key)"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("provider", "fallback_provider")


class AliasFormSet(forms.BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        seen: set[str] = set()
        for form in self.forms:
            name = form.cleaned_data.get("name") if hasattr(form, "cleaned_data") else None
            if not name or form.cleaned_data.get("DELETE"):
                continue
            key = alias_key(name)
            if key in seen:
                raise forms.ValidationError(f"'{name}' is listed twice (aliases ignore case).")
            seen.add(key)


class AgentAliasInline(admin.TabularInline):
    """Other names gateway clients may call the agent by (the `model` they send)."""

    model = AgentAlias
    formset = AliasFormSet
    extra = 1
    fields = ("name",)
    verbose_name = "gateway alias"
    verbose_name_plural = "Gateway aliases (other names OpenAI clients may call this agent by, any case)"


class AssignmentInline(admin.TabularInline):
    model = AgentTaskAssignment
    extra = 0
    fields = ("task",)


@admin.register(AgentConfig)
class AgentConfigAdmin(SimpleHistoryAdmin):
    list_display = ("name", "display_name", "role", "primary_model", "enabled", "config_count", "updated_at")
    list_filter = ("role", "enabled")
    search_fields = ("name", "display_name", "description")
    inlines = (AgentLLMConfigInline, AgentAliasInline, AssignmentInline)
    actions = (apply_preset,)
    readonly_fields = ("created_at", "updated_at")

    def get_queryset(self, request):
        primary = AgentLLMConfig.objects.filter(agent=OuterRef("pk"), enabled=True).order_by("priority")
        return super().get_queryset(request).annotate(
            _config_count=Count("llm_configs", distinct=True),
            _model=Subquery(primary.values("model_name")[:1]),
            _provider=Subquery(primary.values("provider__name")[:1]),
        )

    @admin.display(description="Model (primary)", ordering="_model")
    def primary_model(self, obj: AgentConfig) -> str:
        if not obj._model:
            return format_html('<em class="quiet">{}</em>', "none enabled")
        return f"{obj._provider}/{obj._model}"

    @admin.display(description="LLM configs", ordering="_config_count")
    def config_count(self, obj: AgentConfig) -> int:
        return obj._config_count

    def save_formset(self, request, form, formset, change) -> None:
        if formset.model is not AgentLLMConfig:
            return super().save_formset(request, form, formset, change)
        for inline_form in formset.forms:
            if inline_form in formset.deleted_forms or not inline_form.has_changed():
                continue
            secret_apply(inline_form.instance, inline_form.new_api_key())
        super().save_formset(request, form, formset, change)


@admin.register(AgentLLMConfig)
class AgentLLMConfigAdmin(SimpleHistoryAdmin):
    form = AgentLLMConfigForm
    list_display = (
        "agent", "priority", "provider", "model_name", "temperature", "max_tokens", "top_p",
        "fallback_provider", "fallback_model", "cost_per_1k_input_tokens", "cost_per_1k_output_tokens",
        "key_hint", "enabled",
    )
    list_filter = ("enabled", "provider__provider_type", "provider")
    search_fields = ("agent__name", "model_name", "fallback_model")
    list_select_related = ("agent", "provider", "fallback_provider")
    readonly_fields = ("key_hint", "created_at", "updated_at")
    fields = ("agent", *LLM_CONFIG_FORM_FIELDS, "key_hint", "api_key", "clear_api_key", "created_at", "updated_at")

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        return _model_picker_field(db_field, request, **kwargs) or super().formfield_for_dbfield(db_field, request, **kwargs)

    @admin.display(description="Own key")
    def key_hint(self, obj: AgentLLMConfig) -> str:
        return obj.api_key_hint or "—"

    def save_model(self, request, obj, form, change) -> None:
        secret_apply(obj, form.new_api_key())
        super().save_model(request, obj, form, change)


class SchemaVersionInline(admin.TabularInline):
    model = TaskSchemaVersion
    extra = 0
    can_delete = False
    fields = ("number", "created_by", "created_at", "note", "changes")
    readonly_fields = fields
    ordering = ("-number",)
    verbose_name = "schema version"
    verbose_name_plural = "schema versions (newest first)"

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("created_by")

    @admin.display(description="Changes")
    def changes(self, obj: TaskSchemaVersion) -> str:
        url = reverse("admin:agents_llm_taskconfig_schema_version", args=[obj.task_id, obj.number])
        return format_html('<a href="{}">diff with previous / restore</a>', url)


class TaskConfigForm(forms.ModelForm):
    response_schema = SchemaField(
        label="Response schema",
        help_text="The JSON Schema every answer must match. Build it with the cards, or edit the raw JSON.",
    )

    class Meta:
        model = TaskConfig
        fields = ("name", "description", "prompt_template", "response_schema", "output_retries", "timeout_seconds", "enabled")

    def clean_response_schema(self):
        schema = self.cleaned_data.get("response_schema")
        errors = schema_errors(schema)
        # The widget puts each error next to the card it concerns.
        self.fields["response_schema"].widget.schema_errors = errors
        if errors:
            raise forms.ValidationError([str(e) for e in errors])
        return schema


class TaskHistoryHelper(HistoricalRecordContextHelper):
    """A schema change in a task's history is the JSON diff the schema version page
    shows, not two truncated Python dicts."""

    def context_for_delta_changes(self, delta) -> list[dict]:
        rows = super().context_for_delta_changes(delta)
        for row, change in zip(rows, delta.changes, strict=False):
            if change.field == "response_schema":
                row["diff"] = schema_diff(change.old, change.new)
        return rows


@admin.register(TaskConfig)
class TaskConfigAdmin(SimpleHistoryAdmin):
    form = TaskConfigForm
    object_history_list_template = "admin/agents_llm/taskconfig/object_history_list.html"

    def get_historical_record_context_helper(self, request, historical_record):
        return TaskHistoryHelper(self.model, historical_record)
    list_display = ("name", "schema_version", "enabled", "assignment_count", "updated_at")
    list_filter = ("enabled",)
    search_fields = ("name", "description")
    readonly_fields = ("schema_version", "created_at", "updated_at")
    inlines = (SchemaVersionInline,)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_assignments=Count("assignments", distinct=True))

    @admin.display(description="Agents", ordering="_assignments")
    def assignment_count(self, obj: TaskConfig) -> int:
        return obj._assignments

    def save_model(self, request, obj: TaskConfig, form, change: bool) -> None:
        # Through the services, so every schema change becomes a new version.
        data = {f: form.cleaned_data[f] for f in TaskConfigForm.Meta.fields}
        if change:
            saved = task_update(task=obj, data=data, user=request.user)
        else:
            saved = task_create(user=request.user, **data)
        obj.pk = saved.pk
        obj.schema_version = saved.schema_version

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "<int:task_id>/schema-versions/<int:number>/",
                view(self.schema_version_view),
                name="agents_llm_taskconfig_schema_version",
            ),
            path(
                "<int:task_id>/schema-versions/<int:number>/restore/",
                view(self.schema_restore_view),
                name="agents_llm_taskconfig_schema_restore",
            ),
            *super().get_urls(),
        ]

    def schema_version_view(self, request: HttpRequest, task_id: int, number: int) -> HttpResponse:
        """One version's schema and its diff with another (the previous one by default)."""
        task = get_object_or_404(TaskConfig, pk=task_id)
        if not self.has_view_or_change_permission(request, task):
            raise PermissionDenied
        versions = list(task.schema_versions.select_related("created_by").order_by("-number"))
        by_number = {v.number: v for v in versions}
        version = by_number.get(number)
        if version is None:
            raise Http404("No such schema version.")
        against_number = request.GET.get("against", "")
        if against_number.isdigit() and int(against_number) in by_number:
            against = by_number[int(against_number)]
        else:
            against = by_number.get(max((n for n in by_number if n < number), default=-1))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"{task.name}: schema version {number}",
            "task": task,
            "version": version,
            "against": against,
            "versions": versions,
            "schema_text": schema_text(version.schema),
            "diff": schema_diff(against.schema, version.schema) if against else [],
            "is_current": number == task.schema_version,
            "can_restore": self.has_change_permission(request, task) and number != task.schema_version,
        }
        return TemplateResponse(request, "agents_llm/schema_version.html", context)

    def schema_restore_view(self, request: HttpRequest, task_id: int, number: int) -> HttpResponse:
        task = get_object_or_404(TaskConfig, pk=task_id)
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_change_permission(request, task):
            raise PermissionDenied
        if not task.schema_versions.filter(number=number).exists():
            raise Http404("No such schema version.")
        before = task.schema_version
        task = task_restore_schema_version(task=task, number=number, user=request.user)
        if task.schema_version == before:
            self.message_user(request, f"Version {number} is the same as the current schema; nothing changed.", messages.INFO)
        else:
            self.message_user(request, f"Restored the schema of version {number} as version {task.schema_version}.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:agents_llm_taskconfig_change", args=[task.pk]))


@admin.register(TaskSchemaVersion)
class TaskSchemaVersionAdmin(admin.ModelAdmin):
    list_display = ("task", "number", "created_by", "created_at", "note", "changes")
    list_filter = ("task",)
    list_select_related = ("task", "created_by")
    search_fields = ("task__name",)
    fields = ("task", "number", "created_by", "created_at", "note", "changes", "pretty_schema")
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Schema")
    def pretty_schema(self, obj: TaskSchemaVersion) -> str:
        return format_html('<pre class="sb-preview">{}</pre>', schema_text(obj.schema))

    @admin.display(description="Changes")
    def changes(self, obj: TaskSchemaVersion) -> str:
        url = reverse("admin:agents_llm_taskconfig_schema_version", args=[obj.task_id, obj.number])
        return format_html('<a href="{}">diff / restore</a>', url)


@admin.register(AgentTaskAssignment)
class AgentTaskAssignmentAdmin(admin.ModelAdmin):
    list_display = ("agent", "task", "created_at")
    list_filter = ("task", "agent__role")
    search_fields = ("agent__name", "task__name")
    list_select_related = ("agent", "task")
