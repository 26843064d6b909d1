/* Resource use and limits per function, shared with user space
 * (bpf/src/layout.rs and bpf/src/events.rs mirror them). */
#ifndef FNGUARD_USAGE_H
#define FNGUARD_USAGE_H

#include "events.h"

/* Limits a function may set; ids and names in policy/src/limits.rs. */
enum fng_limit {
	FNG_LIMIT_PROCS = 0,		   /* live tasks */
	FNG_LIMIT_FORKS_PER_SEC = 1,
	FNG_LIMIT_CPU = 2,		   /* CPU time, ns */
	FNG_LIMIT_MEMORY = 3,		   /* resident bytes of its processes */
	FNG_LIMIT_CONNECTIONS = 4,	   /* open TCP connections */
	FNG_LIMIT_CONNECTIONS_PER_SEC = 5, /* outbound connects per second */
	FNG_LIMIT_EGRESS_BYTES = 6,
	FNG_LIMIT_INGRESS_BYTES = 7,
	FNG_LIMIT_EGRESS_RATE = 8,	   /* bytes per second */
	FNG_LIMIT_COUNT = 9,
};

/* What happens past a limit. */
enum fng_limit_action {
	FNG_ACT_NONE = 0,     /* no limit set */
	FNG_ACT_ALERT = 1,    /* report once */
	FNG_ACT_KILL = 2,     /* terminate the function */
	FNG_ACT_THROTTLE = 3, /* refuse the connection, drop the packet */
};

/* Per managed function, keyed by its container's cgroup id. Limits and
 * init_pid are written by the hook, the rest by the programs. */
struct fng_usage {
	__u64 limit[FNG_LIMIT_COUNT];	/* 0: none */
	__u8 action[FNG_LIMIT_COUNT + 7]; /* enum fng_limit_action per limit */
	__u32 init_pid;			/* host pid of the container's first process */
	__u32 pad;
	__u64 reported;			/* bit per limit: its event was sent */
	__s64 tasks;			/* live tasks (threads included) */
	__u64 tasks_peak;
	__u64 forks;			/* tasks created, threads included */
	__u64 cpu_ns;
	__s64 rss_bytes;		/* resident memory of its processes now */
	__u64 rss_peak;
	__s64 connections;		/* TCP connections open now, both directions */
	__u64 connections_peak;
	__u64 connects;			/* TCP connections established, both directions */
	__u64 tx_bytes;			/* TCP/UDP payload sent (IP payload for other protocols) */
	__u64 rx_bytes;
	__u64 tx_packets;
	__u64 rx_packets;
	__u64 tx_dropped;		/* bytes dropped by the egress total or rate */
	__u64 rx_dropped;		/* bytes dropped by the ingress total */
	__u64 connects_refused;		/* connects refused by a connection limit */
	__u64 fork_window_ns;		/* forks-per-sec: current one-second window */
	__u64 fork_window_count;
	__u64 connect_window_ns;	/* connections-per-sec: current window */
	__u64 connect_window_count;
	__s64 rate_tokens;		/* egress-rate: bytes that may leave now */
	__u64 rate_refill_ns;		/* when the tokens were last refilled */
};

/* A process of a managed function and its resident memory, keyed by tgid. */
struct fng_proc_rss {
	__u64 owner; /* the function's cgroup id */
	__s64 bytes;
};

/* A limit was crossed. */
struct fng_limit_event {
	struct fng_event_header hdr;
	__u32 limit;	/* enum fng_limit */
	__u32 action;	/* enum fng_limit_action */
	__u64 value;	/* the limit */
	__u64 observed; /* what the function reached */
};

/* Sent when a managed cgroup is removed: the container's totals. */
struct fng_cgroup_gone_event {
	struct fng_event_header hdr;
	struct fng_cg_stats stats;
	struct fng_usage usage;
};

#endif
