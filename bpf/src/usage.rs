//! A function's resource use and limits: `struct fng_usage` (usage.h),
//! written by the hook (limits, init pid, live tasks) and counted by the
//! programs.

use fnguard_policy::limits::{Limits, LIMITS};
use serde::Serialize;

/// `sizeof(struct fng_usage)`.
pub(crate) const USAGE_SIZE: usize = 280;
const ACTIONS_AT: usize = 72;
const INIT_PID_AT: usize = 88;
/// First counter (`tasks`); the counters follow as 8-byte fields.
const COUNTERS_AT: usize = 104;

/// What a function used, as the programs counted it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    /// Tasks (processes and threads) alive now.
    pub tasks: i64,
    pub tasks_peak: u64,
    /// Tasks created (forks and threads).
    pub forks: u64,
    pub cpu_ns: u64,
    /// Resident memory of its processes now, in bytes.
    pub rss_bytes: i64,
    pub rss_peak_bytes: u64,
    /// TCP connections open now, both directions.
    pub connections: i64,
    pub connections_peak: u64,
    /// TCP connections established, both directions.
    pub connects: u64,
    /// Payload bytes sent and received (TCP and UDP payload, IP payload otherwise).
    pub tx_bytes: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub rx_packets: u64,
    /// Bytes dropped by egress-bytes or egress-rate, and by ingress-bytes.
    pub tx_dropped_bytes: u64,
    pub rx_dropped_bytes: u64,
    /// Outbound connects refused by a connection limit.
    pub connects_refused: u64,
}

impl Usage {
    pub(crate) fn decode(v: &[u8]) -> Self {
        let at = |i: usize| crate::layout::u64_at(&v[COUNTERS_AT..], i);
        Usage {
            tasks: (at(0) as i64).max(0),
            tasks_peak: at(1),
            forks: at(2),
            cpu_ns: at(3),
            rss_bytes: (at(4) as i64).max(0),
            rss_peak_bytes: at(5),
            connections: (at(6) as i64).max(0),
            connections_peak: at(7),
            connects: at(8),
            tx_bytes: at(9),
            rx_bytes: at(10),
            tx_packets: at(11),
            rx_packets: at(12),
            tx_dropped_bytes: at(13),
            rx_dropped_bytes: at(14),
            connects_refused: at(15),
        }
    }
}

/// A new `struct fng_usage`: the function's limits, its init process (host
/// pid) and the tasks it has already (counted by the hook; the programs
/// count from there).
pub(crate) fn usage_value(limits: &Limits, init_pid: u32, tasks: u64) -> Vec<u8> {
    let mut value = vec![0u8; USAGE_SIZE];
    for spec in LIMITS {
        if let Some((limit, action)) = limits.set[spec.id] {
            value[8 * spec.id..8 * spec.id + 8].copy_from_slice(&limit.to_ne_bytes());
            value[ACTIONS_AT + spec.id] = action.code();
        }
    }
    value[INIT_PID_AT..INIT_PID_AT + 4].copy_from_slice(&init_pid.to_ne_bytes());
    value[COUNTERS_AT..COUNTERS_AT + 8].copy_from_slice(&tasks.to_ne_bytes());
    value[COUNTERS_AT + 8..COUNTERS_AT + 16].copy_from_slice(&tasks.to_ne_bytes());
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Offsets of struct fng_usage, counted from usage.h so that a field
    /// added there without updating this file fails here.
    #[test]
    fn layout_matches_usage_h() {
        let header = include_str!("bpf/usage.h");
        let start = header.find("struct fng_usage {").unwrap();
        let body = &header[start..start + header[start..].find("};").unwrap()];
        let fields: Vec<&str> = body
            .lines()
            .skip(1)
            .map(str::trim)
            .filter(|l| l.starts_with("__"))
            .collect();
        let u64s_after_reported = fields.iter().skip_while(|f| !f.contains(" reported;")).skip(1).count();
        assert_eq!(COUNTERS_AT + 8 * u64s_after_reported, USAGE_SIZE);
        assert!(fields[0].contains("limit[FNG_LIMIT_COUNT]"));
        assert_eq!(LIMITS.len() * 8, ACTIONS_AT);
        let count: usize = header
            .lines()
            .find_map(|l| l.trim().strip_prefix("FNG_LIMIT_COUNT = "))
            .and_then(|v| v.trim_end_matches(',').parse().ok())
            .unwrap();
        assert_eq!(count, LIMITS.len());
    }

    #[test]
    fn limits_ids_in_usage_h_match_the_catalogue() {
        let header = include_str!("bpf/usage.h");
        for spec in LIMITS {
            let name = format!(
                "FNG_LIMIT_{} = {},",
                spec.name.to_uppercase().replace('-', "_").replace("_MS", ""),
                spec.id
            );
            assert!(header.contains(&name), "usage.h lacks {name}");
        }
    }

    #[test]
    fn value_carries_limits_pid_and_tasks() {
        let mut limits = Limits::default();
        limits.set[3] = Some((64 << 20, fnguard_policy::limits::LimitAction::Kill));
        let v = usage_value(&limits, 4242, 3);
        assert_eq!(u64::from_ne_bytes(v[24..32].try_into().unwrap()), 64 << 20);
        assert_eq!(v[ACTIONS_AT + 3], 2);
        assert_eq!(v[ACTIONS_AT], 0);
        assert_eq!(u32::from_ne_bytes(v[88..92].try_into().unwrap()), 4242);
        assert_eq!(Usage::decode(&v).tasks, 3);
    }
}
