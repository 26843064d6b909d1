//! fnguard-runc, the runc wrapper for runtimes without hooks (containerd's
//! CRI), running real containers through real runc (root; see README.md).

use std::fs;
use std::path::PathBuf;

use fnguard_testkit::{tcp_listener, Node};
use serde_json::Value;

fn node(name: &str) -> Node {
    Node::new(name, env!("CARGO_BIN_EXE_fnguard").as_ref())
}

/// Built beside fnguard by the same `cargo build`.
fn wrapper() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_BIN_EXE_fnguard")).with_file_name("fnguard-runc");
    assert!(path.exists(), "{} is missing: make build", path.display());
    path
}

#[test]
fn an_annotated_bundle_run_through_the_wrapper_gets_its_policy() {
    let node = node("shim-annotated");
    let (_l, port) = tcp_listener("127.0.0.2");
    let bundle = node
        .bundle("wrapped")
        .without_hooks()
        .annotation("fnguard.io/egress", &format!("127.0.0.2/32:{port}/tcp"))
        .steps(&[format!("tcp=127.0.0.2:{port}"), format!("tcp=127.0.0.3:{port}")])
        .build();
    let run = bundle.run_through(&wrapper());
    assert!(run.success, "{run:?}");
    assert_eq!(run.outcome(&format!("tcp=127.0.0.2:{port}")), "ok");
    assert_eq!(run.outcome(&format!("tcp=127.0.0.3:{port}")), "EPERM");
    let config: Value = serde_json::from_slice(&fs::read(bundle.dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["hooks"]["createRuntime"].as_array().unwrap().len(), 1);
    assert_eq!(config["hooks"]["poststop"].as_array().unwrap().len(), 1);
    assert!(node.leftovers().is_empty(), "{:?}", node.leftovers());
}

#[test]
fn an_unannotated_bundle_passes_through_untouched() {
    let node = node("shim-plain");
    let bundle = node.bundle("plain").without_hooks().steps(&["tcp=127.0.0.3:9"]).build();
    let before = fs::read(bundle.dir.join("config.json")).unwrap();
    let run = bundle.run_through(&wrapper());
    assert_eq!(run.outcome("tcp=127.0.0.3:9"), "ECONNREFUSED", "{run:?}");
    assert_eq!(fs::read(bundle.dir.join("config.json")).unwrap(), before);
    assert!(!node.pin_root.exists());
}

#[test]
fn containerd_runs_an_annotated_container_through_the_wrapper() {
    let node = node("shim-containerd");
    let containerd = fnguard_testkit::Containerd::start(&node);
    let (_l, port) = tcp_listener("127.0.0.2");
    let steps = [format!("tcp=127.0.0.2:{port}"), format!("tcp=127.0.0.3:{port}")];
    let annotated = node
        .bundle("ctr-annotated")
        .without_hooks()
        .annotation("fnguard.io/egress", &format!("127.0.0.2/32:{port}/tcp"))
        .steps(&steps)
        .build();
    let run = containerd.run(&annotated, &wrapper());
    assert_eq!(run.outcome(&steps[0]), "ok", "{run:?}");
    assert_eq!(run.outcome(&steps[1]), "EPERM", "{run:?}");

    let plain = node.bundle("ctr-plain").without_hooks().steps(&steps).build();
    let run = containerd.run(&plain, &wrapper());
    assert_eq!(run.outcome(&steps[1]), "ECONNREFUSED", "{run:?}");
    assert!(node.leftovers().is_empty(), "{:?}", node.leftovers());
}
