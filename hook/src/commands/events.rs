//! `fnguard events`: what the kernel programs reported, with the container
//! and function each event belongs to.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use fnguard_bpf::{Event, EventReader};
use nix::time::{clock_gettime, ClockId};
use serde::Serialize;

use crate::records::ContainerRecord;
use crate::settings::Settings;

pub struct EventsArgs {
    pub json: bool,
    /// Print what is already queued and exit instead of following.
    pub once: bool,
    pub container: Option<String>,
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
    if !fnguard_bpf::is_loaded(&layout) {
        if args.once {
            anyhow::bail!(
                "no fnguard BPF objects are pinned under {}; the first managed container loads them",
                layout.abi_dir().display()
            );
        }
        log::info!("waiting for the first managed container to load the BPF objects");
        while !fnguard_bpf::is_loaded(&layout) {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let reader = EventReader::open(&layout)?;
    let boot_offset = monotonic_to_unix_ns()?;
    let mut owners = Owners::new(settings);
    loop {
        let batch = if args.once {
            reader.drain()?
        } else {
            reader.poll(Duration::from_millis(250))?
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
            if args.container.as_deref().is_some_and(|want| Some(want) != container) {
                continue;
            }
            let unix_ns = boot_offset.saturating_add(ktime_of(&event));
            let time = humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_nanos(unix_ns)).to_string();
            let function = owner.and_then(|r| r.function.as_deref());
            if args.json {
                let line = Enriched {
                    time,
                    container,
                    function,
                    event: &event,
                };
                println!("{}", serde_json::to_string(&line)?);
            } else {
                println!("{time} {}", describe(&event, container, function));
            }
        }
        if args.once {
            return Ok(());
        }
    }
}

fn ktime_of(event: &Event) -> u64 {
    match event {
        Event::NetEgress(e) => e.ktime_ns,
    }
}

fn describe(event: &Event, container: Option<&str>, function: Option<&str>) -> String {
    let who = format!(
        "container={} function={}",
        container.unwrap_or("?"),
        function.unwrap_or("-")
    );
    match event {
        Event::NetEgress(e) => format!(
            "{who} pid={} uid={} comm={} net.egress {} {} {}:{} {} by {}",
            e.pid,
            e.uid,
            e.comm,
            e.operation,
            e.protocol,
            if e.daddr.contains(':') {
                format!("[{}]", e.daddr)
            } else {
                e.daddr.clone()
            },
            e.dport,
            e.verdict,
            e.mechanism
        ),
    }
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
        let records = self.settings.records();
        self.by_cgroup
            .entry(cgroup_id)
            .or_insert_with(|| records.find_by_cgroup(cgroup_id))
            .as_ref()
    }
}
