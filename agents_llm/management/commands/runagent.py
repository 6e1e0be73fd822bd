from __future__ import annotations

import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from agents_llm.agents.selectors import agent_get_by_name_or_id, task_get_by_name_or_id
from agents_llm.models import AgentConfig, RunStatus, TaskConfig
from agents_llm.runs.runner import run_create, run_execute


class Command(BaseCommand):
    help = "Run an agent on a task now, in this process, and print the validated output, model, tokens and cost."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("agent", help="Agent name or id.")
        parser.add_argument("task", help="Task name or id.")
        parser.add_argument("--input", default="{}", help='The run input as a JSON object, e.g. \'{"ticker": "NVDA"}\'.')

    def handle(self, *args, **options) -> None:
        try:
            data = json.loads(options["input"])
        except json.JSONDecodeError as exc:
            raise CommandError(f"--input is not valid JSON: {exc}.") from None
        try:
            agent = agent_get_by_name_or_id(options["agent"])
        except AgentConfig.DoesNotExist:
            raise CommandError(f"No agent named '{options['agent']}'.") from None
        try:
            task = task_get_by_name_or_id(options["task"])
        except TaskConfig.DoesNotExist:
            raise CommandError(f"No task named '{options['task']}'.") from None
        try:
            run = run_create(agent=agent, task=task, input=data, enqueue=False)
        except ValidationError as exc:
            raise CommandError("; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())) from None
        run = run_execute(run_id=run.pk)

        write = self.stdout.write
        for attempt in run.attempts:
            if attempt["error_class"]:
                write(f"attempt: {attempt['provider']}/{attempt['model']} failed: "
                      f"{attempt['error_class']}: {attempt['message']}")
        if run.status != RunStatus.SUCCEEDED:
            raise CommandError(f"Run {run.pk} failed: {run.error}")
        write(json.dumps(run.output, indent=2, ensure_ascii=False))
        provider = run.provider.name if run.provider else ""
        label = " (synthetic output from the offline provider)" if run.synthetic else ""
        write(f"run: {run.pk}")
        write(f"model: {provider}/{run.model_name}{label}")
        write(f"tokens: {run.input_tokens} in, {run.output_tokens} out, {run.requests} request(s)")
        cost = "unknown" if run.cost is None else f"${run.cost}"
        write(f"cost: {cost} ({run.cost_note})")
        write(f"latency: {run.latency_ms} ms")
