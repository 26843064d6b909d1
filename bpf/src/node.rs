//! Loads the BPF objects once per node and pins them. Callers serialise on
//! the node lock (see the hook); a second container finds the pins and only
//! reuses them.
//!
//! The net object is loaded first and pins the shared maps; the exec and
//! file objects reuse those pins, so every program sees one policy and one
//! event ring. Tracepoint programs are attached here, node-wide, and their
//! links pinned; they return at once for tasks outside managed cgroups.

use std::ffi::CString;
use std::fs;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use libbpf_rs::skel::{OpenSkel, Skel, SkelBuilder};
use libbpf_rs::{MapCore, Object, OpenObject};

use crate::cgroup_link::CGROUP_PROGRAMS;
use crate::error::BpfError;
use crate::paths::PinLayout;
use crate::skel::{
    ExecSkelBuilder, FileCompatSkelBuilder, FileSkelBuilder, LsmSkelBuilder, NetSkelBuilder,
    ResourcesCompatSkelBuilder, ResourcesSkelBuilder,
};

/// `probe-read` selects the open monitor build for kernels before 6.2
/// where it would load anyway; read at the node's first load.
pub const OPEN_MONITOR_ENV: &str = "FNGUARD_OPEN_MONITOR";

/// Sets load-time constants (`const volatile` in the BPF source) of an
/// opened skeleton; every skeleton type has its own rodata struct.
macro_rules! set_rodata {
    ($open:expr, $($field:ident = $value:expr),+) => {
        if let Some(rodata) = $open.maps.rodata_data.as_deref_mut() {
            $(rodata.$field = $value;)+
        }
    };
}

/// Events one function may send per second before the rest are counted as
/// throttled; read at the node's first load.
pub const EVENT_BUDGET_ENV: &str = "FNGUARD_EVENTS_PER_SEC";
const DEFAULT_EVENT_BUDGET: u64 = 20_000;

fn event_budget() -> Result<u64, BpfError> {
    match std::env::var(EVENT_BUDGET_ENV) {
        Err(_) => Ok(DEFAULT_EVENT_BUDGET),
        Ok(text) => text.trim().parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| {
            BpfError::Setting(format!(
                "{EVENT_BUDGET_ENV}={text:?} is not a count of events per second; unset it for {DEFAULT_EVENT_BUDGET}"
            ))
        }),
    }
}

/// Maps every object shares, pinned under `maps/`.
pub(crate) const MAP_NAMES: &[&str] = &[
    "fng_policy",
    "fng_egress_v4",
    "fng_egress_v6",
    "fng_ingress_v4",
    "fng_ingress_v6",
    "fng_paths",
    "fng_inodes",
    "fng_stats",
    "fng_net",
    "fng_usage",
    "fng_procs",
    "fng_node",
    "fng_events",
];

/// Programs attached node-wide at load, their links pinned under `links/global/`.
pub(crate) const GLOBAL_PROGRAMS: &[&str] = &[
    "fng_exec",
    "fng_cgroup_mkdir",
    "fng_cgroup_rmdir",
    "fng_fork",
    "fng_task_exit",
    "fng_rss",
    "fng_tcp_state",
];

/// Programs of the resources object, for undoing a build that failed half way.
const RESOURCE_PROGRAMS: &[&str] = &[
    "fng_fork",
    "fng_task_exit",
    "fng_rss",
    "fng_tcp_state",
    CPU_TICK_PROGRAM,
];

/// Samples the running task's CPU time on every CPU (one perf cpu-clock
/// event per online CPU, links pinned as `fng_cpu_tick_cpu<N>`; bpffs
/// refuses dots in names).
pub(crate) const CPU_TICK_PROGRAM: &str = "fng_cpu_tick";
/// CPU time between samples on a busy CPU.
const CPU_TICK_PERIOD_NS: u64 = 10_000_000;
const ONLINE_CPUS: &str = "/sys/devices/system/cpu/online";

