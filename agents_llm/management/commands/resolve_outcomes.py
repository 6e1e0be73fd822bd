"""Resolve the outcomes whose closes are stored (what the periodic job does each minute)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from agents_llm.experiments.outcomes import outcomes_resolve_pending


class Command(BaseCommand):
    help = ("Open the outcomes of succeeded analyses that have none, and resolve every pending one whose "
            "window has closed and whose closes are stored; print the counts.")

    def handle(self, *args, **options) -> None:
        counts = outcomes_resolve_pending()
        self.stdout.write(f"{counts['opened']} opened, {counts['resolved']} resolved, {counts['pending']} pending.")
        if counts["pending"]:
            self.stdout.write("GET /api/v1/prices/missing (or the admin's Missing closes page) lists the closes "
                              "pending outcomes wait for.")
