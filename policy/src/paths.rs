//! File and exec policy: `fnguard.io/files.deny`, `files.read`,
//! `files.write` and `exec`, each a comma-separated list of absolute path
//! prefixes inside the container, and the table the kernel looks them up in.
//!
//! A prefix `/etc` covers `/etc` itself and everything below it, never
//! `/etcfoo`. For each access (read, write, exec) the most specific prefix
//! that says something about that access decides; at the same prefix a deny
//! beats an allow.

use std::collections::{BTreeMap, BTreeSet};

/// Longest prefix, so that `prefix/` fits the kernel's 248 bytes of path key.
pub const MAX_PATH_PREFIX: usize = 246;
/// Path prefixes one function may list over all four keys.
pub const MAX_PATH_PREFIXES: usize = 1024;

/// Which list a verdict came from; the kernel reports it in events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathList {
    Deny,
    Read,
    Write,
    Exec,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Verdict {
    #[default]
    Unset,
    Allow(PathList),
    Deny(PathList),
}

/// Verdicts for one key of the kernel's path trie.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PathVerdicts {
    pub read: Verdict,
    pub write: Verdict,
    pub exec: Verdict,
}

/// One key of the kernel's path trie: the bytes matched and their verdicts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathEntry {
    /// `/etc\0` matches the path itself; `/etc/` everything below it.
    pub key: Vec<u8>,
    pub verdicts: PathVerdicts,
    /// Detection rule ids that reading / writing under this key fires.
    pub detect_read: Option<u8>,
    pub detect_write: Option<u8>,
}

/// A detection path for [`PathLists::entries_with`]: prefix, access, rule id.
pub type DetectionPath<'a> = (&'a str, crate::rules::PathAccess, u8);

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PathLists {
    pub deny: Vec<String>,
    pub read: Option<Vec<String>>,
    pub write: Option<Vec<String>>,
    pub exec: Option<Vec<String>>,
}

impl PathLists {
    pub fn is_empty(&self) -> bool {
        self.deny.is_empty() && self.read.is_none() && self.write.is_none() && self.exec.is_none()
    }

    /// Each listed prefix with what it says about each access.
    fn opinions(&self) -> BTreeMap<&str, PathVerdicts> {
        let mut opinions: BTreeMap<&str, PathVerdicts> = BTreeMap::new();
        let lists: [(PathList, Option<&Vec<String>>); 4] = [
            (PathList::Read, self.read.as_ref()),
            (PathList::Write, self.write.as_ref()),
            (PathList::Exec, self.exec.as_ref()),
            (PathList::Deny, Some(&self.deny)),
        ];
        for (list, prefixes) in lists {
            for prefix in prefixes.into_iter().flatten() {
                let v = opinions.entry(prefix.as_str()).or_default();
                match list {
                    PathList::Read => v.read = merge(v.read, Verdict::Allow(list)),
                    PathList::Write => v.write = merge(v.write, Verdict::Allow(list)),
                    PathList::Exec => v.exec = merge(v.exec, Verdict::Allow(list)),
                    PathList::Deny => {
                        v.read = Verdict::Deny(list);
                        v.write = Verdict::Deny(list);
                        v.exec = Verdict::Deny(list);
                    }
                }
            }
        }
        opinions
    }

    /// What the rules say about one path, most specific prefix first.
    pub fn verdicts_for(&self, path: &str) -> PathVerdicts {
        resolve(&self.opinions(), path)
    }

    /// The trie entries, with each access's verdict taken from the most
    /// specific prefix that has one.
    pub fn entries(&self) -> Vec<PathEntry> {
        self.entries_with(&[])
    }

