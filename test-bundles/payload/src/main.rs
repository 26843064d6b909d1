//! Runs inside a test container (statically linked, no libraries needed).
//! Each argument is one step; each step prints one line, `<step> ok` or
//! `<step> <ERRNO>`, so a test can assert on what the kernel did.
//!
//! Steps:
//!   tcp=ADDR          TCP connect (ADDR as `1.2.3.4:80` or `[::1]:80`)
//!   udp-send=ADDR     unconnected UDP sendto
//!   udp-connect=ADDR  UDP connect, then send
//!   listen=ADDR       accept TCP connections on ADDR until killed (a test peer)
//!   cat=PATH          open for reading and copy the content to stdout
//!   write=PATH        open for writing (create, truncate) and write a line
//!   chdir=DIR         change directory
//!   openat=DIR:NAME   open DIR, then openat(dirfd, NAME) and copy to stdout
//!   openat2=PATH      openat2(AT_FDCWD, PATH) and copy to stdout
//!   reopen=PATH       open PATH with O_PATH, then /proc/self/fd/N for reading
//!   symlink=TARGET:LINK, hardlink=TARGET:LINK
//!   mkdirs=DIR:DEPTH  create DEPTH nested directories `d` under DIR
//!   exec=PATH[:ARG..] run PATH as a child; `ok` or `exit-N` / `signal-N`
//!   flood=PATH:N      open and close PATH N times
//!   bench-open=PATH:N like flood, then prints `bench-open ns_per_open=X best_chunk_ns=Y`
//!                     (Y: the quickest of 20 equal chunks)
//!   bench-connect=ADDR:N  N TCP connects to ADDR (each on a new socket),
//!                     then prints `bench-connect ns_per_connect=X errno=E`
//!   attack=NAME       what an attacker does, one detection rule each (attacks.rs)
//!   serve-http=ADDR:N a benign function: reads /etc/handler.conf, answers N
//!                     HTTP requests on 4 threads, each writing and deleting a
//!                     temp file under /shared/tmp
//!   socket=FAMILY:TYPE[:PROTOCOL]  socket() with these numbers (2:3:1 inet raw ICMP, 1:1 unix stream)
//!   udp-echo=ADDR:N   answer N datagrams with themselves
//!   bind=ADDR, bind-udp=ADDR   bind a TCP / UDP socket
//!   dns=ADDR          one DNS query over UDP, success when a reply comes
//!   scan-tcp=HOST:FROM-TO, scan-udp=HOST:FROM-TO   one attempt per port
//!   scan-hosts=PREFIX:N:PORT   one TCP connect to each of PREFIX.1 .. PREFIX.N
//!   repeat-tcp=ADDR:N N TCP connects to one address
//!   touch=PATH        create a file (tell the test we got here)
//!   wait=PATH         wait up to 30 s for a file to exist
//!   sleep=MS          sleep
//!   fork-bomb, spawn, burn-cpu, alloc, hold-tcp, send-tcp, stream-tcp,
//!   cpu-used          resource use up to a limit (resources.rs)

mod attacks;
mod resources;

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::ExitCode;
use std::thread::sleep;
use std::time::{Duration, Instant};

fn main() -> ExitCode {
    let steps: Vec<String> = std::env::args().skip(1).collect();
    if steps.is_empty() {
        eprintln!("usage: fnguard-payload STEP... (see the source for steps)");
        return ExitCode::from(2);
    }
    for step in &steps {
        let outcome = run_step(step);
        let line = match outcome {
            Ok(()) => format!("{step} ok"),
            Err(e) if e.raw_os_error().is_none() && e.kind() == io::ErrorKind::Other => format!("{step} {e}"),
            Err(e) => format!("{step} {}", errno_name(&e)),
        };
        println!("{line}");
        let _ = io::stdout().flush();
    }
    ExitCode::SUCCESS
}

