/* Built-in detection rules: which system calls and execs they watch, and
 * the event that reports one with its evidence. A rule runs for a cgroup
 * when its bit is in fng_cg_policy.rules_on; it kills the process in
 * enforce mode when its bit is in rules_kill. */
#ifndef FNGUARD_DETECT_BPF_H
#define FNGUARD_DETECT_BPF_H

#include <bpf/bpf_endian.h>
#include "judge.bpf.h"

/* x86_64 system call numbers the rules watch. */
#define NR_MMAP 9
#define NR_MPROTECT 10
#define NR_SOCKET 41
#define NR_CONNECT 42
#define NR_SENDTO 44
#define NR_SOCKETPAIR 53
#define NR_CLONE 56
#define NR_CHMOD 90
#define NR_FCHMOD 91
#define NR_PTRACE 101
#define NR_SETUID 105
#define NR_SETGID 106
#define NR_SETREUID 113
#define NR_SETREGID 114
#define NR_SETRESUID 117
#define NR_SETRESGID 119
#define NR_SETFSUID 122
#define NR_SETFSGID 123
#define NR_CAPSET 126
#define NR_PIVOT_ROOT 155
#define NR_CHROOT 161
#define NR_MOUNT 165
#define NR_UMOUNT2 166
#define NR_INIT_MODULE 175
#define NR_DELETE_MODULE 176
#define NR_ADD_KEY 248
#define NR_REQUEST_KEY 249
#define NR_KEYCTL 250
#define NR_FCHMODAT 268
#define NR_UNSHARE 272
#define NR_PERF_EVENT_OPEN 298
#define NR_SETNS 308
#define NR_PROCESS_VM_READV 310
#define NR_PROCESS_VM_WRITEV 311
#define NR_FINIT_MODULE 313
#define NR_BPF 321
#define NR_USERFAULTFD 323
#define NR_PKEY_MPROTECT 329
#define NR_IO_URING_SETUP 425
#define NR_OPEN_TREE 428
#define NR_MOVE_MOUNT 429
#define NR_FSOPEN 430
#define NR_FSMOUNT 432
#define NR_CLONE3 435
#define NR_MOUNT_SETATTR 442
#define NR_FCHMODAT2 452

#define FNG_CLONE_NEW_NAMESPACES 0x7E020080ULL /* CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET|NEWTIME */
#define FNG_PROT_WX 6			       /* PROT_WRITE | PROT_EXEC */
#define FNG_AF_UNIX 1
#define FNG_UNIX_PATH_MAX 108
#define FNG_AF_INET 2
#define FNG_AF_INET6 10
#define FNG_AF_PACKET 17
#define FNG_SOCK_RAW 3
#define FNG_S_IFMT 0170000
#define FNG_S_IFSOCK 0140000
#define FNG_S_ISUID 04000
#define FNG_S_ISGID 02000
#define FNG_S_IXGRP 00010

/* Where in the scratch buffer a detection event is assembled: after the
 * path (which an exec detection copies), clear of the open/exec event. */
#define FNG_SCRATCH_DETECTION (FNG_PATH_MAX + 512)

static __always_inline int rule_on(const struct fng_cg_policy *policy, __u32 rule)
{
	return rule < 64 && ((policy->rules_on >> rule) & 1);
}

/* The event being assembled, zeroed but for what the caller fills in. */
static __always_inline struct fng_detection_event *detection_event(char *buf)
{
	struct fng_detection_event *event = (struct fng_detection_event *)&buf[FNG_SCRATCH_DETECTION];

	__builtin_memset(event, 0, sizeof(*event));
	return event;
}

/* Counts, kills when the rule says so in enforce mode, and reports the
 * detection assembled in `event` with `path_len` bytes of path. */
static __always_inline int fire(struct fng_cg_stats *stats, const struct fng_cg_policy *policy, __u64 cgid,
				struct fng_detection_event *event, __u32 rule, __u32 path_len)
{
	struct task_struct *task = bpf_get_current_task_btf();
	int kill = ((policy->rules_kill >> (rule & 63)) & 1) && !(policy->flags & FNG_F_AUDIT);

