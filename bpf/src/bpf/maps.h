/* Maps shared by every fnguard object. The first object loaded pins them
 * under <pin root>/<abi>/maps/; the others reuse the pins. */
#ifndef FNGUARD_MAPS_H
#define FNGUARD_MAPS_H

#include "net.h"
#include "files.h"
#include "usage.h"

#define FNG_MAX_CGROUPS 16384
#define FNG_MAX_PREFIXES 262144
#define FNG_MAX_PATH_RULES 262144 /* about 44 per function are detection paths */
#define FNG_MAX_PROCS 65536
#define FNG_SCRATCH_SIZE (4 * FNG_PATH_MAX)

/* cgroup id -> policy flags. Written by the hook at createRuntime, deleted at
 * poststop or gc. Absence means unmanaged: every program returns at once. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FNG_MAX_CGROUPS);
	__type(key, __u64);
	__type(value, struct fng_cg_policy);
} fng_policy SEC(".maps");

/* (cgroup id, IPv4 prefix) -> allowed ports. Written by the hook. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, FNG_MAX_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct fng_lpm_v4);
	__type(value, struct fng_egress_value);
} fng_egress_v4 SEC(".maps");

/* (cgroup id, IPv6 prefix) -> allowed ports. Written by the hook. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, FNG_MAX_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct fng_lpm_v6);
	__type(value, struct fng_egress_value);
} fng_egress_v6 SEC(".maps");

/* (cgroup id, IPv4 peer prefix) -> the function's local ports it may reach.
 * Written by the hook from fnguard.io/ingress. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, FNG_MAX_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct fng_lpm_v4);
	__type(value, struct fng_egress_value);
} fng_ingress_v4 SEC(".maps");

/* (cgroup id, IPv6 peer prefix) -> the function's local ports it may reach. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, FNG_MAX_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct fng_lpm_v6);
	__type(value, struct fng_egress_value);
} fng_ingress_v6 SEC(".maps");

/* (cgroup id, path prefix) -> read/write/exec verdicts. Written by the hook
 * from files.deny, files.read, files.write and exec. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, FNG_MAX_PATH_RULES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct fng_path_key);
	__type(value, struct fng_path_rule);
} fng_paths SEC(".maps");

/* (cgroup id, inode) of files that files.deny covers. Written by the hook. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FNG_MAX_PATH_RULES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct fng_inode_key);
	__type(value, __u8);
} fng_inodes SEC(".maps");

/* cgroup id -> bind and DNS policy, scan thresholds and scan window.
 * Allocated per entry: most nodes run far fewer functions than the maximum. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FNG_MAX_CGROUPS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, struct fng_net_policy);
} fng_net SEC(".maps");

/* cgroup id -> counters and event budget; see struct fng_cg_stats. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FNG_MAX_CGROUPS);
	__type(key, __u64);
	__type(value, struct fng_cg_stats);
} fng_stats SEC(".maps");

/* cgroup id -> resource limits and use; see struct fng_usage. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FNG_MAX_CGROUPS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, struct fng_usage);
} fng_usage SEC(".maps");

/* tgid -> resident memory of a process of a managed function, so that the
 * function's total follows each process's changes. Deleted at its exit. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FNG_MAX_PROCS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct fng_proc_rss);
} fng_procs SEC(".maps");

/* Node-wide state, one entry. */
struct fng_node {
	__u64 terminating; /* functions being terminated: their tasks die at their next system call */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fng_node);
} fng_node SEC(".maps");

/* Events for `fnguard events`, one ring for the node. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} fng_events SEC(".maps");

/* Per-CPU scratch: the path under construction, the lookup key and the
 * event being assembled; too large for the BPF stack. Never pinned. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, char[FNG_SCRATCH_SIZE]);
} fng_scratch SEC(".maps");

#endif