pub(crate) fn run_step(step: &str) -> io::Result<()> {
    let (verb, arg) = step
        .split_once('=')
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "step is VERB=ARG"))?;
    match verb {
        "tcp" => TcpStream::connect_timeout(&addr(arg)?, Duration::from_secs(2)).map(drop),
        "udp-send" => {
            let target = addr(arg)?;
            unbound_udp(&target)?.send_to(b"fnguard", target).map(drop)
        }
        "udp-connect" => {
            let target = addr(arg)?;
            let socket = unbound_udp(&target)?;
            socket.connect(target)?;
            socket.send(b"fnguard").map(drop)
        }
        "listen" => {
            let listener = std::net::TcpListener::bind(addr(arg)?)?;
            println!("{step} listening");
            let _ = io::stdout().flush();
            for stream in listener.incoming() {
                drop(stream);
            }
            Ok(())
        }
        "attack" => attacks::run(arg),
        "serve-http" => {
            let (address, n) = arg.rsplit_once(':').ok_or_else(|| invalid("ADDR:N"))?;
            serve_http(addr(address)?, n.parse().map_err(|_| invalid("N"))?)
        }
        "udp-echo" => {
            let (address, n) = arg.rsplit_once(':').ok_or_else(|| invalid("ADDR:N"))?;
            let n: usize = n.parse().map_err(|_| invalid("N"))?;
            let socket = UdpSocket::bind(addr(address)?)?;
            println!("udp-echo listening");
            let _ = io::stdout().flush();
            let mut buf = [0u8; 1500];
            for _ in 0..n {
                let (len, peer) = socket.recv_from(&mut buf)?;
                socket.send_to(&buf[..len], peer)?;
            }
            Ok(())
        }
        "socket" => {
            // FAMILY:TYPE[:PROTOCOL] as numbers, e.g. 2:3:1 (inet, raw, ICMP), 1:1 (unix stream).
            let numbers: Vec<u64> = arg
                .split(':')
                .map(|n| n.parse().map_err(|_| invalid("FAMILY:TYPE[:PROTOCOL]")))
                .collect::<io::Result<_>>()?;
            let (family, kind, protocol) = match numbers[..] {
                [f, t] => (f, t, 0),
                [f, t, p] => (f, t, p),
                _ => return Err(invalid("FAMILY:TYPE[:PROTOCOL]")),
            };
            // SAFETY: socket() with plain numbers; the fd is closed right away.
            let fd = unsafe { syscall4(41, family, kind, protocol, 0) };
            owned(fd as i32).map(drop)
        }
        "bind" => std::net::TcpListener::bind(addr(arg)?).map(drop),
        "bind-udp" => UdpSocket::bind(addr(arg)?).map(drop),
        "dns" => {
            // A minimal query (id 0x1234, one question for a.test A IN); a reply is success.
            let target = addr(arg)?;
            let socket = unbound_udp(&target)?;
            socket.set_read_timeout(Some(Duration::from_secs(1)))?;
            let query = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01a\x04test\x00\x00\x01\x00\x01";
            socket.send_to(query, target)?;
            let mut reply = [0u8; 512];
            let (n, _) = socket.recv_from(&mut reply)?;
            if n >= 2 && reply[..2] == query[..2] {
                Ok(())
            } else {
                Err(io::Error::other("bad-reply"))
            }
        }
        // Connect attempts (TCP) or datagrams (UDP) to HOST:FROM-TO, one per port.
        "scan-tcp" | "scan-udp" => {
            let (host, range) = arg.rsplit_once(':').ok_or_else(|| invalid("HOST:FROM-TO"))?;
            let (from, to) = range.split_once('-').ok_or_else(|| invalid("FROM-TO"))?;
            let (from, to): (u16, u16) = (
                from.parse().map_err(|_| invalid("FROM"))?,
                to.parse().map_err(|_| invalid("TO"))?,
            );
            let host: std::net::IpAddr = host
                .trim_matches(|c| c == '[' || c == ']')
                .parse()
                .map_err(|_| invalid("HOST"))?;
            for port in from..=to {
                let target = SocketAddr::new(host, port);
                if verb == "scan-tcp" {
                    let _ = TcpStream::connect_timeout(&target, Duration::from_millis(50));
                } else {
                    let _ = unbound_udp(&target)?.send_to(b"probe", target);
                }
            }
            Ok(())
        }
        // One TCP connect to each of N hosts PREFIX.1 .. PREFIX.N on PORT.
        "scan-hosts" => {
            let mut parts = arg.split(':');
            let (prefix, n, port) = (parts.next(), parts.next(), parts.next());
            let (prefix, n, port) = (
                prefix.ok_or_else(|| invalid("PREFIX:N:PORT"))?,
                n.and_then(|n| n.parse::<u8>().ok()).ok_or_else(|| invalid("N"))?,
                port.and_then(|p| p.parse::<u16>().ok())
                    .ok_or_else(|| invalid("PORT"))?,
            );
            for i in 1..=n {
                let target = addr(&format!("{prefix}.{i}:{port}"))?;
                let _ = TcpStream::connect_timeout(&target, Duration::from_millis(50));
            }
            Ok(())
        }
        // N TCP connects to one address: a client, not a scan.
        "repeat-tcp" => {
            let (target, n) = arg.rsplit_once(':').ok_or_else(|| invalid("ADDR:N"))?;
            let (target, n) = (addr(target)?, n.parse::<u32>().map_err(|_| invalid("N"))?);
            let mut last = Ok(());
            for _ in 0..n {
                last = TcpStream::connect_timeout(&target, Duration::from_secs(1)).map(drop);
            }
            last
        }
        "touch" => std::fs::write(arg, b""),
        "cat" => copy_out(File::open(arg)?),
        "write" => std::fs::write(arg, b"written by fnguard-payload\n"),
        "chdir" => std::env::set_current_dir(arg),
        "openat" => {
            let (dir, name) = pair(arg)?;
            let dir = File::open(dir)?;
            let name = cstring(name)?;
            // SAFETY: dir is an open directory fd and name a valid C string.
            let fd = unsafe { libc_openat(dir.as_raw_fd(), name.as_ptr(), 0) };
            copy_out(owned(fd)?)
        }
        "openat2" => {
            let path = cstring(arg)?;
            // struct open_how { flags, mode, resolve } with O_RDONLY.
            let how = [0u64; 3];
            // SAFETY: raw openat2 with a valid path and a zeroed open_how of its size.
            let fd = unsafe { syscall4(437, -100i64 as u64, path.as_ptr() as u64, how.as_ptr() as u64, 24) };
            copy_out(owned(fd as i32)?)
        }
        "reopen" => {
            let path = cstring(arg)?;
            // SAFETY: open with O_PATH (0o10000000) on a valid C string.
            let opath = owned(unsafe { libc_open(path.as_ptr(), 0o10000000) })?;
            copy_out(File::open(format!("/proc/self/fd/{}", opath.as_raw_fd()))?)
        }
        "symlink" => {
            let (target, link) = pair(arg)?;
            std::os::unix::fs::symlink(target, link)
        }
        "hardlink" => {
            let (target, link) = pair(arg)?;
            std::fs::hard_link(target, link)
        }
        "mkdirs" => {
            let (dir, depth) = pair(arg)?;
            let depth: usize = depth.parse().map_err(|_| invalid("DEPTH"))?;
            let path = (0..depth).fold(std::path::PathBuf::from(dir), |p, _| p.join("d"));
            std::fs::create_dir_all(path)
        }
        "exec" => {
            let mut parts = arg.split(':');
            let program = parts.next().unwrap_or_default();
            let status = std::process::Command::new(program).args(parts).status()?;
            match (status.code(), status.signal()) {
                (Some(0), _) => Ok(()),
                (Some(code), _) => Err(io::Error::other(format!("exit-{code}"))),
                (None, Some(signal)) => Err(io::Error::other(format!("signal-{signal}"))),
                _ => Err(io::Error::other("unknown status")),
            }
        }
        "bench-connect" => {
            let (target, n) = arg.rsplit_once(':').ok_or_else(|| invalid("ADDR:N"))?;
            let target = addr(target)?;
            let n: u64 = n.parse().map_err(|_| invalid("N"))?;
            let mut last = String::from("ok");
            let start = Instant::now();
            for _ in 0..n {
                if let Err(e) = TcpStream::connect_timeout(&target, Duration::from_millis(100)) {
                    last = errno_name(&e);
                }
            }
            println!(
                "bench-connect ns_per_connect={:.1} errno={last}",
                start.elapsed().as_nanos() as f64 / n.max(1) as f64
            );
            Ok(())
        }
        "flood" | "bench-open" => {
            let (path, n) = pair(arg)?;
            let n: u64 = n.parse().map_err(|_| invalid("N"))?;
            // Timed in chunks: the quickest chunk is the cost with the least
            // interference from the rest of a shared machine.
            const CHUNKS: u64 = 20;
            let per_chunk = (n / CHUNKS).max(1);
            let (start, mut done, mut best) = (Instant::now(), 0, f64::MAX);
            while done < n {
                let (chunk, began) = (per_chunk.min(n - done), Instant::now());
                for _ in 0..chunk {
                    drop(File::open(path)?);
                }
                best = best.min(began.elapsed().as_nanos() as f64 / chunk as f64);
                done += chunk;
            }
            if verb == "bench-open" {
                println!(
                    "bench-open ns_per_open={:.1} best_chunk_ns={best:.1}",
                    start.elapsed().as_nanos() as f64 / n.max(1) as f64
                );
            }
            Ok(())
        }
        "wait" => {
            let deadline = Instant::now() + Duration::from_secs(30);
            while !Path::new(arg).exists() {
                if Instant::now() > deadline {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "file never appeared"));
                }
                sleep(Duration::from_millis(10));
            }
            Ok(())
        }
        "sleep" => {
            let ms: u64 = arg
                .parse()
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "MS"))?;
            sleep(Duration::from_millis(ms));
            Ok(())
        }
        _ => resources::run(verb, arg)
            .unwrap_or_else(|| Err(io::Error::new(io::ErrorKind::InvalidInput, "unknown step"))),
    }
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what.to_string())
}

