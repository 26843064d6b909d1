//! Resource limits on real runc (root; see README.md): payloads that fork,
//! burn CPU, allocate, connect and send until a `fnguard.io/limits.*`
//! annotation stops them, and a function under its limits whose totals must
//! match what it did. Peers are on loopback addresses the test binds.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use fnguard_testkit::{of_container, tcp_listener, Node, RunResult};
use serde_json::Value;

fn node(name: &str) -> Node {
    Node::new(name, env!("CARGO_BIN_EXE_fnguard").as_ref())
}

/// The container's one limit event.
fn limit_event<'e>(events: &'e [Value], container: &str) -> &'e Value {
    let limits = of_container(events, "limit", container);
    assert_eq!(limits.len(), 1, "{container}: {events:#?}");
    limits[0]
}

/// The container's stop summary.
fn stop_event<'e>(events: &'e [Value], container: &str) -> &'e Value {
    let stops = of_container(events, "container.stop", container);
    assert_eq!(stops.len(), 1, "{container}: {events:#?}");
    stops[0]
}

/// The last `PREFIX=N` value the payload printed.
fn last_progress(run: &RunResult, prefix: &str) -> u64 {
    run.stdout
        .lines()
        .filter_map(|l| l.strip_prefix(prefix))
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .next_back()
        .unwrap_or(0)
}

fn assert_killed_by(event: &Value, limit: &str) {
    assert_eq!(
        (
            event["limit"].as_str(),
            event["action"].as_str(),
            event["verdict"].as_str(),
            event["mechanism"].as_str()
        ),
        (Some(limit), Some("kill"), Some("denied"), Some("sigkill")),
        "{event:#}"
    );
}

#[test]
fn a_fork_bomb_is_killed_at_the_process_limit_and_the_host_stays_usable() {
    let node = node("limits-procs");
    let follower = node.follow_events();
    let bomb = node
        .bundle("bomb")
        .annotation("fnguard.io/limits.procs", "64")
        .steps(&["fork-bomb=30"])
        .build()
        .run();
    let spawner = node
        .bundle("spawner")
        .annotation("fnguard.io/limits.forks-per-sec", "100 kill")
        .steps(&["spawn=2000"])
        .build()
        .run();
    // The host still starts programs at once.
    assert!(Command::new("true").status().unwrap().success());
    let events = follower.stop();

    assert_eq!(bomb.code, Some(137), "{bomb:?}");
    let event = limit_event(&events, "bomb");
    assert_killed_by(event, "procs");
    // Forks racing on both CPUs may take the first report a little past 65.
    assert_eq!(event["value"].as_u64(), Some(64));
    assert!((65..=70).contains(&event["observed"].as_u64().unwrap()), "{event:#}");
    let stop = stop_event(&events, "bomb");
    assert_eq!(stop["totals"]["terminated_by"], "procs");
    // Stopped at the limit: it never grew much past it (forks already
    // under way when it was crossed still finish, their children die at
    // their first return to user space).
    let peak = stop["usage"]["tasks_peak"].as_u64().unwrap();
    assert!((65..=80).contains(&peak), "peak {peak}: {stop:#}");
    assert_eq!(stop["usage"]["tasks"], 0, "{stop:#}");

    assert_eq!(spawner.code, Some(137), "{spawner:?}");
    let event = limit_event(&events, "spawner");
    assert_killed_by(event, "forks-per-sec");
    assert_eq!(event["value"].as_u64(), Some(100));
    assert!((101..=106).contains(&event["observed"].as_u64().unwrap()), "{event:#}");
}

#[test]
fn cpu_past_the_budget_is_killed_within_a_fifth_of_it() {
    let node = node("limits-cpu");
    let follower = node.follow_events();
    let run = node
        .bundle("burner")
        .annotation("fnguard.io/limits.cpu-ms", "500ms")
        .steps(&["burn-cpu=5000"])
        .build()
        .run();
    let events = follower.stop();
    assert_eq!(run.code, Some(137), "{run:?}");
    let event = limit_event(&events, "burner");
    assert_killed_by(event, "cpu-ms");
    let observed = event["observed"].as_u64().unwrap();
    assert!((500_000_000..=600_000_000).contains(&observed), "{event:#}");
    let reached = last_progress(&run, "cpu-progress ms=");
    assert!(
        (400..=600).contains(&reached),
        "the payload got to {reached} ms: {run:?}"
    );
    let stop = stop_event(&events, "burner");
    assert_eq!(stop["totals"]["terminated_by"], "cpu-ms");
}

