//! A container's cgroup v2 directory and id. Hosts may be pure cgroup2
//! (/sys/fs/cgroup) or hybrid (cgroup2 at /sys/fs/cgroup/unified), so the
//! mount is found in mountinfo, never assumed.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use thiserror::Error;

#[derive(Debug, Error)]
pub enum CgroupError {
    #[error(
        "no cgroup2 filesystem is mounted (read {0}); mount one, e.g. `mount -t cgroup2 none /sys/fs/cgroup/unified`"
    )]
    NoCgroup2Mount(String),
    #[error("cannot read the cgroup of pid {pid} ({path}): {source}")]
    ProcCgroup {
        pid: i32,
        path: String,
        source: std::io::Error,
    },
    #[error("pid {pid} has no cgroup v2 (\"0::\") entry in /proc/{pid}/cgroup; the runtime must place containers in the cgroup2 tree")]
    NoUnifiedEntry { pid: i32 },
    #[error("pid {pid} is in the cgroup2 root; fnguard keys policy by cgroup and will not apply one to the whole host (give the container its own cgroup)")]
    InRoot { pid: i32 },
    #[error("cgroup directory {path} of pid {pid}: {source}")]
    Directory {
        pid: i32,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A container's cgroup in the v2 tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerCgroup {
    pub dir: PathBuf,
    /// What `bpf_get_current_cgroup_id()` returns for its tasks: the inode
    /// number of the directory on 64-bit kernels >= 5.5.
    pub id: u64,
}

/// Finds the cgroup of `pid` on this host.
pub fn resolve(pid: i32) -> Result<ContainerCgroup, CgroupError> {
    let mountinfo_path = "/proc/self/mountinfo";
    let mountinfo = fs::read_to_string(mountinfo_path).unwrap_or_default();
    let mount = cgroup2_mount(&mountinfo).ok_or_else(|| CgroupError::NoCgroup2Mount(mountinfo_path.into()))?;
    let proc_path = format!("/proc/{pid}/cgroup");
    let membership = fs::read_to_string(&proc_path).map_err(|source| CgroupError::ProcCgroup {
        pid,
        path: proc_path.clone(),
        source,
    })?;
    resolve_in(pid, &mount, &membership)
}

/// Tasks (threads included) in a cgroup now, from its `cgroup.threads`;
/// where that cannot be read, the threads of `pid`.
pub fn live_tasks(dir: &Path, pid: i32) -> u64 {
    let count_lines = |text: String| text.lines().filter(|l| !l.trim().is_empty()).count() as u64;
    fs::read_to_string(dir.join("cgroup.threads"))
        .map(count_lines)
        .or_else(|_| fs::read_dir(format!("/proc/{pid}/task")).map(|d| d.count() as u64))
        .unwrap_or(1)
}

/// CPU time of a cgroup from its cgroup v2 `cpu.stat` (`usage_usec`, kept
/// by the kernel for every cgroup, controller or not).
pub fn cpu_usage_ns(dir: &Path) -> Option<u64> {
    let stat = fs::read_to_string(dir.join("cpu.stat")).ok()?;
    stat.lines()
        .find_map(|l| l.strip_prefix("usage_usec "))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|us| us * 1000)
}

/// Memory charged to a cgroup (`memory.current`), where the cgroup v2
/// memory controller runs it; hybrid hosts have none.
pub fn memory_current(dir: &Path) -> Option<u64> {
    fs::read_to_string(dir.join("memory.current")).ok()?.trim().parse().ok()
}

/// Resolves against a given mount and `/proc/<pid>/cgroup` text.
pub fn resolve_in(pid: i32, mount: &Cgroup2Mount, membership: &str) -> Result<ContainerCgroup, CgroupError> {
    let path = unified_path(membership).ok_or(CgroupError::NoUnifiedEntry { pid })?;
    let relative = path
        .strip_prefix(mount.root.as_str())
        .unwrap_or(path)
        .trim_start_matches('/');
    if relative.is_empty() {
        return Err(CgroupError::InRoot { pid });
    }
    let dir = mount.mount_point.join(relative);
    let meta = fs::metadata(&dir).map_err(|source| CgroupError::Directory {
        pid,
        path: dir.clone(),
        source,
    })?;
    Ok(ContainerCgroup { dir, id: meta.ino() })
}

