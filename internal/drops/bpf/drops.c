// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* drops.c: one event per kernel packet drop, from the BTF tracepoint skb:kfree_skb.
 *
 * Read-only: the program only reads the dropped skb and writes events to a ring buffer; it never
 * changes a packet, a verdict or any networking state. Events carry the drop reason, the kernel
 * location, the network namespace (of the device, else of the socket), the device and the first
 * bytes of the packet from its network header. When filter_netns is set, only drops in the
 * namespaces listed in the netns map are reported. */
#include "drops.h"

#define SNAP 128
/* Wake the reader only once this much is waiting; it also polls every few milliseconds. One
 * wake-up per drop costs more than the drop itself at 100k drops/s. */
#define WAKEUP_BYTES (64 * 1024)

char __license[] SEC("license") = "Dual BSD/GPL";

/* Set by the loader before the program is loaded (.rodata). */
volatile const __u32 filter_netns = 0;

struct event {
	__u64 ts;       /* bpf_ktime_get_ns: CLOCK_MONOTONIC */
	__u64 location; /* kernel address of the caller that freed the skb */
	__u32 reason;   /* enum skb_drop_reason */
	__u32 netns;    /* inode number of the netns, 0 when unknown */
	__u32 ifindex;  /* 0 when the skb had no device */
	__u32 len;      /* skb->len */
	__u16 protocol; /* skb->protocol, network byte order */
	__u16 caplen;   /* valid bytes in data */
	char ifname[16];
	__u8 data[SNAP]; /* from the network header */
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u8);
} netns SEC(".maps");

/* lost counts events the ring buffer had no room for, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

SEC("tp_btf/kfree_skb")
int kfree_skb(unsigned long long *ctx)
{
	struct sk_buff *skb = (struct sk_buff *)ctx[0];
	__u64 location = ctx[1];
	__u32 reason = (__u32)ctx[2];
	struct net_device *dev;
	struct sock *sk;
	__u32 inum = 0;
	__u16 nh;

	if (!skb)
		return 0;
	dev = skb->dev;
	sk = skb->sk;
	if (dev)
		inum = dev->nd_net.net->ns.inum;
	else if (sk)
		inum = sk->__sk_common.skc_net.net->ns.inum;
	if (filter_netns && !bpf_map_lookup_elem(&netns, &inum))
		return 0;

	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__u32 zero = 0;
		__u64 *n = bpf_map_lookup_elem(&lost, &zero);
		if (n)
			*n += 1;
		return 0;
	}
	e->ts = bpf_ktime_get_ns();
	e->location = location;
	e->reason = reason;
	e->netns = inum;
	e->len = skb->len;
	e->protocol = skb->protocol;
	e->ifindex = 0;
	e->ifname[0] = 0;
	if (dev) {
		e->ifindex = dev->ifindex;
		bpf_probe_read_kernel(e->ifname, sizeof(e->ifname), dev->name);
	}
	e->caplen = 0;
	nh = skb->network_header;
	if (nh != (__u16)~0U && skb->head) {
		if (bpf_probe_read_kernel(e->data, SNAP, skb->head + nh) == 0)
			e->caplen = SNAP;
	}
	bpf_ringbuf_submit(e, bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= WAKEUP_BYTES ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
	return 0;
}
