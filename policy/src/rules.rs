//! Built-in detection rules: what each watches for, and the per-function
//! tuning `fnguard.io/rules.disable` and `fnguard.io/rules.kill`.
//!
//! A rule's `id` is its bit in the masks the kernel reads and the number
//! its events carry; ids are never reused.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    pub id: u8,
    pub name: &'static str,
    pub severity: Severity,
    /// MITRE ATT&CK technique.
    pub technique: &'static str,
    /// Runs unless `rules.disable` names it. An off-by-default rule runs
    /// when `rules.kill` names it.
    pub default_on: bool,
    pub summary: &'static str,
}

const fn rule(
    id: u8,
    name: &'static str,
    severity: Severity,
    technique: &'static str,
    default_on: bool,
    summary: &'static str,
) -> Rule {
    Rule {
        id,
        name,
        severity,
        technique,
        default_on,
        summary,
    }
}

use Severity::*;

/// Every rule, in id order.
pub const RULES: &[Rule] = &[
    rule(
        0,
        "shell",
        High,
        "T1059.004",
        true,
        "a shell (sh, bash, dash, ash, zsh, ksh, busybox sh ...) started after the function's entrypoint",
    ),
    rule(
        1,
        "exec-from-writable-dir",
        High,
        "T1105",
        true,
        "a program run from /tmp, /var/tmp, /dev/shm, /run or /dev",
    ),
    rule(
        2,
        "drop-and-execute",
        Critical,
        "T1105",
        true,
        "a program written or made executable after the container started, then run",
    ),
    rule(
        3,
        "fileless-exec",
        Critical,
        "T1620",
        true,
        "a program run from a file with no name on disk (memfd_create, or deleted after open)",
    ),
    rule(
        4,
        "reverse-shell",
        Critical,
        "T1059",
        true,
        "a program started with standard input and output on a network socket",
    ),
    rule(
        5,
        "ptrace",
        High,
        "T1055.008",
        true,
        "ptrace, process_vm_readv or process_vm_writev: reading or changing another process",
    ),
    rule(
        6,
        "namespace-change",
        High,
        "T1611",
        true,
        "unshare, setns, clone with new namespaces, mount, umount, pivot_root, chroot or the new mount API",
    ),
    rule(
        7,
        "kernel-module",
        Critical,
        "T1547.006",
        true,
        "init_module, finit_module or delete_module",
    ),
    rule(8, "bpf", High, "T1014", true, "the bpf() system call"),
    rule(
        9,
        "perf-event-open",
        Medium,
        "T1068",
        true,
        "perf_event_open: kernel attack surface rarely needed by a function",
    ),
    rule(
        10,
        "userfaultfd",
        Medium,
        "T1068",
        true,
        "userfaultfd: a common helper of kernel exploits",
    ),
    rule(
        11,
        "io-uring",
        Medium,
        "T1562.001",
        true,
        "io_uring_setup: io_uring submissions bypass system call hooks",
    ),
    rule(
        12,
        "keyring",
        Medium,
        "T1068",
        true,
        "keyctl, add_key or request_key: kernel keyring access",
    ),
    rule(
        13,
        "privilege-change",
        High,
        "T1548",
        true,
        "setuid/setgid family asking for root from a non-root user, or capset",
    ),
    rule(
        14,
        "setuid-exec",
        High,
        "T1548.001",
        true,
        "a setuid or setgid program run",
    ),
    rule(
        15,
        "setuid-chmod",
        High,
        "T1548.001",
        true,
        "chmod, fchmod or fchmodat setting the setuid or setgid bit",
    ),
    rule(
        16,
        "raw-socket",
        Medium,
        "T1040",
        true,
        "a raw (SOCK_RAW) or packet (AF_PACKET) socket created",
    ),
    rule(
        17,
        "cloud-metadata",
        High,
        "T1552.005",
        true,
        "a connection to a cloud metadata service (169.254.169.254, fd00:ec2::254, 169.254.170.2, 100.100.100.200)",
    ),
    rule(
        18,
        "miner-port",
        High,
        "T1496",
        true,
        "a connection to a port crypto-miner pools use (3333, 4444, 5555, 6666, 7777, 14433, 14444, 45560, 45700)",
    ),
    rule(
        19,
        "wx-memory",
        Low,
        "T1055",
        false,
        "memory mapped or protected writable and executable at once (JIT runtimes do this; off by default)",
    ),
    rule(
        20,
        "secret-read",
        High,
        "T1552.001",
        true,
        "a read of /etc/shadow, sudoers, SSH keys, service account tokens, cloud credentials, another process's environ",
    ),
    rule(
        21,
        "escape-file-write",
        Critical,
        "T1611",
        true,
        "a write to /proc/sys, /proc/sysrq-trigger, /sys/kernel, or a cgroup release_agent or notify_on_release",
    ),
    rule(
        22,
        "runtime-socket",
        Critical,
        "T1611",
        true,
        "a connection to a container runtime socket (docker.sock, containerd.sock, crio.sock, podman.sock ...)",
    ),
    rule(
        23,
        "port-scan",
        High,
        "T1046",
        true,
        "connections to more distinct ports or hosts within a window than fnguard.io/scan allows (30 ports, 50 hosts, 10s)",
    ),
    rule(
        24,
        "policy-probe",
        Medium,
        "T1046",
        true,
        "more denied connections within a window than fnguard.io/scan allows (10 in 10s): a function probing its policy",
    ),
    rule(
        25,
        "unlisted-destination",
        Medium,
        "T1071",
        true,
        "a connection to an address the function's egress or DNS policy does not allow (first one per scan window)",
    ),
];

