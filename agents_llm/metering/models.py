"""Sessions (spend and budgets) and the record of every gateway call."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from providers.models import LLMProvider
from tradingagents import formatting

# Money a session adds up is stored as an integer count of these: sums and comparisons
# in SQL are then exact on every database (SQLite keeps decimals as floating point).
MONEY_UNITS_PER_USD = 10**8


class MoneyField(models.BigIntegerField):
    """US dollars to eight places, stored as an integer count of 10⁻⁸ USD; read and
    written as Decimal. In expressions wrap values with `money()`."""

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Decimal | None:
        return None if value is None else Decimal(int(value)).scaleb(-8)

    def to_python(self, value: Any) -> Decimal | None:
        if value is None or isinstance(value, Decimal):
            return value
        return Decimal(str(value))

    def get_prep_value(self, value: Any) -> int | None:
        if value is None or hasattr(value, "resolve_expression"):
            return value
        return int((Decimal(str(value)) * MONEY_UNITS_PER_USD).to_integral_value())

    def formfield(self, **kwargs: Any) -> Any:
        return models.DecimalField(max_digits=18, decimal_places=8).formfield(**kwargs)


def money(value: Decimal) -> models.Value:
    return models.Value(value, output_field=MoneyField())


class SessionStatus(models.TextChoices):
    OPEN = "open", "Open"
    OVER_BUDGET = "over_budget", "Over budget"
    CLOSED = "closed", "Closed"


class MeteredSession(models.Model):
    """One piece of work (e.g. one TradingAgents analysis): the gateway calls and runs
    made for it, what they spent, and the budget they may not exceed.

    `spent_*` and `reserved_*` only change through conditional UPDATEs in
    agents_llm.metering, so concurrent calls in any number of processes can never
    together reserve more than the budget. `reserved_*` is the sum of the session's
    Reservation rows; `spent_*` the sum of its calls' and runs' rows: each changes in
    the transaction that writes those rows."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="metered_sessions")
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=SessionStatus.choices, default=SessionStatus.OPEN)
    budget_usd = MoneyField(null=True, blank=True)
    budget_tokens = models.PositiveBigIntegerField(null=True, blank=True)
    spent_usd = MoneyField(default=0)
    spent_tokens = models.PositiveBigIntegerField(default=0)
    reserved_usd = MoneyField(default=0)
    reserved_tokens = models.PositiveBigIntegerField(default=0)
    # Spend whose price is unknown cannot be added up: counted, so totals say so.
    unpriced_calls = models.PositiveIntegerField(default=0)
    token_prefix = models.CharField(max_length=12, editable=False)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    metadata = models.JSONField(default=dict, blank=True)
    # Routes the session's calls for the agents it names (agents_llm.agents.chain).
    # PROTECT: a session keeps saying which mix it ran with; a lineup in use cannot go.
    lineup = models.ForeignKey(
        "agents_llm.Lineup", on_delete=models.PROTECT, null=True, blank=True, related_name="sessions",
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # Who changed a budget, and when (spend and reservations change by UPDATE: not here).
    history = HistoricalRecords(excluded_fields=[
        "spent_usd", "spent_tokens", "reserved_usd", "reserved_tokens", "unpriced_calls", "token_hash", "metadata",
    ])

    class Meta:
        db_table = "metered_sessions"
        ordering = ["-created_at"]
        verbose_name = "session"
        indexes = [models.Index(fields=["owner", "status"], name="metered_sessions_owner_status")]
        constraints = [
            models.CheckConstraint(
                condition=Q(budget_usd__isnull=True) | Q(budget_usd__gte=0),
                name="metered_session_budget_usd_not_negative",
                violation_error_message="The USD budget cannot be negative.",
            ),
            models.CheckConstraint(
                condition=Q(reserved_usd__gte=0) & Q(spent_usd__gte=0),
                name="metered_session_money_not_negative",
            ),
        ]

    def __str__(self) -> str:
        # Sessions often share a name (one per analysis of a ticker): when and which one.
        created = "not saved" if self.created_at is None else formatting.when(self.created_at)
        return f"{self.name} ({created} · {str(self.pk)[:8]})"


class Reservation(models.Model):
    """The worst case of one vendor request in flight (or of requests made but not yet
    recorded) in a budgeted session, held in `MeteredSession.reserved_*` until the
    call's or run's row is written. A process that dies leaves its rows behind: the
    sweep (sessions.reservations_release_expired) releases them once expired."""

    session = models.ForeignKey(MeteredSession, on_delete=models.CASCADE, related_name="reservations")
    # The request's own name for it: a try repeated after a lost COMMIT answer finds it.
    key = models.UUIDField(null=True, blank=True, unique=True, editable=False)
    tokens = models.PositiveBigIntegerField()
    usd = MoneyField()
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        db_table = "metered_reservations"

    def __str__(self) -> str:
        return f"reservation {self.pk}: {self.tokens} tokens, ${self.usd}"


class CallStatus(models.TextChoices):
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    REFUSED = "refused", "Refused"  # budget or closed session: never forwarded


class Metered(models.Model):
    """What a run and a gateway call record alike: the models tried, the one that
    answered, the tokens it used and what they cost."""

    # One entry per provider/model tried: {"provider", "model", "error_class", "message", ...}
    attempts = models.JSONField(default=list, blank=True)
    model_name = models.CharField(max_length=200, blank=True, help_text="The vendor model that answered.")
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cache_read_tokens = models.PositiveIntegerField(default=0, help_text="Input tokens read from the vendor's cache.")
    cache_write_tokens = models.PositiveIntegerField(default=0, help_text="Input tokens written to the vendor's cache.")
    reasoning_tokens = models.PositiveIntegerField(default=0, help_text="Output tokens spent on reasoning.")
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

    class Meta:
        abstract = True


class LLMCall(Metered):
    """One request to the OpenAI-compatible gateway. Prompt and answer text are never
    stored: only who asked, what answered, and what it cost."""

    # Looked up through the (agent, -created_at) index below.
    agent = models.ForeignKey("agents_llm.AgentConfig", on_delete=models.CASCADE, related_name="calls", db_index=False)
    alias = models.CharField(max_length=200, blank=True, help_text="The model name the client asked for.")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    session = models.ForeignKey(  # looked up through the (session, agent) index below
        MeteredSession, on_delete=models.SET_NULL, null=True, blank=True, related_name="calls", db_index=False,
    )
    provider = models.ForeignKey(
        LLMProvider, on_delete=models.SET_NULL, null=True, blank=True, related_name="calls",
        help_text="The provider that answered.",
    )
    status = models.CharField(max_length=16, choices=CallStatus.choices)
    error_code = models.CharField(max_length=40, blank=True)
    error = models.CharField(max_length=500, blank=True)
    streamed = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # The client request's own name for its row: a write repeated after a lost COMMIT
    # answer finds the row instead of storing (and counting) the call twice.
    request_key = models.UUIDField(null=True, blank=True, unique=True, editable=False)

    class Meta:
        db_table = "llm_calls"
        ordering = ["-created_at"]
        verbose_name = "gateway call"
        permissions = [("use_gateway", "Can call agents through the OpenAI-compatible gateway")]
        indexes = [
            models.Index(fields=["agent", "-created_at"], name="llm_calls_agent_created"),
            models.Index(fields=["session", "agent"], name="llm_calls_session_agent"),
            models.Index(fields=["status"], name="llm_calls_status"),
        ]

    def __str__(self) -> str:
        return f"call {self.pk} {self.alias or self.agent_id} {self.status}"
