//! Detection rules on real runc: every attack of the attack payload yields
//! exactly its rule's event in audit mode and is killed at that step with
//! the rule in rules.kill in enforce mode; a disabled rule is silent
//! (root; see README.md).

use fnguard_testkit::{of_kind, BundleBuilder, Node};
use serde_json::Value;

fn node(name: &str) -> Node {
    Node::new(name, env!("CARGO_BIN_EXE_fnguard").as_ref())
}

/// What a bundle needs for an attack beyond the payload.
type Customise = for<'n> fn(BundleBuilder<'n>) -> BundleBuilder<'n>;

/// Each attack, the rule it must fire, and what its bundle needs.
fn attacks() -> Vec<(&'static str, &'static str, Customise)> {
    fn plain(b: BundleBuilder<'_>) -> BundleBuilder<'_> {
        b
    }
    let rule_named_as_attack = [
        ("shell", plain as Customise),
        ("exec-from-writable-dir", |b| b.program("/tmp/tool", 0o755)),
        ("drop-and-execute", plain),
        ("fileless-exec", plain),
        ("reverse-shell", plain),
        ("ptrace", plain),
        ("namespace-change", plain),
        ("kernel-module", plain),
        ("bpf", plain),
        ("perf-event-open", plain),
        ("userfaultfd", plain),
        ("io-uring", plain),
        ("keyring", plain),
        ("privilege-change", |b| b.user(1000)),
        ("setuid-exec", |b| b.program("/usr/bin/suid-tool", 0o4755)),
        ("setuid-chmod", plain),
        ("raw-socket", plain),
        // Addresses off this host: a namespace of its own, nothing leaves.
        ("cloud-metadata", |b| b.netns()),
        ("miner-port", |b| b.netns()),
        ("wx-memory", plain),
        ("secret-read", |b| b.file("/etc/shadow", b"root:$6$secret")),
        ("runtime-socket", plain),
    ];
    let mut all: Vec<(&str, &str, Customise)> = rule_named_as_attack.into_iter().map(|(a, c)| (a, a, c)).collect();
    all.extend([
        (
            "ssh-key-read",
            "secret-read",
            (|b| b.file("/home/app/.ssh/id_rsa", b"PRIVATE KEY")) as Customise,
        ),
        ("environ-read", "secret-read", plain),
        ("release-agent-write", "escape-file-write", plain),
        ("proc-mem-write", "ptrace", plain),
        ("cloud-metadata-v6", "cloud-metadata", |b| b.netns()),
    ]);
    all
}

fn detections_of<'e>(events: &'e [Value], container: &str) -> Vec<&'e Value> {
    of_kind(events, "detection")
        .into_iter()
        .filter(|e| e["container"] == container)
        .collect()
}

