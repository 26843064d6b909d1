//! End-to-end test support: a throwaway fnguard node (its own pin root, run
//! directory and runc root) and OCI bundles built from `test-bundles/`
//! templates with a busybox-static + payload rootfs. Everything a node made
//! is removed when it is dropped.

use std::fs;
use std::net::{TcpListener, UdpSocket};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tempfile::TempDir;

const BUSYBOX: &str = "/bin/busybox";
static BUNDLES: AtomicUsize = AtomicUsize::new(0);

/// Root of this workspace.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// The static payload binary (`make payload` builds it).
pub fn payload_binary() -> PathBuf {
    let path = std::env::var_os("FNGUARD_PAYLOAD")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/x86_64-unknown-linux-gnu/release/fnguard-payload"));
    assert!(
        path.exists(),
        "payload binary {} is missing; build it with `make payload`",
        path.display()
    );
    path
}

/// A fnguard node for one test.
pub struct Node {
    pub fnguard: PathBuf,
    pub pin_root: PathBuf,
    pub run_dir: PathBuf,
    pub shared: PathBuf,
    runc_root: PathBuf,
    work: TempDir,
    started: std::sync::Mutex<Vec<String>>,
    hook_env: Vec<String>,
}

impl Node {
    /// `name` keeps pin roots of parallel tests apart.
    pub fn new(name: &str, fnguard: &Path) -> Node {
        // SAFETY: geteuid has no preconditions.
        assert_eq!(unsafe { libc::geteuid() }, 0, "end-to-end tests run as root (CI does)");
        assert!(
            Path::new(BUSYBOX).exists(),
            "{BUSYBOX} is missing: apt-get install busybox-static"
        );
        assert!(
            fs::read_to_string("/proc/self/mounts")
                .unwrap_or_default()
                .contains(" /sys/fs/bpf bpf "),
            "bpffs is not mounted at /sys/fs/bpf: mount -t bpf bpf /sys/fs/bpf"
        );
        let work = tempfile::Builder::new()
            .prefix(&format!("fnguard-{name}-"))
            .tempdir()
            .expect("temp dir");
        let unique = work.path().file_name().unwrap().to_string_lossy().into_owned();
        let node = Node {
            fnguard: fnguard.to_path_buf(),
            pin_root: PathBuf::from("/sys/fs/bpf/fnguard-test").join(&unique),
            run_dir: work.path().join("run"),
            shared: work.path().join("shared"),
            runc_root: work.path().join("runc"),
            work,
            started: Default::default(),
            hook_env: Vec::new(),
        };
        fs::create_dir_all(&node.shared).unwrap();
        node
    }

    /// Adds `KEY=VALUE` to the environment of every hook the node's bundles run.
    pub fn with_hook_env(mut self, assignment: &str) -> Node {
        self.hook_env.push(assignment.to_string());
        self
    }

