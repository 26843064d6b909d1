//! Runs inside a test container (statically linked, no libraries needed).
//! Each argument is one step; each step prints one line, `<step> ok` or
//! `<step> <ERRNO>`, so a test can assert on what the kernel did.
//!
//! Steps:
//!   tcp=ADDR          TCP connect (ADDR as `1.2.3.4:80` or `[::1]:80`)
//!   udp-send=ADDR     unconnected UDP sendto
//!   udp-connect=ADDR  UDP connect, then send
//!   listen=ADDR       accept TCP connections on ADDR until killed (a test peer)
//!   touch=PATH        create a file (tell the test we got here)
//!   wait=PATH         wait up to 30 s for a file to exist
//!   sleep=MS          sleep

use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
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
            Err(e) => format!("{step} {}", errno_name(&e)),
        };
        println!("{line}");
        let _ = io::stdout().flush();
    }
    ExitCode::SUCCESS
}

fn run_step(step: &str) -> io::Result<()> {
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
        "touch" => std::fs::write(arg, b""),
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
        _ => Err(io::Error::new(io::ErrorKind::InvalidInput, "unknown step")),
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
        Some(code) => return format!("errno-{code}"),
        None => return format!("error({})", error.kind()),
    };
    name.to_string()
}
