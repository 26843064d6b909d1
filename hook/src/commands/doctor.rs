//! `fnguard doctor`: what this node offers fnguard and which enforcement it
//! chose, so nothing is downgraded silently.

use std::fs;
use std::path::Path;

use anyhow::{bail, Result};
use fnguard_bpf::{ensure_loaded, file_enforcement, is_loaded, kernel_signals_other_tasks, PinLayout};

use crate::cgroup;
use crate::settings::Settings;

const BTF: &str = "/sys/kernel/btf/vmlinux";
const ACTIVE_LSMS: &str = "/sys/kernel/security/lsm";
/// What the syscall-exit program costs the node while it is attached.
const SYSCALL_EXIT_COST: &str = "sys_exit tracepoint, attached by the first managed container until `fnguard gc` \
                                 finds the node idle: meanwhile every syscall on the node takes the kernel's slow \
                                 exit path";

#[derive(Default)]
struct Report {
    failures: usize,
}

impl Report {
    fn ok(&mut self, what: &str, detail: impl AsRef<str>) {
        println!("ok    {what}: {}", detail.as_ref());
    }

    fn warn(&mut self, what: &str, detail: impl AsRef<str>) {
        println!("warn  {what}: {}", detail.as_ref());
    }

    fn fail(&mut self, what: &str, detail: impl AsRef<str>) {
        println!("FAIL  {what}: {}", detail.as_ref());
        self.failures += 1;
    }
}

pub fn run(settings: &Settings) -> Result<()> {
    let mut report = Report::default();
    let mounts = fs::read_to_string("/proc/self/mounts").unwrap_or_default();

    if nix::unistd::geteuid().is_root() {
        report.ok("privileges", "running as root");
    } else {
        report.fail(
            "privileges",
            "not root: loading BPF and attaching to cgroups needs root",
        );
    }
    match mounts.lines().find(|l| l.split_whitespace().nth(2) == Some("bpf")) {
        Some(line) => report.ok(
            "bpffs",
            format!("mounted at {}", line.split_whitespace().nth(1).unwrap_or("?")),
        ),
        None => report.fail("bpffs", "not mounted: mount -t bpf bpf /sys/fs/bpf"),
    }
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    match cgroup::cgroup2_mount(&mountinfo) {
        Some(m) if m.mount_point == Path::new("/sys/fs/cgroup") => {
            report.ok("cgroup2", "mounted at /sys/fs/cgroup (unified hierarchy)")
        }
        Some(m) => report.ok(
            "cgroup2",
            format!(
                "mounted at {} (hybrid host: v1 controllers beside it)",
                m.mount_point.display()
            ),
        ),
        None => report.fail("cgroup2", "not mounted: fnguard keys every policy by cgroup v2 id"),
    }
    if Path::new(BTF).exists() {
        report.ok("BTF", BTF);
    } else {
        report.fail(
            "BTF",
            format!("{BTF} is missing: the kernel needs CONFIG_DEBUG_INFO_BTF"),
        );
    }
    match fs::read_to_string(ACTIVE_LSMS) {
        Ok(lsms) if lsms.split(',').any(|l| l.trim() == "bpf") => report.ok("LSMs", lsms.trim()),
        Ok(lsms) => report.warn(
            "LSMs",
            format!("{} (no bpf: files and exec fall back to SIGKILL)", lsms.trim()),
        ),
        Err(_) => report.warn("LSMs", format!("{ACTIVE_LSMS} unreadable (securityfs not mounted?)")),
    }

    // What the kernel really accepts: the node's pins, or a trial load.
    let layout = settings.layout();
    let (probe, trial) = if is_loaded(&layout) {
        (layout, false)
    } else {
        let root = settings
            .pin_root
            .with_file_name(format!("fnguard-doctor-{}", std::process::id()));
        (PinLayout::new(root), true)
    };
    match ensure_loaded(&probe) {
        Ok(_) => {
            let how = if trial {
                "load, verify and attach work (trial load)"
            } else {
                "pinned"
            };
            report.ok("BPF objects", format!("{how} under {}", probe.abi_dir().display()));
            report.ok("network enforcement", "cgroup sock_addr programs (EPERM)");
            report.ok(
                "resource accounting",
                "tasks, CPU, memory, TCP connections and bytes per function from tracepoints and cgroup_skb programs (no cgroup v2 controller needed)",
            );
            if kernel_signals_other_tasks() {
                report.ok(
                    "limits that kill",
                    "the function's init is signalled at once (bpf_send_signal_task): its pid namespace ends with it",
                );
            } else {
                report.warn(
                    "limits that kill",
                    "each task dies at its next system call, fork or CPU sample; one asleep in a long call lives until it returns (bpf_send_signal_task needs kernel 6.13)",
                );
            }
            match file_enforcement(&probe) {
                "bpf-lsm" => {
                    report.ok("file and exec enforcement", "BPF-LSM (EPERM before the open or exec)");
                    report.ok(
                        "open monitoring",
                        "BPF-LSM file_open: unmanaged tasks pay one lookup per open",
                    );
                    report.warn("system call detection rules", SYSCALL_EXIT_COST)
                }
                other => {
                    report.warn(
                        "file and exec enforcement",
                        format!("{other} at syscall exit (BPF-LSM refused or not active on this kernel)"),
                    );
                    report.warn("open monitoring and system call detection rules", SYSCALL_EXIT_COST)
                }
            }
        }
        Err(e) => report.fail("BPF objects", format!("{e:#}")),
    }
    if trial {
        let _ = fs::remove_dir_all(probe.root());
    }

    match which("runc") {
        Some(path) => report.ok("runc", path),
        None => report.warn("runc", "not in PATH"),
    }
    if report.failures > 0 {
        bail!("{} check(s) failed", report.failures);
    }
    Ok(())
}

fn which(program: &str) -> Option<String> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|p| p.is_file())
        .map(|p| p.display().to_string())
}
