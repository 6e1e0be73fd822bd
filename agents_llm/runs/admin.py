"""Admin for runs: the list, a readable run page, "Run again", and the form behind
the agent page's "Run" button. Runs are written by the runner only, so they are
read-only here."""

from __future__ import annotations

import json
import string
import uuid
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from agents_llm.agents.models import AgentConfig, TaskConfig
from agents_llm.metering.models import LLMCall, MeteredSession
from agents_llm.runs.models import AgentRun, RunStatus
from agents_llm.runs.runner import render_prompt, run_create, run_execute
from tradingagents import formatting

SESSIONS_IN_FILTER = 20


class SessionFilter(admin.SimpleListFilter):
    """Runs or calls of one session (`?session=<id>`, the link of the session's page):
    the latest sessions are offered, any session's id is accepted."""

    title = "session"
    parameter_name = "session"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        sessions = list(MeteredSession.objects.order_by("-created_at")[:SESSIONS_IN_FILTER])
        chosen = self._chosen()
        if chosen is not None and all(s.pk != chosen for s in sessions):
            sessions = [*MeteredSession.objects.filter(pk=chosen), *sessions]
        return [(str(s.pk), str(s)) for s in sessions]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() is None:
            return queryset
        chosen = self._chosen()
        return queryset.none() if chosen is None else queryset.filter(session_id=chosen)

    def _chosen(self) -> uuid.UUID | None:
        try:
            return uuid.UUID(str(self.value())) if self.value() else None
        except ValueError:
            return None


def session_link(session: MeteredSession | None) -> str:
    if session is None:
        return "—"
    return format_html('<a href="{}">{}</a>', reverse("admin:agents_llm_meteredsession_change", args=[session.pk]),
                       str(session))


def run_title(run: AgentRun) -> str:
    return f"Run {run.pk}: {run.agent} on {run.task.name} ({run.get_status_display().lower()})"


def _pretty(value: Any) -> str:
    if value in (None, "", [], {}):
        return "—"
    return format_html('<pre style="white-space: pre-wrap; margin: 0">{}</pre>',
                       json.dumps(value, indent=2, ensure_ascii=False))


def counted(name: str, description: str) -> Any:
    """A read-only field showing the count `name` with thousands separators (Django's
    own display of a number has none)."""

    @admin.display(description=description, ordering=name)
    def show(self: Any, obj: Any) -> str:
        return formatting.count(getattr(obj, name))

    show.__name__ = f"{name}_count"
    return show


class SpendColumns:
    """What answered a run or a gateway call, its tokens, cost and latency."""

    input_tokens_count = counted("input_tokens", "Input tokens")
    output_tokens_count = counted("output_tokens", "Output tokens")
    cache_read_tokens_count = counted("cache_read_tokens", "Cache read tokens")
    cache_write_tokens_count = counted("cache_write_tokens", "Cache write tokens")
    reasoning_tokens_count = counted("reasoning_tokens", "Reasoning tokens")

    @admin.display(description="Model", ordering="model_name")
    def answered_by(self, obj: AgentRun | LLMCall) -> str:
        if not obj.model_name:
            return "—"
        provider = obj.provider.name if obj.provider else "?"
        if obj.synthetic:
            return format_html('{}/{} <span class="synthetic-tag" title="Made up by the offline provider">(synthetic)</span>',
                               provider, obj.model_name)
        return f"{provider}/{obj.model_name}"

    @admin.display(description="Tokens in/out", ordering="input_tokens")
    def tokens(self, obj: AgentRun | LLMCall) -> str:
        return f"{formatting.count(obj.input_tokens)} / {formatting.count(obj.output_tokens)}"

    @admin.display(description="Cost (USD)", ordering="cost")
    def cost_display(self, obj: AgentRun | LLMCall) -> str:
        if obj.status in (RunStatus.QUEUED, RunStatus.RUNNING):  # not billed yet
            return "—"
        if obj.cost is None:
            return format_html('<span title="{}">unknown</span>', obj.cost_note)
        return format_html('<span title="{}">{}</span>', obj.cost_note, formatting.money(obj.cost))

    @admin.display(description="Latency", ordering="latency_ms")
    def latency(self, obj: AgentRun | LLMCall) -> str:
        return formatting.millis(obj.latency_ms)

    @admin.display(description="Session", ordering="session__created_at")
    def session_link(self, obj: AgentRun | LLMCall) -> str:
        return session_link(obj.session)


