from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from simple_history.admin import SimpleHistoryAdmin

from providers.forms import SecretFieldsMixin
from providers.models import LLMProvider, ValidationStatus, provider_slug
from providers.services import provider_request_validation, provider_save

BADGE_COLOURS = {
    ValidationStatus.UNKNOWN: "#6b7280",
    ValidationStatus.PENDING: "#b45309",
    ValidationStatus.VALIDATING: "#2563eb",
    ValidationStatus.VALID: "#15803d",
    ValidationStatus.INVALID: "#b91c1c",
    ValidationStatus.UNREACHABLE: "#a16207",
    ValidationStatus.UNDECRYPTABLE: "#7c2d12",
}


def validation_badge(provider: LLMProvider) -> str:
    colour = BADGE_COLOURS.get(provider.validation_status, "#6b7280")
    return format_html(
        '<span class="validation-badge" data-provider-id="{}" data-status="{}" '
        'style="background:{};color:#fff;padding:2px 8px;border-radius:10px;font-size:11px">{}</span>',
        provider.pk, provider.validation_status, colour, provider.get_validation_status_display(),
    )


class LLMProviderForm(SecretFieldsMixin, forms.ModelForm):
    # Typed as a person would name it; stored as the slug the API and configs use.
    name = forms.CharField(
        max_length=64,
        help_text="Any name, e.g. “My OpenAI”: it is stored as a slug (my-openai), "
        "which the API and LLM configs refer to.",
    )

    class Meta:
        model = LLMProvider
        fields = ("name", "provider_type", "base_url", "enabled")

    def clean_name(self) -> str:
        try:
            return provider_slug(self.cleaned_data["name"])
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None


@admin.register(LLMProvider)
class LLMProviderAdmin(SimpleHistoryAdmin):
    form = LLMProviderForm
    list_display = ("name", "provider_type", "kind", "status_badge", "key_hint", "enabled", "validated_at")
    list_filter = ("provider_type", "validation_status", "enabled")
    search_fields = ("name", "base_url")
    readonly_fields = ("status_badge", "validation_error", "validated_at", "key_hint", "models_list", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("name", "provider_type", "base_url", "enabled")}),
        ("Credentials", {"fields": ("key_hint", "api_key", "clear_api_key")}),
        ("Validation", {"fields": ("status_badge", "validation_error", "validated_at", "models_list")}),
        ("Timestamps", {"fields": ("created_at", "updated_at"), "classes": ("collapse",)}),
    )
    add_fieldsets = (
        (None, {"fields": ("name", "provider_type", "base_url", "enabled")}),
        ("Credentials", {"fields": ("api_key",)}),
    )

    def get_fieldsets(self, request, obj=None):
        # Nothing is stored or validated yet on the add page.
        return self.add_fieldsets if obj is None else self.fieldsets

    actions = ("validate_now",)

    @admin.action(description="Validate now", permissions=("change",))
    def validate_now(self, request: HttpRequest, queryset) -> None:
        for provider in queryset:
            provider_request_validation(provider=provider, user=request.user)
        self.message_user(request, f"Queued a check of {len(queryset)} provider(s); the badge updates when it is done.")

    def get_urls(self):
        return [
            path("<int:provider_id>/validate/", self.admin_site.admin_view(self.validate_view),
                 name="providers_llmprovider_validate"),
            *super().get_urls(),
        ]

    def validate_view(self, request: HttpRequest, provider_id: int):
        """The change page's "Validate now" button (POST)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        provider = get_object_or_404(LLMProvider, pk=provider_id)
        if not self.has_change_permission(request, provider):
            raise PermissionDenied
        provider_request_validation(provider=provider, user=request.user)
        self.message_user(request, f"Queued a check of {provider.name}; the badge updates when it is done.", messages.INFO)
        return HttpResponseRedirect(reverse("admin:providers_llmprovider_change", args=[provider.pk]))

    def _live_context(self, extra_context: dict | None) -> dict:
        # The live badge script (static/live/) colours badges like validation_badge() does.
        return {**(extra_context or {}), "badge_colours": {str(k): v for k, v in BADGE_COLOURS.items()}}

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, self._live_context(extra_context))

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        return super().changeform_view(request, object_id, form_url, self._live_context(extra_context))

    @admin.display(description="Validation", ordering="validation_status")
    def status_badge(self, obj: LLMProvider) -> str:
        return validation_badge(obj) if obj.pk else "-"

    @admin.display(description="Stored key")
    def key_hint(self, obj: LLMProvider) -> str:
        return obj.api_key_hint or "—"

    @admin.display(description="Available models")
    def models_list(self, obj: LLMProvider) -> str:
        models = obj.available_models or []
        if not models:
            return "None reported yet: “Validate now” asks the vendor for its list."
        items = format_html_join("", "<li><code>{}</code></li>", ((m,) for m in models))
        return format_html('<p class="available-count">{} model(s)</p><ul class="available-models">{}</ul>', len(models), items)

    @admin.display(description="Output")
    def kind(self, obj: LLMProvider) -> str:
        if obj.is_offline:
            return format_html('<strong class="synthetic-label" title="{}">SYNTHETIC (offline)</strong>',
                               "PydanticAI TestModel: schema-valid made-up output, no network, no cost.")
        return "live"

    def save_model(self, request, obj: LLMProvider, form: LLMProviderForm, change: bool) -> None:
        provider_save(provider=obj, changed_fields=form.changed_data, api_key=form.new_api_key(), user=request.user)
