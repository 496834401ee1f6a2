# Every entry point a person or CI uses. A fresh machine needs only python3, java+maven,
# go and node+npm; everything else is installed here, into the project's folders (or apt).
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

STACK_DIR ?= $(CURDIR)/.stack
export STACK_DIR
UV_VERSION := 0.13.9
UV_HOME := $(STACK_DIR)/uv
UV := $(UV_HOME)/bin/uv
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
SERVICES_SRC := schemas/src packages/runtime/src services/fetcher/src services/matcher/src services/enricher/src services/timeline-api/src

.PHONY: help bootstrap k8s-tools infra-install infra-up infra-down infra-status run stop workspace sign-in replay compact-topics test test-unit test-browser lint fmt bench contracts role-addresses htmx clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(UV):
	python3 -m venv $(UV_HOME)
	$(UV_HOME)/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

# Bytecode compiled once here: where PYTHONDONTWRITEBYTECODE is set, every process would
# compile every module it imports again (2.5 s of a service's 4.6 s start, measured).
$(BIN)/python: $(UV) uv.lock pyproject.toml
	$(UV) sync --frozen --quiet --compile-bytecode
	$(BIN)/python -m compileall -q $(SERVICES_SRC)
	@touch $(BIN)/python

bootstrap: $(BIN)/python ## Install uv and the locked Python environment (.venv)

k8s-tools: ## kustomize, to render deploy/k8s offline (kubectl's own when kubectl is installed)
	scripts/kustomize.sh --install

infra-install: ## Install Kafka, FerretDB, Dovecot and Radicale without starting them
	scripts/stack.sh install

infra-up: ## Start the local stack on 127.0.0.1 (idempotent)
	scripts/stack.sh up

infra-down: ## Stop the local stack (idempotent)
	scripts/stack.sh down

infra-status: ## Show which servers of the local stack are up
	scripts/stack.sh status

run: bootstrap infra-up ## Run the system on the local stack with a demo mailbox and calendar
	$(BIN)/python scripts/demo.py

stop: ## Stop the services started by `make run` (the stack keeps running)
	$(BIN)/python scripts/demo.py --stop

workspace: bootstrap ## Create a workspace and its first admin: make workspace NAME=Acme DOMAIN=acme.test EMAIL=you@acme.test
	@test -n "$(NAME)" -a -n "$(DOMAIN)" -a -n "$(EMAIL)" || { echo "usage: make workspace NAME=Acme DOMAIN=acme.test EMAIL=you@acme.test"; exit 2; }
	$(BIN)/crm-admin bootstrap --name "$(NAME)" --domain "$(DOMAIN)" --admin-email "$(EMAIL)"

sign-in: bootstrap ## A one-time web app sign-in link: make sign-in WORKSPACE=<id> EMAIL=you@acme.test
	@test -n "$(WORKSPACE)" -a -n "$(EMAIL)" || { echo "usage: make sign-in WORKSPACE=<workspace id> EMAIL=you@acme.test"; exit 2; }
	$(BIN)/crm-admin sign-in-link --workspace "$(WORKSPACE)" --email "$(EMAIL)"

replay: bootstrap ## Reprocess history under the settings now: make replay KIND=both SINCE=everything (WORKSPACE=id, else all)
	@test -n "$(KIND)" -a -n "$(SINCE)" || { echo "usage: make replay KIND=mail|calendar|both SINCE=everything|2026-01-01T00:00Z [WORKSPACE=id]"; exit 2; }
	$(BIN)/crm-admin replay --kind "$(KIND)" --since "$(SINCE)" $(if $(WORKSPACE),--workspace "$(WORKSPACE)",--all)

compact-topics: bootstrap ## Make the existing config, mail.raw and calendar.raw topics compacted (docs/replay.md)
	$(BIN)/crm-admin compact-topics

test: bootstrap k8s-tools ## Start the stack if needed, run every test, stop what was started
	scripts/test.sh

test-unit: bootstrap ## Only the fast unit tests (no servers)
	$(BIN)/pytest tests/unit -q

test-browser: bootstrap infra-up ## Only the browser tests (installs chromium and axe-core); screenshots in .test-output/
	scripts/browser.sh install
	$(BIN)/pytest tests/browser -q

lint: bootstrap ## ruff, mypy --strict, and the import contracts
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy $(SERVICES_SRC) benchmarks tests/emulators scripts
	$(BIN)/lint-imports

fmt: bootstrap ## Format and fix what ruff can
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: bootstrap infra-up ## Every benchmark on the local stack, one summary (.bench/summary.json); ONLY=mail for one
	$(BIN)/python -m benchmarks.run $(ONLY)

contracts: bootstrap ## Export JSON Schema of every event and the AsyncAPI document to docs/contracts
	$(BIN)/crm-contracts docs/contracts

role-addresses: ## Refresh the matcher's role and no-reply list from npm (VERSION=3.1.0; needs npm, node)
	$(BIN)/python scripts/update_role_addresses.py $(if $(VERSION),--version $(VERSION))
	git diff --stat -- services/matcher/src/matcher/data/role_addresses.json

htmx: ## Vendor the htmx file pinned in tools/browser/package.json into the web app (needs npm)
	scripts/browser.sh vendor-htmx

clean: infra-down ## Stop everything and delete the local state and the venv
	rm -rf $(STACK_DIR) $(VENV)
