# Mercato: `make run` and `make test` work on a machine with only Python 3.11+ and make.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
UV_VERSION ?= 0.13.9
TOOLS_DIR := .tools
# uv from PATH when present, else a private copy bootstrapped into .tools/ (no global install).
UV := $(or $(shell command -v uv 2>/dev/null),$(TOOLS_DIR)/bin/uv)
BIN := .venv/bin
# Never let uv download an interpreter: use the Python this machine has.
export UV_PYTHON_DOWNLOADS := never

.PHONY: help install run test test-slow lint fmt bench client clients-from clean cluster cluster-down

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(TOOLS_DIR)/bin/uv:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Mercato needs Python 3.11+")'
	$(PYTHON) -m venv $(TOOLS_DIR)
	$(TOOLS_DIR)/bin/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

# Bytecode compiled at install (only what changed, after the first time): `mercato --help`
# then answers in a fraction of a second even where Python may not write .pyc files.
install: $(UV) ## Create .venv from uv.lock (exact pinned versions)
	$(UV) sync --frozen --compile-bytecode --extra tracing --python $(PYTHON)

run: install ## Start Mercato (embedded PostgreSQL unless DATABASE_URL is set)
	$(BIN)/mercato run

test: install lint ## Lint, type-check and run the whole suite (not the slow/bench suites)
	$(BIN)/pytest -m "not slow"

test-slow: install ## Run the slow load/soak suites
	$(BIN)/pytest -m slow; status=$$?; [ $$status -eq 5 ] && echo "no slow tests yet" || exit $$status

cluster: install ## Start the scale-out cluster (nginx, 3 API, 2 payments, primary + replica, Redis, NATS, workers)
	$(BIN)/mercato cluster up

cluster-down: ## Stop the cluster started by `make cluster` (its data stays in .data/cluster/)
	$(BIN)/mercato cluster down

lint: install ## ruff check, ruff format --check, mypy --strict, import contracts
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src tests bench
	$(BIN)/lint-imports

fmt: install ## Format and auto-fix
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: install ## Run the benchmarks in bench/ (results go to docs/benchmarks.md)
	$(BIN)/python -m bench

# Client generators, pinned. Each runs in an environment of its own (uv's tool cache, npm's):
# openapi-python-client needs an older typer than Mercato's (docs/decisions/0006).
CLIENTS ?= clients
SERVICE ?= api
OPENAPI_PYTHON_CLIENT ?= openapi-python-client==0.29.1
OPENAPI_TYPESCRIPT ?= openapi-typescript@7.13.0
OPENAPI_FETCH_VERSION ?= 0.17.0
TYPESCRIPT_VERSION ?= 5.9.3

client: install ## Generate a TypeScript and a Python client into clients/ (SERVICE=payments: that service's)
	@mkdir -p $(CLIENTS)
	$(BIN)/mercato openapi --service $(SERVICE) > $(CLIENTS)/openapi.json
	@$(MAKE) --no-print-directory clients-from OPENAPI=$(CLIENTS)/openapi.json

# The clients of the document OPENAPI, into CLIENTS (what `client` and its test run).
clients-from:
	rm -rf $(CLIENTS)/python $(CLIENTS)/typescript
	$(UV) tool run --quiet --from "$(OPENAPI_PYTHON_CLIENT)" openapi-python-client generate \
	  --path "$(OPENAPI)" --output-path "$(CLIENTS)/python" --meta uv
	mkdir -p $(CLIENTS)/typescript
	npm exec --yes --loglevel=error --package=$(OPENAPI_TYPESCRIPT) -- \
	  openapi-typescript "$(abspath $(OPENAPI))" --output "$(CLIENTS)/typescript/schema.d.ts"
	printf '%s\n' '{"name": "mercato-client", "private": true, "type": "module",' \
	  '"dependencies": {"openapi-fetch": "$(OPENAPI_FETCH_VERSION)"},' \
	  '"devDependencies": {"typescript": "$(TYPESCRIPT_VERSION)"}}' > $(CLIENTS)/typescript/package.json
	printf '%s\n' 'import createClient from "openapi-fetch";' \
	  'import type { paths } from "./schema.js";' \
	  'export type { paths, components, operations } from "./schema.js";' \
	  'export const mercatoClient = (baseUrl: string) => createClient<paths>({ baseUrl });' \
	  > $(CLIENTS)/typescript/index.ts
	cd $(CLIENTS)/typescript && npm install --no-audit --no-fund --loglevel=error && \
	  npx tsc --noEmit --strict --target es2022 --module nodenext --skipLibCheck index.ts

clean: ## Remove the virtualenv, caches and tools (keeps .data/, the embedded database)
	rm -rf .venv $(TOOLS_DIR) .pytest_cache .mypy_cache .ruff_cache
