//! `fnguard events`: what the kernel programs reported, with the container
//! and function each event belongs to.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::{BufWriter, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use fnguard_bpf::{Event, EventReader};
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::time::{clock_gettime, ClockId};
use serde::Serialize;

use crate::records::ContainerRecord;
use crate::settings::Settings;

pub struct EventsArgs {
    pub json: bool,
    /// Print what is already queued and exit instead of following.
    pub once: bool,
    pub container: Option<String>,
    pub function: Option<String>,
    /// Append to this file instead of stdout.
    pub output: Option<std::path::PathBuf>,
}

#[derive(Serialize)]
struct Enriched<'a> {
    time: String,
    container: Option<&'a str>,
    function: Option<&'a str>,
    #[serde(flatten)]
    event: &'a Event,
}

pub fn run(settings: &Settings, args: &EventsArgs) -> Result<()> {
    let layout = settings.layout();
    let stop = stop_on_signal()?;
    if !fnguard_bpf::is_loaded(&layout) {
        if args.once {
            anyhow::bail!(
                "no fnguard BPF objects are pinned under {}; the first managed container loads them",
                layout.abi_dir().display()
            );
        }
        log::info!("waiting for the first managed container to load the BPF objects");
        while !fnguard_bpf::is_loaded(&layout) {
            if stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let reader = EventReader::open(&layout)?;
    let boot_offset = monotonic_to_unix_ns()?;
    let mut owners = Owners::new(settings);
    // Buffered: one write per batch, not per event (the flush below ends each batch).
    let mut out: BufWriter<Box<dyn Write>> = BufWriter::with_capacity(
        1 << 16,
        match &args.output {
            Some(path) => Box::new(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .with_context(|| format!("opening event output {}", path.display()))?,
            ),
            None => Box::new(std::io::stdout().lock()),
        },
    );
    loop {
        // After SIGINT/SIGTERM one last pass drains what the ring still holds.
        let last = args.once || stop.load(Ordering::Relaxed);
        let batch = if last {
            reader.drain()?
        } else {
            // The kernel wakes the reader only once 64 KiB wait; a short
            // timeout keeps a quiet function's events prompt.
            reader.poll(Duration::from_millis(100))?
        };
        for event in batch {
            let event = match event {
                Ok(event) => event,
                Err(e) => {
                    log::warn!("{e}");
                    continue;
                }
            };
            let owner = owners.of(event.cgroup_id());
            let container = owner.map(|r| r.id.as_str());
            let function = owner.and_then(|r| r.function.as_deref());
            if args.container.as_deref().is_some_and(|want| Some(want) != container)
                || args.function.as_deref().is_some_and(|want| Some(want) != function)
            {
                continue;
            }
            let unix_ns = boot_offset.saturating_add(event.header().ktime_ns);
            let time = humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_nanos(unix_ns)).to_string();
            if args.json {
                let line = Enriched {
                    time,
                    container,
                    function,
                    event: &event,
                };
                serde_json::to_writer(&mut out, &line)?;
                out.write_all(b"\n")?;
            } else {
                writeln!(out, "{time} {}", describe(&event, container, function))?;
            }
        }
        out.flush()?;
        if last {
            return Ok(());
        }
    }
}

fn describe(event: &Event, container: Option<&str>, function: Option<&str>) -> String {
    let h = event.header();
    let who = format!(
        "container={} function={} pid={} ppid={} uid={} comm={}",
        container.unwrap_or("?"),
        function.unwrap_or("-"),
        h.pid,
        h.ppid,
        h.uid,
        h.comm
    );
    let what = match event {
        Event::NetEgress(e) | Event::NetBind(e) | Event::NetIngress(e) => {
            let end = |addr: &str, port: u16| {
                if addr.contains(':') {
                    format!("[{addr}]:{port}")
                } else {
                    format!("{addr}:{port}")
                }
            };
            let (src, dst) = (end(&e.saddr, e.sport), end(&e.daddr, e.dport));
            match event {
                Event::NetBind(_) => format!("net.bind {} {src}", e.protocol),
                Event::NetIngress(_) => format!("net.ingress {} {src} -> {dst}", e.protocol),
                _ => format!("net.egress {} {} {src} -> {dst}", e.operation, e.protocol),
            }
        }
        Event::Exec(e) => format!(
            "process.exec {}{}{}{}",
            e.path,
            if e.path_truncated { " (path truncated)" } else { "" },
            if e.filename != e.path { format!(" as {}", e.filename) } else { String::new() },
            e.interpreter.as_deref().map(|i| format!(" interpreter {i}")).unwrap_or_default()
        ),
        Event::Open(e) => format!(
            "file.open {} {}{} ({} fd {})",
            e.access,
            e.path,
            if e.path_truncated { " (path truncated)" } else { "" },
            e.syscall,
            e.fd
        ),
        Event::Stop(e) => format!(
            "container.stop after {} ms: {} execs, {} opens, {} connects ({} denied), {} exec and {} open violations, {} detections, {} events throttled, {} dropped; {}{}",
            e.lifetime_ms,
            e.totals.execs,
            e.totals.opens,
            e.totals.connect_allowed + e.totals.connect_denied + e.totals.connect_audited,
            e.totals.connect_denied + e.totals.sendmsg_denied,
            e.totals.exec_violations,
            e.totals.open_violations,
            e.totals.detections,
            e.totals.events_throttled,
            e.totals.events_dropped,
            crate::usage_text::describe_usage(&e.usage),
            e.totals
                .terminated_by
                .map(|l| format!("; terminated by limits.{l}"))
                .unwrap_or_default()
        ),
        Event::Throttled(e) => format!("events.throttled {} events in {} ms", e.throttled, e.window_ms),
        Event::Limit(e) => format!(
            "limit {} ({}): {} past {}",
            e.limit,
            e.action,
            crate::usage_text::amount(e.limit, e.observed),
            crate::usage_text::amount(e.limit, e.value)
        ),
        Event::Socket(e) => format!("net.socket {} {} protocol {}", e.family, e.socket_type, e.protocol),
        Event::Detection(e) => {
            let mut line = format!(
                "detection {} ({} severity, {}) {} returned {} parent {}",
                h.rule, e.severity, e.technique, e.syscall, e.ret, e.parent_comm
            );
            if let (Some(addr), Some(port)) = (&e.daddr, e.dport) {
                line.push_str(&format!(" to {addr} port {port}"));
            }
            if let Some(path) = &e.path {
                line.push_str(&format!(" program {path}"));
            }
            line
        }
    };
    let verdict = match (h.verdict, event) {
        ("allowed" | "alerted", _) => String::new(),
        (v, Event::Detection(_)) => format!(" -> {v} by {}", h.mechanism),
        (v, _) => format!(" -> {v} by {} (rule {})", h.mechanism, h.rule),
    };
    format!("{who} {what}{verdict}")
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn request_stop(_: std::os::raw::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

/// SIGINT and SIGTERM end the follow loop after a final drain instead of
/// killing the reader with events still queued.
fn stop_on_signal() -> Result<&'static AtomicBool> {
    let action = SigAction::new(SigHandler::Handler(request_stop), SaFlags::empty(), SigSet::empty());
    for signal in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe { sigaction(signal, &action) }.with_context(|| format!("installing a {signal} handler"))?;
    }
    Ok(&STOP)
}

/// CLOCK_MONOTONIC (what bpf_ktime_get_ns reads) to Unix time.
fn monotonic_to_unix_ns() -> Result<u64> {
    let mono = clock_gettime(ClockId::CLOCK_MONOTONIC).context("reading CLOCK_MONOTONIC")?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("system clock before 1970")?;
    let mono_ns = mono.tv_sec() as u64 * 1_000_000_000 + mono.tv_nsec() as u64;
    Ok((now.as_nanos() as u64).saturating_sub(mono_ns))
}

/// Container records by cgroup id, looked up once per cgroup; stopped
/// containers are found in the record history.
struct Owners<'s> {
    settings: &'s Settings,
    by_cgroup: HashMap<u64, Option<ContainerRecord>>,
}

impl<'s> Owners<'s> {
    fn new(settings: &'s Settings) -> Self {
        Owners {
            settings,
            by_cgroup: HashMap::new(),
        }
    }

    fn of(&mut self, cgroup_id: u64) -> Option<&ContainerRecord> {
        let settings = self.settings;
        self.by_cgroup
            .entry(cgroup_id)
            .or_insert_with(|| settings.records().find_by_cgroup(cgroup_id))
            .as_ref()
    }
}
