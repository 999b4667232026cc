#!/usr/bin/env bash
# The whole test suite: installs what is missing, checks formatting and lints, builds the static
# probe the integration tests run inside containers, and runs every test (as root: tests start
# real containers, containerd and dockerd). Set BERTH_SOAK=1 to include the slow soak tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --release -p berth-probe --target x86_64-unknown-linux-gnu
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --no-fail-fast
else
    cargo test --workspace --no-fail-fast
fi
