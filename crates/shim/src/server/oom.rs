//! Whether the kernel's OOM killer struck in a container's cgroup.

use berth_runtime::cgroups::CgroupPath;

/// True when the memory controller counted an OOM kill in the container's cgroup (`oom_kill`
/// in `memory.oom_control` on cgroup v1, in `memory.events` on v2).
pub(crate) fn oom_killed(cgroup: &CgroupPath) -> bool {
    let file = match (cgroup.layout.v1_mount("memory"), cgroup.layout.unified()) {
        (Some(v1), _) => v1.join(&cgroup.path).join("memory.oom_control"),
        (None, Some(v2)) => v2.join(&cgroup.path).join("memory.events"),
        (None, None) => return false,
    };
    std::fs::read_to_string(file).is_ok_and(|text| oom_kills(&text) > 0)
}

fn oom_kills(text: &str) -> u64 {
    text.lines()
        .filter_map(|l| l.strip_prefix("oom_kill "))
        .filter_map(|n| n.trim().parse().ok())
        .next()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oom_kill_counter_is_found_in_both_formats() {
        assert_eq!(
            oom_kills("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"),
            2
        );
        assert_eq!(
            oom_kills("low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\noom_group_kill 0\n"),
            1
        );
        assert_eq!(oom_kills("oom_kill_disable 1\nunder_oom 0\n"), 0);
    }
}
