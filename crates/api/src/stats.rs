//! `GET /containers/{id}/stats`: one sample of a container's resource use (Engine API 1.44).
//! The field names are snake_case here, as in Docker.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::lenient::null_as_default as nd;

/// One stats sample, with the previous one's CPU figures for computing a rate.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StatsResponse {
    /// With a leading `/`.
    #[serde(deserialize_with = "nd")]
    pub name: String,
    #[serde(deserialize_with = "nd")]
    pub id: String,
    /// RFC 3339 time of this sample.
    #[serde(deserialize_with = "nd")]
    pub read: String,
    /// RFC 3339 time of the previous sample (`0001-01-01T00:00:00Z` for the first).
    #[serde(deserialize_with = "nd")]
    pub preread: String,
    #[serde(deserialize_with = "nd")]
    pub pids_stats: PidsStats,
    #[serde(deserialize_with = "nd")]
    pub blkio_stats: BlkioStats,
    #[serde(deserialize_with = "nd")]
    pub num_procs: u32,
    #[serde(deserialize_with = "nd")]
    pub storage_stats: StorageStats,
    #[serde(deserialize_with = "nd")]
    pub cpu_stats: CpuStats,
    #[serde(deserialize_with = "nd")]
    pub precpu_stats: CpuStats,
    #[serde(deserialize_with = "nd")]
    pub memory_stats: MemoryStats,
    /// Interface name → counters; absent without a network namespace of its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub networks: Option<BTreeMap<String, NetworkStats>>,
}

/// Process counts of the container's cgroup.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PidsStats {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

/// Block I/O of the container's cgroup (cgroup v2 fills only `io_service_bytes_recursive`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BlkioStats {
    pub io_service_bytes_recursive: Option<Vec<BlkioStatEntry>>,
    pub io_serviced_recursive: Option<Vec<BlkioStatEntry>>,
    pub io_queue_recursive: Option<Vec<BlkioStatEntry>>,
    pub io_service_time_recursive: Option<Vec<BlkioStatEntry>>,
    pub io_wait_time_recursive: Option<Vec<BlkioStatEntry>>,
    pub io_merged_recursive: Option<Vec<BlkioStatEntry>>,
    pub io_time_recursive: Option<Vec<BlkioStatEntry>>,
    pub sectors_recursive: Option<Vec<BlkioStatEntry>>,
}

/// One block-I/O counter of one device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BlkioStatEntry {
    #[serde(deserialize_with = "nd")]
    pub major: u64,
    #[serde(deserialize_with = "nd")]
    pub minor: u64,
    /// `read`, `write`, …
    #[serde(deserialize_with = "nd")]
    pub op: String,
    #[serde(deserialize_with = "nd")]
    pub value: u64,
}

/// Windows-only storage counters; empty on Linux.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StorageStats {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_count_normalized: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_size_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write_count_normalized: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write_size_bytes: Option<u64>,
}

/// CPU time of the container, and of the whole host for the same instant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CpuStats {
    #[serde(deserialize_with = "nd")]
    pub cpu_usage: CpuUsage,
    /// Host CPU time in nanoseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_cpu_usage: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub online_cpus: Option<u32>,
    #[serde(deserialize_with = "nd")]
    pub throttling_data: ThrottlingData,
}

/// The container's CPU time in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CpuUsage {
    #[serde(deserialize_with = "nd")]
    pub total_usage: u64,
    /// cgroup v1 only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percpu_usage: Option<Vec<u64>>,
    #[serde(deserialize_with = "nd")]
    pub usage_in_kernelmode: u64,
    #[serde(deserialize_with = "nd")]
    pub usage_in_usermode: u64,
}

/// CFS throttling of the container's cgroup.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ThrottlingData {
    #[serde(deserialize_with = "nd")]
    pub periods: u64,
    #[serde(deserialize_with = "nd")]
    pub throttled_periods: u64,
    #[serde(deserialize_with = "nd")]
    pub throttled_time: u64,
}

/// Memory of the container's cgroup, in bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemoryStats {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_usage: Option<u64>,
    /// The cgroup's `memory.stat` counters (`inactive_file`, `anon`, …).
    #[serde(deserialize_with = "nd", skip_serializing_if = "BTreeMap::is_empty")]
    pub stats: BTreeMap<String, u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failcnt: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

/// Counters of one network interface.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkStats {
    #[serde(deserialize_with = "nd")]
    pub rx_bytes: u64,
    #[serde(deserialize_with = "nd")]
    pub rx_packets: u64,
    #[serde(deserialize_with = "nd")]
    pub rx_errors: u64,
    #[serde(deserialize_with = "nd")]
    pub rx_dropped: u64,
    #[serde(deserialize_with = "nd")]
    pub tx_bytes: u64,
    #[serde(deserialize_with = "nd")]
    pub tx_packets: u64,
    #[serde(deserialize_with = "nd")]
    pub tx_errors: u64,
    #[serde(deserialize_with = "nd")]
    pub tx_dropped: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cgroup_v2_sample_from_dockerd_reads() {
        let sample: StatsResponse = serde_json::from_str(
            r#"{"name":"/web","id":"c1","read":"2026-11-28T16:00:02Z","preread":"0001-01-01T00:00:00Z",
            "pids_stats":{"current":1,"limit":4615},"blkio_stats":{"io_service_bytes_recursive":null,
            "io_serviced_recursive":null},"num_procs":0,"storage_stats":{},
            "cpu_stats":{"cpu_usage":{"total_usage":5000,"usage_in_kernelmode":1000,
            "usage_in_usermode":4000},"system_cpu_usage":9000000,"online_cpus":2,
            "throttling_data":{"periods":0,"throttled_periods":0,"throttled_time":0}},
            "precpu_stats":{"cpu_usage":{"total_usage":0,"usage_in_kernelmode":0,"usage_in_usermode":0},
            "throttling_data":{"periods":0,"throttled_periods":0,"throttled_time":0}},
            "memory_stats":{"usage":1048576,"stats":{"inactive_file":4096},"limit":8000000000},
            "networks":{"eth0":{"rx_bytes":10,"rx_packets":1,"rx_errors":0,"rx_dropped":0,
            "tx_bytes":20,"tx_packets":2,"tx_errors":0,"tx_dropped":0}}}"#,
        )
        .unwrap();
        assert_eq!(sample.cpu_stats.online_cpus, Some(2));
        assert_eq!(sample.precpu_stats.system_cpu_usage, None);
        assert_eq!(sample.memory_stats.stats["inactive_file"], 4096);
        assert_eq!(sample.pids_stats.current, Some(1));
        assert_eq!(sample.networks.unwrap()["eth0"].tx_bytes, 20);
        assert_eq!(sample.blkio_stats.io_service_bytes_recursive, None);
    }
}
