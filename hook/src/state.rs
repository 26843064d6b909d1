//! The OCI state a runtime writes to a hook's stdin. Our own struct rather
//! than oci-spec's: crun reports status "starting", poststop has no pid (or
//! pid 0), and runtimes add fields of their own.

use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct HookState {
    pub id: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub pid: Option<i32>,
    pub bundle: PathBuf,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
}

impl HookState {
    pub fn read(mut input: impl Read) -> Result<Self> {
        let mut text = String::new();
        input
            .read_to_string(&mut text)
            .context("reading the OCI state from stdin")?;
        let state: HookState = serde_json::from_str(&text)
            .with_context(|| format!("parsing the OCI state from stdin: {:?}", short(&text)))?;
        validate_container_id(&state.id)?;
        Ok(state)
    }

    /// The host pid of the container's init, when the runtime gave one.
    pub fn host_pid(&self) -> Option<i32> {
        self.pid.filter(|&p| p > 0)
    }
}

/// Container ids become file names under the run directory.
pub fn validate_container_id(id: &str) -> Result<()> {
    if id.is_empty() || id.starts_with('.') || id.contains(['/', '\0']) || id.len() > 255 {
        bail!("container id {id:?} cannot name a record file (empty, leading dot, slash or too long)");
    }
    Ok(())
}

fn short(text: &str) -> &str {
    match text.char_indices().nth(200) {
        Some((cut, _)) => &text[..cut],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runc_createruntime_state() {
        let s = HookState::read(
            br#"{"ociVersion":"1.0.2","id":"fn-1","status":"creating","pid":4242,"bundle":"/b","annotations":{"fnguard.io/mode":"audit"}}"#
                .as_slice(),
        )
        .unwrap();
        assert_eq!((s.id.as_str(), s.host_pid()), ("fn-1", Some(4242)));
        assert_eq!(s.annotations["fnguard.io/mode"], "audit");
    }

    #[test]
    fn crun_starting_status_and_unknown_fields() {
        let s = HookState::read(
            br#"{"ociVersion":"1.0","id":"x","pid":7,"root":"/b/rootfs","bundle":"/b","status":"starting"}"#.as_slice(),
        )
        .unwrap();
        assert_eq!(s.status, "starting");
        assert_eq!(s.host_pid(), Some(7));
    }

    #[test]
    fn poststop_without_pid_or_with_pid_zero() {
        let s =
            HookState::read(br#"{"ociVersion":"1.0.2","id":"x","status":"stopped","bundle":"/b"}"#.as_slice()).unwrap();
        assert_eq!(s.host_pid(), None);
        let s = HookState::read(br#"{"id":"x","status":"stopped","pid":0,"bundle":"/b"}"#.as_slice()).unwrap();
        assert_eq!(s.host_pid(), None);
    }

    #[test]
    fn rejects_garbage_and_unsafe_ids() {
        assert!(HookState::read(b"not json".as_slice())
            .unwrap_err()
            .to_string()
            .contains("parsing the OCI state"));
        let err = HookState::read(br#"{"id":"../etc","bundle":"/b"}"#.as_slice()).unwrap_err();
        assert!(err.to_string().contains("cannot name a record file"));
    }
}
