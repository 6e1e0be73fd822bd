from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from tradingagents.models import APIToken
from tradingagents.services import api_token_create, api_token_revoke

admin.site.site_header = "TradingAgents control room"
admin.site.site_title = "TradingAgents"
admin.site.index_title = "Agents, models, runs and spend"
# The lists (runs above all) need the page's width more than a second copy of the index.
admin.site.enable_nav_sidebar = False
# The admin is the site: its "View site" looped back to it. The header links the API docs instead.
admin.site.site_url = "/api/docs"

# django-dramatiq's message log stays empty here (runs and provider checks keep their
# outcome on their own rows), and its "Tasks" entry reads like ours: hide it.
try:
    from django_dramatiq.models import Task as DramatiqTask

    admin.site.unregister(DramatiqTask)
except (ImportError, admin.sites.NotRegistered):
    pass


@admin.register(APIToken)
class APITokenAdmin(admin.ModelAdmin):
    list_display = ("prefix", "name", "user", "created_at", "last_used_at", "status")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    search_fields = ("name", "prefix", "user__username")
    actions = ("revoke",)
    readonly_fields = ("prefix", "created_at", "last_used_at", "revoked_at")

    def get_fields(self, request: HttpRequest, obj: APIToken | None = None):
        if obj is None:
            return ("user", "name")
        return ("user", "name", "prefix", "created_at", "last_used_at", "revoked_at")

    def get_readonly_fields(self, request: HttpRequest, obj: APIToken | None = None):
        return self.readonly_fields if obj is None else ("user", *self.readonly_fields)

    def get_queryset(self, request: HttpRequest) -> QuerySet[APIToken]:
        qs = super().get_queryset(request).select_related("user")
        # A token acts as its user: only superusers may see or mint other people's.
        return qs if request.user.is_superuser else qs.filter(user=request.user)

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        if db_field.name == "user" and not request.user.is_superuser:
            from django.contrib.auth import get_user_model

            kwargs["queryset"] = get_user_model().objects.filter(pk=request.user.pk)
            kwargs["initial"] = request.user.pk
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description="Status", boolean=False)
    def status(self, obj: APIToken) -> str:
        return "revoked" if obj.revoked_at else "active"

    def save_model(self, request: HttpRequest, obj: APIToken, form, change: bool) -> None:
        if change:
            obj.save(update_fields=["name"])
            return
        row, token = api_token_create(user=obj.user, name=obj.name)
        obj.pk, obj.prefix, obj.key_hash, obj.created_at = row.pk, row.prefix, row.key_hash, row.created_at
        request._new_api_token = token  # type: ignore[attr-defined] - shown once by response_add

    def response_add(self, request: HttpRequest, obj: APIToken, post_url_continue: str | None = None) -> HttpResponse:
        token = getattr(request, "_new_api_token", None)
        if token is None:
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "API token created",
            "token_row": obj,
            "token": token,
        }
        response = TemplateResponse(request, "admin/tradingagents/apitoken/created.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[APIToken]) -> None:
        count = 0
        for token in queryset.filter(revoked_at__isnull=True):
            api_token_revoke(token=token)
            count += 1
        self.message_user(request, f"Revoked {count} token(s).", messages.SUCCESS)
