/* fnguard.io/sockets: which socket families and types a function may
 * create. Judged by the cgroup sock_create program (inet, inet6: EPERM),
 * by BPF-LSM socket_create where it runs (any family: EPERM), and else at
 * the exit of socket()/socketpair() (other families: SIGKILL). */
#ifndef FNGUARD_SOCKETS_BPF_H
#define FNGUARD_SOCKETS_BPF_H

#include "common.bpf.h"

#define FNG_SOCK_TYPE_MASK 0xf
#define FNG_SOCK_RAW_TYPE 3
#define FNG_FAMILY_INET 2
#define FNG_FAMILY_INET6 10

/* True when the function's list admits this socket. */
static __always_inline int socket_allowed(const struct fng_net_policy *net, __u32 family, __u32 type)
{
	int inet = family == FNG_FAMILY_INET || family == FNG_FAMILY_INET6;

	if (family >= 63 || !((net->sockets >> family) & 1))
		return 0;
	if (inet && (type & FNG_SOCK_TYPE_MASK) == FNG_SOCK_RAW_TYPE && !(net->sockets & FNG_SOCKETS_RAW))
		return 0;
	return 1;
}

/* True when the function (its policy and counters already looked up)
 * may not create this socket. */
static __always_inline int socket_denied(const struct fng_cg_policy *policy, __u64 cgid,
					 const struct fng_cg_stats *stats, __u32 family, __u32 type)
{
	struct fng_net_policy *net;

	/* Until the function's first exec the runtime's init works in the
	 * cgroup (sync socketpairs, console sockets): not the function. */
	if (!(policy->flags & FNG_F_SOCKETS) || !stats->first_exec_ns)
		return 0;
	net = bpf_map_lookup_elem(&fng_net, &cgid);
	return !net || !socket_allowed(net, family, type);
}

/* Judges a socket of the current task's function for the programs that
 * see nothing else (sock_create, LSM): 1 allowed (or not managed), 0 a
 * violation, with *policy_out, *cgid_out and *stats_out set. */
static __always_inline int judge_socket(__u32 family, __u32 type, struct fng_cg_policy **policy_out, __u64 *cgid_out,
					struct fng_cg_stats **stats_out)
{
	struct fng_cg_policy *policy = managed_policy(cgid_out);
	struct fng_cg_stats *stats;

	if (!policy || !(policy->flags & FNG_F_SOCKETS))
		return 1;
	stats = bpf_map_lookup_elem(&fng_stats, cgid_out);
	if (!stats || !socket_denied(policy, *cgid_out, stats, family, type))
		return 1;
	*policy_out = policy;
	*stats_out = stats;
	return 0;
}

/* Reports a socket violation; returns whether it is to be stopped. */
static __always_inline int report_socket(struct fng_cg_policy *policy, __u64 cgid, struct fng_cg_stats *stats,
					 __u32 family, __u32 type, __u32 protocol, __u8 mechanism)
{
	int stop = !(policy->flags & FNG_F_AUDIT);
	struct fng_socket_event *event;

	if (!stats || (!stop && !take_event_budget(stats, cgid)))
		return stop;
	event = bpf_ringbuf_reserve(&fng_events, sizeof(*event), 0);
	if (!event) {
		__sync_fetch_and_add(&stats->events_dropped, 1);
		return stop;
	}
	fill_header(&event->hdr, FNG_EV_SOCKET, cgid, 0);
	event->hdr.verdict = stop ? FNG_DENIED : FNG_AUDITED;
	event->hdr.mechanism = stop ? mechanism : FNG_MECH_NONE;
	event->hdr.rule = FNG_RULE_SOCKETS;
	event->family = family;
	event->type = type & FNG_SOCK_TYPE_MASK;
	event->protocol = protocol;
	event->pad = 0;
	submit_event(event);
	return stop;
}

#endif
