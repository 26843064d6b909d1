//! Network policy beyond egress on real runc: bind, DNS resolvers, and the
//! port-scan and policy-probe detections (root; see README.md). Addresses
//! off this host are only tried from a container with its own network
//! namespace, where nothing can leave.

use std::net::UdpSocket;
use std::thread;

use fnguard_testkit::{of_container, Node};
use serde_json::Value;

fn node(name: &str) -> Node {
    Node::new(name, env!("CARGO_BIN_EXE_fnguard").as_ref())
}

#[test]
fn binds_outside_the_bind_list_are_denied_over_ipv4_and_ipv6() {
    let node = node("net-bind");
    let follower = node.follow_events();
    let steps = [
        "bind=0.0.0.0:8080",
        "bind=0.0.0.0:8081",
        "bind=[::]:8080",
        "bind=[::]:8081",
        "bind-udp=0.0.0.0:5353",
        "bind-udp=0.0.0.0:8080",
        "bind=0.0.0.0:0",
    ];
    let run = node
        .bundle("bind")
        .netns()
        .annotation("fnguard.io/bind", "8080/tcp, 5353/udp")
        .steps(&steps)
        .build()
        .run();
    assert!(run.success, "{run:?}");
    for (step, want) in steps.iter().zip(["ok", "EPERM", "ok", "EPERM", "ok", "EPERM", "ok"]) {
        assert_eq!(run.outcome(step), want, "{step}: {run:?}");
    }
    let audit = node
        .bundle("bind-audit")
        .netns()
        .annotation("fnguard.io/bind", "none")
        .annotation("fnguard.io/mode", "audit")
        .steps(&["bind=0.0.0.0:9090"])
        .build()
        .run();
    assert_eq!(audit.outcome("bind=0.0.0.0:9090"), "ok", "{audit:?}");

    let events = follower.stop();
    let denied: Vec<(String, u64, &str)> = of_container(&events, "net.bind", "bind")
        .iter()
        .map(|e| {
            (
                e["protocol"].as_str().unwrap().to_string(),
                e["sport"].as_u64().unwrap(),
                e["saddr"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        denied,
        [
            ("tcp".into(), 8081, "0.0.0.0"),
            ("tcp".into(), 8081, "::"),
            ("udp".into(), 8080, "0.0.0.0")
        ],
        "{events:#?}"
    );
    for e in of_container(&events, "net.bind", "bind") {
        assert_eq!(
            (e["verdict"].as_str(), e["rule"].as_str(), e["operation"].as_str()),
            (Some("denied"), Some("bind"), Some("bind"))
        );
    }
    let audited = of_container(&events, "net.bind", "bind-audit");
    assert_eq!(audited.len(), 1, "{events:#?}");
    assert_eq!(audited[0]["verdict"], "audited");
}

/// A resolver on addr:53 answering every query with its own id; runs until the test ends.
fn resolver(addr: &str) {
    let socket = UdpSocket::bind(addr).unwrap_or_else(|e| panic!("binding a test resolver on {addr}: {e}"));
    thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, peer)) = socket.recv_from(&mut buf) {
            buf[2] |= 0x80; // a response
            let _ = socket.send_to(&buf[..n], peer);
        }
    });
}

#[test]
fn dns_goes_only_to_the_listed_resolvers() {
    let node = node("net-dns");
    resolver("127.0.0.2:53");
    resolver("127.0.0.3:53");
    resolver("[::1]:53");
    let follower = node.follow_events();
    let steps = [
        "dns=127.0.0.2:53",
        "dns=127.0.0.3:53",
        "dns=[::1]:53",
        "dns=[::ffff:127.0.0.3]:53",
        "tcp=127.0.0.3:53",
    ];
    let run = node
        .bundle("dns")
        .annotation("fnguard.io/dns", "127.0.0.2, ::1")
        // The listed resolvers are reachable on port 53 although egress denies everything.
        .annotation("fnguard.io/egress", "none")
        .steps(&steps)
        .build()
        .run();
    assert!(run.success, "{run:?}");
    for (step, want) in steps.iter().zip(["ok", "EPERM", "ok", "EPERM", "EPERM"]) {
        assert_eq!(run.outcome(step), want, "{step}: {run:?}");
    }
    let events = follower.stop();
    let denied: Vec<(&str, &str, &str)> = of_container(&events, "net.egress", "dns")
        .iter()
        .map(|e| {
            (
                e["daddr"].as_str().unwrap(),
                e["protocol"].as_str().unwrap(),
                e["rule"].as_str().unwrap(),
            )
        })
        .collect();
    // The kernel sends to a v4-mapped address as IPv4, and judges it so.
    assert_eq!(
        denied,
        [
            ("127.0.0.3", "udp", "dns"),
            ("127.0.0.3", "udp", "dns"),
            ("127.0.0.3", "tcp", "dns")
        ],
        "{events:#?}"
    );
}

