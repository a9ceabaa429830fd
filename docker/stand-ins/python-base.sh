#!/usr/bin/env bash
# Build a stand-in for the python:3.11-slim base image without a container registry.
#
#   sudo docker/stand-ins/python-base.sh [TAG]        (default TAG: python:3.11-slim)
#
# debootstrap installs a minimal Debian bookworm (whose python3 is 3.11) with python3,
# python3-venv and python3-pip from the mirror this machine's apt already uses (read from
# /etc/apt/sources.list and /etc/apt/sources.list.d/; set MIRROR=... to choose another),
# trusts this machine's extra CA certificates (/usr/local/share/ca-certificates, for
# networks whose HTTPS goes through an inspecting proxy) with pip pointed at the bundle,
# and `docker import`s the result under TAG. For CI without a registry and for users on
# air-gapped networks with a local Debian mirror. Needs root, debootstrap and docker.
set -euo pipefail

TAG=${1:-python:3.11-slim}
SUITE=${SUITE:-bookworm}

die() { echo "python-base: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (debootstrap needs it)"
command -v debootstrap >/dev/null || die "debootstrap is missing: apt-get install debootstrap"
command -v docker >/dev/null || die "docker is missing"

# The first Debian mirror apt is configured with, in either sources format.
apt_mirror() {
    python3 - "$SUITE" <<'PY'
import glob, re, sys
suite = sys.argv[1]
found = []
for path in ["/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*.list"))]:
    try:
        lines = open(path).read().splitlines()
    except OSError:
        continue
    for line in lines:
        parts = re.sub(r"\[[^]]*\]", "", line.split("#")[0]).split()
        if len(parts) >= 3 and parts[0] == "deb" and parts[2] == suite:
            found.append(parts[1])
for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
    try:
        stanzas = open(path).read().split("\n\n")
    except OSError:
        continue
    for stanza in stanzas:
        fields = dict(re.findall(r"^([A-Za-z-]+):\s*(.*)$", stanza, re.M))
        if "deb" in fields.get("Types", "").split() and suite in fields.get("Suites", "").split() \
                and fields.get("Enabled", "yes") != "no":
            found.extend(fields.get("URIs", "").split())
if not found:
    sys.exit(f"no apt source for {suite} found; set MIRROR to a Debian mirror")
print(found[0])
PY
}

MIRROR=${MIRROR:-$(apt_mirror)}
echo "python-base: debootstrap $SUITE from $MIRROR -> $TAG"

root=$(mktemp -d /tmp/tinymlp-rootfs.XXXXXX)
cleanup() { umount "$root/proc" 2>/dev/null || true; rm -rf "$root"; }
trap cleanup EXIT

debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
    "$SUITE" "$root" "$MIRROR" >"$root.log" 2>&1 || { tail -30 "$root.log" >&2; die "debootstrap failed"; }
rm -f "$root.log"

# This machine's extra certificate authorities, trusted inside the image too.
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
fi
chroot "$root" update-ca-certificates >/dev/null
printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$root/etc/pip.conf"

# The same apt sources inside, and no caches.
printf 'deb %s %s main\n' "$MIRROR" "$SUITE" >"$root/etc/apt/sources.list"
chroot "$root" apt-get clean
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/tmp/* "$root"/var/log/*.log

tar --numeric-owner -C "$root" -c . | docker import \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
    --change 'ENV REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt' \
    --change 'CMD ["python3"]' \
    - "$TAG" >/dev/null
echo "python-base: $TAG ready ($(docker run --rm --network none "$TAG" python3 --version))"
