//! Runtime monitoring on real runc: exec and open events, file and exec
//! policies in audit and enforce mode, and the tricks that must not bypass
//! them (root; see README.md).

use std::fs;

use fnguard_testkit::{of_kind, payload_binary, Node};
use serde_json::Value;

const SECRET: &[u8] = b"TOP-SECRET-CONTENT";

fn node(name: &str) -> Node {
    Node::new(name, env!("CARGO_BIN_EXE_fnguard").as_ref())
}

fn opens_of<'e>(events: &'e [Value], path: &str) -> Vec<&'e Value> {
    of_kind(events, "file.open")
        .into_iter()
        .filter(|e| e["path"] == path)
        .collect()
}

#[test]
fn exec_and_open_events_carry_their_fields_and_a_stop_summary_follows() {
    let node = node("monitor-fields");
    let follower = node.follow_events();
    let run = node
        .bundle("fields")
        .annotation("fnguard.io/function", "fields-fn")
        .file("/etc/motd", b"hello")
        .file("/opt/script.sh", b"#!/bin/sh\necho script-ran\n")
        .steps(&[
            "cat=/etc/motd",
            "write=/shared/out",
            "exec=/bin/sh:-c:true",
            "exec=/opt/script.sh",
        ])
        .build()
        .run();
    assert!(run.success, "{run:?}");
    assert!(run.stdout.contains("script-ran"), "{}", run.stdout);
    let events = follower.stop();

    let execs = of_kind(&events, "process.exec");
    let init = execs
        .iter()
        .find(|e| e["path"] == "/fnguard-payload")
        .expect("exec of the entrypoint");
    assert_eq!(init["container"], "fields");
    assert_eq!(init["function"], "fields-fn");
    assert_eq!(init["verdict"], "allowed");
    let shell = execs
        .iter()
        .find(|e| e["filename"] == "/bin/sh")
        .expect("exec of /bin/sh");
    assert_eq!(
        shell["path"], "/bin/busybox",
        "multi-call binary reported as the real file"
    );
    assert_eq!(shell["ppid"], init["pid"]);
    let script = execs
        .iter()
        .find(|e| e["filename"] == "/opt/script.sh")
        .expect("exec of the script");
    assert_eq!(script["path"], "/bin/busybox");
    assert_eq!(script["interpreter"], "/bin/sh");

    let motd = opens_of(&events, "/etc/motd");
    assert_eq!(motd.len(), 1, "{events:#?}");
    assert_eq!(motd[0]["access"], "read");
    assert_eq!(motd[0]["syscall"], "openat");
    assert_eq!(motd[0]["comm"], "fnguard-payload");
    assert_eq!(motd[0]["pid"], init["pid"]);
    assert_eq!(opens_of(&events, "/shared/out")[0]["access"], "write");

    let stop = of_kind(&events, "container.stop");
    assert_eq!(stop.len(), 1, "{events:#?}");
    assert_eq!(stop[0]["container"], "fields");
    assert_eq!(stop[0]["totals"]["execs"], 3, "{:#?}", stop[0]);
    assert!(stop[0]["totals"]["opens"].as_u64().unwrap() >= 2);
    assert_eq!(stop[0]["totals"]["events_dropped"], 0);
}

/// Each way to reach /etc/secret (or a file files.deny covers) by another name.
fn tricks() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![
        ("direct", vec!["cat=/etc/secret"]),
        ("relative-after-chdir", vec!["chdir=/etc", "cat=secret"]),
        ("dirfd", vec!["openat=/etc:secret"]),
        ("dotdot", vec!["cat=/shared/../etc/./secret"]),
        ("symlink", vec!["symlink=/etc/secret:/shared/link", "cat=/shared/link"]),
        ("proc-self-root", vec!["cat=/proc/self/root/etc/secret"]),
        ("reopen-proc-fd", vec!["reopen=/etc/secret"]),
        ("openat2", vec!["openat2=/etc/secret"]),
        (
            "hardlink",
            vec!["hardlink=/shared/secret:/shared/alias", "cat=/shared/alias"],
        ),
    ]
}

fn run_trick(node: &Node, mode: &str, name: &str, steps: &[&str]) -> fnguard_testkit::RunResult {
    fs::write(node.shared.join("secret"), SECRET).unwrap();
    for leftover in ["link", "alias"] {
        let _ = fs::remove_file(node.shared.join(leftover));
    }
    node.bundle(&format!("{mode}-{name}"))
        .annotation("fnguard.io/files.deny", "/etc/secret, /shared/secret")
        .annotation("fnguard.io/mode", mode)
        .file("/etc/secret", SECRET)
        .steps(steps)
        .build()
        .run()
}

