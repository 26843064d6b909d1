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
