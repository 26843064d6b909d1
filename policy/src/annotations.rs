//! The `fnguard.io/` annotation keys and the policy they make.

use std::collections::BTreeMap;
use std::fmt;

use sha2::{Digest, Sha256};

use crate::egress::{parse_egress, EgressRule};
use crate::egress_table::EgressTable;
use crate::error::PolicyError;
use crate::limits::{limit_for_key, parse_limit, Limits, LIMITS, LIMIT_KEY_PREFIX};
use crate::network::{parse_bind, parse_dns, parse_scan, parse_sockets, BindRule, ScanThresholds};
use crate::paths::{parse_path_list, PathLists, MAX_PATH_PREFIXES};
use crate::rules::RuleSet;

pub const ANNOTATION_PREFIX: &str = "fnguard.io/";
pub const KEY_EGRESS: &str = "fnguard.io/egress";
pub const KEY_MODE: &str = "fnguard.io/mode";
pub const KEY_FUNCTION: &str = "fnguard.io/function";
pub const KEY_FILES_DENY: &str = "fnguard.io/files.deny";
pub const KEY_FILES_READ: &str = "fnguard.io/files.read";
pub const KEY_FILES_WRITE: &str = "fnguard.io/files.write";
pub const KEY_EXEC: &str = "fnguard.io/exec";
pub const KEY_BIND: &str = "fnguard.io/bind";
pub const KEY_DNS: &str = "fnguard.io/dns";
pub const KEY_SCAN: &str = "fnguard.io/scan";
pub const KEY_SOCKETS: &str = "fnguard.io/sockets";
pub const KEY_INGRESS: &str = "fnguard.io/ingress";
pub const KEY_RULES_DISABLE: &str = "fnguard.io/rules.disable";
pub const KEY_RULES_KILL: &str = "fnguard.io/rules.kill";
/// Every key fnguard reads; any other `fnguard.io/` key is an error, so a
/// misspelt policy never silently does nothing.
pub const KNOWN_KEYS: &[&str] = &[
    KEY_BIND,
    KEY_DNS,
    KEY_EGRESS,
    KEY_EXEC,
    KEY_FILES_DENY,
    KEY_FILES_READ,
    KEY_FILES_WRITE,
    KEY_FUNCTION,
    KEY_INGRESS,
    KEY_MODE,
    KEY_RULES_DISABLE,
    KEY_RULES_KILL,
    KEY_SCAN,
    KEY_SOCKETS,
];

const MAX_FUNCTION_NAME: usize = 128;
/// Bounds one function's share of the node-wide prefix maps.
const MAX_EGRESS_ENTRIES: usize = 16_384;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Mode {
    /// Violations are denied in the kernel.
    #[default]
    Enforce,
    /// Violations are reported and allowed.
    Audit,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Enforce => "enforce",
            Mode::Audit => "audit",
        })
    }
}

/// A container's validated policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub mode: Mode,
    pub function: Option<String>,
    /// `None`: egress is not restricted. `Some(empty)`: all egress denied.
    pub egress: Option<Vec<EgressRule>>,
    pub egress_table: Option<EgressTable>,
    /// `None`: inbound connections unrestricted. Peers (and the function's
    /// local ports) that may connect in, as one lookup table.
    pub ingress: Option<Vec<EgressRule>>,
    pub ingress_table: Option<EgressTable>,
    /// files.deny/read/write and exec.
    pub paths: PathLists,
    /// Detection rules that run, and those that kill in enforce mode.
    pub rules: RuleSet,
    /// `None`: any port may be bound. `Some(empty)`: none may.
    pub bind: Option<Vec<BindRule>>,
    /// `None`: DNS goes wherever egress allows. `Some(list)`: only to these resolvers.
    pub dns: Option<Vec<std::net::IpAddr>>,
    pub scan: ScanThresholds,
    /// `None`: any socket. `Some(mask)`: bit AF_* per allowed family, bit 63 for raw.
    pub sockets: Option<u64>,
    /// `fnguard.io/limits.*`: resource limits and their actions.
    pub limits: Limits,
    /// The `fnguard.io/` annotations this policy came from, sorted.
    pub annotations: BTreeMap<String, String>,
}

