#!/usr/bin/env python3
"""Scale: 1, 10, 100 and 500 managed functions at once on one node.

At each level, the hook latency of one more function (createRuntime, then
its poststop) while that many are managed, and the kernel memory of the
node's maps (bpftool's bytes_memlock of every pinned map) against the same
node with no function managed: the increment per function. Each function
has an egress list and a files.deny entry, so it holds policy, counters,
network, egress-prefix and path-trie entries, and its cgroup links.

Each level checks that every function is managed (one policy entry per
cgroup) before it reports. Prints a JSON report on stdout.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

from benchlib import cgroup2_mount, percentile, remove_quietly, run_hook, start_in_cgroup

PIN_ROOT = "/sys/fs/bpf/fnguard-bench-scale"
LEVELS = [int(n) for n in os.environ.get("BENCH_SCALE_LEVELS", "1,10,100,500").split(",")]
PROBES = int(os.environ.get("BENCH_SCALE_PROBES", "20"))


class Node:
    def __init__(self):
        self.work = tempfile.mkdtemp(prefix="fnguard-bench-scale-")
        self.cg_root = os.path.join(cgroup2_mount(), "fnguard-bench-scale")
        os.makedirs(self.cg_root, exist_ok=True)
        self.bundle = os.path.join(self.work, "bundle")
        os.makedirs(self.bundle)
        with open(os.path.join(self.bundle, "config.json"), "w") as f:
            json.dump({"ociVersion": "1.0.2", "annotations": {
                "fnguard.io/egress": "10.0.0.0/8:443/tcp, 127.0.0.1/32",
                "fnguard.io/files.deny": "/etc/secret"}}, f)
        self.env = dict(os.environ, FNGUARD_PIN_ROOT=PIN_ROOT, FNGUARD_RUN_DIR=os.path.join(self.work, "run"))
        self.functions = []  # (id, cgroup dir, process)
        self.serial = 0

    def add(self):
        """Manages one more function; returns the createRuntime latency in ms."""
        self.serial += 1
        fid = f"fn-{self.serial}"
        cgroup = os.path.join(self.cg_root, fid)
        os.makedirs(cgroup)
        proc = start_in_cgroup(cgroup, "exec sleep 3600")
        state = {"ociVersion": "1.0.2", "id": fid, "status": "creating", "pid": proc.pid, "bundle": self.bundle}
        start = time.perf_counter_ns()
        run_hook(self.env, "createRuntime", state)
        elapsed = (time.perf_counter_ns() - start) / 1e6
        self.functions.append((fid, cgroup, proc))
        return elapsed

    def remove_last(self):
        fid, cgroup, proc = self.functions.pop()
        proc.kill()
        proc.wait()
        run_hook(self.env, "poststop", {"ociVersion": "1.0.2", "id": fid, "status": "stopped", "bundle": self.bundle})
        os.rmdir(cgroup)

    def pinned_maps(self):
        return [os.path.join(d, m) for d in [os.path.join(PIN_ROOT, a, "maps") for a in os.listdir(PIN_ROOT)]
                for m in os.listdir(d)]

    def map_memory(self):
        """bytes_memlock of each pinned map, by name."""
        sizes = {}
        for path in self.pinned_maps():
            out = subprocess.run(["bpftool", "map", "show", "pinned", path, "-j"], capture_output=True, check=True)
            info = json.loads(out.stdout)
            sizes[info["name"]] = info.get("bytes_memlock", 0)
        return sizes

    def managed_count(self):
        path = [p for p in self.pinned_maps() if p.endswith("/fng_policy")][0]
        out = subprocess.run(["bpftool", "map", "dump", "pinned", path, "-j"], capture_output=True, check=True)
        return len(json.loads(out.stdout))

    def close(self):
        while self.functions:
            try:
                self.remove_last()
            except SystemExit:
                pass
        remove_quietly(PIN_ROOT, self.work, [self.cg_root])


def main():
    node = Node()
    report = {"levels": [], "probes_per_level": PROBES}
    try:
        # The first function loads the objects; memory of an idle node is
        # measured with it removed again.
        node.add()
        node.remove_last()
        idle = node.map_memory()
        report["idle_node_map_bytes"] = sum(idle.values())
        for level in LEVELS:
            while len(node.functions) < level:
                node.add()
            managed = node.managed_count()
            if managed != level:
                sys.exit(f"{managed} functions managed, expected {level}")
            memory = node.map_memory()
            grown = {name: memory[name] - idle.get(name, 0) for name in memory if memory[name] != idle.get(name, 0)}
            probes = []
            for _ in range(PROBES):
                probes.append(node.add())
                node.remove_last()
            report["levels"].append({
                "functions": level,
                "create_p50_ms": round(percentile(probes, 0.5), 3),
                "create_p99_ms": round(percentile(probes, 0.99), 3),
                "map_bytes": sum(memory.values()),
                "map_bytes_per_function": round(sum(grown.values()) / level),
                "grown_maps": grown,
            })
        first, last = report["levels"][0], report["levels"][-1]
        report["p50_ratio_last_to_first"] = round(last["create_p50_ms"] / first["create_p50_ms"], 3)
    finally:
        node.close()
    json.dump(report, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
