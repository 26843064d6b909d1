//! Byte layouts of the structs in `bpf/net.h`, for map keys and values.
//! Offsets here must match the C side; the tests pin the sizes.

use std::net::IpAddr;

use fnguard_policy::network::{BindRule, ScanThresholds};
use fnguard_policy::rules::RuleSet;
use fnguard_policy::{Cidr, PathEntry, PathList, PortRange, Protocols, Verdict, MAX_PORT_RULES_PER_PREFIX};

// fng_cg_policy.flags (events.h)
pub(crate) const FLAG_EGRESS: u32 = 1;
pub(crate) const FLAG_AUDIT: u32 = 2;
pub(crate) const FLAG_EXEC: u32 = 4;
pub(crate) const FLAG_FILES_READ: u32 = 8;
pub(crate) const FLAG_FILES_WRITE: u32 = 16;
pub(crate) const FLAG_PATHS: u32 = 32;
pub(crate) const FLAG_INODES: u32 = 64;
pub(crate) const FLAG_BIND: u32 = 128;
pub(crate) const FLAG_DNS: u32 = 256;
pub(crate) const FLAG_SOCKETS: u32 = 512;
pub(crate) const FLAG_INGRESS: u32 = 1024;
pub(crate) const FLAG_CONNECTION_LIMITS: u32 = 2048;
pub(crate) const FLAG_PACED: u32 = 4096;

// enum fng_rule (events.h)
pub(crate) const RULE_NONE: u8 = 0;
pub(crate) const RULE_EGRESS: u8 = 1;
pub(crate) const RULE_FILES_DENY: u8 = 2;
pub(crate) const RULE_FILES_READ: u8 = 3;
pub(crate) const RULE_FILES_WRITE: u8 = 4;
pub(crate) const RULE_EXEC: u8 = 5;
pub(crate) const RULE_PATH_UNRESOLVED: u8 = 6;
pub(crate) const RULE_BIND: u8 = 7;
pub(crate) const RULE_DNS: u8 = 8;
pub(crate) const RULE_SOCKETS: u8 = 9;
pub(crate) const RULE_INGRESS: u8 = 10;

/// `FNG_PATH_KEY_MAX` (files.h)
const PATH_KEY_MAX: usize = 248;

const PORT_RULE_SIZE: usize = 8;
pub(crate) const EGRESS_VALUE_SIZE: usize = 8 + PORT_RULE_SIZE * MAX_PORT_RULES_PER_PREFIX;
/// `struct fng_cg_stats`: 19 fields of 8 bytes.
pub(crate) const STATS_SIZE: usize = 19 * 8;
/// Index of `terminating` in `struct fng_cg_stats`.
pub(crate) const STATS_TERMINATING: usize = 18;
/// Index of `start_ns` in `struct fng_cg_stats`.
pub(crate) const STATS_START_NS: usize = 12;

/// `struct fng_cg_policy`
/// struct fng_cg_policy. `started_ns`: CLOCK_REALTIME when managed.
pub(crate) fn policy_value(flags: u32, owner: u64, rules: &RuleSet, started_ns: u64) -> [u8; 40] {
    let mut value = [0u8; 40];
    value[..4].copy_from_slice(&flags.to_ne_bytes());
    value[8..16].copy_from_slice(&owner.to_ne_bytes());
    value[16..24].copy_from_slice(&rules.on.to_ne_bytes());
    value[24..32].copy_from_slice(&rules.kill.to_ne_bytes());
    value[32..].copy_from_slice(&started_ns.to_ne_bytes());
    value
}

/// The owner (container cgroup id) in a `struct fng_cg_policy`.
/// struct fng_net_policy, scan state zeroed.
pub(crate) const NET_POLICY_SIZE: usize = 568;

pub(crate) fn net_policy_value(
    bind: Option<&[BindRule]>,
    dns: Option<&[IpAddr]>,
    scan: &ScanThresholds,
    sockets: Option<u64>,
) -> Vec<u8> {
    let mut value = vec![0u8; NET_POLICY_SIZE];
    let rules: Vec<(PortRange, Protocols)> = bind
        .unwrap_or_default()
        .iter()
        .map(|r| (r.ports, r.protocols))
        .collect();
    value[..EGRESS_VALUE_SIZE].copy_from_slice(&egress_value(&rules));
    let resolvers = dns.unwrap_or_default();
    value[136..140].copy_from_slice(&(resolvers.len() as u32).to_ne_bytes());
    value[140..144].copy_from_slice(&(scan.window.as_millis() as u32).to_ne_bytes());
    for (i, addr) in resolvers.iter().enumerate() {
        let v6 = match addr {
            IpAddr::V4(v4) => v4.to_ipv6_mapped(),
            IpAddr::V6(v6) => *v6,
        };
        value[144 + 16 * i..160 + 16 * i].copy_from_slice(&v6.octets());
    }
    value[400..402].copy_from_slice(&scan.ports.to_ne_bytes());
    value[402..404].copy_from_slice(&scan.hosts.to_ne_bytes());
    value[404..406].copy_from_slice(&scan.denied.to_ne_bytes());
    value[560..568].copy_from_slice(&sockets.unwrap_or(0).to_ne_bytes());
    value
}

