//! Events from the node's ring buffer, decoded from the structs in
//! `events.h`, `net.h` and `files.h`. Their JSON form is documented in
//! docs/events.md.

use std::cell::RefCell;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::rc::Rc;
use std::time::Duration;

use libbpf_rs::{MapHandle, RingBuffer, RingBufferBuilder};
use serde::Serialize;

use fnguard_policy::rules;

use crate::error::BpfError;
use crate::layout::rule_name;
use crate::paths::PinLayout;
use crate::policy_maps::CgroupStats;
use crate::usage::Usage;

const KIND_NET_EGRESS: u32 = 1;
const KIND_EXEC: u32 = 2;
const KIND_OPEN: u32 = 3;
const KIND_CGROUP_GONE: u32 = 4;
const KIND_THROTTLED: u32 = 5;
const KIND_DETECTION: u32 = 6;
const KIND_NET_BIND: u32 = 7;
const KIND_SOCKET: u32 = 8;
const KIND_NET_INGRESS: u32 = 9;
const KIND_LIMIT: u32 = 10;

const HEADER_SIZE: usize = 56;
const NET_EVENT_SIZE: usize = HEADER_SIZE + 40;
const OPEN_EVENT_SIZE: usize = HEADER_SIZE + 16;
const EXEC_EVENT_SIZE: usize = HEADER_SIZE + 8;
const GONE_EVENT_SIZE: usize = HEADER_SIZE + crate::layout::STATS_SIZE + crate::usage::USAGE_SIZE;
const LIMIT_EVENT_SIZE: usize = HEADER_SIZE + 24;
const THROTTLED_EVENT_SIZE: usize = HEADER_SIZE + 16;
const DETECTION_EVENT_SIZE: usize = HEADER_SIZE + 112;
const SOCKET_EVENT_SIZE: usize = HEADER_SIZE + 8;

/// One event from the kernel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind")]
pub enum Event {
    /// A connect or sendmsg that the egress policy denied or, in audit mode, would deny.
    #[serde(rename = "net.egress")]
    NetEgress(NetEvent),
    /// An inbound connection or datagram that the ingress policy dropped or,
    /// in audit mode, would drop; `daddr` is the peer, `dport` the local port.
    #[serde(rename = "net.ingress")]
    NetIngress(NetEvent),
    /// A bind that the bind policy denied or, in audit mode, would deny.
    #[serde(rename = "net.bind")]
    NetBind(NetEvent),
    /// A program the function executed.
    #[serde(rename = "process.exec")]
    Exec(ExecEvent),
    /// A file the function opened.
    #[serde(rename = "file.open")]
    Open(OpenEvent),
    /// The function's cgroup was removed: its totals.
    #[serde(rename = "container.stop")]
    Stop(StopEvent),
    /// Events over the function's per-second budget were not sent.
    #[serde(rename = "events.throttled")]
    Throttled(ThrottledEvent),
    /// A socket of a family or type fnguard.io/sockets does not list.
    #[serde(rename = "net.socket")]
    Socket(SocketEvent),
    /// A detection rule fired; `rule` names it.
    #[serde(rename = "detection")]
    Detection(DetectionEvent),
    /// A resource limit was crossed; `limit` names it.
    #[serde(rename = "limit")]
    Limit(LimitEvent),
}

impl Event {
    pub fn header(&self) -> &Header {
        match self {
            Event::NetEgress(e) | Event::NetBind(e) | Event::NetIngress(e) => &e.header,
            Event::Exec(e) => &e.header,
            Event::Open(e) => &e.header,
            Event::Stop(e) => &e.header,
            Event::Throttled(e) => &e.header,
            Event::Detection(e) => &e.header,
            Event::Socket(e) => &e.header,
            Event::Limit(e) => &e.header,
        }
    }

    pub fn cgroup_id(&self) -> u64 {
        self.header().cgroup_id
    }
}