/// Which opens of a detection path fire its rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathAccess {
    Read,
    Write,
}

/// Path prefixes (a file, or a directory and everything below it) whose
/// opens fire a rule: merged into each function's path trie, so judging
/// them costs no lookup of its own. Names the kernel side matches anywhere
/// (release_agent, id_rsa, /proc/<pid>/environ ...) are in detect.bpf.h.
pub const DETECTION_PATHS: &[(&str, PathAccess, &str)] = &[
    ("/etc/shadow", PathAccess::Read, "secret-read"),
    ("/etc/gshadow", PathAccess::Read, "secret-read"),
    ("/etc/sudoers", PathAccess::Read, "secret-read"),
    ("/etc/sudoers.d", PathAccess::Read, "secret-read"),
    ("/etc/ssh/ssh_host_rsa_key", PathAccess::Read, "secret-read"),
    ("/etc/ssh/ssh_host_ecdsa_key", PathAccess::Read, "secret-read"),
    ("/etc/ssh/ssh_host_ed25519_key", PathAccess::Read, "secret-read"),
    ("/etc/ssh/ssh_host_dsa_key", PathAccess::Read, "secret-read"),
    ("/etc/kubernetes", PathAccess::Read, "secret-read"),
    ("/root/.ssh", PathAccess::Read, "secret-read"),
    ("/root/.aws", PathAccess::Read, "secret-read"),
    ("/root/.azure", PathAccess::Read, "secret-read"),
    ("/root/.config/gcloud", PathAccess::Read, "secret-read"),
    ("/root/.docker/config.json", PathAccess::Read, "secret-read"),
    ("/root/.kube/config", PathAccess::Read, "secret-read"),
    ("/run/secrets/kubernetes.io", PathAccess::Read, "secret-read"),
    ("/var/run/secrets/kubernetes.io", PathAccess::Read, "secret-read"),
    ("/run/secrets/eks.amazonaws.com", PathAccess::Read, "secret-read"),
    ("/var/run/secrets/eks.amazonaws.com", PathAccess::Read, "secret-read"),
    ("/proc/sys", PathAccess::Write, "escape-file-write"),
    ("/proc/sysrq-trigger", PathAccess::Write, "escape-file-write"),
    ("/sys/kernel", PathAccess::Write, "escape-file-write"),
];

pub fn by_name(name: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.name == name)
}

pub fn by_id(id: u8) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

/// Which rules run for a function, and which kill in enforce mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuleSet {
    /// Bit `id` set: the rule runs.
    pub on: u64,
    /// Bit `id` set: the rule kills the process in enforce mode.
    pub kill: u64,
}