	__sync_fetch_and_add(&stats->detections, 1);
	if (kill)
		kill_current();
	else if (!take_event_budget(stats, cgid))
		return 0;
	fill_header(&event->hdr, FNG_EV_DETECTION, cgid, BPF_CORE_READ(task, real_parent, tgid));
	event->hdr.verdict = kill ? FNG_DENIED : FNG_ALERTED;
	event->hdr.mechanism = kill ? FNG_MECH_SIGKILL : FNG_MECH_NONE;
	event->detection = rule;
	BPF_CORE_READ_STR_INTO(&event->parent_comm, task, real_parent, comm);
	path_len &= FNG_PATH_MAX - 1;
	event->path_len = path_len;
	send_event(stats, event, sizeof(*event) + (__u64)path_len);
	return kill;
}

/* The name a NUL-terminated buffer holds, compared with a literal. */
#define NAME_IS(name, lit) same_bytes((name), (lit), sizeof(lit))
static __always_inline int same_bytes(const char *a, const char *b, __u32 n)
{
	for (__u32 i = 0; i < n; i++)
		if (a[i] != b[i])
			return 0;
	return 1;
}

/* Where basename_of keeps its scan position and result (see FNG_SCRATCH_POS
 * for why in the map and not on the stack). */
#define FNG_SCRATCH_BASE (FNG_SCRATCH_POS + 16)

struct fng_scan {
	char *scratch;
};

static long basename_step(__u32 i, struct fng_scan *scan)
{
	char *scratch = scan->scratch;
	char c;

	if (!scratch)
		return 1;
	c = scratch[i & (FNG_NAME_FIELD - 1)];

	if (!c)
		return 1;
	if (c == '/')
		*(__u32 *)&scratch[FNG_SCRATCH_BASE - FNG_SCRATCH_KEY] = i + 1;
	return 0;
}

/* The last component of a kernel string (up to 16 bytes of it) into out.
 * `scratch` is &buf[FNG_SCRATCH_KEY]. */
static __always_inline void basename_of(char *scratch, const char *str, char out[16])
{
	struct fng_scan scan = { .scratch = scratch };
	__u32 base;

	if (bpf_probe_read_kernel_str(scratch, FNG_NAME_FIELD, str) <= 0)
		return;
	*(__u32 *)&scratch[FNG_SCRATCH_BASE - FNG_SCRATCH_KEY] = 0;
	bpf_loop(FNG_NAME_FIELD, basename_step, &scan, 0);
	base = *(__u32 *)&scratch[FNG_SCRATCH_BASE - FNG_SCRATCH_KEY];
	bpf_probe_read_kernel_str(out, 16, &scratch[base & (FNG_NAME_FIELD - 1)]);
}

/* ---- system calls ---- */

/* A connection's destination from the user's sockaddr: metadata service or
 * miner pool. Fills the address fields of the event. */
