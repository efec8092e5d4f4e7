# Valora developer commands. Prerequisites: see README.md.
SHELL := /bin/bash
# uv: the one on PATH, else a copy this Makefile installs from PyPI (pinned) into .valora/uv.
UV_VERSION := 0.13.9
UV_BOOT := $(CURDIR)/.valora/uv
ifeq ($(origin UV),undefined)
UV := $(or $(shell command -v uv 2>/dev/null),$(UV_BOOT)/bin/uv)
endif
# Targets that run uv depend on this (nothing when uv is on PATH).
UV_DEP := $(if $(filter $(UV_BOOT)/bin/uv,$(UV)),$(UV_BOOT)/bin/uv)
PKGS := $(notdir $(wildcard contracts/src/valora_* libs/*/src/valora_* services/*/src/valora_* tools/*/src/valora_* cli/src/valora_*))
PYTEST := $(UV) run pytest
# `make run REPLICAS=validator=2,ingestion=2` runs several replicas of those services.
REPLICAS ?=
# kustomize (for the deployment checks) is installed with `go install` into GOPATH/bin.
export PATH := $(shell go env GOPATH 2>/dev/null)/bin:$(PATH)

.PHONY: help uv monitoring setup run stop status test test-e2e test-unit test-integration lint fmt schemas bench \
	clean compose-up compose-down kfp-compile deploy-check monitoring-sync docs pin-images

help: ## list targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

uv: $(UV_DEP) ## make sure uv is there (installed from PyPI into .valora/uv when it is missing)

$(UV_BOOT)/bin/uv:
	@echo "uv is not on PATH: installing uv $(UV_VERSION) from PyPI into $(UV_BOOT)"
	@command -v python3 >/dev/null || { echo "python3 (3.11+) is needed to install uv"; exit 1; }
	@python3 -m venv $(UV_BOOT) 2>/dev/null && $(UV_BOOT)/bin/python -m pip install -q "uv==$(UV_VERSION)" \
	|| { rm -rf $(UV_BOOT) && python3 -m pip install -q --target $(UV_BOOT)/site "uv==$(UV_VERSION)" \
	     && mkdir -p $(UV_BOOT)/bin && ln -sf $(UV_BOOT)/site/bin/uv $(UV_BOOT)/bin/uv; } \
	|| { echo "could not install uv: install python3-venv or python3-pip, or uv itself"; exit 1; }
	@$(UV_BOOT)/bin/uv --version

# Prometheus (with promtool) and Alertmanager: Debian packages, installed when missing (the dev
# stack runs them; `make test` runs `promtool test rules`). policy-rc.d keeps apt from starting
# the packages' own daemons on the default ports.
monitoring: ## install Prometheus, promtool and Alertmanager (Debian packages) when missing
	@if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null \
	  || ! command -v prometheus-alertmanager >/dev/null; then \
	  echo "Prometheus/Alertmanager missing: installing the Debian packages prometheus and prometheus-alertmanager"; \
	  command -v apt-get >/dev/null || { echo "no apt-get: install prometheus, promtool and alertmanager yourself"; exit 1; }; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q \
	    --no-install-recommends prometheus prometheus-alertmanager; \
	fi

setup: $(UV_DEP) monitoring ## install the Python environment (uv), Prometheus/Alertmanager, fetch the Kafka jars
	$(UV) sync --frozen
	$(UV) run valora stack fetch

run: setup ## bring the platform up, train a first model, and show a real prediction
	$(UV) run valora demo $(if $(REPLICAS),--replicas $(REPLICAS))

stop: $(UV_DEP) ## stop everything `make run` started
	$(UV) run valora stack down

status: $(UV_DEP) ## show each component, its address and health
	$(UV) run valora stack status

test: $(UV_DEP) monitoring ## unit, API fuzzing, integration (starts the real dev stack), offline deployment tests
	$(PYTEST) tests/unit tests/fuzz tests/integration tests/deploy

test-e2e: $(UV_DEP) monitoring ## whole platform + fault tests (kill -9, outages) on an isolated real stack
	$(UV) run valora stack fetch
	$(PYTEST) tests/e2e -m e2e -s

test-unit: $(UV_DEP) ## fast tests: fakes, FastStream's in-memory broker, schemathesis over fakes
	$(PYTEST) tests/unit tests/fuzz -m unit

test-integration: $(UV_DEP) ## tests against real Kafka, PostgreSQL and MLflow
	$(PYTEST) tests/integration -m integration

lint: $(UV_DEP) ## ruff (lint + format check), mypy --strict, bandit (security), pinned schemas
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy $(addprefix -p ,$(PKGS))
	$(UV) run bandit -q -c pyproject.toml -r contracts libs services tools cli kubeflow
	$(UV) run valora contracts check

fmt: $(UV_DEP) ## format and auto-fix
	$(UV) run ruff format .
	$(UV) run ruff check --fix .

docs: $(UV_DEP) ## write docs/asyncapi.yaml and .html (every topic: producers, consumers, contracts; commit them)
	$(UV) run valora contracts asyncapi --dir docs

schemas: $(UV_DEP) ## re-export the event JSON Schemas to contracts/schemas (commit the result)
	$(UV) run valora contracts export

# `make bench` runs on a stack of its own (state in .valora/bench, ports from 13500 up), so the
# hundreds of thousands of benchmark listings never reach the dev stack's topics, tables or
# models; it is stopped again at the end.
BENCH_ENV := VALORA_STATE_DIR=$(CURDIR)/.valora/bench \
	VALORA_KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:22592 VALORA_KAFKA_CONTROLLER_PORT=22593 \
	VALORA_DATABASE_URL=postgresql+asyncpg://valora:valora-local-only@127.0.0.1:18932/valora \
	VALORA_MANAGE_POSTGRES=true VALORA_MLFLOW_TRACKING_URI=http://127.0.0.1:18500 \
	VALORA_SERVICE_PORT_OFFSET=13500

bench: $(UV_DEP) ## benchmarks on an isolated stack: print throughput and latency figures
	env $(BENCH_ENV) $(UV) run valora stack up --only postgres --only kafka --only mlflow
	env $(BENCH_ENV) $(UV) run python tests/benchmarks/report.py; status=$$?; \
	env $(BENCH_ENV) $(UV) run valora stack down; exit $$status

compose-up: ## build and start the docker compose stack (compose/.env from .env.example on first use)
	test -f compose/.env || cp .env.example compose/.env
	docker compose -f compose/docker-compose.yml --env-file compose/.env up -d --build --wait

compose-down: ## stop the docker compose stack
	docker compose -f compose/docker-compose.yml --env-file compose/.env down --remove-orphans

kfp-compile: $(UV_DEP) ## compile the Kubeflow pipeline to kubeflow/pipeline.yaml (commit it)
	$(UV) run python kubeflow/pipeline.py --output kubeflow/pipeline.yaml

monitoring-sync: $(UV_DEP) ## regenerate k8s PrometheusRule/AlertmanagerConfig from compose/'s rules and routing
	$(UV) run python -m valora_deploycheck.monitoring --write

deploy-check: $(UV_DEP) ## offline checks: compose schema, kustomize overlays (strict), KFP pipeline, code agreement, hardening (no floating tags, optional secrets, public /metrics)
	$(PYTEST) tests/deploy -m deploy

pin-images: $(UV_DEP) ## resolve pulled images in compose and k8s to name:tag@sha256 digests (needs a reachable registry; never invents one)
	$(UV) run python -m valora_deploycheck pin-images

clean: stop ## stop the stack and delete its state (.valora/)
	rm -rf .valora
