//! Removes everything one container put in the kernel and on disk. Shared by
//! poststop and `gc`.

use std::fmt;
use std::path::Path;

use anyhow::{Context, Result};
use fnguard_bpf::{detach_cgroup_programs, PinLayout, PolicyMaps};
use fnguard_policy::Policy;

use crate::records::{ContainerRecord, RecordStore};
use crate::settings::Settings;

/// What a teardown removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Removed {
    pub links: usize,
    pub map_entries: usize,
    pub record: bool,
}

impl fmt::Display for Removed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} links, {} map entries, {} record",
            self.links,
            self.map_entries,
            usize::from(self.record)
        )
    }
}

/// Links first, so the programs stop running for the cgroup before its
/// policy disappears; the record last, so a failure leaves it for `gc`.
pub fn remove_container(pin_root: &Path, records: &RecordStore, record: &ContainerRecord) -> Result<Removed> {
    let layout = PinLayout::for_abi(pin_root, &record.abi);
    let mut removed = Removed {
        links: detach_cgroup_programs(&layout, record.cgroup_id).with_context(|| {
            format!(
                "removing links of container {} (cgroup {})",
                record.id, record.cgroup_id
            )
        })?,
        ..Removed::default()
    };
    if fnguard_bpf::is_loaded(&layout) {
        let maps = PolicyMaps::open(&layout)?;
        let policy = Policy::from_annotations(&record.annotations).ok().flatten();
        let entries = match policy {
            Some(policy) => maps.remove(record.cgroup_id, &policy, &record.denied_files)?,
            // Annotations this build no longer accepts: find the entries by scanning.
            None => maps.purge(record.cgroup_id)?,
        };
        removed.map_entries = entries.total();
    }
    removed.record = records.retire(record)?;
    Ok(removed)
}

/// With no container left, detaches the system call monitor, which otherwise costs
/// every task on the node a slow syscall exit. Run by `fnguard gc`, not by
/// poststop: re-attaching it for the next function costs milliseconds.
/// Returns whether it was detached.
pub fn unwatch_if_idle(settings: &Settings, records: &RecordStore) -> Result<bool> {
    Ok(records.is_empty() && fnguard_bpf::unwatch_syscalls(&settings.layout())?)
}
