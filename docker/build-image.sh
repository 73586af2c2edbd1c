#!/usr/bin/env bash
# `make image`: build docker/Dockerfile's targets with docker or podman and print each image's name and size.
#
#   ENGINE=podman|docker (detected when unset)  IMAGE=ppocrv3-det  TARGETS="cpu"  CPU_BASE=...  GPU_BASE=...
#
# The cpu target's base: CPU_BASE when given; else python:3.11-slim-bookworm when it is present or can be
# pulled; else a Python 3.11 bookworm base built from Debian's mirror (docker/bootstrap-base.sh, cached in
# the engine's store, so this happens once per machine).
set -euo pipefail
cd "$(dirname "$0")/.."

ENGINE=${ENGINE:-$(docker/engine.sh detect)}
if [ "$ENGINE" = podman ]; then eval "$(docker/engine.sh setup)"; fi
export ENGINE
IMAGE=${IMAGE:-ppocrv3-det}
TARGETS=${TARGETS:-cpu}
PUBLIC_CPU_BASE=docker.io/library/python:3.11-slim-bookworm
LOCAL_CPU_BASE=${BASE_IMAGE:-localhost/ppocrv3-det-base:py3.11-bookworm}

present() { $ENGINE image inspect "$1" >/dev/null 2>&1; }

cpu_base() {
    if [ -n "${CPU_BASE:-}" ]; then echo "$CPU_BASE"; return; fi
    if present "$PUBLIC_CPU_BASE"; then echo "$PUBLIC_CPU_BASE"; return; fi
    if present "$LOCAL_CPU_BASE"; then echo "$LOCAL_CPU_BASE"; return; fi
    if timeout "${PULL_TIMEOUT:-90}" $ENGINE pull -q "$PUBLIC_CPU_BASE" >/dev/null 2>&1; then
        echo "$PUBLIC_CPU_BASE"; return
    fi
    echo "cannot pull $PUBLIC_CPU_BASE: building $LOCAL_CPU_BASE from Debian's mirror" >&2
    BASE_IMAGE=$LOCAL_CPU_BASE docker/bootstrap-base.sh >&2
    echo "$LOCAL_CPU_BASE"
}

# The name the engine lists: podman qualifies a name without a registry as localhost/<name>.
listed_name() {
    local first=${1%%/*}
    local registry=no
    [[ "$1" == */* && ( "$first" == *.* || "$first" == *:* || "$first" == localhost ) ]] && registry=yes
    if [ "$ENGINE" = podman ] && [ $registry = no ]; then
        echo "localhost/$1"
    else
        echo "$1"
    fi
}

args=()
[ -n "${GPU_BASE:-}" ] && args+=(--build-arg "GPU_BASE=$GPU_BASE")
for target in $TARGETS; do
    started=$(date +%s)
    target_args=("${args[@]}")
    [ "$target" = cpu ] && target_args+=(--build-arg "CPU_BASE=$(cpu_base)")
    $ENGINE build -f docker/Dockerfile --target "$target" "${target_args[@]}" -t "$IMAGE:$target" .
    name=$(listed_name "$IMAGE:$target")
    size=$($ENGINE image inspect --format '{{.Size}}' "$name")
    echo "image $name: $(( size / 1000000 )) MB, built in $(( $(date +%s) - started )) s"
done
