// SPDX-License-Identifier: GPL-2.0
/* BPF-LSM, where the kernel runs BPF LSM programs: a file open or an exec
 * that breaks the function's path rules fails with EPERM before it happens,
 * instead of the process being killed after. file_open also reports every
 * open, so the syscall-exit program of file.bpf.c, which costs every task
 * on the node, is not attached at all (io_uring opens are seen too). Loaded
 * when the kernel accepts it; otherwise file.bpf.c and exec.bpf.c enforce
 * with SIGKILL. Execs are reported by exec.bpf.c, denied ones here. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "detect.bpf.h"
#include "sockets.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#define FNG_EPERM 1

/* The syscall the current task is in (opens also come from io_uring workers). */
static __always_inline __u32 current_syscall(void)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());

	return BPF_CORE_READ(regs, orig_ax);
}

SEC("lsm/file_open")
int BPF_PROG(fng_lsm_file_open, struct file *file, int ret)
{
	struct fng_judgement j = {};
	struct fng_cg_policy *policy;
	struct fng_cg_stats *stats = NULL;
	__u64 cgid = 0;
	char *buf = NULL;
	__u32 nr;
	int deny;

	if (ret)
		return ret;
	policy = current_policy(&cgid, &stats, &buf);
	/* Opens before the first exec are the runtime's; an exec's own open of
	 * the binary is judged by bprm_check_security. */
	if (!policy || !stats->first_exec_ns || (BPF_CORE_READ(file, f_mode) & FNG_FMODE_EXEC))
		return 0;
	__sync_fetch_and_add(&stats->opens, 1);
	nr = current_syscall();
	judge_open(buf, policy, cgid, file, &j);
	deny = j.violation && !(policy->flags & FNG_F_AUDIT);
	if (j.violation)
		__sync_fetch_and_add(&stats->open_violations, 1);
	/* The fd is not allocated to the file yet: events say -1. */
	if (should_report(stats, policy, cgid, j.violation))
		emit_open_event(buf, stats, policy, cgid, &j, FNG_MECH_LSM, nr, -1);
	/* A detection that kills also refuses the open. */
	if (detect_open(buf, stats, policy, cgid, &j, nr, -1))
		deny = 1;
	return deny ? -FNG_EPERM : 0;
}

/* Called for the executable and again for a script's interpreter, so both
 * are judged. */
SEC("lsm/bprm_check_security")
int BPF_PROG(fng_lsm_bprm_check, struct linux_binprm *bprm, int ret)
{
	struct fng_judgement j = {};
	struct fng_cg_policy *policy;
	struct fng_cg_stats *stats = NULL;
	struct file *file;
	__u64 cgid = 0;
	char *buf = NULL;

	if (ret)
		return ret;
	policy = current_policy(&cgid, &stats, &buf);
	file = BPF_CORE_READ(bprm, file);
	/* Audit mode and allowed execs are reported by exec.bpf.c. */
	if (!policy || !file || (policy->flags & FNG_F_AUDIT) || !(policy->flags & FNG_F_PATHS))
		return 0;
	judge_exec(buf, policy, cgid, file, &j);
	if (!j.violation)
		return 0;
	__sync_fetch_and_add(&stats->exec_violations, 1);
	emit_exec_event(buf, stats, policy, cgid, &j, FNG_MECH_LSM, bpf_get_current_task_btf(), bprm);
	return -FNG_EPERM;
}

/* Sockets of any family the function's list does not admit fail with
 * EPERM before they exist (sockets the kernel makes for itself pass). */
SEC("lsm/socket_create")
int BPF_PROG(fng_lsm_socket_create, int family, int type, int protocol, int kern, int ret)
{
	struct fng_cg_policy *policy = NULL;
	struct fng_cg_stats *stats = NULL;
	__u64 cgid = 0;

	if (ret || kern || judge_socket(family, type, &policy, &cgid, &stats) || !policy)
		return ret;
	return report_socket(policy, cgid, stats, family, type, protocol, FNG_MECH_LSM) ? -FNG_EPERM : 0;
}
