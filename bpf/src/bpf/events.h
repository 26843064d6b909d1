/* Event records and the per-cgroup state shared with user space
 * (bpf/src/events.rs and bpf/src/layout.rs mirror them). */
#ifndef FNGUARD_EVENTS_H
#define FNGUARD_EVENTS_H

/* fng_cg_policy.flags */
#define FNG_F_EGRESS 1	    /* an egress allow list is set: deny what it does not list */
#define FNG_F_AUDIT 2	    /* report violations instead of stopping them */
#define FNG_F_EXEC 4	    /* an exec allow list is set */
#define FNG_F_FILES_READ 8  /* a files.read allow list is set */
#define FNG_F_FILES_WRITE 16 /* a files.write allow list is set */
#define FNG_F_PATHS 32	    /* some path rule exists: an unresolved path fails closed */
#define FNG_F_INODES 64	    /* denied files are also known by inode */

/* Keyed by cgroup id: the container's own cgroup, and any cgroup created
 * below it later (an alias with the same owner). */
struct fng_cg_policy {
	__u32 flags;
	__u32 pad;
	__u64 owner;	/* the container's cgroup id: the key of every other map */
};

/* Per managed cgroup. Created zeroed (but start_ns) by the hook, bumped by
 * the programs (never inserted by them), read by `fnguard status` and
 * reported once more when the cgroup is removed. */
struct fng_cg_stats {
	__u64 connect_allowed;
	__u64 connect_denied;
	__u64 connect_audited;
	__u64 sendmsg_allowed;
	__u64 sendmsg_denied;
	__u64 sendmsg_audited;
	__u64 events_dropped;	/* ring buffer full */
	__u64 execs;
	__u64 opens;
	__u64 exec_violations;
	__u64 open_violations;
	__u64 events_throttled; /* over the cgroup's event rate */
	__u64 start_ns;		/* CLOCK_MONOTONIC when the hook managed it */
	__s64 rate_tokens;	/* event budget left in this window */
	__u64 rate_window_ns;	/* start of the current window */
	__u64 window_throttled;	/* throttled in the current window, reported at its end */
	__u64 first_exec_ns;	/* the function's first exec; opens before it are the runtime's */
};

enum fng_event_kind {
	FNG_EV_NET_EGRESS = 1,
	FNG_EV_EXEC = 2,
	FNG_EV_OPEN = 3,
	FNG_EV_CGROUP_GONE = 4,
	FNG_EV_THROTTLED = 5,
};

enum fng_verdict {
	FNG_ALLOWED = 0,
	FNG_DENIED = 1,	 /* stopped in the kernel */
	FNG_AUDITED = 2, /* a violation, reported only (audit mode) */
};

/* What acted on a violation. */
enum fng_mechanism {
	FNG_MECH_NONE = 0,
	FNG_MECH_SOCK_ADDR = 1, /* cgroup sock_addr program returned EPERM */
	FNG_MECH_SIGKILL = 2,	/* bpf_send_signal(SIGKILL) before user space ran */
	FNG_MECH_LSM = 3,	/* BPF-LSM returned -EPERM */
};

/* Which part of the policy decided. */
enum fng_rule {
	FNG_RULE_NONE = 0,
	FNG_RULE_EGRESS = 1,
	FNG_RULE_FILES_DENY = 2,
	FNG_RULE_FILES_READ = 3,
	FNG_RULE_FILES_WRITE = 4,
	FNG_RULE_EXEC = 5,
	FNG_RULE_PATH_UNRESOLVED = 6, /* path too deep or long: fail closed */
};

struct fng_event_header {
	__u32 kind;	/* enum fng_event_kind */
	__u32 pid;	/* thread group id */
	__u32 tid;
	__u32 uid;
	__u64 cgid;
	__u64 ktime_ns;
	char comm[16];
	__u32 ppid;
	__u8 verdict;	/* enum fng_verdict */
	__u8 mechanism; /* enum fng_mechanism */
	__u8 rule;	/* enum fng_rule */
	__u8 pad;
};

/* Sent when a managed cgroup is removed: the container's totals. */
struct fng_cgroup_gone_event {
	struct fng_event_header hdr;
	struct fng_cg_stats stats;
};

/* Sent at the end of a window in which a cgroup's events were throttled. */
struct fng_throttled_event {
	struct fng_event_header hdr;
	__u64 throttled;	/* events not sent in that window */
	__u64 window_ns;	/* length of that window */
};

#endif
