#!/bin/sh
# As the official nginx image's 20-envsubst-on-templates.sh: each template becomes a config
# with the environment's ${VARIABLES} filled in, only those that are set (nginx's own $host
# and the like stay as they are); then nginx runs in the foreground.
set -eu
defined=$(env | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/${\1}/p' | tr '\n' ' ')
for template in /etc/nginx/templates/*.template; do
    [ -e "$template" ] || continue
    out="/etc/nginx/conf.d/$(basename "$template" .template)"
    envsubst "$defined" < "$template" > "$out"
    echo "docker-entrypoint: $template -> $out"
done
exec "$@"
