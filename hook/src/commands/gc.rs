//! `fnguard gc`: removes what containers whose poststop never ran left
//! behind: records of dead cgroups, links without a record, map entries of
//! cgroups no live record owns, and the objects of earlier fnguard builds
//! that no container uses any more.

use std::collections::BTreeSet;

use anyhow::{Context, Result};
use fnguard_bpf::{detach_cgroup_programs, is_loaded, pinned_link_cgroups, PolicyMaps};

use crate::cgroup;
use crate::node_lock::NodeLock;
use crate::settings::Settings;
use crate::teardown::remove_container;

pub fn run(settings: &Settings) -> Result<()> {
    let _lock = NodeLock::acquire(&settings.run_dir)?;
    let records = settings.records();
    let layout = settings.layout();
    let mut live = BTreeSet::new();
    let mut cleaned = 0;

    for record in records.list()? {
        if cgroup::is_alive(&record.cgroup_dir, record.cgroup_id) {
            live.insert(record.cgroup_id);
            continue;
        }
        let removed = remove_container(&settings.pin_root, &records, &record)?;
        println!(
            "removed container {} (cgroup {} {} is gone): {removed}",
            record.id,
            record.cgroup_id,
            record.cgroup_dir.display()
        );
        cleaned += 1;
    }

    // Under the node lock every link directory and map entry belongs to a
    // record; what has none was left by a hook that died half way.
    for cgroup_id in pinned_link_cgroups(&layout)? {
        if !live.contains(&cgroup_id) {
            let links = detach_cgroup_programs(&layout, cgroup_id)?;
            println!("removed {links} orphaned links of cgroup {cgroup_id}");
            cleaned += 1;
        }
    }
    if is_loaded(&layout) {
        let maps = PolicyMaps::open(&layout)?;
        for cgroup_id in maps.cgroups().difference(&live) {
            let removed = maps.purge(*cgroup_id)?;
            println!("removed {} orphaned map entries of cgroup {cgroup_id}", removed.total());
            cleaned += 1;
        }
    }
    cleaned += remove_earlier_builds(&layout)?;
    if crate::teardown::unwatch_if_idle(settings, &records)? {
        println!("detached the syscall-exit monitor: no container is managed");
    }
    println!("gc: {cleaned} removed, {} live container(s) kept", live.len());
    Ok(())
}

/// Objects pinned by other fnguard builds (other ABI directories) stay
/// attached node-wide until removed: once none of their containers is left,
/// unpinning them detaches their programs and frees their maps.
fn remove_earlier_builds(layout: &fnguard_bpf::PinLayout) -> Result<usize> {
    let mut removed = 0;
    let Ok(dirs) = std::fs::read_dir(layout.root()) else {
        return Ok(0);
    };
    for dir in dirs.flatten().map(|e| e.path()) {
        if dir == layout.abi_dir() || !dir.is_dir() {
            continue;
        }
        let in_use = std::fs::read_dir(dir.join("links"))
            .map(|links| links.flatten().any(|l| l.file_name() != "global"))
            .unwrap_or(false);
        if in_use {
            println!(
                "kept objects of an earlier build at {}: containers still use them",
                dir.display()
            );
            continue;
        }
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing earlier build's pins {}", dir.display()))?;
        println!("removed objects of an earlier build at {}", dir.display());
        removed += 1;
    }
    Ok(removed)
}
