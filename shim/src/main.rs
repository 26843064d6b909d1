//! `fnguard-runc [runc arguments]`: adds fnguard's hooks to annotated
//! bundles on create/run/restore, then execs the real runc with the same
//! arguments. Everything else passes straight through.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

use anyhow::Context;
use fnguard_shim::{argv, bundle_hooks, real_runc};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(never) => match never {},
        Err(error) => {
            // A managed bundle that cannot get its hooks must not start unprotected.
            eprintln!("fnguard-runc: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> anyhow::Result<std::convert::Infallible> {
    let call = argv::parse(args);
    if call.creates() {
        let bundle = match call.bundle {
            Some(bundle) => bundle,
            None => std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
        };
        bundle_hooks::add_to_bundle(&bundle, &real_runc::fnguard_binary())
            .with_context(|| format!("adding fnguard hooks to bundle {}", bundle.display()))?;
    }
    let runc = real_runc::find()?;
    let error = Command::new(&runc).arg0(&runc).args(args).exec();
    Err(error).with_context(|| format!("executing {}", runc.display()))
}
