/* Maps shared by every fnguard object. The hook pins them once per node under
 * <pin root>/<abi>/maps/ and later objects reuse the pins. */
#ifndef FNGUARD_MAPS_H
#define FNGUARD_MAPS_H

#include "net.h"

#define FNG_MAX_CGROUPS 16384
#define FNG_MAX_PREFIXES 262144

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

/* cgroup id -> counters. Created zeroed by the hook, bumped by the programs
 * (never inserted by them, so a stopped container leaves nothing), read by
 * `fnguard status`. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FNG_MAX_CGROUPS);
	__type(key, __u64);
	__type(value, struct fng_cg_stats);
} fng_stats SEC(".maps");

/* Events for `fnguard events`, one ring for the node. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} fng_events SEC(".maps");

#endif
