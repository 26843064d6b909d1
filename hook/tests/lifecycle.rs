//! The hook's lifecycle on real runc: load once, clean stops, failures that
//! leave nothing behind, and `gc` after a poststop that never ran.

use std::fs;
use std::os::unix::fs::MetadataExt;

use fnguard_testkit::{tcp_listener, Node};
use serde_json::json;

fn node(name: &str) -> Node {
    Node::new(name, env!("CARGO_BIN_EXE_fnguard").as_ref())
}

#[test]
fn bad_annotations_stop_the_container_and_leave_nothing() {
    let node = node("bad-annotations");
    let (_l, port) = tcp_listener("127.0.0.2");
    // Load the objects first, so "nothing left" is checked in live maps.
    let ok = node
        .bundle("good")
        .annotation("fnguard.io/egress", "none")
        .steps(&["sleep=1"])
        .build()
        .run();
    assert!(ok.success, "{ok:?}");

    let cases = [
        ("fnguard.io/egress", "10.0.0.0/33:80/tcp", "prefix length 33 exceeds 32"),
        (
            "fnguard.io/egress",
            "10.0.0.0/8:70000/tcp",
            "port 70000 is out of range 1-65535",
        ),
        ("fnguard.io/egress", "10.0.0.0/8:80/sctp", "unknown protocol \"sctp\""),
        ("fnguard.io/egress", "not-an-ip", "not an IPv4 or IPv6 address"),
        ("fnguard.io/mode", "block", "unknown mode \"block\""),
        ("fnguard.io/egresss", "none", "unknown annotation fnguard.io/egresss"),
    ];
    for (i, (key, value, reason)) in cases.iter().enumerate() {
        let run = node
            .bundle(&format!("bad-{i}"))
            .annotation(key, value)
            .steps(&[format!("tcp=127.0.0.2:{port}")])
            .build()
            .run();
        assert!(!run.success, "{key}={value} started: {run:?}");
        assert!(run.stdout.is_empty(), "the payload ran: {}", run.stdout);
        // runc quotes the hook's stderr inside its own message.
        let stderr = run.stderr.replace("\\\"", "\"");
        assert!(
            stderr.contains(key) && stderr.contains(reason),
            "{key}={value}: {stderr}"
        );
        let left = node.leftovers();
        assert!(left.is_empty(), "{key}={value} left {left:?}");
        assert!(node.status().is_empty());
    }
}

#[test]
fn bad_annotation_on_a_fresh_node_pins_nothing() {
    let node = node("bad-fresh");
    let run = node
        .bundle("bad")
        .annotation("fnguard.io/egress", "1.2.3.4/40")
        .steps(&["sleep=1"])
        .build()
        .run();
    assert!(!run.success);
    let stderr = run.stderr.replace("\\\"", "\"");
    assert!(
        stderr.contains("invalid annotation fnguard.io/egress=\"1.2.3.4/40\""),
        "{stderr}"
    );
    assert!(
        !node.pin_root.exists(),
        "a rejected container created {}",
        node.pin_root.display()
    );
}

#[test]
fn a_pid_without_a_cgroup_fails_and_leaves_nothing() {
    let node = node("no-cgroup");
    let bundle = node.bundle("ghost").annotation("fnguard.io/egress", "none").build();
    // A pid that has exited: its /proc/<pid>/cgroup cannot be read.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    let state = json!({"ociVersion": "1.0.2", "id": "ghost", "status": "creating", "pid": pid, "bundle": bundle.dir});
    let out = node.hook("createRuntime", &state);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!("cannot read the cgroup of pid {pid}")),
        "{stderr}"
    );
    assert!(stderr.contains("container ghost"), "{stderr}");
    assert!(node.leftovers().is_empty());
    // The same hook without a pid (a createContainer or poststop state) says so.
    let out = node.hook(
        "createRuntime",
        &json!({"id": "ghost", "status": "creating", "bundle": bundle.dir}),
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("has no pid"));
}

#[test]
fn second_container_reuses_the_pinned_objects() {
    let node = node("reuse");
    let bundle = node
        .bundle("reuse")
        .annotation("fnguard.io/egress", "none")
        .steps(&["sleep=1"])
        .build();
    assert!(bundle.run_as("first").success);
    let abi = fs::read_dir(&node.pin_root).unwrap().next().unwrap().unwrap().path();
    let inode = |p: &str| fs::metadata(abi.join(p)).unwrap().ino();
    let before = (inode("progs/fng_connect4"), inode("maps/fng_policy"));
    assert!(bundle.run_as("second").success);
    assert_eq!(
        before,
        (inode("progs/fng_connect4"), inode("maps/fng_policy")),
        "objects were loaded again"
    );
}

