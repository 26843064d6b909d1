//! Every bpffs path fnguard uses. No other file spells one.
//!
//! ```text
//! <root>/<abi>/maps/<map>
//! <root>/<abi>/progs/<prog>
//! <root>/<abi>/links/global/<prog>
//! <root>/<abi>/links/<cgroup-id>/<prog>
//! ```
//! `<abi>` is derived from the compiled objects, so an upgrade never reuses
//! maps of another layout.

use std::path::{Path, PathBuf};

/// Default pin root on a node.
pub const DEFAULT_PIN_ROOT: &str = "/sys/fs/bpf/fnguard";

/// Fingerprint of the compiled BPF objects.
pub const ABI: &str = env!("FNGUARD_BPF_ABI");

#[derive(Clone, Debug)]
pub struct PinLayout {
    root: PathBuf,
    abi_dir: PathBuf,
}

impl PinLayout {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        let abi_dir = root.join(ABI);
        PinLayout { root, abi_dir }
    }

    /// The layout of another build's objects, e.g. for a container recorded
    /// before an upgrade.
    pub fn for_abi(root: impl Into<PathBuf>, abi: &str) -> Self {
        let root = root.into();
        let abi_dir = root.join(abi);
        PinLayout { root, abi_dir }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn abi_dir(&self) -> &Path {
        &self.abi_dir
    }

    pub fn maps_dir(&self) -> PathBuf {
        self.abi_dir.join("maps")
    }

    pub fn progs_dir(&self) -> PathBuf {
        self.abi_dir.join("progs")
    }

    pub fn links_dir(&self) -> PathBuf {
        self.abi_dir.join("links")
    }

    pub fn map(&self, name: &str) -> PathBuf {
        self.maps_dir().join(name)
    }

    pub fn prog(&self, name: &str) -> PathBuf {
        self.progs_dir().join(name)
    }

    /// Links of the programs attached node-wide (tracepoints).
    pub fn global_links_dir(&self) -> PathBuf {
        self.links_dir().join("global")
    }

    pub fn cgroup_links_dir(&self, cgroup_id: u64) -> PathBuf {
        self.links_dir().join(cgroup_id.to_string())
    }
}