#[test]
fn every_bypass_trick_is_killed_in_enforce_mode_before_the_content_is_read() {
    let node = node("monitor-enforce");
    let follower = node.follow_events();
    for (name, steps) in tricks() {
        let run = run_trick(&node, "enforce", name, &steps);
        assert_eq!(run.code, Some(137), "{name}: not killed: {run:?}");
        assert!(
            !run.stdout.contains("TOP-SECRET"),
            "{name}: content reached stdout: {}",
            run.stdout
        );
    }
    let events = follower.stop();
    for (name, _) in tricks() {
        let container = format!("enforce-{name}");
        let denied: Vec<&Value> = of_kind(&events, "file.open")
            .into_iter()
            .filter(|e| e["container"] == container.as_str() && e["verdict"] == "denied")
            .collect();
        assert_eq!(denied.len(), 1, "{name}: {events:#?}");
        assert_eq!(denied[0]["mechanism"], "sigkill");
        assert_eq!(denied[0]["rule"], "files.deny");
        let want = match name {
            "hardlink" => "/shared/alias",
            _ => "/etc/secret",
        };
        assert_eq!(denied[0]["path"], want, "{name}: the kernel's path");
    }
}

#[test]
fn the_probe_read_build_of_the_open_monitor_judges_alike() {
    // What kernels before 6.2 load: same verdicts, same paths.
    let compat = node("monitor-probe-read").with_hook_env("FNGUARD_OPEN_MONITOR=probe-read");
    let follower = compat.follow_events();
    for (name, steps) in tricks()
        .into_iter()
        .filter(|(n, _)| ["dotdot", "symlink", "hardlink"].contains(n))
    {
        let run = run_trick(&compat, "enforce", name, &steps);
        assert_eq!(run.code, Some(137), "{name}: not killed: {run:?}");
        assert!(!run.stdout.contains("TOP-SECRET"), "{name}: {}", run.stdout);
    }
    let allowed = compat
        .bundle("probe-read-allowed")
        .annotation("fnguard.io/files.deny", "/etc/secret")
        .file("/etc/config", b"fine")
        .steps(&["cat=/etc/config"])
        .build()
        .run();
    assert!(allowed.success && allowed.stdout.contains("fine"), "{allowed:?}");
    let events = follower.stop();
    let denied: Vec<&str> = of_kind(&events, "file.open")
        .into_iter()
        .filter(|e| e["verdict"] == "denied")
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(denied, ["/etc/secret", "/etc/secret", "/shared/alias"], "{events:#?}");
    assert_eq!(opens_of(&events, "/etc/config").len(), 1, "{events:#?}");

    // And it is the probe-read build that ran: every field read is a helper call.
    let default_build = node("monitor-plain-loads");
    let plain = default_build
        .bundle("plain-loads")
        .annotation("fnguard.io/files.deny", "/etc/secret")
        .steps(&["cat=/etc/hostname"])
        .build()
        .run();
    assert!(plain.success, "{plain:?}");
    let (probe_reads, plain) = (
        compat.helper_calls("fng_sys_exit", "bpf_probe_read_kernel"),
        default_build.helper_calls("fng_sys_exit", "bpf_probe_read_kernel"),
    );
    // The path walk alone reads five fields per step that the default build loads.
    assert!(
        probe_reads >= plain + 5,
        "probe-read build {probe_reads} reads, default {plain}"
    );
}

#[test]
fn every_bypass_trick_is_reported_in_audit_mode() {
    let node = node("monitor-audit");
    let follower = node.follow_events();
    for (name, steps) in tricks() {
        let run = run_trick(&node, "audit", name, &steps);
        assert!(run.success, "{name}: {run:?}");
        assert!(
            run.stdout.contains("TOP-SECRET-CONTENT"),
            "{name}: audit must not stop it: {run:?}"
        );
    }
    let events = follower.stop();
    for (name, _) in tricks() {
        let container = format!("audit-{name}");
        let audited = of_kind(&events, "file.open")
            .into_iter()
            .filter(|e| e["container"] == container.as_str() && e["verdict"] == "audited")
            .count();
        assert_eq!(audited, 1, "{name}: {events:#?}");
    }
}

#[test]
fn allowed_opens_are_not_disturbed_and_read_allow_lists_hold() {
    let node = node("monitor-allowed");
    let run = node
        .bundle("allowed")
        .annotation("fnguard.io/files.deny", "/etc/secret")
        .file("/etc/secret", SECRET)
        .file("/etc/motd", b"motd-content")
        .steps(&["cat=/etc/motd", "write=/shared/out", "cat=/shared/out"])
        .build()
        .run();
    assert!(run.success, "{run:?}");
    assert_eq!(run.outcome("cat=/etc/motd"), "ok");
    assert!(run.stdout.contains("motd-content"));
    assert!(run.stdout.contains("written by fnguard-payload"));

    // files.read: only /etc/motd, /shared and /proc (the C library reads
    // /proc/<pid>/maps at start) may be read; the rest kills.
    let run = node
        .bundle("read-list")
        .annotation("fnguard.io/files.read", "/etc/motd, /shared, /proc")
        .annotation("fnguard.io/files.write", "/shared")
        .file("/etc/motd", b"motd-content")
        .file("/etc/other", b"OTHER-CONTENT")
        .steps(&["cat=/etc/motd", "write=/shared/x", "cat=/etc/other"])
        .build()
        .run();
    assert_eq!(run.outcome("cat=/etc/motd"), "ok", "{run:?}");
    assert_eq!(run.outcome("write=/shared/x"), "ok");
    assert_eq!(run.code, Some(137));
    assert!(!run.stdout.contains("OTHER-CONTENT"));
}