/// BPF-LSM programs, attached node-wide where the kernel runs them.
pub(crate) const LSM_PROGRAMS: &[&str] = &["fng_lsm_file_open", "fng_lsm_bprm_check", "fng_lsm_socket_create"];

/// Runs the system call detection rules, and sees opens where BPF-LSM does
/// not run. Any program at syscall exit sends every syscall of every task on
/// the node through the kernel's slow exit path, so it is attached by the
/// first managed container and detached by `fnguard gc` once none is (see
/// [`watch_syscalls`]).
pub(crate) const SYSCALL_EXIT_PROGRAM: &str = "fng_sys_exit";

const ACTIVE_LSMS: &str = "/sys/kernel/security/lsm";

const BPF_FS_MAGIC: i64 = 0xcafe4a11;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadOutcome {
    /// The objects were already pinned; nothing was loaded.
    Reused,
    /// The objects were loaded, verified and pinned now.
    Loaded,
}

/// True when every map, program and node-wide link of this ABI is pinned,
/// with opens watched by BPF-LSM or else at syscall exit.
pub fn is_loaded(layout: &PinLayout) -> bool {
    let attached = |p: &str| layout.prog(p).exists() && layout.global_links_dir().join(p).exists();
    MAP_NAMES.iter().all(|m| layout.map(m).exists())
        && CGROUP_PROGRAMS.iter().all(|p| layout.prog(p.name).exists())
        && GLOBAL_PROGRAMS.iter().all(|p| attached(p))
        && layout.prog(SYSCALL_EXIT_PROGRAM).exists()
        && layout.prog(CPU_TICK_PROGRAM).exists()
}

/// Makes sure system calls are watched (detection rules, and opens where
/// BPF-LSM does not judge them) and CPU time is sampled: the pinned
/// syscall-exit program is attached (once), the CPU sampling program on
/// each online CPU, and their links pinned.
pub fn watch_syscalls(layout: &PinLayout) -> Result<(), BpfError> {
    attach_cpu_tick(layout)?;
    let link_path = layout.global_links_dir().join(SYSCALL_EXIT_PROGRAM);
    if link_path.exists() {
        return Ok(());
    }
    let prog_path = layout.prog(SYSCALL_EXIT_PROGRAM);
    let prog = libbpf_rs::ProgramHandle::from_pinned_path(&prog_path).map_err(BpfError::libbpf(format!(
        "opening pinned program {}",
        prog_path.display()
    )))?;
    // SAFETY: the program fd is open; a NULL name attaches a tp_btf program to its own tracepoint.
    let rc = unsafe { libbpf_sys::bpf_raw_tracepoint_open(std::ptr::null(), prog.as_fd().as_raw_fd()) };
    if rc < 0 {
        return Err(BpfError::io("attaching the syscall-exit program", &prog_path)(
            std::io::Error::from_raw_os_error(-rc),
        ));
    }
    // SAFETY: rc is a fresh link fd that nothing else owns.
    let link = unsafe { OwnedFd::from_raw_fd(rc) };
    pin_fd(&link, &link_path)
}

/// Pins a link (or any BPF object) fd at `path`.
fn pin_fd(fd: &OwnedFd, path: &Path) -> Result<(), BpfError> {
    let c_path = CString::new(path.as_os_str().as_bytes()).expect("paths have no NUL");
    // SAFETY: the fd is open and c_path a valid C string.
    let rc = unsafe { libbpf_sys::bpf_obj_pin(fd.as_raw_fd(), c_path.as_ptr()) };
    if rc < 0 {
        return Err(BpfError::io("pinning link", path)(std::io::Error::from_raw_os_error(
            -rc,
        )));
    }
    Ok(())
}

/// Detaches the syscall-exit program when no container needs it any more.
/// Returns whether it was attached.
pub fn unwatch_syscalls(layout: &PinLayout) -> Result<bool, BpfError> {
    let link_path = layout.global_links_dir().join(SYSCALL_EXIT_PROGRAM);
    let attached = link_path.exists();
    unpin_links(layout, &[SYSCALL_EXIT_PROGRAM, CPU_TICK_PROGRAM])?;
    Ok(attached)
}

