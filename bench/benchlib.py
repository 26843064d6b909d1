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