/// What a well-behaved function does: read its config once, then answer
/// requests, each with a scratch file written and removed.
fn serve_http(address: SocketAddr, requests: usize) -> io::Result<()> {
    use std::io::BufRead;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    let config = std::fs::read_to_string("/etc/handler.conf")?;
    let greeting = config.lines().next().unwrap_or("hello").to_string();
    std::fs::create_dir_all("/shared/tmp")?;
    let listener = Arc::new(std::net::TcpListener::bind(address)?);
    println!("serve-http listening");
    let _ = io::stdout().flush();
    let served = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..4)
        .map(|worker| {
            let (listener, served, greeting) = (listener.clone(), served.clone(), greeting.clone());
            std::thread::spawn(move || -> io::Result<()> {
                while served.load(Ordering::SeqCst) < requests {
                    let (stream, _) = listener.accept()?;
                    let n = served.fetch_add(1, Ordering::SeqCst);
                    if n >= requests {
                        break; // a wake-up, not a request
                    }
                    let mut reader = io::BufReader::new(stream.try_clone()?);
                    let mut line = String::new();
                    while reader.read_line(&mut line)? > 2 {
                        line.clear();
                    }
                    let scratch = format!("/shared/tmp/req-{worker}-{n}");
                    std::fs::write(&scratch, format!("request {n}"))?;
                    let body = format!("{greeting} {}\n", std::fs::read_to_string(&scratch)?);
                    std::fs::remove_file(&scratch)?;
                    let mut stream = stream;
                    write!(
                        stream,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )?;
                }
                Ok(())
            })
        })
        .collect();
    // The last requests wake the workers still waiting in accept.
    while served.load(Ordering::SeqCst) < requests {
        std::thread::sleep(Duration::from_millis(10));
    }
    for _ in 0..workers.len() {
        let _ = TcpStream::connect_timeout(&address, Duration::from_millis(200));
    }
    for worker in workers {
        worker.join().map_err(|_| io::Error::other("worker panicked"))??;
    }
    Ok(())
}