#[test]
fn a_kill_ends_tasks_asleep_in_a_system_call_too() {
    let node = node("limits-sleeper");
    let follower = node.follow_events();
    // A child burns the CPU budget while the container's first process
    // sleeps in nanosleep, a call it would not return from for 30 s.
    let run = node
        .bundle("napper")
        .annotation("fnguard.io/limits.cpu-ms", "300")
        .steps(&["child=burn-cpu=5000", "sleep=30000"])
        .build()
        .run();
    let events = follower.stop();
    assert_eq!(run.code, Some(137), "{run:?}");
    let limit = limit_event(&events, "napper");
    assert_killed_by(limit, "cpu-ms");
    let stop = stop_event(&events, "napper");
    let gap_ms = (stop["ktime_ns"].as_u64().unwrap() - limit["ktime_ns"].as_u64().unwrap()) / 1_000_000;
    if fnguard_bpf::kernel_signals_other_tasks() {
        // The init process is signalled at once and takes its pid namespace with it.
        assert!(
            node.helper_calls("fng_task_exit", "bpf_send_signal_task") > 0,
            "the build that signals init was not loaded"
        );
        assert!(gap_ms < 10_000, "the sleeper outlived the kill by {gap_ms} ms");
    } else {
        // It dies as it returns from its sleep.
        assert!(gap_ms >= 20_000, "{gap_ms} ms");
    }
}

#[test]
fn memory_past_the_limit_is_killed_and_an_alert_only_reports() {
    let node = node("limits-memory");
    let follower = node.follow_events();
    let run = node
        .bundle("hog")
        .annotation("fnguard.io/limits.memory", "64Mi")
        .steps(&["alloc=512"])
        .build()
        .run();
    // Threads of one process fault at once on both CPUs; every change is
    // counted once, and the total returns to nothing when they are gone.
    let threads = node
        .bundle("threads")
        .annotation("fnguard.io/limits.memory", "1Gi")
        .steps(&["alloc-threads=8:16", "alloc-threads=8:16"])
        .build()
        .run();
    let alert = node
        .bundle("grower")
        .annotation("fnguard.io/limits.memory", "16Mi alert")
        .steps(&["alloc=32"])
        .build()
        .run();
    let events = follower.stop();

    assert_eq!(run.code, Some(137), "{run:?}");
    let event = limit_event(&events, "hog");
    assert_killed_by(event, "memory");
    let observed = event["observed"].as_u64().unwrap();
    assert!((64 << 20..=68 << 20).contains(&observed), "{event:#}");
    let reached = last_progress(&run, "alloc-progress mib=");
    assert!((48..64).contains(&reached), "the payload got to {reached} MiB: {run:?}");

    assert!(alert.success, "{alert:?}");
    assert_eq!(alert.outcome("alloc=32"), "ok");
    let event = limit_event(&events, "grower");
    assert_eq!(
        (event["action"].as_str(), event["verdict"].as_str()),
        (Some("alert"), Some("alerted"))
    );
    let peak = stop_event(&events, "grower")["usage"]["rss_peak_bytes"]
        .as_u64()
        .unwrap();
    assert!((32 << 20..64 << 20).contains(&peak), "peak {peak}");

    assert!(threads.success, "{threads:?}");
    let usage = &stop_event(&events, "threads")["usage"];
    let peak = usage["rss_peak_bytes"].as_u64().unwrap();
    assert!((128 << 20..192 << 20).contains(&peak), "peak {peak}: {usage:#}");
    assert_eq!(usage["rss_bytes"], 0, "{usage:#}");
}

/// Accepts connections on `listener` and keeps them open until the test ends.
fn holding_peer(listener: TcpListener) {
    thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
}

