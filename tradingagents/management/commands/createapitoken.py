from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from tradingagents.services import api_token_create


class Command(BaseCommand):
    help = "Create an API token for USER and print it once (only its hash is stored)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("user", help="Username the token acts as.")
        parser.add_argument("--name", default="", help="What the token is for (shown in the admin).")

    def handle(self, *args, **options) -> None:
        User = get_user_model()
        try:
            user = User.objects.get(**{User.USERNAME_FIELD: options["user"]})
        except User.DoesNotExist:
            raise CommandError(f"No user named {options['user']!r}.") from None
        if not user.is_active:
            raise CommandError(f"User {options['user']!r} is inactive; its token would be refused.")
        row, token = api_token_create(user=user, name=options["name"])
        self.stderr.write(f"Created token {row.prefix}… for {user}. It is shown once; store it now:", style_func=self.style.SUCCESS)
        self.stdout.write(token)
