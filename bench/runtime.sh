#!/usr/bin/env bash
# bench/runtime.sh: compare berth-runtime with crun and runc.
#
# Measures, under identical conditions, for each runtime:
#   1. `RT run` of /bin/true in a busybox bundle with the default `runc spec`
#      (one hyperfine invocation, no intermediate shell: -N);
#   2. `RT create && RT start && RT delete -f` as three separate commands
#      (one hyperfine invocation with --shell=bash, the same shell for every
#      runtime; hyperfine subtracts the shell's own start-up time);
#   3. peak RSS of `RT run` with GNU time (%M, max RSS of the runtime and of
#      the children it reaped), median and max over RSS_RUNS runs.
# All of it runs inside `unshare -m` with `mount --make-rprivate /` and
# /sys/fs/cgroup/unified unmounted (crun refuses the hybrid cgroup layout),
# so that every runtime sees the same cgroup v1 layout.
#
# Prints a markdown table (stdout) ready for docs/benchmarks.md; hyperfine's
# own progress and summaries go to stderr.
#
# Environment:
#   BERTH_RUNTIME  berth-runtime binary (default <repo>/target/x86_64-unknown-linux-gnu/release/berth-runtime)
#   CRUN, RUNC     other runtimes (default: from PATH, /usr/bin/crun, /usr/sbin/runc)
#   RUNS           hyperfine --runs (default 200)
#   WARMUP         hyperfine --warmup (default 20)
#   RSS_RUNS       runs of `run` under /usr/bin/time per runtime (default 20)
#   KEEP_TMP=1     keep the temp dir (bundle, JSON exports, RSS samples)
#
# Must run as root. Leaves nothing behind: containers are deleted (-f) before
# and after, state roots /run/bench-<name> and cgroup dirs are removed, also
# on failure or interrupt.
set -euo pipefail

script=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
script_dir=$(dirname "$script")
repo_root=$(cd "$script_dir/.." && pwd)

RUNS=${RUNS:-200}
WARMUP=${WARMUP:-20}
RSS_RUNS=${RSS_RUNS:-20}
BERTH_RUNTIME=${BERTH_RUNTIME:-$repo_root/target/x86_64-unknown-linux-gnu/release/berth-runtime}
CRUN=${CRUN:-$(command -v crun || echo /usr/bin/crun)}
RUNC=${RUNC:-$(command -v runc || echo /usr/sbin/runc)}
export RUNS WARMUP RSS_RUNS BERTH_RUNTIME CRUN RUNC

# Order matters: it is the row order of the table and the command order in hyperfine.
names=(berth crun runc)
CGROUP_HYBRID=/sys/fs/cgroup/unified

die() {
    echo "runtime.sh: $*" >&2
    exit 1
}

runtime_bin() {
    case $1 in
        berth) echo "$BERTH_RUNTIME" ;;
        crun) echo "$CRUN" ;;
        runc) echo "$RUNC" ;;
        *) die "unknown runtime $1" ;;
    esac
}
state_root() { echo "/run/bench-$1"; }
# Container ids used by this script (also what cleanup looks for).
ids_of() { echo "bench-$1-run bench-$1-csd bench-$1-rss"; }

# Quote one word for the printed command lines and for hyperfine's -N
# word splitting (plain paths come out unchanged).
q() {
    case $1 in
        '' | *[!A-Za-z0-9_./%=:,@+-]*) printf "'%s'" "${1//\'/\'\\\'\'}" ;;
        *) printf '%s' "$1" ;;
    esac
}
# Quote a whole argv as one shell command line.
qcmd() {
    local sep='' w
    for w in "$@"; do
        printf '%s%s' "$sep" "$(q "$w")"
        sep=' '
    done
    echo
}

# --- namespace set-up and container cleanup (run inside `unshare -m`) -------

ns_setup() {
    mount --make-rprivate /
    if mountpoint -q "$CGROUP_HYBRID"; then
        umount "$CGROUP_HYBRID"
    fi
}

