# `make run` sets up and starts everything on the embedded defaults; `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum requirements.txt | cut -d' ' -f1)
HOST ?= 127.0.0.1
PORT ?= 8000
# As tradingagents/server.py has them (a test checks they agree).
SERVE_FLAGS := --loop uvloop --http httptools --ws websockets-sansio --lifespan off --no-access-log --timeout-graceful-shutdown 5

.PHONY: install run test lint bench worker clean tradingagents

$(STAMP): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

# Local secrets for development, generated once and kept out of git.
.env: | $(STAMP)
	$(BIN)/python -c "import secrets; from cryptography.fernet import Fernet; \
	print('DJANGO_SECRET_KEY=' + secrets.token_urlsafe(50)); \
	print('ENCRYPTION_KEY=' + Fernet.generate_key().decode())" > .env
	@echo "Wrote .env with a new DJANGO_SECRET_KEY and ENCRYPTION_KEY (keep it: it decrypts your stored keys)."

run: install .env
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed
	$(BIN)/python manage.py ensureadmin
	@echo "Serving admin http://$(HOST):$(PORT)/admin/  API http://$(HOST):$(PORT)/api/docs  websockets ws://$(HOST):$(PORT)/ws/events/"
	$(BIN)/uvicorn tradingagents.asgi:application --host $(HOST) --port $(PORT) $(SERVE_FLAGS)

# TradingAgents v0.3.0 for analyses, in a virtualenv of its own (its package is also
# called `tradingagents`): TRADINGAGENTS_SOURCE is a pip requirement (the upstream git URL
# at v0.3.0) or a local source archive or folder; TRADINGAGENTS_CONSTRAINTS optionally
# pins its dependencies. Writes TRADINGAGENTS_PYTHON into .env.
TRADINGAGENTS_VENV ?= .venv-tradingagents
TRADINGAGENTS_CONSTRAINTS ?=
tradingagents: .env
	@test -n "$(TRADINGAGENTS_SOURCE)" || { echo "Set TRADINGAGENTS_SOURCE, e.g. make tradingagents TRADINGAGENTS_SOURCE='git+https://github.com/TauricResearch/TradingAgents@v0.3.0' (or a local source archive)"; exit 2; }
	test -x $(TRADINGAGENTS_VENV)/bin/python || $(PYTHON) -m venv $(TRADINGAGENTS_VENV)
	@# Installed from outside the repo: pip run here could take our own package for it.
	source="$(TRADINGAGENTS_SOURCE)"; if [ -e "$$source" ]; then source=$$(realpath "$$source"); fi; \
	constraints="$(TRADINGAGENTS_CONSTRAINTS)"; if [ -n "$$constraints" ]; then constraints="-c $$(realpath "$$constraints")"; fi; \
	venv=$$(realpath $(TRADINGAGENTS_VENV)); cd /tmp && "$$venv/bin/pip" install --quiet --disable-pip-version-check $$constraints "$$source"
	$(TRADINGAGENTS_VENV)/bin/python -c "import importlib.metadata as m; v = m.version('tradingagents'); assert v == '0.3.0', f'TradingAgents {v} installed; analyses drive v0.3.0'"
	python=$$(realpath $(TRADINGAGENTS_VENV))/bin/python; grep -v '^TRADINGAGENTS_PYTHON=' .env > .env.new || true; \
	echo "TRADINGAGENTS_PYTHON=$$python" >> .env.new && mv .env.new .env && echo "Wrote TRADINGAGENTS_PYTHON=$$python into .env; restart the server."

# A separate worker, for the PostgreSQL + Redis set-up (embedded mode needs none).
worker: install
	$(BIN)/python manage.py rundramatiq --processes 1 --threads 4

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# ruff (pyproject.toml), then the dependency rules (.importlinter, docs/ARCHITECTURE.md).
lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports

bench: install
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) db.sqlite3 out