/// Loads and pins the node's objects unless they are pinned already.
pub fn ensure_loaded(layout: &PinLayout) -> Result<LoadOutcome, BpfError> {
    if is_loaded(layout) {
        return Ok(LoadOutcome::Reused);
    }
    fs::create_dir_all(layout.root()).map_err(BpfError::io("creating pin root", layout.root()))?;
    check_bpffs(layout.root())?;
    // Leftovers of a load that was interrupted half way: start over.
    for dir in [layout.maps_dir(), layout.progs_dir(), layout.global_links_dir()] {
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(BpfError::io("removing partial pins", &dir))?;
        }
        fs::create_dir_all(&dir).map_err(BpfError::io("creating pin directory", &dir))?;
    }

    let mut net_storage = MaybeUninit::uninit();
    let rate = event_budget()?;
    let mut open = NetSkelBuilder::default()
        .open(&mut net_storage)
        .map_err(BpfError::libbpf("opening the net BPF object"))?;
    set_rodata!(open, events_per_sec = rate);
    let mut net = open
        .load()
        .map_err(BpfError::libbpf("loading the net BPF object (verifier log above)"))?;
    pin_shared_maps(net.object_mut(), layout)?;
    publish(net.object_mut(), layout)?;

    // The exec object is verified on another CPU meanwhile: verification is
    // most of a first load. Only this thread silences libbpf (loads that
    // may be refused), which may hide the exec object's log in that window;
    // FNGUARD_LOG=debug shows everything.
    std::thread::scope(|scope| -> Result<(), BpfError> {
        let exec = scope.spawn(|| {
            load_reusing_maps(ExecSkelBuilder::default(), "exec", layout, |open| {
                set_rodata!(open, events_per_sec = rate)
            })
        });
        // Resource accounting. Where programs may signal another task (6.13 on),
        // a limit that kills also ends the function's init process at once.
        let signal_task = quietly(|| {
            load_reusing_maps(ResourcesSkelBuilder::default(), "resources", layout, |open| {
                set_rodata!(open, events_per_sec = rate)
            })
        });
        if let Err(why) = signal_task {
            log::debug!(
                "resource programs that signal a function's init not used ({why}); loading the compatible build"
            );
            unpublish(layout, RESOURCE_PROGRAMS)?;
            load_reusing_maps(
                ResourcesCompatSkelBuilder::default(),
                "resources (compatible)",
                layout,
                |open| set_rodata!(open, events_per_sec = rate),
            )?;
        }

        let lsm = load_lsm(layout, rate);
        if let Err(reason) = &lsm {
            log::info!("BPF-LSM not used ({reason}); file and exec violations are stopped with SIGKILL");
        }
        let opens_by_lsm = lsm.is_ok();

        // The syscall-exit program runs the system call detection rules, and
        // judges opens where BPF-LSM does not. Its plain-load build needs
        // bpf_rdonly_cast (6.2 on); older kernels get the probe-read build.
        let fast = match std::env::var(OPEN_MONITOR_ENV).as_deref() {
            Ok("probe-read") => Err("chosen by the environment".to_string()),
            _ => quietly(|| {
                load_reusing_maps(FileSkelBuilder::default(), "file", layout, |open| {
                    set_rodata!(open, opens_by_lsm = opens_by_lsm, events_per_sec = rate)
                })
            })
            .map_err(|e| e.to_string()),
        };
        if let Err(why) = fast {
            log::debug!("syscall-exit program with plain loads not used ({why}); loading the probe-read build");
            load_reusing_maps(FileCompatSkelBuilder::default(), "file (probe-read)", layout, |open| {
                set_rodata!(open, opens_by_lsm = opens_by_lsm, events_per_sec = rate)
            })?;
        }
        exec.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })?;

    if !is_loaded(layout) {
        return Err(BpfError::Incomplete(format!(
            "the BPF objects lack a map or program fnguard expects under {}",
            layout.abi_dir().display()
        )));
    }
    Ok(LoadOutcome::Loaded)
}

