#!/usr/bin/env bash
# bench/network.sh: what a container's network costs, berthd vs dockerd side by side (issue 5).
#
# The image: as bench/containers.sh makes it (static busybox and its applets). berthd, and
# containerd + dockerd, each run in a network namespace of their own (`ip netns add`, entered
# with nsenter), so their bridges, firewall rules and published ports exist only there. dockerd
# keeps Docker's default networking: the docker0 bridge, iptables rules, and the userland proxy
# (docker-proxy) behind every published port; berthd forwards published ports with nftables DNAT.
#
#   start   `run --rm -p 18080:80 IMAGE true` and `run --rm --network none IMAGE true`, docker →
#           dockerd and berth → berthd, all four in one hyperfine run. The difference between a
#           pair is the time a bridge endpoint with one published port adds.
#   stream  a container publishes port 18081 and runs `nc -ll -p 80 -e dd of=/dev/null bs=1M
#           iflag=fullblock`; bench/lib/tcp-stream.py, inside the daemon's namespace, sends
#           STREAM_MIB MiB to 127.0.0.1:18081, half-closes and waits for the container to close
#           (so everything was read). hyperfine times the client for both engines in one run;
#           MB/s is the bytes sent over the median time. The dd lines in each container's log are
#           counted afterwards: one full transfer per hyperfine run, or the script fails.
#
# Prints markdown for docs/benchmarks.md. Environment: RUNS (start, hyperfine --runs, default
# 30), STREAM_RUNS (default 10), STREAM_MIB (default 1024), BERTH_BIN (directory of berth,
# berthd, berth-shim, berth-runtime, berth-init; default the release build), KEEP_TMP=1 keeps
# the work directory. Must run as root; removes its containers, daemons, mounts, namespaces and
# work directory on exit, also on failure.
set -euo pipefail

script=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
repo_root=$(cd "$(dirname "$script")/.." && pwd)
RUNS=${RUNS:-30}
STREAM_RUNS=${STREAM_RUNS:-10}
STREAM_MIB=${STREAM_MIB:-1024}
BERTH_BIN=${BERTH_BIN:-$repo_root/target/x86_64-unknown-linux-gnu/release}

# shellcheck source=lib/sandbox.sh
. "$(dirname "$script")/lib/sandbox.sh"
check_prerequisites "berth berthd berth-shim berth-runtime berth-init" hyperfine docker dockerd \
    docker-proxy containerd runc iptables nft nsenter python3 jq
# Debian's interpreter, not a shim in front of it: its start-up is part of every timed transfer.
py=$(command -v /usr/bin/python3 || command -v python3)

