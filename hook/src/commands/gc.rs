//! `fnguard gc`: removes what containers whose poststop never ran left
//! behind: records of dead cgroups, links without a record, map entries of
//! cgroups no live record owns.

use std::collections::BTreeSet;

use anyhow::Result;
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
    if crate::teardown::unwatch_if_idle(settings, &records)? {
        println!("detached the syscall-exit monitor: no container is managed");
    }
    println!("gc: {cleaned} removed, {} live container(s) kept", live.len());
    Ok(())
}