static __always_inline __u32 connection_rule(char *buf, struct fng_detection_event *event, const void *uaddr,
					     __u32 *path_len)
{
	struct {
		__u16 family;
		__u16 port;
		__u32 flowinfo_or_v4;
		__u8 v6[16];
	} sa = {};
	__u16 port;

	if (!uaddr || bpf_probe_read_user(&sa, sizeof(sa), uaddr))
		return FNG_DET_NONE;
	if (sa.family == FNG_AF_UNIX) {
		const char *sun_path = (const char *)uaddr + 2;
		char name[16] = {};
		long n = bpf_probe_read_user_str(event->path, FNG_UNIX_PATH_MAX, sun_path);

		*path_len = n > 1 ? n - 1 : 0;
		/* Judged on the copy the event carries: user memory may change. */
		basename_of(&buf[FNG_SCRATCH_KEY], event->path, name);
		if (NAME_IS(name, "docker.sock") || NAME_IS(name, "containerd.sock") || NAME_IS(name, "crio.sock") ||
		    NAME_IS(name, "podman.sock") || NAME_IS(name, "dockershim.sock") || NAME_IS(name, "cri-dockerd.sock"))
			return FNG_DET_RUNTIME_SOCKET;
		return FNG_DET_NONE;
	}
	port = bpf_ntohs(sa.port);
	event->family = sa.family;
	event->port = port;
	if (sa.family == FNG_AF_INET) {
		__u32 a = bpf_ntohl(sa.flowinfo_or_v4);

		__builtin_memcpy(event->addr, &sa.flowinfo_or_v4, 4);
		/* 169.254.169.254, 169.254.170.2 (ECS), 100.100.100.200 (Alibaba) */
		if (a == 0xA9FEA9FE || a == 0xA9FEAA02 || a == 0x646464C8)
			return FNG_DET_CLOUD_METADATA;
	} else if (sa.family == FNG_AF_INET6) {
		__builtin_memcpy(event->addr, sa.v6, 16);
		/* fd00:ec2::254 */
		if (sa.v6[0] == 0xfd && sa.v6[1] == 0 && sa.v6[2] == 0x0e && sa.v6[3] == 0xc2 && sa.v6[15] == 0x54 &&
		    sa.v6[14] == 0x02 && !(sa.v6[4] | sa.v6[5] | sa.v6[6] | sa.v6[7] | sa.v6[8] | sa.v6[9] |
					    sa.v6[10] | sa.v6[11] | sa.v6[12] | sa.v6[13]))
			return FNG_DET_CLOUD_METADATA;
		/* v4-mapped metadata address */
		if (!(sa.v6[0] | sa.v6[1] | sa.v6[2] | sa.v6[3] | sa.v6[4] | sa.v6[5] | sa.v6[6] | sa.v6[7] |
		      sa.v6[8] | sa.v6[9]) &&
		    sa.v6[10] == 0xff && sa.v6[11] == 0xff && sa.v6[12] == 169 && sa.v6[13] == 254 &&
		    sa.v6[14] == 169 && sa.v6[15] == 254)
			return FNG_DET_CLOUD_METADATA;
	} else {
		return FNG_DET_NONE;
	}
	switch (port) {
	case 3333:
	case 4444:
	case 5555:
	case 6666:
	case 7777:
	case 14433:
	case 14444:
	case 45560:
	case 45700:
		return FNG_DET_MINER_PORT;
	}
	return FNG_DET_NONE;
}

/* True when a setuid/setgid-family call asks for id 0 while the caller's
 * effective id is not 0. */
static __always_inline int asks_for_root(long nr, const struct pt_regs *regs)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u32 a = regs->di, b = regs->si, c = regs->dx;
	__u32 euid = BPF_CORE_READ(task, cred, euid.val), egid = BPF_CORE_READ(task, cred, egid.val);

	switch (nr) {
	case NR_SETUID:
	case NR_SETFSUID:
		return a == 0 && euid != 0;
	case NR_SETGID:
	case NR_SETFSGID:
		return a == 0 && egid != 0;
	case NR_SETREUID:
		return (a == 0 || b == 0) && euid != 0;
	case NR_SETREGID:
		return (a == 0 || b == 0) && egid != 0;
	case NR_SETRESUID:
		return (a == 0 || b == 0 || c == 0) && euid != 0;
	case NR_SETRESGID:
		return (a == 0 || b == 0 || c == 0) && egid != 0;
	}
	return 0;
}

/* The rule a system call that just returned `ret` falls under, judged on
 * its arguments alone; FNG_DET_NONE for most calls. Called for every task,
 * so the common calls leave after a few compares. */