@admin.register(AgentRun)
class AgentRunAdmin(SpendColumns, admin.ModelAdmin):
    list_display = (
        "id", "status_badge", "agent", "task", "answered_by", "tokens", "cost_display", "latency",
        "session_link", "created",
    )
    list_filter = ("status", "synthetic", "agent", "task", SessionFilter, ("created_at", admin.DateFieldListFilter))
    list_select_related = ("agent", "task", "provider", "session")
    search_fields = ("=id", "agent__name", "task__name", "model_name", "error")
    date_hierarchy = "created_at"
    actions = ("run_again",)
    fieldsets = (
        (None, {"fields": (
            "status_badge", "agent", "task", "session_link", "answered_by", "schema_version", "created_by",
        )}),
        ("Input", {"fields": ("input_pretty", "prompt")}),
        ("Result", {"fields": ("output_pretty", "error", "attempts_table")}),
        ("Usage", {"fields": (
            "input_tokens_count", "output_tokens_count", "requests_count", "cost_display", "cost_note", "latency",
        )}),
        ("Times", {"fields": ("created", "started", "finished")}),
    )
    readonly_fields = (
        "status_badge", "agent", "task", "session_link", "answered_by", "schema_version", "created_by", "input_pretty",
        "prompt", "output_pretty", "error", "attempts_table", "input_tokens_count", "output_tokens_count", "requests_count",
        "cost_display", "cost_note", "latency", "created", "started", "finished",
    )

    requests_count = counted("requests", "Requests")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AgentRun | None = None) -> bool:
        return False

    @admin.display(description="Status", ordering="status")
    def status_badge(self, run: AgentRun) -> str:
        colours = {
            RunStatus.SUCCEEDED: "#2e7d32", RunStatus.FAILED: "#c62828",
            RunStatus.RUNNING: "#1565c0", RunStatus.QUEUED: "#6d6d6d",
        }
        return format_html('<strong style="color: {}">{}</strong>', colours.get(run.status, "inherit"),
                           run.get_status_display())

    @admin.display(description="Created", ordering="created_at")
    def created(self, run: AgentRun) -> str:
        return formatting.when(run.created_at)

    @admin.display(description="Started", ordering="started_at")
    def started(self, run: AgentRun) -> str:
        return formatting.when(run.started_at)

    @admin.display(description="Finished", ordering="finished_at")
    def finished(self, run: AgentRun) -> str:
        return formatting.when(run.finished_at)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None):
        run = AgentRun.objects.select_related("agent", "task").filter(pk=object_id).first() if object_id.isdigit() else None
        if run is not None:
            extra_context = {**(extra_context or {}), "title": run_title(run), "subtitle": None, "run_title": run_title(run)}
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description="Input")
    def input_pretty(self, run: AgentRun) -> str:
        return _pretty(run.input)

    @admin.display(description="Output")
    def output_pretty(self, run: AgentRun) -> str:
        return _pretty(run.output)

    @admin.display(description="Attempts")
    def attempts_table(self, run: AgentRun) -> str:
        if not run.attempts:
            return "—"
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}/{}</td><td>{}</td><td>{}</td><td>{} / {}</td></tr>",
            (
                (n, a.get("provider", ""), a.get("model", ""), a.get("error_class") or "answered",
                 a.get("message", ""), formatting.count(a.get("input_tokens", 0)),
                 formatting.count(a.get("output_tokens", 0)))
                for n, a in enumerate(run.attempts, start=1)
            ),
        )
        return format_html(
            "<table><thead><tr><th>#</th><th>Model</th><th>Outcome</th><th>Message</th><th>Tokens in/out</th>"
            "</tr></thead><tbody>{}</tbody></table>", rows,
        )

    @admin.action(description="Run again with the same input", permissions=["add_run"])
    def run_again(self, request: HttpRequest, queryset: QuerySet[AgentRun]) -> None:
        started = 0
        for run in queryset.select_related("agent", "task"):
            try:
                run_create(agent=run.agent, task=run.task, input=run.input, user=request.user)
            except ValidationError as exc:
                self.message_user(request, f"Run {run.pk}: {' '.join(exc.messages)}", messages.ERROR)
                continue
            started += 1
        if started:
            self.message_user(request, f"Queued {started} new run(s).", messages.SUCCESS)

    def has_add_run_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("agents_llm.add_agentrun")

    # The "Run" button of the agent page ---------------------------------------

    def get_urls(self):
        start = path("start/<int:agent_id>/", self.admin_site.admin_view(self.start_view),
                     name="agents_llm_agentrun_start")
        return [start, *super().get_urls()]

    def start_view(self, request: HttpRequest, agent_id: int) -> HttpResponse:
        if not self.has_add_run_permission(request):
            raise PermissionDenied
        agent = get_object_or_404(AgentConfig, pk=agent_id)
        form = StartRunForm(request.POST or None, agent=agent, task_ref=request.GET.get("task", ""))
        if request.method == "POST" and form.is_valid():
            try:
                run = run_create(
                    agent=agent, task=form.cleaned_data["task"], input=form.cleaned_data["input"],
                    user=request.user, enqueue=not form.cleaned_data["wait"],
                )
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                if form.cleaned_data["wait"]:
                    run = run_execute(run_id=run.pk)
                    level = messages.SUCCESS if run.status == RunStatus.SUCCEEDED else messages.ERROR
                    self.message_user(request, f"Run {run.pk} {run.status}.", level)
                else:
                    self.message_user(request, f"Run {run.pk} queued.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:agents_llm_agentrun_change", args=[run.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Run {agent}",
            "agent": agent,
            "form": form,
            "opts": self.model._meta,
            "agent_opts": AgentConfig._meta,
            "placeholders": form.placeholders,
            "input_templates": form.input_templates,
        }
        return TemplateResponse(request, "admin/agents_llm/agentrun/start_run.html", context)


class PrettyJSONField(forms.JSONField):
    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        if value is None:
            return ""  # no task chosen yet: the page's script fills in its template
        return json.dumps(value, indent=2, ensure_ascii=False)


class StartRunForm(forms.Form):
    task = forms.ModelChoiceField(queryset=TaskConfig.objects.none())
    # Not required: an empty object is a valid input for a prompt without placeholders,
    # and a missing placeholder gets its own message from clean().
    input = PrettyJSONField(
        required=False, widget=forms.Textarea(attrs={"rows": 8, "cols": 80}),
        help_text="A JSON object with a value for each {placeholder} of the task's prompt.",
    )
    wait = forms.BooleanField(
        required=False, initial=True, label="Run now and wait for the answer",
        help_text="Unticked, the run is queued for a background worker.",
    )

    def __init__(self, *args: Any, agent: AgentConfig, task_ref: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        tasks = list(TaskConfig.objects.filter(assignments__agent=agent, enabled=True).order_by("name"))
        self.fields["task"].queryset = TaskConfig.objects.filter(pk__in=[t.pk for t in tasks]).order_by("name")
        self.placeholders = {t.name: _placeholders(t.prompt_template) for t in tasks}
        # What the input box starts with for each task (by id, for the page's script).
        self.input_templates = {
            str(t.pk): json.dumps(dict.fromkeys(self.placeholders[t.name], ""), indent=2) for t in tasks
        }
        chosen = next((t for t in tasks if task_ref in (str(t.pk), t.name)), None)
        if chosen is None and len(tasks) == 1:
            chosen = tasks[0]
        if chosen is not None:
            self.fields["task"].initial = chosen.pk
            self.fields["input"].initial = dict.fromkeys(self.placeholders[chosen.name], "")

    def clean_input(self) -> dict[str, Any]:
        value = self.cleaned_data["input"]
        if value in (None, ""):
            return {}
        if not isinstance(value, dict):
            raise forms.ValidationError("The input must be a JSON object.")
        return value

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        task, value = cleaned.get("task"), cleaned.get("input")
        if task is not None and isinstance(value, dict):
            try:
                render_prompt(task.prompt_template, value)
            except ValidationError as exc:
                for message in exc.message_dict.get("input", exc.messages):
                    self.add_error("input", message)
        return cleaned


def _placeholders(template: str) -> list[str]:
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(template) if name]
    except ValueError:
        return []
    # Same rule as the runner: "{risk.level}" needs "risk".
    return sorted({name.split(".")[0].split("[")[0] for name in names})