delete_containers() {
    local name rt root id
    for name in "${names[@]}"; do
        rt=$(runtime_bin "$name")
        root=$(state_root "$name")
        [ -x "$rt" ] || continue
        [ -d "$root" ] || continue
        # Known ids plus whatever `list` reports in our private state root.
        {
            # shellcheck disable=SC2046
            printf '%s\n' $(ids_of "$name")
            "$rt" --root "$root" list -q 2>/dev/null || true
        } | sort -u | while IFS= read -r id; do
            [ -n "$id" ] || continue
            "$rt" --root "$root" delete -f "$id" >/dev/null 2>&1 || true
        done
    done
}

# --- host-side cleanup (outside the namespace) ------------------------------

remove_leftovers() {
    local name id d
    for name in "${names[@]}"; do
        rm -rf "$(state_root "$name")"
        for id in $(ids_of "$name"); do
            # Cgroup dirs named after our ids (runtimes use /<id> by default);
            # -depth so nested dirs go first; rmdir only (cgroupfs).
            find /sys/fs/cgroup -mindepth 2 -maxdepth 5 -depth -type d -name "$id" 2>/dev/null |
                while IFS= read -r d; do
                    rmdir "$d" 2>/dev/null || echo "runtime.sh: warning: could not remove $d" >&2
                done
        done
    done
}

check_leftovers() {
    local left=0 name id
    if grep -q 'berth-bench\.' /proc/mounts; then
        echo "runtime.sh: warning: mounts left behind:" >&2
        grep 'berth-bench\.' /proc/mounts >&2
        left=1
    fi
    for name in "${names[@]}"; do
        [ -e "$(state_root "$name")" ] && { echo "runtime.sh: warning: $(state_root "$name") left behind" >&2; left=1; }
        for id in $(ids_of "$name"); do
            if find /sys/fs/cgroup -mindepth 2 -maxdepth 5 -type d -name "$id" 2>/dev/null | grep -q .; then
                echo "runtime.sh: warning: cgroup dirs named $id left behind" >&2
                left=1
            fi
        done
    done
    return "$left"
}

# --- inner part: runs inside `unshare -m` ------------------------------------

child_pid=
run_child() {
    # Run a command in the background and wait, so a TERM to this shell is
    # handled at once (the trap kills the child) instead of after it ends.
    "$@" &
    child_pid=$!
    wait "$child_pid"
    child_pid=
}
inner_signal() {
    [ -n "$child_pid" ] && kill -TERM "$child_pid" 2>/dev/null
    exit "$1"
}

inner() {
    local wd=$1 bundle=$1/bundle
    local name rt root i
    trap delete_containers EXIT
    trap 'inner_signal 130' INT
    trap 'inner_signal 143' TERM

    ns_setup
    delete_containers

    # Group 1: run.
    local -a run_cmd=(hyperfine -N --warmup "$WARMUP" --runs "$RUNS" --export-json "$wd/run.json")
    for name in "${names[@]}"; do
        rt=$(runtime_bin "$name")
        root=$(state_root "$name")
        run_cmd+=(-n "$name" "$(q "$rt") --root $(q "$root") run --bundle $(q "$bundle") bench-$name-run")
    done

    # Group 2: create && start && delete (three runtime invocations, one bash).
    local -a csd_cmd=(hyperfine --shell=bash --warmup "$WARMUP" --runs "$RUNS" --export-json "$wd/csd.json")
    local id pre
    for name in "${names[@]}"; do
        rt=$(runtime_bin "$name")
        root=$(state_root "$name")
        id=bench-$name-csd
        pre="$(q "$rt") --root $(q "$root")"
        # `delete -f`, not `delete`: `start` returns once the container
        # process is released, and /bin/true may not have exited yet when
        # `delete` looks (seen ~1 in 300 for runc and crun), which makes a
        # plain delete fail with "not stopped" and aborts hyperfine. On a
        # stopped container -f does exactly what plain delete does.
        csd_cmd+=(-n "$name" "$pre create --bundle $(q "$bundle") $id && $pre start $id && $pre delete -f $id")
    done

    # Record the exact command lines for the report.
    {
        qcmd "${run_cmd[@]}"
        qcmd "${csd_cmd[@]}"
    } >"$wd/commands.txt"

    echo "== hyperfine: run ==" >&2
    run_child "${run_cmd[@]}" >&2
    echo "== hyperfine: create+start+delete ==" >&2
    run_child "${csd_cmd[@]}" >&2

    # Group 3: peak RSS of `run`.
    echo "== peak RSS of run ($RSS_RUNS runs each) ==" >&2
    for name in "${names[@]}"; do
        rt=$(runtime_bin "$name")
        root=$(state_root "$name")
        : >"$wd/rss-$name.txt"
        for ((i = 0; i < RSS_RUNS; i++)); do
            run_child /usr/bin/time -f %M -a -o "$wd/rss-$name.txt" \
                "$rt" --root "$root" run --bundle "$bundle" "bench-$name-rss"
        done
        echo "/usr/bin/time -f %M $(q "$rt") --root $(q "$root") run --bundle $(q "$bundle") bench-$name-rss" >>"$wd/rss-commands.txt"
    done
}

