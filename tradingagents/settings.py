"""Settings for tradingagents, read top to bottom.

Every value comes from the environment (or a `.env` file beside manage.py) through
django-environ. With nothing set, the project runs on embedded defaults: SQLite, an
in-memory channel layer, Dramatiq's StubBroker with an in-process worker and a
local-memory cache. `DATABASE_URL` switches to PostgreSQL; `REDIS_URL` switches the
channel layer, the Dramatiq broker and the cache to Redis.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=True)


def _required_in_production(name: str, dev_default: str) -> str:
    value = env.str(name, default="")
    if value:
        return value
    if not DEBUG:
        raise ImproperlyConfigured(
            f"{name} is not set. It is required when DEBUG is off; "
            f"set it in the environment or in {BASE_DIR / '.env'}."
        )
    return dev_default


SECRET_KEY = _required_in_production(
    "DJANGO_SECRET_KEY", "dev-only-insecure-secret-key-do-not-use-in-production"
)

# Fernet keys: ENCRYPTION_KEY encrypts; ENCRYPTION_KEYS_PREVIOUS are still accepted
# for decrypting, so keys can be rotated with `manage.py rotatekeys`. In development
# the key is derived from SECRET_KEY so that it is stable across restarts.
_dev_encryption_key = base64.urlsafe_b64encode(
    hashlib.sha256(f"encryption:{SECRET_KEY}".encode()).digest()
).decode()
ENCRYPTION_KEY = _required_in_production("ENCRYPTION_KEY", _dev_encryption_key)
ENCRYPTION_KEYS_PREVIOUS = env.list("ENCRYPTION_KEYS_PREVIOUS", default=[])

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_dramatiq",
    "ninja",  # its templates and static files: /api/docs needs no CDN
    "simple_history",
    "tradingagents",
    "providers",
    "agents_llm",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last: the stack above runs in one thread per request, not a thread hop per
    # middleware (see its module).
    "tradingagents.request_cycle.OneThreadMiddleware",
]

ROOT_URLCONF = "tradingagents.urls"
WSGI_APPLICATION = "tradingagents.wsgi.application"
ASGI_APPLICATION = "tradingagents.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: SQLite file unless DATABASE_URL says otherwise (postgres://… uses psycopg 3).
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A busy timeout keeps the in-process worker and the web threads from failing
    # with "database is locked" when they write at the same time.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
    # WAL lets readers work while one connection writes; with WAL, synchronous=NORMAL
    # is corruption-safe and saves an fsync per commit (~20 ms each on slow disks),
    # which otherwise dominates a run's two writes.
    DATABASES["default"]["OPTIONS"].setdefault("init_command", "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env.bool("DATABASE_POOL", default=False):
    # Under ASGI every sync request runs in a thread of its own, so persistent connections
    # (CONN_MAX_AGE) would pile up one per thread, and a fresh connection per request
    # costs ~7 ms. A psycopg pool reuses connections across threads instead. Our backend
    # (Django's, see tradingagents/postgresql/base.py) checks each connection it takes
    # from the pool (an empty query): one the server ended meanwhile (a restart,
    # pg_terminate_backend, idle_session_timeout) has the pool check all its idle ones at
    # once and is replaced, not given to a request.
    DATABASES["default"]["ENGINE"] = "tradingagents.postgresql"
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 2, "max_size": env.int("DATABASE_POOL_MAX", default=20), "timeout": 10,
    }
_DATABASE_POOL_MAX = DATABASES["default"].get("OPTIONS", {}).get("pool", {}).get("max_size", 0)
# Async code (inline runs, the gateway, async API views) does its database work on a
# few threads per process that keep their connections (tradingagents.dbthreads): with
# the pool, half its connections, so that the other requests always find some.
DATABASE_THREADS = env.int("DATABASE_THREADS", default=max(2, _DATABASE_POOL_MAX // 2) if _DATABASE_POOL_MAX else 4)
# A kept connection unused this long is checked (one round trip) before its next use:
# the server may have ended it meanwhile (a restart, an idle timeout).
DATABASE_IDLE_CHECK_SECONDS = env.float("DATABASE_IDLE_CHECK_SECONDS", default=1.0)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis switches the channel layer, the broker and the cache together.
REDIS_URL = env.str("REDIS_URL", default="")
# Connections each Redis client of a process may open. Under ASGI every request has
# a thread of its own, so the cache's pool blocks (up to REDIS_POOL_TIMEOUT seconds)
# rather than failing when a burst wants more; the broker's pool is as large.
REDIS_MAX_CONNECTIONS = env.int("REDIS_MAX_CONNECTIONS", default=300)
REDIS_POOL_TIMEOUT = env.float("REDIS_POOL_TIMEOUT", default=5.0)
DRAMATIQ_BROKER_URL = env.str("DRAMATIQ_BROKER_URL", default="")
# Redis broker: how long a worker process may send no heartbeat before the messages it
# had taken (running or prefetched) are given to another worker.
DRAMATIQ_HEARTBEAT_TIMEOUT_SECONDS = env.float("DRAMATIQ_HEARTBEAT_TIMEOUT_SECONDS", default=15.0)

if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "tradingagents",
            # One pool per process, not one per request thread (see tradingagents/cache.py).
            "OPTIONS": {
                "pool_class": "tradingagents.cache.SharedConnectionPool",
                "max_connections": REDIS_MAX_CONNECTIONS,
                "timeout": REDIS_POOL_TIMEOUT,
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

def _redis_url_with_connect_timeout(url: str, seconds: int = 2) -> str:
    for name, value in (("socket_connect_timeout", seconds), ("max_connections", REDIS_MAX_CONNECTIONS)):
        if name not in url:
            url = f"{url}{'&' if '?' in url else '?'}{name}={value}"
    return url


_dramatiq_middleware = [
    "dramatiq.middleware.AgeLimit",
    "dramatiq.middleware.TimeLimit",
    "dramatiq.middleware.Callbacks",
    "dramatiq.middleware.Retries",
    "django_dramatiq.middleware.DbConnectionsMiddleware",
    # Every worker process runs the provider sweep each minute (tradingagents/worker.py).
    "tradingagents.worker.PeriodicSweep",
]
if DRAMATIQ_BROKER_URL.startswith("amqp"):
    DRAMATIQ_BROKER = {
        "BROKER": "dramatiq.brokers.rabbitmq.RabbitmqBroker",
        "OPTIONS": {"url": DRAMATIQ_BROKER_URL},
        "MIDDLEWARE": _dramatiq_middleware,
    }
elif DRAMATIQ_BROKER_URL or REDIS_URL:
    DRAMATIQ_BROKER = {
        "BROKER": "dramatiq.brokers.redis.RedisBroker",
        "OPTIONS": {
            # A silent Redis host must not hold a save for the OS's TCP connect timeout:
            # enqueueing fails fast and the provider/run simply waits for the sweep.
            "url": _redis_url_with_connect_timeout(DRAMATIQ_BROKER_URL or REDIS_URL),
            # A worker process silent this long is dead: the messages it had taken,
            # running or prefetched, go back to the queue. Every broker command is a
            # heartbeat, and an idle consumer polls at least once a second.
            "heartbeat_timeout": int(DRAMATIQ_HEARTBEAT_TIMEOUT_SECONDS * 1000),
            # The share of broker commands (per million) that look for dead workers'
            # messages: a quarter (Dramatiq's 0.1% left them for minutes). Without dead
            # workers it costs two small sorted-set reads.
            "maintenance_chance": 250_000,
        },
        "MIDDLEWARE": _dramatiq_middleware,
    }
else:
    DRAMATIQ_BROKER = {
        "BROKER": "dramatiq.brokers.stub.StubBroker",
        "OPTIONS": {},
        "MIDDLEWARE": _dramatiq_middleware,
    }
# Embedded mode: with the StubBroker, the web process runs the worker itself.
DRAMATIQ_EMBEDDED_WORKER = env.bool(
    "DRAMATIQ_EMBEDDED_WORKER", default=DRAMATIQ_BROKER["BROKER"].endswith("StubBroker")
)
DRAMATIQ_TASKS_DATABASE = "default"

# Live events and background work.
EVENTS_MAX_PER_SECOND = env.int("EVENTS_MAX_PER_SECOND", default=10)
# How often an open websocket re-checks that its token/account is still allowed.
WS_REAUTH_SECONDS = env.float("WS_REAUTH_SECONDS", default=30.0)
PROVIDER_REVALIDATE_MINUTES = env.int("PROVIDER_REVALIDATE_MINUTES", default=60)
PROVIDER_VALIDATION_TIMEOUT_SECONDS = env.float("PROVIDER_VALIDATION_TIMEOUT_SECONDS", default=10.0)

# JSON API.
API_VALIDATE_RATE = env.str("API_VALIDATE_RATE", default="10/m")  # per user, POST providers/{id}/validate
API_SCHEMA_VALIDATE_RATE = env.str("API_SCHEMA_VALIDATE_RATE", default="120/m")  # per user, POST schemas/validate

# Sweeps every worker process runs each minute (one process at a time, see
# tradingagents/worker.py): nothing saved while the broker was down is lost.
PERIODIC_JOBS = [
    "providers.validation.providers_sweep",
    "agents_llm.runs.runner.runs_requeue_stale",
    "agents_llm.runs.recovery.runs_resend_after_broker_restart",
    "agents_llm.metering.budgets.reservations_release_expired",
    "agents_llm.analyses.services.analyses_requeue_stale",
    "agents_llm.experiments.services.experiments_advance_all",
    "agents_llm.experiments.outcomes.outcomes_resolve_pending",
    "agents_llm.experiments.prices.prices_fetch_live",
]

# TradingAgents analyses (agents_llm/analyses). The python of a virtualenv with
# TradingAgents v0.3.0 (`make tradingagents` builds one and writes this into .env);
# without it analyses cannot be launched. The driver reaches the gateway at the URL the
# analysis was launched from, unless TRADINGAGENTS_GATEWAY_URL says otherwise (e.g. when
# the workers reach the servers by another name).
TRADINGAGENTS_PYTHON = env.str("TRADINGAGENTS_PYTHON", default="")
TRADINGAGENTS_GATEWAY_URL = env.str("TRADINGAGENTS_GATEWAY_URL", default="")
# An analysis still running after this long is stopped (its driver killed).
ANALYSIS_TIMEOUT_SECONDS = env.int("ANALYSIS_TIMEOUT_SECONDS", default=3600)
# A running analysis whose worker wrote no heartbeat for this long lost its worker: the
# sweep queues it again (once), then marks it failed.
ANALYSIS_LOST_AFTER_SECONDS = env.int("ANALYSIS_LOST_AFTER_SECONDS", default=120)
# Where the drivers' working folders go (one per analysis, removed after it).
ANALYSIS_WORK_DIR = env.str("ANALYSIS_WORK_DIR", default="")

# Experiments (agents_llm/experiments). At most this many cells (tickers × dates × arms)
# in one experiment, and this many of its analyses at once unless it says otherwise.
EXPERIMENT_MAX_CELLS = env.int("EXPERIMENT_MAX_CELLS", default=200)
EXPERIMENT_DEFAULT_CONCURRENCY = env.int("EXPERIMENT_DEFAULT_CONCURRENCY", default=2)
# Outcomes count trading days on this market's calendar (weekdays but its holidays, by
# the `holidays` package's financial calendars: NYSE, XNSE, ...).
OUTCOME_CALENDAR = env.str("OUTCOME_CALENDAR", default="NYSE")

# Agent runtime.
# A running run's process marks it alive every RUN_HEARTBEAT_SECONDS; the sweep (each
# minute) queues again a run whose heartbeat is RUN_LOST_AFTER_SECONDS old (its worker died).
RUN_HEARTBEAT_SECONDS = env.float("RUN_HEARTBEAT_SECONDS", default=10.0)
RUN_LOST_AFTER_SECONDS = env.int("RUN_LOST_AFTER_SECONDS", default=60)
AGENT_REGISTRY_SIZE = env.int("AGENT_REGISTRY_SIZE", default=256)
LLM_REQUEST_TIMEOUT_SECONDS = env.float("LLM_REQUEST_TIMEOUT_SECONDS", default=60.0)
# Budgeted sessions (agents_llm/metering/budgets.py). The output cap a request gets when
# neither its config nor its client sets one (it is sent as max_tokens); how long a
# request waits for other requests' reservations before it is refused; how long a
# reservation a process never settled (it died) is held before the sweep releases it.
SESSION_DEFAULT_MAX_TOKENS = env.int("SESSION_DEFAULT_MAX_TOKENS", default=4096)
SESSION_BUDGET_WAIT_SECONDS = env.float("SESSION_BUDGET_WAIT_SECONDS", default=30.0)
SESSION_RESERVATION_TTL_SECONDS = env.int("SESSION_RESERVATION_TTL_SECONDS", default=900)
# How long a budget's reservation, and a call's row with its spend, are tried again
# while the database is unreachable (a restart, a connection it ended), before a 503.
DB_RETRY_SECONDS = env.float("DB_RETRY_SECONDS", default=10.0)
OUTPUT_SCHEMA_CACHE_SIZE = env.int("OUTPUT_SCHEMA_CACHE_SIZE", default=512)
# Inline runs (`POST /runs?wait=true`) per server process: at most INLINE_RUNS_MAX at
# once; a request waits up to INLINE_RUNS_WAIT_SECONDS for a slot, then gets 503 with
# Retry-After.
INLINE_RUNS_MAX = env.int("INLINE_RUNS_MAX", default=100)
INLINE_RUNS_WAIT_SECONDS = env.float("INLINE_RUNS_WAIT_SECONDS", default=10.0)
INLINE_RUNS_RETRY_AFTER_SECONDS = env.int("INLINE_RUNS_RETRY_AFTER_SECONDS", default=2)

# What a process builds from the database (agents' chains, run targets, tokens and
# permissions) is kept and used with no query while its version is current
# (tradingagents.versions): in Redis with REDIS_URL, else in files in VERSIONS_DIR (one
# machine). An entry is rebuilt at the latest after CACHE_MAX_AGE_SECONDS anyway.
VERSIONS_DIR = env.path("VERSIONS_DIR", default=BASE_DIR / ".versions")
CACHE_MAX_AGE_SECONDS = env.float("CACHE_MAX_AGE_SECONDS", default=300.0)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
# The admin shows times as 2026-12-07 11:28:49 (tradingagents/formats/, tradingagents.formatting).
FORMAT_MODULE_PATH = ["tradingagents.formats"]
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
SERVE_STATIC = env.bool("SERVE_STATIC", default=True)

LOGIN_URL = "/admin/login/"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Django's own console handler (DEBUG only) printed each of its warnings a second
        # time beside the root's: its records go to the root's handler alone.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "httpx": {"level": "WARNING"},
        "uvicorn.error": {"level": "WARNING"},
    },
}

