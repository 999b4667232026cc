#!/usr/bin/env bash
# The whole test suite: installs what is missing, checks formatting and lints, builds every
# binary (the integration tests copy the static probe into containers), and runs every test (as
# root: tests start real containers, containerd and dockerd). BERTH_SOAK=1 adds the soak tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo build --workspace
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --no-fail-fast
else
    cargo test --workspace --no-fail-fast
fi
