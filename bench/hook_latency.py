#!/usr/bin/env python3
"""Hook latency and container start time, measured on this machine.

- warm: `fnguard hook createRuntime` for a new cgroup when the node's BPF
  objects are already pinned (what every container but the first pays);
- first: the same on a node with nothing pinned (load, verify, pin, attach);
- poststop: removing a container's links, map entries and record;
- runc run of a busybox function, with and without the hooks.

Each measurement checks that the work really happened (links pinned,
connect denied) before it is counted. Prints a JSON report on stdout.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from benchlib import FNGUARD, PAYLOAD, ROOT, cgroup2_mount, percentile, remove_quietly
PIN_ROOT = "/sys/fs/bpf/fnguard-bench"
WARM_RUNS = int(os.environ.get("BENCH_WARM_RUNS", "100"))
FIRST_RUNS = int(os.environ.get("BENCH_FIRST_RUNS", "10"))
RUNC_RUNS = int(os.environ.get("BENCH_RUNC_RUNS", "30"))


def summary(samples_ms):
    s = sorted(samples_ms)
    rank = lambda q: percentile(s, q)
    return {
        "n": len(s),
        "min": round(s[0], 3),
        "p50": round(rank(0.50), 3),
        "p99": round(rank(0.99), 3),
        "max": round(s[-1], 3),
    }


class Env:
    def __init__(self):
        self.work = tempfile.mkdtemp(prefix="fnguard-bench-")
        self.run_dir = os.path.join(self.work, "run")
        self.cg_root = os.path.join(cgroup2_mount(), "fnguard-bench")
        os.makedirs(self.cg_root, exist_ok=True)
        self.bundle = os.path.join(self.work, "bundle")
        os.makedirs(self.bundle)
        with open(os.path.join(self.bundle, "config.json"), "w") as f:
            json.dump({"ociVersion": "1.0.2", "annotations": {"fnguard.io/egress": "127.0.0.2/32:8080/tcp"}}, f)
        self.env = dict(os.environ, FNGUARD_PIN_ROOT=PIN_ROOT, FNGUARD_RUN_DIR=self.run_dir)

    def hook(self, stage, state):
        start = time.perf_counter_ns()
        out = subprocess.run([FNGUARD, "hook", stage], input=json.dumps(state).encode(),
                             env=self.env, capture_output=True)
        elapsed_ms = (time.perf_counter_ns() - start) / 1e6
        if out.returncode != 0:
            sys.exit(f"hook {stage} failed: {out.stderr.decode()}")
        return elapsed_ms

    def container(self, name):
        """A cgroup with a sleeping task in it, as runc leaves it at createRuntime."""
        cg = os.path.join(self.cg_root, name)
        os.makedirs(cg, exist_ok=True)
        task = subprocess.Popen(["sleep", "600"])
        with open(os.path.join(cg, "cgroup.procs"), "w") as f:
            f.write(str(task.pid))
        return cg, task

    def one_container(self, name):
        cg, task = self.container(name)
        state = {"ociVersion": "1.0.2", "id": name, "status": "creating", "pid": task.pid, "bundle": self.bundle}
        create_ms = self.hook("createRuntime", state)
        cgroup_id = os.stat(cg).st_ino
        links = [d for d in os.listdir(PIN_ROOT) if os.path.isdir(os.path.join(PIN_ROOT, d, "links", str(cgroup_id)))]
        if not links:
            sys.exit(f"hook did not pin links for cgroup {cgroup_id}")
        stop_ms = self.hook("poststop", {"ociVersion": "1.0.2", "id": name, "status": "stopped", "bundle": self.bundle})
        task.kill()
        task.wait()
        os.rmdir(cg)
        return create_ms, stop_ms

    def close(self):
        remove_quietly(PIN_ROOT, self.work, [self.cg_root])


def hook_latency(env):
    first = []
    for i in range(FIRST_RUNS):
        shutil.rmtree(PIN_ROOT, ignore_errors=True)
        first.append(env.one_container(f"first-{i}")[0])
    warm, stop = [], []
    env.one_container("prime")
    for i in range(WARM_RUNS):
        create_ms, stop_ms = env.one_container(f"warm-{i}")
        warm.append(create_ms)
        stop.append(stop_ms)
    return {"first": summary(first), "warm": summary(warm), "poststop": summary(stop)}


def runc_bundle(env, name, hooked):
    bundle = os.path.join(env.work, name)
    rootfs = os.path.join(bundle, "rootfs")
    os.makedirs(os.path.join(rootfs, "bin"))
    shutil.copy("/bin/busybox", os.path.join(rootfs, "bin/busybox"))
    shutil.copy(PAYLOAD, os.path.join(rootfs, "fnguard-payload"))
    with open(os.path.join(ROOT, "test-bundles/function/config.json")) as f:
        config = json.load(f)
    config["process"]["args"] = ["/fnguard-payload", "tcp=127.0.0.3:9"]
    if hooked:
        hook = lambda stage: {"path": FNGUARD, "args": ["fnguard", "hook", stage],
                              "env": [f"FNGUARD_PIN_ROOT={PIN_ROOT}", f"FNGUARD_RUN_DIR={env.run_dir}"]}
        config["hooks"] = {"createRuntime": [hook("createRuntime")], "poststop": [hook("poststop")]}
        config["annotations"] = {"fnguard.io/egress": "127.0.0.2/32:8080/tcp"}
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(config, f)
    return bundle


def runc_start(env):
    runc_root = os.path.join(env.work, "runc")
    plain = runc_bundle(env, "plain", False)
    hooked = runc_bundle(env, "hooked", True)
    times = {"plain": [], "hooked": []}
    expect = {"plain": "ECONNREFUSED", "hooked": "EPERM"}
    for i in range(RUNC_RUNS + 1):
        for kind, bundle in (("plain", plain), ("hooked", hooked)):
            start = time.perf_counter_ns()
            out = subprocess.run(["runc", "--root", runc_root, "run", "--bundle", bundle, f"{kind}-{i}"],
                                 capture_output=True)
            elapsed_ms = (time.perf_counter_ns() - start) / 1e6
            line = out.stdout.decode().strip()
            if out.returncode != 0 or not line.endswith(expect[kind]):
                sys.exit(f"runc run {kind} did not do what was measured: {line!r} {out.stderr.decode()}")
            if i > 0:  # the first pair warms caches and loads the objects
                times[kind].append(elapsed_ms)
    plain_s, hooked_s = summary(times["plain"]), summary(times["hooked"])
    return {"plain": plain_s, "hooked": hooked_s, "ratio_p50": round(hooked_s["p50"] / plain_s["p50"], 3)}


def main():
    env = Env()
    try:
        report = {"hook_ms": hook_latency(env), "runc_run_ms": runc_start(env)}
    finally:
        env.close()
    json.dump(report, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
