//! `fnguard status`: the managed containers and their counters.

use anyhow::Result;
use fnguard_bpf::{is_loaded, CgroupStats};
use serde::Serialize;

use crate::cgroup;
use crate::node_maps::MapsByAbi;
use crate::records::ContainerRecord;
use crate::settings::Settings;

#[derive(Serialize)]
struct ContainerStatus<'a> {
    #[serde(flatten)]
    record: &'a ContainerRecord,
    cgroup_alive: bool,
    stats: Option<CgroupStats>,
}

pub fn run(settings: &Settings, json: bool) -> Result<()> {
    let records = settings.records().list()?;
    let mut rows = Vec::with_capacity(records.len());
    let mut node = MapsByAbi::new(settings);
    for record in &records {
        let stats = match node.of(record)? {
            Some(maps) => maps.stats(record.cgroup_id)?,
            None => None,
        };
        rows.push(ContainerStatus {
            record,
            cgroup_alive: cgroup::is_alive(&record.cgroup_dir, record.cgroup_id),
            stats,
        });
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    let layout = settings.layout();
    if is_loaded(&layout) {
        println!(
            "BPF objects: pinned ({}); file and exec violations stopped by {}",
            layout.abi_dir().display(),
            fnguard_bpf::file_enforcement(&layout)
        );
    } else {
        println!("BPF objects: not loaded ({})", layout.abi_dir().display());
    }
    println!("{} managed container(s)", rows.len());
    if rows.is_empty() {
        return Ok(());
    }
    println!(
        "{:<24} {:<16} {:>10} {:<8} {:>22} {:>22} {:>10}  POLICY",
        "CONTAINER", "FUNCTION", "CGROUP", "STATE", "CONNECT ok/deny/audit", "SENDMSG ok/deny/audit", "DETECTIONS"
    );
    for row in &rows {
        let s = row.stats.unwrap_or_default();
        println!(
            "{:<24} {:<16} {:>10} {:<8} {:>22} {:>22} {:>10}  {}{}",
            row.record.id,
            row.record.function.as_deref().unwrap_or("-"),
            row.record.cgroup_id,
            if row.cgroup_alive { "running" } else { "gone" },
            format!("{}/{}/{}", s.connect_allowed, s.connect_denied, s.connect_audited),
            format!("{}/{}/{}", s.sendmsg_allowed, s.sendmsg_denied, s.sendmsg_audited),
            s.detections,
            row.record.policy_summary,
            if s.events_dropped > 0 {
                format!(" [{} events dropped]", s.events_dropped)
            } else {
                String::new()
            },
        );
    }
    Ok(())
}