/// The one detection of a container: rule and its counts (ports, hosts, denied).
fn scan_detection(events: &[Value], container: &str) -> (String, u64, u64, u64) {
    let found = of_container(events, "detection", container);
    assert_eq!(found.len(), 1, "{container}: {found:#?}");
    let e = found[0];
    let args = &e["args"];
    (
        e["rule"].as_str().unwrap().to_string(),
        args[0].as_u64().unwrap(),
        args[1].as_u64().unwrap(),
        args[2].as_u64().unwrap(),
    )
}

#[test]
fn port_and_host_scans_are_detected_with_their_counts_and_a_busy_client_is_not() {
    let node = node("net-scan");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || for _ in listener.incoming() {});
    let follower = node.follow_events();
    let scans = [
        ("tcp-scan", "scan-tcp=10.0.0.1:1-100"),
        ("udp-scan", "scan-udp=10.0.0.1:1-100"),
        ("v6-scan", "scan-tcp=[fd00::1]:1-100"),
        ("host-scan", "scan-hosts=10.0.1:60:443"),
    ];
    for (name, step) in scans {
        let run = node
            .bundle(name)
            .netns()
            .annotation("fnguard.io/function", "scanner")
            .steps(&[step])
            .build()
            .run();
        assert!(run.success, "{name}: {run:?}");
    }
    let tuned = node
        .bundle("tuned-scan")
        .netns()
        .annotation("fnguard.io/scan", "ports=5, window=30s")
        .steps(&["scan-tcp=10.0.0.1:1-10"])
        .build()
        .run();
    assert!(tuned.success, "{tuned:?}");
    let client = node
        .bundle("client")
        .annotation("fnguard.io/function", "client")
        .steps(&[format!("repeat-tcp=127.0.0.1:{port}:100")])
        .build()
        .run();
    assert_eq!(
        client.outcome(&format!("repeat-tcp=127.0.0.1:{port}:100")),
        "ok",
        "{client:?}"
    );
    let prober = node
        .bundle("prober")
        .annotation("fnguard.io/egress", "none")
        .steps(&[format!("repeat-tcp=127.0.0.1:{port}:20")])
        .build()
        .run();
    assert!(prober.success, "{prober:?}");

    let events = follower.stop();
    // Fired once, when the window's count first passed the threshold (30 ports, 50 hosts).
    for name in ["tcp-scan", "udp-scan", "v6-scan"] {
        assert_eq!(scan_detection(&events, name), ("port-scan".into(), 31, 1, 0), "{name}");
    }
    assert_eq!(scan_detection(&events, "host-scan"), ("port-scan".into(), 1, 51, 0));
    assert_eq!(scan_detection(&events, "tuned-scan"), ("port-scan".into(), 6, 1, 0));
    assert_eq!(of_container(&events, "detection", "client"), Vec::<&Value>::new());
    // The prober's first refused connection, then the probe (denied > 10).
    let probe: Vec<(&str, u64)> = of_container(&events, "detection", "prober")
        .iter()
        .map(|e| (e["rule"].as_str().unwrap(), e["args"][2].as_u64().unwrap()))
        .collect();
    assert_eq!(
        probe,
        [("unlisted-destination", 1), ("policy-probe", 11)],
        "{events:#?}"
    );
    // Network detections name both ends (the refused socket was never bound).
    let first = &of_container(&events, "detection", "prober")[0];
    assert_eq!(
        (
            first["saddr"].as_str(),
            first["sport"].as_u64(),
            first["daddr"].as_str(),
            first["dport"].as_u64()
        ),
        (Some("0.0.0.0"), Some(0), Some("127.0.0.1"), Some(u64::from(port)))
    );
    let e = &of_container(&events, "detection", "udp-scan")[0];
    assert_eq!(
        (e["syscall"].as_str(), e["daddr"].as_str()),
        (Some("sendto"), Some("10.0.0.1"))
    );
}

#[test]
fn a_scan_is_killed_at_the_threshold_when_the_rule_kills() {
    let node = node("net-scan-kill");
    let run = node
        .bundle("scan-kill")
        .netns()
        .annotation("fnguard.io/rules.kill", "port-scan")
        .steps(&["scan-tcp=10.0.0.1:1-100", "touch=/shared/survived"])
        .build()
        .run();
    assert_eq!(run.code, Some(137), "{run:?}");
    assert!(!node.shared.join("survived").exists());
}