# --- outer part ----------------------------------------------------------------

ensure_deps() {
    local -a missing=()
    command -v hyperfine >/dev/null || missing+=(hyperfine)
    # busybox-static: /bin/busybox must exist and be statically linked.
    if [ ! -x /bin/busybox ] || ldd /bin/busybox >/dev/null 2>&1; then
        missing+=(busybox-static)
    fi
    [ -x "$RUNC" ] || missing+=(runc)
    [ -x "$CRUN" ] || missing+=(crun)
    [ -x /usr/bin/time ] || missing+=(time)
    command -v jq >/dev/null || missing+=(jq)
    if ! command -v unshare >/dev/null || ! command -v mountpoint >/dev/null; then
        missing+=(util-linux)
    fi
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "runtime.sh: installing ${missing[*]}" >&2
        apt-get install -y "${missing[@]}" >&2 ||
            { apt-get update >&2 && apt-get install -y "${missing[@]}" >&2; }
        CRUN=$(command -v crun || echo /usr/bin/crun)
        RUNC=$(command -v runc || echo /usr/sbin/runc)
    fi
}

workdir=
outer_cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "${inner_pid:-}" ] && kill -0 "$inner_pid" 2>/dev/null; then
        kill -TERM "$inner_pid" 2>/dev/null || true
        wait "$inner_pid" 2>/dev/null || true
    fi
    # Delete containers again (inside a fresh namespace, same conditions),
    # then remove state roots and cgroup dirs on the host.
    unshare -m -- "$BASH" "$script" --cleanup || true
    remove_leftovers
    if [ -n "$workdir" ]; then
        if [ "${KEEP_TMP:-0}" = 1 ]; then
            echo "runtime.sh: kept $workdir" >&2
        else
            rm -rf "$workdir"
        fi
    fi
    check_leftovers || rc=1
    exit "$rc"
}

first_line() { "$@" 2>/dev/null | sed -n 1p || true; }

# Median of the numbers in a file (one per line).
median_file() {
    sort -n "$1" | awk '{a[NR]=$1} END {if (NR==0) {print "nan"} else if (NR%2) {print a[(NR+1)/2]} else {print (a[NR/2]+a[NR/2+1])/2}}'
}

