#!/usr/bin/env bash
# The container engine for `make image` / `make test-containers`: docker when it answers, else podman with a
# private configuration and image store in ONE cache folder outside the checkout (reused by every clone).
#
#   docker/engine.sh detect      print the engine to use (docker|podman), or fail saying why there is none
#   docker/engine.sh setup       podman: install it where we can (root + apt) and write our config files
#   docker/engine.sh env         print `export ...` lines for podman's private config (eval "$(... env)")
#   docker/engine.sh start-api [NAME]   podman: serve the Docker API on $CACHE/podman-NAME.sock (NAME: api);
#                                       prints DOCKER_HOST=...; several names can serve one store at once
#   docker/engine.sh stop-api [NAME]    stop that service by its PID
#
# Why the podman settings (found on Debian bookworm VMs, root, cgroup v1 hybrid, no systemd):
#   runc:            Debian's crun 1.8.1 fails every container with "cgroups in hybrid mode not supported".
#   default_ulimits: root podman asks for nofile=1048576; without CAP_SYS_RESOURCE every container fails
#                    with "setrlimit RLIMIT_NOFILE: Operation not permitted"; nproc <= podman's own 32768.
#   cgroupfs:        no systemd to manage cgroups.
#   netavark:        user networks get a DNS server (aardvark-dns) that answers containers' network aliases;
#                    the multi-node container test finds node 0 by JobSet's pod DNS name that way. Without
#                    this setting podman chooses per store and may fall back to CNI, whose networks have no
#                    DNS unless Debian's dnsname plugin is installed.
set -euo pipefail

# The image store lives in the cache folder; podman's run-time state goes to a tmpfs-like folder named after
# it (one per store, so two cache folders never share state).
if [ "$(id -u)" = 0 ]; then
    CACHE=${CONTAINERS_CACHE:-/var/cache/ppocrv3-det-containers}
    RUN_DIR=/run
else
    CACHE=${CONTAINERS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ppocrv3-det-containers}
    RUN_DIR=${XDG_RUNTIME_DIR:-/tmp}
fi
RUNROOT=${CONTAINERS_RUNROOT:-$RUN_DIR/ppocrv3-det-containers-$(echo "$CACHE" | md5sum | cut -c1-8)}
CONF_DIR=$CACHE/conf
NAME=${2:-api}
SOCK=$CACHE/podman-$NAME.sock
PIDFILE=$CACHE/podman-$NAME.pid
LOG=$CACHE/podman-$NAME.log

env_lines() {
    echo "export CONTAINERS_CONF=$CONF_DIR/containers.conf"
    echo "export CONTAINERS_STORAGE_CONF=$CONF_DIR/storage.conf"
    echo "export CONTAINERS_CACHE=$CACHE"
}

docker_works() { command -v docker >/dev/null && timeout 20 docker info >/dev/null 2>&1; }

detect() {
    if [ -n "${ENGINE:-}" ]; then echo "$ENGINE"; return; fi
    if docker_works; then echo docker; return; fi
    if command -v podman >/dev/null; then echo podman; return; fi
    # root with apt: `setup` installs it
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then echo podman; return; fi
    echo "no answering docker daemon, no podman, and not root with apt-get to install podman" >&2
    return 1
}

install_podman() {
    local missing=()
    for tool in podman buildah runc debootstrap; do command -v "$tool" >/dev/null || missing+=("$tool"); done
    for helper in netavark aardvark-dns; do  # podman's network helpers live outside PATH
        [ -x "/usr/lib/podman/$helper" ] || [ -x "/usr/libexec/podman/$helper" ] || missing+=("$helper")
    done
    [ ${#missing[@]} = 0 ] && return
    local packages=(podman buildah runc debootstrap netavark aardvark-dns)
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
        echo "missing ${missing[*]} (Debian: apt-get install ${packages[*]})" >&2
        return 1
    fi
    echo "installing ${missing[*]} with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q "${packages[@]}" >&2 \
        || { apt-get update -q >&2 && apt-get install -y -q "${packages[@]}" >&2; }
}

write_config() {
    mkdir -p "$CONF_DIR" "$CACHE/storage" "$RUNROOT"
    local nofile
    nofile=$(ulimit -Hn)
    [ "$nofile" = unlimited ] && nofile=1048576
    cat > "$CONF_DIR/containers.conf" <<EOF
# Written by docker/engine.sh; podman reads it through CONTAINERS_CONF (nothing in /etc is changed).
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=32768:32768"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$RUNROOT/libpod"

[network]
network_backend = "netavark"
EOF
    cat > "$CONF_DIR/storage.conf" <<EOF
# Written by docker/engine.sh; podman reads it through CONTAINERS_STORAGE_CONF.
[storage]
driver = "overlay"
graphroot = "$CACHE/storage"
runroot = "$RUNROOT"
EOF
}

start_api() {
    eval "$(env_lines)"
    stop_api >/dev/null 2>&1 || true
    rm -f "$SOCK"
    nohup podman system service --time=0 "unix://$SOCK" > "$LOG" 2>&1 &
    echo $! > "$PIDFILE"
    for _ in $(seq 100); do
        [ -S "$SOCK" ] && { echo "DOCKER_HOST=unix://$SOCK"; return; }
        sleep 0.2
    done
    echo "podman API did not come up on $SOCK; see $LOG" >&2
    return 1
}

stop_api() {
    [ -f "$PIDFILE" ] || return 0
    local pid
    pid=$(cat "$PIDFILE")
    if kill -0 "$pid" 2>/dev/null; then kill "$pid"; fi
    rm -f "$PIDFILE"
}

case "${1:-}" in
    detect) detect ;;
    setup) install_podman && write_config && env_lines ;;
    env) env_lines ;;
    start-api) start_api ;;
    stop-api) stop_api ;;
    *) echo "usage: $0 detect|setup|env|start-api [NAME]|stop-api [NAME]" >&2; exit 2 ;;
esac