#[test]
fn unannotated_containers_are_left_alone() {
    let node = node("unannotated");
    let run = node
        .bundle("plain")
        .annotation("io.example/other", "x")
        .steps(&["tcp=127.0.0.3:9"])
        .build()
        .run();
    assert_eq!(run.outcome("tcp=127.0.0.3:9"), "ECONNREFUSED");
    assert!(!node.pin_root.exists());
    assert!(node.status().is_empty());
}

#[test]
fn fifty_runs_leave_no_pin_entry_or_record() {
    let node = node("fifty");
    let (_l, port) = tcp_listener("127.0.0.2");
    let bundle = node
        .bundle("loop")
        .annotation("fnguard.io/egress", &format!("127.0.0.2/32:{port}/tcp, fd00::/8:443"))
        .steps(&[format!("tcp=127.0.0.2:{port}"), format!("tcp=127.0.0.3:{port}")])
        .build();
    for i in 0..50 {
        let run = bundle.run_as(&format!("loop-{i}"));
        assert_eq!(run.outcome(&format!("tcp=127.0.0.3:{port}")), "EPERM", "run {i}");
        assert_eq!(run.outcome(&format!("tcp=127.0.0.2:{port}")), "ok", "run {i}");
    }
    let left = node.leftovers();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn gc_cleans_up_after_a_poststop_that_never_ran() {
    let node = node("gc");
    let (_l, port) = tcp_listener("127.0.0.2");
    let run = node
        .bundle("orphan")
        .without_poststop()
        .annotation("fnguard.io/egress", &format!("127.0.0.2/32:{port}/tcp"))
        .steps(&[format!("tcp=127.0.0.3:{port}")])
        .build()
        .run();
    assert_eq!(run.outcome(&format!("tcp=127.0.0.3:{port}")), "EPERM");
    let left = node.leftovers();
    assert_eq!(left.records.len(), 1, "{left:?}");
    assert_eq!(left.link_pins.len(), 6, "{left:?}");
    assert!(left.map_entries >= 3, "{left:?}");
    let status = node.status();
    assert_eq!(status[0]["cgroup_alive"], false);

    let out = node.fnguard(&["gc"]);
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(report.contains("removed container orphan"), "{report}");
    // Its policy, counters, resource use, egress prefix and the detection paths of its rules.
    let entries = format!("6 links, {} map entries, 1 record", left.map_entries);
    assert!(report.contains(&entries), "{report} lacks {entries}");
    assert!(node.leftovers().is_empty(), "{:?}", node.leftovers());
    // A second gc finds nothing.
    let again = String::from_utf8_lossy(&node.fnguard(&["gc"]).stdout).into_owned();
    assert!(again.contains("gc: 0 removed"), "{again}");
}

#[test]
fn gc_removes_what_a_killed_runtime_left_while_keeping_live_containers() {
    let node = node("gc-live");
    let live = node
        .bundle("live")
        .annotation("fnguard.io/egress", "none")
        .steps(&["wait=/shared/exit"])
        .build()
        .spawn();
    node.wait_for_records(1, std::time::Duration::from_secs(30));
    // Killed runtime: the container's cgroup is removed, poststop never runs.
    let dead = node
        .bundle("dead")
        .without_poststop()
        .annotation("fnguard.io/mode", "audit")
        .steps(&["sleep=1"])
        .build();
    assert!(dead.run().success);
    let out = node.fnguard(&["gc"]);
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("removed container dead"), "{report}");
    assert!(report.contains("1 live container(s) kept"), "{report}");
    let status = node.status();
    assert_eq!(status.len(), 1);
    assert_eq!(status[0]["id"], "live");
    fs::write(node.shared.join("exit"), b"").unwrap();
    fnguard_testkit::RunResult::from_child(live);
    assert!(node.leftovers().is_empty(), "{:?}", node.leftovers());
}

#[test]
fn a_repeated_hook_is_a_no_op_and_a_second_container_cannot_take_a_managed_cgroup() {
    let node = node("same-cgroup");
    let bundle = node
        .bundle("owner")
        .annotation("fnguard.io/egress", "none")
        .steps(&["wait=/shared/exit"])
        .build();
    let child = bundle.spawn();
    node.wait_for_records(1, std::time::Duration::from_secs(30));
    let pid = node.runc_state("owner")["pid"].clone();

    // prestart and createRuntime both configured: the second call changes nothing.
    let again = json!({"ociVersion": "1.0.2", "id": "owner", "status": "creating", "pid": pid, "bundle": bundle.dir});
    let out = node.hook("prestart", &again);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let intruder =
        json!({"ociVersion": "1.0.2", "id": "intruder", "status": "creating", "pid": pid, "bundle": bundle.dir});
    let out = node.hook("createRuntime", &intruder);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("is already managed by container owner"), "{stderr}");
    let status = node.status();
    assert_eq!(status.len(), 1, "{status:#?}");
    assert_eq!(status[0]["id"], "owner");

    fs::write(node.shared.join("exit"), b"").unwrap();
    fnguard_testkit::RunResult::from_child(child);
    assert!(node.leftovers().is_empty(), "{:?}", node.leftovers());
}

