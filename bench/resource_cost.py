#!/usr/bin/env python3
"""What resource accounting and limits cost: loopback throughput (TCP bulk
and small UDP datagrams) with and without byte accounting and the egress
rate bucket; a CPU-bound, an allocation-heavy and a context-switch-heavy
(pipe ping-pong pinned to one CPU) workload with and without CPU, memory
and task accounting.

Scenarios, each run REPEATS times, interleaved:
- not-loaded: no fnguard objects on the node (nothing attached);
- unmanaged: fnguard loaded (its node-wide fork, exit, CPU, memory and TCP
  state programs attached), the workload in a cgroup fnguard does not manage;
- managed: the workload in a managed cgroup with limits set far above its
  use (everything counted, nothing stopped);
- managed-rate (network only): also an egress-rate set to alert far above
  the traffic, so every packet goes through the rate bucket.

With kernel.bpf_stats_enabled the programs' own time per run is read from
the kernel (run_time_ns / run_cnt) during the managed runs. Each managed run
checks what fnguard counted (bytes sent, CPU, faults' memory) before its
figure is kept. Prints a JSON report.
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

from benchlib import FNGUARD, PAYLOAD, cgroup2_mount, min_median_max, remove_quietly, run_hook, start_in_cgroup

PIN_ROOT = "/sys/fs/bpf/fnguard-bench-resources"
REPEATS = int(os.environ.get("BENCH_REPEATS", "5"))
SPIN = int(os.environ.get("BENCH_SPIN", "400000000"))
CHURN = os.environ.get("BENCH_CHURN", "64:20")
PINGPONG = int(os.environ.get("BENCH_PINGPONG", "200000"))
NET_SECS = float(os.environ.get("BENCH_NET_SECS", "2"))
LIMITS = {
    "fnguard.io/limits.procs": "1000 alert",
    "fnguard.io/limits.cpu-ms": "1h alert",
    "fnguard.io/limits.memory": "64Gi alert",
    "fnguard.io/limits.egress-bytes": "1Ti alert",
    "fnguard.io/limits.ingress-bytes": "1Ti alert",
}
PROGRAMS = ("fng_egress", "fng_ingress", "fng_cpu_tick", "fng_rss")


def figure(output, prefix, field):
    for line in output.splitlines():
        if line.startswith(prefix + " "):
            return float(dict(f.split("=", 1) for f in line.split()[1:])[field])
    sys.exit(f"payload printed no {prefix}: {output!r}")


def prog_stats():
    """run_cnt and run_time_ns of fnguard's pinned programs."""
    stats = {}
    for name in PROGRAMS:
        paths = [os.path.join(PIN_ROOT, abi, "progs", name) for abi in os.listdir(PIN_ROOT)]
        path = next((p for p in paths if os.path.exists(p)), None)
        if not path:
            continue
        info = json.loads(subprocess.run(["bpftool", "prog", "show", "pinned", path, "-j"],
                                         capture_output=True, check=True).stdout)
        stats[name] = (info.get("run_cnt", 0), info.get("run_time_ns", 0))
    return stats


class Bench:
    def __init__(self):
        self.work = tempfile.mkdtemp(prefix="fnguard-bench-res-")
        self.cg = os.path.join(cgroup2_mount(), "fnguard-bench-resources")
        self.env = dict(os.environ, FNGUARD_PIN_ROOT=PIN_ROOT, FNGUARD_RUN_DIR=os.path.join(self.work, "run"))
        self.bundles = {}
        for name, extra in (("managed", {}), ("managed-rate", {"fnguard.io/limits.egress-rate": "1Ti/s alert"})):
            bundle = os.path.join(self.work, name)
            os.makedirs(os.path.join(bundle, "rootfs"))
            with open(os.path.join(bundle, "config.json"), "w") as f:
                json.dump({"ociVersion": "1.0.2", "annotations": dict(LIMITS, **extra)}, f)
            self.bundles[name] = bundle
        self.program_ns = {name: [] for name in PROGRAMS}

    def cgroup(self, name):
        path = os.path.join(self.cg, name)
        os.makedirs(path, exist_ok=True)
        return path

    def load(self):
        """Loads fnguard's objects by managing (and releasing) a sleeper."""
        proc = start_in_cgroup(self.cgroup("loader"), "exec sleep 600")
        run_hook(self.env, "createRuntime", {"ociVersion": "1.0.2", "id": "loader", "status": "creating",
                                             "pid": proc.pid, "bundle": self.bundles["managed"]})
        proc.kill()
        proc.wait()
        subprocess.run([FNGUARD, "hook", "poststop"], env=self.env, check=True,
                       input=json.dumps({"id": "loader", "bundle": self.bundles["managed"]}).encode())
        subprocess.run([FNGUARD, "gc"], env=self.env, check=True, capture_output=True)

    def run(self, scenario, step):
        """Runs the payload with one step in the scenario's cgroup; returns
        its output and, when managed, what fnguard counted."""
        if scenario == "not-loaded":
            remove_quietly(PIN_ROOT, "/nonexistent", [])
        elif not os.path.exists(PIN_ROOT):
            self.load()
        managed = scenario.startswith("managed")
        go = os.path.join(self.work, f"go-{time.monotonic_ns()}")
        pin = "taskset -c 0 " if step.startswith("pingpong") else ""
        script = f"while [ ! -e {go} ]; do sleep 0.01; done; exec {pin}{PAYLOAD} {step}"
        proc = start_in_cgroup(self.cgroup(scenario), script, stdout=subprocess.PIPE, text=True)
        if managed:
            run_hook(self.env, "createRuntime", {"ociVersion": "1.0.2", "id": "bench", "status": "creating",
                                                 "pid": proc.pid, "bundle": self.bundles[scenario]})
            before = prog_stats()
        open(go, "w").close()
        output, _ = proc.communicate()
        usage = None
        if managed:
            after = prog_stats()
            for name, (cnt, ns) in after.items():
                runs = cnt - before.get(name, (0, 0))[0]
                if runs > 0:
                    self.program_ns[name].append((ns - before[name][1]) / runs)
            top = json.loads(subprocess.run([FNGUARD, "top", "--json"], env=self.env,
                                            capture_output=True, check=True).stdout)
            usage = top[0]["usage"]
            subprocess.run([FNGUARD, "hook", "poststop"], env=self.env, check=True,
                           input=json.dumps({"id": "bench", "bundle": self.bundles[scenario]}).encode())
        return output, usage

    def close(self):
        names = ("loader", "not-loaded", "unmanaged", "managed", "managed-rate")
        remove_quietly(PIN_ROOT, self.work, [os.path.join(self.cg, n) for n in names] + [self.cg])


