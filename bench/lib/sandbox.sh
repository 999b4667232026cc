# bench/lib/sandbox.sh: sourced by the benchmarks, which set "$script" (their own path),
# "$BERTH_BIN", and then "$work" (their temp dir) and "pids" (processes they started).
#
#   die MESSAGE               prints "SCRIPT: MESSAGE" on stderr and exits 1
#   check_prerequisites "BINARIES" TOOLS...
#                             root, each of BINARIES (space-separated) built in "$BERTH_BIN", each
#                             of TOOLS on PATH; dies naming what is missing
#   enter_own_netns ARG "BINARIES" TOOLS...
#                             unless ARG is --inside: check_prerequisites, then runs "$script"
#                             again as `"$script" --inside` in a new network namespace (exec, no
#                             return; not `ip netns exec`, which remounts /sys and hides the cgroup
#                             mounts the daemons need); inside: brings lo up
#   make_busybox_archive      "$work/busybox.tar", a docker-save archive of bench/busybox:1
#                             (static busybox with its applets), its root in "$work/bundle"
#   wait_for WHAT COMMAND...  retries COMMAND every 0.1 s, $wait_tries times (default 300)
#   release_work              stops "pids", unmounts what is under "$work", removes it
#                             (kept when KEEP_TMP=1), deletes the namespaces add_netns made
#   add_netns NAME            a network namespace /run/netns/NAME with only lo, up; enter it with
#                             `nsenter --net=/run/netns/NAME` (not `ip netns exec`, which remounts
#                             /sys and hides the cgroup mounts the daemons need)
#   start_docker [NETNS]      containerd and dockerd with roots under "$work", dockerd on
#                             unix://$work/docker.sock; appends their pids to "pids" and sets
#                             containerd_pid and dockerd_pid. Without NETNS: in the current network
#                             namespace, with no bridge, no iptables, no userland proxy. With NETNS
#                             (a name in /run/netns): both daemons run in that namespace with
#                             Docker's default networking (docker0, iptables rules, userland proxy)
#   start_berthd [NETNS]      berthd ("$BERTH_BIN") on unix://$work/berth.sock, roots under
#                             "$work/berth", log "$work/berthd.log", in NETNS if given; appends its
#                             pid to "pids", sets berthd_pid and writes it to "$work/berthd.pid"
#   stop_berthd               stops the berthd of "$work/berthd.pid" and waits until it is gone
#                             (also one started by another process, e.g. a hyperfine --prepare)

die() {
    echo "${script##*/}: $*" >&2
    exit 1
}

check_prerequisites() { # "binaries", tools...
    local b tool
    [ "$(id -u)" = 0 ] || die "must run as root"
    for b in $1; do
        [ -x "$BERTH_BIN/$b" ] || die "build it first: cargo build --release --workspace ($BERTH_BIN/$b)"
    done
    shift
    for tool in "$@"; do
        command -v "$tool" >/dev/null || die "$tool is missing (scripts/install-deps.sh)"
    done
}

enter_own_netns() { # first argument of the script, "binaries", tools...
    if [ "$1" != --inside ]; then
        shift
        check_prerequisites "$@"
        exec unshare --net -- "$script" --inside
    fi
    ip link set lo up
}

make_busybox_archive() {
    local root
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
    mkdir -p "$work/bundle"
    "$root/make-busybox-bundle.sh" "$work/bundle" >/dev/null
    python3 "$root/make-docker-archive.py" "$work/bundle/rootfs" bench/busybox:1 "$work/busybox.tar"
}

wait_for() { # description, command...
    local what=$1
    shift
    for _ in $(seq "${wait_tries:-300}"); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    die "$what did not start"
}

release_work() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
    # No mount left is no failure: under `set -e -o pipefail` grep's status would end the
    # function here and leave "$work" behind.
    { grep -F "$work" /proc/mounts || true; } | cut -d' ' -f2 | sort -r | xargs -r -n1 umount -l
    if [ "${KEEP_TMP:-}" = 1 ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
    for ns in "${netns_names[@]}"; do ip netns delete "$ns"; done
}

add_netns() { # name
    ip netns add "$1"
    netns_names+=("$1")
    ip -n "$1" link set lo up
}

start_docker() {
    local d=$work/containerd in_netns=() networking=()
    if [ -n "${1:-}" ]; then
        in_netns=(nsenter "--net=/run/netns/$1")
    else
        networking=(--iptables=false --ip6tables=false --ip-masq=false --ip-forward=false
            --bridge=none --userland-proxy=false)
    fi
    mkdir -p "$d/root" "$d/state" "$d/opt" "$d/tmp" "$work/docker/data" "$work/docker/exec"
    cat >"$d/config.toml" <<EOT
version = 2
root = "$d/root"
state = "$d/state"
temp = "$d/tmp"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$d/containerd.sock"
[ttrpc]
  address = "$d/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$d/opt"
EOT
    "${in_netns[@]}" containerd --config "$d/config.toml" >"$work/containerd.log" 2>&1 &
    pids+=($!)
    containerd_pid=$!
    wait_for containerd test -S "$d/containerd.sock"
    echo "{\"deprecated-key-path\": \"$work/docker/key.json\"}" >"$work/docker/daemon.json"
    "${in_netns[@]}" dockerd --config-file "$work/docker/daemon.json" --data-root "$work/docker/data" \
        --exec-root "$work/docker/exec" --pidfile "$work/docker/docker.pid" \
        -H "unix://$work/docker.sock" --containerd "$d/containerd.sock" \
        "${networking[@]}" >"$work/dockerd.log" 2>&1 &
    pids+=($!)
    dockerd_pid=$!
    wait_for dockerd docker -H "unix://$work/docker.sock" version
}

start_berthd() {
    local in_netns=()
    [ -n "${1:-}" ] && in_netns=(nsenter "--net=/run/netns/$1")
    "${in_netns[@]}" "$BERTH_BIN/berthd" --host "unix://$work/berth.sock" \
        --data-root "$work/berth/data" --exec-root "$work/berth/exec" >>"$work/berthd.log" 2>&1 &
    berthd_pid=$!
    pids+=("$berthd_pid")
    echo "$berthd_pid" >"$work/berthd.pid"
    wait_for berthd "$BERTH_BIN/berth" -H "unix://$work/berth.sock" version
}

stop_berthd() {
    local pid state
    pid=$(cat "$work/berthd.pid" 2>/dev/null) || return 0
    kill "$pid" 2>/dev/null || true
    # Gone, or a zombie no one reaps (a process orphaned here may be left unreaped). Under
    # `set -e` a failed command substitution would end the script: hence the `|| true`s.
    for _ in $(seq 300); do
        state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)
        [ -z "$state" ] || [ "$state" = Z ] && break
        sleep 0.1
    done
    rm -f "$work/berthd.pid"
}
