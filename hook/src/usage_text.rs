//! Resource figures as people read them: bytes in KiB/MiB/GiB, CPU time in
//! milliseconds, a limit's amount in its own unit.

use fnguard_bpf::Usage;
use fnguard_policy::limits::{Unit, LIMITS};

/// `512 B`, `4.0 KiB`, `64.0 MiB`, `1.5 GiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Milliseconds, from nanoseconds.
pub fn millis(ns: u64) -> String {
    format!("{} ms", ns / 1_000_000)
}

/// A limit's value or observed amount in the limit's unit.
pub fn amount(limit: &str, n: u64) -> String {
    match LIMITS.iter().find(|l| l.name == limit).map(|l| l.unit) {
        Some(Unit::Duration) => format!("{} CPU", millis(n)),
        Some(Unit::Bytes) => bytes(n),
        Some(Unit::BytesPerSecond) => format!("{}/s", bytes(n)),
        _ => n.to_string(),
    }
}

/// One line of what a function used.
pub fn describe_usage(u: &Usage) -> String {
    format!(
        "CPU {}, memory peak {}, tasks peak {} ({} created), connections peak {} ({} established, {} refused), sent {} received {} ({} and {} dropped)",
        millis(u.cpu_ns),
        bytes(u.rss_peak_bytes),
        u.tasks_peak,
        u.forks,
        u.connections_peak,
        u.connects,
        u.connects_refused,
        bytes(u.tx_bytes),
        bytes(u.rx_bytes),
        bytes(u.tx_dropped_bytes),
        bytes(u.rx_dropped_bytes),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readable_amounts() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(64 << 20), "64.0 MiB");
        assert_eq!(bytes(3 << 29), "1.5 GiB");
        assert_eq!(amount("cpu-ms", 1_500_000_000), "1500 ms CPU");
        assert_eq!(amount("egress-rate", 1 << 20), "1.0 MiB/s");
        assert_eq!(amount("procs", 65), "65");
    }
}
