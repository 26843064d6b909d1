//! The egress allow list as the kernel looks it up: one longest-prefix-match
//! entry per distinct prefix, each carrying every port rule that applies to it.
//!
//! A longest-prefix lookup returns only the most specific prefix that contains
//! the destination, so each entry also inherits the port rules of every shorter
//! prefix that contains it; otherwise `10.0.0.0/8:443` plus `10.1.0.0/16:80`
//! would deny 10.1.2.3:443.

use std::collections::BTreeMap;

use crate::cidr::Cidr;
use crate::egress::{EgressRule, PortRange, Protocols};

/// Port rules one map value holds; the kernel program scans them in a bounded loop.
pub const MAX_PORT_RULES_PER_PREFIX: usize = 16;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrefixRules {
    pub cidr: Cidr,
    pub rules: Vec<(PortRange, Protocols)>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EgressTable {
    pub prefixes: Vec<PrefixRules>,
}

impl EgressTable {
    pub fn build(rules: &[EgressRule]) -> Result<Self, String> {
        let mut own: BTreeMap<Cidr, Vec<(PortRange, Protocols)>> = BTreeMap::new();
        for rule in rules {
            own.entry(rule.cidr).or_default().push((rule.ports, rule.protocols));
        }
        let mut prefixes = Vec::with_capacity(own.len());
        for (cidr, direct) in &own {
            let mut all = direct.clone();
            for len in 0..cidr.prefix_len() {
                if let Some(inherited) = own.get(&cidr.truncate(len)) {
                    all.extend_from_slice(inherited);
                }
            }
            let merged = merge(all);
            if merged.len() > MAX_PORT_RULES_PER_PREFIX {
                return Err(format!(
                    "{} distinct port rules apply to {cidr}; at most {MAX_PORT_RULES_PER_PREFIX} \
                     fit one prefix, so merge ports into ranges",
                    merged.len()
                ));
            }
            prefixes.push(PrefixRules {
                cidr: *cidr,
                rules: merged,
            });
        }
        Ok(EgressTable { prefixes })
    }
}

/// Merges overlapping or adjacent ranges of the same protocols and drops
/// ranges already covered by a rule for more protocols.
fn merge(mut rules: Vec<(PortRange, Protocols)>) -> Vec<(PortRange, Protocols)> {
    rules.sort_by_key(|(range, protos)| (protos.0, range.lo, range.hi));
    let mut merged: Vec<(PortRange, Protocols)> = Vec::new();
    for (range, protos) in rules {
        if let Some((last, last_protos)) = merged.last_mut() {
            if *last_protos == protos && u32::from(range.lo) <= u32::from(last.hi) + 1 {
                last.hi = last.hi.max(range.hi);
                continue;
            }
        }
        merged.push((range, protos));
    }
    let covered = |i: usize| {
        let (r, p) = merged[i];
        merged
            .iter()
            .enumerate()
            .any(|(j, (o, op))| j != i && op.0 & p.0 == p.0 && op.0 != p.0 && o.lo <= r.lo && o.hi >= r.hi)
    };
    (0..merged.len()).filter(|&i| !covered(i)).map(|i| merged[i]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::egress::parse_egress;

    fn table(text: &str) -> EgressTable {
        EgressTable::build(&parse_egress(text).unwrap()).unwrap()
    }

    fn rules_of(t: &EgressTable, cidr: &str) -> Vec<String> {
        let cidr = Cidr::parse(cidr).unwrap();
        let entry = t.prefixes.iter().find(|p| p.cidr == cidr).unwrap();
        entry.rules.iter().map(|(r, p)| format!("{r}/{p}")).collect()
    }

    #[test]
    fn more_specific_prefix_inherits_shorter_rules() {
        let t = table("10.0.0.0/8:443/tcp, 10.1.0.0/16:80/tcp");
        assert_eq!(rules_of(&t, "10.0.0.0/8"), ["443/tcp"]);
        assert_eq!(rules_of(&t, "10.1.0.0/16"), ["80/tcp", "443/tcp"]);
    }

    #[test]
    fn v4_and_v6_tables_do_not_mix() {
        let t = table("0.0.0.0/0:53/udp, ::/0:443/tcp, ::ffff:10.0.0.0/104:80/tcp");
        assert_eq!(rules_of(&t, "10.0.0.0/8"), ["80/tcp", "53/udp"]);
        assert_eq!(rules_of(&t, "::/0"), ["443/tcp"]);
    }

    #[test]
    fn adjacent_ranges_merge_and_covered_rules_drop() {
        let t = table("10.0.0.0/8:80-90/tcp, 10.0.0.0/8:91-100/tcp, 10.0.0.0/8:85/tcp, 10.0.0.0/8:1-1000");
        assert_eq!(rules_of(&t, "10.0.0.0/8"), ["1-1000/any"]);
    }

    #[test]
    fn too_many_rules_for_one_prefix_is_an_error() {
        let list: Vec<String> = (1..=17).map(|p| format!("10.0.0.0/8:{}/tcp", p * 10)).collect();
        let err = EgressTable::build(&parse_egress(&list.join(",")).unwrap()).unwrap_err();
        assert!(err.contains("17 distinct port rules apply to 10.0.0.0/8"), "{err}");
    }

    #[test]
    fn thousands_of_prefixes_build_quickly() {
        let list: Vec<String> = (0..10_000)
            .map(|i| format!("10.{}.{}.0/24:443/tcp", i / 256, i % 256))
            .collect();
        let t = EgressTable::build(&parse_egress(&list.join(",")).unwrap()).unwrap();
        assert_eq!(t.prefixes.len(), 10_000);
    }
}