static __always_inline __u32 syscall_rule(long nr, const struct pt_regs *regs, long ret)
{
	switch (nr) {
	case NR_PTRACE:
	case NR_PROCESS_VM_READV:
	case NR_PROCESS_VM_WRITEV:
		return FNG_DET_PTRACE;
	case NR_UNSHARE:
	case NR_SETNS:
	case NR_MOUNT:
	case NR_UMOUNT2:
	case NR_PIVOT_ROOT:
	case NR_CHROOT:
	case NR_OPEN_TREE:
	case NR_MOVE_MOUNT:
	case NR_FSOPEN:
	case NR_FSMOUNT:
	case NR_MOUNT_SETATTR:
		return FNG_DET_NAMESPACE_CHANGE;
	case NR_CLONE:
		/* The child returns from clone too (0): judge the parent's call. */
		return ret != 0 && (regs->di & FNG_CLONE_NEW_NAMESPACES) ? FNG_DET_NAMESPACE_CHANGE : FNG_DET_NONE;
	case NR_CLONE3: {
		__u64 flags = 0;

		if (ret == 0 || bpf_probe_read_user(&flags, sizeof(flags), (void *)regs->di))
			return FNG_DET_NONE;
		return flags & FNG_CLONE_NEW_NAMESPACES ? FNG_DET_NAMESPACE_CHANGE : FNG_DET_NONE;
	}
	case NR_INIT_MODULE:
	case NR_FINIT_MODULE:
	case NR_DELETE_MODULE:
		return FNG_DET_KERNEL_MODULE;
	case NR_BPF:
		return FNG_DET_BPF;
	case NR_PERF_EVENT_OPEN:
		return FNG_DET_PERF_EVENT_OPEN;
	case NR_USERFAULTFD:
		return FNG_DET_USERFAULTFD;
	case NR_IO_URING_SETUP:
		return FNG_DET_IO_URING;
	case NR_ADD_KEY:
	case NR_REQUEST_KEY:
	case NR_KEYCTL:
		return FNG_DET_KEYRING;
	case NR_CAPSET:
		return FNG_DET_PRIVILEGE_CHANGE;
	case NR_SETUID:
	case NR_SETGID:
	case NR_SETREUID:
	case NR_SETREGID:
	case NR_SETRESUID:
	case NR_SETRESGID:
	case NR_SETFSUID:
	case NR_SETFSGID:
		return asks_for_root(nr, regs) ? FNG_DET_PRIVILEGE_CHANGE : FNG_DET_NONE;
	case NR_CHMOD:
	case NR_FCHMOD:
		return regs->si & (FNG_S_ISUID | FNG_S_ISGID) ? FNG_DET_SETUID_CHMOD : FNG_DET_NONE;
	case NR_FCHMODAT:
	case NR_FCHMODAT2:
		return regs->dx & (FNG_S_ISUID | FNG_S_ISGID) ? FNG_DET_SETUID_CHMOD : FNG_DET_NONE;
	case NR_SOCKET:
		return regs->di == FNG_AF_PACKET || (regs->si & 0xf) == FNG_SOCK_RAW ? FNG_DET_RAW_SOCKET
										 : FNG_DET_NONE;
	case NR_MMAP:
	case NR_MPROTECT:
	case NR_PKEY_MPROTECT:
		return (regs->dx & FNG_PROT_WX) == FNG_PROT_WX ? FNG_DET_WX_MEMORY : FNG_DET_NONE;
	}
	return FNG_DET_NONE;
}

/* True for the calls whose destination decides (connect, sendto with an
 * address). */
static __always_inline int is_addressed_send(long nr, const struct pt_regs *regs)
{
	return nr == NR_CONNECT || (nr == NR_SENDTO && regs->r8);
}

#define FNG_FIRED_PORTS 1
#define FNG_FIRED_HOSTS 2
#define FNG_FIRED_DENIED 4
#define FNG_FIRED_UNLISTED 8
#define FNG_ERR_EPERM 1

/* Sets a bit of a 512-bit set; returns 1 when it was clear. */
static __always_inline int first_sight(__u64 bits[8], __u32 hash)
{
	__u64 mask = 1ULL << (hash & 63);
	__u32 word = (hash >> 6) & 7;

	if (bits[word] & mask)
		return 0;
	bits[word] |= mask;
	return 1;
}

