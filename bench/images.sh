#!/usr/bin/env bash
# bench/images.sh: berth and docker side by side on pull, push and load of the same image.
#
# The image (bench/lib/make-bench-image.py): 5 layers, ~245 MiB unpacked, ~100 MB gzip, made
# locally and the same on every run. Everything runs inside a network namespace of its own
# (loopback only): a docker-registry on 127.0.0.1:5000 holding the image (pushed by skopeo), a
# second one on 127.0.0.1:5001 to push to, and containerd + dockerd with their own roots.
#
# Both are the product as a user runs it: the `docker` CLI against dockerd (with containerd), the
# `berth` CLI against berthd.
#
#   pull  `docker pull` vs `berth pull` into an empty store (every image removed and pruned
#         before every run); both end with the layers unpacked.
#   push  `docker push` vs `berth push` of the loaded image to the empty second registry (wiped
#         before every run; berthd restarted on a copy of its data root as it was right after
#         `load`, since berth keeps the blobs it compressed and would otherwise compress
#         nothing after the first run, while docker compresses every time).
#   load  `docker load` vs `berth load` of the docker-save archive into an empty store.
#
# Prints a markdown table (stdout) for docs/benchmarks.md: mean times, the berth/docker ratio,
# throughput (compressed MB for pull and push, archive MB for load, per second) and the daemons'
# peak RSS (VmHWM): berthd's over one run of the operation (restarted before it), dockerd's and
# containerd's over the whole run.
#
# Environment: RUNS (hyperfine --runs, default 5), BERTH_BIN (directory of berth and berthd;
# default the release build), KEEP_TMP=1 keeps the work directory. Must run as root; removes
# everything it made on exit.
set -euo pipefail

script=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
repo_root=$(cd "$(dirname "$script")/.." && pwd)
RUNS=${RUNS:-5}
BERTH_BIN=${BERTH_BIN:-$repo_root/target/x86_64-unknown-linux-gnu/release}
export RUNS BERTH_BIN

# shellcheck source=lib/sandbox.sh
. "$(dirname "$script")/lib/sandbox.sh"

# `images.sh --restart-berthd WORK [DATA_ROOT_COPY]`, for hyperfine's --prepare: stops the
# berthd of WORK, puts the copy in place of its data root if given, and starts it again.
if [ "${1:-}" = --restart-berthd ]; then
    work=$2
    stop_berthd
    if [ -n "${3:-}" ]; then
        rm -rf "$work/berth/data"
        cp -a "$3" "$work/berth/data"
    fi
    start_berthd >/dev/null
    exit
fi

enter_own_netns "${1:-}" "berth berthd" hyperfine docker dockerd containerd docker-registry skopeo python3 jq ip

# Short: berthd's shim sockets live under it and a socket path must fit in 108 bytes.
work=$(mktemp -d /tmp/bim.XXXXXX)
pids=()
cleanup() {
    set +e
    if [ -S "$work/docker.sock" ]; then
        docker -H "unix://$work/docker.sock" system prune -af >/dev/null 2>&1
    fi
    stop_berthd
    release_work
}
trap cleanup EXIT
wait_tries=200

start_registry() { # port
    local dir=$work/registry-$1
    mkdir -p "$dir/storage"
    cat >"$dir/config.yml" <<EOF
version: 0.1
storage:
  filesystem:
    rootdirectory: $dir/storage
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$1
log:
  level: error
EOF
    docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
    pids+=($!)
    wait_for "registry on :$1" bash -c "exec 3<>/dev/tcp/127.0.0.1/$1"
}

start_registry 5000
start_registry 5001
start_docker
start_berthd
export DOCKER_HOST=unix://$work/docker.sock
berth="$BERTH_BIN/berth -H unix://$work/berth.sock"
restart_berthd="$script --restart-berthd $work"
source_image=127.0.0.1:5000/bench:1
push_image=127.0.0.1:5001/bench-push:1
wipe_push_registry="rm -rf $work/registry-5001/storage/docker"
# Every image removed, so that no layer of an earlier phase is reused (both share layers
# between images: after the pull phase, a load of the same layers would only link them).
docker_empty="docker rmi -f $source_image $push_image berth-bench:1 >/dev/null 2>&1; docker image prune -af >/dev/null"
berth_empty="$berth rmi -f $source_image $push_image berth-bench:1 >/dev/null 2>&1; $berth image prune -af >/dev/null"

python3 "$repo_root/bench/lib/make-bench-image.py" "$work/bench.tar" berth-bench:1 >&2
skopeo copy -q --dest-tls-verify=false "docker-archive:$work/bench.tar" "docker://$source_image"
compressed_mb=$(du -sm --apparent-size "$work/registry-5000/storage" | cut -f1)
archive_mb=$(($(stat -c %s "$work/bench.tar") / 1000000))

hf() { # name, hyperfine arguments...
    local name=$1
    shift
    hyperfine --runs "$RUNS" --export-json "$work/$name.json" "$@" >&2
}

hf pull \
    --prepare "$docker_empty" \
    "docker pull -q $source_image" \
    --prepare "$berth_empty" \
    "$berth pull -q $source_image"

hf load \
    --prepare "$docker_empty" \
    "docker load -q -i $work/bench.tar" \
    --prepare "$berth_empty" \
    "$berth load -q -i $work/bench.tar"

# Push: both have the image from the last load; berthd restarts on a copy of its data root
# taken now, before every run.
docker tag berth-bench:1 "$push_image"
$berth tag berth-bench:1 "$push_image"
stop_berthd
cp -a "$work/berth/data" "$work/berth-loaded"
start_berthd
hf push \
    --prepare "$wipe_push_registry" \
    "docker push -q $push_image" \
    --prepare "$wipe_push_registry; $restart_berthd $work/berth-loaded" \
    "$berth push -q $push_image"

rss() { # preparation, command: berthd's peak RSS in MiB over one run of the command
    bash -c "$1" >/dev/null 2>&1
    $restart_berthd
    bash -c "$2" >/dev/null
    awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$(cat "$work/berthd.pid")/status"
}
rss_pull=$(rss "$berth_empty" "$berth pull -q $source_image")
rss_load=$(rss "$berth_empty" "$berth load -q -i $work/bench.tar")
rss_push=$(rss "$wipe_push_registry; $restart_berthd $work/berth-loaded" "$berth push -q $push_image")
hwm() { awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$1/status"; }
daemons_rss="dockerd $(hwm "$dockerd_pid") + containerd $(hwm "$containerd_pid")"

mean() { jq -r ".results[$2].mean" "$work/$1.json"; }
row() { # operation, json, berth index, MB moved, berthd rss
    local docker_mean berth_mean
    docker_mean=$(mean "$2" 0)
    berth_mean=$(mean "$2" "$3")
    awk -v op="$1" -v d="$docker_mean" -v b="$berth_mean" -v mb="$4" -v rss="$5" -v drss="$daemons_rss" 'BEGIN {
        printf "| %s | %.2f s | %.2f s | %.2fx | %.0f MB/s | %.0f MB/s | %s MiB | %s MiB |\n",
            op, d, b, b / d, mb / d, mb / b, rss, drss
    }'
}

echo "| operation | docker | berth | berth/docker | docker MB/s | berth MB/s | berthd peak RSS | docker daemons' peak RSS |"
echo "|---|---|---|---|---|---|---|---|"
row "pull (${compressed_mb} MB gzip)" pull 1 "$compressed_mb" "$rss_pull"
row "push gzip (${compressed_mb} MB)" push 1 "$compressed_mb" "$rss_push"
row "load (${archive_mb} MB archive)" load 1 "$archive_mb" "$rss_load"