#[test]
fn sockets_outside_the_list_are_refused_or_stopped() {
    let node = node("net-sockets");
    let follower = node.follow_events();
    let steps = [
        "socket=2:1",
        "socket=10:2",
        "socket=2:3:1",
        "socket=16:3",
        "socket=1:1",
        "touch=/shared/survived",
    ];
    let run = node
        .bundle("sockets")
        .capability("CAP_NET_RAW")
        .annotation("fnguard.io/sockets", "inet, inet6, netlink")
        .steps(&steps)
        .build()
        .run();
    // Inet sockets are refused before they exist; other families stop the process.
    for (step, want) in steps.iter().zip(["ok", "ok", "EPERM", "ok"]) {
        assert_eq!(run.outcome(step), want, "{step}: {run:?}");
    }
    assert_eq!(run.code, Some(137), "the unix socket was not stopped: {run:?}");
    assert!(!node.shared.join("survived").exists());
    let raw = node
        .bundle("raw-listed")
        .capability("CAP_NET_RAW")
        .annotation("fnguard.io/sockets", "inet, raw")
        .steps(&["socket=2:3:1"])
        .build()
        .run();
    assert_eq!(raw.outcome("socket=2:3:1"), "ok", "{raw:?}");
    let audit = node
        .bundle("sockets-audit")
        .annotation("fnguard.io/sockets", "inet")
        .annotation("fnguard.io/mode", "audit")
        .steps(&["socket=1:1", "socket=10:1"])
        .build()
        .run();
    assert!(
        audit.success && audit.outcome("socket=1:1") == "ok" && audit.outcome("socket=10:1") == "ok",
        "{audit:?}"
    );

    let events = follower.stop();
    let seen = |container| -> Vec<(String, String, String, String)> {
        of_container(&events, "net.socket", container)
            .iter()
            .map(|e| {
                let text = |k: &str| e[k].as_str().unwrap().to_string();
                (text("family"), text("socket_type"), text("verdict"), text("mechanism"))
            })
            .collect()
    };
    let s = |a: &str, b: &str, c: &str, d: &str| (a.to_string(), b.to_string(), c.to_string(), d.to_string());
    assert_eq!(
        seen("sockets"),
        [
            s("inet", "raw", "denied", "cgroup-sock-create"),
            s("unix", "stream", "denied", "sigkill")
        ],
        "{events:#?}"
    );
    assert_eq!(seen("raw-listed"), []);
    assert_eq!(
        seen("sockets-audit"),
        [
            s("unix", "stream", "audited", "none"),
            s("inet6", "stream", "audited", "none")
        ]
    );
}