impl Policy {
    /// `Ok(None)` when no `fnguard.io/` annotation is present: the container is not managed.
    pub fn from_annotations<'a, I>(annotations: I) -> Result<Option<Policy>, PolicyError>
    where
        I: IntoIterator<Item = (&'a String, &'a String)>,
    {
        let ours: BTreeMap<String, String> = annotations
            .into_iter()
            .filter(|(k, _)| k.starts_with(ANNOTATION_PREFIX))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if ours.is_empty() {
            return Ok(None);
        }
        let mut policy = Policy {
            mode: Mode::Enforce,
            function: None,
            egress: None,
            egress_table: None,
            ingress: None,
            ingress_table: None,
            paths: PathLists::default(),
            rules: RuleSet::default(),
            bind: None,
            dns: None,
            scan: ScanThresholds::default(),
            sockets: None,
            limits: Limits::default(),
            annotations: ours.clone(),
        };
        for (key, value) in &ours {
            match key.as_str() {
                KEY_MODE => policy.mode = parse_mode(value).map_err(|r| PolicyError::invalid(key, value, r))?,
                KEY_FUNCTION => {
                    policy.function = Some(parse_function(value).map_err(|r| PolicyError::invalid(key, value, r))?)
                }
                KEY_EGRESS | KEY_INGRESS => {
                    let rules = parse_egress(value).map_err(|r| PolicyError::invalid(key, value, r))?;
                    if rules.len() > MAX_EGRESS_ENTRIES {
                        return Err(PolicyError::invalid(
                            key,
                            value,
                            format!("{} entries; at most {MAX_EGRESS_ENTRIES} per function", rules.len()),
                        ));
                    }
                    let table = EgressTable::build(&rules).map_err(|r| PolicyError::invalid(key, value, r))?;
                    if key == KEY_EGRESS {
                        policy.egress = Some(rules);
                        policy.egress_table = Some(table);
                    } else {
                        policy.ingress = Some(rules);
                        policy.ingress_table = Some(table);
                    }
                }
                KEY_FILES_DENY | KEY_FILES_READ | KEY_FILES_WRITE | KEY_EXEC => {
                    let list = parse_path_list(value).map_err(|r| PolicyError::invalid(key, value, r))?;
                    match key.as_str() {
                        KEY_FILES_DENY => policy.paths.deny = list,
                        KEY_FILES_READ => policy.paths.read = Some(list),
                        KEY_FILES_WRITE => policy.paths.write = Some(list),
                        _ => policy.paths.exec = Some(list),
                    }
                    let total = policy.paths.deny.len()
                        + [&policy.paths.read, &policy.paths.write, &policy.paths.exec]
                            .iter()
                            .map(|l| l.as_ref().map_or(0, Vec::len))
                            .sum::<usize>();
                    if total > MAX_PATH_PREFIXES {
                        return Err(PolicyError::invalid(
                            key,
                            value,
                            format!("{total} path prefixes in all; at most {MAX_PATH_PREFIXES} per function"),
                        ));
                    }
                }
                KEY_BIND => policy.bind = Some(parse_bind(value).map_err(|r| PolicyError::invalid(key, value, r))?),
                KEY_DNS => policy.dns = Some(parse_dns(value).map_err(|r| PolicyError::invalid(key, value, r))?),
                KEY_SCAN => policy.scan = parse_scan(value).map_err(|r| PolicyError::invalid(key, value, r))?,
                KEY_SOCKETS => {
                    policy.sockets = Some(parse_sockets(value).map_err(|r| PolicyError::invalid(key, value, r))?)
                }
                KEY_RULES_DISABLE | KEY_RULES_KILL => {} // below, together
                _ => match limit_for_key(key) {
                    Some(spec) => {
                        policy.limits.set[spec.id] =
                            Some(parse_limit(spec, value).map_err(|r| PolicyError::invalid(key, value, r))?)
                    }
                    None => {
                        let limits: Vec<String> =
                            LIMITS.iter().map(|l| format!("{LIMIT_KEY_PREFIX}{}", l.name)).collect();
                        return Err(PolicyError::UnknownKey {
                            key: key.clone(),
                            value: crate::error::shorten(value),
                            known: format!("{}, {}", KNOWN_KEYS.join(", "), limits.join(", ")),
                        });
                    }
                },
            }
        }
        let (disable, kill) = (ours.get(KEY_RULES_DISABLE), ours.get(KEY_RULES_KILL));
        policy.rules =
            RuleSet::from_lists(disable.map(String::as_str), kill.map(String::as_str)).map_err(|(list, reason)| {
                match list {
                    "disable" => PolicyError::invalid(KEY_RULES_DISABLE, disable.unwrap(), reason),
                    _ => PolicyError::invalid(KEY_RULES_KILL, kill.unwrap(), reason),
                }
            })?;
        Ok(Some(policy))
    }

