//! Where this node keeps fnguard's pins and records. Both are flags (and
//! environment variables, which a hook entry in config.json can set), so
//! tests and side-by-side installs use their own.

use std::path::PathBuf;

use fnguard_bpf::PinLayout;

use crate::records::RecordStore;

pub const DEFAULT_RUN_DIR: &str = "/run/fnguard";

#[derive(Debug, Clone)]
pub struct Settings {
    pub pin_root: PathBuf,
    pub run_dir: PathBuf,
}

impl Settings {
    pub fn layout(&self) -> PinLayout {
        PinLayout::new(&self.pin_root)
    }

    pub fn records(&self) -> RecordStore {
        RecordStore::new(&self.run_dir)
    }
}
