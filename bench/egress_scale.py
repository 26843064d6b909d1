#!/usr/bin/env python3
"""connect() cost under egress policies of 1, 100 and 10,000 CIDRs: a
function in a managed cgroup makes CONNECTS TCP connects to an address its
policy does not allow; each fails with EPERM in the cgroup connect4
program after one longest-prefix lookup. Each run checks the errno.
Prints a JSON report."""
import json
import os
import subprocess
import sys
import tempfile
import time

from benchlib import FNGUARD, PAYLOAD, cgroup2_mount, min_median_max, remove_quietly, run_hook, start_in_cgroup

PIN_ROOT = "/sys/fs/bpf/fnguard-bench-egress"
CONNECTS = int(os.environ.get("BENCH_CONNECTS", "50000"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "5"))
SIZES = (1, 100, 10000)


def policy(n):
    return ",".join(f"10.{i // 256}.{i % 256}.0/24:443/tcp" for i in range(n))


def run(work, env, n, cg):
    bundle = os.path.join(work, f"bundle-{n}")
    os.makedirs(os.path.join(bundle, "rootfs"), exist_ok=True)
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump({"ociVersion": "1.0.2", "annotations": {"fnguard.io/egress": policy(n)}}, f)
    go = os.path.join(work, f"go-{time.monotonic_ns()}")
    script = f"while [ ! -e {go} ]; do sleep 0.01; done; exec {PAYLOAD} bench-connect=127.0.0.3:9:{CONNECTS}"
    proc = start_in_cgroup(cg, script, stdout=subprocess.PIPE, text=True)
    run_hook(env, "createRuntime",
             {"ociVersion": "1.0.2", "id": f"egress-{n}", "status": "creating", "pid": proc.pid, "bundle": bundle})
    open(go, "w").close()
    output, _ = proc.communicate()
    subprocess.run([FNGUARD, "hook", "poststop"], env=env, check=True, capture_output=True,
                   input=json.dumps({"id": f"egress-{n}", "bundle": bundle}).encode())
    for line in output.splitlines():
        if line.startswith("bench-connect "):
            fields = dict(f.split("=", 1) for f in line.split()[1:])
            if fields["errno"] != "EPERM":
                sys.exit(f"{n} CIDRs: connect ended with {fields['errno']}, not EPERM")
            return float(fields["ns_per_connect"])
    sys.exit(f"payload printed no figure: {output!r}")


def main():
    work = tempfile.mkdtemp(prefix="fnguard-bench-egress-")
    cg = os.path.join(cgroup2_mount(), "fnguard-bench-egress")
    os.makedirs(cg, exist_ok=True)
    env = dict(os.environ, FNGUARD_PIN_ROOT=PIN_ROOT, FNGUARD_RUN_DIR=os.path.join(work, "run"))
    try:
        samples = {n: [] for n in SIZES}
        for _ in range(REPEATS):
            for n in SIZES:
                samples[n].append(run(work, env, n, cg))
        report = {f"{n} CIDRs": min_median_max(s) for n, s in samples.items()}
        report["connects_per_run"] = CONNECTS
    finally:
        remove_quietly(PIN_ROOT, work, [cg])
    json.dump(report, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
