//! `fnguard hook <stage>`: called by the runtime with the OCI state on stdin.
//!
//! createRuntime (or prestart) puts the container's policy in the kernel
//! before its first instruction; any failure undoes what was done and exits
//! non-zero so the runtime refuses to start the container. poststop removes
//! it all again and never fails, since a failing poststop breaks `runc delete`.

use std::io::Read;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use clap::ValueEnum;
use fnguard_bpf::{
    attach_cgroup_programs, ensure_loaded, watch_syscalls, FunctionStart, LoadOutcome, Optional, PolicyMaps, ABI,
};
use fnguard_policy::Policy;

use crate::bundle::{read_annotations, read_root_path};
use crate::cgroup;
use crate::denied_files;
use crate::node_lock::NodeLock;
use crate::records::ContainerRecord;
use crate::settings::Settings;
use crate::state::HookState;
use crate::teardown::remove_container;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Stage {
    /// Deprecated alias of createRuntime; podman's hooks.d maps it there.
    #[value(name = "prestart")]
    Prestart,
    #[value(name = "createRuntime", alias = "createruntime")]
    CreateRuntime,
    #[value(name = "poststop")]
    Poststop,
}

/// Runs the hook for `given`, or, when a hooks.d file names one command for
/// several stages, for the stage the state's status implies ("stopped" is
/// poststop). Returns the stage it ran, when the state could be read.
pub fn run(settings: &Settings, given: Option<Stage>, stdin: impl Read) -> (Option<Stage>, Result<()>) {
    let state = match HookState::read(stdin) {
        Ok(state) => state,
        Err(e) => return (given, Err(e)),
    };
    let stage = given.unwrap_or(if state.status == "stopped" {
        Stage::Poststop
    } else {
        Stage::CreateRuntime
    });
    let result = match stage {
        Stage::Prestart | Stage::CreateRuntime => create(settings, &state),
        Stage::Poststop => poststop(settings, &state),
    };
    (Some(stage), result)
}

fn create(settings: &Settings, state: &HookState) -> Result<()> {
    let annotations = read_annotations(&state.bundle)?;
    let Some(policy) = Policy::from_annotations(&annotations)? else {
        log::debug!("container {} has no fnguard.io/ annotation; not managed", state.id);
        return Ok(());
    };
    let pid = state.host_pid().with_context(|| {
        format!(
            "the OCI state of container {} has no pid (status {:?}); run `fnguard hook` as a createRuntime or prestart hook",
            state.id, state.status
        )
    })?;
    let cgroup = cgroup::resolve(pid).with_context(|| format!("container {}", state.id))?;

    let _lock = NodeLock::acquire(&settings.run_dir)?;
    let records = settings.records();
    let layout = settings.layout();
    if ensure_loaded(&layout).context("loading fnguard's BPF objects")? == LoadOutcome::Loaded {
        log::info!("loaded and pinned BPF objects under {}", layout.abi_dir().display());
    }
    let maps = PolicyMaps::open(&layout)?;
    // One map lookup, so the hook's cost does not grow with the containers running.
    if maps.is_managed(cgroup.id)? {
        if records.read(&state.id)?.is_some_and(|r| r.cgroup_id == cgroup.id) {
            // Both prestart and createRuntime configured: the first one did the work.
            log::info!("container {} is already managed (cgroup {})", state.id, cgroup.id);
            return Ok(());
        }
        let owner = records
            .find_by_cgroup(cgroup.id)
            .map_or_else(|| "another container".to_string(), |r| format!("container {}", r.id));
        bail!(
            "container {}: cgroup {} ({}) is already managed by {owner}; give each container its own cgroup",
            state.id,
            cgroup.id,
            cgroup.dir.display(),
        );
    }

    let denied_files = if policy.paths.deny.is_empty() {
        Vec::new()
    } else {
        let rootfs = denied_files::rootfs_of(&state.bundle, pid, &read_root_path(&state.bundle)?);
        denied_files::find(&rootfs, &policy.paths).with_context(|| format!("container {}", state.id))?
    };
    let record = ContainerRecord {
        id: state.id.clone(),
        bundle: state.bundle.clone(),
        pid,
        cgroup_id: cgroup.id,
        cgroup_dir: cgroup.dir.clone(),
        function: policy.function.clone(),
        mode: policy.mode.to_string(),
        policy_summary: policy.summary(),
        policy_digest: policy.digest(),
        annotations: policy.annotations.clone(),
        denied_files,
        abi: ABI.to_string(),
        created_unix_ms: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0),
    };
    let applied = (|| -> Result<()> {
        let start = FunctionStart {
            init_pid: pid as u32,
            tasks: cgroup::live_tasks(&cgroup.dir, pid),
        };
        maps.install(cgroup.id, &policy, &record.denied_files, start)
            .with_context(|| format!("writing the policy of container {}", state.id))?;
        let optional: Vec<Optional> = [
            (policy.bind.is_some(), Optional::Bind),
            (policy.sockets.is_some(), Optional::Sockets),
        ]
        .into_iter()
        .filter_map(|(needed, program)| needed.then_some(program))
        .collect();
        attach_cgroup_programs(&layout, cgroup.id, &cgroup.dir, &optional)
            .with_context(|| format!("attaching to the cgroup of container {}", state.id))?;
        watch_syscalls(&layout).context("attaching the system call monitor")?;
        records.write(&record)
    })();
    if let Err(error) = applied {
        if let Err(undo) = remove_container(&settings.pin_root, &records, &record) {
            log::error!("undoing container {} after a failed hook: {undo:#}", state.id);
        }
        return Err(error);
    }
    log::info!(
        "container {} managed: cgroup {} ({})",
        state.id,
        cgroup.id,
        policy.summary()
    );
    Ok(())
}

fn poststop(settings: &Settings, state: &HookState) -> Result<()> {
    let _lock = NodeLock::acquire(&settings.run_dir)?;
    let records = settings.records();
    let Some(record) = records.read(&state.id)? else {
        log::debug!("container {} has no fnguard record; nothing to remove", state.id);
        return Ok(());
    };
    let removed = remove_container(&settings.pin_root, &records, &record)?;
    log::info!("container {} stopped: removed {removed}", state.id);
    // The system call monitor stays attached: detaching and attaching it again costs
    // each short-lived function milliseconds. `fnguard gc` detaches it when idle.
    Ok(())
}