    /// The function's path trie entries: its file and exec lists, and the
    /// detection paths of the rules it runs.
    pub fn path_entries(&self) -> Vec<crate::paths::PathEntry> {
        let detections: Vec<crate::paths::DetectionPath<'_>> = crate::rules::DETECTION_PATHS
            .iter()
            .filter_map(|(path, access, name)| {
                let rule = crate::rules::by_name(name).expect("detection paths name known rules");
                self.rules.is_on(rule).then_some((*path, *access, rule.id))
            })
            .collect();
        self.paths.entries_with(&detections)
    }

    /// Short stable fingerprint of the annotations, for records and events.
    pub fn digest(&self) -> String {
        let mut hasher = Sha256::new();
        for (k, v) in &self.annotations {
            hasher.update(k.as_bytes());
            hasher.update([0]);
            hasher.update(v.as_bytes());
            hasher.update([0]);
        }
        hasher.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect()
    }

    /// One line for `fnguard status`.
    pub fn summary(&self) -> String {
        let egress = match &self.egress {
            None => "egress unrestricted".to_string(),
            Some(rules) if rules.is_empty() => "egress none".to_string(),
            Some(rules) if rules.len() <= 3 => {
                let shown: Vec<String> = rules.iter().map(|r| r.to_string()).collect();
                format!("egress {}", shown.join(","))
            }
            Some(rules) => format!("egress {} rules ({}, ...)", rules.len(), rules[0]),
        };
        let mut summary = format!("{}; {egress}", self.mode);
        let lists = [
            ("files.deny", Some(&self.paths.deny).filter(|l| !l.is_empty())),
            ("files.read", self.paths.read.as_ref()),
            ("files.write", self.paths.write.as_ref()),
            ("exec", self.paths.exec.as_ref()),
        ];
        for (name, list) in lists {
            if let Some(list) = list {
                summary.push_str(&format!("; {name} {}", list.join(",")));
            }
        }
        for key in [
            KEY_BIND,
            KEY_DNS,
            KEY_SCAN,
            KEY_SOCKETS,
            KEY_RULES_DISABLE,
            KEY_RULES_KILL,
        ] {
            if let Some(value) = self.annotations.get(key) {
                summary.push_str(&format!("; {} {value}", &key[ANNOTATION_PREFIX.len()..]));
            }
        }
        summary
    }
}

fn parse_mode(value: &str) -> Result<Mode, String> {
    match value.trim() {
        "enforce" => Ok(Mode::Enforce),
        "audit" => Ok(Mode::Audit),
        other => Err(format!("unknown mode {other:?}; use enforce or audit")),
    }
}

