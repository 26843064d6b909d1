//! One lock per node: hooks, `gc` and loads of the BPF objects serialise on
//! it, so two containers starting at once never load twice and `gc` never
//! removes what a hook is creating.

use std::fs::{self, File, OpenOptions};
use std::path::Path;

use anyhow::{Context, Result};
use nix::fcntl::{Flock, FlockArg};

pub struct NodeLock {
    _flock: Flock<File>,
}

impl NodeLock {
    /// Blocks until the lock is ours; released on drop.
    pub fn acquire(run_dir: &Path) -> Result<Self> {
        fs::create_dir_all(run_dir).with_context(|| format!("creating run directory {}", run_dir.display()))?;
        let path = run_dir.join("lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening node lock {}", path.display()))?;
        let flock = Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, errno)| errno)
            .with_context(|| format!("locking {}", path.display()))?;
        Ok(NodeLock { _flock: flock })
    }
}
