//! `fnguard top`: live resource use per managed function, refreshed in
//! place, or one JSON snapshot.

use std::collections::BTreeMap;
use std::io::Write;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Result;
use fnguard_bpf::{CgroupStats, Usage};
use serde::Serialize;

use crate::cgroup;
use crate::node_maps::MapsByAbi;
use crate::settings::Settings;
use crate::usage_text::{bytes, millis};

const LIMIT_PREFIX: &str = "fnguard.io/limits.";

#[derive(Serialize)]
struct FunctionRow {
    container: String,
    function: Option<String>,
    cgroup_id: u64,
    cgroup_alive: bool,
    usage: Usage,
    /// The cgroup's own CPU time (cgroup v2 `cpu.stat`), to cross-check
    /// `usage.cpu_ns`; absent once the cgroup is gone.
    cgroup_cpu_ns: Option<u64>,
    /// Its memory controller's `memory.current` where cgroup v2 runs one
    /// (page cache and kernel memory included, so above `rss_bytes`).
    cgroup_memory_bytes: Option<u64>,
    /// Violations stopped or reported, connects refused by a limit.
    denials: u64,
    /// The limit that terminated the function, if one did.
    terminated_by: Option<&'static str>,
    /// Its `fnguard.io/limits.*` annotations, by limit name.
    limits: BTreeMap<String, String>,
}

fn denials(stats: &CgroupStats, usage: &Usage) -> u64 {
    stats.connect_denied + stats.sendmsg_denied + stats.exec_violations + stats.open_violations + usage.connects_refused
}

fn snapshot(settings: &Settings) -> Result<Vec<FunctionRow>> {
    let mut rows = Vec::new();
    let mut node = MapsByAbi::new(settings);
    for record in settings.records().list()? {
        let (stats, usage) = match node.of(&record)? {
            Some(maps) => (maps.stats(record.cgroup_id)?, maps.usage(record.cgroup_id)?),
            None => (None, None),
        };
        let (stats, usage) = (stats.unwrap_or_default(), usage.unwrap_or_default());
        rows.push(FunctionRow {
            cgroup_alive: cgroup::is_alive(&record.cgroup_dir, record.cgroup_id),
            cgroup_cpu_ns: cgroup::cpu_usage_ns(&record.cgroup_dir),
            cgroup_memory_bytes: cgroup::memory_current(&record.cgroup_dir),
            denials: denials(&stats, &usage),
            terminated_by: stats.terminated_by,
            limits: record
                .annotations
                .iter()
                .filter_map(|(k, v)| Some((k.strip_prefix(LIMIT_PREFIX)?.to_string(), v.clone())))
                .collect(),
            container: record.id,
            function: record.function,
            cgroup_id: record.cgroup_id,
            usage,
        });
    }
    Ok(rows)
}

/// `iterations`: refreshes before exiting (None: until interrupted).
pub fn run(settings: &Settings, json: bool, interval: Duration, iterations: Option<u64>) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(&snapshot(settings)?)?);
        return Ok(());
    }
    let mut previous: BTreeMap<String, u64> = BTreeMap::new();
    let mut last = Instant::now();
    let mut shown = 0;
    loop {
        let rows = snapshot(settings)?;
        let elapsed = last.elapsed().as_secs_f64().max(1e-3);
        last = Instant::now();
        let mut out = std::io::stdout().lock();
        // Home and clear: the table refreshes in place.
        write!(out, "\x1b[H\x1b[2J")?;
        writeln!(
            out,
            "fnguard top: {} managed function(s), every {:.1} s (Ctrl-C quits)",
            rows.len(),
            interval.as_secs_f64()
        )?;
        writeln!(
            out,
            "{:<24} {:<14} {:>6} {:>10} {:>10} {:>10} {:>6} {:>7} {:>6} {:>10} {:>10} {:>7}",
            "CONTAINER",
            "FUNCTION",
            "CPU%",
            "CPU",
            "MEM",
            "PEAK",
            "TASKS",
            "FORKS",
            "CONNS",
            "SENT",
            "RECEIVED",
            "DENIALS"
        )?;
        for row in &rows {
            let u = &row.usage;
            let cpu_percent = previous
                .get(&row.container)
                .map(|before| u.cpu_ns.saturating_sub(*before) as f64 / 1e9 / elapsed * 100.0);
            writeln!(
                out,
                "{:<24} {:<14} {:>6} {:>10} {:>10} {:>10} {:>6} {:>7} {:>6} {:>10} {:>10} {:>7}{}",
                row.container,
                row.function.as_deref().unwrap_or("-"),
                cpu_percent.map_or("-".to_string(), |p| format!("{p:.1}")),
                millis(u.cpu_ns),
                bytes(u.rss_bytes as u64),
                bytes(u.rss_peak_bytes),
                u.tasks,
                u.forks,
                u.connections,
                bytes(u.tx_bytes),
                bytes(u.rx_bytes),
                row.denials,
                match (row.terminated_by, row.cgroup_alive) {
                    (Some(limit), _) => format!("  terminated by limits.{limit}"),
                    (None, false) => "  gone".to_string(),
                    _ => String::new(),
                }
            )?;
        }
        out.flush()?;
        previous = rows.iter().map(|r| (r.container.clone(), r.usage.cpu_ns)).collect();
        shown += 1;
        if iterations.is_some_and(|n| shown >= n) {
            return Ok(());
        }
        thread::sleep(interval);
    }
}