pub(crate) fn policy_owner(value: &[u8]) -> Option<u64> {
    Some(u64::from_ne_bytes(value.get(8..16)?.try_into().ok()?))
}

/// `struct fng_lpm_v4` / `struct fng_lpm_v6`
pub(crate) fn lpm_key(cgroup_id: u64, cidr: &Cidr) -> Vec<u8> {
    let mut key = Vec::with_capacity(28);
    key.extend_from_slice(&(64 + u32::from(cidr.prefix_len())).to_ne_bytes());
    key.extend_from_slice(&(cgroup_id as u32).to_ne_bytes());
    key.extend_from_slice(&((cgroup_id >> 32) as u32).to_ne_bytes());
    key.extend_from_slice(&cidr.addr_octets());
    key
}

/// Cgroup id of an LPM key.
pub(crate) fn lpm_key_cgroup(key: &[u8]) -> Option<u64> {
    let lo = u32::from_ne_bytes(key.get(4..8)?.try_into().ok()?);
    let hi = u32::from_ne_bytes(key.get(8..12)?.try_into().ok()?);
    Some(u64::from(hi) << 32 | u64::from(lo))
}

/// `struct fng_egress_value`
pub(crate) fn egress_value(rules: &[(PortRange, Protocols)]) -> Vec<u8> {
    assert!(
        rules.len() <= MAX_PORT_RULES_PER_PREFIX,
        "policy crate bounds the rules per prefix"
    );
    let mut value = vec![0u8; EGRESS_VALUE_SIZE];
    value[..4].copy_from_slice(&(rules.len() as u32).to_ne_bytes());
    for (i, (range, protos)) in rules.iter().enumerate() {
        let at = 8 + i * PORT_RULE_SIZE;
        value[at..at + 2].copy_from_slice(&range.lo.to_ne_bytes());
        value[at + 2..at + 4].copy_from_slice(&range.hi.to_ne_bytes());
        value[at + 4] = protos.0;
    }
    value
}

/// `struct fng_path_key`
pub(crate) fn path_key(cgroup_id: u64, entry: &PathEntry) -> Vec<u8> {
    assert!(entry.key.len() <= PATH_KEY_MAX, "policy crate bounds prefixes");
    let mut key = Vec::with_capacity(12 + PATH_KEY_MAX);
    key.extend_from_slice(&(64 + 8 * entry.key.len() as u32).to_ne_bytes());
    key.extend_from_slice(&(cgroup_id as u32).to_ne_bytes());
    key.extend_from_slice(&((cgroup_id >> 32) as u32).to_ne_bytes());
    key.extend_from_slice(&entry.key);
    key.resize(12 + PATH_KEY_MAX, 0);
    key
}

/// `struct fng_inode_key`
pub(crate) fn inode_key(cgroup_id: u64, file: &crate::policy_maps::FileId) -> [u8; 24] {
    let mut key = [0u8; 24];
    key[..8].copy_from_slice(&cgroup_id.to_ne_bytes());
    key[8..16].copy_from_slice(&file.ino.to_ne_bytes());
    key[16..20].copy_from_slice(&file.dev.to_ne_bytes());
    key
}

/// `struct fng_path_rule`
pub(crate) fn path_rule(entry: &PathEntry) -> [u8; 8] {
    let (read, read_rule) = verdict(entry.verdicts.read);
    let (write, write_rule) = verdict(entry.verdicts.write);
    let (exec, exec_rule) = verdict(entry.verdicts.exec);
    // Detection rules stored as id + 1: 0 is none.
    let detect = |rule: Option<u8>| rule.map_or(0, |id| id + 1);
    [
        read,
        write,
        exec,
        read_rule,
        write_rule,
        exec_rule,
        detect(entry.detect_read),
        detect(entry.detect_write),
    ]
}

/// `FNG_PATH_*` verdict and the `enum fng_rule` behind it.
fn verdict(v: Verdict) -> (u8, u8) {
    let rule = |list: PathList| match list {
        PathList::Deny => RULE_FILES_DENY,
        PathList::Read => RULE_FILES_READ,
        PathList::Write => RULE_FILES_WRITE,
        PathList::Exec => RULE_EXEC,
    };
    match v {
        Verdict::Unset => (0, RULE_NONE),
        Verdict::Allow(list) => (1, rule(list)),
        Verdict::Deny(list) => (2, rule(list)),
    }
}

/// Name of an `enum fng_rule` value, as events and docs spell it.
pub(crate) fn rule_name(rule: u8) -> &'static str {
    match rule {
        RULE_EGRESS => "egress",
        RULE_FILES_DENY => "files.deny",
        RULE_FILES_READ => "files.read",
        RULE_FILES_WRITE => "files.write",
        RULE_EXEC => "exec",
        RULE_PATH_UNRESOLVED => "path-unresolved",
        RULE_BIND => "bind",
        RULE_DNS => "dns",
        RULE_SOCKETS => "sockets",
        RULE_INGRESS => "ingress",
        _ => "none",
    }
}

