//! Network policy beyond egress: `fnguard.io/bind` (ports a function may
//! listen on), `fnguard.io/dns` (resolvers it may query) and `fnguard.io/scan`
//! (what counts as a port scan or a probe of the policy).

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use crate::egress::{parse_ports, split_protocol, PortRange, Protocols};

/// Port rules the kernel keeps per function for bind (as for one egress prefix).
pub const MAX_BIND_RULES: usize = 16;
/// Resolvers per function.
pub const MAX_RESOLVERS: usize = 16;

/// One bindable port range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BindRule {
    pub ports: PortRange,
    pub protocols: Protocols,
}

impl fmt::Display for BindRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.ports, self.protocols)
    }
}

/// `PORT[-PORT][/tcp|/udp]`, comma-separated, or `none` (no listening socket at all).
pub fn parse_bind(value: &str) -> Result<Vec<BindRule>, String> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err("empty list; write `none` to deny every bind to a port".into());
    }
    if trimmed.eq_ignore_ascii_case("none") {
        return Ok(Vec::new());
    }
    let rules = trimmed
        .split(',')
        .map(|entry| {
            let entry = entry.trim();
            let (ports, protocols) = split_protocol(entry)?;
            let ports = parse_ports(ports).map_err(|reason| format!("entry {entry:?}: {reason}"))?;
            Ok(BindRule { ports, protocols })
        })
        .collect::<Result<Vec<_>, String>>()?;
    if rules.len() > MAX_BIND_RULES {
        return Err(format!("{} entries; at most {MAX_BIND_RULES}", rules.len()));
    }
    Ok(rules)
}

/// Resolver addresses, comma-separated; `none` denies all DNS.
pub fn parse_dns(value: &str) -> Result<Vec<IpAddr>, String> {
    let trimmed = value.trim();
    if trimmed.eq_ignore_ascii_case("none") {
        return Ok(Vec::new());
    }
    let resolvers = trimmed
        .split(',')
        .map(|entry| {
            let entry = entry.trim();
            entry
                .parse::<IpAddr>()
                .map_err(|_| format!("entry {entry:?} is not an IP address (resolvers are addresses, port 53)"))
        })
        .collect::<Result<Vec<_>, String>>()?;
    if resolvers.len() > MAX_RESOLVERS {
        return Err(format!("{} resolvers; at most {MAX_RESOLVERS}", resolvers.len()));
    }
    Ok(resolvers)
}

/// Socket families by name, with their AF_* numbers.
pub const SOCKET_FAMILIES: &[(&str, u8)] = &[
    ("unix", 1),
    ("inet", 2),
    ("inet6", 10),
    ("netlink", 16),
    ("packet", 17),
    ("alg", 38),
    ("vsock", 40),
];
/// The bit that allows raw inet sockets (SOCK_RAW).
pub const SOCKETS_RAW: u64 = 1 << 63;

/// `fnguard.io/sockets`: families (`unix`, `inet`, `inet6`, `netlink`,
/// `packet`, `alg`, `vsock`) and `raw` for raw inet sockets; the mask the
/// kernel programs test (bit AF_* per family, bit 63 for raw).
pub fn parse_sockets(value: &str) -> Result<u64, String> {
    let mut mask = 0u64;
    for name in value.split(',').map(str::trim) {
        if name.is_empty() {
            return Err("empty entry; list families such as `inet, inet6, unix`".into());
        }
        if name == "raw" {
            mask |= SOCKETS_RAW;
            continue;
        }
        match SOCKET_FAMILIES.iter().find(|(n, _)| *n == name) {
            Some((_, af)) => mask |= 1 << af,
            None => {
                let known: Vec<&str> = SOCKET_FAMILIES.iter().map(|(n, _)| *n).collect();
                return Err(format!("unknown socket family {name:?}; use {}, raw", known.join(", ")));
            }
        }
    }
    Ok(mask)
}

/// When connection attempts count as a scan or a probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScanThresholds {
    /// More distinct destination ports than this within the window is a scan.
    pub ports: u16,
    /// More distinct destination hosts than this within the window is a scan.
    pub hosts: u16,
    /// More denied connections than this within the window is a probe.
    pub denied: u16,
    pub window: Duration,
}

impl Default for ScanThresholds {
    fn default() -> Self {
        ScanThresholds {
            ports: 30,
            hosts: 50,
            denied: 10,
            window: Duration::from_secs(10),
        }
    }
}

/// `ports=N, hosts=N, denied=N, window=DURATION`, any subset.
pub fn parse_scan(value: &str) -> Result<ScanThresholds, String> {
    let mut t = ScanThresholds::default();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (key, val) = entry
            .split_once('=')
            .ok_or_else(|| format!("entry {entry:?} is not key=value (ports, hosts, denied, window)"))?;
        let count = || {
            val.trim()
                .parse::<u16>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("{key}={val:?}: a count from 1 to 65535"))
        };
        match key.trim() {
            "ports" => t.ports = count()?,
            "hosts" => t.hosts = count()?,
            "denied" => t.denied = count()?,
            "window" => {
                let window = humantime::parse_duration(val.trim())
                    .map_err(|e| format!("window={val:?}: {e} (write e.g. 10s or 500ms)"))?;
                if window < Duration::from_millis(100) || window > Duration::from_secs(3600) {
                    return Err(format!("window={val:?}: from 100ms to 1h"));
                }
                t.window = window;
            }
            other => return Err(format!("unknown key {other:?}; use ports, hosts, denied, window")),
        }
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_lists() {
        let rules = parse_bind("8080, 9000-9010/tcp, 53/udp").unwrap();
        assert_eq!(rules.len(), 3);
        assert_eq!(rules[1].ports, PortRange { lo: 9000, hi: 9010 });
        assert_eq!(rules[2].protocols, Protocols::UDP);
        assert_eq!(rules[0].protocols, Protocols::ANY);
        assert_eq!(parse_bind("none").unwrap(), vec![]);
        assert!(parse_bind("").is_err());
        assert!(parse_bind("0").unwrap_err().contains("out of range"));
        assert!(parse_bind("80/sctp").is_err());
    }

    #[test]
    fn dns_lists() {
        assert_eq!(parse_dns("10.0.0.2, fd00::53").unwrap().len(), 2);
        assert!(parse_dns("none").unwrap().is_empty());
        assert!(parse_dns("10.0.0.2:53").unwrap_err().contains("not an IP address"));
    }

    #[test]
    fn socket_lists() {
        assert_eq!(parse_sockets("inet, inet6, unix").unwrap(), 1 << 2 | 1 << 10 | 1 << 1);
        assert_eq!(parse_sockets("inet,raw").unwrap(), 1 << 2 | SOCKETS_RAW);
        assert!(parse_sockets("inet, bluetooth")
            .unwrap_err()
            .contains("unknown socket family"));
        assert!(parse_sockets("").is_err());
    }

    #[test]
    fn scan_thresholds() {
        let t = parse_scan("ports=20, window=5s").unwrap();
        assert_eq!((t.ports, t.hosts, t.window), (20, 50, Duration::from_secs(5)));
        assert!(parse_scan("ports=0").is_err());
        assert!(parse_scan("speed=3").unwrap_err().contains("unknown key"));
        assert!(parse_scan("window=1ms").is_err());
    }
}
