#!/usr/bin/env bash
# bench/cp.sh: `cp` of a 200 MB tree into and out of a running container, berth → berthd vs
# docker → dockerd, side by side.
#
# The tree: 10,000 files of 4 KiB in 100 directories (40 MB) and 4 files of 40 MB, random
# bytes. Both daemons run inside a network namespace of their own with roots under a temp
# dir, each with a busybox container running `sleep`; the copies are timed with hyperfine:
#   into   `cp TREE CONTAINER:/tmp/` (files overwritten from the second run on)
#   out    `cp CONTAINER:/tmp/tree DIR` into a new directory each run (the previous one is moved
#          aside, not deleted: ext4 skips inodes freed in the last seconds when it allocates, so
#          deleting 10,000 files right before a run makes every create of that run scan for
#          free inodes, for both tools alike, and hides what cp itself costs)
#
# Prints markdown for docs/benchmarks.md. Environment: RUNS (hyperfine --runs, default 10),
# BERTH_BIN (directory of berth, berthd, berth-shim, berth-runtime, berth-init; default the
# release build), KEEP_TMP=1 keeps the work directory. Must run as root.
set -euo pipefail

script=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
repo_root=$(cd "$(dirname "$script")/.." && pwd)
RUNS=${RUNS:-10}
BERTH_BIN=${BERTH_BIN:-$repo_root/target/x86_64-unknown-linux-gnu/release}
export RUNS BERTH_BIN

# shellcheck source=lib/sandbox.sh
. "$(dirname "$script")/lib/sandbox.sh"
enter_own_netns "${1:-}" "berth berthd berth-shim berth-runtime" hyperfine docker dockerd containerd runc python3

work=$(mktemp -d /tmp/bcp.XXXXXX)
pids=()
cleanup() {
    set +e
    [ -S "$work/docker.sock" ] && docker -H "unix://$work/docker.sock" rm -f cpbench >/dev/null 2>&1
    [ -S "$work/berth.sock" ] && "$BERTH_BIN/berth" -H "unix://$work/berth.sock" rm -f cpbench >/dev/null 2>&1
    release_work
}
trap cleanup EXIT

make_busybox_archive
python3 - "$work/tree" <<'EOT'
import os, sys
root = sys.argv[1]
for d in range(100):
    os.makedirs(f"{root}/d{d:03}")
    for f in range(100):
        with open(f"{root}/d{d:03}/f{f:03}", "wb") as out:
            out.write(os.urandom(4096))
for big in range(4):
    with open(f"{root}/big{big}", "wb") as out:
        for _ in range(40):
            out.write(os.urandom(1 << 20))
EOT
start_docker
start_berthd
D="docker -H unix://$work/docker.sock"
B="$BERTH_BIN/berth -H unix://$work/berth.sock"
for cli in "$D" "$B"; do
    $cli load -q -i "$work/busybox.tar" >/dev/null
    $cli run -d --name cpbench --network none bench/busybox:1 sleep 100000 >/dev/null
done
size=$(du -sm "$work/tree" | cut -f1)

echo "## \`cp\` of a ${size} MB tree (10,000 × 4 KiB files, 4 × 40 MB), $RUNS runs each"
echo
hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$work/into.json" \
    -n "docker cp → dockerd (into)" "$D cp -q $work/tree cpbench:/tmp/" \
    -n "berth cp → berthd (into)" "$B cp -q $work/tree cpbench:/tmp/" >&2
hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$work/out.json" \
    --prepare "bash -c 'mkdir -p $work/old && if [ -d $work/out ]; then mv $work/out $work/old/\$RANDOM\$RANDOM; fi; sync'" \
    -n "docker cp → dockerd (out)" "$D cp -q cpbench:/tmp/tree $work/out" \
    -n "berth cp → berthd (out)" "$B cp -q cpbench:/tmp/tree $work/out" >&2
python3 - "$work/into.json" "$work/out.json" <<'EOT'
import json, sys
print("| command | median | mean ± σ | ratio to docker |")
print("|---|---|---|---|")
for path in sys.argv[1:]:
    results = json.load(open(path))["results"]
    base = results[0]["median"]
    for r in results:
        print(f"| {r['command']} | {r['median']*1000:.0f} ms | {r['mean']*1000:.0f} ± {r['stddev']*1000:.0f} ms | {r['median']/base:.3f}× |")
EOT
