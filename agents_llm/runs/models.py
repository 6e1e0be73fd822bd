"""Runs: one agent answering one task."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from agents_llm.agents.models import AgentConfig, TaskConfig
from agents_llm.metering.models import Metered
from providers.models import LLMProvider


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class AgentRun(Metered):
    """One agent answering one task: its input, output and what it took."""

    # Looked up through the (agent, -created_at) and (task, -created_at) indexes below: an
    # index of their own would only cost every write.
    agent = models.ForeignKey(AgentConfig, on_delete=models.CASCADE, related_name="runs", db_index=False)
    task = models.ForeignKey(TaskConfig, on_delete=models.CASCADE, related_name="runs", db_index=False)
    input = models.JSONField(default=dict, blank=True)
    prompt = models.TextField(blank=True)
    output = models.JSONField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED)
    error = models.TextField(blank=True)
    provider = models.ForeignKey(
        LLMProvider, on_delete=models.SET_NULL, null=True, blank=True, related_name="runs",
        help_text="The provider that answered.",
    )
    schema_version = models.PositiveIntegerField(null=True, blank=True)
    requests = models.PositiveIntegerField(default=0)
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
    # The process running it says so every RUN_HEARTBEAT_SECONDS: a running run whose
    # heartbeat stopped (its worker died) is queued again by the sweep.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
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
