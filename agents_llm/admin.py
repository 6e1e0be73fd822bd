"""The app's admin pages, defined in their rooms; importing them registers them
(Django's admin autodiscovery imports this module)."""

from agents_llm.agents import admin as agents_admin  # noqa: F401
from agents_llm.agents import admin_lineups, admin_presets  # noqa: F401
from agents_llm.analyses import admin as analyses_admin  # noqa: F401
from agents_llm.experiments import admin as experiments_admin  # noqa: F401
from agents_llm.experiments import admin_prices  # noqa: F401
from agents_llm.runs import admin as runs_admin  # noqa: F401
from agents_llm.usage import admin_agents, admin_calls, admin_sessions  # noqa: F401