report() {
    local wd=$1 name
    local rss_json='{}' med max
    for name in "${names[@]}"; do
        med=$(median_file "$wd/rss-$name.txt")
        max=$(sort -n "$wd/rss-$name.txt" | tail -n 1)
        rss_json=$(jq -c --arg n "$name" --argjson med "$med" --argjson max "$max" \
            '.[$n] = {med: $med, max: $max}' <<<"$rss_json")
    done

    local berth_ver crun_ver runc_ver
    berth_ver=$(first_line "$BERTH_RUNTIME" --version)
    crun_ver=$(first_line "$CRUN" --version)
    runc_ver=$(first_line "$RUNC" --version)
    local cpu
    cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | sed -n 1p)

    local load_end
    load_end=$(cut -d' ' -f1 /proc/loadavg)
    echo "### OCI runtime start-up: berth-runtime vs crun vs runc"
    echo
    echo "$(date -u +%Y-%m-%d), $(uname -sr), $(nproc) cores (${cpu:-unknown CPU}), cgroup v1 (hybrid with $CGROUP_HYBRID unmounted in a private mount namespace); load average 1 min: $LOAD_START before, $load_end after."
    echo "berth-runtime: \`${berth_ver:-unknown}\` ($BERTH_RUNTIME); crun: \`${crun_ver:-unknown}\`; runc: \`${runc_ver:-unknown}\`."
    echo "Workload: \`/bin/true\` (busybox-static) in a bundle with the default \`runc spec\` (only \`process.args\` and \`process.terminal=false\` changed). hyperfine --warmup $WARMUP --runs $RUNS; peak RSS: GNU time \`%M\` over $RSS_RUNS runs of \`run\`."
    echo
    echo "| runtime | \`run\` median (ms) | vs crun | vs runc | create+start+delete median (ms) | vs crun | vs runc | peak RSS of \`run\`, median / max (MiB) |"
    echo "|---|--:|--:|--:|--:|--:|--:|--:|"
    # jq: medians and ratios (TSV); awk: fixed-point formatting.
    jq -rn --slurpfile run "$wd/run.json" --slurpfile csd "$wd/csd.json" \
        --argjson rss "$rss_json" --arg order "${names[*]}" '
        def med($f; $n): [$f[0].results[] | select(.command == $n) | .median][0];
        ($order | split(" "))[] as $n
        | [ (if $n == "berth" then "berth-runtime" else $n end),
            med($run; $n) * 1000,
            med($run; $n) / med($run; "crun"),
            med($run; $n) / med($run; "runc"),
            med($csd; $n) * 1000,
            med($csd; $n) / med($csd; "crun"),
            med($csd; $n) / med($csd; "runc"),
            $rss[$n].med / 1024,
            $rss[$n].max / 1024 ]
        | @tsv
    ' | LC_ALL=C awk -F '\t' '{
        printf "| %s | %.2f | %.2f× | %.2f× | %.2f | %.2f× | %.2f× | %.1f / %.1f |\n",
            $1, $2, $3, $4, $5, $6, $7, $8, $9
    }'
    echo
    echo "Ratios are medians divided by the crun (runc) median: below 1× is faster."
    echo
    echo "Commands (as root, all inside one \`unshare -m\` after \`mount --make-rprivate /\` and \`umount $CGROUP_HYBRID\`; produced by \`bench/runtime.sh\`):"
    echo
    echo '```sh'
    cat "$wd/commands.txt"
    sed "s/\$/   # x$RSS_RUNS/" "$wd/rss-commands.txt"
    echo '```'
}

main() {
    [ "$(id -u)" -eq 0 ] || die "must run as root (needs unshare -m, mounts and cgroups)"
    case $RUNS$WARMUP$RSS_RUNS in *[!0-9]*) die "RUNS, WARMUP and RSS_RUNS must be integers" ;; esac
    [ "$RUNS" -ge 2 ] || die "RUNS must be at least 2"
    [ "$RSS_RUNS" -ge 1 ] || die "RSS_RUNS must be at least 1"
    if [ ! -x "$BERTH_RUNTIME" ]; then
        die "berth-runtime not found at $BERTH_RUNTIME; run \`cargo build --release\` in $repo_root first (or set BERTH_RUNTIME)"
    fi
    ensure_deps

    trap outer_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM

    # Recorded in the report: a busy machine skews the numbers.
    LOAD_START=$(cut -d' ' -f1 /proc/loadavg)
    workdir=$(mktemp -d /tmp/berth-bench.XXXXXX)
    # The runtimes need to traverse to the bundle.
    chmod 0755 "$workdir"
    "$script_dir/lib/make-busybox-bundle.sh" "$workdir/bundle" >&2

    # unshare(1) without --fork execs the inner bash, so $! is that bash.
    unshare -m -- "$BASH" "$script" --inner "$workdir" &
    inner_pid=$!
    wait "$inner_pid"
    inner_pid=

    report "$workdir"
}

case ${1:-} in
    --inner)
        [ "$#" -eq 2 ] || die "usage: $0 --inner WORKDIR"
        inner "$2"
        ;;
    --cleanup)
        ns_setup
        delete_containers
        ;;
    "")
        main
        ;;
    *)
        echo "usage: [RUNS=200] [WARMUP=20] [RSS_RUNS=20] [BERTH_RUNTIME=path] $0" >&2
        exit 2
        ;;
esac
