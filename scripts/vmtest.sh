#!/usr/bin/env bash
# Tests the BPF-LSM enforcement in a Debian kernel under qemu: this host's
# kernel refuses BPF-LSM programs, Debian's 6.1 cloud kernel runs them.
# Boots an initramfs holding busybox, fnguard and the test payload; inside,
# a function in a managed cgroup opens a denied file and execs a denied
# binary; both must fail with EPERM (not a kill), reported as bpf-lsm. A
# third is killed at its memory limit (that kernel's memory counters), a
# fourth at its CPU limit.
set -euo pipefail
cd "$(dirname "$0")/.."

KERNEL_PKG=linux-image-6.1.0-50-cloud-amd64-unsigned
CACHE=${FNGUARD_VM_CACHE:-target/vm}
FNGUARD=$PWD/target/release/fnguard
PAYLOAD=$PWD/target/x86_64-unknown-linux-gnu/release/fnguard-payload

for tool in qemu-system-x86_64 cpio; do
  command -v "$tool" >/dev/null || { echo "vmtest: $tool is missing (make deps installs it)" >&2; exit 1; }
done
mkdir -p "$CACHE"
kernel=$(ls "$CACHE"/x/boot/vmlinuz-* 2>/dev/null | head -1 || true)
if [ -z "$kernel" ]; then
  echo "vmtest: fetching $KERNEL_PKG from Debian"
  (cd "$CACHE" && { apt-get download -q "$KERNEL_PKG" >/dev/null 2>&1 \
     || { apt-get update -qq && apt-get download -q "$KERNEL_PKG" >/dev/null; }; } && dpkg -x "$KERNEL_PKG"_*.deb x)
  kernel=$(ls "$CACHE"/x/boot/vmlinuz-* | head -1)
fi

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,proc,sys,dev,tmp,etc,opt,bundle}
cp /bin/busybox "$root/bin/busybox"
cp "$FNGUARD" "$root/fnguard"
cp "$PAYLOAD" "$root/payload"
cp "$PAYLOAD" "$root/opt/tool"
# fnguard is linked against the host's C library, libelf and zlib.
for lib in $(ldd "$FNGUARD" | grep -o '/[^ ]*'); do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
echo "VM-SECRET-CONTENT" > "$root/etc/secret"
echo "motd" > "$root/etc/motd"
echo "root:VM-SHADOW:19000::::::" > "$root/etc/shadow"
cat > "$root/bundle/config.json" <<'JSON'
{"ociVersion": "1.0.2", "root": {"path": "/"},
 "annotations": {"fnguard.io/files.deny": "/etc/secret", "fnguard.io/exec": "/payload, /bin/busybox",
                 "fnguard.io/function": "vm-fn", "fnguard.io/sockets": "inet, inet6"}}
JSON
mkdir -p "$root/bundle-audit"
cat > "$root/bundle-audit/config.json" <<'JSON'
{"ociVersion": "1.0.2", "root": {"path": "/"},
 "annotations": {"fnguard.io/files.deny": "/etc/secret", "fnguard.io/mode": "audit"}}
JSON
mkdir -p "$root/bundle-limits"
cat > "$root/bundle-limits/config.json" <<'JSON'
{"ociVersion": "1.0.2", "root": {"path": "/"},
 "annotations": {"fnguard.io/limits.memory": "32Mi"}}
JSON
mkdir -p "$root/bundle-cpu"
cat > "$root/bundle-cpu/config.json" <<'JSON'
{"ociVersion": "1.0.2", "root": {"path": "/"},
 "annotations": {"fnguard.io/limits.cpu-ms": "300"}}
