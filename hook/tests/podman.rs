//! podman with `--hooks-dir` and deploy/hooks.d/fnguard.json, running real
//! containers from a busybox rootfs (root; see README.md).

use fnguard_testkit::{tcp_listener, Node};

fn node(name: &str) -> Node {
    Node::new(name, env!("CARGO_BIN_EXE_fnguard").as_ref())
}

#[test]
fn podman_hooks_dir_enforces_an_annotated_container_and_leaves_others() {
    let node = node("podman");
    let (_l, port) = tcp_listener("127.0.0.2");
    let steps = [format!("tcp=127.0.0.2:{port}"), format!("tcp=127.0.0.3:{port}")];
    let run = node
        .bundle("podman-annotated")
        .without_hooks()
        .annotation("fnguard.io/egress", &format!("127.0.0.2/32:{port}/tcp"))
        .steps(&steps)
        .build()
        .run_with_podman();
    assert_eq!(run.outcome(&steps[0]), "ok", "{run:?}");
    assert_eq!(run.outcome(&steps[1]), "EPERM");
    assert!(node.leftovers().is_empty(), "{:?}", node.leftovers());

    let run = node
        .bundle("podman-plain")
        .without_hooks()
        .steps(&steps)
        .build()
        .run_with_podman();
    assert_eq!(run.outcome(&steps[1]), "ECONNREFUSED", "{run:?}");
    assert!(node.leftovers().is_empty(), "{:?}", node.leftovers());
}