#[test]
fn connections_past_the_limit_are_refused_or_killed() {
    let node = node("limits-connections");
    let (listener, port) = tcp_listener("127.0.0.1");
    holding_peer(listener);
    let follower = node.follow_events();
    let hold = format!("hold-tcp=127.0.0.1:{port}:8");
    let throttled = node
        .bundle("holder")
        .annotation("fnguard.io/limits.connections", "5")
        .steps(&[hold.as_str()])
        .build()
        .run();
    let rate = format!("repeat-tcp=127.0.0.1:{port}:50");
    let rated = node
        .bundle("dialer")
        .annotation("fnguard.io/limits.connections-per-sec", "20")
        .steps(&[rate.as_str()])
        .build()
        .run();
    // Twenty connects at once: those still in flight count too.
    let parallel = format!("connect-parallel=127.0.0.1:{port}:20");
    let burst = node
        .bundle("burster")
        .annotation("fnguard.io/limits.connections", "5")
        .steps(&[parallel.as_str()])
        .build()
        .run();
    let killed = node
        .bundle("hoarder")
        .annotation("fnguard.io/limits.connections", "2 kill")
        .steps(&[hold.as_str()])
        .build()
        .run();
    let events = follower.stop();

    assert!(throttled.stdout.contains("hold-tcp opened=5\n"), "{throttled:?}");
    assert_eq!(throttled.outcome(&hold), "EPERM");
    let event = limit_event(&events, "holder");
    assert_eq!(
        (
            event["action"].as_str(),
            event["verdict"].as_str(),
            event["mechanism"].as_str(),
            event["observed"].as_u64()
        ),
        (Some("throttle"), Some("denied"), Some("cgroup-sock-addr"), Some(6))
    );
    let usage = &stop_event(&events, "holder")["usage"];
    assert_eq!(
        (usage["connections_peak"].as_u64(), usage["connects"].as_u64()),
        (Some(5), Some(5))
    );
    assert_eq!(usage["connects_refused"], 1);

    // 50 connects in well under a second: the 21st and later are refused.
    assert_eq!(rated.outcome(&rate), "EPERM", "{rated:?}");
    let event = limit_event(&events, "dialer");
    assert_eq!(
        (event["limit"].as_str(), event["observed"].as_u64()),
        (Some("connections-per-sec"), Some(21))
    );

    assert_eq!(killed.code, Some(137), "{killed:?}");
    assert_killed_by(limit_event(&events, "hoarder"), "connections");

    // Connects between the check and the count (one per CPU, more when
    // one is preempted there) may slip past; the rest are refused.
    let opened = last_progress(&burst, "connect-parallel opened=");
    assert!((5..=9).contains(&opened), "{opened} of 20 opened: {burst:?}");
    let usage = &stop_event(&events, "burster")["usage"];
    assert_eq!(usage["connections_peak"].as_u64(), Some(opened), "{usage:#}");
}

/// Reads everything a client sends; records (time, total) as bytes arrive.
/// `reply`: bytes sent back once the client has shut its side.
fn counting_peer(listener: TcpListener, reply: usize) -> Arc<Mutex<Vec<(Instant, usize)>>> {
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let log = arrivals.clone();
    thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(4))).unwrap();
        let mut buf = vec![0u8; 256 * 1024];
        let mut total = 0;
        loop {
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    total += n;
                    log.lock().unwrap().push((Instant::now(), total));
                }
                Err(_) => return,
            }
        }
        let _ = stream.write_all(&vec![0x17u8; reply]);
    });
    arrivals
}

fn received(arrivals: &Mutex<Vec<(Instant, usize)>>) -> usize {
    arrivals.lock().unwrap().last().map_or(0, |(_, n)| *n)
}

#[test]
fn bytes_past_the_egress_and_ingress_totals_are_dropped() {
    let node = node("limits-bytes");
    let (listener, port) = tcp_listener("127.0.0.1");
    let arrivals = counting_peer(listener, 0);
    let (reply_listener, reply_port) = tcp_listener("127.0.0.1");
    let _replier = counting_peer(reply_listener, 1_000_000);
    let follower = node.follow_events();
    let ask = format!("send-tcp=127.0.0.1:{reply_port}:1000");
    let receiver = node
        .bundle("receiver")
        .annotation("fnguard.io/limits.ingress-bytes", "100k")
        .steps(&[ask.as_str()])
        .build()
        .run();
    let step = format!("send-tcp=127.0.0.1:{port}:64000000");
    let run = node
        .bundle("sender")
        .annotation("fnguard.io/limits.egress-bytes", "1Mi")
        .steps(&[step.as_str()])
        .build()
        .run();
    // Let the peer's read time out: what was dropped never arrives.
    thread::sleep(Duration::from_secs(5));
    let events = follower.stop();
    assert!(run.success, "{run:?}");
    assert_eq!(run.outcome(&step), "EAGAIN", "the send blocked: {run:?}");
    let got = received(&arrivals);
    // Nothing past the total; what fits before the packet that would cross
    // it passes (loopback sends GSO packets of 64 KiB and more).
    assert!((512 << 10..=1 << 20).contains(&got), "the peer received {got}");
    let event = limit_event(&events, "sender");
    assert_eq!(
        (
            event["limit"].as_str(),
            event["action"].as_str(),
            event["mechanism"].as_str()
        ),
        (Some("egress-bytes"), Some("throttle"), Some("cgroup-skb-drop"))
    );
    let usage = &stop_event(&events, "sender")["usage"];
    assert_eq!(usage["tx_bytes"].as_u64(), Some(got as u64), "{usage:#}");
    assert!(usage["tx_dropped_bytes"].as_u64().unwrap() > 0, "{usage:#}");

    // The reply stops at the ingress total; the read times out.
    assert_eq!(receiver.outcome(&ask), "EAGAIN", "{receiver:?}");
    let got = last_progress(&receiver, "send-tcp received=");
    assert!(
        (100_000 - 65_536..=100_000).contains(&got),
        "the function received {got}"
    );
    let event = limit_event(&events, "receiver");
    assert_eq!(
        (
            event["limit"].as_str(),
            event["action"].as_str(),
            event["mechanism"].as_str()
        ),
        (Some("ingress-bytes"), Some("throttle"), Some("cgroup-skb-drop"))
    );
    let usage = &stop_event(&events, "receiver")["usage"];
    assert_eq!(usage["rx_bytes"].as_u64(), Some(got), "{usage:#}");
    assert!(usage["rx_dropped_bytes"].as_u64().unwrap() > 0, "{usage:#}");
}

