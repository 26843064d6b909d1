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
#define FNG_F_BIND 128	    /* a bind allow list is set */
#define FNG_F_DNS 256	    /* a resolver allow list is set: other DNS traffic is denied */
#define FNG_F_SOCKETS 512   /* a socket family allow list is set (fng_net_policy.sockets) */
#define FNG_F_INGRESS 1024  /* an ingress allow list is set: other inbound connections are dropped */
#define FNG_F_CONNECTION_LIMITS 2048 /* limits.connections or limits.connections-per-sec is set */
#define FNG_F_PACED 4096    /* limits.egress-rate throttles: TCP connections are paced at it (enforce mode) */

/* Keyed by cgroup id: the container's own cgroup, and any cgroup created
 * below it later (an alias with the same owner). */
struct fng_cg_policy {
	__u32 flags;
	__u32 pad;
	__u64 owner;	  /* the container's cgroup id: the key of every other map */
	__u64 rules_on;	  /* detection rules that run: bit (1 << enum fng_detection) */
	__u64 rules_kill; /* detection rules that kill in enforce mode */
	__u64 started_ns; /* CLOCK_REALTIME when the hook managed it: later files were dropped */
};

/* Built-in detection rules; ids and names in policy/src/rules.rs. */
enum fng_detection {
	FNG_DET_SHELL = 0,
	FNG_DET_EXEC_FROM_WRITABLE_DIR = 1,
	FNG_DET_DROP_AND_EXECUTE = 2,
	FNG_DET_FILELESS_EXEC = 3,
	FNG_DET_REVERSE_SHELL = 4,
	FNG_DET_PTRACE = 5,
	FNG_DET_NAMESPACE_CHANGE = 6,
	FNG_DET_KERNEL_MODULE = 7,
	FNG_DET_BPF = 8,
	FNG_DET_PERF_EVENT_OPEN = 9,
	FNG_DET_USERFAULTFD = 10,
	FNG_DET_IO_URING = 11,
	FNG_DET_KEYRING = 12,
	FNG_DET_PRIVILEGE_CHANGE = 13,
	FNG_DET_SETUID_EXEC = 14,
	FNG_DET_SETUID_CHMOD = 15,
	FNG_DET_RAW_SOCKET = 16,
	FNG_DET_CLOUD_METADATA = 17,
	FNG_DET_MINER_PORT = 18,
	FNG_DET_WX_MEMORY = 19,
	FNG_DET_SECRET_READ = 20,
	FNG_DET_ESCAPE_FILE_WRITE = 21,
	FNG_DET_RUNTIME_SOCKET = 22,
	FNG_DET_PORT_SCAN = 23,
	FNG_DET_POLICY_PROBE = 24,
	FNG_DET_UNLISTED_DESTINATION = 25,
	FNG_DET_NONE = 0xff,
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
	__u64 detections;	/* detection rules that fired */
	__u64 terminating;	/* 1 + the limit (enum fng_limit) that terminates the function; 0: none */
};

enum fng_event_kind {
	FNG_EV_NET_EGRESS = 1,
	FNG_EV_EXEC = 2,
	FNG_EV_OPEN = 3,
	FNG_EV_CGROUP_GONE = 4,
	FNG_EV_THROTTLED = 5,
	FNG_EV_DETECTION = 6,
	FNG_EV_NET_BIND = 7,
	FNG_EV_SOCKET = 8,
	FNG_EV_NET_INGRESS = 9,
	FNG_EV_LIMIT = 10,
};

enum fng_verdict {
	FNG_ALLOWED = 0,
	FNG_DENIED = 1,	 /* stopped in the kernel */
	FNG_AUDITED = 2, /* a violation, reported only (audit mode) */
	FNG_ALERTED = 3, /* a detection rule fired; nothing was stopped */
};

/* What acted on a violation. */
enum fng_mechanism {
	FNG_MECH_NONE = 0,
	FNG_MECH_SOCK_ADDR = 1, /* cgroup sock_addr program returned EPERM */
	FNG_MECH_SIGKILL = 2,	/* bpf_send_signal(SIGKILL) before user space ran */
	FNG_MECH_LSM = 3,	/* BPF-LSM returned -EPERM */
	FNG_MECH_SOCK_CREATE = 4, /* cgroup sock_create program refused the socket (EPERM) */
	FNG_MECH_SKB_DROP = 5,	  /* cgroup_skb program dropped the packet */
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
	FNG_RULE_BIND = 7,
	FNG_RULE_DNS = 8,
	FNG_RULE_SOCKETS = 9,
	FNG_RULE_INGRESS = 10,
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

/* A detection rule fired: the rule and its evidence. */
struct fng_detection_event {
	struct fng_event_header hdr;
	__u32 detection;	/* enum fng_detection */
	__s32 syscall;		/* x86_64 number; -1 for an exec */
	__s64 ret;		/* the system call's return value */
	__u64 args[4];		/* its first arguments */
	char parent_comm[16];
	__u16 family;		/* AF_INET or AF_INET6 for a connection, else 0 */
	__u16 port;		/* host order */
	__u32 path_len;		/* bytes of path, no NUL */
	__u8 addr[16];		/* the connection's destination; IPv4 in the first 4 bytes */
	__u16 sport;		/* its source: the function's socket, where bound (host order) */
	__u16 pad;
	__u32 pad2;
	__u8 saddr[16];
	char path[];		/* the program run, the file opened, the socket path */
};

/* A socket of a family or type fnguard.io/sockets does not list. */
struct fng_socket_event {
	struct fng_event_header hdr;
	__u16 family;	/* AF_* */
	__u16 type;	/* SOCK_* without flags */
	__u16 protocol;
	__u16 pad;
};

/* Sent at the end of a window in which a cgroup's events were throttled. */
struct fng_throttled_event {
	struct fng_event_header hdr;
	__u64 throttled;	/* events not sent in that window */
	__u64 window_ns;	/* length of that window */
};

#endif
