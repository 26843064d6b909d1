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


def percentile(samples, q):
    """The q-quantile (0..1) of samples, by nearest rank."""
    s = sorted(samples)
    return s[min(len(s) - 1, max(0, int(-(-q * len(s) // 1)) - 1))]


def min_median_max(samples, digits=1):
    """{n, min, median, max} of samples, rounded."""
    import statistics

    return {"n": len(samples), "min": round(min(samples), digits),
            "median": round(statistics.median(samples), digits), "max": round(max(samples), digits)}


def remove_quietly(pin_root, work, cgroups):
    """Removes a benchmark's pin root, work directory and cgroups (children
    first), whatever state a failed run left them in."""
    import shutil

    shutil.rmtree(pin_root, ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)
    for cgroup in cgroups:
        try:
            os.rmdir(cgroup)
        except OSError:
            pass


def stop_tracer(proc):
    """Ends a tracer (bpftrace, a BCC tool) and collects its output, killing
    it when it does not exit within 10 s."""
    import subprocess

    proc.terminate()
    try:
        return proc.communicate(timeout=10)[0]
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.communicate()[0]
