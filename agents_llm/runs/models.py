"""Runs: one agent answering one task."""

from __future__ import annotations


from django.conf import settings
from django.db import models

from providers.models import LLMProvider

from agents_llm.agents.models import AgentConfig, TaskConfig


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class AgentRun(models.Model):
    # Looked up through the (agent, -created_at) and (task, -created_at) indexes below: an
    # index of their own would only cost every write.
    agent = models.ForeignKey(AgentConfig, on_delete=models.CASCADE, related_name="runs", db_index=False)
    task = models.ForeignKey(TaskConfig, on_delete=models.CASCADE, related_name="runs", db_index=False)
    input = models.JSONField(default=dict, blank=True)
    prompt = models.TextField(blank=True)
    output = models.JSONField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED)
    error = models.TextField(blank=True)
    # One entry per provider/model tried: {"provider", "model", "error_class", "message", ...}
    attempts = models.JSONField(default=list, blank=True)
    provider = models.ForeignKey(
        LLMProvider, on_delete=models.SET_NULL, null=True, blank=True, related_name="runs",
        help_text="The provider that answered.",
    )
    model_name = models.CharField(max_length=200, blank=True, help_text="The model that answered.")
    schema_version = models.PositiveIntegerField(null=True, blank=True)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cache_read_tokens = models.PositiveIntegerField(default=0, help_text="Input tokens read from the vendor's cache.")
    cache_write_tokens = models.PositiveIntegerField(default=0, help_text="Input tokens written to the vendor's cache.")
    reasoning_tokens = models.PositiveIntegerField(default=0, help_text="Output tokens spent on reasoning.")
    requests = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(
        max_digits=14, decimal_places=8, null=True, blank=True,
        help_text="USD; empty when the price is unknown (see cost note).",
    )
    cost_note = models.CharField(max_length=300, blank=True)
    # What the cost was computed from, per model response (usage, price source, catalog
    # snapshot or the config's prices): a later price change never rewrites it; `reprice` may.
    cost_basis = models.JSONField(default=list, blank=True)
    synthetic = models.BooleanField(default=False, help_text="Answered by the offline provider.")
    fell_back = models.BooleanField(default=False, help_text="Answered by a model after the first of the chain.")
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    session = models.ForeignKey(
        "agents_llm.MeteredSession", on_delete=models.SET_NULL, null=True, blank=True, related_name="runs"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # When a message for this run last reached the broker; empty while the broker was
    # down. The periodic sweep re-sends queued runs whose message never arrived.
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "agent_runs"
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status"], name="agent_runs_status"),
            models.Index(fields=["agent", "-created_at"], name="agent_runs_agent_created"),
            models.Index(fields=["task", "-created_at"], name="agent_runs_task_created"),
        ]

    def __str__(self) -> str:
        return f"run {self.pk} {self.agent_id}/{self.task_id} {self.status}"
