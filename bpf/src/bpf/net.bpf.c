// SPDX-License-Identifier: GPL-2.0
/* Network policy: cgroup sock_addr programs, attached per managed cgroup,
 * judge every connect (TCP, UDP) and unconnected UDP sendmsg against the
 * egress and DNS lists, and every bind against the bind list. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>
#include "sockets.bpf.h"
#include "limits.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* True when one of the prefix's port rules admits port and protocol. */
static __always_inline int rules_admit(const struct fng_egress_value *value, __u16 port, __u8 proto_bit)
{
	for (int i = 0; i < FNG_MAX_PORT_RULES; i++) {
		if (i >= value->count)
			break;
		const struct fng_port_rule *rule = &value->rules[i];
		if ((rule->protos & proto_bit) && port >= rule->lo && port <= rule->hi)
			return 1;
	}
	return 0;
}

/* Looks the IPv4 address up in one of the cgroup's allow lists. */
static __always_inline int v4_listed(void *map, __u64 cgid, __u32 addr, __u16 port, __u8 proto_bit)
{
	struct fng_lpm_v4 key = {
		.prefixlen = 64 + 32,
		.cgid_lo = (__u32)cgid,
		.cgid_hi = (__u32)(cgid >> 32),
		.addr = addr,
	};
	struct fng_egress_value *value = bpf_map_lookup_elem(map, &key);

	return value && rules_admit(value, port, proto_bit);
}

/* Looks the IPv6 address up in one of the cgroup's allow lists. */
static __always_inline int v6_listed(void *map, __u64 cgid, const __u32 addr[4], __u16 port, __u8 proto_bit)
{
	struct fng_lpm_v6 key = {
		.prefixlen = 64 + 128,
		.cgid_lo = (__u32)cgid,
		.cgid_hi = (__u32)(cgid >> 32),
	};
	struct fng_egress_value *value;

	__builtin_memcpy(key.addr, addr, sizeof(key.addr));
	value = bpf_map_lookup_elem(map, &key);
	return value && rules_admit(value, port, proto_bit);
}

#define FNG_DNS_PORT 53

/* True when addr (IPv4 in addr[0], or IPv6) is one of the cgroup's resolvers. */
static __always_inline int dns_listed(const struct fng_net_policy *net, const __u32 addr[4], int is_v6)
{
	__u32 want[4] = {0, 0, bpf_htonl(0xffff), addr[0]};

	if (is_v6)
		__builtin_memcpy(want, addr, sizeof(want));
	for (int i = 0; i < FNG_MAX_DNS; i++) {
		const __u32 *listed = (const __u32 *)net->dns[i];

		if (i >= net->dns_count)
			break;
		if (listed[0] == want[0] && listed[1] == want[1] && listed[2] == want[2] && listed[3] == want[3])
			return 1;
	}
	return 0;
}

/* One end of a connection or packet: address (IPv4 in addr[0]) and port. */
struct fng_end {
	__u32 addr[4];
	__u16 port;
};

static __always_inline void fill_net_fields(struct fng_net_event *event, __u8 op, __u8 protocol, __u8 family,
					    const struct fng_end *src, const struct fng_end *dst)
{
	event->op = op;
	event->protocol = protocol;
	event->family = family;
	event->pad = 0;
	event->dport = dst->port;
	event->sport = src->port;
	__builtin_memcpy(event->daddr, dst->addr, sizeof(event->daddr));
	__builtin_memcpy(event->saddr, src->addr, sizeof(event->saddr));
}

/* The local end of a sock_addr call's socket (zero until it is bound). */
static __always_inline void local_end(struct bpf_sock_addr *ctx, int is_v6, struct fng_end *end)
{
	struct bpf_sock *sk = ctx->sk;

	if (!sk)
		return;
	end->port = sk->src_port;
	if (is_v6) {
		end->addr[0] = sk->src_ip6[0];
		end->addr[1] = sk->src_ip6[1];
		end->addr[2] = sk->src_ip6[2];
		end->addr[3] = sk->src_ip6[3];
	} else {
		end->addr[0] = sk->src_ip4;
	}
}