/* Counts a connection attempt (destination in event) in the cgroup's scan
 * window and returns the rule it completes: a port or host scan, or a
 * probe of the policy (repeated denials). Each fires once per window. */
static __always_inline __u32 scan_rule(const struct fng_cg_policy *policy, __u64 cgid,
				       struct fng_detection_event *event, long ret)
{
	struct fng_net_policy *net = bpf_map_lookup_elem(&fng_net, &cgid);
	const __u32 *a = (const __u32 *)event->addr;
	__u64 now = bpf_ktime_get_ns();
	__u32 host;

	if (!net || !net->scan_window_ms)
		return FNG_DET_NONE;
	if (now - net->window_start_ns > (__u64)net->scan_window_ms * 1000000) {
		net->window_start_ns = now;
		for (int i = 0; i < 8; i++) {
			net->port_bits[i] = 0;
			net->host_bits[i] = 0;
		}
		net->ports_seen = net->hosts_seen = net->denied_seen = net->fired = 0;
	}
	host = (a[0] ^ a[1] ^ a[2] ^ a[3]) * 2654435761U;
	if (first_sight(net->port_bits, event->port))
		net->ports_seen++;
	if (first_sight(net->host_bits, host >> 23))
		net->hosts_seen++;
	if (ret == -FNG_ERR_EPERM)
		net->denied_seen++;
	event->args[0] = net->ports_seen;
	event->args[1] = net->hosts_seen;
	event->args[2] = net->denied_seen;
	event->args[3] = net->scan_window_ms;
	if (rule_on(policy, FNG_DET_PORT_SCAN)) {
		if (net->ports_seen > net->scan_ports && !(net->fired & FNG_FIRED_PORTS)) {
			net->fired |= FNG_FIRED_PORTS;
			return FNG_DET_PORT_SCAN;
		}
		if (net->hosts_seen > net->scan_hosts && !(net->fired & FNG_FIRED_HOSTS)) {
			net->fired |= FNG_FIRED_HOSTS;
			return FNG_DET_PORT_SCAN;
		}
	}
	if (rule_on(policy, FNG_DET_POLICY_PROBE) && net->denied_seen > net->scan_denied &&
	    !(net->fired & FNG_FIRED_DENIED)) {
		net->fired |= FNG_FIRED_DENIED;
		return FNG_DET_POLICY_PROBE;
	}
	/* The first destination the function's own policy refused this window. */
	if (ret == -FNG_ERR_EPERM && (policy->flags & (FNG_F_EGRESS | FNG_F_DNS)) &&
	    rule_on(policy, FNG_DET_UNLISTED_DESTINATION) && !(net->fired & FNG_FIRED_UNLISTED)) {
		net->fired |= FNG_FIRED_UNLISTED;
		return FNG_DET_UNLISTED_DESTINATION;
	}
	return FNG_DET_NONE;
}

/* The local end of the socket behind fd (a connect's or sendto's), where
 * the kernel bound it, into the event. */
static __always_inline void socket_source(struct fng_detection_event *event, long fd)
{
	struct file *file = fd_file(fd);
	struct socket *sock;
	struct sock *sk;

	if (!file)
		return;
	sock = BPF_CORE_READ(file, private_data);
	sk = BPF_CORE_READ(sock, sk);
	event->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	if (event->family == FNG_AF_INET6)
		BPF_CORE_READ_INTO(&event->saddr, sk, __sk_common.skc_v6_rcv_saddr);
	else
		BPF_CORE_READ_INTO((__u32 *)event->saddr, sk, __sk_common.skc_rcv_saddr);
}

/* Judges a system call that returned `ret` for a managed function and
 * reports the detection it is. */