/// Fields every event carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Header {
    pub cgroup_id: u64,
    pub pid: u32,
    pub ppid: u32,
    pub tid: u32,
    pub uid: u32,
    pub comm: String,
    pub ktime_ns: u64,
    /// `allowed`, `denied` (stopped in the kernel), `audited` (a violation,
    /// reported only) or `alerted` (a detection rule fired, nothing stopped).
    pub verdict: &'static str,
    /// What acted: `none`, `cgroup-sock-addr`, `sigkill` or `bpf-lsm`.
    pub mechanism: &'static str,
    /// The policy rule that decided, the detection rule that fired, or `none`.
    pub rule: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetEvent {
    #[serde(flatten)]
    pub header: Header,
    /// `connect`, `sendmsg`, `bind` or `ingress`.
    pub operation: &'static str,
    /// `outbound` (connect, sendmsg) or `inbound` (ingress, bind).
    pub direction: &'static str,
    pub protocol: String,
    /// Where the traffic comes from: the function for outbound (unspecified
    /// until its socket is bound), the peer for ingress, the local address
    /// asked for by a bind.
    pub saddr: String,
    pub sport: u16,
    /// Where it goes: the remote end for outbound, the function for ingress
    /// (unspecified for a bind).
    pub daddr: String,
    pub dport: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExecEvent {
    #[serde(flatten)]
    pub header: Header,
    /// The file the kernel runs, resolved from its struct file (the
    /// interpreter for a script, the real binary behind a symlink).
    pub path: String,
    pub path_truncated: bool,
    /// The name given to execve, as given.
    pub filename: String,
    /// For a script: the interpreter named by its `#!` line.
    pub interpreter: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OpenEvent {
    #[serde(flatten)]
    pub header: Header,
    /// Resolved from the new fd's struct file, relative to the container's root.
    pub path: String,
    pub path_truncated: bool,
    /// `read`, `write`, `read-write` or `none` (O_PATH).
    pub access: &'static str,
    pub syscall: &'static str,
    pub fd: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StopEvent {
    #[serde(flatten)]
    pub header: Header,
    pub lifetime_ms: u64,
    pub totals: CgroupStats,
    /// Resources used over the function's whole run.
    pub usage: Usage,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LimitEvent {
    #[serde(flatten)]
    pub header: Header,
    /// The annotation's name after `fnguard.io/limits.`.
    pub limit: &'static str,
    /// `alert`, `kill` or `throttle` (audit mode: always `alert`).
    pub action: &'static str,
    /// The limit and what the function reached, in the limit's unit:
    /// tasks, forks or connects per second, nanoseconds of CPU, bytes,
    /// bytes per second (for egress-rate `observed` repeats the rate).
    pub value: u64,
    pub observed: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ThrottledEvent {
    #[serde(flatten)]
    pub header: Header,
    pub throttled: u64,
    pub window_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SocketEvent {
    #[serde(flatten)]
    pub header: Header,
    /// `unix`, `inet`, `inet6`, `netlink`, `packet`, ... or `af-N`.
    pub family: String,
    /// `stream`, `dgram`, `raw`, `seqpacket` or `type-N`.
    pub socket_type: String,
    pub protocol: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DetectionEvent {
    #[serde(flatten)]
    pub header: Header,
    pub severity: String,
    /// MITRE ATT&CK technique.
    pub technique: &'static str,
    /// The system call (`exec` for exec rules) and its return value.
    pub syscall: &'static str,
    pub ret: i64,
    /// The call's first four arguments as the kernel saw them.
    pub args: [u64; 4],
    pub parent_comm: String,
    /// Destination of a connection.
    pub daddr: Option<String>,
    pub dport: Option<u16>,
    /// Its source: the function's socket where the kernel bound it
    /// (unspecified, port 0, for an attempt that never got that far).
    pub saddr: Option<String>,
    pub sport: Option<u16>,
    /// The program an exec rule saw run, the file an open rule saw opened,
    /// or the socket path a runtime-socket connection named.
    pub path: Option<String>,
}

/// Names of the system calls the detection rules watch.
fn syscall_name(nr: i32) -> &'static str {
    match nr {
        -1 => "exec",
        2 => "open",
        9 => "mmap",
        10 => "mprotect",
        41 => "socket",
        42 => "connect",
        44 => "sendto",
        56 => "clone",
        85 => "creat",
        90 => "chmod",
        91 => "fchmod",
        101 => "ptrace",
        105 => "setuid",
        106 => "setgid",
        113 => "setreuid",
        114 => "setregid",
        117 => "setresuid",
        119 => "setresgid",
        122 => "setfsuid",
        123 => "setfsgid",
        126 => "capset",
        155 => "pivot_root",
        161 => "chroot",
        165 => "mount",
        166 => "umount2",
        175 => "init_module",
        176 => "delete_module",
        248 => "add_key",
        249 => "request_key",
        250 => "keyctl",
        257 => "openat",
        268 => "fchmodat",
        272 => "unshare",
        298 => "perf_event_open",
        304 => "open_by_handle_at",
        308 => "setns",
        310 => "process_vm_readv",
        311 => "process_vm_writev",
        313 => "finit_module",
        321 => "bpf",
        323 => "userfaultfd",
        329 => "pkey_mprotect",
        425 => "io_uring_setup",
        428 => "open_tree",
        429 => "move_mount",
        430 => "fsopen",
        432 => "fsmount",
        435 => "clone3",
        437 => "openat2",
        442 => "mount_setattr",
        452 => "fchmodat2",
        _ => "other",
    }
}

fn address(family: u16, bytes: &[u8]) -> Option<String> {
    match family {
        2 => Some(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]).to_string()),
        10 => Some(Ipv6Addr::from(<[u8; 16]>::try_from(&bytes[..16]).ok()?).to_string()),
        _ => None,
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl Reader<'_> {
    fn u8(&self, at: usize) -> u8 {
        self.bytes[at]
    }
    fn u16(&self, at: usize) -> u16 {
        u16::from_ne_bytes(self.bytes[at..at + 2].try_into().expect("2 bytes"))
    }
    fn u32(&self, at: usize) -> u32 {
        u32::from_ne_bytes(self.bytes[at..at + 4].try_into().expect("4 bytes"))
    }
    fn u64(&self, at: usize) -> u64 {
        u64::from_ne_bytes(self.bytes[at..at + 8].try_into().expect("8 bytes"))
    }
    fn text(&self, at: usize, len: usize) -> Option<String> {
        self.bytes
            .get(at..at + len)
            .map(|b| String::from_utf8_lossy(b).into_owned())
    }
}

/// Decodes one ring buffer record.
pub fn decode(bytes: &[u8]) -> Result<Event, BpfError> {
    let bad = |reason: &str| BpfError::Decode {
        len: bytes.len(),
        reason: reason.to_string(),
    };
    if bytes.len() < HEADER_SIZE {
        return Err(bad("shorter than the event header"));
    }
    let r = Reader { bytes };
    let kind = r.u32(0);
    let min = match kind {
        KIND_NET_EGRESS | KIND_NET_BIND | KIND_NET_INGRESS => NET_EVENT_SIZE,
        KIND_EXEC => EXEC_EVENT_SIZE,
        KIND_OPEN => OPEN_EVENT_SIZE,
        KIND_CGROUP_GONE => GONE_EVENT_SIZE,
        KIND_THROTTLED => THROTTLED_EVENT_SIZE,
        KIND_DETECTION => DETECTION_EVENT_SIZE,
        KIND_SOCKET => SOCKET_EVENT_SIZE,
        KIND_LIMIT => LIMIT_EVENT_SIZE,
        other => return Err(bad(&format!("unknown event kind {other}"))),
    };
    if bytes.len() < min {
        return Err(bad(&format!("shorter than an event of kind {kind}")));
    }
    let comm_bytes = &bytes[32..48];
    let comm_len = comm_bytes.iter().position(|&b| b == 0).unwrap_or(comm_bytes.len());
    let header = Header {
        cgroup_id: r.u64(16),
        pid: r.u32(4),
        ppid: r.u32(48),
        tid: r.u32(8),
        uid: r.u32(12),
        comm: String::from_utf8_lossy(&comm_bytes[..comm_len]).into_owned(),
        ktime_ns: r.u64(24),
        verdict: match r.u8(52) {
            1 => "denied",
            2 => "audited",
            3 => "alerted",
            _ => "allowed",
        },
        mechanism: match r.u8(53) {
            1 => "cgroup-sock-addr",
            2 => "sigkill",
            3 => "bpf-lsm",
            4 => "cgroup-sock-create",
            5 => "cgroup-skb-drop",
            _ => "none",
        },
        rule: rule_name(r.u8(54)),
    };
    let b = HEADER_SIZE;
    Ok(match kind {
        KIND_NET_EGRESS | KIND_NET_BIND | KIND_NET_INGRESS => {
            let family = if r.u8(b + 2) == 4 { 2 } else { 10 };
            let daddr = address(family, &bytes[b + 8..b + 24]).expect("family 4 or 6");
            let saddr = address(family, &bytes[b + 24..b + 40]).expect("family 4 or 6");
            let operation = match r.u8(b) {
                1 => "connect",
                2 => "sendmsg",
                3 => "bind",
                _ => "ingress",
            };
            let event = NetEvent {
                header,
                operation,
                direction: if matches!(operation, "connect" | "sendmsg") {
                    "outbound"
                } else {
                    "inbound"
                },
                saddr,
                sport: r.u16(b + 6),
                protocol: match r.u8(b + 1) {
                    6 => "tcp".to_string(),
                    17 => "udp".to_string(),
                    other => format!("ip-proto-{other}"),
                },
                daddr,
                dport: r.u16(b + 4),
            };
            match kind {
                KIND_NET_BIND => Event::NetBind(event),
                KIND_NET_INGRESS => Event::NetIngress(event),
                _ => Event::NetEgress(event),
            }
        }
        KIND_OPEN => {
            let path_len = usize::from(r.u16(b + 10));
            Event::Open(OpenEvent {
                header,
                path: r
                    .text(OPEN_EVENT_SIZE, path_len)
                    .ok_or_else(|| bad("path runs past the record"))?,
                path_truncated: r.u8(b + 9) & 1 != 0,
                access: match r.u8(b + 8) & 3 {
                    1 => "read",
                    2 => "write",
                    3 => "read-write",
                    _ => "none",
                },
                syscall: match r.u32(b) {
                    2 => "open",
                    85 => "creat",
                    257 => "openat",
                    304 => "open_by_handle_at",
                    437 => "openat2",
                    _ => "other",
                },
                fd: r.u32(b + 4) as i32,
            })
        }
        KIND_EXEC => {
            let (path_len, name_len, interp_len) = (
                usize::from(r.u16(b + 2)),
                usize::from(r.u16(b + 4)),
                usize::from(r.u16(b + 6)),
            );
            let past = || bad("exec names run past the record");
            let at = EXEC_EVENT_SIZE;
            Event::Exec(ExecEvent {
                header,
                path: r.text(at, path_len).ok_or_else(past)?,
                path_truncated: r.u8(b) & 1 != 0,
                filename: r.text(at + path_len, name_len).ok_or_else(past)?,
                interpreter: match interp_len {
                    0 => None,
                    n => Some(r.text(at + path_len + name_len, n).ok_or_else(past)?),
                },
            })
        }
        KIND_CGROUP_GONE => {
            let usage_at = b + crate::layout::STATS_SIZE;
            let totals = CgroupStats::decode(&bytes[b..usage_at]);
            let lifetime_ms = header.ktime_ns.saturating_sub(totals.start_ns) / 1_000_000;
            Event::Stop(StopEvent {
                header,
                lifetime_ms,
                totals,
                usage: Usage::decode(&bytes[usage_at..usage_at + crate::usage::USAGE_SIZE]),
            })
        }
        KIND_LIMIT => {
            let id = r.u32(b);
            let spec = fnguard_policy::limits::LIMITS
                .get(id as usize)
                .ok_or_else(|| bad(&format!("unknown limit {id}")))?;
            Event::Limit(LimitEvent {
                header: Header {
                    rule: spec.name,
                    ..header
                },
                limit: spec.name,
                action: match r.u32(b + 4) {
                    2 => "kill",
                    3 => "throttle",
                    _ => "alert",
                },
                value: r.u64(b + 8),
                observed: r.u64(b + 16),
            })
        }
        KIND_SOCKET => {
            let family = r.u16(b);
            Event::Socket(SocketEvent {
                header,
                family: fnguard_policy::network::SOCKET_FAMILIES
                    .iter()
                    .find(|(_, af)| u16::from(*af) == family)
                    .map_or_else(|| format!("af-{family}"), |(name, _)| name.to_string()),
                socket_type: match r.u16(b + 2) {
                    1 => "stream".to_string(),
                    2 => "dgram".to_string(),
                    3 => "raw".to_string(),
                    5 => "seqpacket".to_string(),
                    other => format!("type-{other}"),
                },
                protocol: r.u16(b + 4),
            })
        }
        KIND_DETECTION => {
            let id = r.u32(b);
            let rule = u8::try_from(id)
                .ok()
                .and_then(rules::by_id)
                .ok_or_else(|| bad(&format!("unknown detection rule {id}")))?;
            let family = r.u16(b + 64);
            let path_len = r.u32(b + 68) as usize;
            let parent = &bytes[b + 48..b + 64];
            let parent_len = parent.iter().position(|&c| c == 0).unwrap_or(parent.len());
            Event::Detection(DetectionEvent {
                header: Header {
                    rule: rule.name,
                    ..header
                },
                severity: rule.severity.to_string(),
                technique: rule.technique,
                syscall: syscall_name(r.u32(b + 4) as i32),
                ret: r.u64(b + 8) as i64,
                args: [r.u64(b + 16), r.u64(b + 24), r.u64(b + 32), r.u64(b + 40)],
                parent_comm: String::from_utf8_lossy(&parent[..parent_len]).into_owned(),
                daddr: address(family, &bytes[b + 72..b + 88]),
                dport: (family == 2 || family == 10).then(|| r.u16(b + 66)),
                saddr: address(family, &bytes[b + 96..b + 112]),
                sport: (family == 2 || family == 10).then(|| r.u16(b + 88)),
                path: match path_len {
                    0 => None,
                    n => Some(
                        r.text(DETECTION_EVENT_SIZE, n)
                            .ok_or_else(|| bad("path runs past the record"))?,
                    ),
                },
            })
        }
        _ => Event::Throttled(ThrottledEvent {
            header,
            throttled: r.u64(b),
            window_ms: r.u64(b + 8) / 1_000_000,
        }),
    })
}

/// Reads the node's pinned event ring.
pub struct EventReader {
    ring: RingBuffer<'static>,
    pending: Rc<RefCell<Vec<Result<Event, BpfError>>>>,
    _map: MapHandle,
}

impl EventReader {
    pub fn open(layout: &PinLayout) -> Result<Self, BpfError> {
        let path = layout.map("fng_events");
        let map = MapHandle::from_pinned_path(&path)
            .map_err(BpfError::libbpf(format!("opening event ring {}", path.display())))?;
        let pending: Rc<RefCell<Vec<Result<Event, BpfError>>>> = Rc::default();
        let sink = Rc::clone(&pending);
        let mut builder = RingBufferBuilder::new();
        builder
            .add(&map, move |data: &[u8]| {
                sink.borrow_mut().push(decode(data));
                0
            })
            .map_err(BpfError::libbpf("reading the event ring"))?;
        let ring = builder.build().map_err(BpfError::libbpf("reading the event ring"))?;
        Ok(EventReader {
            ring,
            pending,
            _map: map,
        })
    }

    /// Waits up to `timeout` for events and returns those that arrived. A
    /// signal ends the wait early without an error.
    pub fn poll(&self, timeout: Duration) -> Result<Vec<Result<Event, BpfError>>, BpfError> {
        match self.ring.poll(timeout) {
            Err(e) if e.kind() != libbpf_rs::ErrorKind::Interrupted => {
                return Err(BpfError::Libbpf {
                    what: "polling the event ring".into(),
                    source: e,
                })
            }
            _ => {}
        }
        Ok(self.pending.borrow_mut().drain(..).collect())
    }

    /// Returns the events already in the ring without waiting.
    pub fn drain(&self) -> Result<Vec<Result<Event, BpfError>>, BpfError> {
        self.ring
            .consume()
            .map_err(BpfError::libbpf("reading the event ring"))?;
        Ok(self.pending.borrow_mut().drain(..).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(kind: u32, len: usize) -> Vec<u8> {
        let mut b = vec![0u8; len];
        b[0..4].copy_from_slice(&kind.to_ne_bytes());
        b[4..8].copy_from_slice(&42u32.to_ne_bytes());
        b[8..12].copy_from_slice(&43u32.to_ne_bytes());
        b[12..16].copy_from_slice(&1000u32.to_ne_bytes());
        b[16..24].copy_from_slice(&77u64.to_ne_bytes());
        b[24..32].copy_from_slice(&5_000_000_000u64.to_ne_bytes());
        b[32..37].copy_from_slice(b"probe");
        b[48..52].copy_from_slice(&41u32.to_ne_bytes());
        b[52] = 1; // denied
        b[53] = 2; // sigkill
        b[54] = 2; // files.deny
        b
    }

    #[test]
    fn decodes_net_events() {
        let mut b = header(KIND_NET_EGRESS, NET_EVENT_SIZE);
        b[53] = 1;
        b[54] = 1;
        b[56] = 1;
        b[57] = 6;
        b[58] = 6;
        b[60..62].copy_from_slice(&8080u16.to_ne_bytes());
        b[64..80].copy_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 3]);
        let Event::NetEgress(e) = decode(&b).unwrap() else {
            panic!()
        };
        assert_eq!(
            (e.header.pid, e.header.ppid, e.header.tid, e.header.uid),
            (42, 41, 43, 1000)
        );
        assert_eq!(
            (e.header.verdict, e.header.mechanism, e.header.rule),
            ("denied", "cgroup-sock-addr", "egress")
        );
        assert_eq!(
            (e.operation, e.protocol.as_str(), e.daddr.as_str(), e.dport),
            ("connect", "tcp", "::ffff:127.0.0.3", 8080)
        );
    }

    #[test]
    fn decodes_open_and_exec_events() {
        let mut b = header(KIND_OPEN, OPEN_EVENT_SIZE);
        b[56..60].copy_from_slice(&257u32.to_ne_bytes());
        b[60..64].copy_from_slice(&3i32.to_ne_bytes());
        b[64] = 1;
        b[66..68].copy_from_slice(&11u16.to_ne_bytes());
        b.extend_from_slice(b"/etc/shadow");
        let Event::Open(e) = decode(&b).unwrap() else { panic!() };
        assert_eq!(
            (e.path.as_str(), e.access, e.syscall, e.fd),
            ("/etc/shadow", "read", "openat", 3)
        );
        assert_eq!((e.header.mechanism, e.header.rule), ("sigkill", "files.deny"));

        let mut b = header(KIND_EXEC, EXEC_EVENT_SIZE);
        b[58..60].copy_from_slice(&12u16.to_ne_bytes());
        b[60..62].copy_from_slice(&9u16.to_ne_bytes());
        b[62..64].copy_from_slice(&7u16.to_ne_bytes());
        b.extend_from_slice(b"/bin/busybox/app/x.sh/bin/sh");
        let Event::Exec(e) = decode(&b).unwrap() else { panic!() };
        assert_eq!((e.path.as_str(), e.filename.as_str()), ("/bin/busybox", "/app/x.sh"));
        assert_eq!(e.interpreter.as_deref(), Some("/bin/sh"));
        b.truncate(b.len() - 3);
        assert!(decode(&b).unwrap_err().to_string().contains("run past"));
    }

    #[test]
    fn decodes_detection_events_with_their_evidence() {
        let mut b = header(KIND_DETECTION, DETECTION_EVENT_SIZE);
        b[52] = 3; // alerted
        b[53] = 0;
        b[56..60].copy_from_slice(&17u32.to_ne_bytes()); // cloud-metadata
        b[60..64].copy_from_slice(&42i32.to_ne_bytes()); // connect
        b[64..72].copy_from_slice(&(-101i64).to_ne_bytes());
        b[72..80].copy_from_slice(&3u64.to_ne_bytes());
        b[104..108].copy_from_slice(b"runc");
        b[120..122].copy_from_slice(&2u16.to_ne_bytes());
        b[122..124].copy_from_slice(&80u16.to_ne_bytes());
        b[128..132].copy_from_slice(&[169, 254, 169, 254]);
        let Event::Detection(e) = decode(&b).unwrap() else {
            panic!()
        };
        assert_eq!(
            (e.header.rule, e.header.verdict, e.header.mechanism),
            ("cloud-metadata", "alerted", "none")
        );
        assert_eq!((e.syscall, e.ret, e.args[0]), ("connect", -101, 3));
        assert_eq!(
            (e.daddr.as_deref(), e.dport, e.parent_comm.as_str()),
            (Some("169.254.169.254"), Some(80), "runc")
        );
        assert_eq!((e.severity.as_str(), e.technique, e.path), ("high", "T1552.005", None));

        let mut b = header(KIND_DETECTION, DETECTION_EVENT_SIZE);
        b[56..60].copy_from_slice(&3u32.to_ne_bytes()); // fileless-exec
        b[60..64].copy_from_slice(&(-1i32).to_ne_bytes());
        b[124..128].copy_from_slice(&8u32.to_ne_bytes());
        b.extend_from_slice(b"/memfd:x");
        let Event::Detection(e) = decode(&b).unwrap() else {
            panic!()
        };
        assert_eq!(
            (e.header.rule, e.syscall, e.path.as_deref(), e.daddr),
            ("fileless-exec", "exec", Some("/memfd:x"), None)
        );

        b[56..60].copy_from_slice(&63u32.to_ne_bytes());
        assert!(decode(&b)
            .unwrap_err()
            .to_string()
            .contains("unknown detection rule 63"));
        b[56..60].copy_from_slice(&3u32.to_ne_bytes());
        b[124..128].copy_from_slice(&9u32.to_ne_bytes());
        assert!(decode(&b).is_err(), "path past the record");
    }

    #[test]
    fn decodes_stop_and_throttle_events() {
        let mut b = header(KIND_CGROUP_GONE, GONE_EVENT_SIZE);
        b[56 + 7 * 8..56 + 8 * 8].copy_from_slice(&3u64.to_ne_bytes()); // execs
        b[56 + 12 * 8..56 + 13 * 8].copy_from_slice(&1_000_000_000u64.to_ne_bytes()); // start_ns
        b[56 + 16 * 8..56 + 17 * 8].copy_from_slice(&2_000_000_000u64.to_ne_bytes()); // first_exec_ns
        let Event::Stop(e) = decode(&b).unwrap() else { panic!() };
        assert_eq!(
            (e.totals.execs, e.lifetime_ms, e.totals.first_exec_ns),
            (3, 4000, 2_000_000_000)
        );
        let usage_at = 56 + crate::layout::STATS_SIZE;
        b[usage_at + 104 + 9 * 8..usage_at + 104 + 10 * 8].copy_from_slice(&4096u64.to_ne_bytes()); // tx_bytes
        let Event::Stop(e) = decode(&b).unwrap() else { panic!() };
        assert_eq!(e.usage.tx_bytes, 4096);

        let mut b = header(KIND_LIMIT, LIMIT_EVENT_SIZE);
        b[56..60].copy_from_slice(&3u32.to_ne_bytes());
        b[60..64].copy_from_slice(&2u32.to_ne_bytes());
        b[64..72].copy_from_slice(&(64u64 << 20).to_ne_bytes());
        b[72..80].copy_from_slice(&(65u64 << 20).to_ne_bytes());
        let Event::Limit(e) = decode(&b).unwrap() else { panic!() };
        assert_eq!(
            (e.limit, e.action, e.value, e.observed, e.header.rule),
            ("memory", "kill", 64 << 20, 65 << 20, "memory")
        );
        b[56..60].copy_from_slice(&9u32.to_ne_bytes());
        assert!(decode(&b).unwrap_err().to_string().contains("unknown limit 9"));

        let mut b = header(KIND_THROTTLED, THROTTLED_EVENT_SIZE);
        b[56..64].copy_from_slice(&500u64.to_ne_bytes());
        b[64..72].copy_from_slice(&1_000_000_000u64.to_ne_bytes());
        let Event::Throttled(e) = decode(&b).unwrap() else {
            panic!()
        };
        assert_eq!((e.throttled, e.window_ms), (500, 1000));
    }

    #[test]
    fn rejects_short_and_unknown_records() {
        assert!(decode(&[0u8; 10]).is_err());
        assert!(decode(&header(99, 80))
            .unwrap_err()
            .to_string()
            .contains("unknown event kind 99"));
        assert!(decode(&header(KIND_NET_EGRESS, 60)).is_err());
    }
}