/// The evidence the event of this attack must carry.
fn check_evidence(attack: &str, event: &Value) {
    let syscall = event["syscall"].as_str().unwrap();
    let path = event["path"].as_str().unwrap_or_default();
    match attack {
        "shell" => assert_eq!(event["path"], "/bin/busybox"),
        "exec-from-writable-dir" => assert_eq!(event["path"], "/tmp/tool"),
        "drop-and-execute" => assert_eq!(event["path"], "/shared/dropped"),
        "fileless-exec" => assert!(event["path"].as_str().unwrap().starts_with("/memfd:payload"), "{event}"),
        "reverse-shell" => assert_eq!(event["path"], "/fnguard-payload"),
        "setuid-exec" => assert_eq!(event["path"], "/usr/bin/suid-tool"),
        "cloud-metadata" => {
            assert_eq!(
                (event["daddr"].as_str(), event["dport"].as_u64()),
                (Some("169.254.169.254"), Some(80))
            )
        }
        "miner-port" => assert_eq!(
            (event["daddr"].as_str(), event["dport"].as_u64()),
            (Some("127.0.0.1"), Some(3333))
        ),
        "ptrace" => assert_eq!(syscall, "ptrace"),
        "namespace-change" => assert_eq!(syscall, "unshare"),
        "kernel-module" => assert_eq!(syscall, "init_module"),
        "bpf" => assert_eq!(syscall, "bpf"),
        "perf-event-open" => assert_eq!(syscall, "perf_event_open"),
        "userfaultfd" => assert_eq!(syscall, "userfaultfd"),
        "io-uring" => assert_eq!(syscall, "io_uring_setup"),
        "keyring" => assert_eq!(syscall, "keyctl"),
        "privilege-change" => assert_eq!((syscall, event["args"][0].as_u64()), ("setuid", Some(0))),
        "setuid-chmod" => assert_eq!((syscall, event["args"][1].as_u64()), ("chmod", Some(0o4755))),
        "raw-socket" => assert_eq!((syscall, event["args"][1].as_u64()), ("socket", Some(3))),
        "wx-memory" => assert_eq!((syscall, event["args"][2].as_u64()), ("mmap", Some(7))),
        "secret-read" => assert_eq!((syscall, path), ("openat", "/etc/shadow")),
        "ssh-key-read" => assert_eq!((syscall, path), ("openat", "/home/app/.ssh/id_rsa")),
        "environ-read" => {
            assert!(
                path.starts_with("/proc/") && path.ends_with("/environ") && path != "/proc/1/environ",
                "{event}"
            )
        }
        "release-agent-write" => assert_eq!((syscall, path), ("openat", "/shared/cgroup/release_agent")),
        "proc-mem-write" => assert_eq!((syscall, path), ("openat", "/proc/1/mem")),
        "cloud-metadata-v6" => assert_eq!(
            (event["daddr"].as_str(), event["dport"].as_u64()),
            (Some("fd00:ec2::254"), Some(80))
        ),
        "runtime-socket" => assert_eq!((syscall, path), ("connect", "/shared/docker.sock")),
        other => panic!("no evidence check for {other}"),
    }
    if syscall == "exec" {
        assert!(event["path"].is_string(), "{attack}: {event}");
    }
    assert_eq!(
        event["parent_comm"].as_str().map(str::is_empty),
        Some(false),
        "{attack}: {event}"
    );
}

#[test]
fn every_attack_yields_exactly_its_rules_event_in_audit_mode() {
    let node = node("detect-audit");
    let follower = node.follow_events();
    for (attack, rule, customise) in attacks() {
        let mut bundle = node
            .bundle(&format!("audit-{attack}"))
            .annotation("fnguard.io/mode", "audit")
            .annotation("fnguard.io/function", "attacked");
        if rule == "wx-memory" {
            // Off by default: naming it in rules.kill turns it on (alert only in audit mode).
            bundle = bundle.annotation("fnguard.io/rules.kill", "wx-memory");
        }
        let run = customise(bundle).steps(&[format!("attack={attack}")]).build().run();
        assert_ne!(run.code, Some(137), "{attack}: audit mode killed it: {run:?}");
    }
    let events = follower.stop();
    for (attack, rule, _) in attacks() {
        let container = format!("audit-{attack}");
        let found = detections_of(&events, &container);
        let rules: Vec<&str> = found.iter().map(|e| e["rule"].as_str().unwrap()).collect();
        assert_eq!(rules, [rule], "{container}: {found:#?}");
        let event = found[0];
        assert_eq!(event["verdict"], "alerted", "{event}");
        assert_eq!(event["mechanism"], "none");
        assert_eq!(event["function"], "attacked");
        assert!(event["severity"].is_string() && event["technique"].as_str().unwrap().starts_with('T'));
        check_evidence(attack, event);
    }
}

