//! `fnguard-runc`: not built yet. Runtimes without hook support (containerd's
//! CRI) will get the fnguard hooks through this wrapper; until then it refuses
//! to run rather than pass containers through unprotected.

fn main() {
    eprintln!("fnguard-runc: the runc wrapper is not available in this release; wire `fnguard hook` into the runtime's hooks instead (see README.md)");
    std::process::exit(2);
}
