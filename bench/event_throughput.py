#!/usr/bin/env python3
"""Event throughput: how many events per second reach `fnguard events --json`.

Managed functions in audit mode with a files.deny rule open a file in a
tight loop, so every open is judged and reported; the node's per-function
event budget is lifted (FNGUARD_EVENTS_PER_SEC) so that only the ring and
the reader limit the flow. The reader writes JSON lines to a file. Reported
per scenario: events produced (opens the kernel counted), events read,
events the ring had no room for (counted per function, never silent), and
the rate read. A second run keeps the default budget to show throttling.

Each run checks that what was read plus what was dropped or throttled
accounts for every open. Prints a JSON report on stdout.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from benchlib import FNGUARD, PAYLOAD, cgroup2_mount, remove_quietly, run_hook, start_in_cgroup

PIN_ROOT = "/sys/fs/bpf/fnguard-bench-events"
OPENS = int(os.environ.get("BENCH_EVENT_OPENS", "1000000"))


def scenario(functions, budget):
    work = tempfile.mkdtemp(prefix="fnguard-bench-events-")
    cg_root = os.path.join(cgroup2_mount(), "fnguard-bench-events")
    env = dict(os.environ, FNGUARD_PIN_ROOT=PIN_ROOT, FNGUARD_RUN_DIR=os.path.join(work, "run"))
    if budget:
        env["FNGUARD_EVENTS_PER_SEC"] = str(budget)
    bundle = os.path.join(work, "bundle")
    os.makedirs(bundle)
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump({"ociVersion": "1.0.2", "annotations": {
            "fnguard.io/mode": "audit", "fnguard.io/files.deny": "/nonexistent"}}, f)
    shutil.rmtree(PIN_ROOT, ignore_errors=True)
    output = os.path.join(work, "events.jsonl")
    procs, reader = [], None
    try:
        go = os.path.join(work, "go")
        for i in range(functions):
            cg = os.path.join(cg_root, f"fn-{i}")
            os.makedirs(cg, exist_ok=True)
            script = f"while [ ! -e {go} ]; do sleep 0.01; done; exec {PAYLOAD} flood=/etc/hostname:{OPENS}"
            proc = start_in_cgroup(cg, script, stdout=subprocess.DEVNULL)
            run_hook(env, "createRuntime", {"ociVersion": "1.0.2", "id": f"fn-{i}", "status": "creating",
                                            "pid": proc.pid, "bundle": bundle})
            procs.append((f"fn-{i}", cg, proc))
        reader = subprocess.Popen([FNGUARD, "events", "--json", "--output", output], env=env,
                                  stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        start = time.monotonic()
        open(go, "w").close()
        for _, _, proc in procs:
            proc.wait()
        produced_s = time.monotonic() - start
        status = json.loads(subprocess.run([FNGUARD, "status", "--json"], env=env, capture_output=True,
                                           check=True).stdout)
        time.sleep(1.0)
        reader.send_signal(signal.SIGTERM)
        reader.wait(timeout=30)
        read = 0
        with open(output) as f:
            for line in f:
                if '"kind":"file.open"' in line:
                    read += 1
        opens = sum(s["stats"]["opens"] for s in status)
        dropped = sum(s["stats"]["events_dropped"] for s in status)
        throttled = sum(s["stats"]["events_throttled"] for s in status)
        if opens < functions * OPENS:
            sys.exit(f"the kernel counted {opens} opens of {functions * OPENS}")
        if read + dropped + throttled < opens:
            sys.exit(f"{opens} opens but only {read} read, {dropped} dropped, {throttled} throttled")
        return {"functions": functions, "budget_per_function": budget or 20000, "opens": opens,
                "read": read, "dropped": dropped, "throttled": throttled,
                "seconds": round(produced_s, 3), "read_per_sec": round(read / produced_s)}
    finally:
        if reader and reader.poll() is None:
            reader.kill()
        for fid, cg, proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            subprocess.run([FNGUARD, "hook", "poststop"], input=json.dumps({"id": fid, "bundle": bundle}).encode(),
                           env=env, capture_output=True)
        remove_quietly(PIN_ROOT, work, [cg for _, cg, _ in procs] + [cg_root])


def main():
    report = {"opens_per_function": OPENS, "scenarios": [
        scenario(1, 10_000_000),
        scenario(2, 10_000_000),
        scenario(1, None),
    ]}
    json.dump(report, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
