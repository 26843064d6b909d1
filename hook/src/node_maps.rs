//! The pinned policy maps of each build a node's containers were recorded
//! with, opened once per command however many containers share them.

use std::collections::HashMap;

use anyhow::Result;
use fnguard_bpf::{is_loaded, PinLayout, PolicyMaps};

use crate::records::ContainerRecord;
use crate::settings::Settings;

pub struct MapsByAbi<'s> {
    settings: &'s Settings,
    /// `None`: that build's objects are not pinned (any more).
    opened: HashMap<String, Option<PolicyMaps>>,
}

impl<'s> MapsByAbi<'s> {
    pub fn new(settings: &'s Settings) -> Self {
        MapsByAbi {
            settings,
            opened: HashMap::new(),
        }
    }

    /// The maps holding this container's entries, if its build is loaded.
    pub fn of(&mut self, record: &ContainerRecord) -> Result<Option<&PolicyMaps>> {
        if !self.opened.contains_key(&record.abi) {
            let layout = PinLayout::for_abi(&self.settings.pin_root, &record.abi);
            let maps = if is_loaded(&layout) {
                Some(PolicyMaps::open(&layout)?)
            } else {
                None
            };
            self.opened.insert(record.abi.clone(), maps);
        }
        Ok(self.opened[&record.abi].as_ref())
    }
}
