#!/usr/bin/env python3
"""Cost of one openat (open + close) in a tight loop, in ns, with fnguard
and with a bpftrace script doing comparable per-cgroup tracing.

Scenarios, each run REPEATS times, interleaved:
- baseline: a process in a plain cgroup while no container is managed (from
  the second repetition on fnguard's objects are loaded, but `fnguard gc`
  has detached the syscall-exit program of the idle node);
- unmanaged: the same while another function is managed (the syscall-exit
  program runs for every syscall on the node and returns after one check);
- managed-audit: the process in a cgroup fnguard manages in audit mode with a
  files.deny rule, so every open is resolved to its path, judged and reported
  (within the event budget);
- bpftrace: bpftrace filtering on the same cgroup and counting opens by filename;
- bcc-opensnoop: BCC's opensnoop (the libbpf-tools build Debian packages; it
  has no cgroup filter, so it filters on the process), its output discarded;
- tracepoint-floor: bpftrace on raw_syscalls:sys_exit with a filter that never
  matches: what any program on the syscall exit path costs every task.

Each run checks that what it measured happened (opens counted by fnguard,
bpftrace attached) before its figure is kept. Prints a JSON report.
"""
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

from benchlib import (FNGUARD, PAYLOAD, cgroup2_mount, min_median_max, remove_quietly, run_hook, start_in_cgroup,
                      stop_tracer)

PIN_ROOT = "/sys/fs/bpf/fnguard-bench-syscall"
OPENS = int(os.environ.get("BENCH_OPENS", "1000000"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "5"))
TARGET = "/etc/hostname"


def parse_ns(output):
    """The payload's quickest chunk: the least disturbed figure of a run."""
    for line in output.splitlines():
        if line.startswith("bench-open "):
            fields = dict(f.split("=", 1) for f in line.split()[1:])
            return float(fields["best_chunk_ns"])
    sys.exit(f"payload printed no figure: {output!r}")


