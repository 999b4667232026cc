# bench/lib/docker-sandbox.sh: sourced by the benchmarks. `start_docker` starts containerd and
# dockerd with roots under "$work", dockerd on unix://$work/docker.sock (no bridge, no
# iptables), appends their pids to "pids" and sets containerd_pid and dockerd_pid. Needs the
# caller's `wait_for` and "$work".

start_docker() {
    local d=$work/containerd
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
    containerd --config "$d/config.toml" >"$work/containerd.log" 2>&1 &
    pids+=($!)
    containerd_pid=$!
    wait_for containerd test -S "$d/containerd.sock"
    echo "{\"deprecated-key-path\": \"$work/docker/key.json\"}" >"$work/docker/daemon.json"
    dockerd --config-file "$work/docker/daemon.json" --data-root "$work/docker/data" \
        --exec-root "$work/docker/exec" --pidfile "$work/docker/docker.pid" \
        -H "unix://$work/docker.sock" --containerd "$d/containerd.sock" \
        --iptables=false --ip6tables=false --ip-masq=false --ip-forward=false \
        --bridge=none --userland-proxy=false >"$work/dockerd.log" 2>&1 &
    pids+=($!)
    dockerd_pid=$!
    wait_for dockerd docker -H "unix://$work/docker.sock" version
}
