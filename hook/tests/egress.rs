//! Egress policy enforced on real runc containers (root; see README.md).

use std::time::Duration;

use fnguard_testkit::{of_kind, tcp_listener, udp_port, Node, RunResult};

fn node(name: &str) -> Node {
    Node::new(name, env!("CARGO_BIN_EXE_fnguard").as_ref())
}

#[test]
fn allowed_and_denied_over_tcp_udp_ipv4_ipv6_and_v4_mapped() {
    let node = node("egress-matrix");
    let (_tcp4, p4) = tcp_listener("127.0.0.2");
    let (_tcp6, p6) = tcp_listener("::1");
    let (_udp4, u4) = udp_port("127.0.0.2");
    let (_udp6, u6) = udp_port("::1");
    let policy = format!("127.0.0.2/32:{p4}/tcp, 127.0.0.2:{u4}/udp, [::1]:{p6}/tcp, ::1/128:{u6}/udp");
    let expect = [
        (format!("tcp=127.0.0.2:{p4}"), "ok"),
        (format!("tcp=127.0.0.3:{p4}"), "EPERM"),
        (format!("tcp=127.0.0.2:{u4}"), "EPERM"),
        (format!("tcp=[::ffff:127.0.0.2]:{p4}"), "ok"),
        (format!("tcp=[::ffff:127.0.0.3]:{p4}"), "EPERM"),
        (format!("tcp=[::1]:{p6}"), "ok"),
        (format!("tcp=[::1]:{u6}"), "EPERM"),
        (format!("udp-send=127.0.0.2:{u4}"), "ok"),
        (format!("udp-send=127.0.0.3:{u4}"), "EPERM"),
        (format!("udp-send=127.0.0.2:{p4}"), "EPERM"),
        (format!("udp-connect=127.0.0.2:{u4}"), "ok"),
        (format!("udp-connect=127.0.0.3:{u4}"), "EPERM"),
        (format!("udp-send=[::1]:{u6}"), "ok"),
        (format!("udp-send=[::1]:{p6}"), "EPERM"),
        (format!("udp-connect=[::1]:{u6}"), "ok"),
        (format!("udp-send=[::ffff:127.0.0.2]:{u4}"), "ok"),
        (format!("udp-send=[::ffff:127.0.0.3]:{u4}"), "EPERM"),
    ];
    let steps: Vec<&str> = expect.iter().map(|(s, _)| s.as_str()).collect();
    let follower = node.follow_events();
    let run = node
        .bundle("matrix")
        .annotation("fnguard.io/egress", &policy)
        .annotation("fnguard.io/function", "matrix-fn")
        .steps(&steps)
        .build()
        .run();
    assert!(run.success, "{run:?}");
    for (step, want) in &expect {
        assert_eq!(run.outcome(step), *want, "step {step}");
    }

    let denied = expect.iter().filter(|(_, w)| *w == "EPERM").count();
    let all = follower.stop();
    let events = of_kind(&all, "net.egress");
    assert_eq!(events.len(), denied, "one event per denial: {events:#?}");
    let mapped = events
        .iter()
        .find(|e| e["daddr"] == "::ffff:127.0.0.3" && e["protocol"] == "tcp")
        .expect("event for the v4-mapped connect");
    assert_eq!(mapped["verdict"], "denied");
    assert_eq!(mapped["operation"], "connect");
    assert_eq!(mapped["dport"], p4);
    assert_eq!(mapped["container"], "matrix");
    assert_eq!(mapped["function"], "matrix-fn");
    assert_eq!(mapped["comm"], "fnguard-payload");
    assert_eq!(mapped["mechanism"], "cgroup-sock-addr");
    assert!(events
        .iter()
        .any(|e| e["operation"] == "sendmsg" && e["daddr"] == "127.0.0.3" && e["dport"] == u4));
    assert!(node.leftovers().is_empty(), "{:?}", node.leftovers());
}

#[test]
fn prefixes_port_ranges_and_none() {
    let node = node("egress-prefixes");
    let (_l, port) = tcp_listener("127.0.0.2");
    let run = node
        .bundle("prefix")
        .annotation(
            "fnguard.io/egress",
            &format!("127.0.0.0/30:{port}-{}/tcp, 127.0.0.2/32:1-2/udp", port + 1),
        )
        .steps(&[
            format!("tcp=127.0.0.2:{port}"),
            format!("tcp=127.0.0.3:{}", port + 1),
            format!("tcp=127.0.0.4:{port}"),
            format!("tcp=127.0.0.2:{}", port + 2),
        ])
        .build()
        .run();
    assert_eq!(run.outcome(&format!("tcp=127.0.0.2:{port}")), "ok");
    // Inside the /30 and the range, nothing listens: the kernel let it through.
    assert_eq!(run.outcome(&format!("tcp=127.0.0.3:{}", port + 1)), "ECONNREFUSED");
    assert_eq!(run.outcome(&format!("tcp=127.0.0.4:{port}")), "EPERM");
    assert_eq!(run.outcome(&format!("tcp=127.0.0.2:{}", port + 2)), "EPERM");

    let run = node
        .bundle("none")
        .annotation("fnguard.io/egress", "none")
        .steps(&[format!("tcp=127.0.0.2:{port}"), format!("udp-send=[::1]:{port}")])
        .build()
        .run();
    assert_eq!(run.outcome(&format!("tcp=127.0.0.2:{port}")), "EPERM");
    assert_eq!(run.outcome(&format!("udp-send=[::1]:{port}")), "EPERM");
}

