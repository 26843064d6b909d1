//! The `fnguard.io/egress` allow list: `CIDR[:port|:lo-hi][/tcp|/udp]`,
//! comma-separated, or `none`.

use std::fmt;

use crate::cidr::Cidr;

/// Transport protocols a rule applies to, as the bit set the kernel program tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Protocols(pub u8);

impl Protocols {
    pub const TCP: Protocols = Protocols(1);
    pub const UDP: Protocols = Protocols(2);
    /// Any other IP protocol that goes through connect/sendmsg (ICMP ping sockets, SCTP, ...).
    pub const OTHER: Protocols = Protocols(4);
    pub const ANY: Protocols = Protocols(7);

    pub fn union(self, other: Protocols) -> Protocols {
        Protocols(self.0 | other.0)
    }
}

impl fmt::Display for Protocols {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Protocols::TCP => f.write_str("tcp"),
            Protocols::UDP => f.write_str("udp"),
            Protocols::ANY => f.write_str("any"),
            Protocols(bits) => write!(f, "protocols {bits:#x}"),
        }
    }
}

/// Inclusive destination port range; `ALL` also covers port 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortRange {
    pub lo: u16,
    pub hi: u16,
}

impl PortRange {
    pub const ALL: PortRange = PortRange { lo: 0, hi: u16::MAX };
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == PortRange::ALL {
            f.write_str("*")
        } else if self.lo == self.hi {
            write!(f, "{}", self.lo)
        } else {
            write!(f, "{}-{}", self.lo, self.hi)
        }
    }
}

/// One allowed destination: prefix, ports and protocols.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EgressRule {
    pub cidr: Cidr,
    pub ports: PortRange,
    pub protocols: Protocols,
}

impl fmt::Display for EgressRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}/{}", self.cidr, self.ports, self.protocols)
    }
}

/// Parses the whole annotation value. `none` is the empty allow list (deny all).
pub fn parse_egress(value: &str) -> Result<Vec<EgressRule>, String> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err("empty allow list; write `none` to deny all egress".into());
    }
    if trimmed.eq_ignore_ascii_case("none") {
        return Ok(Vec::new());
    }
    trimmed
        .split(',')
        .map(|entry| {
            let entry = entry.trim();
            if entry.is_empty() {
                return Err("empty entry between commas".to_string());
            }
            if entry.eq_ignore_ascii_case("none") {
                return Err("`none` must stand alone".to_string());
            }
            parse_rule(entry).map_err(|reason| format!("entry {entry:?}: {reason}"))
        })
        .collect()
}

fn parse_rule(entry: &str) -> Result<EgressRule, String> {
    let (rest, protocols) = split_protocol(entry)?;
    let (cidr_text, port_text) = split_port(rest)?;
    let cidr = Cidr::parse(cidr_text)?;
    let ports = match port_text {
        Some(p) => parse_ports(p)?,
        None => PortRange::ALL,
    };
    Ok(EgressRule { cidr, ports, protocols })
}

pub(crate) fn split_protocol(entry: &str) -> Result<(&str, Protocols), String> {
    if let Some(slash) = entry.rfind('/') {
        let tail = &entry[slash + 1..];
        if !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_alphabetic()) {
            let protocols = match tail.to_ascii_lowercase().as_str() {
                "tcp" => Protocols::TCP,
                "udp" => Protocols::UDP,
                _ => {
                    return Err(format!(
                        "unknown protocol {tail:?}; use tcp or udp, or omit it for both"
                    ))
                }
            };
            return Ok((&entry[..slash], protocols));
        }
    }
    Ok((entry, Protocols::ANY))
}

/// Splits `addr[/len][:ports]`. IPv6 takes a port only after a prefix length
/// (`fd00::/8:443`) or in brackets (`[::1]:8080`), since `::1:8080` is itself an address.
fn split_port(rest: &str) -> Result<(&str, Option<&str>), String> {
    if let Some(inner) = rest.strip_prefix('[') {
        let (cidr, after) = inner
            .split_once(']')
            .ok_or_else(|| "missing `]` after bracketed address".to_string())?;
        return match after {
            "" => Ok((cidr, None)),
            _ => match after.strip_prefix(':') {
                Some(ports) => Ok((cidr, Some(ports))),
                None => Err(format!("unexpected {after:?} after `]`; write [addr]:port")),
            },
        };
    }
    if let Some((_, after_slash)) = rest.split_once('/') {
        return Ok(match after_slash.split_once(':') {
            Some((len, ports)) => (&rest[..rest.len() - after_slash.len() + len.len()], Some(ports)),
            None => (rest, None),
        });
    }
    if !rest.contains(':') || rest.parse::<std::net::IpAddr>().is_ok() {
        return Ok((rest, None));
    }
    match rest.split_once(':') {
        Some((addr, ports)) if !ports.contains(':') => Ok((addr, Some(ports))),
        _ => Err(format!(
            "{rest:?} is not an address; IPv6 with a port is written [addr]:port or addr/len:port"
        )),
    }
}

