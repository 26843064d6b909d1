#!/usr/bin/env python3
"""Starting per-container monitoring: fnguard's createRuntime hook against
starting bpftrace with a per-cgroup script, and against starting BCC's
tools (the libbpf-tools builds Debian packages: execsnoop with its cgroup
filter, opensnoop filtered on the container's process; tcpconnect needs
kprobes, which this kernel lacks), for a container's cgroup.

bpftrace: from launch until it prints that its probes are attached, for a
script comparable to what fnguard watches for a function (execs, opens and
connects of that cgroup). fnguard: the warm createRuntime hook for the same
cgroup (objects already pinned), which attaches its programs and writes the
policy. BCC: from launching the two tools at once until each has printed
its header (printed once its probes are attached). Runs alternate. Each
bpftrace run checks the attach line, each BCC run the three headers; each
hook run checks that the cgroup's links were pinned. Prints a JSON report.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from benchlib import cgroup2_mount, min_median_max, remove_quietly, run_hook, start_in_cgroup, stop_tracer

PIN_ROOT = "/sys/fs/bpf/fnguard-bench-attach"
RUNS = int(os.environ.get("BENCH_ATTACH_RUNS", "10"))


def bpftrace_attach_ms(cgroup):
    program = (
        f'tracepoint:syscalls:sys_enter_execve /cgroup == cgroupid("{cgroup}")/ {{ printf("%s\\n", str(args->filename)); }} '
        f'tracepoint:syscalls:sys_enter_openat /cgroup == cgroupid("{cgroup}")/ {{ printf("%s\\n", str(args->filename)); }} '
        f'tracepoint:syscalls:sys_enter_connect /cgroup == cgroupid("{cgroup}")/ {{ printf("connect\\n"); }}'
    )
    start = time.perf_counter_ns()
    tracer = subprocess.Popen(["bpftrace", "-B", "line", "-e", program], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = []
    while True:
        line = tracer.stdout.readline()
        seen.append(line)
        if "Attaching" in line:
            elapsed = (time.perf_counter_ns() - start) / 1e6
            break
        if not line:
            sys.exit(f"bpftrace did not attach: {''.join(seen)}")
    stop_tracer(tracer)
    return elapsed


BCC_TOOLS = ("execsnoop", "opensnoop")


def bcc_attach_ms(cgroup, pid):
    """Until execsnoop and opensnoop, launched together for the container,
    have both printed their headers (line-buffered: they write to a pipe)."""
    commands = [["stdbuf", "-oL", "execsnoop", "-c", cgroup], ["stdbuf", "-oL", "opensnoop", "-p", str(pid)]]
    start = time.perf_counter_ns()
    tools = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for c in commands]
    try:
        for command, tool in zip(commands, tools):
            line = tool.stdout.readline()
            if "PID" not in line:
                sys.exit(f"{command[2]} printed no header: {line!r}{tool.stdout.read()[:300]!r}")
        return (time.perf_counter_ns() - start) / 1e6
    finally:
        for tool in tools:
            stop_tracer(tool)


def main():
    if not shutil.which("bpftrace"):
        sys.exit("bpftrace is missing: apt-get install bpftrace")
    work = tempfile.mkdtemp(prefix="fnguard-bench-attach-")
    cg_root = os.path.join(cgroup2_mount(), "fnguard-bench-attach")
    env = dict(os.environ, FNGUARD_PIN_ROOT=PIN_ROOT, FNGUARD_RUN_DIR=os.path.join(work, "run"))
    bundle = os.path.join(work, "bundle")
    os.makedirs(bundle)
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump({"ociVersion": "1.0.2", "annotations": {"fnguard.io/egress": "127.0.0.1/32",
                                                          "fnguard.io/files.deny": "/etc/secret"}}, f)
    bcc = all(shutil.which(t) for t in BCC_TOOLS)
    if not bcc:
        print("bench: BCC's libbpf-tools are missing (apt-get install libbpf-tools): no BCC figure", file=sys.stderr)
    samples = {"bpftrace": [], "fnguard": []} | ({"bcc": []} if bcc else {})
    try:
        for i in range(RUNS + 1):
            cg = os.path.join(cg_root, f"fn-{i}")
            os.makedirs(cg, exist_ok=True)
            proc = start_in_cgroup(cg, "exec sleep 600")
            samples["bpftrace"].append(bpftrace_attach_ms(cg))
            if bcc:
                samples["bcc"].append(bcc_attach_ms(cg, proc.pid))
            start = time.perf_counter_ns()
            run_hook(env, "createRuntime", {"ociVersion": "1.0.2", "id": f"fn-{i}", "status": "creating",
                                            "pid": proc.pid, "bundle": bundle})
            hook_ms = (time.perf_counter_ns() - start) / 1e6
            cgid = os.stat(cg).st_ino
            if not any(os.path.isdir(os.path.join(PIN_ROOT, a, "links", str(cgid))) for a in os.listdir(PIN_ROOT)):
                sys.exit(f"no links pinned for cgroup {cgid}")
            if i > 0:  # the first hook loads the node's objects
                samples["fnguard"].append(hook_ms)
            proc.kill()
            proc.wait()
            run_hook(env, "poststop", {"ociVersion": "1.0.2", "id": f"fn-{i}", "status": "stopped", "bundle": bundle})
            os.rmdir(cg)
        samples["bpftrace"] = samples["bpftrace"][1:]
        if bcc:
            samples["bcc"] = samples["bcc"][1:]
    finally:
        remove_quietly(PIN_ROOT, work, [cg_root])
    report = {name: min_median_max(s, 2) for name, s in samples.items()}
    report["ratio_median"] = round(report["bpftrace"]["median"] / report["fnguard"]["median"], 1)
    if bcc:
        report["bcc_ratio_median"] = round(report["bcc"]["median"] / report["fnguard"]["median"], 1)
    json.dump(report, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
