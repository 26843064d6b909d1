/* Egress policy structs shared with user space (bpf/src/layout.rs mirrors them). */
#ifndef FNGUARD_NET_H
#define FNGUARD_NET_H

#include "events.h"

#define FNG_MAX_PORT_RULES 16

/* Protocol bits of a port rule. */
#define FNG_PROTO_TCP 1
#define FNG_PROTO_UDP 2
#define FNG_PROTO_OTHER 4

struct fng_port_rule {
	__u16 lo;	/* host byte order, inclusive */
	__u16 hi;
	__u8 protos;	/* FNG_PROTO_* bits */
	__u8 pad[3];
};

/* Every port rule that applies to one prefix (its own and those of shorter
 * prefixes containing it), so one longest-prefix lookup decides. */
struct fng_egress_value {
	__u32 count;
	__u32 pad;
	struct fng_port_rule rules[FNG_MAX_PORT_RULES];
};

/* LPM keys: the cgroup id is always matched whole (prefixlen >= 64), then
 * the address prefix. */
struct fng_lpm_v4 {
	__u32 prefixlen;
	__u32 cgid_lo;
	__u32 cgid_hi;
	__u32 addr;	/* network byte order */
};

struct fng_lpm_v6 {
	__u32 prefixlen;
	__u32 cgid_lo;
	__u32 cgid_hi;
	__u32 addr[4];	/* network byte order */
};

#define FNG_MAX_DNS 16

/* Per managed cgroup: bind and DNS policy and scan thresholds (written by
 * the hook), and the scan detection's window (written by the programs). */
struct fng_net_policy {
	struct fng_egress_value bind; /* ports it may bind; FNG_F_BIND says whether this applies */
	__u32 dns_count;
	__u32 scan_window_ms;
	__u8 dns[FNG_MAX_DNS][16];    /* resolvers; IPv4 as ::ffff:a.b.c.d */
	__u16 scan_ports;	      /* distinct destination ports per window that make a scan */
	__u16 scan_hosts;	      /* distinct destination hosts per window that make a scan */
	__u16 scan_denied;	      /* denied connections per window that make a probe */
	__u16 pad;
	/* Scan state: the current window, destinations seen (hashed bits). */
	__u64 window_start_ns;
	__u64 port_bits[8];
	__u64 host_bits[8];
	__u32 ports_seen;
	__u32 hosts_seen;
	__u32 denied_seen;
	__u32 fired;		      /* detections already sent this window: bit per rule */
	__u64 sockets;		      /* fnguard.io/sockets: bit (1 << AF_*) per allowed family, */
				      /* FNG_SOCKETS_RAW for raw inet sockets */
};

#define FNG_SOCKETS_RAW (1ULL << 63)

enum fng_net_op {
	FNG_OP_CONNECT = 1,
	FNG_OP_SENDMSG = 2,
	FNG_OP_BIND = 3,
	FNG_OP_INGRESS = 4, /* an inbound connection (TCP SYN) or datagram; daddr is the peer */
};

/* Source and destination as the packet or call goes: for connect and
 * sendmsg the function is the source (0 until its socket is bound), for
 * ingress the peer is, for bind the source is the local address asked for. */
struct fng_net_event {
	struct fng_event_header hdr;
	__u8 op;	/* enum fng_net_op */
	__u8 protocol;	/* IPPROTO_* */
	__u8 family;	/* 4 or 6 */
	__u8 pad;
	__u16 dport;	/* host byte order */
	__u16 sport;	/* host byte order */
	__u8 daddr[16];	/* network byte order; IPv4 in the first 4 bytes */
	__u8 saddr[16];
};

#endif