/* Reports a denied or audited network attempt within the cgroup's event
 * budget; a full ring is counted, never silent. */
static __always_inline void emit_net_event(struct fng_cg_stats *stats, __u64 cgid, __u8 verdict, __u8 op,
					   __u8 protocol, __u8 family, const struct fng_end *src,
					   const struct fng_end *dst, __u8 rule)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fng_net_event *event;

	if (!stats || !take_event_budget(stats, cgid))
		return;
	event = bpf_ringbuf_reserve(&fng_events, sizeof(*event), 0);
	if (!event) {
		__sync_fetch_and_add(&stats->events_dropped, 1);
		return;
	}
	fill_header(&event->hdr, op == FNG_OP_BIND ? FNG_EV_NET_BIND : FNG_EV_NET_EGRESS, cgid,
		    BPF_CORE_READ(task, real_parent, tgid));
	event->hdr.verdict = verdict;
	event->hdr.mechanism = verdict == FNG_DENIED ? FNG_MECH_SOCK_ADDR : FNG_MECH_NONE;
	event->hdr.rule = rule;
	fill_net_fields(event, op, protocol, family, src, dst);
	submit_event(event);
}

/* Reports a dropped or audited inbound packet from src (the peer) to dst.
 * The reserve stays in each emitter: 6.1's verifier loses track of a ring
 * buffer reservation returned from a helper function. */
static __always_inline void emit_ingress_event(struct fng_cg_stats *stats, __u64 cgid, __u8 verdict, __u8 protocol,
					       __u8 family, const struct fng_end *src, const struct fng_end *dst)
{
	struct fng_net_event *event;

	if (!stats || !take_event_budget(stats, cgid))
		return;
	event = bpf_ringbuf_reserve(&fng_events, sizeof(*event), 0);
	if (!event) {
		__sync_fetch_and_add(&stats->events_dropped, 1);
		return;
	}
	/* A packet belongs to no process: whoever the CPU ran is not it. */
	fill_packet_header(&event->hdr, FNG_EV_NET_INGRESS, cgid);
	event->hdr.verdict = verdict;
	event->hdr.mechanism = verdict == FNG_DENIED ? FNG_MECH_SKB_DROP : FNG_MECH_NONE;
	event->hdr.rule = FNG_RULE_INGRESS;
	fill_net_fields(event, FNG_OP_INGRESS, protocol, family, src, dst);
	submit_event(event);
}

/* Counts the attempt in the cgroup's stats. */
static __always_inline void count(struct fng_cg_stats *stats, __u8 op, __u8 verdict)
{
	if (!stats)
		return;
	if (op == FNG_OP_CONNECT) {
		if (verdict == FNG_ALLOWED)
			__sync_fetch_and_add(&stats->connect_allowed, 1);
		else if (verdict == FNG_DENIED)
			__sync_fetch_and_add(&stats->connect_denied, 1);
		else
			__sync_fetch_and_add(&stats->connect_audited, 1);
	} else {
		if (verdict == FNG_ALLOWED)
			__sync_fetch_and_add(&stats->sendmsg_allowed, 1);
		else if (verdict == FNG_DENIED)
			__sync_fetch_and_add(&stats->sendmsg_denied, 1);
		else
			__sync_fetch_and_add(&stats->sendmsg_audited, 1);
	}
}

/* connections and connections-per-sec, at an outbound TCP connect.
 * Returns 0 to refuse it (EPERM). */
static __always_inline int admit_connection(const struct fng_cg_policy *policy, __u64 cgid)
{
	struct fng_usage *usage = usage_of(cgid);
	__u64 limit, recent;
	__s64 open;
	int admit = 1;

	if (!usage)
		return 1;
	limit = usage->limit[FNG_LIMIT_CONNECTIONS];
	open = usage->connections;
	if (limit && open >= (__s64)limit &&
	    over_limit(usage, policy, cgid, FNG_LIMIT_CONNECTIONS, open + 1, 1, FNG_MECH_SOCK_ADDR) != FNG_ACT_ALERT)
		admit = 0;
	limit = usage->limit[FNG_LIMIT_CONNECTIONS_PER_SEC];
	if (limit) {
		recent = count_in_window(&usage->connect_window_ns, &usage->connect_window_count, 1);
		if (recent > limit && over_limit(usage, policy, cgid, FNG_LIMIT_CONNECTIONS_PER_SEC, recent, 1,
						 FNG_MECH_SOCK_ADDR) != FNG_ACT_ALERT)
			admit = 0;
	}
	if (!admit)
		__sync_fetch_and_add(&usage->connects_refused, 1);
	return admit;
}