def sink(port_holder):
    """A TCP sink on 127.0.0.1 reading everything, in this process."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    port_holder.append(server.getsockname()[1])

    def drain(conn):
        while conn.recv(1 << 20):
            pass

    while True:
        conn, _ = server.accept()
        threading.Thread(target=drain, args=(conn,), daemon=True).start()


def main():
    with open("/proc/sys/kernel/bpf_stats_enabled") as f:
        stats_were = f.read().strip()
    with open("/proc/sys/kernel/bpf_stats_enabled", "w") as f:
        f.write("1")
    port = []
    threading.Thread(target=sink, args=(port,), daemon=True).start()
    while not port:
        time.sleep(0.01)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp_port = udp.getsockname()[1]
    b = Bench()
    samples = {}

    def add(key, value):
        samples.setdefault(key, []).append(value)

    try:
        scenarios = ("not-loaded", "unmanaged", "managed")
        for _ in range(REPEATS):
            for scenario in scenarios:
                out, usage = b.run(scenario, f"spin={SPIN}")
                add(("cpu", scenario), figure(out, "spin", "ns") / 1e6)
                if usage and usage["cpu_ns"] < figure(out, "spin", "ns") * 0.5:
                    sys.exit(f"fnguard counted {usage['cpu_ns']} ns of CPU for a spin of {out}")
                out, usage = b.run(scenario, f"alloc-churn={CHURN}")
                add(("alloc", scenario), figure(out, "alloc-churn", "ns") / 1e6)
                faults = figure(out, "alloc-churn", "faults")
                if usage and usage["rss_peak_bytes"] < int(CHURN.split(":")[0]) << 20:
                    sys.exit(f"fnguard's memory peak {usage['rss_peak_bytes']} is below one round's block")
                out, usage = b.run(scenario, f"pingpong={PINGPONG}")
                add(("switch", scenario), figure(out, "pingpong", "ns") / 1e3)
                if usage and usage["forks"] < 1:
                    sys.exit(f"fnguard counted no fork for the ping-pong: {usage}")
            for scenario in scenarios + ("managed-rate",):
                out, usage = b.run(scenario, f"stream-tcp=127.0.0.1:{port[0]}:{NET_SECS}")
                sent = figure(out, "stream-tcp", "sent")
                add(("tcp", scenario), sent / NET_SECS / 1e6)
                if usage and usage["tx_bytes"] < sent:
                    sys.exit(f"fnguard counted {usage['tx_bytes']} bytes sent of {sent}")
                out, usage = b.run(scenario, f"udp-flood=127.0.0.1:{udp_port}:{NET_SECS}:64")
                sent = figure(out, "udp-flood", "sent")
                add(("udp", scenario), sent / NET_SECS / 1e3)
                if usage and usage["tx_packets"] < sent:
                    sys.exit(f"fnguard counted {usage['tx_packets']} datagrams of {sent}")
    finally:
        b.close()
        with open("/proc/sys/kernel/bpf_stats_enabled", "w") as f:
            f.write(stats_were)
    report = {
        "cpu_ms": {s: min_median_max(v, 1) for (w, s), v in samples.items() if w == "cpu"},
        "alloc_ms": {s: min_median_max(v, 1) for (w, s), v in samples.items() if w == "alloc"},
        "pingpong_us": {s: min_median_max(v, 2) for (w, s), v in samples.items() if w == "switch"},
        "tcp_mb_per_s": {s: min_median_max(v, 0) for (w, s), v in samples.items() if w == "tcp"},
        "udp_kpps": {s: min_median_max(v, 1) for (w, s), v in samples.items() if w == "udp"},
        "program_ns_per_run": {n: min_median_max(v, 0) for n, v in b.program_ns.items() if v},
        "spin_rounds": SPIN,
        "churn": CHURN,
        "pingpong_round_trips": PINGPONG,
        "faults_per_churn": int(faults),
        "net_seconds": NET_SECS,
    }
    json.dump(report, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
