"""Runs and gateway calls are looked up by agent, task and session through the (agent,
-created_at), (task, -created_at) and (session, agent) indexes: their single-column FK
indexes only cost every INSERT and UPDATE of these rows (one per run or call). Only
the indexes go: the foreign keys stay as they are (no re-validation of the tables)."""

import django.db.models.deletion
from django.db import migrations, models

REDUNDANT = {  # index: (table, column), as Django named them on every backend
    "agent_runs_agent_id_589c2d4b": ("agent_runs", "agent_id"),
    "agent_runs_task_id_d8cf476e": ("agent_runs", "task_id"),
    "llm_calls_agent_id_e02fc2af": ("llm_calls", "agent_id"),
    "llm_calls_session_id_0779fdb6": ("llm_calls", "session_id"),
}


class Migration(migrations.Migration):

    dependencies = [
        ("agents_llm", "0007_cost_basis"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="agentrun",
                    name="agent",
                    field=models.ForeignKey(
                        db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="runs",
                        to="agents_llm.agentconfig",
                    ),
                ),
                migrations.AlterField(
                    model_name="agentrun",
                    name="task",
                    field=models.ForeignKey(
                        db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="runs",
                        to="agents_llm.taskconfig",
                    ),
                ),
                migrations.AlterField(
                    model_name="llmcall",
                    name="session",
                    field=models.ForeignKey(
                        blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL,
                        related_name="calls", to="agents_llm.meteredsession",
                    ),
                ),
                migrations.AlterField(
                    model_name="llmcall",
                    name="agent",
                    field=models.ForeignKey(
                        db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="calls",
                        to="agents_llm.agentconfig",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{name}"',
                    reverse_sql=f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" ("{column}")',
                )
                for name, (table, column) in REDUNDANT.items()
            ],
        ),
    ]
