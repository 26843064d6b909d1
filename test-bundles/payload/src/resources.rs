//! Steps that use resources until a limit stops them; each reports how far
//! it got, so a test can compare with what fnguard counted.
//!
//!   fork-bomb=SECS        every process forks children (3 levels, 16 each)
//!                         and they wait; gives up after SECS
//!   spawn=N               N children one after another, each exiting at once
//!   burn-cpu=MS           spins until it has used MS of CPU, printing
//!                         `cpu-progress ms=X` every 50 ms of CPU
//!   alloc=MIB             allocates and touches MIB MiB, printing
//!                         `alloc-progress mib=X` every 4 MiB
//!   hold-tcp=ADDR:N       opens N TCP connections and keeps them;
//!                         prints `hold-tcp opened=K`, fails with the first error
//!   send-tcp=ADDR:BYTES   sends BYTES over one connection (2 s send timeout),
//!                         prints `send-tcp sent=N`, then reads until the peer closes
//!                         and prints `send-tcp received=M`
//!   stream-tcp=ADDR:SECS  sends as fast as it can for SECS, prints `stream-tcp sent=N`
//!   cpu-used=self         prints `cpu-used ms=X` (this process's CPU time)

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread::sleep;
use std::time::{Duration, Instant};

extern "C" {
    fn fork() -> i32;
    fn waitpid(pid: i32, status: *mut i32, options: i32) -> i32;
    fn _exit(code: i32) -> !;
    fn clock_gettime(clock: i32, ts: *mut [i64; 2]) -> i32;
}

const CLOCK_PROCESS_CPUTIME_ID: i32 = 2;

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what.to_string())
}

fn number<T: std::str::FromStr>(text: &str, what: &str) -> io::Result<T> {
    text.parse().map_err(|_| invalid(what))
}

fn addr(text: &str) -> io::Result<SocketAddr> {
    text.parse().map_err(|_| invalid("bad address"))
}

fn say(line: &str) {
    println!("{line}");
    let _ = io::stdout().flush();
}

