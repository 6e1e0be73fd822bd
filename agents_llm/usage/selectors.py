"""Spend and tokens of agent runs and gateway calls, added up in the database.

`usage_rows` answers every grouping the admin's usage dashboard and `GET /api/v1/usage`
need: by day, agent, provider, model or session, or several at once (day × agent for
a stacked chart). Each source is one GROUP BY query, and names are looked up once per
kind of key, so the number of queries never depends on the number of rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.functions import Substr, TruncDate

from agents_llm.agents.models import AgentConfig
from agents_llm.metering.models import CallStatus, LLMCall, MeteredSession
from agents_llm.runs.models import AgentRun, RunStatus
from providers.models import LLMProvider

GROUP_KEYS = ("day", "agent", "provider", "model", "session")
SOURCES = ("runs", "calls")

# The column each key groups on: ids are grouped and named afterwards (a join on a
# million rows costs more than one small lookup of the names).
_COLUMNS: dict[str, Any] = {
    "day": None,  # _day_column(): it depends on the database
    "agent": F("agent_id"),
    "provider": F("provider_id"),
    "model": F("model_name"),
    "session": F("session_id"),
}
# PostgreSQL, for these queries only: compiling each one (JIT) costs more than it saves,
# and the planner cannot know how few days × agents there are, so with the default
# work_mem it sorts a million rows on disk instead of hashing a few hundred groups.
POSTGRES_SETTINGS = {"jit": "off", "work_mem": "64MB"}

_TOKEN_FIELDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")


@dataclass
class UsageRow:
    """What one group spent. `keys` has one value per group key, as the API names
    it: an ISO day, an agent, provider or model name, a session id (None when the row
    has none, e.g. a run outside any session). `labels` are the same for people
    (a session's name)."""

    keys: tuple[Any, ...] = ()
    labels: tuple[str, ...] = ()
    runs: int = 0
    calls: int = 0
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    cost: Decimal = field(default_factory=lambda: Decimal(0))
    unpriced: int = 0  # runs and calls whose price is unknown: not in `cost`
    failed: int = 0  # failed runs and failed calls
    refused: int = 0  # calls refused before reaching a vendor (budget, closed session)
    fell_back: int = 0  # answered by a model after the first of the chain
    synthetic: int = 0  # answered by the offline provider

    @property
    def key(self) -> Any:
        return self.keys[0] if len(self.keys) == 1 else " / ".join("—" if k is None else str(k) for k in self.keys)

    @property
    def label(self) -> str:
        return " / ".join(self.labels)

    @property
    def count(self) -> int:
        return self.runs + self.calls

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def failed_share(self) -> float:
        return (self.failed + self.refused) / self.count if self.count else 0.0

    @property
    def fell_back_share(self) -> float:
        return self.fell_back / self.count if self.count else 0.0

    def add(self, other: UsageRow) -> None:
        for f in fields(self):
            if f.name not in ("keys", "labels"):
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("keys", "labels")}
        return {"key": _plain(self.key), "label": self.label, **data, "count": self.count, "tokens": self.tokens}


def day_bounds(date_from: date, date_to: date) -> tuple[datetime, datetime]:
    """[since, until) covering the UTC days date_from..date_to, both included: a range
    on created_at keeps its index usable, where `created_at::date` would not."""
    since = datetime.combine(date_from, time.min, tzinfo=UTC)
    return since, datetime.combine(date_to + timedelta(days=1), time.min, tzinfo=UTC)


def usage_rows(
    *,
    group_by: str | Sequence[str],
    since: datetime | None = None,
    until: datetime | None = None,
    sources: Iterable[str] = SOURCES,
) -> list[UsageRow]:
    """Usage of the runs and gateway calls created in [since, until), one row per
    distinct value of `group_by` (a key of GROUP_KEYS, or a sequence of them; () gives
    the single total row), ordered by key. `sources` limits it to "runs" or "calls"."""
    keys = (group_by,) if isinstance(group_by, str) else tuple(group_by)
    unknown = [k for k in keys if k not in GROUP_KEYS]
    if unknown:
        raise ValueError(f"Cannot group usage by {unknown[0]!r}; use one of {', '.join(GROUP_KEYS)}.")
    sources = tuple(sources)
    merged: dict[tuple[Any, ...], UsageRow] = {}
    with _reporting():
        if "runs" in sources:
            _collect(merged, _runs(since, until), keys, _run_sums(), _run_row)
        if "calls" in sources:
            _collect(merged, _calls(since, until), keys, _call_sums(), _call_row)
    if not keys and not merged:
        merged[()] = UsageRow()
    rows = _named(list(merged.values()), keys)
    return sorted(rows, key=lambda r: tuple((k is None, "" if k is None else str(k)) for k in r.keys))