#[test]
fn the_egress_rate_holds_throughput_to_within_fifteen_percent() {
    const RATE: f64 = 4_000_000.0;
    let node = node("limits-egress-rate");
    let (listener, port) = tcp_listener("127.0.0.1");
    let arrivals = counting_peer(listener, 0);
    let step = format!("stream-tcp=127.0.0.1:{port}:6");
    let run = node
        .bundle("streamer")
        .annotation("fnguard.io/limits.egress-rate", "4MB/s")
        .steps(&[step.as_str()])
        .build()
        .run();
    assert!(run.success, "{run:?}");
    let log = arrivals.lock().unwrap().clone();
    let start = log.first().expect("bytes arrived").0;
    let in_five = log
        .iter()
        .take_while(|(t, _)| t.duration_since(start) <= Duration::from_secs(5))
        .last()
        .unwrap()
        .1;
    let rate = in_five as f64 / 5.0;
    assert!(
        (RATE * 0.85..=RATE * 1.15).contains(&rate),
        "{rate:.0} bytes/s over 5 s against a limit of {RATE}"
    );
}

#[test]
fn a_function_under_its_limits_is_untouched_and_its_totals_match() {
    const SENT: usize = 1_000_000;
    const REPLY: usize = 300_000;
    let node = node("limits-totals");
    let (listener, port) = tcp_listener("127.0.0.1");
    let _peer = counting_peer(listener, REPLY);
    let follower = node.follow_events();
    let send = format!("send-tcp=127.0.0.1:{port}:{SENT}");
    let run = node
        .bundle("steady")
        .annotation("fnguard.io/limits.procs", "100")
        .annotation("fnguard.io/limits.cpu-ms", "20s")
        .annotation("fnguard.io/limits.memory", "1Gi")
        .annotation("fnguard.io/limits.connections", "10")
        .annotation("fnguard.io/limits.egress-bytes", "100Mi")
        .annotation("fnguard.io/limits.ingress-bytes", "100Mi")
        .annotation("fnguard.io/limits.egress-rate", "1Gi/s")
        .steps(&["burn-cpu=300", "alloc=32", "spawn=10", send.as_str(), "cpu-used=self"])
        .build()
        .run();
    let events = follower.stop();
    assert!(run.success, "{run:?}");
    assert!(run.stdout.contains(&format!("send-tcp received={REPLY}\n")), "{run:?}");
    assert!(of_container(&events, "limit", "steady").is_empty(), "{events:#?}");

    let stop = stop_event(&events, "steady");
    let usage = &stop["usage"];
    assert_eq!(
        (usage["tx_bytes"].as_u64(), usage["rx_bytes"].as_u64()),
        (Some(SENT as u64), Some(REPLY as u64)),
        "{usage:#}"
    );
    assert_eq!(
        (usage["connects"].as_u64(), usage["connections_peak"].as_u64()),
        (Some(1), Some(1)),
        "{usage:#}"
    );
    // The payload's ten children, and any thread the runtime's init made after the hook.
    assert!((10..=16).contains(&usage["forks"].as_u64().unwrap()), "{usage:#}");
    assert_eq!(
        (usage["tasks"].as_u64(), usage["rss_bytes"].as_u64()),
        (Some(0), Some(0)),
        "{usage:#}"
    );
    let payload_cpu_ms = last_progress(&run, "cpu-used ms=") as f64;
    let counted_ms = usage["cpu_ns"].as_u64().unwrap() as f64 / 1e6;
    assert!(
        (counted_ms - payload_cpu_ms).abs() <= payload_cpu_ms * 0.10,
        "fnguard counted {counted_ms:.0} ms of CPU, the payload used {payload_cpu_ms} ms"
    );
    let peak = usage["rss_peak_bytes"].as_u64().unwrap();
    assert!((32 << 20..96 << 20).contains(&peak), "peak {peak}");
    assert_eq!(stop["totals"]["terminated_by"], Value::Null);
}