#[test]
fn doctor_reports_the_enforcement_it_chose_and_leaves_nothing() {
    let node = node("doctor");
    let out = node.fnguard(&["doctor"]);
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{report}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        report.contains("ok    BPF objects: load, verify and attach work (trial load)"),
        "{report}"
    );
    assert!(
        report.contains("ok    network enforcement: cgroup sock_addr programs"),
        "{report}"
    );
    assert!(
        report.contains("file and exec enforcement: sigkill") || report.contains("file and exec enforcement: BPF-LSM"),
        "{report}"
    );
    assert!(!report.contains("FAIL"), "{report}");
    // The trial load is removed; the node's pin root is untouched.
    let parent = node.pin_root.parent().unwrap();
    let trials: Vec<_> = fs::read_dir(parent)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("fnguard-doctor-"))
                .count()
        })
        .into_iter()
        .collect();
    assert_eq!(trials.iter().sum::<usize>(), 0);
    assert!(!node.pin_root.exists());
}

#[test]
fn a_hook_without_a_stage_takes_it_from_the_state() {
    // As deploy/hooks.d/fnguard.json runs it for prestart and poststop.
    let node = node("no-stage");
    let (_l, port) = tcp_listener("127.0.0.2");
    let run = node
        .bundle("auto")
        .hooks_without_stage()
        .annotation("fnguard.io/egress", &format!("127.0.0.2/32:{port}/tcp"))
        .steps(&[format!("tcp=127.0.0.3:{port}")])
        .build()
        .run();
    assert_eq!(run.outcome(&format!("tcp=127.0.0.3:{port}")), "EPERM", "{run:?}");
    assert!(
        node.leftovers().is_empty(),
        "poststop did not run: {:?}",
        node.leftovers()
    );
}

#[test]
fn the_open_monitor_is_attached_by_a_container_and_detached_by_gc_when_idle() {
    // Where BPF-LSM runs, no syscall-exit program is ever attached (vmtest).
    let node = node("open-monitor");
    // Nothing loaded yet: gc has nothing to do and says so.
    let out = node.fnguard(&["gc"]);
    assert!(
        out.status.success(),
        "gc on a fresh node: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first = node
        .bundle("first")
        .annotation("fnguard.io/files.deny", "/etc/secret")
        .steps(&["sleep=1"]);
    assert!(first.build().run().success);
    let abi = fs::read_dir(&node.pin_root).unwrap().next().unwrap().unwrap().path();
    let link = abi.join("links/global/fng_sys_exit");
    let lsm = abi.join("links/global/fng_lsm_file_open").exists();
    // Poststop leaves it for the next function: attaching costs milliseconds.
    assert_eq!(link.exists(), !lsm, "after the first container");
    let out = node.fnguard(&["gc"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!link.exists(), "gc left the monitor attached on an idle node");
    let samplers = fs::read_dir(abi.join("links/global"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("fng_cpu_tick")
        })
        .count();
    assert_eq!(samplers, 0, "gc left the CPU sampler attached on an idle node");
    assert!(
        abi.join("progs/fng_sys_exit").exists(),
        "the program stays pinned for the next container"
    );
    let second = node
        .bundle("second")
        .annotation("fnguard.io/files.deny", "/etc/secret")
        .steps(&["sleep=1"]);
    assert!(second.build().run().success);
    assert_eq!(link.exists(), !lsm, "re-attached by the next container");
    assert!(
        abi.join("links/global/fng_cpu_tick_cpu0").exists(),
        "CPU sampling re-attached"
    );
}

#[test]
fn gc_removes_objects_of_earlier_builds_that_no_container_uses() {
    let node = node("gc-builds");
    let run = node
        .bundle("current")
        .annotation("fnguard.io/egress", "none")
        .steps(&["sleep=0"])
        .build()
        .run();
    assert!(run.success, "{run:?}");
    let unused = node.pin_root.join("0123456789ab");
    let used = node.pin_root.join("ba9876543210");
    std::fs::create_dir_all(unused.join("links/global")).unwrap();
    std::fs::create_dir_all(used.join("links/4242")).unwrap();
    let out = node.fnguard(&["gc"]);
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!unused.exists() && used.exists(), "{report}");
    assert!(report.contains("removed objects of an earlier build"), "{report}");
    assert!(report.contains("kept objects of an earlier build"), "{report}");
    // The current build's objects stay for the next container.
    assert_eq!(std::fs::read_dir(&node.pin_root).unwrap().count(), 2, "{report}");
    std::fs::remove_dir_all(&used).unwrap();
}
