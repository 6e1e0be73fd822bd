"""Price stored runs and gateway calls again at today's price catalog.

A cost is stored with what it was computed from (`cost_basis`), so a newer price list
never rewrites it silently; this command does, on request, and prints the difference
per agent. Config-priced responses keep their prices; only catalog-priced ones move."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, time
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from agents_llm.metering.pricing import reprice_basis
from agents_llm.models import AgentRun, LLMCall


class Command(BaseCommand):
    help = "Recompute the cost of runs and gateway calls since DATE at today's price catalog."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--since", required=True, help="First day (UTC), YYYY-MM-DD.")
        parser.add_argument("--dry-run", action="store_true", help="Print the differences, change nothing.")

    def handle(self, *args, **options) -> None:
        try:
            day = datetime.strptime(options["since"], "%Y-%m-%d").date()
        except ValueError:
            raise CommandError(f"--since {options['since']!r} is not a date (YYYY-MM-DD).") from None
        since = datetime.combine(day, time.min, tzinfo=UTC)
        before: dict[str, Decimal] = defaultdict(Decimal)
        after: dict[str, Decimal] = defaultdict(Decimal)
        changed = skipped = 0
        with transaction.atomic():
            for model in (LLMCall, AgentRun):
                rows = model.objects.filter(created_at__gte=since).exclude(cost_basis=[]).select_related("agent")
                for row in rows.iterator(chunk_size=500):
                    cost, basis = reprice_basis(row.cost_basis)
                    name = row.agent.name
                    before[name] += row.cost or 0
                    after[name] += cost or 0
                    if cost != row.cost:
                        changed += 1
                        if not options["dry_run"]:
                            model.objects.filter(pk=row.pk).update(cost=cost, cost_basis=basis)
                skipped += model.objects.filter(created_at__gte=since, cost_basis=[]).count()
            if options["dry_run"]:
                transaction.set_rollback(True)
        self.stdout.write(f"{'agent':<28} {'before':>14} {'after':>14} {'difference':>14}")
        for name in sorted(before):
            self.stdout.write(
                f"{name:<28} {before[name]:>14.8f} {after[name]:>14.8f} {after[name] - before[name]:>+14.8f}"
            )
        verb = "would change" if options["dry_run"] else "changed"
        note = f"; {skipped} without a stored cost basis left as they are" if skipped else ""
        self.stdout.write(f"{changed} cost(s) {verb}{note}.")