    /// A bundle named after `id`, from the `function` template.
    pub fn bundle(&self, id: &str) -> BundleBuilder<'_> {
        BundleBuilder {
            node: self,
            id: id.to_string(),
            annotations: Vec::new(),
            args: Vec::new(),
            files: Vec::new(),
            programs: Vec::new(),
            user: None,
            netns: false,
            caps: Vec::new(),
            hooks: true,
            poststop: true,
            stage_args: true,
        }
    }

    /// `fnguard ARGS` against this node's pin root and run directory.
    fn fnguard_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.fnguard);
        cmd.args(args)
            .env("FNGUARD_PIN_ROOT", &self.pin_root)
            .env("FNGUARD_RUN_DIR", &self.run_dir);
        cmd
    }

    /// Runs `fnguard` against this node's pin root and run directory.
    pub fn fnguard(&self, args: &[&str]) -> Output {
        self.fnguard_command(args).output().expect("running fnguard")
    }

    /// Runs the hook directly with `state` on stdin.
    pub fn hook(&self, stage: &str, state: &Value) -> Output {
        let mut child = self
            .fnguard_command(&["hook", stage])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("running fnguard hook");
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(state.to_string().as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    /// `fnguard status --json`.
    pub fn status(&self) -> Vec<Value> {
        let out = self.fnguard(&["status", "--json"]);
        assert!(
            out.status.success(),
            "status failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("status --json is JSON")
    }

    /// `fnguard events --once --json`.
    pub fn events(&self) -> Vec<Value> {
        let out = self.fnguard(&["events", "--once", "--json"]);
        assert!(
            out.status.success(),
            "events failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).expect("event line is JSON"))
            .collect()
    }

    /// Starts `fnguard events --json --output FILE` in the background, as an
    /// operator following the node would; events then carry their container.
    /// A file, not a pipe, so a test that reads late never stalls the reader.
    pub fn follow_events(&self) -> EventFollower {
        let n = BUNDLES.fetch_add(1, Ordering::SeqCst);
        let output = self.work.path().join(format!("events-{n}.jsonl"));
        let child = self
            .fnguard_command(&["events", "--json", "--output", output.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("running fnguard events");
        EventFollower {
            child: Some(child),
            output,
        }
    }

    /// What fnguard left on this node, seen with bpftool and the file system.
    pub fn leftovers(&self) -> Leftovers {
        let mut left = Leftovers::default();
        for abi in read_dir_paths(&self.pin_root) {
            // links/global holds the node-wide tracepoint links, which stay.
            for link_dir in read_dir_paths(&abi.join("links"))
                .into_iter()
                .filter(|d| !d.ends_with("global"))
            {
                left.link_pins.extend(read_dir_paths(&link_dir));
                left.link_dirs.push(link_dir);
            }
            for map in [
                "fng_policy",
                "fng_egress_v4",
                "fng_egress_v6",
                "fng_paths",
                "fng_stats",
                "fng_net",
                "fng_ingress_v4",
                "fng_ingress_v6",
                "fng_usage",
                "fng_procs",
            ] {
                let path = abi.join("maps").join(map);
                if path.exists() {
                    left.map_entries += bpftool_entries(&path);
                }
            }
        }
        left.records = read_dir_paths(&self.run_dir.join("containers"));
        left
    }

    /// How often the node's pinned program `prog` calls BPF helper `helper`
    /// (`bpftool prog dump xlated`): tells builds of one program apart.
    pub fn helper_calls(&self, prog: &str, helper: &str) -> usize {
        let pins: Vec<PathBuf> = read_dir_paths(&self.pin_root)
            .into_iter()
            .map(|abi| abi.join("progs").join(prog))
            .filter(|p| p.exists())
            .collect();
        assert_eq!(pins.len(), 1, "one pinned {prog} under {}", self.pin_root.display());
        let out = Command::new("bpftool")
            .args(["prog", "dump", "xlated", "pinned"])
            .arg(&pins[0])
            .output()
            .expect("bpftool (apt-get install bpftool)");
        assert!(
            out.status.success(),
            "bpftool: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let call = format!("call {helper}#");
        String::from_utf8_lossy(&out.stdout).matches(&call).count()
    }

    /// Waits up to 30 s for `name` to appear in the shared directory.
    pub fn wait_for_file(&self, name: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.shared.join(name).exists() {
            assert!(Instant::now() < deadline, "the payload never wrote /shared/{name}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until `n` containers are recorded (their createRuntime hooks finished).
    pub fn wait_for_records(&self, n: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while read_dir_paths(&self.run_dir.join("containers")).len() < n {
            assert!(
                Instant::now() < deadline,
                "{n} containers were not recorded in {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn runc(&self) -> Command {
        let mut cmd = Command::new("timeout");
        cmd.args(["--kill-after=5", "120", "runc", "--root"])
            .arg(&self.runc_root);
        cmd
    }

    /// `runc state`: the container's status, host pid and bundle.
    pub fn runc_state(&self, id: &str) -> Value {
        let out = self.runc().args(["state", id]).output().expect("runc state");
        assert!(
            out.status.success(),
            "runc state {id}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("runc state prints JSON")
    }

    /// `runc exec` of the payload with these steps in a running container
    /// (a process joining its cgroup from outside, as `kubectl exec` does).
    pub fn runc_exec(&self, id: &str, steps: &[&str]) -> Output {
        self.runc()
            .args(["exec", id, "/fnguard-payload"])
            .args(steps)
            .output()
            .expect("runc exec")
    }

    /// Runs `runc delete --force` on a container, as a runtime would.
    pub fn runc_delete(&self, id: &str) -> Output {
        self.runc()
            .args(["delete", "--force", id])
            .output()
            .expect("runc delete")
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        for id in self.started.lock().map(|s| s.clone()).unwrap_or_default() {
            let _ = self.runc().args(["delete", "--force", &id]).output();
        }
        let _ = fs::remove_dir_all(&self.pin_root);
        // The shared parent goes once the last test's root is gone.
        if let Some(parent) = self.pin_root.parent() {
            let _ = fs::remove_dir(parent);
        }
    }
}

pub struct EventFollower {
    child: Option<Child>,
    output: PathBuf,
}

impl EventFollower {
    /// Stops the reader (it drains the ring on SIGTERM) and returns the
    /// events it wrote.
    pub fn stop(mut self) -> Vec<Value> {
        // Let it open the ring if the objects were loaded a moment ago.
        std::thread::sleep(Duration::from_millis(300));
        // SAFETY: kill has no memory preconditions; the pid is our child's.
        let child = self.child.take().expect("running");
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let out = child.wait_with_output().expect("fnguard events");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("fnguard:"), "fnguard events failed: {stderr}");
        fs::read_to_string(&self.output)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("event line {l:?}: {e}")))
            .collect()
    }
}

impl Drop for EventFollower {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A containerd of the test's own (root, state, socket), started with the
/// node's settings in its environment so the shim, fnguard-runc and the
/// hooks inherit them; killed on drop.
pub struct Containerd {
    child: Child,
    socket: PathBuf,
}

impl Containerd {
    pub fn start(node: &Node) -> Containerd {
        let dir = node.work.path().join("containerd");
        fs::create_dir_all(&dir).unwrap();
        let socket = dir.join("containerd.sock");
        let config = dir.join("config.toml");
        fs::write(
            &config,
            format!(
                "version = 2\nroot = \"{root}\"\nstate = \"{state}\"\n\
                 disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
                 [grpc]\n  address = \"{sock}\"\n",
                root = dir.join("root").display(),
                state = dir.join("state").display(),
                sock = socket.display()
            ),
        )
        .unwrap();
        let child = Command::new("containerd")
            .arg("--config")
            .arg(&config)
            .env("FNGUARD_PIN_ROOT", &node.pin_root)
            .env("FNGUARD_RUN_DIR", &node.run_dir)
            .env("FNGUARD_HOOK_BINARY", &node.fnguard)
            .stdout(Stdio::null())
            .stderr(fs::File::create(dir.join("containerd.log")).unwrap())
            .spawn()
            .expect("containerd (apt-get install containerd)");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !socket.exists() {
            assert!(
                Instant::now() < deadline,
                "containerd did not open {}",
                socket.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Containerd { child, socket }
    }

    /// `ctr run --rm --runc-binary WRAPPER --net-host --rootfs` of a bundle's
    /// rootfs, with its annotations and process.
    pub fn run(&self, bundle: &Bundle<'_>, wrapper: &Path) -> RunResult {
        let config: Value = serde_json::from_slice(&fs::read(bundle.dir.join("config.json")).unwrap()).unwrap();
        let mut cmd = Command::new("timeout");
        cmd.args(["--kill-after=5", "120", "ctr", "--address"])
            .arg(&self.socket)
            .args(["run", "--rm", "--net-host", "--runc-binary"])
            .arg(wrapper);
        for (key, value) in config["annotations"].as_object().into_iter().flatten() {
            cmd.arg("--annotation")
                .arg(format!("{key}={}", value.as_str().unwrap_or_default()));
        }
        cmd.arg("--rootfs").arg(bundle.dir.join("rootfs")).arg(&bundle.id);
        for arg in config["process"]["args"].as_array().unwrap() {
            cmd.arg(arg.as_str().unwrap());
        }
        RunResult::from(cmd.output().expect("ctr run"))
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Pins, entries and records left on a node; all empty after a clean stop.
#[derive(Debug, Default)]
pub struct Leftovers {
    pub link_dirs: Vec<PathBuf>,
    pub link_pins: Vec<PathBuf>,
    pub map_entries: usize,
    pub records: Vec<PathBuf>,
}

impl Leftovers {
    pub fn is_empty(&self) -> bool {
        self.link_dirs.is_empty() && self.link_pins.is_empty() && self.map_entries == 0 && self.records.is_empty()
    }
}

pub struct BundleBuilder<'n> {
    node: &'n Node,
    id: String,
    annotations: Vec<(String, String)>,
    args: Vec<String>,
    files: Vec<(String, Vec<u8>)>,
    programs: Vec<(String, u32)>,
    user: Option<u32>,
    netns: bool,
    caps: Vec<String>,
    hooks: bool,
    poststop: bool,
    stage_args: bool,
}

impl<'n> BundleBuilder<'n> {
    /// Hooks run `fnguard hook` with no stage, as the hooks.d file does.
    pub fn hooks_without_stage(mut self) -> Self {
        self.stage_args = false;
        self
    }

    /// A file in the rootfs (path inside the container).
    pub fn file(mut self, path: &str, content: &[u8]) -> Self {
        self.files.push((path.to_string(), content.to_vec()));
        self
    }

    /// A copy of the payload at `path` in the rootfs with permission bits
    /// `mode` (0o4755 for a setuid program): part of the image.
    pub fn program(mut self, path: &str, mode: u32) -> Self {
        self.programs.push((path.to_string(), mode));
        self
    }

    /// The function runs as this uid (and gid) instead of root.
    pub fn user(mut self, uid: u32) -> Self {
        self.user = Some(uid);
        self
    }

    /// Adds a capability (`CAP_NET_RAW`) to every set of the function's process.
    pub fn capability(mut self, cap: &str) -> Self {
        self.caps.push(cap.to_string());
        self
    }

    /// Its own network namespace: only a loopback, down; no packet leaves.
    pub fn netns(mut self) -> Self {
        self.netns = true;
        self
    }

    pub fn annotation(mut self, key: &str, value: &str) -> Self {
        self.annotations.push((key.into(), value.into()));
        self
    }

    /// Payload steps (see test-bundles/payload).
    pub fn steps<S: AsRef<str>>(mut self, steps: &[S]) -> Self {
        self.args = steps.iter().map(|s| s.as_ref().to_string()).collect();
        self
    }

    /// No fnguard hooks at all: the plain-runc baseline.
    pub fn without_hooks(mut self) -> Self {
        self.hooks = false;
        self
    }

    /// createRuntime only, as when a runtime never ran poststop.
    pub fn without_poststop(mut self) -> Self {
        self.poststop = false;
        self
    }

    pub fn build(self) -> Bundle<'n> {
        let n = BUNDLES.fetch_add(1, Ordering::SeqCst);
        let dir = self.node.work.path().join(format!("bundle-{n}-{}", self.id));
        let rootfs = dir.join("rootfs");
        for sub in ["bin", "proc", "dev", "sys", "tmp", "shared"] {
            fs::create_dir_all(rootfs.join(sub)).unwrap();
        }
        fs::copy(BUSYBOX, rootfs.join("bin/busybox")).unwrap();
        symlink("busybox", rootfs.join("bin/sh")).unwrap();
        fs::copy(payload_binary(), rootfs.join("fnguard-payload")).unwrap();
        for (path, content) in &self.files {
            let target = rootfs.join(path.trim_start_matches('/'));
            fs::create_dir_all(target.parent().unwrap()).unwrap();
            fs::write(&target, content).unwrap();
            if content.starts_with(b"#!") || path.starts_with("/opt/") {
                use std::os::unix::fs::PermissionsExt;
                fs::set_permissions(&target, fs::Permissions::from_mode(0o755)).unwrap();
            }
        }

        for (path, mode) in &self.programs {
            use std::os::unix::fs::PermissionsExt;
            let target = rootfs.join(path.trim_start_matches('/'));
            fs::create_dir_all(target.parent().unwrap()).unwrap();
            fs::copy(payload_binary(), &target).unwrap();
            fs::set_permissions(&target, fs::Permissions::from_mode(*mode)).unwrap();
        }

        let template = workspace_root().join("test-bundles/function/config.json");
        let mut config: Value = serde_json::from_str(&fs::read_to_string(&template).unwrap()).unwrap();
        if let Some(uid) = self.user {
            config["process"]["user"] = json!({ "uid": uid, "gid": uid });
        }
        for cap in &self.caps {
            for set in ["bounding", "effective", "permitted", "ambient"] {
                config["process"]["capabilities"][set]
                    .as_array_mut()
                    .unwrap()
                    .push(Value::from(cap.as_str()));
            }
        }
        if self.netns {
            config["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(json!({ "type": "network" }));
        }
        let mut args = vec![Value::from("/fnguard-payload")];
        args.extend(self.args.iter().map(|a| Value::from(a.as_str())));
        config["process"]["args"] = Value::Array(args);
        for (k, v) in &self.annotations {
            config["annotations"][k] = Value::from(v.as_str());
        }
        config["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/shared", "type": "bind",
            "source": self.node.shared, "options": ["rbind", "rw"]
        }));
        if self.hooks {
            let hook = |stage: &str| {
                let args = if self.stage_args {
                    vec!["fnguard", "hook", stage]
                } else {
                    vec!["fnguard", "hook"]
                };
                let mut env = vec![
                    format!("FNGUARD_PIN_ROOT={}", self.node.pin_root.display()),
                    format!("FNGUARD_RUN_DIR={}", self.node.run_dir.display()),
                    "FNGUARD_LOG=info".to_string(),
                ];
                env.extend(self.node.hook_env.iter().cloned());
                json!({
                    "path": self.node.fnguard,
                    "args": args,
                    "env": env,
                    "timeout": 30
                })
            };
            config["hooks"] = json!({ "createRuntime": [hook("createRuntime")] });
            if self.poststop {
                config["hooks"]["poststop"] = json!([hook("poststop")]);
            }
        }
        fs::write(dir.join("config.json"), serde_json::to_vec_pretty(&config).unwrap()).unwrap();
        Bundle {
            node: self.node,
            dir,
            id: self.id,
        }
    }
}

pub struct Bundle<'n> {
    node: &'n Node,
    pub dir: PathBuf,
    pub id: String,
}

impl Bundle<'_> {
    /// `runc run` in the foreground under the bundle's id.
    pub fn run(&self) -> RunResult {
        self.run_as(&self.id)
    }

    /// `runc run` under another id (bundles can be reused for sequential runs).
    pub fn run_as(&self, id: &str) -> RunResult {
        self.node.started.lock().unwrap().push(id.to_string());
        let out = self
            .node
            .runc()
            .args(["run", "--bundle"])
            .arg(&self.dir)
            .arg(id)
            .output()
            .expect("runc run");
        RunResult::from(out)
    }

    /// `WRAPPER --root R run --bundle B ID`, as a runtime configured with a
    /// runc wrapper (fnguard-runc) calls it. The node's pin root, run
    /// directory and fnguard binary reach the wrapper and its hooks through
    /// the environment, which runc passes to hooks without an `env`.
    pub fn run_through(&self, wrapper: &Path) -> RunResult {
        self.node.started.lock().unwrap().push(self.id.clone());
        let out = Command::new("timeout")
            .args(["--kill-after=5", "120"])
            .arg(wrapper)
            .arg("--root")
            .arg(&self.node.runc_root)
            .args(["run", "--bundle"])
            .arg(&self.dir)
            .arg(&self.id)
            .env("FNGUARD_PIN_ROOT", &self.node.pin_root)
            .env("FNGUARD_RUN_DIR", &self.node.run_dir)
            .env("FNGUARD_HOOK_BINARY", &self.node.fnguard)
            .output()
            .expect("running the runc wrapper");
        RunResult::from(out)
    }

    /// `podman run --rootfs` of this bundle's rootfs with a hooks.d directory
    /// made from deploy/hooks.d/fnguard.json, pointed at this node; the
    /// bundle's annotations are passed with `--annotation`.
    pub fn run_with_podman(&self) -> RunResult {
        let hooks_dir = self.dir.join("hooks.d");
        fs::create_dir_all(&hooks_dir).unwrap();
        let template = workspace_root().join("deploy/hooks.d/fnguard.json");
        let mut hook: Value = serde_json::from_str(&fs::read_to_string(template).unwrap()).unwrap();
        hook["hook"]["path"] = json!(self.node.fnguard);
        hook["hook"]["env"] = json!([
            format!("FNGUARD_PIN_ROOT={}", self.node.pin_root.display()),
            format!("FNGUARD_RUN_DIR={}", self.node.run_dir.display()),
        ]);
        fs::write(hooks_dir.join("fnguard.json"), serde_json::to_vec(&hook).unwrap()).unwrap();
        let config: Value = serde_json::from_slice(&fs::read(self.dir.join("config.json")).unwrap()).unwrap();
        let mut cmd = Command::new("timeout");
        cmd.args(["--kill-after=5", "120", "podman", "--hooks-dir"])
            .arg(&hooks_dir)
            .args([
                "run",
                "--rm",
                "--network",
                "host",
                "--ulimit",
                "nofile=1024:1024",
                "--ulimit",
                "nproc=1024:1024",
            ])
            .args(["--name", &self.id]);
        for (key, value) in config["annotations"].as_object().into_iter().flatten() {
            cmd.arg("--annotation")
                .arg(format!("{key}={}", value.as_str().unwrap_or_default()));
        }
        cmd.arg("--rootfs").arg(self.dir.join("rootfs"));
        for arg in config["process"]["args"].as_array().unwrap() {
            cmd.arg(arg.as_str().unwrap());
        }
        RunResult::from(cmd.output().expect("podman run (apt-get install podman)"))
    }

    /// `runc run` in the background; collect with [`RunResult::from_child`].
    pub fn spawn(&self) -> Child {
        self.node.started.lock().unwrap().push(self.id.clone());
        self.node
            .runc()
            .args(["run", "--bundle"])
            .arg(&self.dir)
            .arg(&self.id)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("runc run")
    }
}

/// What a container printed and how runc ended.
#[derive(Debug)]
pub struct RunResult {
    pub success: bool,
    /// runc's exit status: the container's, 137 when it was killed by SIGKILL.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for RunResult {
    fn from(out: Output) -> Self {
        RunResult {
            success: out.status.success(),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl RunResult {
    pub fn from_child(child: Child) -> Self {
        RunResult::from(child.wait_with_output().expect("waiting for runc"))
    }

    /// The outcome the payload printed for `step` (`ok`, `EPERM`, ...).
    pub fn outcome(&self, step: &str) -> &str {
        self.stdout
            .lines()
            .find_map(|l| l.strip_prefix(step).and_then(|rest| rest.strip_prefix(' ')))
            .unwrap_or_else(|| {
                panic!(
                    "payload printed nothing for {step:?}\nstdout:\n{}\nstderr:\n{}",
                    self.stdout, self.stderr
                )
            })
    }
}

/// The events of one kind (`net.egress`, `file.open`, ...).
pub fn of_kind<'e>(events: &'e [Value], kind: &str) -> Vec<&'e Value> {
    events.iter().filter(|e| e["kind"] == kind).collect()
}

/// The events of one kind from one container.
pub fn of_container<'e>(events: &'e [Value], kind: &str, container: &str) -> Vec<&'e Value> {
    of_kind(events, kind)
        .into_iter()
        .filter(|e| e["container"] == container)
        .collect()
}

/// TCP listener on a free port of `ip`; keep it alive for the test.
pub fn tcp_listener(ip: &str) -> (TcpListener, u16) {
    let listener = TcpListener::bind((ip, 0)).unwrap_or_else(|e| panic!("binding {ip}: {e}"));
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

/// A UDP port on `ip` that nothing else uses while the socket lives.
pub fn udp_port(ip: &str) -> (UdpSocket, u16) {
    let socket = UdpSocket::bind((ip, 0)).unwrap_or_else(|e| panic!("binding {ip}: {e}"));
    let port = socket.local_addr().unwrap().port();
    (socket, port)
}

fn read_dir_paths(dir: &Path) -> Vec<PathBuf> {
    match fs::read_dir(dir) {
        Ok(entries) => entries.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(_) => Vec::new(),
    }
}

fn bpftool_entries(map: &Path) -> usize {
    let out = Command::new("bpftool")
        .args(["-j", "map", "dump", "pinned"])
        .arg(map)
        .output()
        .expect("bpftool (apt-get install bpftool)");
    assert!(
        out.status.success(),
        "bpftool map dump {}: {}",
        map.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let dump: Value = serde_json::from_slice(&out.stdout).expect("bpftool -j prints JSON");
    dump.as_array().map(Vec::len).unwrap_or(0)
}
