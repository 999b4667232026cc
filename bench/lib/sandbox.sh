# bench/lib/sandbox.sh: sourced by the benchmarks, which set "$work" (their temp dir), "pids"
# (processes they started) and a `die` function.
#
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
