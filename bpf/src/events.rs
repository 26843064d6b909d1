//! Events from the node's ring buffer, decoded from the structs in `net.h`.

use std::cell::RefCell;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::rc::Rc;
use std::time::Duration;

use libbpf_rs::{MapHandle, RingBuffer, RingBufferBuilder};
use serde::Serialize;

use crate::error::BpfError;
use crate::paths::PinLayout;

const KIND_NET_EGRESS: u32 = 1;
const HEADER_SIZE: usize = 48;
const NET_EVENT_SIZE: usize = HEADER_SIZE + 8 + 16;

/// One event from the kernel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind")]
pub enum Event {
    /// A connect or sendmsg that the egress policy denied or, in audit mode, would deny.
    #[serde(rename = "net.egress")]
    NetEgress(NetEvent),
}

impl Event {
    pub fn cgroup_id(&self) -> u64 {
        match self {
            Event::NetEgress(e) => e.cgroup_id,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetEvent {
    pub cgroup_id: u64,
    pub pid: u32,
    pub tid: u32,
    pub uid: u32,
    pub comm: String,
    pub ktime_ns: u64,
    /// `denied` or `audited`.
    pub verdict: &'static str,
    /// `connect` or `sendmsg`.
    pub operation: &'static str,
    pub protocol: String,
    pub daddr: String,
    pub dport: u16,
    /// What acted on it: the cgroup sock_addr program.
    pub mechanism: &'static str,
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
    let u32_at = |at: usize| u32::from_ne_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    let u64_at = |at: usize| u64::from_ne_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
    let comm_bytes = &bytes[32..48];
    let comm_len = comm_bytes.iter().position(|&b| b == 0).unwrap_or(comm_bytes.len());
    let comm = String::from_utf8_lossy(&comm_bytes[..comm_len]).into_owned();
    match u32_at(0) {
        KIND_NET_EGRESS => {
            if bytes.len() < NET_EVENT_SIZE {
                return Err(bad("shorter than a net event"));
            }
            let body = &bytes[HEADER_SIZE..];
            let verdict = match body[0] {
                1 => "denied",
                2 => "audited",
                _ => "allowed",
            };
            let operation = if body[1] == 1 { "connect" } else { "sendmsg" };
            let protocol = match body[2] {
                6 => "tcp".to_string(),
                17 => "udp".to_string(),
                other => format!("ip-proto-{other}"),
            };
            let dport = u16::from_ne_bytes([body[4], body[5]]);
            let addr = &body[8..24];
            let daddr = if body[3] == 4 {
                Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3]).to_string()
            } else {
                let octets: [u8; 16] = addr.try_into().expect("16 bytes");
                Ipv6Addr::from(octets).to_string()
            };
            Ok(Event::NetEgress(NetEvent {
                cgroup_id: u64_at(16),
                pid: u32_at(4),
                tid: u32_at(8),
                uid: u32_at(12),
                comm,
                ktime_ns: u64_at(24),
                verdict,
                operation,
                protocol,
                daddr,
                dport,
                mechanism: "cgroup-sock-addr",
            }))
        }
        other => Err(bad(&format!("unknown event kind {other}"))),
    }
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

    /// Waits up to `timeout` for events and returns those that arrived.
    pub fn poll(&self, timeout: Duration) -> Result<Vec<Result<Event, BpfError>>, BpfError> {
        self.ring
            .poll(timeout)
            .map_err(BpfError::libbpf("polling the event ring"))?;
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

    fn net_event(family: u8, addr: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; NET_EVENT_SIZE];
        b[0..4].copy_from_slice(&1u32.to_ne_bytes());
        b[4..8].copy_from_slice(&42u32.to_ne_bytes());
        b[8..12].copy_from_slice(&43u32.to_ne_bytes());
        b[12..16].copy_from_slice(&1000u32.to_ne_bytes());
        b[16..24].copy_from_slice(&77u64.to_ne_bytes());
        b[32..37].copy_from_slice(b"probe");
        b[48] = 1;
        b[49] = 1;
        b[50] = 6;
        b[51] = family;
        b[52..54].copy_from_slice(&8080u16.to_ne_bytes());
        b[56..56 + addr.len()].copy_from_slice(addr);
        b
    }

    #[test]
    fn decodes_v4_and_v6_net_events() {
        let Event::NetEgress(e) = decode(&net_event(4, &[127, 0, 0, 3])).unwrap();
        assert_eq!((e.pid, e.tid, e.uid, e.cgroup_id), (42, 43, 1000, 77));
        assert_eq!(e.comm, "probe");
        assert_eq!(
            (e.verdict, e.operation, e.protocol.as_str()),
            ("denied", "connect", "tcp")
        );
        assert_eq!(format!("{}:{}", e.daddr, e.dport), "127.0.0.3:8080");
        let mapped = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 3];
        let Event::NetEgress(e) = decode(&net_event(6, &mapped)).unwrap();
        assert_eq!(e.daddr, "::ffff:127.0.0.3");
    }

    #[test]
    fn rejects_short_and_unknown_records() {
        assert!(decode(&[0u8; 10]).is_err());
        let mut b = net_event(4, &[1, 2, 3, 4]);
        b[0] = 99;
        assert!(decode(&b).unwrap_err().to_string().contains("unknown event kind 99"));
        assert!(decode(&net_event(4, &[1, 2, 3, 4])[..60]).is_err());
    }
}
