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
//!   alloc-threads=N:MIB   N threads each allocate and touch MIB MiB, then all
//!                         free them and end together
//!   connect-parallel=ADDR:N  N threads connect at once and keep their connections;
//!                         prints `connect-parallel opened=K refused=R`
//!   hold-tcp=ADDR:N       opens N TCP connections and keeps them;
//!                         prints `hold-tcp opened=K`, fails with the first error
//!   send-tcp=ADDR:BYTES   sends BYTES over one connection (2 s send timeout),
//!                         prints `send-tcp sent=N`, then reads until the peer closes
//!                         and prints `send-tcp received=M`
//!   stream-tcp=ADDR:SECS  sends as fast as it can for SECS, prints `stream-tcp sent=N`
//!   cpu-used=self         prints `cpu-used ms=X` (this process's CPU time)
//!   child=STEP            runs STEP in a child process and goes on at once
//!
//! For benchmarks (each prints its figure):
//!   spin=N                N rounds of integer work, prints `spin ns=X`
//!   alloc-churn=MIB:N     N times: allocate MIB MiB, touch every page, free it;
//!                         prints `alloc-churn ns=X faults=Y`
//!   pingpong=N            N round trips of one byte between two processes over
//!                         pipes (two context switches each), prints `pingpong ns=X`
//!   sink=ADDR             accepts TCP connections and reads each to its end, forever
//!   udp-flood=ADDR:SECS:SIZE  sends SIZE-byte datagrams for SECS, prints `udp-flood sent=N`

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread::sleep;
use std::time::{Duration, Instant};

extern "C" {
    fn pipe(fds: *mut [i32; 2]) -> i32;
    fn read(fd: i32, buf: *mut u8, n: usize) -> isize;
    fn write(fd: i32, buf: *const u8, n: usize) -> isize;
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
        "alloc-threads" => alloc_threads(arg),
        "connect-parallel" => connect_parallel(arg),
        "send-tcp" => send_tcp(arg),
        "stream-tcp" => stream_tcp(arg),
        "child" => {
            // SAFETY: the child runs one step and exits without returning.
            let pid = unsafe { fork() };
            if pid == 0 {
                let code = i32::from(crate::run_step(arg).is_err());
                // SAFETY: ends the forked child.
                unsafe { _exit(code) };
            }
            if pid < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(())
            }
        }
        "spin" => spin(arg),
        "alloc-churn" => alloc_churn(arg),
        "sink" => sink(arg),
        "pingpong" => pingpong(arg),
        "udp-flood" => udp_flood(arg),
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
    stream.set_read_timeout(Some(Duration::from_secs(3)))?;
    let mut received = Vec::new();
    let result = stream.read_to_end(&mut received);
    say(&format!("send-tcp received={}", received.len()));
    result.map(drop)
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

fn spin(arg: &str) -> io::Result<()> {
    let n: u64 = number(arg, "N")?;
    let start = Instant::now();
    let mut x: u64 = 1;
    for _ in 0..n {
        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
    say(&format!("spin ns={}", start.elapsed().as_nanos()));
    Ok(())
}

fn alloc_churn(arg: &str) -> io::Result<()> {
    let (mib, rounds) = arg.split_once(':').ok_or_else(|| invalid("MIB:N"))?;
    let (mib, rounds) = (number::<usize>(mib, "MIB")?, number::<usize>(rounds, "N")?);
    let start = Instant::now();
    for _ in 0..rounds {
        // Large blocks are mapped and unmapped, so every round faults its pages in anew.
        let block = vec![0x5au8; mib << 20];
        std::hint::black_box(&block);
    }
    say(&format!(
        "alloc-churn ns={} faults={}",
        start.elapsed().as_nanos(),
        rounds * (mib << 20) / 4096
    ));
    Ok(())
}

fn sink(arg: &str) -> io::Result<()> {
    let listener = std::net::TcpListener::bind(addr(arg)?)?;
    say("sink listening");
    for mut stream in listener.incoming().flatten() {
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 1 << 20];
            while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
        });
    }
    Ok(())
}

fn udp_flood(arg: &str) -> io::Result<()> {
    let mut parts = arg.rsplitn(3, ':');
    let (size, secs, target) = (
        number::<usize>(parts.next().unwrap_or(""), "SIZE")?,
        number::<f64>(parts.next().unwrap_or(""), "SECS")?,
        addr(parts.next().ok_or_else(|| invalid("ADDR:SECS:SIZE"))?)?,
    );
    let socket = std::net::UdpSocket::bind(if target.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" })?;
    socket.connect(target)?;
    let payload = vec![0x42u8; size];
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let mut sent = 0u64;
    while Instant::now() < deadline {
        for _ in 0..64 {
            if socket.send(&payload).is_ok() {
                sent += 1;
            }
        }
    }
    say(&format!("udp-flood sent={sent}"));
    Ok(())
}

fn pingpong(arg: &str) -> io::Result<()> {
    let n: u64 = number(arg, "N")?;
    let (mut there, mut back) = ([0i32; 2], [0i32; 2]);
    // SAFETY: pipe fills two fds into each array.
    if unsafe { pipe(&mut there) } != 0 || unsafe { pipe(&mut back) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut byte = 0u8;
    // SAFETY: the child only echoes bytes over the pipes and exits.
    let pid = unsafe { fork() };
    if pid == 0 {
        for _ in 0..n {
            // SAFETY: one byte into a valid buffer, over fds this process owns.
            unsafe {
                read(there[0], &mut byte, 1);
                write(back[1], &byte, 1);
            }
        }
        // SAFETY: ends the forked child.
        unsafe { _exit(0) };
    }
    let start = Instant::now();
    for _ in 0..n {
        // SAFETY: as above.
        unsafe {
            write(there[1], &byte, 1);
            read(back[0], &mut byte, 1);
        }
    }
    let ns = start.elapsed().as_nanos() / u128::from(n.max(1));
    let mut status = 0;
    // SAFETY: waits for the child just forked.
    unsafe { waitpid(pid, &mut status, 0) };
    say(&format!("pingpong ns={ns}"));
    Ok(())
}

fn alloc_threads(arg: &str) -> io::Result<()> {
    let (n, mib) = arg.split_once(':').ok_or_else(|| invalid("N:MIB"))?;
    let (n, mib) = (number::<usize>(n, "N")?, number::<usize>(mib, "MIB")?);
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(n));
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let block = vec![0x5au8; mib << 20];
                std::hint::black_box(&block);
                // All hold their memory at once before any frees it.
                barrier.wait();
            })
        })
        .collect();
    for thread in threads {
        thread.join().map_err(|_| io::Error::other("thread panicked"))?;
    }
    Ok(())
}

fn connect_parallel(arg: &str) -> io::Result<()> {
    let (target, n) = arg.rsplit_once(':').ok_or_else(|| invalid("ADDR:N"))?;
    let (target, n) = (addr(target)?, number::<usize>(n, "N")?);
    let start = std::sync::Arc::new(std::sync::Barrier::new(n));
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let start = start.clone();
            std::thread::spawn(move || {
                start.wait();
                TcpStream::connect_timeout(&target, Duration::from_secs(2))
            })
        })
        .collect();
    let results: Vec<io::Result<TcpStream>> = threads
        .into_iter()
        .map(|t| t.join().unwrap_or_else(|_| Err(io::Error::other("thread panicked"))))
        .collect();
    let opened = results.iter().filter(|r| r.is_ok()).count();
    say(&format!("connect-parallel opened={opened} refused={}", n - opened));
    Ok(())
}
