#!/usr/bin/env bash
# bench/commit.sh: `commit` of a container that wrote 100 MB, berthd vs dockerd, side by side.
#
# The image: static busybox with its applets (bench/lib/make-busybox-bundle.sh's root file
# system, as a docker-save archive from bench/lib/make-docker-archive.py), loaded into both
# daemons. Everything runs inside a network namespace of its own (loopback only): containerd +
# dockerd with their own roots, and berthd with its own roots, on the same file system. In each
# daemon one stopped container has written CHANGE_MIB MiB of random data to /big (and touched
# /etc); hyperfine then times `commit big bench/commit:1` through each daemon (`docker` for
# dockerd, `berth` and `docker` for berthd). Before each run the previous commit's image is
# removed and its storage freed (`rmi`, then `image prune` for berthd, which frees blobs only
# when collecting garbage), so every run writes its layer anew. A second table times a commit
# followed by the new image's first `run --rm … true`: berthd unpacks a committed layer when a
# container first needs it, dockerd while committing.
#
# Prints markdown for docs/benchmarks.md. Environment: RUNS (hyperfine --runs, default 10),
# CHANGE_MIB (default 100), BERTH_BIN (directory of berth, berthd, berth-shim, berth-runtime;
# default the release build), KEEP_TMP=1 keeps the work directory. Must run as root.
set -euo pipefail

script=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
repo_root=$(cd "$(dirname "$script")/.." && pwd)
RUNS=${RUNS:-10}
CHANGE_MIB=${CHANGE_MIB:-100}
BERTH_BIN=${BERTH_BIN:-$repo_root/target/x86_64-unknown-linux-gnu/release}
export RUNS CHANGE_MIB BERTH_BIN

# shellcheck source=lib/sandbox.sh
. "$(dirname "$script")/lib/sandbox.sh"
enter_own_netns "${1:-}" "berth berthd berth-shim berth-runtime" hyperfine docker dockerd containerd runc python3 jq

# Short: the shims' sockets live under it and a socket path must fit in 108 bytes.
work=$(mktemp -d /tmp/bcm.XXXXXX)
pids=()
cleanup() {
    set +e
    [ -S "$work/docker.sock" ] && docker -H "unix://$work/docker.sock" rm -f big >/dev/null 2>&1
    [ -S "$work/berth.sock" ] && "$BERTH_BIN/berth" -H "unix://$work/berth.sock" rm -f big >/dev/null 2>&1
    release_work
}
trap cleanup EXIT

make_busybox_archive
start_docker
start_berthd
D="docker -H unix://$work/docker.sock"
B="$BERTH_BIN/berth -H unix://$work/berth.sock"
DB="docker -H unix://$work/berth.sock"
write="head -c ${CHANGE_MIB}m /dev/urandom > /big && echo changed >> /etc/passwd"
for client in "$D" "$B"; do
    $client load -q -i "$work/busybox.tar" >/dev/null
    $client run --name big --network none bench/busybox:1 sh -c "$write"
done
driver=$($D info --format '{{.Driver}}')
berth_driver=$($B info --format '{{.Driver}}' 2>/dev/null || echo "?")

load_before=$(cut -d' ' -f1 /proc/loadavg)
echo "## Commit of a container that wrote $CHANGE_MIB MiB, $RUNS runs each"
echo
echo "$(date -u +%F), Linux $(uname -r), $(nproc) cores; dockerd $(dockerd --version | cut -d' ' -f3 | tr -d ,)"
echo "with containerd; berth at commit \`$(git -C "$repo_root" rev-parse --short HEAD 2>/dev/null || echo unknown)\`."
echo "Storage: dockerd $driver, berthd $berth_driver, on the same file system."
echo
hyperfine --warmup 1 --runs "$RUNS" --export-json "$work/commit.json" \
    -n "docker → dockerd" --prepare "$D rmi -f bench/commit:1 >/dev/null 2>&1 || true" \
    "$D commit big bench/commit:1" \
    -n "berth → berthd" --prepare "$B rmi -f bench/commit:1 >/dev/null 2>&1; $B image prune -f >/dev/null" \
    "$B commit big bench/commit:1" \
    -n "docker → berthd" --prepare "$B rmi -f bench/commit:1 >/dev/null 2>&1; $B image prune -f >/dev/null" \
    "$DB commit big bench/commit:1" >&2
python3 - "$work/commit.json" <<'EOT'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
base = results[0]["median"]
print("| command | median | mean ± σ | ratio to docker → dockerd |")
print("|---|---|---|---|")
for r in results:
    print(f"| {r['command']} | {r['median']*1000:.1f} ms | {r['mean']*1000:.1f} ± {r['stddev']*1000:.1f} ms | {r['median']/base:.3f}× |")
EOT
echo
# berthd unpacks a committed layer when a container first needs it, dockerd while committing:
# a commit followed by the image's first run counts both.
echo "### Commit, then the new image's first \`run --rm … true\`, $RUNS runs each"
echo
hyperfine --warmup 1 --runs "$RUNS" --export-json "$work/commit-run.json" \
    -n "docker → dockerd" --prepare "$D rmi -f bench/commit:1 >/dev/null 2>&1 || true" \
    "$D commit big bench/commit:1 && $D run --rm --network none bench/commit:1 true" \
    -n "berth → berthd" --prepare "$B rmi -f bench/commit:1 >/dev/null 2>&1; $B image prune -f >/dev/null" \
    "$B commit big bench/commit:1 && $B run --rm --network none bench/commit:1 true" >&2
python3 - "$work/commit-run.json" <<'EOT'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
base = results[0]["median"]
print("| command | median | mean ± σ | ratio to docker → dockerd |")
print("|---|---|---|---|")
for r in results:
    print(f"| {r['command']} | {r['median']*1000:.1f} ms | {r['mean']*1000:.1f} ± {r['stddev']*1000:.1f} ms | {r['median']/base:.3f}× |")
EOT
echo
echo "Load average (1 min): $load_before before, $(cut -d' ' -f1 /proc/loadavg) after."
echo
# The committed image runs and holds the change.
for client in "$D" "$B"; do
    $client run --rm --network none bench/commit:1 sh -c "test \$(wc -c < /big) = $((CHANGE_MIB * 1048576))" ||
        die "the image committed through '$client' lacks /big"
done
echo "Both committed images run and hold /big ($CHANGE_MIB MiB)."
