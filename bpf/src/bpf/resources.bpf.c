// SPDX-License-Identifier: GPL-2.0
/* Resource accounting per function, keyed by cgroup id so that it works
 * without cgroup v2 controllers: tasks and forks, CPU time, resident memory
 * and open TCP connections, with the limits on them. Built twice: with
 * FNG_SIGNAL_TASK (kernel 6.13 on) a terminated function's init process is
 * killed at once, which ends a container's whole pid namespace. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "limits.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#define FNG_SIGKILL 9
#define FNG_PAGE_SIZE 4096

/* enum mm counters (MM_FILEPAGES, MM_ANONPAGES, MM_SWAPENTS, MM_SHMEMPAGES):
 * resident memory is all but swap entries. */
#define FNG_MM_SWAPENTS 2

/* TCP states (include/net/tcp_states.h). */
#define FNG_TCP_ESTABLISHED 1
#define FNG_TCP_SYN_SENT 2
#define FNG_TCP_SYN_RECV 3
#define FNG_TCP_CLOSE 7
#define FNG_TCP_LISTEN 10
#define FNG_TCP_NEW_SYN_RECV 12

/* Before 6.2 the mm counters were atomics in struct mm_rss_stat. */
struct mm_rss_stat___old {
	atomic_long_t count[4];
} __attribute__((preserve_access_index));

struct mm_struct___old {
	struct mm_rss_stat___old rss_stat;
} __attribute__((preserve_access_index));

#ifdef FNG_SIGNAL_TASK
extern struct task_struct *bpf_task_from_pid(s32 pid) __ksym;
extern void bpf_task_release(struct task_struct *p) __ksym;
extern int bpf_send_signal_task(struct task_struct *task, int sig, enum pid_type type, u64 value) __ksym;
#endif

/* Kills the function's init process, which takes the container's pid
 * namespace with it: tasks asleep in a system call die too. Only when the
 * pid still belongs to the function (it may have been reused). */
static __always_inline void kill_init(struct fng_usage *usage, __u64 cgid)
{
#ifdef FNG_SIGNAL_TASK
	struct task_struct *init;
	struct fng_cg_policy *policy;
	__u64 id;

	if (!usage->init_pid)
		return;
	init = bpf_task_from_pid(usage->init_pid);
	if (!init)
		return;
	id = BPF_CORE_READ(init, cgroups, dfl_cgrp, kn, id);
	policy = bpf_map_lookup_elem(&fng_policy, &id);
	if (policy && policy->owner == cgid)
		bpf_send_signal_task(init, FNG_SIGKILL, PIDTYPE_TGID, 0);
	bpf_task_release(init);
#endif
}

/* CPU time already charged to the function, per task. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} fng_task_cpu SEC(".maps");

/* Charges a task's CPU time since its last charge to its function; returns
 * the function's total. */
