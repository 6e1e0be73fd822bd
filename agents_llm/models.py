"""The app's models, defined in their rooms (agents, runs, metering, analyses, experiments) and gathered here,
where Django and the migrations look for them."""

from agents_llm.agents.models import (  # noqa: F401
    AgentAlias,
    AgentConfig,
    AgentLLMConfig,
    AgentRole,
    AgentTaskAssignment,
    Lineup,
    LineupRole,
    LLMPreset,
    TaskConfig,
    TaskSchemaVersion,
    alias_key,
)
from agents_llm.analyses.models import Analysis, AnalysisStatus  # noqa: F401
from agents_llm.experiments.models import (  # noqa: F401
    DailyClose,
    Experiment,
    ExperimentArm,
    ExperimentStatus,
    Outcome,
    OutcomeStatus,
)
from agents_llm.metering.models import (  # noqa: F401
    CallStatus,
    LLMCall,
    MeteredSession,
    Reservation,
    SessionStatus,
)
from agents_llm.runs.models import AgentRun, RunStatus  # noqa: F401
