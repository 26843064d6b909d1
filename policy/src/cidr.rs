use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An address prefix. IPv4-mapped IPv6 prefixes (`::ffff:a.b.c.d/96+n`) are
/// stored as the IPv4 prefix they denote, because the kernel program judges a
/// connect to `::ffff:a.b.c.d` by the IPv4 table: one rule, one place.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Cidr {
    V4 { addr: Ipv4Addr, len: u8 },
    V6 { addr: Ipv6Addr, len: u8 },
}

const V4_MAPPED_PREFIX: u128 = 0xffff_u128 << 32;

impl Cidr {
    /// Builds a prefix; the address must have no bits set past `len`.
    pub fn new(ip: IpAddr, len: u8) -> Result<Self, String> {
        match ip {
            IpAddr::V4(addr) => {
                if len > 32 {
                    return Err(format!("prefix length {len} exceeds 32 for IPv4 address {addr}"));
                }
                let cidr = Cidr::V4 { addr, len };
                cidr.check_host_bits(ip)?;
                Ok(cidr)
            }
            IpAddr::V6(addr) => {
                if len > 128 {
                    return Err(format!("prefix length {len} exceeds 128 for IPv6 address {addr}"));
                }
                let cidr = Cidr::V6 { addr, len };
                cidr.check_host_bits(ip)?;
                let bits = u128::from(addr);
                if len >= 96 && bits >> 32 == V4_MAPPED_PREFIX >> 32 {
                    return Ok(Cidr::V4 {
                        addr: Ipv4Addr::from(bits as u32),
                        len: len - 96,
                    });
                }
                Ok(cidr)
            }
        }
    }

    /// Parses `addr` (a host) or `addr/len`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (addr_text, len_text) = match text.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (text, None),
        };
        let ip: IpAddr = addr_text
            .parse()
            .map_err(|_| format!("{addr_text:?} is not an IPv4 or IPv6 address"))?;
        let len = match len_text {
            Some(l) => l
                .parse::<u8>()
                .map_err(|_| format!("prefix length {l:?} is not a number from 0 to 128"))?,
            None => match ip {
                IpAddr::V4(_) => 32,
                IpAddr::V6(_) => 128,
            },
        };
        Cidr::new(ip, len)
    }

    pub fn prefix_len(&self) -> u8 {
        match *self {
            Cidr::V4 { len, .. } | Cidr::V6 { len, .. } => len,
        }
    }

    pub fn is_v4(&self) -> bool {
        matches!(self, Cidr::V4 { .. })
    }

    /// The enclosing prefix of length `len` (`len` <= own length).
    pub fn truncate(&self, len: u8) -> Cidr {
        match *self {
            Cidr::V4 { addr, .. } => Cidr::V4 {
                addr: Ipv4Addr::from(u32::from(addr) & mask32(len)),
                len,
            },
            Cidr::V6 { addr, .. } => Cidr::V6 {
                addr: Ipv6Addr::from(u128::from(addr) & mask128(len)),
                len,
            },
        }
    }

    /// Address bytes in network order, as the kernel sees them.
    pub fn addr_octets(&self) -> Vec<u8> {
        match self {
            Cidr::V4 { addr, .. } => addr.octets().to_vec(),
            Cidr::V6 { addr, .. } => addr.octets().to_vec(),
        }
    }

    fn check_host_bits(&self, ip: IpAddr) -> Result<(), String> {
        let truncated = self.truncate(self.prefix_len());
        if truncated != *self {
            return Err(format!(
                "{ip}/{} has host bits set; did you mean {truncated}?",
                self.prefix_len()
            ));
        }
        Ok(())
    }
}

fn mask32(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len))
    }
}

fn mask128(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len))
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cidr::V4 { addr, len } => write!(f, "{addr}/{len}"),
            Cidr::V6 { addr, len } => write!(f, "{addr}/{len}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_addresses_get_full_length() {
        assert_eq!(Cidr::parse("10.1.2.3").unwrap().to_string(), "10.1.2.3/32");
        assert_eq!(Cidr::parse("::1").unwrap().to_string(), "::1/128");
    }

    #[test]
    fn v4_mapped_prefixes_become_v4() {
        assert_eq!(Cidr::parse("::ffff:10.0.0.0/104").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(Cidr::parse("::ffff:127.0.0.2").unwrap().to_string(), "127.0.0.2/32");
        // A shorter prefix that merely contains the mapped range stays IPv6.
        assert!(!Cidr::parse("::/0").unwrap().is_v4());
    }

    #[test]
    fn rejects_bad_prefixes() {
        assert!(Cidr::parse("10.0.0.0/33").unwrap_err().contains("exceeds 32"));
        assert!(Cidr::parse("fd00::/129").unwrap_err().contains("exceeds 128"));
        assert!(Cidr::parse("10.0.0.1/8")
            .unwrap_err()
            .contains("did you mean 10.0.0.0/8"));
        assert!(Cidr::parse("300.0.0.1").unwrap_err().contains("not an IPv4 or IPv6"));
        assert!(Cidr::parse("10.0.0.0/x").unwrap_err().contains("prefix length"));
    }

    #[test]
    fn truncate_masks_host_bits() {
        let c = Cidr::parse("192.168.7.0/24").unwrap();
        assert_eq!(c.truncate(16).to_string(), "192.168.0.0/16");
        assert_eq!(c.truncate(0).to_string(), "0.0.0.0/0");
    }
}