static __always_inline __u64 charge_cpu(struct task_struct *task, struct fng_usage *usage)
{
	__u64 *charged = bpf_task_storage_get(&fng_task_cpu, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	__u64 runtime = BPF_CORE_READ(task, se.sum_exec_runtime), delta;

	if (!charged || runtime <= *charged)
		return usage->cpu_ns;
	delta = runtime - *charged;
	*charged = runtime;
	return __sync_fetch_and_add(&usage->cpu_ns, delta) + delta;
}

/* Applies a limit's verdict in task context. */
static __always_inline void enforce_in_task(struct fng_usage *usage, const struct fng_cg_policy *policy, __u64 cgid,
					    __u32 limit, __u64 observed)
{
	if (over_limit(usage, policy, cgid, limit, observed, 1, FNG_MECH_SIGKILL) == FNG_ACT_KILL) {
		kill_current();
		kill_init(usage, cgid);
	}
}

/* A task was created (fork, or a thread). `current` is its creator, in the
 * function's cgroup. */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(fng_fork, struct task_struct *parent, struct task_struct *child)
{
	struct fng_cg_policy *policy;
	struct fng_usage *usage;
	__u64 cgid = 0, forks;
	__s64 tasks;

	policy = managed_policy(&cgid);
	if (!policy)
		return 0;
	usage = usage_of(cgid);
	if (!usage)
		return 0;
	tasks = __sync_fetch_and_add(&usage->tasks, 1) + 1;
	__sync_fetch_and_add(&usage->forks, 1);
	raise_peak(&usage->tasks_peak, tasks);
	forks = count_in_window(&usage->fork_window_ns, &usage->fork_window_count, 1);
	if (usage->limit[FNG_LIMIT_PROCS] && tasks > (__s64)usage->limit[FNG_LIMIT_PROCS])
		enforce_in_task(usage, policy, cgid, FNG_LIMIT_PROCS, tasks);
	if (usage->limit[FNG_LIMIT_FORKS_PER_SEC] && forks > usage->limit[FNG_LIMIT_FORKS_PER_SEC])
		enforce_in_task(usage, policy, cgid, FNG_LIMIT_FORKS_PER_SEC, forks);
	if (being_terminated(cgid))
		kill_current();
	return 0;
}

/* A task ended; at the last thread of a process, its memory leaves the
 * function's total. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(fng_task_exit, struct task_struct *task)
{
	struct fng_cg_policy *policy;
	struct fng_proc_rss *proc;
	struct fng_usage *usage;
	__u64 cgid = 0;
	__u32 tgid;

	policy = managed_policy(&cgid);
	if (!policy)
		return 0;
	usage = usage_of(cgid);
	if (!usage)
		return 0;
	charge_cpu(bpf_get_current_task_btf(), usage);
	/* Tasks the function had before the hook counted it may end after it
	 * and would take the count below zero. */
	if (usage->tasks > 0)
		__sync_fetch_and_sub(&usage->tasks, 1);
	if (BPF_CORE_READ(task, signal, live.counter) == 0) {
		tgid = BPF_CORE_READ(task, tgid);
		proc = bpf_map_lookup_elem(&fng_procs, &tgid);
		if (proc) {
			__sync_fetch_and_sub(&usage->rss_bytes, proc->bytes);
			bpf_map_delete_elem(&fng_procs, &tgid);
		}
	}
	if (being_terminated(cgid))
		kill_init(usage, cgid);
	return 0;
}

/* CPU time of the running task, sampled every 10 ms of CPU on each CPU
 * (a perf cpu-clock event per CPU, opened at load): the task's own
 * sum_exec_runtime since its last charge goes to its function, and the
 * cpu-ms limit is checked. Idle CPUs take no samples; exits charge the rest. */
SEC("perf_event")
int fng_cpu_tick(struct bpf_perf_event_data *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fng_cg_policy *policy;
	struct fng_usage *usage;
	__u64 cgid = 0, cpu;

	policy = managed_policy(&cgid);
	if (!policy)
		return 0;
	usage = usage_of(cgid);
	if (!usage)
		return 0;
	cpu = charge_cpu(task, usage);
	if (usage->limit[FNG_LIMIT_CPU] && cpu > usage->limit[FNG_LIMIT_CPU]) {
		/* The init process is signalled at this task's exit: kfuncs
		 * are not offered to perf event programs. */
		if (over_limit(usage, policy, cgid, FNG_LIMIT_CPU, cpu, 1, FNG_MECH_SIGKILL) == FNG_ACT_KILL)
			kill_current();
	} else if (being_terminated(cgid)) {
		kill_current();
	}
	return 0;
}

/* Resident bytes of an address space, from the kernel's own counters. */
static __always_inline __s64 mm_resident_bytes(struct mm_struct *mm)
{
	__s64 pages = 0;
	int i;

	if (bpf_core_type_exists(struct mm_rss_stat___old)) {
		struct mm_struct___old *old = (void *)mm;

		for (i = 0; i < 4; i++)
			if (i != FNG_MM_SWAPENTS)
				pages += BPF_CORE_READ(old, rss_stat.count[i].counter);
	} else {
		for (i = 0; i < 4; i++)
			if (i != FNG_MM_SWAPENTS)
				pages += BPF_CORE_READ(mm, rss_stat[i].count);
	}
	return pages * FNG_PAGE_SIZE;
}