/// True when BPF programs may signal a task other than the current one
/// (the bpf_send_signal_task kfunc, kernel 6.13 on): a limit that kills then
/// ends the function's init process, and with it its pid namespace, at
/// once. The resource programs are loaded in the build that uses it.
pub fn kernel_signals_other_tasks() -> bool {
    fs::read_to_string("/proc/kallsyms")
        .map(|syms| syms.lines().any(|l| l.ends_with(" bpf_send_signal_task")))
        .unwrap_or(false)
}

/// How file and exec violations are stopped on this node: `bpf-lsm` when
/// the LSM programs are attached, else `sigkill`.
pub fn file_enforcement(layout: &PinLayout) -> &'static str {
    if LSM_PROGRAMS.iter().all(|p| layout.global_links_dir().join(p).exists()) {
        "bpf-lsm"
    } else {
        "sigkill"
    }
}

/// Loads and attaches the BPF-LSM object when the kernel runs BPF LSM
/// programs. Its failure is not an error: the tracing programs enforce.
fn load_lsm(layout: &PinLayout, rate: u64) -> Result<(), String> {
    match fs::read_to_string(ACTIVE_LSMS) {
        Ok(active) if !active.split(',').any(|l| l.trim() == "bpf") => {
            return Err(format!(
                "`bpf` is not among the active LSMs in {ACTIVE_LSMS}: {}",
                active.trim()
            ))
        }
        _ => {}
    }
    let mut storage = MaybeUninit::uninit();
    let mut open = LsmSkelBuilder::default()
        .open(&mut storage)
        .map_err(|e| format!("opening the LSM object: {e}"))?;
    set_rodata!(open, events_per_sec = rate);
    reuse_shared_maps(open.open_object_mut(), layout).map_err(|e| e.to_string())?;
    // A refusal is expected on many kernels and reported by the caller; keep
    // libbpf's verifier dump out of the runtime's output unless debugging.
    let mut lsm = quietly(|| open.load()).map_err(|e| format!("the kernel refused the LSM programs: {e}"))?;
    publish(lsm.object_mut(), layout).map_err(|e| {
        if let Err(undo) = unpublish(layout, LSM_PROGRAMS) {
            log::warn!("removing the LSM programs' pins after a failed attach: {undo}");
        }
        e.to_string()
    })
}

/// Runs `load` with libbpf's output (verifier dumps) silenced, unless
/// debugging: for loads whose refusal is expected on some kernels and
/// handled by the caller.
fn quietly<T>(load: impl FnOnce() -> T) -> T {
    let quiet = !log::log_enabled!(log::Level::Debug);
    let print = if quiet { libbpf_rs::set_print(None) } else { None };
    let result = load();
    if quiet {
        libbpf_rs::set_print(print);
    }
    result
}

/// Opens and loads an object that reuses the pinned shared maps, then pins
/// its programs and attaches its node-wide ones.
/// `configure` sets the object's load-time constants.
fn load_reusing_maps<B>(
    builder: B,
    what: &str,
    layout: &PinLayout,
    configure: impl for<'obj> FnOnce(&mut <B as SkelBuilder<'obj>>::Output),
) -> Result<(), BpfError>
where
    B: for<'obj> SkelBuilder<'obj>,
{
    let mut storage = MaybeUninit::uninit();
    let mut open = builder
        .open(&mut storage)
        .map_err(BpfError::libbpf(format!("opening the {what} BPF object")))?;
    configure(&mut open);
    reuse_shared_maps(open.open_object_mut(), layout)?;
    let mut loaded = open.load().map_err(BpfError::libbpf(format!(
        "loading the {what} BPF object (verifier log above)"
    )))?;
    publish(loaded.object_mut(), layout)
}

