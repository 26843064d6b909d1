//! Finds the runc the wrapper hands over to, never the wrapper itself (it
//! may be installed as `runc`).

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

/// `FNGUARD_RUNC` if set, else the first `runc` in PATH that is not this binary.
pub fn find() -> Result<PathBuf> {
    let me = fs::canonicalize("/proc/self/exe").ok();
    if let Some(explicit) = env::var_os("FNGUARD_RUNC") {
        let path = PathBuf::from(explicit);
        if fs::canonicalize(&path).ok() == me {
            bail!(
                "FNGUARD_RUNC={} is fnguard-runc itself; point it at the real runc",
                path.display()
            );
        }
        return Ok(path);
    }
    let path = env::var_os("PATH").unwrap_or_default();
    for dir in env::split_paths(&path) {
        let candidate = dir.join("runc");
        if is_executable(&candidate) && fs::canonicalize(&candidate).ok() != me {
            return Ok(candidate);
        }
    }
    bail!("no runc found in PATH other than fnguard-runc; set FNGUARD_RUNC to the real runc")
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// The fnguard binary the hooks run: `FNGUARD_HOOK_BINARY`, else `fnguard`
/// beside this wrapper, else /usr/local/bin/fnguard.
pub fn fnguard_binary() -> PathBuf {
    if let Some(explicit) = env::var_os("FNGUARD_HOOK_BINARY") {
        return PathBuf::from(explicit);
    }
    let sibling = env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join("fnguard")));
    match sibling {
        Some(path) if is_executable(&path) => path,
        _ => PathBuf::from("/usr/local/bin/fnguard"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    #[test]
    fn skips_itself_when_installed_as_runc() {
        let dir = tempfile::tempdir().unwrap();
        let (wrapper_dir, real_dir) = (dir.path().join("wrapper"), dir.path().join("real"));
        fs::create_dir_all(&wrapper_dir).unwrap();
        fs::create_dir_all(&real_dir).unwrap();
        // This test binary stands for the wrapper, installed as `runc` first in PATH.
        symlink(env::current_exe().unwrap(), wrapper_dir.join("runc")).unwrap();
        let real = real_dir.join("runc");
        fs::write(&real, "#!/bin/sh\n").unwrap();
        fs::set_permissions(&real, fs::Permissions::from_mode(0o755)).unwrap();
        let path = env::join_paths([&wrapper_dir, &real_dir]).unwrap();
        // SAFETY: no other test of this crate reads PATH or FNGUARD_RUNC.
        unsafe {
            env::remove_var("FNGUARD_RUNC");
            env::set_var("PATH", &path);
        }
        assert_eq!(find().unwrap(), real);
        unsafe { env::set_var("FNGUARD_RUNC", wrapper_dir.join("runc")) };
        assert!(find().unwrap_err().to_string().contains("is fnguard-runc itself"));
        unsafe { env::remove_var("FNGUARD_RUNC") };
    }
}