static __always_inline void detect_syscall(char *buf, struct fng_cg_stats *stats,
					   const struct fng_cg_policy *policy, __u64 cgid, long nr,
					   const struct pt_regs *regs, long ret, __u32 rule)
{
	struct fng_detection_event *event = detection_event(buf);
	__u32 path_len = 0;

	if (is_addressed_send(nr, regs)) {
		rule = connection_rule(buf, event, (const void *)(nr == NR_CONNECT ? regs->si : regs->r8), &path_len);
		if (event->family == FNG_AF_INET || event->family == FNG_AF_INET6) {
			socket_source(event, regs->di);
			/* Every inet attempt counts towards the scan window; its
			 * counts are the evidence of a scan. */
			__u32 scan = scan_rule(policy, cgid, event, ret);

			if (scan != FNG_DET_NONE && !rule_on(policy, rule)) {
				event->syscall = nr;
				event->ret = ret;
				fire(stats, policy, cgid, event, scan, 0);
				return;
			}
		}
	}
	if (!rule_on(policy, rule))
		return;
	event->syscall = nr;
	event->ret = ret;
	event->args[0] = regs->di;
	event->args[1] = regs->si;
	event->args[2] = regs->dx;
	event->args[3] = regs->r10;
	fire(stats, policy, cgid, event, rule, path_len);
}

/* ---- execs ---- */


static __always_inline int is_shell(const char *n)
{
	return NAME_IS(n, "sh") || NAME_IS(n, "bash") || NAME_IS(n, "dash") || NAME_IS(n, "ash") ||
	       NAME_IS(n, "zsh") || NAME_IS(n, "ksh") || NAME_IS(n, "mksh") || NAME_IS(n, "csh") ||
	       NAME_IS(n, "tcsh") || NAME_IS(n, "fish") || NAME_IS(n, "rbash");
}

/* True when a path whose first bytes are in `head` lies under `dir`
 * ("/tmp/"): constant offsets only, which every verifier follows. */
#define UNDER(head, dir) same_bytes((head), (dir), sizeof(dir) - 1)

/* Nanoseconds of the inode's last status change (write, chmod, rename),
 * whatever this kernel calls the fields. */
struct inode___pre611 {
	struct timespec64 __i_ctime;
} __attribute__((preserve_access_index));
struct inode___pre66 {
	struct timespec64 i_ctime;
} __attribute__((preserve_access_index));

static __always_inline __u64 inode_ctime_ns(struct inode *inode)
{
	/* The high bits of i_ctime_nsec carry flags (multigrain timestamps). */
	if (bpf_core_field_exists(inode->i_ctime_sec))
		return BPF_CORE_READ(inode, i_ctime_sec) * FNG_SEC_NS + (BPF_CORE_READ(inode, i_ctime_nsec) & 0x3fffffff);
	if (bpf_core_field_exists(((struct inode___pre611 *)inode)->__i_ctime)) {
		struct timespec64 t = BPF_CORE_READ((struct inode___pre611 *)inode, __i_ctime);

		return t.tv_sec * FNG_SEC_NS + t.tv_nsec;
	}
	{
		struct timespec64 t = BPF_CORE_READ((struct inode___pre66 *)inode, i_ctime);

		return t.tv_sec * FNG_SEC_NS + t.tv_nsec;
	}
}

/* True when the current task's fd is an IPv4 or IPv6 socket. */
static __always_inline int inet_socket(__u32 fd)
{
	struct file *file = fd_file(fd);
	struct socket *sock;
	__u16 family;

	if (!file || (BPF_CORE_READ(file, f_inode, i_mode) & FNG_S_IFMT) != FNG_S_IFSOCK)
		return 0;
	sock = BPF_CORE_READ(file, private_data);
	family = BPF_CORE_READ(sock, sk, __sk_common.skc_family);
	return family == FNG_AF_INET || family == FNG_AF_INET6;
}

/* The rule an exec falls under. `entrypoint`: the container's first exec,
 * whose shell is the image's business, not an attacker's. The program's
 * path is at buf[j->start], j->len bytes. */
static __always_inline __u32 exec_rule(char *buf, const struct fng_cg_policy *policy, const struct fng_judgement *j,
				       struct linux_binprm *bprm, int entrypoint)
{
	struct file *file = BPF_CORE_READ(bprm, file);
	struct inode *inode = BPF_CORE_READ(file, f_inode);
	__u32 nlink = BPF_CORE_READ(inode, __i_nlink);
	__u16 mode = BPF_CORE_READ(inode, i_mode);
	char *scratch = &buf[FNG_SCRATCH_KEY];
	char leaf[16] = {}, applet[16] = {};