/// True while the cgroup directory exists and is still the same cgroup.
pub fn is_alive(dir: &Path, id: u64) -> bool {
    fs::metadata(dir).map(|m| m.ino() == id).unwrap_or(false)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cgroup2Mount {
    pub mount_point: PathBuf,
    /// The subtree of the hierarchy mounted there, "/" unless in a cgroup namespace.
    pub root: String,
}

/// The first cgroup2 mount in a mountinfo text.
pub fn cgroup2_mount(mountinfo: &str) -> Option<Cgroup2Mount> {
    mountinfo.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        if right.split_whitespace().next()? != "cgroup2" {
            return None;
        }
        let fields: Vec<&str> = left.split_whitespace().collect();
        Some(Cgroup2Mount {
            root: unescape(fields.get(3)?),
            mount_point: PathBuf::from(unescape(fields.get(4)?)),
        })
    })
}

/// The path on the `0::` line of a /proc/<pid>/cgroup text.
pub fn unified_path(membership: &str) -> Option<&str> {
    membership.lines().find_map(|line| line.strip_prefix("0::"))
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 3 < bytes.len() && bytes[i + 1..i + 4].iter().all(|b| (b'0'..=b'7').contains(b)) {
            let code = u8::from_str_radix(&field[i + 1..i + 4], 8).unwrap_or(b'?');
            out.push(code);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
24 29 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
30 24 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:8 - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate
32 30 0:28 / /sys/fs/cgroup/memory rw shared:10 - cgroup cgroup rw,memory
";

    #[test]
    fn finds_cgroup2_on_hybrid_and_pure_hosts() {
        let m = cgroup2_mount(HYBRID).unwrap();
        assert_eq!(m.mount_point, PathBuf::from("/sys/fs/cgroup/unified"));
        let pure = "35 24 0:30 / /sys/fs/cgroup rw,nosuid shared:9 - cgroup2 cgroup2 rw\n";
        assert_eq!(
            cgroup2_mount(pure).unwrap().mount_point,
            PathBuf::from("/sys/fs/cgroup")
        );
        assert_eq!(cgroup2_mount("30 24 0:26 / /sys/fs/cgroup ro - tmpfs tmpfs ro\n"), None);
        let spaced = "35 24 0:30 / /mnt/cg\\0402 rw - cgroup2 cgroup2 rw\n";
        assert_eq!(cgroup2_mount(spaced).unwrap().mount_point, PathBuf::from("/mnt/cg 2"));
    }

    #[test]
    fn unified_line_among_v1_lines() {
        let text = "12:memory:/fn-1\n1:name=systemd:/fn-1\n0::/fn-1\n";
        assert_eq!(unified_path(text), Some("/fn-1"));
        assert_eq!(unified_path("12:memory:/x\n"), None);
    }

    #[test]
    fn resolves_directory_and_inode() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("kubepods/fn-1")).unwrap();
        let mount = Cgroup2Mount {
            mount_point: root.path().to_path_buf(),
            root: "/".into(),
        };
        let cg = resolve_in(9, &mount, "0::/kubepods/fn-1\n").unwrap();
        assert_eq!(cg.dir, root.path().join("kubepods/fn-1"));
        assert_eq!(cg.id, fs::metadata(&cg.dir).unwrap().ino());
        assert!(is_alive(&cg.dir, cg.id));
        assert!(!is_alive(&cg.dir, cg.id + 1));
    }

    #[test]
    fn refuses_root_missing_entry_and_missing_directory() {
        let root = tempfile::tempdir().unwrap();
        let mount = Cgroup2Mount {
            mount_point: root.path().to_path_buf(),
            root: "/".into(),
        };
        assert!(matches!(
            resolve_in(9, &mount, "0::/\n"),
            Err(CgroupError::InRoot { pid: 9 })
        ));
        assert!(matches!(
            resolve_in(9, &mount, "1:cpu:/x\n"),
            Err(CgroupError::NoUnifiedEntry { pid: 9 })
        ));
        let err = resolve_in(9, &mount, "0::/gone\n").unwrap_err().to_string();
        assert!(err.contains("gone") && err.contains("pid 9"), "{err}");
        assert!(resolve(i32::MAX)
            .unwrap_err()
            .to_string()
            .contains(&format!("pid {}", i32::MAX)));
    }
}
