//! The `fnguard` binary's library: the OCI hook and the operator commands,
//! one module per subcommand under `commands/`.

pub mod bundle;
pub mod cgroup;
pub mod commands;
pub mod denied_files;
pub mod node_lock;
pub mod node_maps;
pub mod records;
pub mod settings;
pub mod state;
pub mod teardown;
pub mod usage_text;