/// An HTTP GET to `to` from source address `from`; None when no connection
/// was made within a second (the SYN dropped).
fn get_from(from: std::net::IpAddr, to: std::net::SocketAddr) -> Option<String> {
    use nix::sys::socket::{
        bind, connect, setsockopt, socket, sockopt, AddressFamily, SockFlag, SockType, SockaddrStorage,
    };
    use nix::sys::time::TimeVal;
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;

    let family = if to.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    let fd = socket(family, SockType::Stream, SockFlag::empty(), None).unwrap();
    setsockopt(&fd, sockopt::SendTimeout, &TimeVal::new(1, 0)).unwrap();
    bind(
        fd.as_raw_fd(),
        &SockaddrStorage::from(std::net::SocketAddr::new(from, 0)),
    )
    .unwrap();
    connect(fd.as_raw_fd(), &SockaddrStorage::from(to)).ok()?;
    let mut stream = std::net::TcpStream::from(fd);
    stream.write_all(b"GET / HTTP/1.1\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn inbound_connections_and_datagrams_from_unlisted_peers_are_dropped() {
    let node = node("net-ingress");
    let follower = node.follow_events();
    // UDP servers listen below the ephemeral range (replies to a function's
    // own requests arrive above it and are never judged).
    let (tcp, udp, v6) = (free_port(), 20000 + (std::process::id() % 10000) as u16, free_port());
    let spawn = |id: &str, ingress: &str, mode: &str, step: String| {
        node.bundle(id)
            .annotation("fnguard.io/ingress", ingress)
            .annotation("fnguard.io/mode", mode)
            .file("/etc/handler.conf", b"hello\n")
            .steps(&[step])
            .build()
            .spawn()
    };
    // 127.0.0.1: the function's own last connections wake its idle workers.
    let server = spawn(
        "ingress-tcp",
        "127.0.0.2/32, 127.0.0.1/32",
        "enforce",
        format!("serve-http=127.0.0.1:{tcp}:2"),
    );
    let echo = spawn(
        "ingress-udp",
        &format!("127.0.0.2/32:{udp}/udp"),
        "enforce",
        format!("udp-echo=127.0.0.1:{udp}:1"),
    );
    let audited = spawn("ingress-v6", "fd00::/8", "audit", format!("serve-http=[::1]:{v6}:1"));
    let (allowed, denied, ip6) = (
        "127.0.0.2".parse().unwrap(),
        "127.0.0.3".parse().unwrap(),
        "::1".parse().unwrap(),
    );
    let target = std::net::SocketAddr::new("127.0.0.1".parse().unwrap(), tcp);

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let first = loop {
        if let Some(r) = get_from(allowed, target) {
            break r;
        }
        assert!(std::time::Instant::now() < deadline, "the function never answered");
        thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(first.contains("200 OK"), "{first}");
    assert_eq!(
        get_from(denied, target),
        None,
        "a peer outside the list got a connection"
    );
    assert!(get_from(allowed, target).unwrap().contains("200 OK"));

    let send_from = |from: &str| {
        let socket = UdpSocket::bind(from).unwrap();
        socket
            .set_read_timeout(Some(std::time::Duration::from_millis(500)))
            .unwrap();
        socket.send_to(b"ping", ("127.0.0.1", udp)).unwrap();
        let mut buf = [0u8; 16];
        socket.recv_from(&mut buf).ok().map(|(n, _)| buf[..n].to_vec())
    };
    assert_eq!(
        send_from("127.0.0.3:0"),
        None,
        "a datagram from outside the list was answered"
    );
    let answered = (0..40).find_map(|_| send_from("127.0.0.2:0"));
    assert_eq!(answered.as_deref(), Some(&b"ping"[..]));

    let v6_target = std::net::SocketAddr::new(ip6, v6);
    let answer = (0..100).find_map(|_| {
        get_from(ip6, v6_target).or_else(|| {
            thread::sleep(std::time::Duration::from_millis(100));
            None
        })
    });
    assert!(answer.unwrap().contains("200 OK"), "audit mode lets the v6 peer in");
    for (name, child) in [("tcp", server), ("udp", echo), ("v6", audited)] {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{name}: {out:?}");
    }

    let events = follower.stop();
    let seen = |container| -> Vec<(String, String, u64, String, String)> {
        of_container(&events, "net.ingress", container)
            .iter()
            .map(|e| {
                let text = |k: &str| e[k].as_str().unwrap().to_string();
                (
                    text("protocol"),
                    text("saddr"),
                    e["dport"].as_u64().unwrap(),
                    text("verdict"),
                    text("mechanism"),
                )
            })
            .collect()
    };
    let tcp_drops = seen("ingress-tcp");
    assert!(!tcp_drops.is_empty(), "{events:#?}");
    for drop in tcp_drops {
        assert_eq!(
            drop,
            (
                "tcp".into(),
                "127.0.0.3".into(),
                tcp as u64,
                "denied".into(),
                "cgroup-skb-drop".into()
            )
        );
    }
    assert_eq!(
        seen("ingress-udp"),
        [(
            "udp".into(),
            "127.0.0.3".into(),
            udp as u64,
            "denied".into(),
            "cgroup-skb-drop".into()
        )]
    );
    assert_eq!(
        seen("ingress-v6")[0],
        ("tcp".into(), "::1".into(), v6 as u64, "audited".into(), "none".into())
    );
    // Every drop names both ends and the direction.
    let e = of_container(&events, "net.ingress", "ingress-udp")[0];
    assert_eq!(
        (e["direction"].as_str(), e["daddr"].as_str(), e["rule"].as_str()),
        (Some("inbound"), Some("127.0.0.1"), Some("ingress"))
    );
    assert!(e["sport"].as_u64().unwrap() > 0);
}

#[test]
fn an_unlisted_destination_is_killed_when_the_rule_kills() {
    let node = node("net-unlisted-kill");
    let run = node
        .bundle("unlisted-kill")
        .netns()
        .annotation("fnguard.io/egress", "10.0.0.0/8")
        .annotation("fnguard.io/rules.kill", "unlisted-destination")
        .steps(&["tcp=10.0.0.1:80", "tcp=192.0.2.1:80", "touch=/shared/survived"])
        .build()
        .run();
    // The allowed destination is merely unreachable here; the unlisted one kills.
    assert_eq!(run.outcome("tcp=10.0.0.1:80"), "ENETUNREACH", "{run:?}");
    assert_eq!(run.code, Some(137), "{run:?}");
    assert!(!node.shared.join("survived").exists());
}
