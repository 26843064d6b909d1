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
#define FNG_TCP_CLOSE 7

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

/* The function (container cgroup id) a cgroup belongs to; 0 if none. */
static __always_inline __u64 function_of_cgroup(__u64 id)
{
	struct fng_cg_policy *policy = bpf_map_lookup_elem(&fng_policy, &id);

	return policy ? policy->owner : 0;
}

/* Kills the function's init process, which takes the container's pid
 * namespace with it: tasks asleep in a system call die too. Only when the
 * pid still belongs to the function (it may have been reused). */
static __always_inline void kill_init(struct fng_usage *usage, __u64 cgid)
{
#ifdef FNG_SIGNAL_TASK
	struct task_struct *init;

	if (!usage->init_pid)
		return;
	init = bpf_task_from_pid(usage->init_pid);
	if (!init)
		return;
	if (function_of_cgroup(BPF_CORE_READ(init, cgroups, dfl_cgrp, kn, id)) == cgid)
		bpf_send_signal_task(init, FNG_SIGKILL, PIDTYPE_TGID, 0);
	bpf_task_release(init);
#endif
}

/* Per task of a managed function: the function whose task count holds it,
 * and its CPU time already charged. Freed with the task. */
struct fng_task_state {
	__u64 owner;	  /* container cgroup id counting this task; 0: not counted here */
	__u64 charged_ns; /* sum_exec_runtime already charged */
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct fng_task_state);
} fng_tasks SEC(".maps");

/* Charges a task's CPU time since its last charge to its function; returns
 * the function's total. */
static __always_inline __u64 charge_cpu(struct task_struct *task, struct fng_usage *usage)
{
	struct fng_task_state *state = bpf_task_storage_get(&fng_tasks, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	__u64 runtime = BPF_CORE_READ(task, se.sum_exec_runtime), delta;

	if (!state || runtime <= state->charged_ns)
		return usage->cpu_ns;
	delta = runtime - state->charged_ns;
	state->charged_ns = runtime;
	return __sync_fetch_and_add(&usage->cpu_ns, delta) + delta;
}

/* Counts a task in its function's live tasks, once; returns the count. */
static __always_inline __s64 count_task(struct task_struct *task, struct fng_usage *usage, __u64 owner)
{
	struct fng_task_state *state = bpf_task_storage_get(&fng_tasks, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	__s64 tasks;

	if (!state || state->owner)
		return usage->tasks;
	state->owner = owner;
	tasks = __sync_fetch_and_add(&usage->tasks, 1) + 1;
	raise_peak(&usage->tasks_peak, tasks);
	return tasks;
}

/* True when a task was in the function's cgroup before the hook managed it:
 * the hook's seed counted it. */
static __always_inline int counted_by_seed(struct task_struct *task, __u64 owner)
{
	struct fng_cg_stats *stats = bpf_map_lookup_elem(&fng_stats, &owner);

	return stats && BPF_CORE_READ(task, start_time) < stats->start_ns;
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

/* A task was created (fork, or a thread), counted for the function its
 * cgroup belongs to: the creator's, or another with CLONE_INTO_CGROUP. */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(fng_fork, struct task_struct *parent, struct task_struct *child)
{
	__u64 child_cg = BPF_CORE_READ(child, cgroups, dfl_cgrp, kn, id), creator_cg = bpf_get_current_cgroup_id();
	__u64 owner = function_of_cgroup(child_cg), forks;
	struct fng_cg_policy *policy;
	struct fng_usage *usage;
	__s64 tasks;

	if (!owner)
		return 0;
	policy = bpf_map_lookup_elem(&fng_policy, &owner);
	usage = usage_of(owner);
	if (!policy || !usage)
		return 0;
	tasks = count_task(child, usage, owner);
	__sync_fetch_and_add(&usage->forks, 1);
	forks = count_in_window(&usage->fork_window_ns, &usage->fork_window_count, 1);
	/* The creator is killed only when it is the function's own: a
	 * runtime creating a task into the container is not. Most tasks are
	 * created in their creator's cgroup: no second lookup. */
	if (creator_cg != child_cg && function_of_cgroup(creator_cg) != owner) {
		if (usage->limit[FNG_LIMIT_PROCS] && tasks > (__s64)usage->limit[FNG_LIMIT_PROCS])
			over_limit(usage, policy, owner, FNG_LIMIT_PROCS, tasks, 0, FNG_MECH_SIGKILL);
		return 0;
	}
	if (usage->limit[FNG_LIMIT_PROCS] && tasks > (__s64)usage->limit[FNG_LIMIT_PROCS])
		enforce_in_task(usage, policy, owner, FNG_LIMIT_PROCS, tasks);
	if (usage->limit[FNG_LIMIT_FORKS_PER_SEC] && forks > usage->limit[FNG_LIMIT_FORKS_PER_SEC])
		enforce_in_task(usage, policy, owner, FNG_LIMIT_FORKS_PER_SEC, forks);
	if (being_terminated(owner))
		kill_current();
	return 0;
}

/* A process that joined the function's cgroup without being created there
 * (`runc exec`, an exec probe) is counted when it execs. */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(fng_task_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	struct task_struct *current = bpf_get_current_task_btf();
	struct fng_cg_policy *policy;
	struct fng_usage *usage;
	__u64 owner = 0;
	__s64 tasks;

	policy = managed_policy(&owner);
	if (!policy || counted_by_seed(current, owner))
		return 0;
	usage = usage_of(owner);
	if (!usage)
		return 0;
	tasks = count_task(current, usage, owner);
	if (usage->limit[FNG_LIMIT_PROCS] && tasks > (__s64)usage->limit[FNG_LIMIT_PROCS])
		enforce_in_task(usage, policy, owner, FNG_LIMIT_PROCS, tasks);
	return 0;
}

/* A task ended: it leaves the count that holds it, its CPU time is charged,
 * and at the last thread of a process its memory leaves the total. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(fng_task_exit, struct task_struct *task)
{
	struct task_struct *current = bpf_get_current_task_btf();
	struct fng_task_state *state = bpf_task_storage_get(&fng_tasks, current, 0, 0);
	struct fng_proc_rss *proc;
	struct fng_usage *usage;
	__u64 owner = state ? state->owner : 0;
	__s64 bytes;
	__u32 tgid;

	if (!owner) {
		/* A task the hook's seed counted, or none of fnguard's. */
		if (!managed_policy(&owner) || !counted_by_seed(current, owner))
			return 0;
	}
	usage = usage_of(owner);
	if (!usage)
		return 0;
	charge_cpu(current, usage);
	if (usage->tasks > 0)
		__sync_fetch_and_sub(&usage->tasks, 1);
	if (BPF_CORE_READ(task, signal, live.counter) == 0) {
		/* Several threads of an exiting group may all see the group
		 * dead: the one that deletes the entry subtracts it. */
		tgid = BPF_CORE_READ(task, tgid);
		proc = bpf_map_lookup_elem(&fng_procs, &tgid);
		if (proc) {
			bytes = __sync_lock_test_and_set(&proc->bytes, 0);
			if (proc->owner == owner)
				__sync_fetch_and_sub(&usage->rss_bytes, bytes);
			bpf_map_delete_elem(&fng_procs, &tgid);
		}
	}
	if (being_terminated(owner))
		kill_init(usage, owner);
	return 0;
}

/* CPU time of the running task, sampled every 10 ms of CPU on each CPU
 * (a perf cpu-clock event per CPU, attached while any function is
 * managed): the task's own sum_exec_runtime since its last charge goes to
 * its function, and the cpu-ms limit is checked. Exits charge the rest. */
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
	if (proc && proc->bytes == bytes && proc->owner == cgid)
		return 0;
	usage = usage_of(cgid);
	if (!usage)
		return 0;
	if (!proc || proc->owner != cgid) {
		/* New, or an entry of an earlier function left under a reused pid. */
		fresh.owner = cgid;
		bpf_map_update_elem(&fng_procs, &tgid, &fresh, BPF_ANY);
		proc = bpf_map_lookup_elem(&fng_procs, &tgid);
		if (!proc)
			return 0;
	}
	/* Threads of one process fault on several CPUs at once: the exchange
	 * gives each change to exactly one of them. */
	delta = bytes - __sync_lock_test_and_set(&proc->bytes, bytes);
	total = __sync_fetch_and_add(&usage->rss_bytes, delta) + delta;
	raise_peak(&usage->rss_peak, total);
	if (usage->limit[FNG_LIMIT_MEMORY] && total > (__s64)usage->limit[FNG_LIMIT_MEMORY])
		enforce_in_task(usage, policy, cgid, FNG_LIMIT_MEMORY, total);
	return 0;
}