    /// The trie entries for these lists and detection paths together: each
    /// key carries the verdicts of the most specific listed prefix and the
    /// rule of the most specific detection path, per access.
    pub fn entries_with(&self, detections: &[DetectionPath<'_>]) -> Vec<PathEntry> {
        use crate::rules::PathAccess;
        let opinions = self.opinions();
        let prefixes: BTreeSet<&str> = opinions.keys().copied().chain(detections.iter().map(|d| d.0)).collect();
        let detected = |prefix: &str, access: PathAccess| {
            ancestors(prefix).find_map(|a| detections.iter().find(|d| d.0 == a && d.1 == access).map(|d| d.2))
        };
        let mut entries = Vec::new();
        for prefix in prefixes {
            let (verdicts, detect_read, detect_write) = (
                resolve(&opinions, prefix),
                detected(prefix, PathAccess::Read),
                detected(prefix, PathAccess::Write),
            );
            let keys: Vec<Vec<u8>> = if prefix == "/" {
                vec![b"/".to_vec()]
            } else {
                vec![[prefix.as_bytes(), b"\0"].concat(), [prefix.as_bytes(), b"/"].concat()]
            };
            entries.extend(keys.into_iter().map(|key| PathEntry {
                key,
                verdicts,
                detect_read,
                detect_write,
            }));
        }
        entries
    }
}

fn resolve(opinions: &BTreeMap<&str, PathVerdicts>, path: &str) -> PathVerdicts {
    let mut verdicts = PathVerdicts::default();
    for ancestor in ancestors(path) {
        if let Some(v) = opinions.get(ancestor) {
            fill(&mut verdicts.read, v.read);
            fill(&mut verdicts.write, v.write);
            fill(&mut verdicts.exec, v.exec);
        }
    }
    verdicts
}

fn merge(old: Verdict, new: Verdict) -> Verdict {
    match old {
        Verdict::Deny(_) => old,
        _ => new,
    }
}

fn fill(slot: &mut Verdict, from: Verdict) {
    if *slot == Verdict::Unset {
        *slot = from;
    }
}

/// The prefix itself, then each parent directory, then `/`.
fn ancestors(prefix: &str) -> impl Iterator<Item = &str> {
    let mut next = Some(prefix);
    std::iter::from_fn(move || {
        let current = next?;
        next = match current.rfind('/') {
            _ if current == "/" => None,
            Some(0) => Some("/"),
            Some(i) => Some(&current[..i]),
            None => None,
        };
        Some(current)
    })
}

/// Parses one list annotation into normalised prefixes.
pub fn parse_path_list(value: &str) -> Result<Vec<String>, String> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err("empty list; give absolute paths separated by commas".into());
    }
    trimmed
        .split(',')
        .map(|entry| {
            let entry = entry.trim();
            normalise(entry).map_err(|reason| format!("entry {entry:?}: {reason}"))
        })
        .collect()
}