impl Default for RuleSet {
    fn default() -> Self {
        RuleSet {
            on: RULES.iter().filter(|r| r.default_on).fold(0, |m, r| m | 1 << r.id),
            kill: 0,
        }
    }
}

impl RuleSet {
    /// The rule set from the values of `rules.disable` and `rules.kill`.
    /// Errors name the offending list (`disable` or `kill`) first.
    pub fn from_lists(disable: Option<&str>, kill: Option<&str>) -> Result<RuleSet, (&'static str, String)> {
        let mut set = RuleSet::default();
        let disabled = disable.map(parse_rule_names).transpose().map_err(|e| ("disable", e))?;
        let killing = kill.map(parse_rule_names).transpose().map_err(|e| ("kill", e))?;
        for rule in killing.iter().flatten() {
            set.on |= 1 << rule.id;
            set.kill |= 1 << rule.id;
        }
        for rule in disabled.iter().flatten() {
            if set.kills(rule) {
                return Err((
                    "kill",
                    format!("rule {:?} is also in rules.disable; name it in one of them", rule.name),
                ));
            }
            set.on &= !(1 << rule.id);
        }
        Ok(set)
    }

    pub fn is_on(&self, rule: &Rule) -> bool {
        self.on & (1 << rule.id) != 0
    }

    pub fn kills(&self, rule: &Rule) -> bool {
        self.kill & (1 << rule.id) != 0
    }
}

/// A comma-separated list of rule names; `all` stands for every rule.
fn parse_rule_names(value: &str) -> Result<Vec<&'static Rule>, String> {
    let mut rules = Vec::new();
    for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        if name == "all" {
            rules.extend(RULES);
            continue;
        }
        match by_name(name) {
            Some(rule) => rules.push(rule),
            None => {
                let known: Vec<&str> = RULES.iter().map(|r| r.name).collect();
                return Err(format!(
                    "unknown rule {name:?}; `fnguard rules` lists them: {}",
                    known.join(", ")
                ));
            }
        }
    }
    if rules.is_empty() {
        return Err("no rule named; list rule names separated by commas".into());
    }
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_dense_and_fit_the_mask() {
        for (i, rule) in RULES.iter().enumerate() {
            assert_eq!(rule.id as usize, i, "{}", rule.name);
            assert!(rule.id < 64);
            assert_eq!(by_name(rule.name), Some(rule));
        }
    }

    #[test]
    fn defaults_run_every_rule_but_the_noisy_ones_and_kill_none() {
        let set = RuleSet::default();
        assert!(set.is_on(by_name("shell").unwrap()));
        assert!(!set.is_on(by_name("wx-memory").unwrap()));
        assert_eq!(set.kill, 0);
    }

    #[test]
    fn disable_and_kill_apply_by_name() {
        let set = RuleSet::from_lists(Some("ptrace"), Some("shell, wx-memory")).unwrap();
        let rule = |n| by_name(n).unwrap();
        assert!(set.kills(rule("shell")) && set.is_on(rule("wx-memory")) && set.kills(rule("wx-memory")));
        assert!(!set.is_on(rule("ptrace")) && set.is_on(rule("bpf")) && !set.kills(rule("bpf")));
    }

    #[test]
    fn unknown_empty_and_conflicting_lists_are_errors() {
        let (list, err) = RuleSet::from_lists(Some("shel"), None).unwrap_err();
        assert_eq!(list, "disable");
        assert!(err.contains("\"shel\"") && err.contains("shell"), "{err}");
        assert_eq!(RuleSet::from_lists(None, Some(" , ")).unwrap_err().0, "kill");
        let (_, err) = RuleSet::from_lists(Some("shell"), Some("shell")).unwrap_err();
        assert!(err.contains("also in rules.disable"), "{err}");
    }

    #[test]
    fn detection_paths_name_known_rules_and_normal_paths() {
        for (path, _, rule) in DETECTION_PATHS {
            assert!(by_name(rule).is_some(), "{rule}");
            assert_eq!(crate::paths::parse_path_list(path).unwrap(), [path.to_string()]);
        }
    }

    #[test]
    fn all_names_every_rule() {
        assert_eq!(RuleSet::from_lists(Some("all"), None).unwrap().on, 0);
    }
}
