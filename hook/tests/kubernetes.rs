//! deploy/kubernetes parses and carries what a node needs (no cluster here:
//! the manifests are checked, not applied).

use std::collections::BTreeMap;
use std::fs;

use fnguard::commands::install::HANDLER;
use fnguard_policy::Policy;
use serde_yaml::Value;

fn documents(file: &str) -> Vec<Value> {
    let path = format!("{}/../deploy/kubernetes/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = fs::read_to_string(&path).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap_or_else(|e| panic!("{path}: {e}")))
        .collect()
}

fn of_kind<'d>(docs: &'d [Value], kind: &str) -> &'d Value {
    docs.iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind}"))
}

#[test]
fn daemonset_installs_and_mounts_what_the_node_needs() {
    let docs = documents("fnguard.yaml");
    let spec = &of_kind(&docs, "DaemonSet")["spec"]["template"]["spec"];
    let paths: Vec<&str> = spec["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|v| v["hostPath"]["path"].as_str())
        .collect();
    for needed in [
        "/sys/fs/bpf",
        "/run/fnguard",
        "/etc/containerd",
        "/usr/share/containers/oci/hooks.d",
        "/usr/local/bin",
    ] {
        assert!(paths.contains(&needed), "no hostPath {needed}: {paths:?}");
    }
    let install = &spec["initContainers"][0];
    assert_eq!(install["securityContext"]["privileged"], Value::Bool(true));
    let script = install["args"][0].as_str().unwrap();
    assert!(script.contains("fnguard install hooks-dir"), "{script}");
    assert!(script.contains("fnguard install containerd"), "{script}");
    let events = &spec["containers"][0];
    assert_eq!(events["securityContext"]["privileged"], Value::Bool(true));
    assert_eq!(events["command"][1], "events");
    let bpffs = events["volumeMounts"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|m| m["mountPath"] == "/sys/fs/bpf");
    assert!(bpffs.is_some(), "the events container reads the pinned ring");
}

#[test]
fn runtime_class_names_the_handler_fnguard_installs() {
    let docs = documents("fnguard.yaml");
    assert_eq!(of_kind(&docs, "RuntimeClass")["handler"], HANDLER);
}

#[test]
fn sample_function_uses_the_runtime_class_and_a_valid_policy() {
    let docs = documents("function.yaml");
    let pod = &of_kind(&docs, "Deployment")["spec"]["template"];
    assert_eq!(pod["spec"]["runtimeClassName"], "fnguard");
    let annotations: BTreeMap<String, String> = serde_yaml::from_value(pod["metadata"]["annotations"].clone()).unwrap();
    let policy = Policy::from_annotations(&annotations)
        .unwrap()
        .expect("fnguard annotations");
    assert!(policy.egress.is_some() && policy.paths.exec.is_some());
}