#define FNG_SOL_SOCKET 1
#define FNG_SO_MAX_PACING_RATE 47

/* egress-rate that throttles: the connection is paced at the function's
 * rate by TCP itself, which holds one connection to it smoothly; the
 * egress program's bucket still caps all traffic together (drops). */
static __always_inline void pace_connection(struct bpf_sock_addr *ctx, __u64 cgid)
{
	struct fng_usage *usage = usage_of(cgid);
	__u32 rate; /* the kernel takes an int here; ~0U means unpaced */

	if (!usage || usage->action[FNG_LIMIT_EGRESS_RATE] == FNG_ACT_ALERT || !usage->limit[FNG_LIMIT_EGRESS_RATE])
		return;
	rate = usage->limit[FNG_LIMIT_EGRESS_RATE] >= 0xffffffffULL ? 0xfffffffe : usage->limit[FNG_LIMIT_EGRESS_RATE];
	bpf_setsockopt(ctx, FNG_SOL_SOCKET, FNG_SO_MAX_PACING_RATE, &rate, sizeof(rate));
}

/* Decides one egress attempt: 1 lets it through, 0 fails it with EPERM. */
static __always_inline int judge_egress(struct bpf_sock_addr *ctx, __u8 op, int is_v6)
{
	struct fng_cg_policy *policy;
	struct fng_cg_stats *stats;
	__u32 addr[4] = {};
	__u64 cgid = 0;
	__u8 protocol, proto_bit, verdict, rule = FNG_RULE_EGRESS;
	__u16 port;
	int allowed = 1;

	policy = managed_policy(&cgid);
	if (!policy)
		return 1;

	protocol = ctx->protocol;
	proto_bit = protocol == FNG_IPPROTO_TCP ? FNG_PROTO_TCP
		  : protocol == FNG_IPPROTO_UDP ? FNG_PROTO_UDP : FNG_PROTO_OTHER;
	port = bpf_ntohs(ctx->user_port);
	if (is_v6) {
		addr[0] = ctx->user_ip6[0];
		addr[1] = ctx->user_ip6[1];
		addr[2] = ctx->user_ip6[2];
		addr[3] = ctx->user_ip6[3];
	} else {
		addr[0] = ctx->user_ip4;
	}

	if ((policy->flags & FNG_F_DNS) && port == FNG_DNS_PORT && proto_bit != FNG_PROTO_OTHER) {
		/* DNS goes to the listed resolvers only, whatever egress says. */
		struct fng_net_policy *net = bpf_map_lookup_elem(&fng_net, &cgid);

		/* Resolvers are stored as IPv6, IPv4 ones v4-mapped: a v4-mapped
		 * destination matches them as it is. */
		rule = FNG_RULE_DNS;
		allowed = net && dns_listed(net, addr, is_v6);
	} else if (policy->flags & FNG_F_EGRESS) {
		/* ::ffff:a.b.c.d reaches the IPv4 host, so the IPv4 rules judge it. */
		if (!is_v6)
			allowed = v4_listed(&fng_egress_v4, cgid, addr[0], port, proto_bit);
		else if (addr[0] == 0 && addr[1] == 0 && addr[2] == bpf_htonl(0xffff))
			allowed = v4_listed(&fng_egress_v4, cgid, addr[3], port, proto_bit);
		else
			allowed = v6_listed(&fng_egress_v6, cgid, addr, port, proto_bit);
	}

	verdict = allowed ? FNG_ALLOWED : (policy->flags & FNG_F_AUDIT) ? FNG_AUDITED : FNG_DENIED;
	if (op == FNG_OP_CONNECT && protocol == FNG_IPPROTO_TCP && (policy->flags & FNG_F_CONNECTION_LIMITS) &&
	    verdict != FNG_DENIED && !admit_connection(policy, cgid))
		return 0;
	if (op == FNG_OP_CONNECT && protocol == FNG_IPPROTO_TCP && (policy->flags & FNG_F_PACED) &&
	    verdict == FNG_ALLOWED)
		pace_connection(ctx, cgid);
	stats = bpf_map_lookup_elem(&fng_stats, &cgid);
	count(stats, op, verdict);
	if (verdict != FNG_ALLOWED) {
		struct fng_end src = {}, dst = {.port = port};

		__builtin_memcpy(dst.addr, addr, sizeof(dst.addr));
		local_end(ctx, is_v6, &src);
		emit_net_event(stats, cgid, verdict, op, protocol, is_v6 ? 6 : 4, &src, &dst, rule);
	}
	return verdict != FNG_DENIED;
}

