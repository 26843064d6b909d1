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
mod usage;

/// One generated skeleton per `<concern>.bpf.c`.
mod skel {
    #![allow(clippy::all, unsafe_op_in_unsafe_fn, dead_code)]
    mod net {
        include!(concat!(env!("OUT_DIR"), "/net.skel.rs"));
    }
    mod exec {
        include!(concat!(env!("OUT_DIR"), "/exec.skel.rs"));
    }
    mod file {
        include!(concat!(env!("OUT_DIR"), "/file.skel.rs"));
    }
    mod file_compat {
        include!(concat!(env!("OUT_DIR"), "/file_compat.skel.rs"));
    }
    mod lsm {
        include!(concat!(env!("OUT_DIR"), "/lsm.skel.rs"));
    }
    mod resources {
        include!(concat!(env!("OUT_DIR"), "/resources.skel.rs"));
    }
    mod resources_compat {
        include!(concat!(env!("OUT_DIR"), "/resources_compat.skel.rs"));
    }
    pub use exec::ExecSkelBuilder;
    pub use file::FileSkelBuilder;
    pub use file_compat::FileCompatSkelBuilder;
    pub use lsm::LsmSkelBuilder;
    pub use net::NetSkelBuilder;
    pub use resources::ResourcesSkelBuilder;
    pub use resources_compat::ResourcesCompatSkelBuilder;
}

pub use cgroup_link::{attach_cgroup_programs, detach_cgroup_programs, pinned_link_cgroups, Optional};
pub use error::BpfError;
pub use events::{
    Event, EventReader, ExecEvent, Header, LimitEvent, NetEvent, OpenEvent, SocketEvent, StopEvent, ThrottledEvent,
};
pub use node::{
    ensure_loaded, file_enforcement, is_loaded, kernel_signals_other_tasks, unwatch_syscalls, watch_syscalls,
    LoadOutcome, OPEN_MONITOR_ENV,
};
pub use paths::{PinLayout, ABI};
pub use policy_maps::{monotonic_ns, CgroupStats, FileId, FunctionStart, PolicyMaps};
pub use usage::Usage;
