#!/usr/bin/env bash
# Installs what is missing, builds berth, and runs a container the way a docker user would:
# `berth run` (which starts berthd on first use when no daemon answers on /run/berth.sock).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build --release -p berth -p berthd -p berth-shim -p berth-runtime -p berth-init
bin=target/x86_64-unknown-linux-gnu/release
work=$(mktemp -d /tmp/berth-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
# A busybox image made here (no internet): its root file system, as a docker-save archive.
mkdir -p "$work/bundle"
bench/lib/make-busybox-bundle.sh "$work/bundle" >/dev/null
python3 bench/lib/make-docker-archive.py "$work/bundle/rootfs" demo/busybox:latest "$work/busybox.tar"
"$bin/berth" load -i "$work/busybox.tar"
"$bin/berth" run --rm --name berth-demo demo/busybox \
    sh -c 'echo "hello from $(hostname), pid $$, in a berth container"; uname -a'
"$bin/berth" run -d --name berth-demo-bg demo/busybox sh -c 'for i in 1 2 3; do echo tick $i; sleep 0.2; done' >/dev/null
"$bin/berth" wait berth-demo-bg >/dev/null
"$bin/berth" logs berth-demo-bg
"$bin/berth" ps -a --filter name=berth-demo-bg
"$bin/berth" rm berth-demo-bg >/dev/null
echo "berthd keeps running on /run/berth.sock (docker -H unix:///run/berth.sock ps works too)."