/* Decides one bind: 1 lets it through, 0 fails it with EPERM. Port 0 (the
 * kernel picks an ephemeral port) is always allowed: clients bind it too. */
static __always_inline int judge_bind(struct bpf_sock_addr *ctx, int is_v6)
{
	struct fng_cg_policy *policy;
	struct fng_net_policy *net;
	struct fng_cg_stats *stats;
	__u32 addr[4] = {};
	__u64 cgid = 0;
	__u8 protocol, proto_bit, verdict;
	__u16 port;

	policy = managed_policy(&cgid);
	if (!policy || !(policy->flags & FNG_F_BIND))
		return 1;
	port = bpf_ntohs(ctx->user_port);
	if (!port)
		return 1;
	protocol = ctx->protocol;
	proto_bit = protocol == FNG_IPPROTO_TCP ? FNG_PROTO_TCP
		  : protocol == FNG_IPPROTO_UDP ? FNG_PROTO_UDP : FNG_PROTO_OTHER;
	net = bpf_map_lookup_elem(&fng_net, &cgid);
	if (net && rules_admit(&net->bind, port, proto_bit))
		return 1;
	if (is_v6) {
		addr[0] = ctx->user_ip6[0];
		addr[1] = ctx->user_ip6[1];
		addr[2] = ctx->user_ip6[2];
		addr[3] = ctx->user_ip6[3];
	} else {
		addr[0] = ctx->user_ip4;
	}
	verdict = (policy->flags & FNG_F_AUDIT) ? FNG_AUDITED : FNG_DENIED;
	stats = bpf_map_lookup_elem(&fng_stats, &cgid);
	{
		struct fng_end local = {.port = port}, none = {};

		__builtin_memcpy(local.addr, addr, sizeof(local.addr));
		emit_net_event(stats, cgid, verdict, FNG_OP_BIND, protocol, is_v6 ? 6 : 4, &local, &none, FNG_RULE_BIND);
	}
	return verdict != FNG_DENIED;
}

SEC("cgroup/bind4")
int fng_bind4(struct bpf_sock_addr *ctx)
{
	return judge_bind(ctx, 0);
}

SEC("cgroup/bind6")
int fng_bind6(struct bpf_sock_addr *ctx)
{
	return judge_bind(ctx, 1);
}

SEC("cgroup/connect4")
int fng_connect4(struct bpf_sock_addr *ctx)
{
	return judge_egress(ctx, FNG_OP_CONNECT, 0);
}

SEC("cgroup/connect6")
int fng_connect6(struct bpf_sock_addr *ctx)
{
	return judge_egress(ctx, FNG_OP_CONNECT, 1);
}

SEC("cgroup/sendmsg4")
int fng_sendmsg4(struct bpf_sock_addr *ctx)
{
	return judge_egress(ctx, FNG_OP_SENDMSG, 0);
}

SEC("cgroup/sendmsg6")
int fng_sendmsg6(struct bpf_sock_addr *ctx)
{
	return judge_egress(ctx, FNG_OP_SENDMSG, 1);
}

/* Inet sockets the function's list does not admit (a family, or raw)
 * fail with EPERM before they exist. */
