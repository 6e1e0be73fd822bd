from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db.models import Count
from simple_history.admin import SimpleHistoryAdmin

from agents_llm.models import AgentConfig, AgentLLMConfig, AgentTaskAssignment, TaskConfig, TaskSchemaVersion
from agents_llm.output_schema import schema_errors
from agents_llm.services import task_create, task_update
from providers.forms import SecretFieldsMixin
from providers.services import secret_apply

LLM_CONFIG_FORM_FIELDS = (
    "priority", "enabled", "provider", "model_name", "temperature", "max_tokens", "top_p",
    "fallback_provider", "fallback_model", "cost_per_1k_input_tokens", "cost_per_1k_output_tokens",
    "metadata_json",
)


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

    @admin.display(description="Stored key")
    def key_hint(self, obj: AgentLLMConfig) -> str:
        return obj.api_key_hint or "— (uses the provider's key)"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("provider", "fallback_provider")


class AssignmentInline(admin.TabularInline):
    model = AgentTaskAssignment
    extra = 0
    fields = ("task",)


@admin.register(AgentConfig)
class AgentConfigAdmin(SimpleHistoryAdmin):
    list_display = ("name", "display_name", "role", "enabled", "config_count", "updated_at")
    list_filter = ("role", "enabled")
    search_fields = ("name", "display_name", "description")
    inlines = (AgentLLMConfigInline, AssignmentInline)
    readonly_fields = ("created_at", "updated_at")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_config_count=Count("llm_configs", distinct=True))

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

    @admin.display(description="Own key")
    def key_hint(self, obj: AgentLLMConfig) -> str:
        return obj.api_key_hint or "—"

    def save_model(self, request, obj, form, change) -> None:
        secret_apply(obj, form.new_api_key())
        obj._history_user = request.user
        super().save_model(request, obj, form, change)


class SchemaVersionInline(admin.TabularInline):
    model = TaskSchemaVersion
    extra = 0
    can_delete = False
    fields = ("number", "created_by", "created_at", "note")
    readonly_fields = fields
    ordering = ("-number",)

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("created_by")


class TaskConfigForm(forms.ModelForm):
    class Meta:
        model = TaskConfig
        fields = ("name", "description", "prompt_template", "response_schema", "output_retries", "timeout_seconds", "enabled")

    def clean_response_schema(self):
        schema = self.cleaned_data.get("response_schema")
        errors = schema_errors(schema)
        if errors:
            raise forms.ValidationError([f"{e.path or '/'}: {e.msg}" for e in errors])
        return schema


@admin.register(TaskConfig)
class TaskConfigAdmin(SimpleHistoryAdmin):
    form = TaskConfigForm
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


@admin.register(TaskSchemaVersion)
class TaskSchemaVersionAdmin(admin.ModelAdmin):
    list_display = ("task", "number", "created_by", "created_at", "note")
    list_filter = ("task",)
    list_select_related = ("task", "created_by")
    search_fields = ("task__name",)
    readonly_fields = ("task", "number", "schema", "created_by", "created_at", "note")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(AgentTaskAssignment)
class AgentTaskAssignmentAdmin(admin.ModelAdmin):
    list_display = ("agent", "task", "created_at")
    list_filter = ("task", "agent__role")
    search_fields = ("agent__name", "task__name")
    list_select_related = ("agent", "task")
