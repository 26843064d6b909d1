// SPDX-License-Identifier: GPL-2.0
/* File opens of managed functions: at the exit of every open-family syscall
 * the new fd is resolved to its struct file, its path is judged against
 * files.deny/read/write and reported; a violation in enforce mode kills the
 * process before it returns to user space with the fd. Where BPF-LSM runs
 * (lsm.bpf.c) a violation never gets here: the open already failed. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "detect.bpf.h"
#include "sockets.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* Set at load where the BPF-LSM programs judge opens: this program then
 * only runs the system call detection rules. */
const volatile bool opens_by_lsm = false;

/* x86_64 syscall numbers of the calls that return a new fd for a path. */
#define FNG_NR_OPEN 2
#define FNG_NR_CREAT 85
#define FNG_NR_OPENAT 257
#define FNG_NR_OPEN_BY_HANDLE_AT 304
#define FNG_NR_OPENAT2 437

SEC("tp_btf/sys_exit")
int BPF_PROG(fng_sys_exit, struct pt_regs *regs, long ret)
{
	struct fng_judgement j = {};
	struct fng_cg_policy *policy;
	struct fng_cg_stats *stats = NULL;
	struct file *file;
	__u64 cgid = 0;
	long nr = regs->orig_ax;
	char *buf = NULL;
	__u32 rule, zero = 0;
	struct fng_node *node = bpf_map_lookup_elem(&fng_node, &zero);

	/* A function past a limit that kills: each of its tasks dies as it
	 * returns from its next system call. One load while none is. */
	if (node && node->terminating) {
		policy = current_policy(&cgid, &stats, &buf);
		if (!policy)
			return 0;
		if (stats->terminating) {
			kill_current();
			return 0;
		}
	}
	if (nr != FNG_NR_OPENAT && nr != FNG_NR_OPEN && nr != FNG_NR_OPENAT2 && nr != FNG_NR_CREAT &&
	    nr != FNG_NR_OPEN_BY_HANDLE_AT) {
		/* A socket that neither the sock_create program (inet only) nor
		 * BPF-LSM judged. */
		int new_socket = (nr == NR_SOCKET || nr == NR_SOCKETPAIR) && ret >= 0 && !opens_by_lsm &&
				 regs->di != FNG_FAMILY_INET && regs->di != FNG_FAMILY_INET6;

		rule = syscall_rule(nr, regs, ret);
		if (rule == FNG_DET_NONE && !is_addressed_send(nr, regs) && !new_socket)
			return 0;
		policy = current_policy(&cgid, &stats, &buf);
		/* Until the function's first exec the runtime's init sets the
		 * container up (mounts, pivot_root, capset): not the function. */
		if (!policy || !stats->first_exec_ns)
			return 0;
		/* Stopped before the process can use it. */
		if (new_socket && socket_denied(policy, cgid, stats, regs->di, regs->si) &&
		    report_socket(policy, cgid, stats, regs->di, regs->si, regs->dx, FNG_MECH_SIGKILL))
			kill_current();
		detect_syscall(buf, stats, policy, cgid, nr, regs, ret, rule);
		return 0;
	}
	if (ret < 0 || opens_by_lsm)
		return 0;
	policy = current_policy(&cgid, &stats, &buf);
	if (!policy || !stats->first_exec_ns)
		return 0;
	file = fd_file(ret);
	if (!file)
		return 0;
	__sync_fetch_and_add(&stats->opens, 1);

	judge_open(buf, policy, cgid, file, &j);
	if (j.violation)
		kill_on_violation(&stats->open_violations, policy);
	if (should_report(stats, policy, cgid, j.violation))
		emit_open_event(buf, stats, policy, cgid, &j, FNG_MECH_SIGKILL, nr, ret);
	detect_open(buf, stats, policy, cgid, &j, nr, ret);
	return 0;
}
