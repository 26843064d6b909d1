//! A container's policy in the node's pinned maps, keyed by cgroup id.

use std::collections::BTreeSet;

use fnguard_policy::{Mode, Policy};
use libbpf_rs::{MapCore, MapFlags, MapHandle};
use serde::Serialize;

use crate::error::BpfError;
use crate::layout::{
    self, FLAG_AUDIT, FLAG_EGRESS, FLAG_EXEC, FLAG_FILES_READ, FLAG_FILES_WRITE, FLAG_INODES, FLAG_PATHS,
    STATS_START_NS,
};
use crate::paths::PinLayout;
use crate::usage::{usage_value, Usage};

/// Handles on the pinned policy maps.
pub struct PolicyMaps {
    policy: MapHandle,
    egress_v4: MapHandle,
    egress_v6: MapHandle,
    ingress_v4: MapHandle,
    ingress_v6: MapHandle,
    paths: MapHandle,
    inodes: MapHandle,
    stats: MapHandle,
    net: MapHandle,
    usage: MapHandle,
    procs: MapHandle,
    node: MapHandle,
}

/// What the hook knows of a function when it starts managing it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FunctionStart {
    /// Host pid of the container's first process: a limit that kills ends it.
    pub init_pid: u32,
    /// Tasks already in the cgroup; the programs count from there.
    pub tasks: u64,
}

/// A file by identity: the kernel's dev_t of its super block and its inode number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize)]
pub struct FileId {
    pub dev: u32,
    pub ino: u64,
}

/// Counters the programs keep per managed cgroup.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CgroupStats {
    pub connect_allowed: u64,
    pub connect_denied: u64,
    pub connect_audited: u64,
    pub sendmsg_allowed: u64,
    pub sendmsg_denied: u64,
    pub sendmsg_audited: u64,
    pub events_dropped: u64,
    pub execs: u64,
    pub opens: u64,
    pub exec_violations: u64,
    pub open_violations: u64,
    pub events_throttled: u64,
    /// CLOCK_MONOTONIC nanoseconds when the container was managed.
    pub start_ns: u64,
    /// CLOCK_MONOTONIC nanoseconds of the function's first exec (0: none yet).
    pub first_exec_ns: u64,
    /// Detection rules that fired.
    pub detections: u64,
    /// The limit that terminated the function, if one did.
    pub terminated_by: Option<&'static str>,
}

impl CgroupStats {
    pub(crate) fn decode(v: &[u8]) -> Self {
        CgroupStats {
            connect_allowed: layout::u64_at(v, 0),
            connect_denied: layout::u64_at(v, 1),
            connect_audited: layout::u64_at(v, 2),
            sendmsg_allowed: layout::u64_at(v, 3),
            sendmsg_denied: layout::u64_at(v, 4),
            sendmsg_audited: layout::u64_at(v, 5),
            events_dropped: layout::u64_at(v, 6),
            execs: layout::u64_at(v, 7),
            opens: layout::u64_at(v, 8),
            exec_violations: layout::u64_at(v, 9),
            open_violations: layout::u64_at(v, 10),
            events_throttled: layout::u64_at(v, 11),
            start_ns: layout::u64_at(v, STATS_START_NS),
            first_exec_ns: layout::u64_at(v, 16),
            detections: layout::u64_at(v, 17),
            terminated_by: match layout::u64_at(v, layout::STATS_TERMINATING) {
                0 => None,
                n => fnguard_policy::limits::LIMITS.get(n as usize - 1).map(|l| l.name),
            },
        }
    }
}

/// What [`PolicyMaps::remove`] or [`PolicyMaps::purge`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RemovedEntries {
    pub policy: bool,
    pub stats: bool,
    pub prefixes: usize,
}

impl RemovedEntries {
    pub fn total(&self) -> usize {
        usize::from(self.policy) + usize::from(self.stats) + self.prefixes
    }
}

impl PolicyMaps {
    pub fn open(layout: &PinLayout) -> Result<Self, BpfError> {
        let open = |name: &str| {
            let path = layout.map(name);
            MapHandle::from_pinned_path(&path)
                .map_err(BpfError::libbpf(format!("opening pinned map {}", path.display())))
        };
        Ok(PolicyMaps {
            policy: open("fng_policy")?,
            egress_v4: open("fng_egress_v4")?,
            egress_v6: open("fng_egress_v6")?,
            ingress_v4: open("fng_ingress_v4")?,
            ingress_v6: open("fng_ingress_v6")?,
            paths: open("fng_paths")?,
            inodes: open("fng_inodes")?,
            stats: open("fng_stats")?,
            net: open("fng_net")?,
            usage: open("fng_usage")?,
            procs: open("fng_procs")?,
            node: open("fng_node")?,
        })
    }

