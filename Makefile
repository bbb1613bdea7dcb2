# Two commands: `make run` (set up, migrate, demo data, serve) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: setup setup-dev run test lint clean bench-smoke

# `make run` installs what running needs; `make test` adds the dev extra (pytest, ruff,
# FHIR validators, Playwright, schemathesis) on top.
$(RUN_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e .
	touch $(RUN_STAMP)

$(DEV_STAMP): $(RUN_STAMP)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(DEV_STAMP)

setup: $(RUN_STAMP)

setup-dev: $(DEV_STAMP)

# The web server and the worker (reminders, alert emails) together, from the Procfile.
run: setup
	$(BIN)/flask --app wsgi db upgrade
	$(BIN)/flask --app wsgi tracker demo
	@echo "Serving on http://$(HOST):$(PORT)  (API docs: http://$(HOST):$(PORT)/api/v1/docs)"
	@if [ -z "$$SMTP_URL" ] || [ "$$SMTP_URL" = console ]; then \
		echo "SMTP_URL=console: reminder emails are printed in the worker's log"; fi
	HOST=$(HOST) PUBLIC_BASE_URL="$${PUBLIC_BASE_URL:-http://$(HOST):$(PORT)}" \
		$(BIN)/honcho start --port $(PORT) web worker

test: setup-dev
	$(BIN)/python -m pytest

# The benchmarks at a small size (bench/smoke.py): fails when a ratio falls below half its
# target. Not part of `make test`. BACKEND=postgresql for the other database.
bench-smoke: setup-dev
	$(BIN)/python bench/smoke.py --backend $(or $(BACKEND),sqlite)

lint: setup-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check tracker tests

clean:
	rm -rf $(VENV) instance .pytest_cache .hypothesis .ruff_cache
