"""What the benchmarks share: where the build puts things, the cgroup2 mount."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FNGUARD = os.path.join(ROOT, "target/release/fnguard")
PAYLOAD = os.path.join(ROOT, "target/x86_64-unknown-linux-gnu/release/fnguard-payload")


def cgroup2_mount():
    """The cgroup2 mount point: /sys/fs/cgroup, or /sys/fs/cgroup/unified on hybrid hosts."""
    with open("/proc/self/mounts") as f:
        for line in f:
            fields = line.split()
            if fields[2] == "cgroup2":
                return fields[1]
    sys.exit("no cgroup2 mount")


def start_in_cgroup(cgroup, script, **popen):
    """Runs `sh -c script` with the shell moved into `cgroup` first; returns
    once the kernel shows it there, so a hook can be run for its pid."""
    import subprocess
    import time

    proc = subprocess.Popen(["sh", "-c", f"echo $$ > {cgroup}/cgroup.procs; {script}"], **popen)
    for _ in range(500):
        with open(os.path.join(cgroup, "cgroup.procs")) as f:
            if str(proc.pid) in f.read().split():
                return proc
        time.sleep(0.01)
    proc.kill()
    sys.exit(f"pid {proc.pid} never appeared in {cgroup}")


def run_hook(env, stage, state):
    """Runs `fnguard hook STAGE` with the OCI state; exits the benchmark on failure."""
    import json
    import subprocess

    out = subprocess.run([FNGUARD, "hook", stage], input=json.dumps(state).encode(), env=env, capture_output=True)
    if out.returncode != 0:
        sys.exit(f"hook {stage} failed: {out.stderr.decode()}")