/* Sockets counted in a function's open connections, and which function. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} fng_counted_sockets SEC(".maps");

/* TCP connections a function has open, both directions: counted from the
 * outbound SYN (so connects still in flight count against the limit) or
 * from an accepted connection's establishment, until the socket closes.
 * The socket carries the cgroup of the task that made it (a listener's for
 * accepted ones); the function counted is remembered on the socket. */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(fng_tcp_state, struct sock *sk, int oldstate, int newstate)
{
	struct fng_cg_policy *policy;
	struct fng_usage *usage;
	__u64 id, *counted;
	__s64 open;

	if (BPF_CORE_READ(sk, sk_protocol) != FNG_IPPROTO_TCP)
		return 0;
	if (newstate == FNG_TCP_CLOSE) {
		counted = bpf_sk_storage_get(&fng_counted_sockets, sk, 0, 0);
		if (!counted)
			return 0;
		usage = usage_of(*counted);
		if (usage && usage->connections > 0)
			__sync_fetch_and_sub(&usage->connections, 1);
		bpf_sk_storage_delete(&fng_counted_sockets, sk);
		return 0;
	}
	if (newstate != FNG_TCP_SYN_SENT && newstate != FNG_TCP_ESTABLISHED)
		return 0;
	id = BPF_CORE_READ(sk, sk_cgrp_data.cgroup, kn, id);
	policy = bpf_map_lookup_elem(&fng_policy, &id);
	if (!policy)
		return 0;
	usage = usage_of(policy->owner);
	if (!usage)
		return 0;
	if (newstate == FNG_TCP_ESTABLISHED)
		__sync_fetch_and_add(&usage->connects, 1);
	counted = bpf_sk_storage_get(&fng_counted_sockets, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!counted || *counted)
		return 0;
	*counted = policy->owner;
	open = __sync_fetch_and_add(&usage->connections, 1) + 1;
	raise_peak(&usage->connections_peak, open);
	return 0;
}
