//! Adds fnguard's createRuntime and poststop hooks to a bundle's
//! config.json. The file is edited as a JSON value, so every field the
//! wrapper does not know survives, and written atomically.

use std::fs;
use std::path::Path;

use anyhow::{bail, Context, Result};
use fnguard_policy::ANNOTATION_PREFIX;
use serde_json::{json, Value};

/// What happened to a bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// No `fnguard.io/` annotation: the bundle is left as it is.
    NotManaged,
    /// Both hooks were already there.
    AlreadyPresent,
    Added,
}

/// Edits `<bundle>/config.json` in place.
pub fn add_to_bundle(bundle: &Path, fnguard: &Path) -> Result<Outcome> {
    let path = bundle.join("config.json");
    let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut config: Value = serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let outcome = add_hooks(&mut config, fnguard).with_context(|| format!("editing {}", path.display()))?;
    if outcome == Outcome::Added {
        let tmp = bundle.join(format!(".config.json.fnguard-{}", std::process::id()));
        let bytes = serde_json::to_vec_pretty(&config)?;
        fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
        if let Ok(meta) = fs::metadata(&path) {
            let _ = fs::set_permissions(&tmp, meta.permissions());
        }
        fs::rename(&tmp, &path).with_context(|| format!("replacing {}", path.display()))?;
    }
    Ok(outcome)
}

/// Adds the hooks to a config value when it carries a fnguard annotation.
pub fn add_hooks(config: &mut Value, fnguard: &Path) -> Result<Outcome> {
    let managed = config
        .get("annotations")
        .and_then(Value::as_object)
        .is_some_and(|a| a.keys().any(|k| k.starts_with(ANNOTATION_PREFIX)));
    if !managed {
        return Ok(Outcome::NotManaged);
    }
    let Some(root) = config.as_object_mut() else {
        bail!("config.json is not a JSON object");
    };
    let hooks = root.entry("hooks").or_insert_with(|| json!({}));
    let Some(hooks) = hooks.as_object_mut() else {
        bail!("`hooks` is not an object");
    };
    let mut added = false;
    for stage in ["createRuntime", "poststop"] {
        let entry = json!({
            "path": fnguard,
            "args": ["fnguard", "hook", stage],
            "timeout": 10,
        });
        let list = hooks.entry(stage).or_insert_with(|| json!([]));
        let Some(list) = list.as_array_mut() else {
            bail!("`hooks.{stage}` is not an array");
        };
        let present = list
            .iter()
            .any(|h| h.get("path") == entry.get("path") && h.get("args") == entry.get("args"));
        if !present {
            list.push(entry);
            added = true;
        }
    }
    Ok(if added { Outcome::Added } else { Outcome::AlreadyPresent })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FNGUARD: &str = "/usr/local/bin/fnguard";

    fn config() -> Value {
        json!({
            "ociVersion": "1.0.2",
            "process": {"args": ["/fn"], "futureField": {"x": 1}},
            "annotations": {"fnguard.io/egress": "none", "io.kubernetes.cri.container-type": "container"},
            "hooks": {"poststop": [{"path": "/usr/bin/other", "args": ["other"]}]},
            "unknownTopLevel": [1, 2, 3]
        })
    }

    #[test]
    fn adds_both_hooks_and_keeps_everything_else() {
        let mut c = config();
        assert_eq!(add_hooks(&mut c, Path::new(FNGUARD)).unwrap(), Outcome::Added);
        assert_eq!(
            c["hooks"]["createRuntime"][0]["args"],
            json!(["fnguard", "hook", "createRuntime"])
        );
        assert_eq!(c["hooks"]["createRuntime"][0]["path"], FNGUARD);
        let poststop = c["hooks"]["poststop"].as_array().unwrap();
        assert_eq!(poststop.len(), 2);
        assert_eq!(poststop[0]["path"], "/usr/bin/other", "existing hooks stay first");
        assert_eq!(c["unknownTopLevel"], json!([1, 2, 3]));
        assert_eq!(c["process"]["futureField"]["x"], 1);
    }

    #[test]
    fn idempotent() {
        let mut c = config();
        add_hooks(&mut c, Path::new(FNGUARD)).unwrap();
        let once = c.clone();
        assert_eq!(add_hooks(&mut c, Path::new(FNGUARD)).unwrap(), Outcome::AlreadyPresent);
        assert_eq!(c, once);
    }

    #[test]
    fn unannotated_bundles_are_untouched() {
        let mut c = json!({"ociVersion": "1.0.2", "annotations": {"io.example/x": "y"}});
        let before = c.clone();
        assert_eq!(add_hooks(&mut c, Path::new(FNGUARD)).unwrap(), Outcome::NotManaged);
        assert_eq!(c, before);
        let mut c = json!({"ociVersion": "1.0.2"});
        assert_eq!(add_hooks(&mut c, Path::new(FNGUARD)).unwrap(), Outcome::NotManaged);
    }

    #[test]
    fn malformed_hooks_are_an_error() {
        let mut c = json!({"annotations": {"fnguard.io/mode": "audit"}, "hooks": {"poststop": {}}});
        assert!(add_hooks(&mut c, Path::new(FNGUARD))
            .unwrap_err()
            .to_string()
            .contains("hooks.poststop"));
    }

    #[test]
    fn bundle_file_is_rewritten_atomically() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("config.json"), serde_json::to_vec(&config()).unwrap()).unwrap();
        assert_eq!(add_to_bundle(dir.path(), Path::new(FNGUARD)).unwrap(), Outcome::Added);
        assert_eq!(
            add_to_bundle(dir.path(), Path::new(FNGUARD)).unwrap(),
            Outcome::AlreadyPresent
        );
        let names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["config.json"], "no temporary file is left");
        let c: Value = serde_json::from_slice(&fs::read(dir.path().join("config.json")).unwrap()).unwrap();
        assert_eq!(c["hooks"]["createRuntime"].as_array().unwrap().len(), 1);
    }
}
