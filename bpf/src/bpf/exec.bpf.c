// SPDX-License-Identifier: GPL-2.0
/* Execs of managed functions, judged against the exec allow list and
 * files.deny and reported; a violation in enforce mode kills the new image
 * before its first instruction. Also reports a cgroup's totals when it is
 * removed. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "detect.bpf.h"

char LICENSE[] SEC("license") = "GPL";

SEC("tp_btf/sched_process_exec")
int BPF_PROG(fng_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	struct fng_judgement j = {};
	struct fng_cg_policy *policy;
	struct fng_cg_stats *stats = NULL;
	struct file *file;
	__u64 cgid = 0;
	char *buf = NULL;
	int entrypoint;

	policy = current_policy(&cgid, &stats, &buf);
	file = BPF_CORE_READ(bprm, file);
	if (!policy || !file)
		return 0;
	__sync_fetch_and_add(&stats->execs, 1);
	entrypoint = !stats->first_exec_ns;
	if (entrypoint)
		stats->first_exec_ns = bpf_ktime_get_ns();

	judge_exec(buf, policy, cgid, file, &j);
	if (j.violation)
		kill_on_violation(&stats->exec_violations, policy);
	if (should_report(stats, policy, cgid, j.violation))
		emit_exec_event(buf, stats, policy, cgid, &j, FNG_MECH_SIGKILL, task, bprm);
	detect_exec(buf, stats, policy, cgid, &j, bprm, entrypoint);
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
	struct fng_usage *usage;
	struct fng_cgroup_gone_event *event;

	if (policy && policy->owner != cgid) {
		bpf_map_delete_elem(&fng_policy, &cgid);
		return 0;
	}
	stats = bpf_map_lookup_elem(&fng_stats, &cgid);
	if (!stats)
		return 0;
	usage = bpf_map_lookup_elem(&fng_usage, &cgid);
	event = bpf_ringbuf_reserve(&fng_events, sizeof(*event), 0);
	if (!event) {
		__sync_fetch_and_add(&stats->events_dropped, 1);
		return 0;
	}
	fill_header(&event->hdr, FNG_EV_CGROUP_GONE, cgid, 0);
	__builtin_memcpy(&event->stats, stats, sizeof(event->stats));
	if (usage)
		__builtin_memcpy(&event->usage, usage, sizeof(event->usage));
	else
		__builtin_memset(&event->usage, 0, sizeof(event->usage));
	submit_event(event);
	return 0;
}
