// SPDX-License-Identifier: GPL-2.0
/* BPF-LSM enforcement, where the kernel runs BPF LSM programs: a file open
 * or an exec that breaks the function's path rules fails with EPERM before
 * it happens, instead of the process being killed after. Loaded when the
 * kernel accepts it; otherwise file.bpf.c and exec.bpf.c stop violations
 * with SIGKILL. Audit mode is left to those programs, which report. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "judge.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#define FNG_EPERM 1

/* The managed, enforcing policy of the current task, or NULL. */
static __always_inline struct fng_cg_policy *enforcing_policy(__u64 *cgid, struct fng_cg_stats **stats, char **buf)
{
	struct fng_cg_policy *policy = managed_policy(cgid);
	__u32 zero = 0;

	if (!policy || (policy->flags & FNG_F_AUDIT) || !(policy->flags & FNG_F_PATHS))
		return NULL;
	*stats = bpf_map_lookup_elem(&fng_stats, cgid);
	*buf = bpf_map_lookup_elem(&fng_scratch, &zero);
	if (!*stats || !*buf)
		return NULL;
	return policy;
}

SEC("lsm/file_open")
int BPF_PROG(fng_lsm_file_open, struct file *file, int ret)
{
	struct fng_judgement j = {};
	struct fng_cg_policy *policy;
	struct fng_cg_stats *stats = NULL;
	__u64 cgid = 0;
	char *buf = NULL;

	if (ret)
		return ret;
	policy = enforcing_policy(&cgid, &stats, &buf);
	/* Opens before the first exec are the runtime's; an exec's own open of
	 * the binary is judged by bprm_check_security. */
	if (!policy || !stats->first_exec_ns || (BPF_CORE_READ(file, f_mode) & FNG_FMODE_EXEC))
		return 0;
	judge_open(buf, policy, cgid, file, &j);
	if (!j.violation)
		return 0;
	__sync_fetch_and_add(&stats->open_violations, 1);
	emit_open_event(buf, stats, policy, cgid, &j, FNG_MECH_LSM, 0, -FNG_EPERM);
	return -FNG_EPERM;
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
	policy = enforcing_policy(&cgid, &stats, &buf);
	file = BPF_CORE_READ(bprm, file);
	if (!policy || !file)
		return 0;
	judge_exec(buf, policy, cgid, file, &j);
	if (!j.violation)
		return 0;
	__sync_fetch_and_add(&stats->exec_violations, 1);
	emit_exec_event(buf, stats, policy, cgid, &j, FNG_MECH_LSM, bpf_get_current_task_btf(), bprm);
	return -FNG_EPERM;
}
