//! The files `fnguard.io/files.deny` covers in a container's rootfs, found
//! by identity (device and inode) at createRuntime, so that the kernel also
//! denies them under another name: a hard link made later, a bind mount.
//!
//! Prefixes are checked with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS)
//! and walked without following symlinks: nothing in the image can send the
//! hook to a file on the host, and the names walked are the names the kernel
//! reports.

use std::fs;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::Result;
use fnguard_bpf::FileId;
use fnguard_policy::{PathLists, Verdict};
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{major, minor};

/// Files one function's deny list may pin by inode; more are covered by path only.
pub const MAX_DENIED_FILES: usize = 4096;

/// The container's rootfs as the hook sees it: through the init process's
/// root, so mounts the runtime made in the container's namespace are there.
pub fn rootfs_of(bundle: &Path, pid: i32, config_root: &str) -> PathBuf {
    let root = Path::new(config_root);
    let absolute = if root.is_absolute() {
        root.to_path_buf()
    } else {
        bundle.join(root)
    };
    Path::new(&format!("/proc/{pid}/root")).join(absolute.strip_prefix("/").unwrap_or(&absolute))
}

/// Regular files under the deny prefixes whose read verdict is deny.
pub fn find(rootfs: &Path, lists: &PathLists) -> Result<Vec<FileId>> {
    if lists.deny.is_empty() {
        return Ok(Vec::new());
    }
    let root = match fs::File::open(rootfs) {
        Ok(root) => OwnedFd::from(root),
        Err(e) => {
            // The path rules still hold; only other names for the files are not covered.
            log::warn!(
                "files.deny: cannot open container rootfs {} ({e}); files are denied by path only",
                rootfs.display()
            );
            return Ok(Vec::new());
        }
    };
    let mut found = Vec::new();
    for prefix in &lists.deny {
        let Some(start) = open_in_root(&root, rootfs, prefix) else {
            continue; // not in the image (yet): the path rule still covers it
        };
        walk(&start, prefix, lists, &mut found);
        if found.len() >= MAX_DENIED_FILES {
            log::warn!("more than {MAX_DENIED_FILES} files under files.deny; the rest are denied by path only");
            found.truncate(MAX_DENIED_FILES);
            break;
        }
    }
    found.sort();
    found.dedup();
    Ok(found)
}

/// The host path of `path` inside the rootfs, when no symlink lies on the
/// way: then the name walked is the name the kernel reports. A prefix
/// reached through a symlink is left to the path rule.
fn open_in_root(root: &OwnedFd, rootfs: &Path, path: &str) -> Option<PathBuf> {
    use std::os::fd::AsRawFd;
    let relative = path.trim_start_matches('/');
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_SYMLINKS);
    match openat2(root.as_raw_fd(), relative, how) {
        // SAFETY: openat2 returned a new fd that nothing else owns; it is closed here.
        Ok(fd) => drop(unsafe { OwnedFd::from_raw_fd(fd) }),
        Err(e) => {
            log::debug!("files.deny {path}: not pinned by inode ({e})");
            return None;
        }
    }
    Some(rootfs.join(relative))
}

/// Collects regular files under `host` (the host's view of container path
/// `inside`), never following symlinks.
fn walk(host: &Path, inside: &str, lists: &PathLists, found: &mut Vec<FileId>) {
    let Ok(meta) = fs::symlink_metadata(host) else {
        return;
    };
    if meta.is_file() {
        if matches!(lists.verdicts_for(inside).read, Verdict::Deny(_)) {
            found.push(FileId {
                dev: kernel_dev(meta.dev()),
                ino: meta.ino(),
            });
        }
        return;
    }
    if !meta.is_dir() || found.len() >= MAX_DENIED_FILES {
        return;
    }
    let Ok(entries) = fs::read_dir(host) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let inside = format!("{}/{}", inside.trim_end_matches('/'), name.to_string_lossy());
        walk(&entry.path(), &inside, lists, found);
    }
}

/// stat's st_dev encoding to the kernel's dev_t (MAJOR << 20 | MINOR).
fn kernel_dev(st_dev: u64) -> u32 {
    ((major(st_dev) << 20) | minor(st_dev)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::stat::makedev;

    #[test]
    fn kernel_dev_encoding() {
        // 8:1 (sda1) as glibc encodes it in st_dev.
        assert_eq!(kernel_dev(0x801), (8 << 20) | 1);
        // 259:65536 uses the high minor bits.
        assert_eq!(kernel_dev(makedev(259, 65536)), (259 << 20) | 65536);
    }

    #[test]
    fn finds_denied_files_and_keeps_allowed_ones_and_symlinks_inside() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        fs::create_dir_all(r.join("etc/ssl")).unwrap();
        fs::write(r.join("etc/shadow"), "s").unwrap();
        fs::write(r.join("etc/hosts"), "h").unwrap();
        fs::write(r.join("etc/ssl/key"), "k").unwrap();
        // A symlink in the image (here to the host's /etc) is never followed.
        std::os::unix::fs::symlink("/etc", r.join("hostetc")).unwrap();
        let lists = PathLists {
            deny: vec!["/etc".into(), "/hostetc".into(), "/missing".into()],
            read: Some(vec!["/etc/hosts".into()]),
            ..PathLists::default()
        };
        let found = find(r, &lists).unwrap();
        let ino = |p: &str| fs::metadata(r.join(p)).unwrap().ino();
        let mut want = vec![ino("etc/shadow"), ino("etc/ssl/key")];
        want.sort();
        let mut got: Vec<u64> = found.iter().map(|f| f.ino).collect();
        got.sort();
        got.dedup();
        assert_eq!(got, want, "hosts is allowed, /hostetc is a symlink");
    }
}