# Short: the shims' sockets live under it and a socket path must fit in 108 bytes.
work=$(mktemp -d /tmp/bnb.XXXXXX)
pids=()
netns_names=()
berth_ns=bnb-berth-${work##*.}
docker_ns=bnb-docker-${work##*.}
D="docker -H unix://$work/docker.sock"
B="$BERTH_BIN/berth -H unix://$work/berth.sock"
cleanup() {
    set +e
    [ -S "$work/docker.sock" ] && $D rm -f $($D ps -aq) >/dev/null 2>&1
    [ -S "$work/berth.sock" ] && $B rm -f $($B ps -aq) >/dev/null 2>&1
    release_work
}
trap cleanup EXIT

median_ms() { # hyperfine json, command index
    jq -r ".results[$2].median * 1000" "$1"
}

load1() { cut -d' ' -f1 /proc/loadavg; }

show_hyperfine() { # options, commands...
    printf 'hyperfine %s' "$1"
    shift
    for c in "$@"; do printf ' \\\n    %s' "'${c//$work/\$w}'"; done
    echo
}

load_before=$(load1)
make_busybox_archive
add_netns "$berth_ns"
add_netns "$docker_ns"
start_docker "$docker_ns"
start_berthd "$berth_ns"
$D load -q -i "$work/busybox.tar" >/dev/null
$B load -q -i "$work/busybox.tar" >/dev/null

start_cmds=(
    "$D run --rm --network none bench/busybox:1 true"
    "$D run --rm -p 18080:80 bench/busybox:1 true"
    "$B run --rm --network none bench/busybox:1 true"
    "$B run --rm -p 18080:80 bench/busybox:1 true"
)
hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$work/start.json" \
    -n "docker → dockerd, --network none" -n "docker → dockerd, -p 18080:80" \
    -n "berth → berthd, --network none" -n "berth → berthd, -p 18080:80" \
    "${start_cmds[@]}" >&2

sink=(run -d --name bnb-sink -p 18081:80 bench/busybox:1 nc -ll -p 80 -e dd of=/dev/null bs=1M iflag=fullblock)
$D "${sink[@]}" >/dev/null
$B "${sink[@]}" >/dev/null
# Ready when a small transfer goes through (docker-proxy accepts before the container listens).
wait_for "the sink behind dockerd" nsenter "--net=/run/netns/$docker_ns" "$py" "$repo_root/bench/lib/tcp-stream.py" 127.0.0.1 18081 1
wait_for "the sink behind berthd" nsenter "--net=/run/netns/$berth_ns" "$py" "$repo_root/bench/lib/tcp-stream.py" 127.0.0.1 18081 1
stream_cmds=(
    "nsenter --net=/run/netns/$docker_ns $py $repo_root/bench/lib/tcp-stream.py 127.0.0.1 18081 $STREAM_MIB"
    "nsenter --net=/run/netns/$berth_ns $py $repo_root/bench/lib/tcp-stream.py 127.0.0.1 18081 $STREAM_MIB"
)
hyperfine -N --warmup 1 --runs "$STREAM_RUNS" --export-json "$work/stream.json" \
    -n "docker → dockerd (docker-proxy)" -n "berth → berthd (nftables DNAT)" "${stream_cmds[@]}" >&2
for engine in D B; do
    got=$(${!engine} logs bnb-sink 2>&1 | grep -c "^$STREAM_MIB+0 records in" || true)
    [ "$got" = $((STREAM_RUNS + 1)) ] ||
        die "$engine's sink read $got full streams of $STREAM_MIB MiB, not $((STREAM_RUNS + 1))"
done
$D rm -f bnb-sink >/dev/null
$B rm -f bnb-sink >/dev/null
load_after=$(load1)

s=$work/start.json
d_none=$(median_ms "$s" 0) d_port=$(median_ms "$s" 1) b_none=$(median_ms "$s" 2) b_port=$(median_ms "$s" 3)
t=$work/stream.json
d_stream=$(median_ms "$t" 0) b_stream=$(median_ms "$t" 1)
ratio() { python3 -c "print(f'{($1)/($2):.3f}×')"; }
ms() { python3 -c "print(f'{$1:.1f} ms')"; }
mbps() { python3 -c "print(f'{$STREAM_MIB*1048576/1e6/($1/1000):.0f} MB/s')"; }

echo "$(date -u +%F), $(uname -r), $(nproc) cores; load average 1 min: $load_before before, $load_after after."
echo "dockerd $(dockerd --version | cut -d' ' -f3 | tr -d ,) with containerd $(containerd --version | cut -d' ' -f3), docker CLI $(docker --version | cut -d' ' -f3 | tr -d ,); berth at commit \`$(git -C "$repo_root" rev-parse --short HEAD)\`."
echo
echo "### Time a bridge endpoint with one published port adds to \`run --rm IMAGE true\` ($RUNS runs each)"
echo
python3 - "$s" <<'EOT'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
print("| command | median | mean ± σ |")
print("|---|---|---|")
for r in results:
    print(f"| {r['command']} | {r['median']*1000:.1f} ms | {r['mean']*1000:.1f} ± {r['stddev']*1000:.1f} ms |")
EOT
echo
echo "| engine | \`--network none\` | \`-p 18080:80\` | added by the endpoint |"
echo "|---|---|---|---|"
echo "| docker → dockerd | $(ms "$d_none") | $(ms "$d_port") | $(ms "$d_port-$d_none") |"
echo "| berth → berthd | $(ms "$b_none") | $(ms "$b_port") | $(ms "$b_port-$b_none") |"
echo "| berth / docker | $(ratio "$b_none" "$d_none") | **$(ratio "$b_port" "$d_port")** | $(ratio "$b_port-$b_none" "$d_port-$d_none") |"
echo
echo "### Throughput of a published port: $STREAM_MIB MiB over 127.0.0.1 into a container ($STREAM_RUNS runs each)"
echo
echo "| engine | median | mean ± σ | throughput |"
echo "|---|---|---|---|"
echo "| docker → dockerd (docker-proxy) | $(ms "$d_stream") | $(jq -r '.results[0] | "\(.mean*1000|floor) ± \(.stddev*1000|floor)"' "$t") ms | $(mbps "$d_stream") |"
echo "| berth → berthd (nftables DNAT) | $(ms "$b_stream") | $(jq -r '.results[1] | "\(.mean*1000|floor) ± \(.stddev*1000|floor)"' "$t") ms | $(mbps "$b_stream") |"
echo "| berth / docker (of throughput: above 1× is faster) | | | **$(ratio "$d_stream" "$b_stream")** |"
echo
echo "Commands (\`\$w\` is the work dir; each daemon in its own network namespace; the sink is"
echo "\`run -d --name bnb-sink -p 18081:80 bench/busybox:1 nc -ll -p 80 -e dd of=/dev/null bs=1M iflag=fullblock\`):"
echo
echo '```sh'
show_hyperfine "-N --warmup 3 --runs $RUNS" "${start_cmds[@]}"
show_hyperfine "-N --warmup 1 --runs $STREAM_RUNS" "${stream_cmds[@]}"
echo '```'
