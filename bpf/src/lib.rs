//! fnguard's kernel side. The only crate that talks to libbpf: loads the BPF
//! objects once per node and pins them, attaches them per cgroup, writes
//! policies into maps and decodes events. Every bpffs path is spelt in
//! [`paths`].

mod cgroup_link;
mod error;
pub mod events;
mod layout;
mod node;
pub mod paths;
mod policy_maps;

mod skel {
    #![allow(clippy::all, unsafe_op_in_unsafe_fn, dead_code)]
    include!(concat!(env!("OUT_DIR"), "/net.skel.rs"));
}

pub use cgroup_link::{attach_cgroup_programs, detach_cgroup_programs, pinned_link_cgroups};
pub use error::BpfError;
pub use events::{Event, EventReader, NetEvent};
pub use node::{ensure_loaded, is_loaded, LoadOutcome};
pub use paths::{PinLayout, ABI};
pub use policy_maps::{CgroupStats, PolicyMaps};
