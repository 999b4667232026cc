#!/usr/bin/env bash
# make-busybox-bundle.sh DIR
#
# Creates a minimal OCI bundle in DIR:
#   DIR/rootfs       static busybox at /bin/busybox plus one symlink per applet
#                    (so /bin/true, /bin/sh, ... exist) and the usual mount points
#   DIR/config.json  the default spec from `runc spec`, with only
#                    process.args = ["/bin/true"] and process.terminal = false changed
#
# Needs: busybox-static (/bin/busybox), runc (for `runc spec`), jq.
# Environment: BUSYBOX (default /bin/busybox), RUNC (default: runc from PATH).
set -euo pipefail

usage() {
    echo "usage: $0 DIR" >&2
    exit 2
}

[ "$#" -eq 1 ] || usage
dir=$1

busybox=${BUSYBOX:-/bin/busybox}
runc=${RUNC:-$(command -v runc || echo /usr/sbin/runc)}

die() {
    echo "make-busybox-bundle: $*" >&2
    exit 1
}

[ -x "$busybox" ] || die "$busybox not found (apt-get install -y busybox-static)"
[ -x "$runc" ] || die "runc not found (apt-get install -y runc); it is used for 'runc spec'"
command -v jq >/dev/null || die "jq not found (apt-get install -y jq)"
# A dynamically linked busybox would need its libraries in the rootfs.
if ldd "$busybox" >/dev/null 2>&1; then
    die "$busybox is dynamically linked; install busybox-static"
fi

if [ -e "$dir/rootfs" ] || [ -e "$dir/config.json" ]; then
    die "$dir already contains rootfs or config.json; refusing to overwrite"
fi

rootfs=$dir/rootfs
mkdir -p "$rootfs"
for d in bin sbin usr/bin usr/sbin etc proc sys dev dev/pts dev/shm dev/mqueue tmp run root var var/tmp; do
    mkdir -p "$rootfs/$d"
done
chmod 1777 "$rootfs/tmp" "$rootfs/var/tmp"

install -m 0755 "$busybox" "$rootfs/bin/busybox"
# One symlink per applet, all in /bin (it is on the default spec's PATH).
"$busybox" --list | while IFS= read -r applet; do
    [ "$applet" = busybox ] && continue
    ln -s busybox "$rootfs/bin/$applet"
done
[ -L "$rootfs/bin/true" ] || die "busybox has no 'true' applet"

# Files a few programs expect; the default spec mounts nothing over /etc.
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\n' >"$rootfs/etc/group"
: >"$rootfs/etc/hosts"
: >"$rootfs/etc/resolv.conf"

# Default spec, then the two edits.
"$runc" spec --bundle "$dir"
tmp=$(mktemp "$dir/config.json.XXXXXX")
jq '.process.args = ["/bin/true"] | .process.terminal = false' "$dir/config.json" >"$tmp"
mv "$tmp" "$dir/config.json"
chmod 0644 "$dir/config.json"