fn pin_shared_maps(object: &mut Object, layout: &PinLayout) -> Result<(), BpfError> {
    for mut map in object.maps_mut() {
        let name = map.name().to_string_lossy().into_owned();
        if MAP_NAMES.contains(&name.as_str()) {
            let path = layout.map(&name);
            map.pin(&path)
                .map_err(BpfError::libbpf(format!("pinning map at {}", path.display())))?;
        }
    }
    Ok(())
}

fn reuse_shared_maps(object: &mut OpenObject, layout: &PinLayout) -> Result<(), BpfError> {
    for mut map in object.maps_mut() {
        let name = map.name().to_string_lossy().into_owned();
        if MAP_NAMES.contains(&name.as_str()) {
            let path = layout.map(&name);
            map.reuse_pinned_map(&path)
                .map_err(BpfError::libbpf(format!("reusing pinned map {}", path.display())))?;
        }
    }
    Ok(())
}

/// Pins every program and attaches the node-wide ones.
fn publish(object: &mut Object, layout: &PinLayout) -> Result<(), BpfError> {
    for mut prog in object.progs_mut() {
        let name = prog.name().to_string_lossy().into_owned();
        let path = layout.prog(&name);
        prog.pin(&path)
            .map_err(BpfError::libbpf(format!("pinning program at {}", path.display())))?;
    }
    for name in GLOBAL_PROGRAMS.iter().chain(LSM_PROGRAMS) {
        attach_global(object, layout, name)?;
    }
    Ok(())
}

/// Removes the pins (programs and node-wide links) of these programs.
fn unpublish(layout: &PinLayout, programs: &[&str]) -> Result<(), BpfError> {
    unpin_links(layout, programs)?;
    for prog in programs {
        let path = layout.prog(prog);
        if path.exists() {
            fs::remove_file(&path).map_err(BpfError::io("unpinning program", &path))?;
        }
    }
    Ok(())
}

/// Removes the node-wide links of these programs (one per CPU for the CPU
/// sampler), which detaches them.
fn unpin_links(layout: &PinLayout, programs: &[&str]) -> Result<(), BpfError> {
    let links = layout.global_links_dir();
    let entries = match fs::read_dir(&links) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(BpfError::io("reading link directory", &links)(e)),
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if programs
            .iter()
            .any(|p| name == *p || name.strip_prefix(p).is_some_and(|r| r.starts_with("_cpu")))
        {
            fs::remove_file(entry.path()).map_err(BpfError::io("unpinning link", &entry.path()))?;
        }
    }
    Ok(())
}

