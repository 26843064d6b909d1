//! One JSON record per managed container under `<run dir>/containers/`:
//! what poststop, `status`, `gc` and `events` need to know about it.
//!
//! A stopped container's record moves to `<run dir>/history/<cgroup-id>.json`
//! for [`HISTORY_TTL`], so events still queued when it stopped keep their
//! container and function; older history is pruned on every retirement.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerRecord {
    pub id: String,
    pub bundle: PathBuf,
    pub pid: i32,
    pub cgroup_id: u64,
    pub cgroup_dir: PathBuf,
    pub function: Option<String>,
    pub mode: String,
    pub policy_summary: String,
    pub policy_digest: String,
    /// The `fnguard.io/` annotations, so the map entries can be recomputed.
    pub annotations: BTreeMap<String, String>,
    /// Files files.deny covers by identity, so their map entries can be removed.
    #[serde(default)]
    pub denied_files: Vec<fnguard_bpf::FileId>,
    /// ABI of the BPF objects whose maps hold this container's entries.
    pub abi: String,
    pub created_unix_ms: u64,
}

/// How long a stopped container stays attributable.
pub const HISTORY_TTL: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, Clone)]
pub struct RecordStore {
    dir: PathBuf,
    history: PathBuf,
}

impl RecordStore {
    pub fn new(run_dir: &Path) -> Self {
        RecordStore {
            dir: run_dir.join("containers"),
            history: run_dir.join("history"),
        }
    }

    /// Moves a stopped container's record to the history and prunes
    /// history older than [`HISTORY_TTL`]. Returns whether a live record was there.
    pub fn retire(&self, record: &ContainerRecord) -> Result<bool> {
        fs::create_dir_all(&self.history).with_context(|| format!("creating {}", self.history.display()))?;
        let path = self.history.join(format!("{}.json", record.cgroup_id));
        let text = serde_json::to_vec(record).context("encoding container record")?;
        fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        self.prune_history(HISTORY_TTL);
        self.remove(&record.id)
    }

    /// The record of a running or recently stopped container by cgroup id.
    pub fn find_by_cgroup(&self, cgroup_id: u64) -> Option<ContainerRecord> {
        if let Ok(live) = self.list() {
            if let Some(record) = live.into_iter().find(|r| r.cgroup_id == cgroup_id) {
                return Some(record);
            }
        }
        let bytes = fs::read(self.history.join(format!("{cgroup_id}.json"))).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Removes history entries older than `ttl`; returns how many.
    pub fn prune_history(&self, ttl: Duration) -> usize {
        let Ok(entries) = fs::read_dir(&self.history) else {
            return 0;
        };
        let now = SystemTime::now();
        let mut pruned = 0;
        for entry in entries.flatten() {
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .map(|t| now.duration_since(t).unwrap_or_default() >= ttl)
                .unwrap_or(false);
            if old && fs::remove_file(entry.path()).is_ok() {
                pruned += 1;
            }
        }
        pruned
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    /// Writes atomically: a reader sees the old record or the new one.
    pub fn write(&self, record: &ContainerRecord) -> Result<()> {
        fs::create_dir_all(&self.dir).with_context(|| format!("creating {}", self.dir.display()))?;
        let path = self.path(&record.id);
        let tmp = self.dir.join(format!(".{}.tmp", record.id));
        let text = serde_json::to_vec_pretty(record).context("encoding container record")?;
        fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
        fs::rename(&tmp, &path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
    }

    pub fn read(&self, id: &str) -> Result<Option<ContainerRecord>> {
        let path = self.path(id);
        match fs::read(&path) {
            Ok(bytes) => Ok(Some(
                serde_json::from_slice(&bytes).with_context(|| format!("parsing record {}", path.display()))?,
            )),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading record {}", path.display())),
        }
    }

    /// Returns whether a record was there.
    pub fn remove(&self, id: &str) -> Result<bool> {
        let path = self.path(id);
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e).with_context(|| format!("removing record {}", path.display())),
        }
    }

    /// True when no container is recorded; reads the directory, not the records.
    pub fn is_empty(&self) -> bool {
        fs::read_dir(&self.dir)
            .map(|entries| {
                !entries.flatten().any(|e| {
                    e.file_name()
                        .to_str()
                        .is_some_and(|n| n.ends_with(".json") && !n.starts_with('.'))
                })
            })
            .unwrap_or(true)
    }

    /// Every record, sorted by container id. Unreadable files are reported, not fatal.
    pub fn list(&self) -> Result<Vec<ContainerRecord>> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).with_context(|| format!("reading {}", self.dir.display())),
        };
        let mut records = Vec::new();
        for entry in entries {
            let path = entry.with_context(|| format!("reading {}", self.dir.display()))?.path();
            let Some(id) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".json"))
            else {
                continue;
            };
            match self.read(id) {
                Ok(Some(record)) => records.push(record),
                Ok(None) => {}
                Err(e) => log::warn!("{e:#}"),
            }
        }
        records.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> ContainerRecord {
        ContainerRecord {
            id: id.into(),
            bundle: "/b".into(),
            pid: 1,
            cgroup_id: 7,
            cgroup_dir: "/sys/fs/cgroup/x".into(),
            function: Some("f".into()),
            mode: "enforce".into(),
            policy_summary: "enforce; egress none".into(),
            policy_digest: "00".into(),
            annotations: BTreeMap::from([("fnguard.io/egress".into(), "none".into())]),
            denied_files: vec![],
            abi: "abc".into(),
            created_unix_ms: 1,
        }
    }

    #[test]
    fn write_read_list_remove() {
        let run = tempfile::tempdir().unwrap();
        let store = RecordStore::new(run.path());
        assert_eq!(store.list().unwrap(), vec![]);
        assert!(store.is_empty());
        store.write(&record("b")).unwrap();
        assert!(!store.is_empty());
        store.write(&record("a")).unwrap();
        assert_eq!(store.read("a").unwrap(), Some(record("a")));
        let ids: Vec<String> = store.list().unwrap().into_iter().map(|r| r.id).collect();
        assert_eq!(ids, ["a", "b"]);
        assert!(store.remove("a").unwrap());
        assert!(!store.remove("a").unwrap());
        assert_eq!(store.read("a").unwrap(), None);
    }

    #[test]
    fn retired_records_stay_findable_until_pruned() {
        let run = tempfile::tempdir().unwrap();
        let store = RecordStore::new(run.path());
        store.write(&record("a")).unwrap();
        assert_eq!(store.find_by_cgroup(7).unwrap().id, "a");
        assert!(store.retire(&record("a")).unwrap());
        assert_eq!(store.list().unwrap(), vec![]);
        assert_eq!(store.find_by_cgroup(7).unwrap().id, "a");
        assert_eq!(store.find_by_cgroup(8), None);
        assert_eq!(store.prune_history(HISTORY_TTL), 0);
        assert_eq!(store.prune_history(Duration::ZERO), 1);
        assert_eq!(store.find_by_cgroup(7), None);
    }
}
