/* Helpers every fnguard program uses: which cgroup governs the current task,
 * event headers and the per-cgroup event budget. */
#ifndef FNGUARD_COMMON_BPF_H
#define FNGUARD_COMMON_BPF_H

#include "maps.h"

#define FNG_SEC_NS 1000000000ULL
#define FNG_IPPROTO_TCP 6
#define FNG_IPPROTO_UDP 17

/* Events a cgroup may send per second; more are counted and reported as
 * one throttle event per window. */
const volatile __u64 events_per_sec = 20000;

/* Stops the current process before it returns to user space. */
static __always_inline void kill_current(void)
{
	bpf_send_signal(9 /* SIGKILL */);
}

/* Policy of the current task's cgroup; *cgid is set to its container's
 * cgroup id. One lookup: child cgroups get their own entry when created. */
static __always_inline struct fng_cg_policy *managed_policy(__u64 *cgid)
{
	__u64 id = bpf_get_current_cgroup_id();
	struct fng_cg_policy *policy = bpf_map_lookup_elem(&fng_policy, &id);

	if (policy)
		*cgid = policy->owner;
	return policy;
}

/* Bytes waiting in the ring before a submit wakes the reader: a reader
 * that keeps up would otherwise be woken for every event, which costs the
 * producing task a wakeup each. The reader also polls every 100 ms. */
#define FNG_WAKEUP_BYTES (64 * 1024)

/* Ring buffer flags for the next event: wake the reader once enough waits. */
static __always_inline __u64 wakeup_flags(void)
{
	return bpf_ringbuf_query(&fng_events, BPF_RB_AVAIL_DATA) >= FNG_WAKEUP_BYTES ? BPF_RB_FORCE_WAKEUP
										      : BPF_RB_NO_WAKEUP;
}

/* Submits a reserved event. */
static __always_inline void submit_event(void *event)
{
	bpf_ringbuf_submit(event, wakeup_flags());
}

/* Fills the fields every event carries; ppid only where tasks can be read. */
static __always_inline void fill_header(struct fng_event_header *hdr, __u32 kind, __u64 cgid, __u32 ppid)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	hdr->kind = kind;
	hdr->pid = pid_tgid >> 32;
	hdr->tid = (__u32)pid_tgid;
	hdr->uid = (__u32)bpf_get_current_uid_gid();
	hdr->cgid = cgid;
	hdr->ktime_ns = bpf_ktime_get_ns();
	bpf_get_current_comm(hdr->comm, sizeof(hdr->comm));
	hdr->ppid = ppid;
	hdr->verdict = FNG_ALLOWED;
	hdr->mechanism = FNG_MECH_NONE;
	hdr->rule = FNG_RULE_NONE;
	hdr->pad = 0;
}

/* Fills the fields of an event that belongs to no task (a packet, a
 * throttle window): pid, tid, uid and comm stay 0. Uses no current-task helper, which packet
 * programs may not call on older kernels. */
static __always_inline void fill_packet_header(struct fng_event_header *hdr, __u32 kind, __u64 cgid)
{
	__builtin_memset(hdr, 0, sizeof(*hdr));
	hdr->kind = kind;
	hdr->cgid = cgid;
	hdr->ktime_ns = bpf_ktime_get_ns();
}

/* Reports the throttled count of the window that just ended. */
static __always_inline void emit_throttled(__u64 cgid, __u64 throttled, __u64 window_ns)
{
	struct fng_throttled_event *event = bpf_ringbuf_reserve(&fng_events, sizeof(*event), 0);

	if (!event)
		return;
	/* The window belongs to the cgroup, not to the task that ended it. */
	fill_packet_header(&event->hdr, FNG_EV_THROTTLED, cgid);
	event->throttled = throttled;
	event->window_ns = window_ns;
	submit_event(event);
}

/* Takes one event from the cgroup's per-second budget. Returns 0 when the
 * budget is spent: the caller sends nothing and the loss is counted. */
static __always_inline int take_event_budget(struct fng_cg_stats *stats, __u64 cgid)
{
	__u64 now = bpf_ktime_get_ns();
	__u64 window = stats->rate_window_ns;

	if (now - window >= FNG_SEC_NS) {
		__u64 throttled = stats->window_throttled;

		stats->rate_window_ns = now;
		stats->rate_tokens = events_per_sec;
		stats->window_throttled = 0;
		if (throttled && window)
			emit_throttled(cgid, throttled, now - window);
	}
	if (stats->rate_tokens <= 0) {
		__sync_fetch_and_add(&stats->events_throttled, 1);
		__sync_fetch_and_add(&stats->window_throttled, 1);
		return 0;
	}
	__sync_fetch_and_sub(&stats->rate_tokens, 1);
	return 1;
}

#endif