def usage_total(
    *, since: datetime | None = None, until: datetime | None = None, sources: Iterable[str] = SOURCES
) -> UsageRow:
    return usage_rows(group_by=(), since=since, until=until, sources=sources)[0]


def usage_merge(rows: Iterable[UsageRow], *, position: int | Sequence[int] | None = None) -> list[UsageRow]:
    """Add up rows of a multi-key grouping by some of their keys (`position`: one index
    or several), or all of them into one total row (None); no query. E.g. day × agent ×
    provider × model rows → agent rows (position=1) or provider × model rows ((2, 3))."""
    positions: tuple[int, ...] = () if position is None else (position,) if isinstance(position, int) else tuple(position)
    merged: dict[Any, UsageRow] = {}
    for row in rows:
        k = tuple(row.keys[p] for p in positions)
        target = merged.get(k)
        if target is None:
            target = merged[k] = UsageRow(keys=k, labels=tuple(row.labels[p] for p in positions))
        target.add(row)
    if not positions and not merged:
        return [UsageRow()]
    return list(merged.values())


# Queries ----------------------------------------------------------------------------


@contextmanager
def _reporting() -> Iterator[None]:
    if connection.vendor != "postgresql":
        yield
        return
    # set_config(..., true) lasts until the transaction ends: open one if there is none.
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        names = list(POSTGRES_SETTINGS)
        calls = ", ".join("set_config(%s, %s, true)" for _ in names)
        cursor.execute(f"SELECT {calls}", [v for name in names for v in (name, POSTGRES_SETTINGS[name])])
        yield


def _in_range(qs: QuerySet, since: datetime | None, until: datetime | None) -> QuerySet:
    if since is not None:
        qs = qs.filter(created_at__gte=since)
    if until is not None:
        qs = qs.filter(created_at__lt=until)
    return qs


def _runs(since: datetime | None, until: datetime | None) -> QuerySet:
    return _in_range(AgentRun.objects.order_by(), since, until)


def _calls(since: datetime | None, until: datetime | None) -> QuerySet:
    return _in_range(LLMCall.objects.order_by(), since, until)


def _token_sums() -> dict[str, Any]:
    return {f"s_{name}": Sum(name) for name in _TOKEN_FIELDS}


def _run_sums() -> dict[str, Any]:
    return {
        "n": Count("id"),
        "s_requests": Sum("requests"),
        **_token_sums(),
        "s_cost": Sum("cost"),
        "n_unpriced": Count("id", filter=Q(cost__isnull=True)),
        "n_failed": Count("id", filter=Q(status=RunStatus.FAILED)),
        "n_fell_back": Count("id", filter=Q(fell_back=True)),
        "n_synthetic": Count("id", filter=Q(synthetic=True)),
    }


def _call_sums() -> dict[str, Any]:
    return {
        "n": Count("id"),
        **_token_sums(),
        "s_cost": Sum("cost"),
        "n_unpriced": Count("id", filter=Q(cost__isnull=True, status=CallStatus.SUCCEEDED)),
        "n_failed": Count("id", filter=Q(status=CallStatus.FAILED)),
        "n_refused": Count("id", filter=Q(status=CallStatus.REFUSED)),
        "n_fell_back": Count("id", filter=Q(fell_back=True)),
        "n_synthetic": Count("id", filter=Q(synthetic=True)),
    }


def _tokens(data: dict[str, Any]) -> dict[str, int]:
    return {name: data[f"s_{name}"] or 0 for name in _TOKEN_FIELDS}


def _run_row(data: dict[str, Any]) -> UsageRow:
    return UsageRow(
        runs=data["n"], requests=data["s_requests"] or 0, **_tokens(data), cost=data["s_cost"] or Decimal(0),
        unpriced=data["n_unpriced"], failed=data["n_failed"], fell_back=data["n_fell_back"],
        synthetic=data["n_synthetic"],
    )


def _call_row(data: dict[str, Any]) -> UsageRow:
    return UsageRow(
        calls=data["n"], requests=data["n"] - data["n_refused"], **_tokens(data), cost=data["s_cost"] or Decimal(0),
        unpriced=data["n_unpriced"], failed=data["n_failed"], refused=data["n_refused"],
        fell_back=data["n_fell_back"], synthetic=data["n_synthetic"],
    )