/// Attaches the CPU sampling program to a cpu-clock perf event on each
/// online CPU and pins the links (the events live as long as the links).
/// CPUs brought online later are not sampled.
fn attach_cpu_tick(layout: &PinLayout) -> Result<(), BpfError> {
    let online =
        fs::read_to_string(ONLINE_CPUS).map_err(BpfError::io("reading online CPUs", Path::new(ONLINE_CPUS)))?;
    let prog_path = layout.prog(CPU_TICK_PROGRAM);
    let mut prog = None;
    for cpu in parse_cpu_list(&online) {
        let link_path = layout.global_links_dir().join(format!("{CPU_TICK_PROGRAM}_cpu{cpu}"));
        if link_path.exists() {
            continue;
        }
        if prog.is_none() {
            prog = Some(
                libbpf_rs::ProgramHandle::from_pinned_path(&prog_path).map_err(BpfError::libbpf(format!(
                    "opening pinned program {}",
                    prog_path.display()
                )))?,
            );
        }
        let prog = prog.as_ref().expect("opened above");
        // SAFETY: perf_event_attr is plain data; zero is a valid start.
        let mut attr: libbpf_sys::perf_event_attr = unsafe { std::mem::zeroed() };
        attr.type_ = libbpf_sys::PERF_TYPE_SOFTWARE;
        attr.config = u64::from(libbpf_sys::PERF_COUNT_SW_CPU_CLOCK);
        attr.size = std::mem::size_of::<libbpf_sys::perf_event_attr>() as u32;
        attr.__bindgen_anon_1.sample_period = CPU_TICK_PERIOD_NS;
        // No samples of the idle task.
        attr.set_exclude_idle(1);
        // SAFETY: attr is a valid perf_event_attr; pid -1 with a cpu opens a per-CPU event.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_perf_event_open,
                &attr as *const libbpf_sys::perf_event_attr,
                -1,
                cpu,
                -1,
                libbpf_sys::PERF_FLAG_FD_CLOEXEC as libc::c_ulong,
            )
        };
        if fd < 0 {
            return Err(BpfError::io(
                "opening a cpu-clock perf event for CPU sampling",
                &link_path,
            )(std::io::Error::last_os_error()));
        }
        // SAFETY: fd was just returned by the kernel and nothing else owns it.
        let event = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        // A BPF link of its own (libbpf may fall back to an ioctl, which cannot be pinned).
        // SAFETY: both fds are open; opts may be NULL.
        let rc = unsafe {
            libbpf_sys::bpf_link_create(
                prog.as_fd().as_raw_fd(),
                event.as_raw_fd(),
                libbpf_sys::BPF_PERF_EVENT,
                std::ptr::null(),
            )
        };
        if rc < 0 {
            return Err(BpfError::io("attaching the CPU sampling program", &link_path)(
                std::io::Error::from_raw_os_error(-rc),
            ));
        }
        // SAFETY: rc is a fresh link fd that nothing else owns.
        let link = unsafe { OwnedFd::from_raw_fd(rc) };
        pin_fd(&link, &link_path)?;
    }
    Ok(())
}

/// CPUs in a kernel CPU list (`0-3,8,10-11`).
fn parse_cpu_list(text: &str) -> Vec<i32> {
    text.trim()
        .split(',')
        .filter(|r| !r.is_empty())
        .flat_map(|range| {
            let (lo, hi) = range.split_once('-').unwrap_or((range, range));
            match (lo.trim().parse::<i32>(), hi.trim().parse::<i32>()) {
                (Ok(lo), Ok(hi)) => (lo..=hi).collect(),
                _ => Vec::new(),
            }
        })
        .collect()
}

/// Attaches a program of the object node-wide, if it has it, and pins the link.
fn attach_global(object: &mut Object, layout: &PinLayout, name: &str) -> Result<(), BpfError> {
    for prog in object.progs_mut() {
        if prog.name() != name {
            continue;
        }
        let mut link = prog
            .attach()
            .map_err(BpfError::libbpf(format!("attaching program {name}")))?;
        let link_path = layout.global_links_dir().join(name);
        link.pin(&link_path)
            .map_err(BpfError::libbpf(format!("pinning link at {}", link_path.display())))?;
    }
    Ok(())
}

fn check_bpffs(dir: &Path) -> Result<(), BpfError> {
    let c_path = CString::new(dir.as_os_str().as_bytes()).expect("paths have no NUL");
    let mut buf = MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: c_path is a valid C string and buf is large enough for statfs.
    let rc = unsafe { libc::statfs(c_path.as_ptr(), buf.as_mut_ptr()) };
    if rc != 0 {
        return Err(BpfError::io("statfs", dir)(std::io::Error::last_os_error()));
    }
    // SAFETY: statfs succeeded and filled buf.
    let fs_type = unsafe { buf.assume_init() }.f_type;
    #[allow(clippy::unnecessary_cast)] // f_type is not i64 on every target
    if fs_type as i64 != BPF_FS_MAGIC {
        return Err(BpfError::io("pin root is not on a bpf filesystem", dir)(
            std::io::Error::other("mount one with `mount -t bpf bpf /sys/fs/bpf`"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_cpu_list;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-1\n"), [0, 1]);
        assert_eq!(parse_cpu_list("0,2-3,8"), [0, 2, 3, 8]);
        assert_eq!(parse_cpu_list("0"), [0]);
        assert!(parse_cpu_list("").is_empty());
    }
}
