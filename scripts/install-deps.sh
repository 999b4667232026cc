#!/usr/bin/env bash
# Installs the Debian packages berth builds and tests with (idempotent; needs root).
set -euo pipefail
packages=(
    pkg-config libseccomp-dev    # building: libseccomp for seccomp filters
    busybox-static               # test and demo root file systems
    runc crun hyperfine time jq  # reference runtimes and benchmarks
    containerd docker.io         # real engines driving berth-runtime in tests
    podman                       # a peer in the container benchmarks
    docker-registry skopeo       # a registry on 127.0.0.1 and a peer client for pull/push tests
    apache2-utils openssl        # htpasswd and a test CA for registry auth and TLS tests
    iproute2 strace curl        # curl: pinging a test dockerd over its socket
    nftables util-linux          # berthd's firewall (nft); nsenter for tests in a daemon's namespace
    tini                         # the init dockerd's --init uses, compared with in spec tests
    python3 python3-venv python3-pip  # docker-py (PyPI) as a real client of berthd
    docker-compose               # compose files run against berthd
)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
