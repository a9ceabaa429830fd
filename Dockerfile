# tinymlp: one image, three roles (docker-compose.yml): trainer, api (gunicorn), worker.
#
#   docker build -t tinymlp .
#   docker run --rm -p 8000:8000 tinymlp                      # the API (models from the volume)
#   docker run --rm tinymlp python -m trainer all              # train the default models
#   docker run --rm --network host tinymlp tinymlp --url http://localhost:8000 models   # the client
#
# BASE_IMAGE defaults to the official python:3.11-slim; `make ci-images` (docker/stand-ins) builds a
# stand-in under that tag from a Debian mirror, for machines that cannot reach a registry.
ARG BASE_IMAGE=python:3.11-slim

# --- build: the project and its dependencies as wheels, installed into a venv -------------
FROM ${BASE_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_DEFAULT_TIMEOUT=120
WORKDIR /src
RUN python3 -m venv /opt/venv
# The context is what .dockerignore lets through: pyproject.toml, README.md and every package
# the wheel is made of (tests/deploy/test_packaging.py keeps the two lists together).
COPY . ./
RUN /opt/venv/bin/pip wheel --wheel-dir /wheels '.[plots]' \
 && /opt/venv/bin/pip install --no-index --find-links /wheels 'tinymlp[plots]' \
 && /opt/venv/bin/python -c "import mlp, core, trainer, service, client; print('tinymlp installed')" \
 && /opt/venv/bin/tinymlp --help >/dev/null

# --- runtime: the venv and the gunicorn config; no compilers, no sources, not root --------
FROM ${BASE_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TINYMLP_MODELS_DIR=/var/lib/tinymlp/models \
    TINYMLP_DATA_DIR=/var/lib/tinymlp/data \
    TINYMLP_STATE_DIR=/var/lib/tinymlp/state \
    TINYMLP_BIND=0.0.0.0:8000 \
    MPLCONFIGDIR=/tmp/matplotlib
# (matplotlib's cache, in a folder the non-root user may write: its home /app is not, and the
# root filesystem is read-only on Kubernetes, where /tmp is an emptyDir)
RUN groupadd --gid 10001 tinymlp \
 && useradd --uid 10001 --gid tinymlp --no-create-home --home-dir /app --shell /usr/sbin/nologin tinymlp \
 && mkdir -p /var/lib/tinymlp/models /var/lib/tinymlp/data /var/lib/tinymlp/state /app/docker \
 && chown -R tinymlp:tinymlp /var/lib/tinymlp
COPY --from=build /opt/venv /opt/venv
COPY docker/gunicorn.conf.py docker/healthcheck.py /app/docker/
WORKDIR /app
USER 10001:10001
VOLUME ["/var/lib/tinymlp/models", "/var/lib/tinymlp/data", "/var/lib/tinymlp/state"]
EXPOSE 8000
# Exec form, no shell and no curl needed: a few lines of Python ask /readyz.
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=5 \
    CMD ["python3", "/app/docker/healthcheck.py"]
CMD ["gunicorn", "-c", "docker/gunicorn.conf.py", "service.wsgi:app"]
