/* Resource limits: what happens when a function crosses one. Used by the
 * tracing programs (tasks, CPU, memory) and the cgroup programs
 * (connections, bytes). */
#ifndef FNGUARD_LIMITS_BPF_H
#define FNGUARD_LIMITS_BPF_H

#include "common.bpf.h"

/* Usage entry of a function, by its container's cgroup id. */
static __always_inline struct fng_usage *usage_of(__u64 cgid)
{
	return bpf_map_lookup_elem(&fng_usage, &cgid);
}

/* Raises a peak to at least `now`. Racing writers may lose an update by a
 * few units; the next change corrects it. */
static __always_inline void raise_peak(__u64 *peak, __s64 now)
{
	if (now > 0 && (__u64)now > *peak)
		*peak = now;
}

/* Counts `n` in a one-second window starting at *window_ns; returns the
 * count of the current window. */
static __always_inline __u64 count_in_window(__u64 *window_ns, __u64 *count, __u64 n)
{
	__u64 now = bpf_ktime_get_ns(), start = *window_ns;

	/* Signed: another CPU may have started a window after this one read
	 * the clock. Only the CPU that moves the window resets the count. */
	if ((__s64)(now - start) >= (__s64)FNG_SEC_NS &&
	    __sync_val_compare_and_swap(window_ns, start, now) == start)
		*count = 0;
	return __sync_fetch_and_add(count, n) + n;
}

/* Marks the function for termination: its tasks are killed wherever a
 * program next sees them (system call exit, fork, CPU sample),
 * and its init process where the kernel lets a program signal it. */
static __always_inline void terminate(__u64 cgid, __u32 limit)
{
	struct fng_cg_stats *stats = bpf_map_lookup_elem(&fng_stats, &cgid);
	struct fng_node *node;
	__u32 zero = 0;

	if (!stats || __sync_val_compare_and_swap(&stats->terminating, 0, limit + 1) != 0)
		return;
	node = bpf_map_lookup_elem(&fng_node, &zero);
	if (node)
		__sync_fetch_and_add(&node->terminating, 1);
}

/* True when the current task belongs to a function being terminated. */
static __always_inline int being_terminated(__u64 cgid)
{
	struct fng_cg_stats *stats = bpf_map_lookup_elem(&fng_stats, &cgid);

	return stats && stats->terminating;
}

/* A function crossed `limit` with `observed`. Reports it once (the first
 * time) and returns what the caller must do now: FNG_ACT_KILL (the function
 * is being terminated; kill the current task where the program may, and
 * let packets through so that tasks waiting on them wake up and die at
 * their system call's exit), FNG_ACT_THROTTLE (refuse or drop what went
 * over) or FNG_ACT_ALERT (nothing). In audit mode every limit only alerts. `in_task`: the program
 * runs in the function's task (else the event names no task).
 * `mechanism`: what throttling does here. */
static __always_inline int over_limit(struct fng_usage *usage, const struct fng_cg_policy *policy, __u64 cgid,
				      __u32 limit, __u64 observed, int in_task, __u8 mechanism)
{
	struct fng_limit_event *event;
	__u64 bit = 1ULL << (limit & 63);
	__u8 action = FNG_ACT_ALERT;

	if (limit < FNG_LIMIT_COUNT)
		action = usage->action[limit];
	if (policy->flags & FNG_F_AUDIT)
		action = FNG_ACT_ALERT;
	if (action == FNG_ACT_KILL)
		terminate(cgid, limit);
	if (__sync_fetch_and_or(&usage->reported, bit) & bit)
		return action;
	event = bpf_ringbuf_reserve(&fng_events, sizeof(*event), 0);
	if (!event) {
		struct fng_cg_stats *stats = bpf_map_lookup_elem(&fng_stats, &cgid);

		if (stats)
			__sync_fetch_and_add(&stats->events_dropped, 1);
		return action;
	}
	if (in_task)
		fill_header(&event->hdr, FNG_EV_LIMIT, cgid, 0);
	else
		fill_packet_header(&event->hdr, FNG_EV_LIMIT, cgid);
	if (policy->flags & FNG_F_AUDIT) {
		event->hdr.verdict = FNG_AUDITED;
	} else if (action == FNG_ACT_ALERT) {
		event->hdr.verdict = FNG_ALERTED;
	} else {
		event->hdr.verdict = FNG_DENIED;
		event->hdr.mechanism = action == FNG_ACT_KILL ? FNG_MECH_SIGKILL : mechanism;
	}
	event->limit = limit;
	event->action = action;
	event->value = limit < FNG_LIMIT_COUNT ? usage->limit[limit] : 0;
	event->observed = observed;
	submit_event(event);
	return action;
}

#endif