pub(crate) fn parse_ports(text: &str) -> Result<PortRange, String> {
    let (lo, hi) = match text.split_once('-') {
        Some((lo, hi)) => (parse_port(lo)?, parse_port(hi)?),
        None => {
            let p = parse_port(text)?;
            (p, p)
        }
    };
    if lo > hi {
        return Err(format!("port range {lo}-{hi} is reversed"));
    }
    Ok(PortRange { lo, hi })
}

fn parse_port(text: &str) -> Result<u16, String> {
    let out_of_range = || format!("port {text} is out of range 1-65535");
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("port {text:?} is not a number"));
    }
    match text.parse::<u32>() {
        Ok(p) if (1..=65535).contains(&p) => Ok(p as u16),
        _ => Err(out_of_range()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> EgressRule {
        let rules = parse_egress(text).unwrap();
        assert_eq!(rules.len(), 1, "{text}");
        rules[0]
    }

    #[test]
    fn full_forms() {
        assert_eq!(one("127.0.0.2/32:8080/tcp").to_string(), "127.0.0.2/32:8080/tcp");
        assert_eq!(one("10.0.0.0/8").to_string(), "10.0.0.0/8:*/any");
        assert_eq!(one("10.0.0.1:53/udp").to_string(), "10.0.0.1/32:53/udp");
        assert_eq!(one("10.0.0.0/8:1000-2000").to_string(), "10.0.0.0/8:1000-2000/any");
        assert_eq!(one("fd00::/8:443/tcp").to_string(), "fd00::/8:443/tcp");
        assert_eq!(one("[::1]:8080/udp").to_string(), "::1/128:8080/udp");
        assert_eq!(one("[fd00::/16]:53").to_string(), "fd00::/16:53/any");
        assert_eq!(one("::1").to_string(), "::1/128:*/any");
        assert_eq!(one("10.0.0.0/8:80/TCP").protocols, Protocols::TCP);
    }

    #[test]
    fn v4_mapped_entries_are_ipv4_rules() {
        assert_eq!(one("[::ffff:127.0.0.2]:8080/tcp").to_string(), "127.0.0.2/32:8080/tcp");
    }

    #[test]
    fn lists_and_none() {
        assert_eq!(parse_egress("none").unwrap(), vec![]);
        assert_eq!(parse_egress(" 10.0.0.0/8 , ::1 ").unwrap().len(), 2);
    }

    #[test]
    fn bad_inputs_say_why() {
        let cases = [
            ("", "empty allow list"),
            ("10.0.0.0/33", "prefix length 33 exceeds 32"),
            ("10.0.0.0/8:70000", "port 70000 is out of range 1-65535"),
            ("10.0.0.0/8:0", "port 0 is out of range"),
            ("10.0.0.0/8:80/sctp", "unknown protocol \"sctp\""),
            ("10.0.0.0/8:http", "port \"http\" is not a number"),
            ("10.0.0.0/8:90-80", "reversed"),
            ("10.0.0.0/8,,::1", "empty entry"),
            ("none,10.0.0.0/8", "must stand alone"),
            ("example.com:443", "not an IPv4 or IPv6 address"),
            ("not-an-ip", "\"not-an-ip\" is not an IPv4 or IPv6 address"),
            ("fd00::1:2:3:80:x", "not an address"),
            ("[::1:8080", "missing `]`"),
            ("[::1]8080", "unexpected"),
            ("10.0.0.1/8", "host bits set"),
        ];
        for (input, want) in cases {
            let err = parse_egress(input).unwrap_err();
            assert!(err.contains(want), "{input:?}: got {err:?}, want {want:?}");
        }
    }

    #[test]
    fn entry_is_named_in_error() {
        let err = parse_egress("10.0.0.0/8, 1.2.3.4:99999/tcp").unwrap_err();
        assert!(err.starts_with("entry \"1.2.3.4:99999/tcp\""), "{err}");
    }
}