def _day_column() -> Any:
    """The UTC day of created_at. SQLite keeps UTC datetimes as ISO text, whose first
    ten characters are the day: far cheaper than TruncDate's per-row Python function."""
    if connection.vendor == "sqlite":
        return Substr("created_at", 1, 10)
    return TruncDate("created_at", tzinfo=UTC)


def _collect(merged: dict, qs: QuerySet, keys: tuple[str, ...], sums: dict[str, Any], make) -> None:
    if keys:
        aliases = {f"k_{k}": _day_column() if k == "day" else _COLUMNS[k] for k in keys}
        results = qs.annotate(**aliases).values(*aliases).annotate(**sums).order_by()
    else:
        results = [qs.aggregate(**sums)]
    for data in results:
        if not keys and not data["n"]:
            continue
        row = make(data)
        row.keys = tuple(data[f"k_{k}"] for k in keys)
        if row.keys in merged:
            merged[row.keys].add(row)
        else:
            merged[row.keys] = row


def _named(rows: list[UsageRow], keys: tuple[str, ...]) -> list[UsageRow]:
    """Replace grouped ids by names: one query per kind of id, whatever the rows."""
    names: dict[str, dict[Any, str]] = {}
    for position, key in enumerate(keys):
        ids = {row.keys[position] for row in rows} - {None}
        if key == "agent" and ids:
            names[key] = dict(AgentConfig.objects.filter(pk__in=ids).values_list("pk", "name"))
        elif key == "provider" and ids:
            names[key] = dict(LLMProvider.objects.filter(pk__in=ids).values_list("pk", "name"))
        elif key == "session" and ids:
            names[key] = dict(MeteredSession.objects.filter(pk__in=ids).values_list("pk", "name"))
    for row in rows:
        values, labels = [], []
        for position, key in enumerate(keys):
            value = row.keys[position]
            if value is None:
                values.append(None)
                labels.append({"session": "(no session)", "provider": "(none)"}.get(key, "—"))
            elif key == "day":
                day = value if isinstance(value, str) else value.isoformat()
                values.append(day)
                labels.append(day)
            elif key == "session":
                values.append(str(value))
                labels.append(names.get(key, {}).get(value, str(value)))
            elif key in names:
                name = names[key].get(value, f"#{value}")
                values.append(name)
                labels.append(name)
            else:
                values.append(value)
                labels.append(value or "—")
        row.keys, row.labels = tuple(values), tuple(labels)
    return rows


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, (date, datetime)) else value


def sessions_with_counts():
    """Sessions with how many gateway calls and runs each has (`n_calls`, `n_runs`)."""
    from django.db.models import Count, IntegerField, OuterRef, Subquery
    from django.db.models.functions import Coalesce

    from agents_llm.metering.models import LLMCall, MeteredSession

    def count(model):
        rows = model.objects.filter(session=OuterRef("pk")).order_by().values("session").annotate(n=Count("pk"))
        return Coalesce(Subquery(rows.values("n"), output_field=IntegerField()), 0)

    return MeteredSession.objects.select_related("lineup").annotate(n_calls=count(LLMCall), n_runs=count(AgentRun))


def session_by_agent(session_id) -> list[dict]:
    """A row per agent of the session: its calls and runs, tokens, known cost, latency
    and share of the session's known cost (two GROUP BY queries)."""
    from decimal import Decimal

    from django.db.models import Count, Q, Sum

    from agents_llm.metering.models import LLMCall

    rows: dict[str, dict] = {}
    fields = ("input_tokens", "output_tokens", "cache_read_tokens", "latency_ms")
    sums = {
        "n": Count("pk"), "s_cost": Sum("cost"), "s_unpriced": Count("pk", filter=Q(cost__isnull=True)),
        **{f"s_{f}": Sum(f) for f in fields},
    }
    for kind, model in (("calls", LLMCall), ("runs", AgentRun)):
        for group in model.objects.filter(session_id=session_id).values("agent__name").annotate(**sums).order_by():
            row = rows.setdefault(group["agent__name"], {
                "agent": group["agent__name"], "calls": 0, "runs": 0, "input_tokens": 0, "output_tokens": 0,
                "cache_read_tokens": 0, "cost": Decimal(0), "unpriced": 0, "latency_ms": 0,
            })
            row[kind] += group["n"]
            for key in (*fields, "unpriced"):
                row[key] += group[f"s_{key}"] or 0
            row["cost"] += group["s_cost"] or 0
    total = sum((r["cost"] for r in rows.values()), Decimal(0))
    for row in rows.values():
        row["share"] = float(row["cost"] / total) if total else 0.0
    return sorted(rows.values(), key=lambda r: (-r["cost"], r["agent"]))
