#!/usr/bin/env bash
# Installs what is missing, builds berth, and runs a container with berth-runtime.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build --release -p berth-runtime
bundle=$(mktemp -d /tmp/berth-demo.XXXXXX)
trap 'target/x86_64-unknown-linux-gnu/release/berth-runtime delete -f berth-demo >/dev/null 2>&1 || true; rm -rf "$bundle"' EXIT
bench/lib/make-busybox-bundle.sh "$bundle" >/dev/null
jq '.process.args = ["sh", "-c", "echo \"hello from $(hostname), pid $$, in a berth container\"; uname -a"]' \
    "$bundle/config.json" > "$bundle/config.tmp" && mv "$bundle/config.tmp" "$bundle/config.json"
target/x86_64-unknown-linux-gnu/release/berth-runtime run --bundle "$bundle" berth-demo