SEC("cgroup/sock_create")
int fng_sock_create(struct bpf_sock *ctx)
{
	struct fng_cg_policy *policy = NULL;
	struct fng_cg_stats *stats = NULL;
	__u64 cgid = 0;

	if (judge_socket(ctx->family, ctx->type, &policy, &cgid, &stats) || !policy)
		return 1;
	return !report_socket(policy, cgid, stats, ctx->family, ctx->type, ctx->protocol, FNG_MECH_SOCK_CREATE);
}

#define FNG_ETH_P_IP 0x0800
#define FNG_ETH_P_IPV6 0x86DD
#define FNG_TCP_SYN 0x02
#define FNG_TCP_ACK 0x10
/* Replies to the function's own requests arrive on ephemeral ports (32768
 * and up by default); servers listen below. */
#define FNG_FIRST_EPHEMERAL_PORT 32768
/* egress-rate: the bucket holds a tenth of a second at the rate, and at
 * least two of the largest packets (loopback and GSO send up to 64 KiB). */
#define FNG_RATE_MIN_BURST (2 * 65536)
#define FNG_US_NS 1000ULL

/* What the byte accounting and the ingress list need of a packet. */
struct fng_packet {
	struct fng_end src, dst;
	__u32 payload; /* transport payload bytes (IP payload for other protocols) */
	__u8 l4proto;
	__u8 is_v6;
	__u8 tcp_flags;
};

/* Reads a packet's IP and transport headers. Returns 0 for anything but
 * IPv4 and IPv6 (and for headers it cannot read). IPv6 extension headers
 * are not followed: such a packet's payload includes them. */
static __always_inline int parse_packet(struct __sk_buff *skb, struct fng_packet *p)
{
	__u32 l4, headers;

	if (skb->protocol == bpf_htons(FNG_ETH_P_IP)) {
		__u8 head[20];

		if (bpf_skb_load_bytes(skb, 0, head, sizeof(head)))
			return 0;
		p->l4proto = head[9];
		l4 = (head[0] & 0xf) * 4;
		__builtin_memcpy(&p->src.addr[0], &head[12], 4);
		__builtin_memcpy(&p->dst.addr[0], &head[16], 4);
	} else if (skb->protocol == bpf_htons(FNG_ETH_P_IPV6)) {
		__u8 head[40];

		if (bpf_skb_load_bytes(skb, 0, head, sizeof(head)))
			return 0;
		p->is_v6 = 1;
		p->l4proto = head[6];
		l4 = 40;
		__builtin_memcpy(p->src.addr, &head[8], 16);
		__builtin_memcpy(p->dst.addr, &head[24], 16);
	} else {
		return 0;
	}
	headers = l4;
	if (p->l4proto == FNG_IPPROTO_TCP) {
		__u8 tcp[14];

		if (bpf_skb_load_bytes(skb, l4 & 0xff, tcp, sizeof(tcp)))
			return 0;
		p->src.port = (__u16)tcp[0] << 8 | tcp[1];
		p->dst.port = (__u16)tcp[2] << 8 | tcp[3];
		p->tcp_flags = tcp[13];
		headers += (tcp[12] >> 4) * 4;
	} else if (p->l4proto == FNG_IPPROTO_UDP) {
		__u8 udp[4];

		if (bpf_skb_load_bytes(skb, l4 & 0xff, udp, sizeof(udp)))
			return 0;
		p->src.port = (__u16)udp[0] << 8 | udp[1];
		p->dst.port = (__u16)udp[2] << 8 | udp[3];
		headers += 8;
	}
	p->payload = skb->len > headers ? skb->len - headers : 0;
	return 1;
}

/* Transport payload bytes of a packet, from headers read in place (the
 * common case: they are in the linear part of the skb); else through
 * parse_packet. */
