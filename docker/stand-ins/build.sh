#!/usr/bin/env bash
# Every stand-in image the stack needs, for a machine that reaches no container registry
# (CI, air-gapped networks with a Debian mirror):   sudo make ci-images
#
#   python:3.11-slim      debootstrap from the apt mirror (python-base.sh)
#   nginx:1.27-bookworm   Debian's nginx on that base, with the official image's templates
#   postgres:16-bookworm  Debian's PostgreSQL on that base, started the official image's way
#
# The tags are the official images' so that docker-compose.yml needs no change; an image
# already present under a tag is kept (FORCE=1 builds it again). Needs root, debootstrap and
# a running Docker engine.
set -euo pipefail
cd "$(dirname "$0")"
../engine-check.sh

PYTHON_TAG=${PYTHON_TAG:-python:3.11-slim}
NGINX_TAG=${NGINX_TAG:-nginx:1.27-bookworm}
POSTGRES_TAG=${POSTGRES_TAG:-postgres:16-bookworm}

have() { [ -z "${FORCE:-}" ] && docker image inspect "$1" >/dev/null 2>&1; }

if have "$PYTHON_TAG"; then echo "stand-ins: $PYTHON_TAG is there"; else ./python-base.sh "$PYTHON_TAG"; fi
# The classic builder needs no buildx plugin; the host network reaches the apt mirror.
build() {  # build TAG DOCKERFILE
    if have "$1"; then echo "stand-ins: $1 is there"; return; fi
    DOCKER_BUILDKIT=0 docker build --quiet --network host --build-arg "BASE_IMAGE=$PYTHON_TAG" \
        -t "$1" -f "$2" . >/dev/null
    echo "stand-ins: $1 ready"
}
build "$NGINX_TAG" nginx.Dockerfile
build "$POSTGRES_TAG" postgres.Dockerfile