fn parse_function(value: &str) -> Result<String, String> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || "._-:/".contains(c);
    if value.is_empty() || value.len() > MAX_FUNCTION_NAME {
        return Err(format!("function name must be 1 to {MAX_FUNCTION_NAME} characters"));
    }
    if let Some(bad) = value.chars().find(|&c| !ok_char(c)) {
        return Err(format!(
            "character {bad:?} not allowed; use letters, digits and . _ - : /"
        ));
    }
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn policy(pairs: &[(&str, &str)]) -> Result<Option<Policy>, PolicyError> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Policy::from_annotations(&map)
    }

    #[test]
    fn no_fnguard_annotation_means_unmanaged() {
        assert_eq!(policy(&[("io.kubernetes.pod.name", "x")]).unwrap(), None);
        assert_eq!(policy(&[]).unwrap(), None);
    }

    #[test]
    fn defaults_and_values() {
        let p = policy(&[(KEY_EGRESS, "127.0.0.2/32:8080/tcp"), ("other", "x")])
            .unwrap()
            .unwrap();
        assert_eq!(p.mode, Mode::Enforce);
        assert_eq!(p.egress.as_ref().unwrap().len(), 1);
        assert_eq!(p.annotations.len(), 1);
        assert_eq!(p.summary(), "enforce; egress 127.0.0.2/32:8080/tcp");
        let p = policy(&[(KEY_MODE, "audit"), (KEY_FUNCTION, "shop/checkout")])
            .unwrap()
            .unwrap();
        assert_eq!(p.mode, Mode::Audit);
        assert_eq!(p.function.as_deref(), Some("shop/checkout"));
        assert_eq!(p.egress, None);
        assert_eq!(p.summary(), "audit; egress unrestricted");
    }

    #[test]
    fn errors_name_key_value_and_reason() {
        let cases: &[(&str, &str, &str)] = &[
            (KEY_EGRESS, "10.0.0.0/33", "prefix length 33 exceeds 32"),
            (KEY_EGRESS, "10.0.0.0/8:70000/tcp", "port 70000 is out of range"),
            (KEY_EGRESS, "10.0.0.0/8:80/icmp", "unknown protocol \"icmp\""),
            (KEY_MODE, "block", "unknown mode \"block\""),
            (KEY_FUNCTION, "has space", "not allowed"),
            (KEY_FUNCTION, "", "1 to 128"),
            (KEY_FILES_DENY, "etc/shadow", "not an absolute path"),
            (KEY_EXEC, "/bin/../sh", "`..`"),
        ];
        for (key, value, reason) in cases {
            let err = policy(&[(key, value)]).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("invalid annotation {key}={value:?}: ")),
                "{err}"
            );
            assert!(err.contains(reason), "{err} lacks {reason}");
            assert!(!err.contains('\n'));
        }
    }

    #[test]
    fn limits_parse_and_fail_with_the_key() {
        let p = policy(&[
            ("fnguard.io/limits.memory", "64Mi"),
            ("fnguard.io/limits.egress-rate", "1MB/s alert"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            p.limits.get("memory"),
            Some((64 << 20, crate::limits::LimitAction::Kill))
        );
        assert_eq!(
            p.limits.get("egress-rate"),
            Some((1_000_000, crate::limits::LimitAction::Alert))
        );
        assert_eq!(p.limits.get("procs"), None);
        let err = policy(&[("fnguard.io/limits.procs", "many")]).unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid annotation fnguard.io/limits.procs=\"many\": \"many\" is not a whole number"
        );
    }

    #[test]
    fn unknown_fnguard_key_is_an_error() {
        let err = policy(&[("fnguard.io/egres", "none")]).unwrap_err().to_string();
        assert_eq!(
            err,
            "unknown annotation fnguard.io/egres=\"none\": fnguard knows fnguard.io/bind, fnguard.io/dns, fnguard.io/egress, fnguard.io/exec, \
             fnguard.io/files.deny, fnguard.io/files.read, fnguard.io/files.write, fnguard.io/function, fnguard.io/ingress, fnguard.io/mode, \
             fnguard.io/rules.disable, fnguard.io/rules.kill, fnguard.io/scan, fnguard.io/sockets, fnguard.io/limits.procs, \
             fnguard.io/limits.forks-per-sec, fnguard.io/limits.cpu-ms, fnguard.io/limits.memory, fnguard.io/limits.connections, \
             fnguard.io/limits.connections-per-sec, fnguard.io/limits.egress-bytes, fnguard.io/limits.ingress-bytes, fnguard.io/limits.egress-rate"
        );
    }

    #[test]
    fn rule_lists_are_checked_and_named_in_errors() {
        let p = policy(&[
            ("fnguard.io/rules.kill", "shell"),
            ("fnguard.io/rules.disable", "ptrace"),
        ])
        .unwrap()
        .unwrap();
        assert!(p.rules.kills(crate::rules::by_name("shell").unwrap()));
        assert!(
            p.summary().ends_with("; rules.disable ptrace; rules.kill shell"),
            "{}",
            p.summary()
        );
        let err = policy(&[("fnguard.io/rules.kill", "shel")]).unwrap_err().to_string();
        assert!(
            err.starts_with("invalid annotation fnguard.io/rules.kill=\"shel\": unknown rule"),
            "{err}"
        );
    }

    #[test]
    fn path_lists_and_summary() {
        let p = policy(&[(KEY_FILES_DENY, "/etc/shadow"), (KEY_EXEC, "/app/, /bin/busybox")])
            .unwrap()
            .unwrap();
        assert_eq!(
            p.paths.exec.as_deref(),
            Some(&["/app".to_string(), "/bin/busybox".to_string()][..])
        );
        assert_eq!(p.paths.read, None);
        assert_eq!(
            p.summary(),
            "enforce; egress unrestricted; files.deny /etc/shadow; exec /app,/bin/busybox"
        );
    }

    #[test]
    fn digest_changes_with_policy() {
        let a = policy(&[(KEY_EGRESS, "none")]).unwrap().unwrap();
        let b = policy(&[(KEY_EGRESS, "10.0.0.0/8")]).unwrap().unwrap();
        assert_ne!(a.digest(), b.digest());
        assert_eq!(a.digest(), policy(&[(KEY_EGRESS, "none")]).unwrap().unwrap().digest());
        assert_eq!(a.digest().len(), 16);
    }

    #[test]
    fn too_many_entries() {
        let list: Vec<String> = (0..16_385)
            .map(|i| format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256))
            .collect();
        let err = policy(&[(KEY_EGRESS, &list.join(","))]).unwrap_err().to_string();
        assert!(
            err.contains("16385 entries; at most 16384"),
            "{}",
            &err[err.len() - 80..]
        );
    }
}
