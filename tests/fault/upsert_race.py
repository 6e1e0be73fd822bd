"""Run as a script (`python -m tests.fault.upsert_race N`) on a fresh SQLite *file*
database named by DATABASE_URL: N concurrent `PUT /agents/{id}/llm-config` through the
API, then prints the statuses and the agent's configs as JSON.

A subprocess because the test suite's SQLite database is an in-memory shared-cache
one, whose table locks fail at once instead of waiting like a real file's."""

from __future__ import annotations

import json
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor


def main(n: int) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingagents.settings")
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from agents_llm.agents.services import agent_create
    from agents_llm.models import AgentLLMConfig
    from providers.services import provider_create
    from tradingagents.services import api_token_create

    call_command("migrate", verbosity=0)
    user = User.objects.create_superuser("root", "root@example.com", "root-pass-123")
    agent = agent_create(name="trader", role="trader", instructions="You trade.")
    provider_create(name="offline", provider_type="offline")
    tokens = [api_token_create(user=user, name=f"t{i}")[1] for i in range(n)]
    barrier = threading.Barrier(n)

    def call(i: int) -> int:
        try:
            body = json.dumps({"provider": "offline", "model_name": "offline", "temperature": round(0.1 + i / 100, 2)})
            client = Client(headers={"Authorization": f"Bearer {tokens[i]}"})
            barrier.wait()
            return client.put(f"/api/v1/agents/{agent.pk}/llm-config", body, content_type="application/json").status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(n) as pool:
        statuses = list(pool.map(call, range(n)))
    configs = list(AgentLLMConfig.objects.filter(agent=agent).values("priority", "enabled"))
    print(json.dumps({"statuses": statuses, "configs": configs}))


if __name__ == "__main__":
    main(int(sys.argv[1]))