    /// Writes the policy for a cgroup. The policy entry goes last: until it
    /// exists the programs treat the cgroup as unmanaged.
    /// `denied_files` are the files files.deny covers in the container's
    /// rootfs, so that other names for them are denied too.
    pub fn install(
        &self,
        cgroup_id: u64,
        policy: &Policy,
        denied_files: &[FileId],
        start: FunctionStart,
    ) -> Result<(), BpfError> {
        let mut flags = 0;
        if let Some(table) = &policy.egress_table {
            flags |= FLAG_EGRESS;
            self.write_table(cgroup_id, table, [&self.egress_v4, &self.egress_v6], "egress")?;
        }
        if let Some(table) = &policy.ingress_table {
            flags |= layout::FLAG_INGRESS;
            self.write_table(cgroup_id, table, [&self.ingress_v4, &self.ingress_v6], "ingress")?;
        }
        if policy.mode == Mode::Audit {
            flags |= FLAG_AUDIT;
        }
        let lists = &policy.paths;
        for (set, flag) in [
            (lists.read.is_some(), FLAG_FILES_READ),
            (lists.write.is_some(), FLAG_FILES_WRITE),
            (lists.exec.is_some(), FLAG_EXEC),
            (!lists.is_empty(), FLAG_PATHS),
        ] {
            if set {
                flags |= flag;
            }
        }
        for entry in policy.path_entries() {
            self.paths
                .update(
                    &layout::path_key(cgroup_id, &entry),
                    &layout::path_rule(&entry),
                    MapFlags::ANY,
                )
                .map_err(BpfError::libbpf(format!(
                    "writing path rule {:?} of cgroup {cgroup_id}",
                    String::from_utf8_lossy(&entry.key)
                )))?;
        }
        for file in denied_files {
            self.inodes
                .update(
                    &layout::inode_key(cgroup_id, file),
                    &[layout::RULE_FILES_DENY],
                    MapFlags::ANY,
                )
                .map_err(BpfError::libbpf(format!(
                    "writing denied inode {file:?} of cgroup {cgroup_id}"
                )))?;
        }
        if !denied_files.is_empty() {
            flags |= FLAG_INODES;
        }
        if policy.bind.is_some() {
            flags |= layout::FLAG_BIND;
        }
        if policy.dns.is_some() {
            flags |= layout::FLAG_DNS;
        }
        if policy.sockets.is_some() {
            flags |= layout::FLAG_SOCKETS;
        }
        if policy.limits.limits_connections() {
            flags |= layout::FLAG_CONNECTION_LIMITS;
        }
        if policy.mode == Mode::Enforce && policy.limits.paces_connections() {
            flags |= layout::FLAG_PACED;
        }
        let key = cgroup_id.to_ne_bytes();
        self.usage
            .update(
                &key,
                &usage_value(&policy.limits, start.init_pid, start.tasks),
                MapFlags::ANY,
            )
            .map_err(BpfError::libbpf(format!("writing limits of cgroup {cgroup_id}")))?;
        let net = layout::net_policy_value(
            policy.bind.as_deref(),
            policy.dns.as_deref(),
            &policy.scan,
            policy.sockets,
        );
        self.net
            .update(&key, &net, MapFlags::ANY)
            .map_err(BpfError::libbpf(format!(
                "writing network policy of cgroup {cgroup_id}"
            )))?;
        let mut stats = [0u8; layout::STATS_SIZE];
        let at = STATS_START_NS * 8;
        stats[at..at + 8].copy_from_slice(&monotonic_ns().to_ne_bytes());
        self.stats
            .update(&key, &stats, MapFlags::ANY)
            .map_err(BpfError::libbpf(format!("creating counters of cgroup {cgroup_id}")))?;
        self.policy
            .update(
                &key,
                &layout::policy_value(flags, cgroup_id, &policy.rules, realtime_ns()),
                MapFlags::ANY,
            )
            .map_err(BpfError::libbpf(format!("writing policy of cgroup {cgroup_id}")))
    }

