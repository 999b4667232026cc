#!/usr/bin/env bash
# bench/containers.sh: starting containers through berthd and through dockerd, side by side.
#
# The image: static busybox with its applets (bench/lib/make-busybox-bundle.sh's root file
# system, as a docker-save archive from bench/lib/make-docker-archive.py), loaded into both
# daemons. Everything runs inside a network namespace of its own (loopback only): containerd +
# dockerd with their own roots, and berthd with its own roots. Every container uses
# `--network none` (berthd has no bridge yet, dockerd runs with --bridge=none).
#
#   run      `docker run --rm IMAGE true` against dockerd, `berth run --rm IMAGE true` against
#            berthd, and `docker run --rm IMAGE true` pointed at berthd (the docker CLI's own
#            cost is then in both docker columns), and podman's `run --rm` when podman is there.
#   burst    100 `run -d IMAGE sleep 600` at once (xargs -P 100), then all removed; the time to
#            have all 100 running, dockerd vs berthd.
#   memory   berthd's idle RSS, and the summed PSS of berthd and the shims with the 100
#            containers running, per container (dockerd + containerd + shims for comparison).
#
# Prints markdown for docs/benchmarks.md. Environment: RUNS (hyperfine --runs, default 30),
# BERTH_BIN (directory of berth, berthd, berth-shim, berth-runtime, berth-init; default the
# release build), KEEP_TMP=1 keeps the work directory. Must run as root.
set -euo pipefail

script=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
repo_root=$(cd "$(dirname "$script")/.." && pwd)
RUNS=${RUNS:-30}
BERTH_BIN=${BERTH_BIN:-$repo_root/target/x86_64-unknown-linux-gnu/release}
export RUNS BERTH_BIN

# shellcheck source=lib/sandbox.sh
. "$(dirname "$script")/lib/sandbox.sh"
enter_own_netns "${1:-}" "berth berthd berth-shim berth-runtime" hyperfine docker dockerd containerd runc python3 jq

# Short: the shims' sockets live under it and a socket path must fit in 108 bytes.
work=$(mktemp -d /tmp/bcb.XXXXXX)
pids=()
berthd_pid=
cleanup() {
    set +e
    [ -S "$work/docker.sock" ] && docker -H "unix://$work/docker.sock" rm -f $(docker -H "unix://$work/docker.sock" ps -aq) >/dev/null 2>&1
    [ -S "$work/berth.sock" ] && "$BERTH_BIN/berth" -H "unix://$work/berth.sock" rm -f $("$BERTH_BIN/berth" -H "unix://$work/berth.sock" ps -aq) >/dev/null 2>&1
    command -v podman >/dev/null && podman_cmd rm -af >/dev/null 2>&1
    release_work
}
trap cleanup EXIT

# podman with runc: its default crun refuses this machine's hybrid cgroup layout.
podman_cmd() {
    podman --root "$work/podman/root" --runroot "$work/podman/run" --cgroup-manager cgroupfs \
        --events-backend none --runtime runc "$@"
}

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
# Proportional set size: shared pages (the shims' common binary) are divided among the
# processes mapping them, so a sum over processes counts each page once.
pss_kib() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup"; }
sum_rss_kib() { # pids...
    local total=0 pid kib
    for pid in "$@"; do
        kib=$(pss_kib "$pid" 2>/dev/null || true)
        total=$((total + ${kib:-0}))
    done
    echo "$total"
}

make_busybox_archive
start_docker
start_berthd
D="docker -H unix://$work/docker.sock"
B="$BERTH_BIN/berth -H unix://$work/berth.sock"
DB="docker -H unix://$work/berth.sock"
$D load -q -i "$work/busybox.tar" >/dev/null
$B load -q -i "$work/busybox.tar" >/dev/null
have_podman=
if command -v podman >/dev/null; then
    mkdir -p "$work/podman"
    if podman_cmd load -q -i "$work/busybox.tar" >/dev/null 2>&1 &&
        podman_cmd run --rm --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
            bench/busybox:1 true >/dev/null 2>&1; then
        have_podman=1
    fi
fi
idle_kib=$(pss_kib "$berthd_pid")
idle_rss_kib=$(rss_kib "$berthd_pid")

echo "## Container start (\`run --rm IMAGE true\`), $RUNS runs each"
echo
commands=(
    "$D run --rm --network none bench/busybox:1 true"
    "$B run --rm --network none bench/busybox:1 true"
    "$DB run --rm --network none bench/busybox:1 true"
)
names=(-n "docker → dockerd" -n "berth → berthd" -n "docker → berthd")
if [ -n "$have_podman" ]; then
    commands+=("podman --root $work/podman/root --runroot $work/podman/run --cgroup-manager cgroupfs --events-backend none --runtime runc run --rm --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 bench/busybox:1 true")
    names+=(-n "podman (runc)")
fi
hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$work/run.json" "${names[@]}" "${commands[@]}" >&2
python3 - "$work/run.json" <<'EOT'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
base = results[0]["median"]
print("| command | median | mean ± σ | ratio to docker → dockerd |")
print("|---|---|---|---|")
for r in results:
    print(f"| {r['command']} | {r['median']*1000:.1f} ms | {r['mean']*1000:.1f} ± {r['stddev']*1000:.1f} ms | {r['median']/base:.3f}× |")
EOT
echo

burst() { # client command prefix
    local start end
    start=$(date +%s%N)
    seq 100 | xargs -P 100 -I{} sh -c "$1 run -d --network none bench/busybox:1 sleep 600 >/dev/null"
    end=$(date +%s%N)
    echo $(((end - start) / 1000000))
}
docker_burst=$(burst "$D")
docker_daemons_kib=$(sum_rss_kib "$dockerd_pid" "$containerd_pid" $(pgrep -f containerd-shim))
berth_burst=$(burst "$B")
shims=$(pgrep -x berth-shim || true)
berth_total_kib=$(sum_rss_kib "$berthd_pid" $shims)
berth_running=$($B ps -q | wc -l)
docker_running=$($D ps -q | wc -l)
$D rm -f $($D ps -aq) >/dev/null
$B rm -f $($B ps -aq) >/dev/null

echo "## 100 containers started at once (\`run -d … sleep 600\`, xargs -P 100)"
echo
echo "| engine | time to 100 running | running after | ratio |"
echo "|---|---|---|---|"
echo "| dockerd | ${docker_burst} ms | $docker_running | 1 |"
echo "| berthd | ${berth_burst} ms | $berth_running | $(python3 -c "print(f'{$berth_burst/$docker_burst:.3f}×')") |"
echo
echo "## Memory"
echo
echo "Summed PSS (shared pages divided among the processes that map them)."
echo
echo "| | memory |"
echo "|---|---|"
echo "| berthd idle (after loading the image) | RSS $((idle_rss_kib / 1024)) MiB, PSS $((idle_kib / 1024)) MiB |"
echo "| berthd + shims with 100 running | $((berth_total_kib / 1024)) MiB, $(python3 -c "print(f'{($berth_total_kib-$idle_kib)/100/1024:.2f}')") MiB per container |"
echo "| dockerd + containerd + shims with 100 running | $((docker_daemons_kib / 1024)) MiB, $(python3 -c "print(f'{$docker_daemons_kib/100/1024:.2f}')") MiB per container (daemons included) |"