/// Reads the `index`th u64 of a value.
pub(crate) fn u64_at(bytes: &[u8], index: usize) -> u64 {
    let at = index * 8;
    bytes
        .get(at..at + 8)
        .map(|b| u64::from_ne_bytes(b.try_into().expect("8 bytes")))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lpm_keys_carry_cgroup_and_prefix() {
        let key = lpm_key(0x1_0000_0002, &Cidr::parse("10.0.0.0/8").unwrap());
        assert_eq!(key.len(), 16);
        assert_eq!(u32::from_ne_bytes(key[..4].try_into().unwrap()), 72);
        assert_eq!(lpm_key_cgroup(&key), Some(0x1_0000_0002));
        assert_eq!(&key[12..], &[10, 0, 0, 0]);
        let key = lpm_key(7, &Cidr::parse("fd00::/8").unwrap());
        assert_eq!(key.len(), 28);
        assert_eq!(u32::from_ne_bytes(key[..4].try_into().unwrap()), 64 + 8);
    }

    #[test]
    fn path_key_and_rule_layout() {
        let entry = PathEntry {
            key: b"/etc/".to_vec(),
            verdicts: fnguard_policy::PathVerdicts {
                read: Verdict::Allow(PathList::Read),
                write: Verdict::Deny(PathList::Deny),
                exec: Verdict::Unset,
            },
            detect_read: Some(20),
            detect_write: None,
        };
        let key = path_key(9, &entry);
        assert_eq!(key.len(), 260);
        assert_eq!(u32::from_ne_bytes(key[..4].try_into().unwrap()), 64 + 40);
        assert_eq!(lpm_key_cgroup(&key), Some(9));
        assert_eq!(&key[12..17], b"/etc/");
        assert!(key[17..].iter().all(|&b| b == 0));
        assert_eq!(
            path_rule(&entry),
            [1, 2, 0, RULE_FILES_READ, RULE_FILES_DENY, RULE_NONE, 21, 0]
        );
    }

    #[test]
    fn egress_value_layout() {
        let v = egress_value(&[(PortRange { lo: 80, hi: 90 }, Protocols::TCP)]);
        assert_eq!(v.len(), 136);
        assert_eq!(u32::from_ne_bytes(v[..4].try_into().unwrap()), 1);
        assert_eq!(u16::from_ne_bytes(v[8..10].try_into().unwrap()), 80);
        assert_eq!(u16::from_ne_bytes(v[10..12].try_into().unwrap()), 90);
        assert_eq!(v[12], 1);
    }

    #[test]
    fn detection_ids_in_events_h_match_the_rule_catalogue() {
        let header = include_str!("bpf/events.h");
        let start = header.find("enum fng_detection {").expect("enum fng_detection");
        let body = &header[start..start + header[start..].find("};").unwrap()];
        let mut ids = Vec::new();
        for line in body.lines().map(str::trim).filter(|l| l.starts_with("FNG_DET_")) {
            let (name, value) = line.trim_end_matches(',').split_once(" = ").unwrap();
            if name == "FNG_DET_NONE" {
                continue;
            }
            let rule = name["FNG_DET_".len()..].to_lowercase().replace('_', "-");
            ids.push((rule, value.parse::<u8>().unwrap()));
        }
        let catalogue: Vec<(String, u8)> = fnguard_policy::rules::RULES
            .iter()
            .map(|r| (r.name.to_string(), r.id))
            .collect();
        assert_eq!(ids, catalogue);
    }

    #[test]
    fn net_policy_layout() {
        use fnguard_policy::network::{parse_bind, parse_dns, parse_scan};
        let bind = parse_bind("8080/tcp").unwrap();
        let dns = parse_dns("10.0.0.2").unwrap();
        let v = net_policy_value(
            Some(&bind),
            Some(&dns),
            &parse_scan("ports=20, window=5s").unwrap(),
            Some(6),
        );
        assert_eq!(v.len(), NET_POLICY_SIZE);
        assert_eq!(u32::from_ne_bytes(v[..4].try_into().unwrap()), 1);
        assert_eq!(u16::from_ne_bytes(v[8..10].try_into().unwrap()), 8080);
        assert_eq!(u32::from_ne_bytes(v[136..140].try_into().unwrap()), 1);
        assert_eq!(u32::from_ne_bytes(v[140..144].try_into().unwrap()), 5000);
        assert_eq!(&v[144..160], &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 2]);
        assert_eq!(u16::from_ne_bytes(v[400..402].try_into().unwrap()), 20);
        assert!(v[408..560].iter().all(|&b| b == 0));
        assert_eq!(u64::from_ne_bytes(v[560..568].try_into().unwrap()), 6);
    }
}
