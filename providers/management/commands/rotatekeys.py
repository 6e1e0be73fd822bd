from __future__ import annotations

from django.core.management.base import BaseCommand

from providers.services import secrets_rotate


class Command(BaseCommand):
    help = "Re-encrypt every stored API key under the current ENCRYPTION_KEY."

    def handle(self, *args, **options) -> None:
        counts = secrets_rotate()
        self.stdout.write(
            f"Re-encrypted {counts['rotated']} secret(s); {counts['current']} already under the current key; "
            f"{counts['undecryptable']} undecryptable (their providers are marked)."
        )
        if counts["undecryptable"]:
            self.stderr.write(
                "Some secrets could not be decrypted: add the key they were encrypted with to "
                "ENCRYPTION_KEYS_PREVIOUS, or enter those API keys again."
            )
