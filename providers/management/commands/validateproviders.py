from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from providers.models import LLMProvider
from providers.validation import provider_validate, providers_sweep


class Command(BaseCommand):
    help = (
        "Queue a background check of every provider that is due: not checked within "
        "PROVIDER_REVALIDATE_MINUTES, or pending (e.g. saved while the broker was down). "
        "Workers run the checks. "
        "--inline checks here and now instead, without the broker."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("names", nargs="*", help="Only these providers (by name), due or not.")
        parser.add_argument("--all", action="store_true", help="Every provider, due or not.")
        parser.add_argument("--inline", action="store_true", help="Check in this process (one attempt each).")

    def handle(self, *args, names: list[str], all: bool, inline: bool, **options) -> None:
        ids: list[int] | None = None
        if names:
            found = dict(LLMProvider.objects.filter(name__in=names).values_list("name", "pk"))
            missing = sorted(set(names) - set(found))
            if missing:
                raise CommandError(f"No provider named: {', '.join(missing)}")
            ids = list(found.values())
        elif all or inline:
            ids = list(LLMProvider.objects.order_by("pk").values_list("pk", flat=True))
        if inline:
            for provider_id in ids or []:
                outcome = provider_validate(provider_id=provider_id, attempt=1, max_attempts=1)
                provider = LLMProvider.objects.get(pk=provider_id)
                detail = f" — {provider.validation_error}" if provider.validation_error else ""
                self.stdout.write(f"{provider.name}: {provider.validation_status}{detail}")
                if outcome is None:
                    self.stdout.write(f"{provider.name}: changed while being checked; skipped")
            return
        # Run by hand, every pending provider is due at once (the periodic sweep waits a minute).
        counts = providers_sweep(ids=ids, stale_pending_seconds=0)
        self.stdout.write(f"queued {counts['queued']} provider check(s); {counts['failed']} could not be queued")
        if counts["failed"]:
            raise CommandError("The broker is unreachable; the providers stay pending. Try again later.")
