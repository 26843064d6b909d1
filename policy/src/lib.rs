//! Turns a container's `fnguard.io/` annotations into a validated [`Policy`]
//! and the entries its kernel maps need. No root, no kernel: everything here
//! is testable as plain Rust.

mod annotations;
mod cidr;
mod egress;
mod egress_table;
mod error;
pub mod limits;
pub mod network;
mod paths;
pub mod rules;

pub use annotations::{
    Mode, Policy, ANNOTATION_PREFIX, KEY_BIND, KEY_DNS, KEY_EGRESS, KEY_EXEC, KEY_FILES_DENY, KEY_FILES_READ,
    KEY_FILES_WRITE, KEY_FUNCTION, KEY_MODE, KEY_RULES_DISABLE, KEY_RULES_KILL, KEY_SCAN, KEY_SOCKETS, KNOWN_KEYS,
};
pub use cidr::Cidr;
pub use egress::{EgressRule, PortRange, Protocols};
pub use egress_table::{EgressTable, PrefixRules, MAX_PORT_RULES_PER_PREFIX};
pub use error::PolicyError;
pub use paths::{DetectionPath, PathEntry, PathList, PathLists, PathVerdicts, Verdict, MAX_PATH_PREFIXES};