/// CPU time this process has used.
pub fn cpu_used() -> Duration {
    let mut ts = [0i64; 2];
    // SAFETY: ts is a valid timespec-sized buffer.
    unsafe { clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    Duration::new(ts[0] as u64, ts[1] as u32)
}

pub fn run(verb: &str, arg: &str) -> Option<io::Result<()>> {
    Some(match verb {
        "fork-bomb" => fork_bomb(arg),
        "spawn" => spawn(arg),
        "burn-cpu" => burn_cpu(arg),
        "alloc" => alloc(arg),
        "hold-tcp" => hold_tcp(arg),
        "send-tcp" => send_tcp(arg),
        "stream-tcp" => stream_tcp(arg),
        "cpu-used" => {
            say(&format!("cpu-used ms={}", cpu_used().as_millis()));
            Ok(())
        }
        _ => return None,
    })
}

/// Bounded, so that a host without fnguard survives it: at most
/// 1 + 16 + 256 + 4096 processes, each gone after `secs`.
fn fork_bomb(arg: &str) -> io::Result<()> {
    let secs: u64 = number(arg, "SECS")?;
    let deadline = Instant::now() + Duration::from_secs(secs);
    let (mut depth, mut forked) = (0, 0);
    let mut children = Vec::new();
    while depth < 3 && forked < 16 && Instant::now() < deadline {
        // SAFETY: the child only forks, sleeps and exits.
        let pid = unsafe { fork() };
        if pid == 0 {
            // The child bombs on, one level down.
            depth += 1;
            forked = 0;
            children.clear();
            continue;
        }
        if pid > 0 {
            children.push(pid);
        } else {
            sleep(Duration::from_millis(10));
        }
        forked += 1;
    }
    while Instant::now() < deadline {
        sleep(Duration::from_millis(50));
    }
    if depth > 0 {
        // SAFETY: ends a forked child without running the parent's destructors.
        unsafe { _exit(0) };
    }
    for pid in children {
        let mut status = 0;
        // SAFETY: waits for a child this process forked.
        unsafe { waitpid(pid, &mut status, 0) };
    }
    Ok(())
}

fn spawn(arg: &str) -> io::Result<()> {
    let n: u32 = number(arg, "N")?;
    for _ in 0..n {
        // SAFETY: the child exits at once.
        let pid = unsafe { fork() };
        if pid == 0 {
            // SAFETY: ends the forked child.
            unsafe { _exit(0) };
        }
        if pid < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut status = 0;
        // SAFETY: waits for the child just forked.
        unsafe { waitpid(pid, &mut status, 0) };
    }
    Ok(())
}

fn burn_cpu(arg: &str) -> io::Result<()> {
    let want = Duration::from_millis(number(arg, "MS")?);
    let mut next_report = Duration::from_millis(50);
    let mut x: u64 = 1;
    loop {
        for _ in 0..100_000 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        let used = cpu_used();
        if used >= next_report {
            say(&format!("cpu-progress ms={}", used.as_millis()));
            next_report += Duration::from_millis(50);
        }
        if used >= want {
            return Ok(());
        }
    }
}

fn alloc(arg: &str) -> io::Result<()> {
    let mib: usize = number(arg, "MIB")?;
    let mut blocks: Vec<Vec<u8>> = Vec::with_capacity(mib);
    for i in 1..=mib {
        // Every page written, so it is resident.
        blocks.push(vec![0x5a; 1 << 20]);
        if i % 4 == 0 {
            say(&format!("alloc-progress mib={i}"));
        }
    }
    std::hint::black_box(&blocks);
    Ok(())
}

fn hold_tcp(arg: &str) -> io::Result<()> {
    let (target, n) = arg.rsplit_once(':').ok_or_else(|| invalid("ADDR:N"))?;
    let (target, n) = (addr(target)?, number::<usize>(n, "N")?);
    let mut held = Vec::with_capacity(n);
    let mut result = Ok(());
    for _ in 0..n {
        match TcpStream::connect_timeout(&target, Duration::from_secs(2)) {
            Ok(stream) => held.push(stream),
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    say(&format!("hold-tcp opened={}", held.len()));
    result
}

fn send_tcp(arg: &str) -> io::Result<()> {
    let (target, bytes) = arg.rsplit_once(':').ok_or_else(|| invalid("ADDR:BYTES"))?;
    let (target, bytes) = (addr(target)?, number::<usize>(bytes, "BYTES")?);
    let mut stream = TcpStream::connect_timeout(&target, Duration::from_secs(2))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    let chunk = vec![0x42u8; 64 * 1024];
    let mut sent = 0;
    let mut result = Ok(());
    while sent < bytes {
        let n = chunk.len().min(bytes - sent);
        match stream.write(&chunk[..n]) {
            Ok(written) => sent += written,
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    say(&format!("send-tcp sent={sent}"));
    result?;
    stream.shutdown(std::net::Shutdown::Write)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut received = Vec::new();
    stream.read_to_end(&mut received)?;
    say(&format!("send-tcp received={}", received.len()));
    Ok(())
}

fn stream_tcp(arg: &str) -> io::Result<()> {
    let (target, secs) = arg.rsplit_once(':').ok_or_else(|| invalid("ADDR:SECS"))?;
    let (target, secs) = (addr(target)?, number::<f64>(secs, "SECS")?);
    let mut stream = TcpStream::connect_timeout(&target, Duration::from_secs(2))?;
    stream.set_write_timeout(Some(Duration::from_millis(200)))?;
    let chunk = vec![0x42u8; 16 * 1024];
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let mut sent = 0u64;
    while Instant::now() < deadline {
        match stream.write(&chunk) {
            Ok(n) => sent += n as u64,
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
            Err(e) => return Err(e),
        }
    }
    say(&format!("stream-tcp sent={sent}"));
    Ok(())
}
