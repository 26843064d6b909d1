use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use fnguard::commands::{doctor, events, gc, hook, install, rules, status, top};
use fnguard::settings::{Settings, DEFAULT_RUN_DIR};
use fnguard_bpf::paths::DEFAULT_PIN_ROOT;

/// eBPF security for serverless functions: per-function policy from OCI
/// annotations, enforced in the kernel.
#[derive(Parser)]
#[command(name = "fnguard", version)]
struct Cli {
    /// bpffs directory holding fnguard's pinned programs, maps and links.
    #[arg(long, global = true, env = "FNGUARD_PIN_ROOT", default_value = DEFAULT_PIN_ROOT)]
    pin_root: PathBuf,
    /// Directory for container records, the node lock and the hook log.
    #[arg(long, global = true, env = "FNGUARD_RUN_DIR", default_value = DEFAULT_RUN_DIR)]
    run_dir: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// OCI hook: reads the container state on stdin (createRuntime, prestart,
    /// poststop; without a stage, the state's status decides).
    Hook {
        #[arg(value_enum)]
        stage: Option<hook::Stage>,
    },
    /// List managed containers with their policy and counters.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Live resource use per managed function: CPU, memory, tasks,
    /// connections, bytes, denials.
    Top {
        /// One JSON snapshot, then exit.
        #[arg(long)]
        json: bool,
        /// Seconds between refreshes.
        #[arg(long, default_value_t = 1.0)]
        interval: f64,
        /// Refreshes before exiting; default: until interrupted.
        #[arg(long)]
        iterations: Option<u64>,
    },
    /// Remove pins, map entries and records of containers whose cgroup is gone.
    Gc,
    /// Check what this node offers and which enforcement fnguard uses.
    Doctor,
    /// List the built-in detection rules.
    Rules {
        #[arg(long)]
        json: bool,
    },
    /// Write a runtime's configuration for fnguard on this node.
    #[command(subcommand)]
    Install(InstallTarget),
    /// Print events from the kernel as they arrive.
    Events {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
        /// Print the events already queued, then exit.
        #[arg(long)]
        once: bool,
        /// Only events of this container id.
        #[arg(long)]
        container: Option<String>,
        /// Only events of this function (fnguard.io/function).
        #[arg(long)]
        function: Option<String>,
        /// Append events to this file instead of printing them.
        #[arg(long)]
        output: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum InstallTarget {
    /// Write fnguard.json into a hooks.d directory (podman, CRI-O).
    HooksDir {
        #[arg(default_value = "/usr/share/containers/oci/hooks.d")]
        dir: PathBuf,
        /// fnguard binary the hook runs, as the host sees it; default: this one.
        #[arg(long)]
        binary: Option<PathBuf>,
    },
    /// Add the `fnguard` runtime handler (fnguard-runc) to containerd's config.
    Containerd {
        #[arg(long, default_value = "/etc/containerd/config.toml")]
        config: PathBuf,
        /// fnguard-runc to configure; default: the one beside this binary.
        #[arg(long)]
        wrapper: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    env_logger::Builder::from_env(env_logger::Env::new().filter_or("FNGUARD_LOG", "warn"))
        .format_target(false)
        .init();
    let settings = Settings {
        pin_root: cli.pin_root,
        run_dir: cli.run_dir,
    };
    let result = match cli.command {
        Command::Hook { stage } => {
            let (stage, result) = hook::run(&settings, stage, std::io::stdin().lock());
            if let Err(error) = &result {
                append_hook_log(&settings, stage, error);
                if stage == Some(hook::Stage::Poststop) {
                    // A failing poststop makes `runc delete` fail; gc cleans up later.
                    eprintln!("fnguard: poststop: {error:#} (ignored; `fnguard gc` removes leftovers)");
                    return ExitCode::SUCCESS;
                }
            }
            result
        }
        Command::Status { json } => status::run(&settings, json),
        Command::Top {
            json,
            interval,
            iterations,
        } => top::run(
            &settings,
            json,
            std::time::Duration::from_secs_f64(interval.max(0.1)),
            iterations,
        ),
        Command::Gc => gc::run(&settings),
        Command::Doctor => doctor::run(&settings),
        Command::Rules { json } => rules::run(json),
        Command::Install(InstallTarget::HooksDir { dir, binary }) => binary
            .map_or_else(std::env::current_exe, Ok)
            .map_err(anyhow::Error::from)
            .and_then(|bin| install::hooks_dir(&dir, &bin)),
        Command::Install(InstallTarget::Containerd { config, wrapper }) => {
            install::containerd(&config, &wrapper.unwrap_or_else(install::wrapper_beside_me))
        }
        Command::Events {
            json,
            once,
            container,
            function,
            output,
        } => events::run(
            &settings,
            &events::EventsArgs {
                json,
                once,
                container,
                function,
                output,
            },
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("fnguard: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Hook output is only shown by the runtime on failure; the log keeps it.
fn append_hook_log(settings: &Settings, stage: Option<hook::Stage>, error: &anyhow::Error) {
    let path = settings.run_dir.join("hook.log");
    let line = format!(
        "{} {}: {error:#}\n",
        humantime::format_rfc3339_seconds(std::time::SystemTime::now()),
        stage.map_or("hook".to_string(), |s| format!("{s:?}"))
    );
    if let Ok(mut file) = OpenOptions::new().create(true).append(true).open(&path) {
        let _ = file.write_all(line.as_bytes());
    }
}
