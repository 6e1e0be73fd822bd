"""Print the environment lines that make an unchanged TradingAgents run through this
gateway: its two models become the agents `quick` and `deep`, and its key a new API
token (or, with --session, the token of a new session, so the run is metered and capped)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from agents_llm.metering.sessions import session_create
from tradingagents.services import api_token_create


class Command(BaseCommand):
    help = "Print the .env lines for TradingAgents to use this gateway (a new token; a session with --session)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--user", default="", help="Whose token/session (default: the first superuser).")
        parser.add_argument("--url", default="", help=(
            "The server's base URL, with or without /v1 (default: http://127.0.0.1:8000)."
        ))
        parser.add_argument("--session", default="", help="Open a session with this name and use its token.")
        parser.add_argument("--budget-usd", default=None, help="The session's USD budget, e.g. 0.50.")
        parser.add_argument("--budget-tokens", type=int, default=None, help="The session's token budget.")

    def handle(self, *args, **options) -> None:
        user = self._user(options["user"])
        if not user.has_perm("agents_llm.use_gateway"):
            raise CommandError(f"User {user} may not call the gateway: grant it 'agents_llm.use_gateway'.")
        budget_usd = self._money(options["budget_usd"])
        if (budget_usd is not None or options["budget_tokens"]) and not options["session"]:
            raise CommandError("A budget needs a session: add --session NAME.")
        base = self._base(options["url"] or getattr(settings, "PUBLIC_BASE_URL", "") or "http://127.0.0.1:8000")
        if options["session"]:
            try:
                session, token = session_create(
                    owner=user, name=options["session"], budget_usd=budget_usd, budget_tokens=options["budget_tokens"],
                )
            except ValidationError as exc:
                raise CommandError("; ".join(exc.messages)) from None
            self.stderr.write(f"Opened session '{session.name}' ({session.pk}); its token is below, shown once.", style_func=self.style.SUCCESS)
        else:
            _, token = api_token_create(user=user, name="tradingagents")
            self.stderr.write(f"Created an API token for {user}; it is below, shown once.", style_func=self.style.SUCCESS)
        for line in (
            "TRADINGAGENTS_LLM_PROVIDER=openai_compatible",
            f"TRADINGAGENTS_LLM_BACKEND_URL={base}/v1",
            "TRADINGAGENTS_QUICK_THINK_LLM=quick",
            "TRADINGAGENTS_DEEP_THINK_LLM=deep",
            f"OPENAI_COMPATIBLE_API_KEY={token}",
        ):
            self.stdout.write(line)

    def _user(self, name: str):
        User = get_user_model()
        if name:
            user = User.objects.filter(**{User.USERNAME_FIELD: name}, is_active=True).first()
        else:
            user = User.objects.filter(is_superuser=True, is_active=True).order_by("pk").first()
        if user is None:
            raise CommandError(f"No active user {name!r}." if name else "No active superuser: pass --user NAME.")
        return user

    def _base(self, url: str) -> str:
        """The server's root: the gateway's URL (…/v1) is what a client is often given,
        and a second /v1 would make every call a 404."""
        base = url.strip().rstrip("/")
        if base.lower().endswith("/v1"):
            base = base[:-3].rstrip("/")
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise CommandError(f"--url {url!r} is not a server's URL: give http://HOST:PORT, with or without /v1.")
        return base

    def _money(self, value: str | None) -> Decimal | None:
        if value is None:
            return None
        try:
            amount = Decimal(value)
        except InvalidOperation:
            raise CommandError(f"--budget-usd {value!r} is not an amount (e.g. 0.50).") from None
        if not amount.is_finite() or amount < 0:
            raise CommandError("--budget-usd must be a positive amount.")
        return amount
