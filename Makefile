# The two commands of the quick start are `make demo` and `make test`; everything else serves them.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup install docker haproxy images chromium demo test test-unit test-docker lint bench clean

$(STAMP): pyproject.toml
	@$(PY) -m venv $(VENV) 2>/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null && $(PY) -m venv $(VENV); }
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $(STAMP)

## setup: the virtual environment, a Docker engine, HAProxy, the example images and Chromium (for the dashboard tests)
setup: $(STAMP) docker haproxy images chromium

install: $(STAMP)

## docker: use the engine DOCKER_HOST or /var/run/docker.sock reaches, or install and start one
docker:
	@bash scripts/ensure-docker.sh

## haproxy: Debian's haproxy (2.4+), the load balancers' data plane; installed when missing
haproxy:
	@bash scripts/ensure-haproxy.sh

## images: build the example images locally (no registry needed)
images: docker
	@bash scripts/build-images.sh

## chromium: Debian's chromium and chromium-driver, which the dashboard's tests drive
chromium:
	@bash scripts/ensure-chromium.sh

## demo: a local cluster of 3 agents in 3 zones running examples/01-web as a service of 6
demo: setup
	@bash scripts/demo.sh

## test: the whole suite (unit tests, then real-Docker tests)
test: setup
	$(BIN)/pytest -q -p no:cacheprovider --durations=25

test-unit: $(STAMP)
	$(BIN)/pytest -q -m "not docker" tests/unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy orchestrator agent scheduler
	$(BIN)/lint-imports

bench: setup
	$(BIN)/python benchmarks/scheduler.py
	$(BIN)/python benchmarks/cold_start.py
	$(BIN)/python benchmarks/autoscale.py
	$(BIN)/python benchmarks/lb.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
