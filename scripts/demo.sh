#!/usr/bin/env bash
# Runs a function container under runc with an egress policy in its
# annotations and shows what fnguard allowed, denied and reported; then a
# second one past its memory limit.
set -euo pipefail
cd "$(dirname "$0")/.."

FNGUARD=$PWD/target/release/fnguard
PAYLOAD=$PWD/target/x86_64-unknown-linux-gnu/release/fnguard-payload
POLICY="127.0.0.2/32:8080/tcp"
ID="fnguard-demo-$$"
WORK=$(mktemp -d)
BUNDLE=$WORK/bundle
RUNC_ROOT=$WORK/runc
PEER_PIDS=()

bold() { printf '\n\033[1m%s\033[0m\n' "$*"; }
cleanup() {
  [ -n "${EVENTS_PID:-}" ] && kill "$EVENTS_PID" 2>/dev/null || true
  [ "${#PEER_PIDS[@]}" -gt 0 ] && kill "${PEER_PIDS[@]}" 2>/dev/null || true
  runc --root "$RUNC_ROOT" delete --force "$ID" >/dev/null 2>&1 || true
  runc --root "$RUNC_ROOT" delete --force "$ID-hog" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

bold "1. A function bundle: busybox-static rootfs, annotations fnguard.io/egress=\"$POLICY\" and fnguard.io/files.deny=\"/etc/secret\""
mkdir -p "$BUNDLE/rootfs/bin" "$BUNDLE/rootfs/shared" "$BUNDLE/rootfs/etc" "$WORK/shared"
echo "DEMO-SECRET-TOKEN" > "$BUNDLE/rootfs/etc/secret"
cp /bin/busybox "$BUNDLE/rootfs/bin/busybox"
ln -s busybox "$BUNDLE/rootfs/bin/sh"
cp "$PAYLOAD" "$BUNDLE/rootfs/fnguard-payload"
python3 - "$BUNDLE" "$FNGUARD" "$POLICY" "$WORK/shared" <<'PY'
import json, sys
bundle, fnguard, policy, shared = sys.argv[1:]
config = json.load(open("test-bundles/function/config.json"))
config["process"]["args"] = ["/fnguard-payload", "tcp=127.0.0.2:8080", "tcp=127.0.0.3:8080",
                             "exec=/bin/sh:-c:true", "touch=/shared/ran", "wait=/shared/go", "cat=/etc/secret"]
config["annotations"] = {"fnguard.io/egress": policy, "fnguard.io/function": "demo-hello",
                         "fnguard.io/files.deny": "/etc/secret"}
config["mounts"].append({"destination": "/shared", "type": "bind", "source": shared, "options": ["rbind", "rw"]})
hook = lambda stage: {"path": fnguard, "args": ["fnguard", "hook", stage], "timeout": 10}
config["hooks"] = {"createRuntime": [hook("createRuntime")], "poststop": [hook("poststop")]}
json.dump(config, open(f"{bundle}/config.json", "w"), indent=2)
PY
echo "   $BUNDLE/config.json hooks: createRuntime and poststop run $FNGUARD"

bold "2. A peer on the host listens on 127.0.0.2:8080 and on 127.0.0.3:8080"
"$PAYLOAD" listen=127.0.0.2:8080 >/dev/null &
PEER_PIDS+=($!)
"$PAYLOAD" listen=127.0.0.3:8080 >/dev/null &
PEER_PIDS+=($!)
sleep 0.2

"$FNGUARD" events > "$WORK/events.log" 2>&1 &
EVENTS_PID=$!

bold "3. runc run: the function connects to both, then starts a shell"
runc --root "$RUNC_ROOT" run --bundle "$BUNDLE" "$ID" > "$WORK/out.log" 2>&1 &
RUN_PID=$!
for _ in $(seq 200); do [ -e "$WORK/shared/ran" ] && break; sleep 0.05; done
sed 's/^/   function: /' "$WORK/out.log"
grep -q "tcp=127.0.0.2:8080 ok" "$WORK/out.log" || { echo "demo: the allowed connect did not succeed" >&2; exit 1; }
grep -q "tcp=127.0.0.3:8080 EPERM" "$WORK/out.log" || { echo "demo: the denied connect was not stopped" >&2; exit 1; }
echo "   -> 127.0.0.2:8080 is allowed by the policy; 127.0.0.3:8080 failed with EPERM in the kernel"
echo "   -> the shell ran (detection rules alert unless fnguard.io/rules.kill names them)"

bold "4. fnguard status and fnguard top while the function runs"
"$FNGUARD" status | sed 's/^/   /'
"$FNGUARD" top --iterations 1 | sed 's/\x1b\[[0-9;]*[HJ]//g; s/^/   /'

bold "5. The function now reads /etc/secret"
touch "$WORK/shared/go"
status=0
wait "$RUN_PID" || status=$?
echo "   runc run exited with $status (137: killed by SIGKILL)"
if grep -q DEMO-SECRET-TOKEN "$WORK/out.log"; then
  echo "demo: the secret reached the function's output" >&2
  exit 1
fi
[ "$status" -eq 137 ] || { echo "demo: the function was not stopped" >&2; exit 1; }
echo "   -> killed at the exit of openat, before it could read a byte: the secret never reached its output"

bold "5b. A second function with fnguard.io/limits.memory=\"32Mi\" allocates 256 MiB"
HOG="$WORK/hog"
mkdir -p "$HOG"
cp -r "$BUNDLE/rootfs" "$HOG/rootfs"
python3 - "$BUNDLE" "$HOG" <<'PY'
import json, sys
config = json.load(open(f"{sys.argv[1]}/config.json"))
config["process"]["args"] = ["/fnguard-payload", "alloc=256"]
config["annotations"] = {"fnguard.io/function": "demo-hog", "fnguard.io/limits.memory": "32Mi"}
config["mounts"] = [m for m in config["mounts"] if m["destination"] != "/shared"]
json.dump(config, open(f"{sys.argv[2]}/config.json", "w"), indent=2)
PY
status=0
runc --root "$RUNC_ROOT" run --bundle "$HOG" "$ID-hog" > "$WORK/hog.log" 2>&1 || status=$?
tail -1 "$WORK/hog.log" | sed 's/^/   function: /'
[ "$status" -eq 137 ] || { echo "demo: the memory hog was not stopped (exit $status)" >&2; exit 1; }
echo "   -> killed at 32 MiB of resident memory (runc run exited with $status)"

bold "6. fnguard events: what the kernel reported"
sleep 0.5
kill "$EVENTS_PID" 2>/dev/null || true
wait "$EVENTS_PID" 2>/dev/null || true
EVENTS_PID=
sed 's/^/   /' "$WORK/events.log"
grep -q "detection shell" "$WORK/events.log" || { echo "demo: the shell was not detected" >&2; exit 1; }
grep -q "limit memory (kill)" "$WORK/events.log" || { echo "demo: the memory limit was not reported" >&2; exit 1; }
echo "   -> the memory hog's limit event, and each container.stop with the resources it used"
echo "   -> the shell was reported by the built-in 'shell' rule (fnguard rules lists them all)"

bold "7. After the container stopped, poststop removed its links, map entries and record"
"$FNGUARD" status | sed 's/^/   /'
echo "   node objects stay pinned for the next function: $(ls -d /sys/fs/bpf/fnguard/*/)"

bold "8. fnguard gc on the now idle node (detaches the open monitor until the next function)"
"$FNGUARD" gc | sed 's/^/   /'
echo "   fnguard doctor says what this kernel offers:"
"$FNGUARD" doctor | sed 's/^/   /' || true