class Bench:
    def __init__(self):
        self.work = tempfile.mkdtemp(prefix="fnguard-bench-")
        self.cg = os.path.join(cgroup2_mount(), "fnguard-bench-syscall")
        self.env = dict(os.environ, FNGUARD_PIN_ROOT=PIN_ROOT, FNGUARD_RUN_DIR=os.path.join(self.work, "run"))
        self.bundle = os.path.join(self.work, "bundle")
        os.makedirs(os.path.join(self.bundle, "rootfs"))
        with open(os.path.join(self.bundle, "config.json"), "w") as f:
            json.dump({"ociVersion": "1.0.2", "annotations": {
                "fnguard.io/mode": "audit", "fnguard.io/files.deny": "/nonexistent"}}, f)

    def cgroup(self, name):
        path = os.path.join(self.cg, name)
        os.makedirs(path, exist_ok=True)
        return path

    def run_in(self, cgroup, managed=False):
        """Starts a shell in the cgroup that execs the payload once told to:
        fnguard judges a function from its first exec on."""
        go = os.path.join(self.work, f"go-{time.monotonic_ns()}")
        script = f'while [ ! -e {go} ]; do sleep 0.01; done; exec {PAYLOAD} bench-open={TARGET}:{OPENS}'
        proc = start_in_cgroup(cgroup, script, stdout=subprocess.PIPE, text=True)
        if managed:
            run_hook(self.env, "createRuntime",
                     {"ociVersion": "1.0.2", "id": "bench", "status": "creating", "pid": proc.pid, "bundle": self.bundle})
        open(go, "w").close()
        output, _ = proc.communicate()
        if managed:
            status = json.loads(subprocess.run([FNGUARD, "status", "--json"], env=self.env,
                                               capture_output=True, check=True).stdout)
            opens = status[0]["stats"]["opens"]
            subprocess.run([FNGUARD, "hook", "poststop"], env=self.env, check=True,
                           input=json.dumps({"id": "bench", "bundle": self.bundle}).encode())
            if opens < OPENS:
                sys.exit(f"fnguard counted {opens} opens of {OPENS}")
        return parse_ns(output)

    def bpftrace(self, cgroup, program=None, expect=TARGET):
        program = program or ("tracepoint:syscalls:sys_enter_openat /cgroup == cgroupid(\"%s\")/ "
                              "{ @opens[str(args->filename)] = count(); }" % cgroup)
        tracer = subprocess.Popen(["bpftrace", "-e", program], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
        seen = []
        while True:
            line = tracer.stdout.readline()
            seen.append(line)
            if "Attaching" in line:
                break
            if not line:
                sys.exit(f"bpftrace did not attach: {''.join(seen)}")
        try:
            ns = self.run_in(cgroup)
        finally:
            counted = stop_tracer(tracer)
        if expect not in counted:
            sys.exit(f"bpftrace printed no {expect!r}: {counted[-300:]}")
        return ns

    def opensnoop(self, cgroup):
        """The payload's opens under BCC's opensnoop, filtered on its pid."""
        go = os.path.join(self.work, f"go-{time.monotonic_ns()}")
        script = f'while [ ! -e {go} ]; do sleep 0.01; done; exec {PAYLOAD} bench-open={TARGET}:{OPENS}'
        proc = start_in_cgroup(cgroup, script, stdout=subprocess.PIPE, text=True)
        tracer = subprocess.Popen(["stdbuf", "-oL", "opensnoop", "-p", str(proc.pid)], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
        header = tracer.stdout.readline()
        if "PID" not in header:
            sys.exit(f"opensnoop did not attach: {header!r}")
        seen = []
        reader = threading.Thread(target=lambda: seen.extend(l for l in tracer.stdout if TARGET in l), daemon=True)
        reader.start()
        open(go, "w").close()
        output, _ = proc.communicate()
        tracer.terminate()
        tracer.wait()
        reader.join(timeout=10)
        if not seen:
            sys.exit("opensnoop reported no open of the target")
        return parse_ns(output)

    def managed_sleeper(self):
        """Another function, managed for as long as the returned handle lives."""
        proc = start_in_cgroup(self.cgroup("sleeper"), "exec sleep 600")
        run_hook(self.env, "createRuntime",
                 {"ociVersion": "1.0.2", "id": "sleeper", "status": "creating", "pid": proc.pid, "bundle": self.bundle})
        return proc

    def stop_sleeper(self, proc):
        proc.kill()
        proc.wait()
        subprocess.run([FNGUARD, "hook", "poststop"], env=self.env, check=True,
                       input=json.dumps({"id": "sleeper", "bundle": self.bundle}).encode())

    def close(self):
        children = [os.path.join(self.cg, name) for name in ("plain", "managed", "sleeper")]
        remove_quietly(PIN_ROOT, self.work, children + [self.cg])


def main():
    if not shutil.which("bpftrace"):
        sys.exit("bpftrace is missing: apt-get install bpftrace")
    # Another fnguard install's attached open monitor would slow every run alike.
    others = [p for p in glob.glob("/sys/fs/bpf/**/links/global/fng_sys_exit", recursive=True)
              if not p.startswith(PIN_ROOT)]
    if others:
        print(f"bench: other attached open monitors skew every figure: {others}", file=sys.stderr)
    b = Bench()
    try:
        plain, managed = b.cgroup("plain"), b.cgroup("managed")
        shutil.rmtree(PIN_ROOT, ignore_errors=True)
        bcc = shutil.which("opensnoop") is not None
        if not bcc:
            print("bench: BCC's opensnoop is missing (apt-get install libbpf-tools): no BCC figure", file=sys.stderr)
        samples = {"baseline": [], "unmanaged": [], "managed-audit": [], "bpftrace": [], "tracepoint-floor": []}
        if bcc:
            samples["bcc-opensnoop"] = []
        floor = "tracepoint:raw_syscalls:sys_exit /pid == 1/ { @floor = count(); }"
        # Every scenario in every repetition, so drift of this shared machine
        # hits them alike.
        for _ in range(REPEATS):
            # Idle node: gc detaches the open monitor the last run attached.
            subprocess.run([FNGUARD, "gc"], env=b.env, check=True, capture_output=True)
            samples["baseline"].append(b.run_in(plain))
            samples["bpftrace"].append(b.bpftrace(plain))
            if bcc:
                samples["bcc-opensnoop"].append(b.opensnoop(plain))
            samples["tracepoint-floor"].append(b.bpftrace(plain, floor, expect=""))  # attach was checked
            samples["managed-audit"].append(b.run_in(managed, managed=True))
            sleeper = b.managed_sleeper()
            try:
                samples["unmanaged"].append(b.run_in(plain))
            finally:
                b.stop_sleeper(sleeper)
        report = {name: min_median_max(s) for name, s in samples.items()}
        base = report["baseline"]["median"]
        report["overhead_ns"] = {name: round(report[name]["median"] - base, 1)
                                 for name in ("unmanaged", "managed-audit", "bpftrace", "bcc-opensnoop",
                                              "tracepoint-floor") if name in report}
        report["opens_per_run"] = OPENS
        report["other_open_monitors_attached"] = others
    finally:
        b.close()
    json.dump(report, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