static __always_inline __u32 payload_bytes(struct __sk_buff *skb)
{
	__u8 *data = (__u8 *)(long)skb->data, *end = (__u8 *)(long)skb->data_end;
	struct fng_packet p = {};
	__u32 headers, l4proto;

	if (skb->protocol == bpf_htons(FNG_ETH_P_IP)) {
		if (data + 20 > end)
			goto slow;
		headers = (data[0] & 0xf) * 4;
		l4proto = data[9];
	} else if (skb->protocol == bpf_htons(FNG_ETH_P_IPV6)) {
		if (data + 40 > end)
			goto slow;
		headers = 40;
		l4proto = data[6];
	} else {
		return 0;
	}
	if (l4proto == FNG_IPPROTO_TCP) {
		__u8 *tcp = data + headers;

		if (tcp + 13 > end)
			goto slow;
		headers += (tcp[12] >> 4) * 4;
	} else if (l4proto == FNG_IPPROTO_UDP) {
		headers += 8;
	}
	return skb->len > headers ? skb->len - headers : 0;
slow:
	return parse_packet(skb, &p) ? p.payload : 0;
}

/* The ingress list: inbound connections (TCP SYN) and datagrams to server
 * ports from a peer the list does not admit for that local port are
 * dropped. Returns 0 to drop. */
static __always_inline int admit_inbound(const struct fng_cg_policy *policy, __u64 cgid, const struct fng_packet *p)
{
	__u8 proto_bit, verdict;
	int allowed;

	if (p->l4proto == FNG_IPPROTO_TCP) {
		if ((p->tcp_flags & (FNG_TCP_SYN | FNG_TCP_ACK)) != FNG_TCP_SYN)
			return 1;
		proto_bit = FNG_PROTO_TCP;
	} else if (p->l4proto == FNG_IPPROTO_UDP) {
		if (p->dst.port >= FNG_FIRST_EPHEMERAL_PORT)
			return 1;
		proto_bit = FNG_PROTO_UDP;
	} else {
		return 1;
	}
	if (!p->is_v6)
		allowed = v4_listed(&fng_ingress_v4, cgid, p->src.addr[0], p->dst.port, proto_bit);
	else
		allowed = v6_listed(&fng_ingress_v6, cgid, p->src.addr, p->dst.port, proto_bit);
	if (allowed)
		return 1;
	verdict = (policy->flags & FNG_F_AUDIT) ? FNG_AUDITED : FNG_DENIED;
	emit_ingress_event(bpf_map_lookup_elem(&fng_stats, &cgid), cgid, verdict, p->l4proto, p->is_v6 ? 6 : 4,
			   &p->src, &p->dst);
	return verdict != FNG_DENIED;
}

/* Packets into a function: judged by its ingress list, if it has one, then
 * counted against ingress-bytes. Replies and data of established
 * connections are never judged by the list. */
/* True when `total` bytes would take a byte total (egress-bytes,
 * ingress-bytes) past its limit. Once crossed, later packets are past it
 * too, however small: TCP could not deliver them past the gap anyway. */
static __always_inline int past_byte_total(const struct fng_usage *usage, __u32 limit_id, __u64 total)
{
	__u64 limit = usage->limit[limit_id];

	return limit && (total > limit || (usage->reported & (1ULL << limit_id)));
}

/* Reports a byte limit crossed in a packet program; true when the packet
 * is to be dropped (throttle). Off the common path, so the policy is
 * looked up here. */
static __always_inline int packet_throttled(struct fng_usage *usage, __u64 cgid, __u32 limit_id, __u64 observed)
{
	struct fng_cg_policy *policy = bpf_map_lookup_elem(&fng_policy, &cgid);

	return policy && over_limit(usage, policy, cgid, limit_id, observed, 0, FNG_MECH_SKB_DROP) == FNG_ACT_THROTTLE;
}

SEC("cgroup_skb/ingress")
int fng_ingress(struct __sk_buff *skb)
{
	__u64 cgid = bpf_skb_cgroup_id(skb);
	struct fng_cg_policy *policy = bpf_map_lookup_elem(&fng_policy, &cgid);
	struct fng_packet p = {};
	struct fng_usage *usage;
	__u64 total;
	__u32 payload;

	if (!policy)
		return 1;
	cgid = policy->owner;
	if (policy->flags & FNG_F_INGRESS) {
		if (!parse_packet(skb, &p))
			return 1;
		if (!admit_inbound(policy, cgid, &p))
			return 0;
		payload = p.payload;
	} else {
		payload = payload_bytes(skb);
	}
	usage = usage_of(cgid);
	if (!usage || !payload)
		return 1;
	total = usage->rx_bytes + payload;
	if (past_byte_total(usage, FNG_LIMIT_INGRESS_BYTES, total) &&
	    packet_throttled(usage, cgid, FNG_LIMIT_INGRESS_BYTES, total)) {
		__sync_fetch_and_add(&usage->rx_dropped, payload);
		return 0;
	}
	__sync_fetch_and_add(&usage->rx_bytes, payload);
	__sync_fetch_and_add(&usage->rx_packets, 1);
	return 1;
}

