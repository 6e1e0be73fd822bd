from __future__ import annotations

from django.core.management.base import BaseCommand

from agents_llm.seeding import seed_run


class Command(BaseCommand):
    help = "Create the TradingAgents roster, tasks, providers and default LLM configs (idempotent)."

    def handle(self, *args, **options) -> None:
        created = seed_run()
        if not any(created.values()):
            self.stdout.write("Nothing to do: everything the seed creates is already there.")
            return
        summary = ", ".join(f"{count} {what}" for what, count in created.items())
        self.stdout.write(self.style.SUCCESS(f"Created {summary}."))