#[test]
fn every_attack_is_killed_at_its_step_when_its_rule_kills() {
    let node = node("detect-kill");
    let follower = node.follow_events();
    for (attack, rule, customise) in attacks() {
        let bundle = node
            .bundle(&format!("kill-{attack}"))
            .annotation("fnguard.io/rules.kill", rule);
        let run = customise(bundle)
            .steps(&[format!("attack={attack}"), "touch=/shared/survived".into()])
            .build()
            .run();
        assert_eq!(run.code, Some(137), "{attack}: not killed: {run:?}");
        let leaked = ["sleep=0 ok", "shell ran", "root:$6$", "PRIVATE KEY"];
        assert!(!leaked.iter().any(|l| run.stdout.contains(l)), "{attack}: {run:?}");
        assert!(
            !node.shared.join("survived").exists(),
            "{attack}: went on after the attack"
        );
    }
    let events = follower.stop();
    for (attack, rule, _) in attacks() {
        let found = detections_of(&events, &format!("kill-{attack}"));
        assert_eq!(found.len(), 1, "{attack}: {found:#?}");
        assert_eq!(
            (found[0]["rule"].as_str(), found[0]["verdict"].as_str()),
            (Some(rule), Some("denied"))
        );
        assert_eq!(found[0]["mechanism"], "sigkill");
    }
}

#[test]
fn disabling_a_rule_silences_exactly_that_rule() {
    let node = node("detect-disable");
    let follower = node.follow_events();
    let run = node
        .bundle("disabled")
        .annotation("fnguard.io/rules.disable", "ptrace, io-uring")
        .steps(&["attack=ptrace", "attack=io-uring", "attack=bpf"])
        .build()
        .run();
    assert!(run.success, "{run:?}");
    let events = follower.stop();
    let rules: Vec<&str> = detections_of(&events, "disabled")
        .iter()
        .map(|e| e["rule"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["bpf"], "{events:#?}");
    let stop = of_kind(&events, "container.stop")
        .into_iter()
        .find(|e| e["container"] == "disabled")
        .expect("stop summary");
    assert_eq!(stop["totals"]["detections"], 1);
}

#[test]
fn unknown_rule_names_stop_the_container_with_the_annotation_named() {
    let node = node("detect-unknown");
    let run = node
        .bundle("unknown-rule")
        .annotation("fnguard.io/rules.kill", "shel")
        .steps(&["touch=/shared/started"])
        .build()
        .run();
    assert!(!run.success, "{run:?}");
    assert!(run.stderr.contains("fnguard.io/rules.kill"), "{}", run.stderr);
    assert!(run.stderr.contains("unknown rule"), "{}", run.stderr);
    assert!(!node.shared.join("started").exists());
}

/// One HTTP GET on a new connection; the body.
fn http_get(port: u16) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.write_all(b"GET / HTTP/1.1\r\nHost: fn\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default())
}

#[test]
fn a_benign_http_function_serving_a_thousand_requests_yields_no_detection() {
    let node = node("detect-benign");
    let follower = node.follow_events();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bundle = node
        .bundle("benign")
        .annotation("fnguard.io/function", "benign-http")
        .annotation("fnguard.io/rules.kill", "all")
        .file("/etc/handler.conf", b"hello from the handler\n")
        .steps(&[format!("serve-http=127.0.0.1:{port}:1000")])
        .build();
    let child = bundle.spawn();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let first = loop {
        match http_get(port) {
            Ok(body) => break body,
            Err(_) if std::time::Instant::now() < deadline => std::thread::sleep(std::time::Duration::from_millis(50)),
            Err(e) => panic!("the function never answered on port {port}: {e}"),
        }
    };
    assert_eq!(first, "hello from the handler request 0\n");
    for i in 1..1000 {
        let body = http_get(port).unwrap_or_else(|e| panic!("request {i}: {e}"));
        assert!(
            body.starts_with("hello from the handler request "),
            "request {i}: {body:?}"
        );
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "every rule kills here, so any detection would show: {out:?}"
    );
    let events = follower.stop();
    assert_eq!(detections_of(&events, "benign"), Vec::<&Value>::new());
    let stop = of_kind(&events, "container.stop")
        .into_iter()
        .find(|e| e["container"] == "benign")
        .expect("stop summary");
    assert_eq!(stop["totals"]["detections"], 0);
    assert!(stop["totals"]["opens"].as_u64().unwrap() >= 2000, "{stop}");
}
