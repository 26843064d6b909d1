//! Compiles each `<concern>.bpf.c` into a skeleton and derives the pin ABI
//! from the compiled objects, so new objects never reuse old pinned maps.

use std::env;
use std::fs;
use std::path::PathBuf;

use libbpf_cargo::SkeletonBuilder;
use sha2::{Digest, Sha256};

/// Objects built: (name, source concern, extra clang arguments).
/// `file` reads kernel objects with plain loads through bpf_rdonly_cast
/// (kernel 6.2 on); `file_compat` is the same program with CO-RE probe
/// reads, loaded where the kernel lacks that kfunc.
const OBJECTS: &[(&str, &str, &[&str])] = &[
    ("net", "net", &[]),
    ("exec", "exec", &[]),
    ("file", "file", &["-DFNG_BTF_CAST"]),
    ("file_compat", "file", &[]),
    ("lsm", "lsm", &[]),
    ("resources", "resources", &["-DFNG_SIGNAL_TASK"]),
    ("resources_compat", "resources", &[]),
];

fn main() {
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR is set by cargo"));
    let mut abi = Sha256::new();
    for (name, concern, extra) in OBJECTS {
        let source = format!("src/bpf/{concern}.bpf.c");
        let obj = out_dir.join(format!("{name}.bpf.o"));
        SkeletonBuilder::new()
            .source(&source)
            .obj(&obj)
            .clang_args(["-I", "src/bpf", "-Wall", "-Werror"].iter().chain(extra.iter()))
            .build_and_generate(out_dir.join(format!("{name}.skel.rs")))
            .unwrap_or_else(|e| panic!("building {name} from {source}: {e:#}"));
        abi.update(fs::read(&obj).expect("compiled object exists"));
        println!("cargo:rerun-if-changed={source}");
    }
    for header in [
        "src/bpf/maps.h",
        "src/bpf/net.h",
        "src/bpf/events.h",
        "src/bpf/files.h",
        "src/bpf/common.bpf.h",
        "src/bpf/path.bpf.h",
        "src/bpf/judge.bpf.h",
        "src/bpf/detect.bpf.h",
        "src/bpf/sockets.bpf.h",
        "src/bpf/limits.bpf.h",
        "src/bpf/usage.h",
        "src/bpf/vmlinux.h",
    ] {
        println!("cargo:rerun-if-changed={header}");
    }
    let digest: String = abi.finalize().iter().take(6).map(|b| format!("{b:02x}")).collect();
    println!("cargo:rustc-env=FNGUARD_BPF_ABI={digest}");
}