#[test]
fn audit_mode_reports_without_denying() {
    let node = node("egress-audit");
    let (_l, port) = tcp_listener("127.0.0.2");
    let run = node
        .bundle("audit")
        .annotation("fnguard.io/egress", &format!("127.0.0.2/32:{port}/tcp"))
        .annotation("fnguard.io/mode", "audit")
        .steps(&[format!("tcp=127.0.0.3:{port}"), format!("tcp=127.0.0.2:{port}")])
        .build()
        .run();
    assert_eq!(run.outcome(&format!("tcp=127.0.0.3:{port}")), "ECONNREFUSED");
    assert_eq!(run.outcome(&format!("tcp=127.0.0.2:{port}")), "ok");
    // Read after the container stopped: the ring kept them, only attribution is gone.
    let all = node.events();
    let events = of_kind(&all, "net.egress");
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["verdict"], "audited");
    assert_eq!(events[0]["daddr"], "127.0.0.3");
    assert_eq!(
        (events[0]["direction"].as_str(), events[0]["saddr"].is_string()),
        (Some("outbound"), true)
    );
}

#[test]
fn two_containers_get_their_own_policies_at_the_same_time() {
    let node = node("egress-two");
    let (_a, port_a) = tcp_listener("127.0.0.2");
    let (_b, port_b) = tcp_listener("127.0.0.2");
    let steps = [
        "wait=/shared/go".to_string(),
        format!("tcp=127.0.0.2:{port_a}"),
        format!("tcp=127.0.0.2:{port_b}"),
    ];
    let a = node
        .bundle("fn-a")
        .annotation("fnguard.io/egress", &format!("127.0.0.2:{port_a}/tcp"))
        .steps(&steps)
        .build();
    let b = node
        .bundle("fn-b")
        .annotation("fnguard.io/egress", &format!("127.0.0.2:{port_b}/tcp"))
        .steps(&steps)
        .build();
    let (child_a, child_b) = (a.spawn(), b.spawn());
    node.wait_for_records(2, Duration::from_secs(30));

    let status = node.status();
    assert_eq!(status.len(), 2, "{status:#?}");
    assert_ne!(status[0]["cgroup_id"], status[1]["cgroup_id"]);
    assert!(status.iter().all(|s| s["cgroup_alive"] == true));

    std::fs::write(node.shared.join("go"), b"").unwrap();
    let (run_a, run_b) = (RunResult::from_child(child_a), RunResult::from_child(child_b));
    assert_eq!(run_a.outcome(&format!("tcp=127.0.0.2:{port_a}")), "ok", "{run_a:?}");
    assert_eq!(run_a.outcome(&format!("tcp=127.0.0.2:{port_b}")), "EPERM");
    assert_eq!(run_b.outcome(&format!("tcp=127.0.0.2:{port_a}")), "EPERM", "{run_b:?}");
    assert_eq!(run_b.outcome(&format!("tcp=127.0.0.2:{port_b}")), "ok");
}

#[test]
fn status_counts_allowed_and_denied_connects() {
    let node = node("egress-status");
    let (_l, port) = tcp_listener("127.0.0.2");
    let bundle = node
        .bundle("counted")
        .annotation("fnguard.io/egress", &format!("127.0.0.2:{port}/tcp"))
        .steps(&[
            format!("tcp=127.0.0.2:{port}"),
            format!("tcp=127.0.0.3:{port}"),
            format!("tcp=127.0.0.4:{port}"),
            format!("udp-send=127.0.0.2:{port}"),
            "touch=/shared/done".to_string(),
            "wait=/shared/exit".to_string(),
        ])
        .build();
    let child = bundle.spawn();
    node.wait_for_file("done");
    let status = node.status();
    std::fs::write(node.shared.join("exit"), b"").unwrap();
    RunResult::from_child(child);
    let stats = &status[0]["stats"];
    assert_eq!(status[0]["id"], "counted");
    assert_eq!(stats["connect_allowed"], 1, "{status:#?}");
    assert_eq!(stats["connect_denied"], 2);
    assert_eq!(stats["sendmsg_denied"], 1);
    assert!(status[0]["policy_summary"]
        .as_str()
        .unwrap()
        .contains(&format!("127.0.0.2/32:{port}/tcp")));
}

#[test]
fn a_process_moved_to_a_child_cgroup_keeps_its_containers_policy() {
    let node = node("egress-child-cgroup");
    let (_l, port) = tcp_listener("127.0.0.2");
    let bundle = node
        .bundle("nested")
        .annotation("fnguard.io/egress", &format!("127.0.0.2:{port}/tcp"))
        .steps(&[
            "touch=/shared/ready".to_string(),
            "wait=/shared/moved".to_string(),
            format!("tcp=127.0.0.3:{port}"),
            format!("tcp=127.0.0.2:{port}"),
            "touch=/shared/done".to_string(),
            "wait=/shared/exit".to_string(),
        ])
        .build();
    let child = bundle.spawn();
    node.wait_for_file("ready");
    let pid = node.runc_state("nested")["pid"].to_string();
    let cgroup_dir = std::path::PathBuf::from(node.status()[0]["cgroup_dir"].as_str().unwrap());
    let nested = cgroup_dir.join("worker");
    std::fs::create_dir(&nested).unwrap();
    std::fs::write(nested.join("cgroup.procs"), &pid).unwrap();
    std::fs::write(node.shared.join("moved"), b"").unwrap();

    node.wait_for_file("done");
    std::fs::write(cgroup_dir.join("cgroup.procs"), &pid).unwrap();
    std::fs::remove_dir(&nested).unwrap();
    std::fs::write(node.shared.join("exit"), b"").unwrap();
    let run = RunResult::from_child(child);
    assert_eq!(run.outcome(&format!("tcp=127.0.0.3:{port}")), "EPERM", "{run:?}");
    assert_eq!(run.outcome(&format!("tcp=127.0.0.2:{port}")), "ok");
}