#[test]
fn exec_allow_list_kills_other_binaries_before_they_run() {
    let node = node("monitor-exec");
    let follower = node.follow_events();
    let tool = fs::read(payload_binary()).unwrap();
    let run = node
        .bundle("exec")
        .annotation("fnguard.io/exec", "/fnguard-payload, /bin/busybox")
        .file("/opt/tool", &tool)
        .steps(&["exec=/bin/sh:-c:true", "exec=/opt/tool:touch=/shared/tool-ran"])
        .build()
        .run();
    assert!(run.success, "{run:?}");
    assert_eq!(run.outcome("exec=/bin/sh:-c:true"), "ok");
    assert_eq!(run.outcome("exec=/opt/tool:touch=/shared/tool-ran"), "signal-9");
    assert!(!node.shared.join("tool-ran").exists(), "the denied binary ran");
    let events = follower.stop();
    let denied: Vec<&Value> = of_kind(&events, "process.exec")
        .into_iter()
        .filter(|e| e["verdict"] == "denied")
        .collect();
    assert_eq!(denied.len(), 1, "{events:#?}");
    assert_eq!(denied[0]["path"], "/opt/tool");
    assert_eq!(denied[0]["rule"], "exec");
    assert_eq!(denied[0]["mechanism"], "sigkill");
}

#[test]
fn a_path_too_deep_to_resolve_is_flagged_and_fails_closed() {
    let node = node("monitor-deep");
    let deep = format!("/shared/{}f", "d/".repeat(300));
    let follower = node.follow_events();
    let audit = node
        .bundle("deep-audit")
        .annotation("fnguard.io/files.deny", "/etc/secret")
        .annotation("fnguard.io/mode", "audit")
        .steps(&["mkdirs=/shared:300".to_string(), format!("write={deep}")])
        .build()
        .run();
    assert!(audit.success, "{audit:?}");
    let enforce = node
        .bundle("deep-enforce")
        .annotation("fnguard.io/files.deny", "/etc/secret")
        .steps(&[format!("cat={deep}")])
        .build()
        .run();
    assert_eq!(enforce.code, Some(137), "{enforce:?}");
    let events = follower.stop();
    let flagged: Vec<&Value> = of_kind(&events, "file.open")
        .into_iter()
        .filter(|e| e["path_truncated"] == true)
        .collect();
    assert!(
        flagged
            .iter()
            .any(|e| e["verdict"] == "audited" && e["rule"] == "path-unresolved"),
        "{events:#?}"
    );
    assert!(flagged
        .iter()
        .any(|e| e["verdict"] == "denied" && e["container"] == "deep-enforce"));
}

#[test]
fn a_flood_in_one_function_does_not_hide_another_functions_open() {
    let node = node("monitor-flood");
    let follower = node.follow_events();
    let flood = node
        .bundle("flood")
        .annotation("fnguard.io/function", "noisy")
        .file("/etc/motd", b"m")
        .steps(&["touch=/shared/flooding", "flood=/etc/motd:1000000"])
        .build()
        .spawn();
    node.wait_for_file("flooding");
    let quiet = node
        .bundle("quiet")
        .annotation("fnguard.io/files.deny", "/etc/secret")
        .annotation("fnguard.io/mode", "audit")
        .file("/etc/secret", SECRET)
        .steps(&["cat=/etc/secret"])
        .build()
        .run();
    assert!(quiet.success, "{quiet:?}");
    let flood = fnguard_testkit::RunResult::from_child(flood);
    assert_eq!(flood.outcome("flood=/etc/motd:1000000"), "ok");
    let events = follower.stop();
    let sensitive: Vec<&Value> = opens_of(&events, "/etc/secret")
        .into_iter()
        .filter(|e| e["container"] == "quiet")
        .collect();
    assert_eq!(sensitive.len(), 1, "the quiet function's open was lost");
    assert_eq!(sensitive[0]["verdict"], "audited");
    // The flood was throttled, and said so.
    let stop = of_kind(&events, "container.stop")
        .into_iter()
        .find(|e| e["container"] == "flood")
        .expect("stop summary of the flood")
        .clone();
    let throttled = stop["totals"]["events_throttled"].as_u64().unwrap();
    assert!(throttled > 0, "{stop:#?}");
    assert!(stop["totals"]["opens"].as_u64().unwrap() >= 1_000_000);
    assert!(!of_kind(&events, "events.throttled").is_empty());
}
