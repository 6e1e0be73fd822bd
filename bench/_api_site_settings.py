"""Settings of the server bench_api.py starts: the project's settings plus a bare endpoint."""

from tradingagents.settings import *  # noqa: F401,F403

ROOT_URLCONF = "bench._api_site_urls"
LOGGING = {"version": 1, "disable_existing_loggers": True, "root": {"level": "ERROR", "handlers": []}}