/* Takes a packet's bytes from the egress-rate bucket; 0 when they are not
 * there. The tokens themselves are read and written without a lock:
 * packets on several CPUs at once may each pass on the same tokens, so the
 * rate holds to within about a packet per CPU per refill. */
static __always_inline int take_rate_tokens(struct fng_usage *usage, __u64 rate, __u32 bytes)
{
	__u64 now = bpf_ktime_get_ns(), burst = rate / 10, elapsed_us;
	__s64 tokens = usage->rate_tokens;

	if (burst < FNG_RATE_MIN_BURST)
		burst = FNG_RATE_MIN_BURST;
	__u64 refilled = usage->rate_refill_ns;
	__s64 elapsed = (__s64)(now - refilled);

	/* Refilled in whole microseconds, so that rate * time cannot overflow;
	 * signed, since another CPU may have refilled after this one read the
	 * clock; only the CPU that moves the refill time adds the tokens. */
	elapsed_us = elapsed > 0 ? elapsed / FNG_US_NS : 0;
	if (!refilled || elapsed_us >= 1000000) {
		if (__sync_val_compare_and_swap(&usage->rate_refill_ns, refilled, now) == refilled)
			tokens = burst;
	} else if (elapsed_us &&
		   __sync_val_compare_and_swap(&usage->rate_refill_ns, refilled, refilled + elapsed_us * FNG_US_NS) ==
			   refilled) {
		tokens += elapsed_us * rate / 1000000;
		if (tokens > (__s64)burst)
			tokens = burst;
	}
	if (tokens < bytes) {
		usage->rate_tokens = tokens;
		return 0;
	}
	usage->rate_tokens = tokens - bytes;
	return 1;
}

/* cgroup_skb egress return values: 2 drops the packet and tells TCP to
 * slow down (congestion notification) instead of waiting for a timeout. */
#define FNG_SKB_DROP_CN 2

/* Packets out of a function: counted, and held to egress-bytes and
 * egress-rate. Packets without payload (handshakes, ACKs) always pass, so
 * connections still close. */
SEC("cgroup_skb/egress")
int fng_egress(struct __sk_buff *skb)
{
	__u64 cgid = bpf_skb_cgroup_id(skb);
	struct fng_usage *usage = usage_of(cgid);
	struct fng_cg_policy *policy;
	__u64 rate, total;
	__u32 payload;

	/* Usually the container's own cgroup; a child cgroup's sockets go
	 * through its alias to the owner. */
	if (!usage) {
		policy = bpf_map_lookup_elem(&fng_policy, &cgid);
		if (!policy)
			return 1;
		cgid = policy->owner;
		usage = usage_of(cgid);
		if (!usage)
			return 1;
	}
	payload = payload_bytes(skb);
	if (!payload)
		return 1;
	total = usage->tx_bytes + payload;
	if (past_byte_total(usage, FNG_LIMIT_EGRESS_BYTES, total) &&
	    packet_throttled(usage, cgid, FNG_LIMIT_EGRESS_BYTES, total)) {
		__sync_fetch_and_add(&usage->tx_dropped, payload);
		return 0;
	}
	rate = usage->limit[FNG_LIMIT_EGRESS_RATE];
	if (rate && !take_rate_tokens(usage, rate, payload) &&
	    packet_throttled(usage, cgid, FNG_LIMIT_EGRESS_RATE, rate)) {
		__sync_fetch_and_add(&usage->tx_dropped, payload);
		return FNG_SKB_DROP_CN;
	}
	__sync_fetch_and_add(&usage->tx_bytes, payload);
	__sync_fetch_and_add(&usage->tx_packets, 1);
	return 1;
}
