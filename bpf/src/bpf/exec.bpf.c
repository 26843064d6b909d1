// SPDX-License-Identifier: GPL-2.0
/* Execs of managed functions, judged against the exec allow list and
 * files.deny and reported; a violation in enforce mode kills the new image
 * before its first instruction. Also reports a cgroup's totals when it is
 * removed. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "path.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* Longest filename or interpreter name an exec event carries. */
#define FNG_NAME_FIELD 256

/* The rule an exec breaks, or FNG_RULE_NONE. A global function, verified
 * once on its own; `rule` is a struct fng_path_rule (0: none). */
__noinline __u8 exec_violation(__u32 flags, __u64 rule, __u32 truncated)
{
	__u8 verdict = rule >> 16, exec_rule = rule >> 40;

	if (truncated && (flags & FNG_F_PATHS))
		return FNG_RULE_PATH_UNRESOLVED;
	if (verdict == FNG_PATH_DENY)
		return exec_rule;
	if (verdict == FNG_PATH_UNSET && (flags & FNG_F_EXEC))
		return FNG_RULE_EXEC;
	return FNG_RULE_NONE;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(fng_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	struct fng_cg_policy *policy;
	struct fng_cg_stats *stats;
	struct fng_exec_event *event;
	struct fng_path_rule *rule;
	struct file *file;
	const char *filename, *interp;
	__u32 zero = 0, start, len, off;
	__u8 truncated, violation;
	__u64 cgid = 0;
	long n;
	char *buf;

	policy = managed_policy(&cgid);
	if (!policy)
		return 0;
	stats = bpf_map_lookup_elem(&fng_stats, &cgid);
	buf = bpf_map_lookup_elem(&fng_scratch, &zero);
	file = BPF_CORE_READ(bprm, file);
	if (!stats || !buf || !file)
		return 0;
	__sync_fetch_and_add(&stats->execs, 1);
	if (!stats->first_exec_ns)
		stats->first_exec_ns = bpf_ktime_get_ns();

	len = resolve_path(buf, __builtin_preserve_access_index(&file->f_path), &start, &truncated);
	rule = lookup_path_rule(buf, cgid, start, len);
	violation = exec_violation(policy->flags, rule ? *(__u64 *)rule : 0, truncated);
	if (!violation && inode_denied(policy, cgid, file))
		violation = FNG_RULE_FILES_DENY;

	if (violation) {
		__sync_fetch_and_add(&stats->exec_violations, 1);
		if (!(policy->flags & FNG_F_AUDIT))
			kill_current();
	}
	if ((!violation || (policy->flags & FNG_F_AUDIT)) && !take_event_budget(stats, cgid))
		return 0;
	event = (struct fng_exec_event *)&buf[FNG_SCRATCH_EVENT];
	fill_header(&event->hdr, FNG_EV_EXEC, cgid, BPF_CORE_READ(task, real_parent, tgid));
	set_verdict(&event->hdr, policy, violation);

	event->flags = truncated ? FNG_PATH_TRUNCATED : 0;
	event->pad = 0;
	event->path_len = len;
	bpf_probe_read_kernel(event->data, len & (FNG_PATH_MAX - 1), &buf[start & (FNG_PATH_MAX - 1)]);
	off = len & (FNG_PATH_MAX - 1);

	filename = BPF_CORE_READ(bprm, filename);
	n = bpf_probe_read_kernel_str(&event->data[off], FNG_NAME_FIELD, filename);
	event->filename_len = n > 0 ? n - 1 : 0;
	off += event->filename_len & (FNG_NAME_FIELD - 1);

	/* Scripts: interp names the interpreter; otherwise it equals filename. */
	interp = BPF_CORE_READ(bprm, interp);
	event->interp_len = 0;
	if (interp != filename) {
		n = bpf_probe_read_kernel_str(&event->data[off & (2 * FNG_PATH_MAX - 1)], FNG_NAME_FIELD, interp);
		event->interp_len = n > 0 ? n - 1 : 0;
		off += event->interp_len & (FNG_NAME_FIELD - 1);
	}
	if (bpf_ringbuf_output(&fng_events, event, (sizeof(*event) + off) & (2 * FNG_PATH_MAX - 1), 0))
		__sync_fetch_and_add(&stats->events_dropped, 1);
	return 0;
}

/* A cgroup created below a managed one is governed by the same policy: a
 * function cannot leave its policy by moving into a child cgroup. */
SEC("tp_btf/cgroup_mkdir")
int BPF_PROG(fng_cgroup_mkdir, struct cgroup *cgrp, const char *path)
{
	__u64 parent = BPF_CORE_READ(cgrp, self.parent, cgroup, kn, id);
	__u64 cgid = BPF_CORE_READ(cgrp, kn, id);
	struct fng_cg_policy *policy = bpf_map_lookup_elem(&fng_policy, &parent);

	if (policy)
		bpf_map_update_elem(&fng_policy, &cgid, policy, BPF_NOEXIST);
	return 0;
}

/* A managed cgroup was removed: drop a child's alias, or report a
 * container's totals, ordered after its events. */
SEC("tp_btf/cgroup_rmdir")
int BPF_PROG(fng_cgroup_rmdir, struct cgroup *cgrp, const char *path)
{
	__u64 cgid = BPF_CORE_READ(cgrp, kn, id);
	struct fng_cg_policy *policy = bpf_map_lookup_elem(&fng_policy, &cgid);
	struct fng_cg_stats *stats;
	struct fng_cgroup_gone_event *event;

	if (policy && policy->owner != cgid) {
		bpf_map_delete_elem(&fng_policy, &cgid);
		return 0;
	}
	stats = bpf_map_lookup_elem(&fng_stats, &cgid);
	if (!stats)
		return 0;
	event = bpf_ringbuf_reserve(&fng_events, sizeof(*event), 0);
	if (!event) {
		__sync_fetch_and_add(&stats->events_dropped, 1);
		return 0;
	}
	fill_header(&event->hdr, FNG_EV_CGROUP_GONE, cgid, 0);
	__builtin_memcpy(&event->stats, stats, sizeof(event->stats));
	bpf_ringbuf_submit(event, 0);
	return 0;
}
