#!/usr/bin/env bash
# Build a Python 3.11 Debian bookworm base image from Debian's own mirror, for machines that cannot pull
# python:3.11-slim-bookworm (no Docker Hub). It behaves like that image for our Dockerfile: `python` and
# `python -m pip` come from a venv first on PATH, apt works, and the host's extra CA certificates are trusted
# (networks with a TLS-intercepting proxy need this; elsewhere it changes nothing).
#
#   docker/bootstrap-base.sh [--force]      ENGINE=podman|docker  BASE_IMAGE=localhost/ppocrv3-det-base:...
#
# Needs root (debootstrap + chroot). Skips the work when the image is already in the engine's store.
set -euo pipefail
cd "$(dirname "$0")/.."

ENGINE=${ENGINE:-$(docker/engine.sh detect)}
if [ "$ENGINE" = podman ]; then eval "$(docker/engine.sh env)"; fi
BASE_IMAGE=${BASE_IMAGE:-localhost/ppocrv3-det-base:py3.11-bookworm}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
WORK=${CONTAINERS_CACHE:-${TMPDIR:-/tmp}}/base-rootfs

if [ "${1:-}" != --force ] && $ENGINE image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    echo "base image $BASE_IMAGE already built"
    exit 0
fi
[ "$(id -u)" = 0 ] || { echo "bootstrap-base.sh needs root (debootstrap, chroot)" >&2; exit 1; }
if ! command -v debootstrap >/dev/null; then
    echo "debootstrap is not installed (apt-get install debootstrap)" >&2
    exit 1
fi

started=$(date +%s)
rm -rf "$WORK"
mkdir -p "$WORK"
trap 'rm -rf "$WORK"' EXIT
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    "$SUITE" "$WORK" "$MIRROR" \
    > "$WORK.log" 2>&1 || { tail -20 "$WORK.log" >&2; exit 1; }
cat > "$WORK/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb ${MIRROR%/debian}/debian-security $SUITE-security main
EOF
# The host's locally added CAs (empty on most machines) become trusted in the image as well.
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$WORK/usr/local/share/ca-certificates/"
fi
chroot "$WORK" update-ca-certificates >/dev/null
chroot "$WORK" python3 -m venv /opt/venv
rm -rf "$WORK"/var/cache/apt/archives/*.deb "$WORK"/var/lib/apt/lists/* "$WORK"/tmp/*

CA=/etc/ssl/certs/ca-certificates.crt
tar -C "$WORK" -c . | $ENGINE import \
    --change "ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    --change "ENV LANG=C.UTF-8" \
    --change "ENV SSL_CERT_FILE=$CA" --change "ENV REQUESTS_CA_BUNDLE=$CA" --change "ENV PIP_CERT=$CA" \
    --change 'CMD ["python3"]' \
    - "$BASE_IMAGE" >/dev/null
echo "built base image $BASE_IMAGE in $(( $(date +%s) - started )) s"
