"""The small rough edges of issue 27: warnings logged once, a favicon, a success line
that is not red, "View site" that leads somewhere else than the admin, the preset
chooser that picks nothing for you and has its breadcrumb, and PORT/HOST in the README."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.management import call_command

from agents_llm.models import AgentLLMConfig, LLMPreset
from tradingagents.models import APIToken

ROOT = Path(settings.BASE_DIR)


@pytest.mark.parametrize("debug", ["true", "false"])
def test_a_warning_is_logged_once(debug):
    script = (
        "import django, logging; django.setup(); "
        "logging.getLogger('django.request').warning('Not Found: /nothing-here'); "
        "logging.getLogger('tradingagents.cache').warning('cache down')"
    )
    env = {**os.environ, "DEBUG": debug, "DJANGO_SETTINGS_MODULE": "tradingagents.settings",
           "DJANGO_SECRET_KEY": "x" * 50, "ENCRYPTION_KEY": os.environ.get("ENCRYPTION_KEY", "")}
    if not env["ENCRYPTION_KEY"]:
        env["ENCRYPTION_KEY"] = settings.ENCRYPTION_KEY
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)

    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert sum("Not Found: /nothing-here" in line for line in lines) == 1, lines
    assert sum("cache down" in line for line in lines) == 1, lines


@pytest.mark.django_db
def test_the_favicon_is_served(client):
    response = client.get("/favicon.ico")

    assert response.status_code == 301 and response["Location"] == "/static/favicon.svg"
    assert open(finders.find("favicon.svg")).read().startswith("<svg")


@pytest.mark.django_db
def test_the_admin_links_the_api_docs_and_its_icon_instead_of_looping_to_itself(client, superuser):
    client.force_login(superuser)

    html = client.get("/admin/").content.decode()

    assert '<a href="/api/docs" class="api-docs-link">API docs</a>' in html
    assert "View site" not in html
    assert '<link rel="icon" href="/static/favicon.svg"' in html


@pytest.mark.django_db
def test_createapitoken_says_it_succeeded_in_green_not_red(reader):
    out, err = StringIO(), StringIO()

    call_command("createapitoken", "reader", stdout=out, stderr=err, force_color=True)

    assert "\x1b[31" not in err.getvalue() and "\x1b[32;1mCreated token" in err.getvalue()
    row = APIToken.objects.get(user=reader)
    assert out.getvalue().strip().startswith(row.prefix)


@pytest.mark.django_db
def test_the_preset_chooser_picks_no_preset_and_shows_the_agents_breadcrumb(client, superuser, agent, offline_provider):
    LLMPreset.objects.create(name="deep", provider=offline_provider, model_name="offline")
    LLMPreset.objects.create(name="quick", provider=offline_provider, model_name="offline")
    client.force_login(superuser)

    chooser = client.post("/admin/agents_llm/agentconfig/", {"action": "apply_preset", "_selected_action": [agent.pk]})
    nothing_chosen = client.post("/admin/agents_llm/agentconfig/", {
        "action": "apply_preset", "_selected_action": [agent.pk], "preset": "", "apply": "1",
    })

    html = chooser.content.decode()
    options = html.split('name="preset"')[1].split("</select>")[0]
    assert re.findall(r'<option value="(\d+)" selected>', options) == []
    assert '<option value="" selected>— choose a preset —</option>' in html
    assert '<a href="/admin/agents_llm/agentconfig/">Agents</a>' in html
    assert '<a href="/admin/agents_llm/">' in html
    assert nothing_chosen.status_code == 200 and "Choose the preset to apply." in nothing_chosen.content.decode()
    assert not AgentLLMConfig.objects.filter(agent=agent).exists()


def test_the_readme_says_how_to_choose_the_port_and_host():
    readme = (ROOT / "README.md").read_text()
    run = readme[readme.index("## Run it"):readme.index("## Test it")]

    assert "make run HOST=0.0.0.0 PORT=9000" in run and "`PORT`" in run and "`HOST`" in run
