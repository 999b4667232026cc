#!/usr/bin/env bash
# bench/build.sh: `build` of a multi-stage Dockerfile over a ~50 MB context, berthd vs dockerd's
# legacy builder (DOCKER_BUILDKIT=0), side by side.
#
# The base image: static busybox with its applets (bench/lib/make-busybox-bundle.sh's root file
# system as a docker-save archive), loaded into both daemons. Both daemons run inside a network
# namespace of their own (loopback only) with their own roots on the same file system. The
# context: 2 files of 20 MB and 1,000 files of 10 KB (random bytes); the Dockerfile has three
# stages and 14 steps (COPY, RUN, WORKDIR, ENV, CMD, COPY --from). Three cases, timed with
# hyperfine:
#   cold       `build --no-cache`: every step runs
#   no change  a rebuild from the cache: no step runs
#   one file   one 10 KB source file rewritten before each run: the steps from the COPY that
#              takes it run again
#
# Prints markdown for docs/benchmarks.md. Environment: RUNS (hyperfine --runs, default 10),
# BERTH_BIN (directory of berth, berthd, berth-shim, berth-runtime; default the release build),
# KEEP_TMP=1 keeps the work directory. Must run as root.
set -euo pipefail

script=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
repo_root=$(cd "$(dirname "$script")/.." && pwd)
RUNS=${RUNS:-10}
BERTH_BIN=${BERTH_BIN:-$repo_root/target/x86_64-unknown-linux-gnu/release}
export RUNS BERTH_BIN

# shellcheck source=lib/sandbox.sh
. "$(dirname "$script")/lib/sandbox.sh"
enter_own_netns "${1:-}" "berth berthd berth-shim berth-runtime" hyperfine docker dockerd containerd runc python3

# Short: the shims' sockets live under it and a socket path must fit in 108 bytes.
work=$(mktemp -d /tmp/bbd.XXXXXX)
pids=()
trap release_work EXIT

make_busybox_archive
ctx=$work/context
python3 - "$ctx" <<'EOT'
import os, sys
root = sys.argv[1]
os.makedirs(f"{root}/big")
for i in range(2):
    with open(f"{root}/big/part{i}", "wb") as out:
        out.write(os.urandom(20 << 20))
for d in range(10):
    os.makedirs(f"{root}/src/d{d}")
    for f in range(100):
        with open(f"{root}/src/d{d}/f{f:03}", "wb") as out:
            out.write(os.urandom(10 << 10))
EOT
cat >"$ctx/Dockerfile" <<'EOT'
FROM bench/busybox:1 AS deps
WORKDIR /app
COPY big/ /app/big/
RUN cat /app/big/* | md5sum > /app/big.md5
FROM bench/busybox:1 AS build
WORKDIR /src
COPY src/ /src/
RUN find /src -type f | wc -l > /src.count
RUN tar -cf /out.tar -C /src .
FROM bench/busybox:1
COPY --from=deps /app/big.md5 /big.md5
COPY --from=build /out.tar /out.tar
ENV MODE=bench
CMD ["cat", "/big.md5"]
EOT
start_docker
start_berthd
D="env DOCKER_BUILDKIT=0 docker -H unix://$work/docker.sock"
B="$BERTH_BIN/berth -H unix://$work/berth.sock"
for client in "$D" "$B"; do
    $client load -q -i "$work/busybox.tar" >/dev/null
    $client build -q -t bench/built:1 "$ctx" >/dev/null
    [ "$($client run --rm --network none bench/built:1)" = "$(cat "$ctx"/big/* | md5sum)" ] ||
        die "$client: the built image does not hold what the Dockerfile made"
done
size=$(du -sm "$ctx" | cut -f1)
touch_one="head -c 10240 /dev/urandom > $ctx/src/d5/f050"

table() { # hyperfine json
    python3 - "$1" <<'EOT'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
base = results[0]["median"]
print("| command | median | mean ± σ | ratio to docker |")
print("|---|---|---|---|")
for r in results:
    print(f"| {r['command']} | {r['median']*1000:.1f} ms | {r['mean']*1000:.1f} ± {r['stddev']*1000:.1f} ms | {r['median']/base:.3f}× |")
EOT
}

echo "## Build of a 3-stage, 14-step Dockerfile over a ${size} MB context, $RUNS runs each"
echo
echo "$(date -u +%F), Linux $(uname -r), $(nproc) cores; dockerd $(dockerd --version | cut -d' ' -f3 | tr -d ,)"
echo "(legacy builder, \`DOCKER_BUILDKIT=0\`) with containerd; berth at commit"
echo "\`$(git -C "$repo_root" rev-parse --short HEAD 2>/dev/null || echo unknown)\`. Load average before: $(cut -d' ' -f1 /proc/loadavg)."
echo
echo "### Cold (\`--no-cache\`)"
echo
hyperfine --warmup 1 --runs "$RUNS" --export-json "$work/cold.json" \
    -n "docker build → dockerd" "$D build -q --no-cache -t bench/built:1 $ctx" \
    -n "berth build → berthd" "$B build -q --no-cache -t bench/built:1 $ctx" >&2
table "$work/cold.json"
echo
echo "### No change (every step from the cache)"
echo
hyperfine --warmup 1 --runs "$RUNS" --export-json "$work/cached.json" \
    -n "docker build → dockerd" "$D build -q -t bench/built:1 $ctx" \
    -n "berth build → berthd" "$B build -q -t bench/built:1 $ctx" >&2
table "$work/cached.json"
echo
echo "### One source file changed before each run"
echo
hyperfine --warmup 1 --runs "$RUNS" --export-json "$work/one.json" \
    -n "docker build → dockerd" --prepare "$touch_one" "$D build -q -t bench/built:1 $ctx" \
    -n "berth build → berthd" --prepare "$touch_one" "$B build -q -t bench/built:1 $ctx" >&2
table "$work/one.json"
echo
echo "Load average after: $(cut -d' ' -f1 /proc/loadavg)."
