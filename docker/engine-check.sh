#!/usr/bin/env bash
# Is there a Docker engine to talk to? If not, one line on stderr saying how to get one, and
# exit status 1, rather than the docker CLI's own error (make up, make ci-images...).
set -u
if ! command -v docker >/dev/null; then
    echo "error: there is no docker command: install Docker (Debian: sudo apt-get install docker.io)" >&2
    exit 1
fi
if ! out=$(docker info --format '{{.ServerVersion}}' 2>&1); then
    where=${DOCKER_HOST:-unix:///var/run/docker.sock}
    case $out in
        *"permission denied"*)
            echo "error: the Docker engine at $where refuses you: run as root, or join the docker group" \
                 "(sudo usermod -aG docker \$USER, then log in again)" >&2 ;;
        *)
            echo "error: no Docker engine answers at $where: start it (sudo systemctl start docker where" \
                 "systemd runs, else sudo dockerd >/var/log/dockerd.log 2>&1 &; the README's \"With Docker\"" \
                 "says how in a sandbox), then run this again" >&2 ;;
    esac
    exit 1
fi
