"""The app's JSON API: each room's router, gathered for the project's NinjaAPI
(tradingagents.api mounts this one)."""

from ninja import Router

from agents_llm.agents.api import router as agents_router
from agents_llm.agents.api_lineups import router as lineups_router
from agents_llm.agents.api_presets import router as presets_router
from agents_llm.agents.api_schemas import router as schemas_router
from agents_llm.analyses.api import router as analyses_router
from agents_llm.experiments.api import router as experiments_router
from agents_llm.experiments.api_prices import router as prices_router
from agents_llm.runs.api import router as runs_router
from agents_llm.usage.api import router as usage_router
from agents_llm.usage.api_calls import router as calls_router
from agents_llm.usage.api_sessions import router as sessions_router

router = Router()
router.add_router("/", agents_router)
router.add_router("/", runs_router)
router.add_router("/", usage_router)
router.add_router("/schemas", schemas_router)
router.add_router("/", calls_router)
router.add_router("/", sessions_router)
router.add_router("/", presets_router)
router.add_router("/", lineups_router)
router.add_router("/", analyses_router)
router.add_router("/", experiments_router)
router.add_router("/", prices_router)
