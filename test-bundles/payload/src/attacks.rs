//! `attack=NAME`: what an attacker inside a function does, one detection
//! rule each, with the real system calls. A step's outcome is what the
//! kernel answered; the attempt is what the rules watch.

use std::fs;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

extern "C" {
    #[link_name = "syscall"]
    fn libc_syscall(number: i64, ...) -> i64;
}

/// A raw system call; its errno as the error.
fn sys(number: i64, args: [u64; 6]) -> io::Result<i64> {
    // SAFETY: every call below passes arguments the kernel validates (NULL
    // pointers, bad descriptors): the point is the attempt, not its effect.
    let ret = unsafe { libc_syscall(number, args[0], args[1], args[2], args[3], args[4], args[5]) };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Becomes `program` (this payload, told to sleep 0 ms, which prints
/// `sleep=0 ok`): the exec is the attack step, and a kill at it ends the
/// container's process. Returns only when the exec failed.
fn exec_into(program: &str, stdio: Option<(OwnedFd, OwnedFd)>) -> io::Result<()> {
    let mut command = Command::new(program);
    command.arg("sleep=0");
    if let Some((input, output)) = stdio {
        command.stdin(Stdio::from(input)).stdout(Stdio::from(output));
    }
    Err(command.exec())
}

/// Copies this program to `path` as a new executable file.
fn drop_copy(path: &str) -> io::Result<()> {
    if let Some(dir) = std::path::Path::new(path).parent() {
        fs::create_dir_all(dir)?;
    }
    fs::copy("/proc/self/exe", path)?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
}

fn connect(addr: &str) -> io::Result<()> {
    let addr: SocketAddr = addr.parse().map_err(|_| io::Error::other("bad address"))?;
    TcpStream::connect_timeout(&addr, Duration::from_secs(1)).map(drop)
}

const NULL: u64 = 0;

pub fn run(name: &str) -> io::Result<()> {
    match name {
        "shell" => Err(Command::new("/bin/sh").args(["-c", "echo shell ran"]).exec()),
        // The image ships /tmp/tool (the test puts it there).
        "exec-from-writable-dir" => exec_into("/tmp/tool", None),
        "drop-and-execute" => {
            drop_copy("/shared/dropped")?;
            exec_into("/shared/dropped", None)
        }
        "fileless-exec" => {
            let name = c"payload";
            let fd = sys(319, [name.as_ptr() as u64, 0, 0, 0, 0, 0])?; // memfd_create, no CLOEXEC
            fs::write(format!("/proc/self/fd/{fd}"), fs::read("/proc/self/exe")?)?;
            exec_into(&format!("/proc/self/fd/{fd}"), None)
        }
        "reverse-shell" => {
            let listener = TcpListener::bind("127.0.0.1:0")?;
            let socket = TcpStream::connect(listener.local_addr()?)?;
            let _peer = listener.accept()?;
            let (input, output) = (socket.try_clone()?, socket);
            exec_into("/proc/self/exe", Some((input.into(), output.into())))
        }
        "ptrace" => sys(101, [16 /* PTRACE_ATTACH */, 1, NULL, NULL, 0, 0]).map(drop),
        "namespace-change" => sys(272, [0x0400_0000 /* CLONE_NEWUTS */, 0, 0, 0, 0, 0]).map(drop),
        "kernel-module" => sys(175, [NULL, 0, c"".as_ptr() as u64, 0, 0, 0]).map(drop),
        "bpf" => sys(321, [5 /* BPF_PROG_LOAD */, NULL, 0, 0, 0, 0]).map(drop),
        "perf-event-open" => sys(298, [NULL, 0, u64::MAX, u64::MAX, 0, 0]).map(drop),
        "userfaultfd" => sys(323, [0, 0, 0, 0, 0, 0]).map(drop),
        "io-uring" => sys(425, [1, NULL, 0, 0, 0, 0]).map(drop),
        "keyring" => sys(250, [0 /* KEYCTL_GET_KEYRING_ID */, -3i64 as u64, 0, 0, 0, 0]).map(drop),
        // Run as a non-root user: ask for root.
        "privilege-change" => sys(105, [0, 0, 0, 0, 0, 0]).map(drop),
        // The image ships /usr/bin/suid-tool with mode 4755 (the test puts it there).
        "setuid-exec" => exec_into("/usr/bin/suid-tool", None),
        "setuid-chmod" => {
            fs::write("/shared/suid-file", b"")?;
            sys(90, [c"/shared/suid-file".as_ptr() as u64, 0o4755, 0, 0, 0, 0]).map(drop)
        }
        "raw-socket" => {
            let fd = sys(41, [2 /* AF_INET */, 3 /* SOCK_RAW */, 1 /* ICMP */, 0, 0, 0])?;
            // SAFETY: fd was just returned by socket() and nothing else owns it.
            drop(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd as i32) });
            Ok(())
        }
        "cloud-metadata" => connect("169.254.169.254:80"),
        "cloud-metadata-v6" => connect("[fd00:ec2::254]:80"),
        "miner-port" => connect("127.0.0.1:3333"),
        "wx-memory" => {
            let addr = sys(
                9,
                [
                    NULL,
                    4096,
                    7,    /* RWX */
                    0x22, /* PRIVATE|ANONYMOUS */
                    u64::MAX,
                    0,
                ],
            )?;
            sys(11, [addr as u64, 4096, 0, 0, 0, 0]).map(drop) // munmap
        }
        // The image ships /etc/shadow and /home/app/.ssh/id_rsa (the test puts them there).
        "secret-read" => fs::read("/etc/shadow").map(drop),
        "ssh-key-read" => fs::read("/home/app/.ssh/id_rsa").map(drop),
        "environ-read" => {
            let mut other = Command::new("/proc/self/exe").arg("sleep=5000").spawn()?;
            let read = fs::read(format!("/proc/{}/environ", other.id())).map(drop);
            let _ = other.kill();
            let _ = other.wait();
            read
        }
        // What writing a mounted cgroup v1 hierarchy's release_agent looks like.
        "release-agent-write" => {
            fs::create_dir_all("/shared/cgroup")?;
            fs::write("/shared/cgroup/release_agent", b"/payload")
        }
        "proc-mem-write" => fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/proc/self/mem")
            .map(drop),
        "runtime-socket" => std::os::unix::net::UnixStream::connect("/shared/docker.sock").map(drop),
        other => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("unknown attack {other:?}"),
        )),
    }
}