fn pair(arg: &str) -> io::Result<(&str, &str)> {
    arg.split_once(':').ok_or_else(|| invalid("A:B"))
}

fn cstring(text: &str) -> io::Result<CString> {
    CString::new(text).map_err(|_| invalid("NUL in path"))
}

fn owned(fd: i32) -> io::Result<File> {
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd was just returned by the kernel and nothing else owns it.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// Copies a file to stdout, then a newline: what a test must never see when
/// fnguard stops the open.
fn copy_out(mut file: File) -> io::Result<()> {
    let mut content = Vec::new();
    file.read_to_end(&mut content)?;
    let mut out = io::stdout().lock();
    out.write_all(&content)?;
    out.write_all(b"\n")?;
    Ok(())
}

extern "C" {
    #[link_name = "openat"]
    fn libc_openat(dirfd: i32, path: *const std::ffi::c_char, flags: i32) -> i32;
    #[link_name = "open"]
    fn libc_open(path: *const std::ffi::c_char, flags: i32) -> i32;
    #[link_name = "syscall"]
    fn libc_syscall(number: i64, ...) -> i64;
}

/// A raw syscall with four arguments (openat2 has no libc wrapper here).
unsafe fn syscall4(number: i64, a: u64, b: u64, c: u64, d: u64) -> i64 {
    // SAFETY: the caller passes arguments valid for that syscall.
    let ret = unsafe { libc_syscall(number, a, b, c, d) };
    if ret < 0 {
        -1
    } else {
        ret
    }
}

fn addr(text: &str) -> io::Result<SocketAddr> {
    text.parse()
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "bad address"))
}

/// A socket of the destination's family: `[::ffff:a.b.c.d]` goes out on an
/// IPv6 socket, which is what the v4-mapped tests need.
fn unbound_udp(target: &SocketAddr) -> io::Result<UdpSocket> {
    match target {
        SocketAddr::V4(_) => UdpSocket::bind("0.0.0.0:0"),
        SocketAddr::V6(_) => UdpSocket::bind("[::]:0"),
    }
}

/// The errno's symbolic name, which is what tests match on.
fn errno_name(error: &io::Error) -> String {
    let name = match error.raw_os_error() {
        Some(1) => "EPERM",
        Some(13) => "EACCES",
        Some(101) => "ENETUNREACH",
        Some(110) => "ETIMEDOUT",
        Some(111) => "ECONNREFUSED",
        Some(113) => "EHOSTUNREACH",
        Some(99) => "EADDRNOTAVAIL",
        Some(2) => "ENOENT",
        Some(40) => "ELOOP",
        Some(11) => "EAGAIN",
        Some(code) => return format!("errno-{code}"),
        None => return format!("error({})", error.kind()),
    };
    name.to_string()
}