	if (rule_on(policy, FNG_DET_REVERSE_SHELL) && inet_socket(0) && inet_socket(1))
		return FNG_DET_REVERSE_SHELL;
	if (nlink == 0 && rule_on(policy, FNG_DET_FILELESS_EXEC))
		return FNG_DET_FILELESS_EXEC;
	if (!entrypoint && rule_on(policy, FNG_DET_SHELL)) {
		bpf_probe_read_kernel_str(leaf, sizeof(leaf), BPF_CORE_READ(file, f_path.dentry, d_name.name));
		if (is_shell(leaf))
			return FNG_DET_SHELL;
		/* A multi-call binary is the applet it was started as; a script,
		 * its interpreter. */
		basename_of(scratch, BPF_CORE_READ(bprm, interp), applet);
		if (is_shell(applet))
			return FNG_DET_SHELL;
	}
	if ((mode & FNG_S_ISUID || (mode & (FNG_S_ISGID | FNG_S_IXGRP)) == (FNG_S_ISGID | FNG_S_IXGRP)) &&
	    rule_on(policy, FNG_DET_SETUID_EXEC))
		return FNG_DET_SETUID_EXEC;
	if (nlink && inode_ctime_ns(inode) > policy->started_ns && rule_on(policy, FNG_DET_DROP_AND_EXECUTE))
		return FNG_DET_DROP_AND_EXECUTE;
	if (rule_on(policy, FNG_DET_EXEC_FROM_WRITABLE_DIR)) {
		char head[16] = {};

		bpf_probe_read_kernel(head, sizeof(head), &buf[j->start & (FNG_PATH_MAX - 1)]);
		if (UNDER(head, "/tmp/") || UNDER(head, "/var/tmp/") || UNDER(head, "/dev/") || UNDER(head, "/run/"))
			return FNG_DET_EXEC_FROM_WRITABLE_DIR;
	}
	return FNG_DET_NONE;
}

/* Judges an exec (already resolved into j) and reports the detection. */
static __always_inline void detect_exec(char *buf, struct fng_cg_stats *stats, const struct fng_cg_policy *policy,
					__u64 cgid, const struct fng_judgement *j, struct linux_binprm *bprm,
					int entrypoint)
{
	__u32 rule = exec_rule(buf, policy, j, bprm, entrypoint);
	struct fng_detection_event *event;
	__u32 len = j->len & (FNG_PATH_MAX - 1);

	if (rule == FNG_DET_NONE)
		return;
	event = detection_event(buf);
	event->syscall = -1;

	bpf_probe_read_kernel(event->path, len, &buf[j->start & (FNG_PATH_MAX - 1)]);
	fire(stats, policy, cgid, event, rule, len);
}

/* ---- opens ---- */

/* The pid of the current process as /proc in its own pid namespace shows it. */
static __always_inline __u32 ns_tgid(void)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct pid *pid = BPF_CORE_READ(task, group_leader, thread_pid);
	unsigned int level = BPF_CORE_READ(pid, level);
	struct upid up = {};

	bpf_probe_read_kernel(&up, sizeof(up),
			      (char *)pid + bpf_core_field_offset(struct pid, numbers) + (level & 7) * sizeof(up));
	return up.nr;
}

/* True when the path (first bytes in head, len bytes in all) is
 * /proc/<pid>/<leaf>; sets *pid. */
static __always_inline int proc_pid_file(const char *head, __u32 len, __u32 leaf_len, __u32 *pid)
{
	__u32 digits = len - 7 - leaf_len, value = 0;

	if (len < 8 + leaf_len || digits > 10 || !UNDER(head, "/proc/"))
		return 0;
	for (int i = 0; i < 10; i++) {
		char c = head[6 + i];

		if (i >= digits)
			break;
		if (c < '0' || c > '9')
			return 0;
		value = value * 10 + (c - '0');
	}
	*pid = value;
	return 1;
}

