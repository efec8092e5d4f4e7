# Valora developer commands. Prerequisites: see README.md.
SHELL := /bin/bash
UV ?= uv
PKGS := $(notdir $(wildcard contracts/src/valora_* libs/*/src/valora_* services/*/src/valora_* cli/src/valora_*))
PYTEST := $(UV) run pytest
# kustomize (for the deployment checks) is installed with `go install` into GOPATH/bin.
export PATH := $(shell go env GOPATH 2>/dev/null)/bin:$(PATH)

.PHONY: help setup run stop status test test-e2e test-unit test-integration lint fmt schemas bench clean \
	compose-up compose-down kfp-compile deploy-check

help: ## list targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

setup: ## install the Python environment (uv) and fetch the Kafka broker jars
	$(UV) sync --frozen
	$(UV) run valora stack fetch

run: setup ## bring the platform up, train a first model, and show a real prediction
	$(UV) run valora demo

stop: ## stop everything `make run` started
	$(UV) run valora stack down

status: ## show each component, its address and health
	$(UV) run valora stack status

test: ## unit, API fuzzing, integration (starts the real dev stack), offline deployment tests
	$(PYTEST) tests/unit tests/fuzz tests/integration tests/deploy

test-e2e: ## whole platform + fault tests (kill -9, outages) on an isolated real stack
	$(UV) run valora stack fetch
	$(PYTEST) tests/e2e -m e2e -s

test-unit: ## fast tests: fakes, FastStream's in-memory broker, schemathesis over fakes
	$(PYTEST) tests/unit tests/fuzz -m unit

test-integration: ## tests against real Kafka, PostgreSQL and MLflow
	$(PYTEST) tests/integration -m integration

lint: ## ruff (lint + format check), mypy --strict, pinned schemas
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy $(addprefix -p ,$(PKGS))
	$(UV) run valora contracts check

fmt: ## format and auto-fix
	$(UV) run ruff format .
	$(UV) run ruff check --fix .

schemas: ## re-export the event JSON Schemas to contracts/schemas (commit the result)
	$(UV) run valora contracts export

# `make bench` runs on a stack of its own (state in .valora/bench, ports from 13500 up), so the
# hundreds of thousands of benchmark listings never reach the dev stack's topics, tables or
# models; it is stopped again at the end.
BENCH_ENV := VALORA_STATE_DIR=$(CURDIR)/.valora/bench \
	VALORA_KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:22592 VALORA_KAFKA_CONTROLLER_PORT=22593 \
	VALORA_DATABASE_URL=postgresql+asyncpg://valora:valora-local-only@127.0.0.1:18932/valora \
	VALORA_MANAGE_POSTGRES=true VALORA_MLFLOW_TRACKING_URI=http://127.0.0.1:18500 \
	VALORA_SERVICE_PORT_OFFSET=13500

bench: ## benchmarks on an isolated stack: print throughput and latency figures
	env $(BENCH_ENV) $(UV) run valora stack up --only postgres --only kafka --only mlflow
	env $(BENCH_ENV) $(UV) run python tests/benchmarks/report.py; status=$$?; \
	env $(BENCH_ENV) $(UV) run valora stack down; exit $$status

compose-up: ## build and start the docker compose stack (compose/.env from .env.example on first use)
	test -f compose/.env || cp .env.example compose/.env
	docker compose -f compose/docker-compose.yml --env-file compose/.env up -d --build --wait

compose-down: ## stop the docker compose stack
	docker compose -f compose/docker-compose.yml --env-file compose/.env down --remove-orphans

kfp-compile: ## compile the Kubeflow pipeline to kubeflow/pipeline.yaml (commit it)
	$(UV) run python kubeflow/pipeline.py --output kubeflow/pipeline.yaml

deploy-check: ## offline checks: compose schema, kustomize overlays (strict), KFP pipeline, code agreement
	$(PYTEST) tests/deploy -m deploy

clean: stop ## stop the stack and delete its state (.valora/)
	rm -rf .valora
