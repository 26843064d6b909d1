//! runc's command line as containerd (go-runc) and conmon write it: global
//! flags, a subcommand, its flags, the container id. Only what the wrapper
//! needs is taken out; the argv itself is passed on unchanged.

use std::path::PathBuf;

/// runc global flags that take a value.
const GLOBAL_VALUE_FLAGS: &[&str] = &["root", "log", "log-format", "criu", "rootless"];
/// Flags of create/run/restore that take a value.
const CREATE_VALUE_FLAGS: &[&str] = &[
    "bundle",
    "b",
    "console-socket",
    "pid-file",
    "preserve-fds",
    "pidfd-socket",
    "image-path",
    "work-path",
    "parent-path",
    "page-server",
    "manage-cgroups-mode",
    "empty-ns",
    "lsm-profile",
    "lsm-mount-context",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuncCall {
    pub subcommand: Option<String>,
    /// For create, run and restore: the bundle directory (`None`: the working directory).
    pub bundle: Option<PathBuf>,
}

impl RuncCall {
    /// True for the subcommands that start a container from a bundle.
    pub fn creates(&self) -> bool {
        matches!(self.subcommand.as_deref(), Some("create" | "run" | "restore"))
    }
}

/// `--name`, `-name`, `--name=value` or `-name=value` split into the name and
/// an inline value; `None` for a non-flag.
fn flag(arg: &str) -> Option<(&str, Option<&str>)> {
    let body = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-'))?;
    if body.is_empty() {
        return None;
    }
    Some(match body.split_once('=') {
        Some((name, value)) => (name, Some(value)),
        None => (body, None),
    })
}

/// Reads the subcommand and, for create/run/restore, the bundle. `args`
/// excludes argv[0].
pub fn parse(args: &[String]) -> RuncCall {
    let mut i = 0;
    let mut subcommand = None;
    while i < args.len() {
        let arg = &args[i];
        match flag(arg) {
            Some((name, None)) if GLOBAL_VALUE_FLAGS.contains(&name) => i += 2,
            Some(_) => i += 1,
            None if arg == "--" => {
                i += 1;
                break;
            }
            None => {
                subcommand = Some(arg.clone());
                i += 1;
                break;
            }
        }
    }
    let mut call = RuncCall {
        subcommand,
        bundle: None,
    };
    if !call.creates() {
        return call;
    }
    while i < args.len() {
        match flag(&args[i]) {
            Some(("bundle" | "b", Some(value))) => {
                call.bundle = Some(PathBuf::from(value));
                i += 1;
            }
            Some(("bundle" | "b", None)) => {
                call.bundle = args.get(i + 1).map(PathBuf::from);
                i += 2;
            }
            Some((name, None)) if CREATE_VALUE_FLAGS.contains(&name) => i += 2,
            _ => i += 1,
        }
    }
    call
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(line: &str) -> RuncCall {
        let args: Vec<String> = line.split_whitespace().map(String::from).collect();
        parse(&args)
    }

    #[test]
    fn containerd_create() {
        // go-runc as containerd's shim calls it.
        let c = call(
            "--root /run/containerd/runc/default --log /run/containerd/io.containerd.runtime.v2.task/default/fn/log.json \
             --log-format json --systemd-cgroup create --bundle /run/containerd/io.containerd.runtime.v2.task/default/fn \
             --pid-file /run/containerd/io.containerd.runtime.v2.task/default/fn/init.pid --console-socket /tmp/s.sock \
             --no-pivot --no-new-keyring fn",
        );
        assert_eq!(c.subcommand.as_deref(), Some("create"));
        assert!(c.creates());
        assert_eq!(
            c.bundle,
            Some(PathBuf::from(
                "/run/containerd/io.containerd.runtime.v2.task/default/fn"
            ))
        );
    }

    #[test]
    fn conmon_create_and_flag_forms() {
        let c = call("--systemd-cgroup --root=/run/runc create --bundle=/b --pid-file /p ctr");
        assert_eq!(
            (c.subcommand.as_deref(), c.bundle.clone()),
            (Some("create"), Some(PathBuf::from("/b")))
        );
        let c = call("-root /r -log-format=json run -b /bundle -d id");
        assert_eq!(
            (c.subcommand.as_deref(), c.bundle.clone()),
            (Some("run"), Some(PathBuf::from("/bundle")))
        );
        let c = call("--debug --rootless true run -pid-file /p id");
        assert_eq!((c.subcommand.as_deref(), c.bundle), (Some("run"), None));
    }

    #[test]
    fn a_value_that_looks_like_a_subcommand_is_not_one() {
        let c = call("--log create --log-format json start fn");
        assert_eq!(c.subcommand.as_deref(), Some("start"));
        assert!(!c.creates());
        let c = call("--root run create --pid-file run --bundle /b fn");
        assert_eq!(
            (c.subcommand.as_deref(), c.bundle),
            (Some("create"), Some(PathBuf::from("/b")))
        );
    }

    #[test]
    fn other_subcommands_pass_through() {
        for line in [
            "--root /r delete --force fn",
            "state fn",
            "kill fn 9",
            "--version",
            "exec -t fn sh",
            "",
        ] {
            assert!(!call(line).creates(), "{line}");
        }
        assert_eq!(
            call("--root /r delete --force fn").subcommand.as_deref(),
            Some("delete")
        );
    }
}
