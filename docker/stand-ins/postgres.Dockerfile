# A stand-in for the official postgres image, for machines that reach no container registry:
# Debian's PostgreSQL on the python:3.11-slim stand-in (Debian bookworm), started the
# official image's way (POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB; a first start makes
# the cluster in PGDATA). Built by `make ci-images`; users with a registry pull the real one.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/postgresql/data /var/run/postgresql \
 && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql
ENV PGDATA=/var/lib/postgresql/data \
    PATH=/usr/lib/postgresql/15/bin:$PATH
COPY postgres-entrypoint.sh /docker-entrypoint.sh
ENTRYPOINT ["/docker-entrypoint.sh"]
EXPOSE 5432
STOPSIGNAL SIGINT
CMD ["postgres"]
