#!/usr/bin/env bash
# bench/images.sh: berth and docker side by side on pull, push and load of the same image.
#
# The image (bench/lib/make-bench-image.py): 5 layers, ~245 MiB unpacked, ~100 MB gzip, made
# locally and the same on every run. Everything runs inside a network namespace of its own
# (loopback only): a docker-registry on 127.0.0.1:5000 holding the image (pushed by skopeo), a
# second one on 127.0.0.1:5001 to push to, and containerd + dockerd with their own roots.
#
#   pull  `docker pull` vs `berth-imagectl pull` into an empty store (the image removed, or the
#         data root wiped, before every run); both end with the layers unpacked.
#   push  `docker push` vs `berth-imagectl push` of the loaded image to the empty second
#         registry (wiped before every run; berth's data root reset to the state right after
#         `load`, so it compresses the layers every time as docker does); gzip for both, then
#         berth with --compression zstd.
#   load  `docker load` vs `berth-imagectl load` of the docker-save archive into an empty store.
#
# Prints a markdown table (stdout) for docs/benchmarks.md: mean times, the berth/docker ratio,
# throughput (compressed MB for pull and push, archive MB for load, per second) and peak RSS
# (berth: GNU time's max RSS of the command; docker: dockerd's and containerd's VmHWM, i.e. the
# daemons' peaks over the whole run, since they do the work).
#
# Environment: RUNS (hyperfine --runs, default 5), BERTH_IMAGECTL (default the release build),
# KEEP_TMP=1 keeps the work directory. Must run as root; removes everything it made on exit.
set -euo pipefail

script=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
repo_root=$(cd "$(dirname "$script")/.." && pwd)
RUNS=${RUNS:-5}
BERTH_IMAGECTL=${BERTH_IMAGECTL:-$repo_root/target/x86_64-unknown-linux-gnu/release/berth-imagectl}
export RUNS BERTH_IMAGECTL

die() {
    echo "images.sh: $*" >&2
    exit 1
}

if [ "${1:-}" != --inside ]; then
    [ "$(id -u)" = 0 ] || die "must run as root"
    [ -x "$BERTH_IMAGECTL" ] || die "build it first: cargo build --release -p berth-imagectl"
    for tool in hyperfine docker dockerd containerd docker-registry skopeo python3 ip; do
        command -v "$tool" >/dev/null || die "$tool is missing (scripts/install-deps.sh)"
    done
    # A network namespace of its own (not `ip netns exec`, which remounts /sys and so hides the
    # cgroup mounts dockerd needs); it goes away with the last process in it.
    exec unshare --net -- "$script" --inside
fi
ip link set lo up

work=$(mktemp -d /var/tmp/berth-image-bench.XXXXXX)
pids=()
cleanup() {
    set +e
    if [ -S "$work/docker.sock" ]; then
        docker -H "unix://$work/docker.sock" system prune -af >/dev/null 2>&1
    fi
    release_work
}
trap cleanup EXIT
# shellcheck source=lib/sandbox.sh
. "$(dirname "$script")/lib/sandbox.sh"
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
export DOCKER_HOST=unix://$work/docker.sock
berth=$BERTH_IMAGECTL
source_image=127.0.0.1:5000/bench:1
push_image=127.0.0.1:5001/bench-push:1
wipe_push_registry="rm -rf $work/registry-5001/storage/docker"
# Every docker image removed, so that no layer of an earlier phase is reused (docker shares
# layers between images: after the pull phase, a `docker load` of the same layers would only
# link them).
docker_empty="docker rmi -f $source_image $push_image berth-bench:1 >/dev/null 2>&1; docker image prune -af >/dev/null"

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
    --prepare "rm -rf $work/berth-pull" \
    "$berth --data-root $work/berth-pull pull -q $source_image"

hf load \
    --prepare "$docker_empty" \
    "docker load -q -i $work/bench.tar" \
    --prepare "rm -rf $work/berth-load" \
    "$berth --data-root $work/berth-load load -q -i $work/bench.tar"

# Push: docker has the image from the last load; berth starts from a copy of its loaded store.
docker tag berth-bench:1 "$push_image"
"$berth" --data-root "$work/berth-load" tag berth-bench:1 "$push_image"
reset_berth="rm -rf $work/berth-push && cp -a $work/berth-load $work/berth-push"
hf push \
    --prepare "$wipe_push_registry" \
    "docker push -q $push_image" \
    --prepare "$wipe_push_registry; $reset_berth" \
    "$berth --data-root $work/berth-push push -q $push_image" \
    --prepare "$wipe_push_registry; $reset_berth" \
    "$berth --data-root $work/berth-push push -q --compression zstd $push_image"

rss() { # berth peak RSS in MiB of one run of a command, after its preparation
    bash -c "$1" >/dev/null 2>&1
    /usr/bin/time -f %M -o "$work/rss" bash -c "exec $2" >/dev/null
    echo $(($(cat "$work/rss") / 1024))
}
rss_pull=$(rss "rm -rf $work/berth-pull" "$berth --data-root $work/berth-pull pull -q $source_image")
rss_load=$(rss "rm -rf $work/berth-load2" "$berth --data-root $work/berth-load2 load -q -i $work/bench.tar")
rss_push=$(rss "$wipe_push_registry; $reset_berth" "$berth --data-root $work/berth-push push -q $push_image")
rss_zstd=$(rss "$wipe_push_registry; $reset_berth" "$berth --data-root $work/berth-push push -q --compression zstd $push_image")
hwm() { awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$1/status"; }
daemons_rss="dockerd $(hwm "$dockerd_pid") + containerd $(hwm "$containerd_pid")"

mean() { jq -r ".results[$2].mean" "$work/$1.json"; }
row() { # operation, json, berth index, MB moved, berth rss
    local docker_mean berth_mean
    docker_mean=$(mean "$2" 0)
    berth_mean=$(mean "$2" "$3")
    awk -v op="$1" -v d="$docker_mean" -v b="$berth_mean" -v mb="$4" -v rss="$5" -v drss="$daemons_rss" 'BEGIN {
        printf "| %s | %.2f s | %.2f s | %.2fx | %.0f MB/s | %.0f MB/s | %s MiB | %s MiB |\n",
            op, d, b, b / d, mb / d, mb / b, rss, drss
    }'
}

echo "| operation | docker | berth | berth/docker | docker MB/s | berth MB/s | berth peak RSS | docker daemons' peak RSS |"
echo "|---|---|---|---|---|---|---|---|"
row "pull (${compressed_mb} MB gzip)" pull 1 "$compressed_mb" "$rss_pull"
row "push gzip (${compressed_mb} MB)" push 1 "$compressed_mb" "$rss_push"
row "push zstd" push 2 "$compressed_mb" "$rss_zstd"
row "load (${archive_mb} MB archive)" load 1 "$archive_mb" "$rss_load"
