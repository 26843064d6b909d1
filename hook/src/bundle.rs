//! What the hook reads from `<bundle>/config.json`.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde_json::Value;

/// `root.path` of the bundle's config.json (default `rootfs`).
pub fn read_root_path(bundle: &Path) -> Result<String> {
    let path = bundle.join("config.json");
    let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let config: Value = serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    Ok(config
        .pointer("/root/path")
        .and_then(Value::as_str)
        .unwrap_or("rootfs")
        .to_string())
}

/// The bundle's annotations. config.json is read as JSON values, not as a
/// typed spec, so fields a spec crate does not model never get in the way.
pub fn read_annotations(bundle: &Path) -> Result<HashMap<String, String>> {
    let path = bundle.join("config.json");
    let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let config: Value = serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let mut annotations = HashMap::new();
    match config.get("annotations") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (key, value) in map {
                let Value::String(value) = value else {
                    bail!("{}: annotation {key} is not a string", path.display());
                };
                annotations.insert(key.clone(), value.clone());
            }
        }
        Some(_) => bail!("{}: annotations is not an object", path.display()),
    }
    Ok(annotations)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_string_annotations() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("config.json"),
            r#"{"ociVersion":"1.0.2","annotations":{"fnguard.io/egress":"none","a":"b"},"process":{}}"#,
        )
        .unwrap();
        let a = read_annotations(dir.path()).unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(a["fnguard.io/egress"], "none");
    }

    #[test]
    fn missing_annotations_and_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("config.json"), r#"{"ociVersion":"1.0.2"}"#).unwrap();
        assert!(read_annotations(dir.path()).unwrap().is_empty());
        fs::write(dir.path().join("config.json"), r#"{"annotations":{"k":1}}"#).unwrap();
        assert!(read_annotations(dir.path())
            .unwrap_err()
            .to_string()
            .contains("annotation k is not a string"));
        let err = read_annotations(&dir.path().join("nope")).unwrap_err();
        assert!(err.to_string().contains("nope/config.json"));
    }
}
