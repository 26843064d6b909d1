//! `fnguard install hooks-dir DIR` and `fnguard install containerd`: write
//! a node's runtime configuration for fnguard and say what was written.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::json;
use toml_edit::{value, Array, DocumentMut, Item, Table};

/// The runtime handler name fnguard adds to containerd (and the RuntimeClass handler).
pub const HANDLER: &str = "fnguard";

/// Writes `<dir>/fnguard.json`, the hooks.d entry podman and CRI-O read.
pub fn hooks_dir(dir: &Path, fnguard: &Path) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("fnguard.json");
    let hook = json!({
        "version": "1.0.0",
        "hook": {"path": fnguard, "args": ["fnguard", "hook"], "timeout": 10},
        "when": {"annotations": {"^fnguard\\.io/": ".*"}},
        "stages": ["prestart", "poststop"]
    });
    write_atomically(&path, serde_json::to_string_pretty(&hook)? + "\n")?;
    println!(
        "wrote {}: `fnguard hook` at prestart and poststop for containers with fnguard.io/ annotations",
        path.display()
    );
    Ok(())
}

/// Adds (or updates) the `fnguard` runtime handler in containerd's config:
/// runc v2 with `BinaryName` = fnguard-runc and fnguard.io/* annotations
/// passed through from pods and containers.
pub fn containerd(config: &Path, wrapper: &Path) -> Result<()> {
    let text = match fs::read_to_string(config) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "version = 2\n".to_string(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", config.display())),
    };
    let (updated, plugin) =
        add_runtime_handler(&text, wrapper).with_context(|| format!("editing {}", config.display()))?;
    if updated == text {
        println!("{}: runtime handler {HANDLER} already configured", config.display());
        return Ok(());
    }
    write_atomically(config, updated)?;
    println!(
        "wrote {}: runtime handler {HANDLER} in [plugins.\"{plugin}\".containerd.runtimes.{HANDLER}] \
         (BinaryName {}, pod and container annotations fnguard.io/*); restart containerd to apply",
        config.display(),
        wrapper.display()
    );
    Ok(())
}

/// The edited config text and the CRI plugin it used. Version 3 configs
/// (containerd 2.x) name the CRI runtime plugin differently from version 2.
pub fn add_runtime_handler(text: &str, wrapper: &Path) -> Result<(String, &'static str)> {
    let mut doc: DocumentMut = text.parse().context("not valid TOML")?;
    let version = doc.get("version").and_then(Item::as_integer).unwrap_or(1);
    let plugin = match version {
        2 => "io.containerd.grpc.v1.cri",
        3 => "io.containerd.cri.v1.runtime",
        other => bail!("config version {other}: fnguard writes versions 2 and 3 (containerd 1.5+ and 2.x)"),
    };
    let handler = table_at(
        doc.as_table_mut(),
        &["plugins", plugin, "containerd", "runtimes", HANDLER],
    )?;
    handler["runtime_type"] = value("io.containerd.runc.v2");
    let mut globs = Array::new();
    globs.push("fnguard.io/*");
    handler["pod_annotations"] = value(globs.clone());
    handler["container_annotations"] = value(globs);
    let options = table_at(handler, &["options"])?;
    options["BinaryName"] = value(wrapper.display().to_string());
    Ok((doc.to_string(), plugin))
}

/// The table at a dotted path, created where missing.
fn table_at<'t>(mut table: &'t mut Table, path: &[&str]) -> Result<&'t mut Table> {
    for key in path {
        let item = table.entry(key).or_insert_with(|| {
            let mut t = Table::new();
            t.set_implicit(true);
            Item::Table(t)
        });
        table = item.as_table_mut().with_context(|| format!("`{key}` is not a table"))?;
    }
    table.set_implicit(false);
    Ok(table)
}

fn write_atomically(path: &Path, text: String) -> Result<()> {
    let tmp = path.with_extension(format!("fnguard-{}.tmp", std::process::id()));
    fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))
}

/// fnguard-runc beside this binary.
pub fn wrapper_beside_me() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join("fnguard-runc")))
        .unwrap_or_else(|| PathBuf::from("/usr/local/bin/fnguard-runc"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const WRAPPER: &str = "/usr/local/bin/fnguard-runc";

    #[test]
    fn adds_a_handler_to_a_version_2_config_and_keeps_the_rest() {
        let text = "version = 2\nroot = \"/var/lib/containerd\"\n\n[plugins.\"io.containerd.grpc.v1.cri\".containerd]\n  default_runtime_name = \"runc\"\n";
        let (out, plugin) = add_runtime_handler(text, Path::new(WRAPPER)).unwrap();
        assert_eq!(plugin, "io.containerd.grpc.v1.cri");
        let doc: DocumentMut = out.parse().unwrap();
        let h = &doc["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]["runtimes"]["fnguard"];
        assert_eq!(h["runtime_type"].as_str(), Some("io.containerd.runc.v2"));
        assert_eq!(h["options"]["BinaryName"].as_str(), Some(WRAPPER));
        assert_eq!(
            h["pod_annotations"].as_array().unwrap().get(0).unwrap().as_str(),
            Some("fnguard.io/*")
        );
        assert_eq!(doc["root"].as_str(), Some("/var/lib/containerd"));
        assert_eq!(
            doc["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]["default_runtime_name"].as_str(),
            Some("runc")
        );
        // Idempotent.
        assert_eq!(add_runtime_handler(&out, Path::new(WRAPPER)).unwrap().0, out);
    }

    #[test]
    fn version_3_uses_the_containerd_2_plugin() {
        let (out, plugin) = add_runtime_handler("version = 3\n", Path::new(WRAPPER)).unwrap();
        assert_eq!(plugin, "io.containerd.cri.v1.runtime");
        assert!(
            out.contains("[plugins.\"io.containerd.cri.v1.runtime\".containerd.runtimes.fnguard]"),
            "{out}"
        );
    }

    #[test]
    fn old_or_broken_configs_are_refused() {
        assert!(add_runtime_handler("version = 1\n", Path::new(WRAPPER))
            .unwrap_err()
            .to_string()
            .contains("version 1"));
        assert!(add_runtime_handler("not toml [", Path::new(WRAPPER)).is_err());
    }

    #[test]
    fn hooks_dir_file() {
        let dir = tempfile::tempdir().unwrap();
        hooks_dir(dir.path(), Path::new("/opt/fnguard")).unwrap();
        let hook: serde_json::Value =
            serde_json::from_slice(&fs::read(dir.path().join("fnguard.json")).unwrap()).unwrap();
        assert_eq!(hook["hook"]["path"], "/opt/fnguard");
        assert_eq!(hook["stages"], json!(["prestart", "poststop"]));
        let shipped: serde_json::Value =
            serde_json::from_str(include_str!("../../../deploy/hooks.d/fnguard.json")).unwrap();
        assert_eq!(
            hook["when"], shipped["when"],
            "same matching as deploy/hooks.d/fnguard.json"
        );
        assert_eq!(hook["hook"]["args"], shipped["hook"]["args"]);
    }
}