/* A memory counter of an address space changed (page faults, unmaps). Only
 * a task's own address space is followed: the process's total replaces its
 * previous one in the function's total. */
SEC("tp_btf/rss_stat")
int BPF_PROG(fng_rss, struct mm_struct *mm, int member)
{
	struct task_struct *current = bpf_get_current_task_btf();
	struct fng_proc_rss *proc, fresh = {};
	struct fng_cg_policy *policy;
	struct fng_usage *usage;
	__u64 cgid = 0;
	__s64 bytes, delta, total;
	__u32 tgid;

	if (current->mm != mm)
		return 0;
	policy = managed_policy(&cgid);
	if (!policy)
		return 0;
	bytes = mm_resident_bytes(mm);
	tgid = bpf_get_current_pid_tgid() >> 32;
	proc = bpf_map_lookup_elem(&fng_procs, &tgid);
	/* Most changes stay in the kernel's per-CPU batches and leave the
	 * process's total as it was. */
	if (proc && proc->bytes == bytes)
		return 0;
	usage = usage_of(cgid);
	if (!usage)
		return 0;
	if (!proc) {
		fresh.owner = cgid;
		bpf_map_update_elem(&fng_procs, &tgid, &fresh, BPF_NOEXIST);
		proc = bpf_map_lookup_elem(&fng_procs, &tgid);
		if (!proc)
			return 0;
	}
	delta = bytes - proc->bytes;
	proc->bytes = bytes;
	total = __sync_fetch_and_add(&usage->rss_bytes, delta) + delta;
	raise_peak(&usage->rss_peak, total);
	if (usage->limit[FNG_LIMIT_MEMORY] && total > (__s64)usage->limit[FNG_LIMIT_MEMORY])
		enforce_in_task(usage, policy, cgid, FNG_LIMIT_MEMORY, total);
	return 0;
}

/* TCP connections a function has open: counted when one is established
 * (either direction) and until it is closed. The socket carries the cgroup
 * of the task that made it (a listener's for accepted ones). */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(fng_tcp_state, struct sock *sk, int oldstate, int newstate)
{
	struct fng_cg_policy *policy;
	struct fng_usage *usage;
	__u64 id;
	__s64 open;

	if (newstate != FNG_TCP_ESTABLISHED && newstate != FNG_TCP_CLOSE)
		return 0;
	/* A socket closing before it was established (a refused connect, a
	 * listener) was never counted. */
	if (newstate == FNG_TCP_CLOSE && (oldstate == FNG_TCP_SYN_SENT || oldstate == FNG_TCP_SYN_RECV ||
					  oldstate == FNG_TCP_LISTEN || oldstate == FNG_TCP_NEW_SYN_RECV ||
					  oldstate == FNG_TCP_CLOSE))
		return 0;
	if (BPF_CORE_READ(sk, sk_protocol) != FNG_IPPROTO_TCP)
		return 0;
	id = BPF_CORE_READ(sk, sk_cgrp_data.cgroup, kn, id);
	policy = bpf_map_lookup_elem(&fng_policy, &id);
	if (!policy)
		return 0;
	usage = usage_of(policy->owner);
	if (!usage)
		return 0;
	if (newstate == FNG_TCP_ESTABLISHED) {
		open = __sync_fetch_and_add(&usage->connections, 1) + 1;
		__sync_fetch_and_add(&usage->connects, 1);
		raise_peak(&usage->connections_peak, open);
	} else if (usage->connections > 0) {
		__sync_fetch_and_sub(&usage->connections, 1);
	}
	return 0;
}
