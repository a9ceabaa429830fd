# A stand-in for the official nginx image, for machines that reach no container registry:
# Debian's nginx on the python:3.11-slim stand-in (Debian bookworm), with the official image's
# template step (/etc/nginx/templates/*.template -> /etc/nginx/conf.d/, ${VARIABLES} filled in).
# Built by `make ci-images`; users with a registry pull the real one.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends nginx gettext-base \
 && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled/default \
 && mkdir -p /etc/nginx/templates /etc/nginx/conf.d \
 && ln -sf /dev/stdout /var/log/nginx/access.log \
 && ln -sf /dev/stderr /var/log/nginx/error.log
COPY nginx-entrypoint.sh /docker-entrypoint.sh
ENTRYPOINT ["/docker-entrypoint.sh"]
EXPOSE 80
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