#[test]
fn top_shows_a_running_function() {
    let node = node("limits-top");
    let bundle = node
        .bundle("busy")
        .annotation("fnguard.io/function", "resizer")
        .annotation("fnguard.io/limits.memory", "1Gi")
        .steps(&["burn-cpu=500", "alloc=24", "touch=/shared/ready", "wait=/shared/done"])
        .build();
    let child = bundle.spawn();
    node.wait_for_file("ready");
    let out = node.fnguard(&["top", "--json"]);
    assert!(out.status.success(), "{out:?}");
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let text = node.fnguard(&["top", "--iterations", "1"]);
    std::fs::write(node.shared.join("done"), b"").unwrap();
    let run = RunResult::from_child(child);
    assert!(run.success, "{run:?}");

    assert_eq!(rows.len(), 1, "{rows:#?}");
    let row = &rows[0];
    assert_eq!(
        (row["container"].as_str(), row["function"].as_str()),
        (Some("busy"), Some("resizer"))
    );
    let usage = &row["usage"];
    assert!(usage["cpu_ns"].as_u64().unwrap() >= 480_000_000, "{row:#}");
    assert!(usage["rss_peak_bytes"].as_u64().unwrap() >= 24 << 20, "{row:#}");
    assert!(usage["tasks"].as_u64().unwrap() >= 1, "{row:#}");
    // The cgroup's own CPU figure (cgroup v2 cpu.stat) agrees.
    let own = row["cgroup_cpu_ns"].as_u64().expect("cpu.stat read") as f64;
    let counted = usage["cpu_ns"].as_u64().unwrap() as f64;
    assert!(
        (counted - own).abs() <= own * 0.10,
        "fnguard {counted} ns, cpu.stat {own} ns"
    );
    assert_eq!(row["limits"]["memory"], "1Gi");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("busy") && text.contains("resizer"), "{text}");
}

/// The function's live task count, from `fnguard top --json`.
fn live_tasks(node: &Node) -> u64 {
    let out = node.fnguard(&["top", "--json"]);
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    rows[0]["usage"]["tasks"].as_u64().unwrap()
}

#[test]
fn processes_joining_by_exec_are_counted_and_leave_the_count() {
    let node = node("limits-exec");
    let bundle = node
        .bundle("served")
        .annotation("fnguard.io/limits.procs", "50")
        .steps(&["touch=/shared/ready", "wait=/shared/done"])
        .build();
    let child = bundle.spawn();
    node.wait_for_file("ready");
    let before = live_tasks(&node);
    // A probe that forks; each exec'd process and its children come and go.
    for _ in 0..3 {
        let out = node.runc_exec("served", &["spawn=5"]);
        assert!(out.status.success(), "{out:?}");
    }
    let after = live_tasks(&node);
    std::fs::write(node.shared.join("done"), b"").unwrap();
    let run = RunResult::from_child(child);
    assert!(run.success, "{run:?}");
    assert!(before >= 1, "{before}");
    assert_eq!(
        after, before,
        "the exec'd processes did not leave the count as they found it"
    );
}

#[test]
fn a_byte_limit_that_kills_ends_a_function_blocked_on_the_data() {
    let node = node("limits-bytes-kill");
    let (listener, port) = tcp_listener("127.0.0.1");
    let _replier = counting_peer(listener, 1_000_000);
    let follower = node.follow_events();
    let ask = format!("send-tcp=127.0.0.1:{port}:1000");
    let run = node
        .bundle("reader")
        .annotation("fnguard.io/limits.ingress-bytes", "100k kill")
        .steps(&[ask.as_str()])
        .build()
        .run();
    let events = follower.stop();
    // Killed as its read returned with the data past the limit, not left
    // waiting for data that never comes.
    assert_eq!(run.code, Some(137), "{run:?}");
    assert!(!run.stdout.contains("send-tcp received="), "{run:?}");
    assert_killed_by(limit_event(&events, "reader"), "ingress-bytes");
}