    /// Deletes the entries [`install`](Self::install) wrote for this policy.
    pub fn remove(&self, cgroup_id: u64, policy: &Policy, denied_files: &[FileId]) -> Result<RemovedEntries, BpfError> {
        let mut removed = self.remove_cgroup_entries(cgroup_id)?;
        let tables = [
            (&policy.egress_table, [&self.egress_v4, &self.egress_v6]),
            (&policy.ingress_table, [&self.ingress_v4, &self.ingress_v6]),
        ];
        for (table, [v4, v6]) in tables {
            for prefix in table.iter().flat_map(|t| &t.prefixes) {
                let map = if prefix.cidr.is_v4() { v4 } else { v6 };
                if delete_if_present(map, &layout::lpm_key(cgroup_id, &prefix.cidr))? {
                    removed.prefixes += 1;
                }
            }
        }
        for entry in policy.path_entries() {
            if delete_if_present(&self.paths, &layout::path_key(cgroup_id, &entry))? {
                removed.prefixes += 1;
            }
        }
        for file in denied_files {
            if delete_if_present(&self.inodes, &layout::inode_key(cgroup_id, file))? {
                removed.prefixes += 1;
            }
        }
        Ok(removed)
    }

    /// Deletes every entry of a cgroup whose policy is unknown, by scanning
    /// the prefix maps. For `gc`; poststop uses [`remove`](Self::remove).
    pub fn purge(&self, cgroup_id: u64) -> Result<RemovedEntries, BpfError> {
        let mut removed = self.remove_cgroup_entries(cgroup_id)?;
        removed.prefixes += self.remove_aliases(cgroup_id)? + self.remove_processes(cgroup_id)?;
        for map in self.keyed_by_cgroup_and_more() {
            let keys: Vec<Vec<u8>> = map.keys().filter(|k| key_cgroup(map, k) == Some(cgroup_id)).collect();
            for key in keys {
                if delete_if_present(map, &key)? {
                    removed.prefixes += 1;
                }
            }
        }
        Ok(removed)
    }

    /// True when the cgroup has a policy entry.
    pub fn is_managed(&self, cgroup_id: u64) -> Result<bool, BpfError> {
        let value = self
            .policy
            .lookup(&cgroup_id.to_ne_bytes(), MapFlags::ANY)
            .map_err(BpfError::libbpf(format!("reading policy of cgroup {cgroup_id}")))?;
        Ok(value.is_some())
    }

    pub fn stats(&self, cgroup_id: u64) -> Result<Option<CgroupStats>, BpfError> {
        let value = self
            .stats
            .lookup(&cgroup_id.to_ne_bytes(), MapFlags::ANY)
            .map_err(BpfError::libbpf(format!("reading counters of cgroup {cgroup_id}")))?;
        Ok(value.map(|v| CgroupStats::decode(&v)))
    }

    pub fn usage(&self, cgroup_id: u64) -> Result<Option<Usage>, BpfError> {
        let value = self
            .usage
            .lookup(&cgroup_id.to_ne_bytes(), MapFlags::ANY)
            .map_err(BpfError::libbpf(format!("reading resource use of cgroup {cgroup_id}")))?;
        Ok(value.map(|v| Usage::decode(&v)))
    }

    /// Every cgroup id that has an entry in any policy map.
    pub fn cgroups(&self) -> BTreeSet<u64> {
        let mut ids = BTreeSet::new();
        for map in [&self.policy, &self.stats, &self.net, &self.usage] {
            ids.extend(
                map.keys()
                    .filter_map(|k| Some(u64::from_ne_bytes(k.as_slice().try_into().ok()?))),
            );
        }
        for map in self.keyed_by_cgroup_and_more() {
            ids.extend(map.keys().filter_map(|k| key_cgroup(map, &k)));
        }
        ids
    }

    /// The maps whose keys hold a cgroup id and more (a prefix, an inode).
    fn keyed_by_cgroup_and_more(&self) -> [&MapHandle; 6] {
        [
            &self.egress_v4,
            &self.egress_v6,
            &self.ingress_v4,
            &self.ingress_v6,
            &self.paths,
            &self.inodes,
        ]
    }

