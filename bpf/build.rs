//! Compiles each `<concern>.bpf.c` into a skeleton and derives the pin ABI
//! from the compiled objects, so new objects never reuse old pinned maps.

use std::env;
use std::fs;
use std::path::PathBuf;

use libbpf_cargo::SkeletonBuilder;
use sha2::{Digest, Sha256};

const CONCERNS: &[&str] = &["net", "exec", "file", "lsm"];

fn main() {
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR is set by cargo"));
    let mut abi = Sha256::new();
    for concern in CONCERNS {
        let source = format!("src/bpf/{concern}.bpf.c");
        let obj = out_dir.join(format!("{concern}.bpf.o"));
        SkeletonBuilder::new()
            .source(&source)
            .obj(&obj)
            .clang_args(["-I", "src/bpf", "-Wall", "-Werror"])
            .build_and_generate(out_dir.join(format!("{concern}.skel.rs")))
            .unwrap_or_else(|e| panic!("building {source}: {e:#}"));
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
        "src/bpf/vmlinux.h",
    ] {
        println!("cargo:rerun-if-changed={header}");
    }
    let digest: String = abi.finalize().iter().take(6).map(|b| format!("{b:02x}")).collect();
    println!("cargo:rustc-env=FNGUARD_BPF_ABI={digest}");
}
