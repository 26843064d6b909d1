#!/usr/bin/env python3
"""Overhead of fnguard-runc per runtime call: the wrapper execs a stand-in
runc (/bin/true) so that only its own work is timed, against /bin/true run
directly. Two calls: a pass-through (`state ID`) and a `create` of an
annotated bundle, whose config.json the wrapper edits (first call) or
finds already edited (later calls). Prints a JSON report."""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from benchlib import ROOT

# make build links this one statically, as make install installs it.
WRAPPER = os.path.join(ROOT, "target/x86_64-unknown-linux-gnu/release/fnguard-runc")
RUNS = int(os.environ.get("BENCH_WRAPPER_RUNS", "200"))


def timed(cmd, env):
    start = time.perf_counter_ns()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    return (time.perf_counter_ns() - start) / 1e6


def main():
    work = tempfile.mkdtemp(prefix="fnguard-bench-wrapper-")
    try:
        bundle = os.path.join(work, "bundle")
        os.makedirs(bundle)
        config = {"ociVersion": "1.0.2", "process": {"args": ["/fn"]},
                  "annotations": {"fnguard.io/egress": "none"}}
        with open(os.path.join(bundle, "config.json"), "w") as f:
            json.dump(config, f)
        env = dict(os.environ, FNGUARD_RUNC="/bin/true", FNGUARD_HOOK_BINARY="/usr/local/bin/fnguard")
        subprocess.run([WRAPPER, "create", "--bundle", bundle, "x"], env=env, check=True)
        with open(os.path.join(bundle, "config.json")) as f:
            if "createRuntime" not in f.read():
                sys.exit("the wrapper did not add the hooks")
        samples = {"direct": [], "pass-through": [], "create": []}
        for _ in range(RUNS):
            samples["direct"].append(timed(["/bin/true", "state", "x"], env))
            samples["pass-through"].append(timed([WRAPPER, "--root", "/run/runc", "state", "x"], env))
            samples["create"].append(timed([WRAPPER, "--root", "/run/runc", "create", "--bundle", bundle, "x"], env))
        med = {k: statistics.median(v) for k, v in samples.items()}
        report = {k: {"n": len(v), "min": round(min(v), 3), "median": round(med[k], 3), "max": round(max(v), 3)}
                  for k, v in samples.items()}
        report["overhead_ms"] = {k: round(med[k] - med["direct"], 3) for k in ("pass-through", "create")}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    json.dump(report, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