JSON
cat > "$root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
mount -t bpf bpf /sys/fs/bpf
mount -t securityfs none /sys/kernel/security
mount -t cgroup2 none /sys/fs/cgroup
echo "vmtest: lsm=$(cat /sys/kernel/security/lsm)"
# start NAME BUNDLE STEPS...: a function in its own cgroup, managed by the
# createRuntime hook before it execs the payload.
start() {
  name=$1 bundle=$2
  shift 2
  mkdir /sys/fs/cgroup/$name
  sh -c "echo \$\$ > /sys/fs/cgroup/$name/cgroup.procs; while [ ! -e /tmp/go ]; do sleep 0.1; done; exec /payload $*" \
    > /tmp/$name.out 2>&1 &
  pid=$!
  sleep 1
  echo "{\"ociVersion\":\"1.0.2\",\"id\":\"$name\",\"status\":\"creating\",\"pid\":$pid,\"bundle\":\"$bundle\"}" \
    | FNGUARD_LOG=info /fnguard hook createRuntime 2>&1 | grep -v '^libbpf' | sed "s/^/vmtest: hook $name: /"
}
start vm /bundle cat=/etc/secret exec=/opt/tool:touch=/tmp/tool-ran socket=1:1 cat=/etc/motd
fn=$pid
start audit /bundle-audit cat=/etc/secret attack=keyring attack=secret-read
audit=$pid
start limits /bundle-limits alloc=256
limits=$pid
start cpu /bundle-cpu burn-cpu=3000
cpu=$pid
/fnguard status | sed 's/^/vmtest: status: /'
/fnguard doctor | sed 's/^/vmtest: doctor: /'
ls /sys/fs/bpf/fnguard/*/links/global | sed 's/^/vmtest: global-link: /'
touch /tmp/go
wait $fn
echo "vmtest: fn-exit=$?"
wait $audit
wait $limits
echo "vmtest: limits-exit=$?"
wait $cpu
echo "vmtest: cpu-exit=$?"
sed 's/^/vmtest: cpu-fn: /' /tmp/cpu.out | tail -2
sed 's/^/vmtest: fn: /' /tmp/vm.out
sed 's/^/vmtest: audit-fn: /' /tmp/audit.out
[ -e /tmp/tool-ran ] && echo "vmtest: the denied binary ran"
/fnguard events --once --json | sed 's/^/vmtest: event: /'
echo "vmtest: done"
poweroff -f
INIT
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet) > "$CACHE/initramfs.cpio"

echo "vmtest: booting $(basename "$kernel") under qemu (software emulation)"
log="$CACHE/console.log"
timeout 300 qemu-system-x86_64 -accel tcg -m 1024 -nographic -no-reboot \
  -kernel "$kernel" -initrd "$CACHE/initramfs.cpio" \
  -append "console=ttyS0 panic=-1 quiet lsm=lockdown,yama,bpf" > "$log" 2>&1 || true
grep '^vmtest:' "$log" | tr -d '\r'

failed=0
check() {
  if grep -q -- "$2" "$log"; then echo "ok   - $1"; else echo "FAIL - $1"; failed=$((failed + 1)); fi
}
check "the kernel runs BPF LSM programs" 'vmtest: lsm=.*bpf'
check "fnguard chose BPF-LSM" 'stopped by bpf-lsm'
check "the denied open failed with EPERM" 'vmtest: fn: cat=/etc/secret EPERM'
check "the denied exec failed with EPERM" 'vmtest: fn: exec=/opt/tool:touch=/tmp/tool-ran EPERM'
check "the function went on and read an allowed file" 'vmtest: fn: cat=/etc/motd ok'
check "the function exited normally" 'vmtest: fn-exit=0'
check "the open was reported as stopped by bpf-lsm" '"verdict":"denied","mechanism":"bpf-lsm","rule":"files.deny","path":"/etc/secret"'
check "the exec was reported as stopped by bpf-lsm" '"verdict":"denied","mechanism":"bpf-lsm","rule":"exec","path":"/opt/tool"'
check "allowed opens are reported from file_open" '"verdict":"allowed","mechanism":"none","rule":"none","path":"/etc/motd","path_truncated":false,"access":"read","syscall":"openat","fd":-1'
check "opens are watched by the LSM program" 'vmtest: global-link: fng_lsm_file_open'
check "system call detection rules run beside BPF-LSM" '"container":"audit".*"kind":"detection".*"rule":"keyring"'
check "an unlisted socket family failed with EPERM" 'vmtest: fn: socket=1:1 EPERM'
check "the socket was reported as stopped by bpf-lsm" '"kind":"net.socket".*"verdict":"denied","mechanism":"bpf-lsm","rule":"sockets".*"family":"unix"'
check "open detection rules run in the LSM program" '"container":"audit".*"kind":"detection".*"rule":"secret-read".*"path":"/etc/shadow"'
if [ "$(grep -c '"kind":"file.open".*"path":"/etc/motd"' "$log")" != 1 ]; then
  echo "FAIL - an open was not reported exactly once (LSM and syscall exit both reporting?)"; failed=$((failed + 1))
fi
check "audit mode lets the open through" 'vmtest: audit-fn: cat=/etc/secret ok'
check "audit mode reports it" '"container":"audit".*"verdict":"audited","mechanism":"none","rule":"files.deny","path":"/etc/secret"'
check "a memory limit kills on 6.1 (memory counters before per-CPU counting)" 'vmtest: limits-exit=137'
check "a CPU limit kills on 6.1 (perf cpu-clock sampling, task storage)" 'vmtest: cpu-exit=137'
check "the memory limit was reported" '"container":"limits".*"kind":"limit".*"verdict":"denied","mechanism":"sigkill","rule":"memory".*"action":"kill","value":33554432'
if grep -q 'vmtest: fn: VM-SECRET-CONTENT' "$log" || grep -q 'the denied binary ran' "$log"; then
  echo "FAIL - a denied file or binary was used"; failed=$((failed + 1))
fi
echo "vmtest: $((19 - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
