"""The app's Dramatiq actors, defined in their rooms and gathered here, where
django_dramatiq (and so `manage.py rundramatiq`) looks for them."""

from agents_llm.analyses.actors import run_analysis  # noqa: F401
from agents_llm.runs.actors import execute_run  # noqa: F401