fn normalise(entry: &str) -> Result<String, String> {
    if entry.is_empty() {
        return Err("empty entry between commas".into());
    }
    if !entry.starts_with('/') {
        return Err("not an absolute path (paths are inside the container, from its root)".into());
    }
    if entry.contains('\0') {
        return Err("contains a NUL byte".into());
    }
    let trimmed = if entry.len() > 1 {
        entry.trim_end_matches('/')
    } else {
        entry
    };
    let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
    if trimmed.contains("//") {
        return Err("contains an empty component (`//`)".into());
    }
    if trimmed.split('/').any(|c| c == "." || c == "..") {
        return Err("contains `.` or `..`; write the path the kernel resolves to".into());
    }
    if trimmed.len() > MAX_PATH_PREFIX {
        return Err(format!("longer than {MAX_PATH_PREFIX} bytes"));
    }
    Ok(trimmed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lists(deny: &str, read: Option<&str>, write: Option<&str>, exec: Option<&str>) -> PathLists {
        let parse = |v: &str| parse_path_list(v).unwrap();
        PathLists {
            deny: if deny.is_empty() { vec![] } else { parse(deny) },
            read: read.map(parse),
            write: write.map(parse),
            exec: exec.map(parse),
        }
    }

    fn entry<'a>(entries: &'a [PathEntry], key: &str) -> &'a PathVerdicts {
        &entries
            .iter()
            .find(|e| e.key == key.as_bytes())
            .unwrap_or_else(|| panic!("no key {key:?}"))
            .verdicts
    }

    #[test]
    fn detection_paths_merge_with_listed_prefixes() {
        use crate::rules::PathAccess::{Read, Write};
        let detections = [("/etc/shadow", Read, 20), ("/proc/sys", Write, 21)];
        let e = lists("", Some("/etc"), None, None).entries_with(&detections);
        let get = |key: &str| {
            e.iter()
                .find(|e| e.key == key.as_bytes())
                .unwrap_or_else(|| panic!("{key}"))
        };
        // /etc/shadow keeps the files.read allow of /etc and adds the rule.
        let shadow = get("/etc/shadow\0");
        assert_eq!(shadow.verdicts.read, Verdict::Allow(PathList::Read));
        assert_eq!((shadow.detect_read, shadow.detect_write), (Some(20), None));
        assert_eq!(get("/etc/").detect_read, None);
        assert_eq!(
            (get("/proc/sys/").detect_write, get("/proc/sys/").verdicts.read),
            (Some(21), Verdict::Unset)
        );
        // A listed prefix below a detection path inherits the rule.
        let e = lists("/etc/shadow/x", None, None, None).entries_with(&detections);
        let below = e.iter().find(|e| e.key == b"/etc/shadow/x/").unwrap();
        assert_eq!(below.detect_read, Some(20));
        assert_eq!(lists("", None, None, None).entries_with(&[]), vec![]);
    }

    #[test]
    fn normalises_and_rejects() {
        assert_eq!(
            parse_path_list("/etc/, /usr/bin ,/").unwrap(),
            ["/etc", "/usr/bin", "/"]
        );
        for (bad, why) in [
            ("etc", "not an absolute path"),
            ("/a//b", "empty component"),
            ("/a/../etc", "`..`"),
            ("/a/./b", "`.`"),
            ("", "empty list"),
            ("/a,,/b", "empty entry"),
        ] {
            let err = parse_path_list(bad).unwrap_err();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
        assert!(parse_path_list(&format!("/{}", "a".repeat(300)))
            .unwrap_err()
            .contains("longer than 246"));
    }

    #[test]
    fn directory_prefix_has_exact_and_subtree_keys() {
        let e = lists("/etc/shadow", None, None, None).entries();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].key, b"/etc/shadow\0");
        assert_eq!(e[1].key, b"/etc/shadow/");
        assert_eq!(e[0].verdicts.read, Verdict::Deny(PathList::Deny));
    }

    #[test]
    fn most_specific_prefix_wins_per_access() {
        let e = lists("/etc", Some("/etc/hosts, /app"), Some("/tmp"), Some("/app/bin")).entries();
        // /etc/hosts is readable although /etc is denied; writing it is not.
        let hosts = entry(&e, "/etc/hosts\0");
        assert_eq!(hosts.read, Verdict::Allow(PathList::Read));
        assert_eq!(hosts.write, Verdict::Deny(PathList::Deny));
        assert_eq!(hosts.exec, Verdict::Deny(PathList::Deny));
        // /app/bin inherits read from /app and adds exec.
        let bin = entry(&e, "/app/bin/");
        assert_eq!(bin.read, Verdict::Allow(PathList::Read));
        assert_eq!(bin.exec, Verdict::Allow(PathList::Exec));
        assert_eq!(bin.write, Verdict::Unset);
        assert_eq!(entry(&e, "/tmp/").write, Verdict::Allow(PathList::Write));
    }

    #[test]
    fn verdicts_for_a_concrete_path() {
        let l = lists("/etc", Some("/etc/hosts"), None, None);
        assert_eq!(l.verdicts_for("/etc/passwd").read, Verdict::Deny(PathList::Deny));
        assert_eq!(l.verdicts_for("/etc/hosts").read, Verdict::Allow(PathList::Read));
        assert_eq!(l.verdicts_for("/etcetera").read, Verdict::Unset);
    }

    #[test]
    fn deny_beats_allow_at_the_same_prefix() {
        let e = lists("/data", Some("/data"), None, None).entries();
        assert_eq!(entry(&e, "/data/").read, Verdict::Deny(PathList::Deny));
    }

    #[test]
    fn root_rule_is_one_key() {
        let e = lists("", Some("/"), None, None).entries();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].key, b"/");
    }

    #[test]
    fn ancestors_walk_to_root() {
        assert_eq!(ancestors("/a/b/c").collect::<Vec<_>>(), ["/a/b/c", "/a/b", "/a", "/"]);
        assert_eq!(ancestors("/").collect::<Vec<_>>(), ["/"]);
    }
}