    /// Writes an address table (egress or ingress) into its IPv4 and IPv6 tries.
    fn write_table(
        &self,
        cgroup_id: u64,
        table: &fnguard_policy::EgressTable,
        [v4, v6]: [&MapHandle; 2],
        what: &str,
    ) -> Result<(), BpfError> {
        for prefix in &table.prefixes {
            let map = if prefix.cidr.is_v4() { v4 } else { v6 };
            map.update(
                &layout::lpm_key(cgroup_id, &prefix.cidr),
                &layout::egress_value(&prefix.rules),
                MapFlags::ANY,
            )
            .map_err(BpfError::libbpf(format!(
                "writing {what} prefix {} of cgroup {cgroup_id}",
                prefix.cidr
            )))?;
        }
        Ok(())
    }

    /// Policy first, so the programs stop enforcing before the prefixes go.
    /// Aliases of child cgroups go with the children's rmdir; `purge`
    /// finds any left.
    fn remove_cgroup_entries(&self, cgroup_id: u64) -> Result<RemovedEntries, BpfError> {
        let key = cgroup_id.to_ne_bytes();
        let was_terminating = self.stats(cgroup_id)?.is_some_and(|s| s.terminated_by.is_some());
        let removed = RemovedEntries {
            policy: delete_if_present(&self.policy, &key)?,
            stats: delete_if_present(&self.stats, &key)?,
            prefixes: usize::from(delete_if_present(&self.net, &key)?)
                + usize::from(delete_if_present(&self.usage, &key)?),
        };
        if was_terminating && removed.stats {
            self.function_terminated()?;
        }
        Ok(removed)
    }

    /// Memory entries of processes whose exit the programs did not see
    /// (a process that left the function's cgroup). Scans the whole map:
    /// for `gc`, not for every poststop.
    fn remove_processes(&self, cgroup_id: u64) -> Result<usize, BpfError> {
        // struct fng_proc_rss: the owner first.
        delete_where(&self.procs, |v| v.len() >= 8 && layout::u64_at(v, 0) == cgroup_id)
    }

    /// A function that a limit terminated is gone: the node's count of
    /// functions being terminated (which makes every system call exit look
    /// for them) goes down by one. The programs only ever add to it, once
    /// per function.
    fn function_terminated(&self) -> Result<(), BpfError> {
        let zero = 0u32.to_ne_bytes();
        let what = || format!("the node state map {}", self.node.name().to_string_lossy());
        let value = self
            .node
            .lookup(&zero, MapFlags::ANY)
            .map_err(BpfError::libbpf(format!("reading {}", what())))?;
        let count = value.map_or(0, |v| layout::u64_at(&v, 0));
        self.node
            .update(&zero, &count.saturating_sub(1).to_ne_bytes(), MapFlags::ANY)
            .map_err(BpfError::libbpf(format!("writing {}", what())))
    }

    /// Policy entries of child cgroups that name `cgroup_id` as their owner.
    fn remove_aliases(&self, cgroup_id: u64) -> Result<usize, BpfError> {
        delete_where(&self.policy, |v| layout::policy_owner(v) == Some(cgroup_id))
    }
}

/// The cgroup id in a key of one of the keyed-by-cgroup maps.
fn key_cgroup(map: &MapHandle, key: &[u8]) -> Option<u64> {
    if map.name() == "fng_inodes" {
        Some(u64::from_ne_bytes(key.get(..8)?.try_into().ok()?))
    } else {
        layout::lpm_key_cgroup(key)
    }
}

/// CLOCK_MONOTONIC, the clock of bpf_ktime_get_ns.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is a valid timespec to write into.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn realtime_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Deletes every entry of `map` whose value matches; returns how many went.
fn delete_where(map: &MapHandle, matches: impl Fn(&[u8]) -> bool) -> Result<usize, BpfError> {
    let keys: Vec<Vec<u8>> = map
        .keys()
        .filter(|k| map.lookup(k, MapFlags::ANY).ok().flatten().is_some_and(|v| matches(&v)))
        .collect();
    let mut removed = 0;
    for key in keys {
        if delete_if_present(map, &key)? {
            removed += 1;
        }
    }
    Ok(removed)
}

fn delete_if_present(map: &MapHandle, key: &[u8]) -> Result<bool, BpfError> {
    match map.delete(key) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == libbpf_rs::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(BpfError::Libbpf {
            what: format!("deleting an entry of map {}", map.name().to_string_lossy()),
            source: e,
        }),
    }
}