/* The rule an open (already judged into j) falls under: a detection path
 * from the function's trie, or a file name matched wherever it lies. */
static __always_inline __u32 open_rule(char *buf, const struct fng_cg_policy *policy, const struct fng_judgement *j)
{
	__u32 leaf_pos = *(__u32 *)&buf[FNG_SCRATCH_LEAF], leaf_len, pid = 0;
	char leaf[20] = {}, head[24] = {}, first;

	if (j->detection != FNG_DET_NONE)
		return rule_on(policy, j->detection) ? j->detection : FNG_DET_NONE;
	if (!leaf_pos || leaf_pos >= FNG_PATH_MAX)
		return FNG_DET_NONE;
	/* Names are told apart by length and first letter, both in the scratch
	 * map already: most opens read nothing more. */
	leaf_len = FNG_PATH_MAX - 1 - leaf_pos;
	first = buf[(leaf_pos + 1) & (FNG_PATH_MAX - 1)];
	if ((j->access & FNG_ACCESS_WRITE) && (first == 'r' || first == 'n' || first == 'm') &&
	    (leaf_len == 3 || leaf_len == 13 || leaf_len == 17)) {
		bpf_probe_read_kernel(leaf, sizeof(leaf), &buf[(leaf_pos + 1) & (FNG_PATH_MAX - 1)]);
		if ((NAME_IS(leaf, "release_agent") || NAME_IS(leaf, "notify_on_release")) &&
		    rule_on(policy, FNG_DET_ESCAPE_FILE_WRITE))
			return FNG_DET_ESCAPE_FILE_WRITE;
		if (NAME_IS(leaf, "mem") && rule_on(policy, FNG_DET_PTRACE)) {
			bpf_probe_read_kernel(head, sizeof(head), &buf[j->start & (FNG_PATH_MAX - 1)]);
			if (proc_pid_file(head, j->len, 3, &pid))
				return FNG_DET_PTRACE;
		}
	}
	if ((j->access & FNG_ACCESS_READ) && (first == 'i' || first == 'e') &&
	    (leaf_len == 6 || leaf_len == 7 || leaf_len == 8 || leaf_len == 10) && rule_on(policy, FNG_DET_SECRET_READ)) {
		bpf_probe_read_kernel(leaf, sizeof(leaf), &buf[(leaf_pos + 1) & (FNG_PATH_MAX - 1)]);
		if (NAME_IS(leaf, "id_rsa") || NAME_IS(leaf, "id_dsa") || NAME_IS(leaf, "id_ecdsa") ||
		    NAME_IS(leaf, "id_ed25519"))
			return FNG_DET_SECRET_READ;
		if (NAME_IS(leaf, "environ")) {
			bpf_probe_read_kernel(head, sizeof(head), &buf[j->start & (FNG_PATH_MAX - 1)]);
			if (proc_pid_file(head, j->len, 7, &pid) && pid != ns_tgid())
				return FNG_DET_SECRET_READ;
		}
	}
	return FNG_DET_NONE;
}

/* Judges an open (already resolved into j) and reports the detection.
 * Returns whether the process is being killed. */
static __always_inline int detect_open(char *buf, struct fng_cg_stats *stats, const struct fng_cg_policy *policy,
				       __u64 cgid, const struct fng_judgement *j, long nr, long fd)
{
	__u32 rule = open_rule(buf, policy, j);
	struct fng_detection_event *event;
	__u32 len = j->len & (FNG_PATH_MAX - 1);

	if (rule == FNG_DET_NONE)
		return 0;
	event = detection_event(buf);
	event->syscall = nr;
	event->ret = fd;
	event->args[0] = j->access;
	bpf_probe_read_kernel(event->path, len, &buf[j->start & (FNG_PATH_MAX - 1)]);
	return fire(stats, policy, cgid, event, rule, len);
}

#endif
