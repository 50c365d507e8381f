/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The north-south maps of Sluice, declared once: conntrack (sluice_ct4,
 * sluice_ct4_rev, sluice_ct6; used by lib/ct.h), the Maglev tables
 * (sluice_maglev; lib/maglev.h), and the maps private to one object (the
 * XDP redirect devices and the IPv6 tail-call program arrays). The maps
 * the socket hooks share with XDP and TC (sluice_svc, sluice_route, ...,
 * sluice_counters) are in lib/maps.h.
 *
 * Included by bpf/xdp.bpf.c and bpf/tc.bpf.c only, which say which of
 * them they are (SLUICE_NS_XDP or SLUICE_NS_TC) before their includes:
 * libbpf creates every map an object declares, so a socket object that
 * declared these would preallocate the conntrack LRU, and a program array
 * can only be declared in the object that holds its program. Pinning as in
 * lib/maps.h: by name under the pin root, so XDP and TC share one
 * conntrack. Keys and values: include/sluice/abi.h ("XDP/TC north-south
 * section").
 */
#ifndef SLUICE_BPF_MAPS_NS_H
#define SLUICE_BPF_MAPS_NS_H

#if !defined(SLUICE_NS_XDP) && !defined(SLUICE_NS_TC)
#error "lib/maps_ns.h is for bpf/xdp.bpf.c (SLUICE_NS_XDP) and bpf/tc.bpf.c (SLUICE_NS_TC) only"
#endif

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "sluice/abi.h"

/* ---- shared by XDP and TC (pinned) ---- */

/* sluice_ct4: IPv4 flow 4-tuple + direction -> NAT target (see abi.h).
 * Writers: xdp (create, refresh, next-hop cache, client's state changes),
 * tc (refresh, backend's state changes). Readers: both. A common LRU rather
 * than per-CPU lists (BPF_F_NO_COMMON_LRU): per-CPU lists split the
 * capacity by CPU, and an evicted entry breaks its flow (no rehash can find
 * a randomly chosen backend again); measured no faster here (docs/xdp.md).
 * Size set by userspace before load (ct-size). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SLUICE_CT_DEFAULT_SIZE);
	__type(key, struct sluice_ct4_key);
	__type(value, struct sluice_ct4);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_ct4 SEC(".maps");

/* sluice_ct4_rev: backend addr:port -> VIP:port slots (abi.h). Writer: xdp
 * (and the TC ingress fallback) on a new flow; reader: tc on every reply.
 * An LRU: backends that are gone age out; a live backend's entry is touched
 * by every reply and every SYN to it, so it is never the least recently
 * used of SLUICE_CT4_REV_SIZE. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SLUICE_CT4_REV_SIZE);
	__type(key, struct sluice_ct4_rev_key);
	__type(value, struct sluice_ct4_rev);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_ct4_rev SEC(".maps");

/* sluice_ct6: IPv6 conntrack, two entries per flow (abi.h); writers and
 * readers as for sluice_ct4 (xdp creates both halves on the SYN; tc finds
 * the REPLY half from a reply). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SLUICE_CT6_DEFAULT_SIZE);
	__type(key, struct sluice_ct6_key);
	__type(value, struct sluice_ct6);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_ct6 SEC(".maps");

/* sluice_maglev: (gen, slot) -> backend idx. Writer: sluiced
 * (user/lib/compile_maglev.c). Readers: xdp and the TC ingress fallback.
 * Size set by userspace before load (maglev-size). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SLUICE_MAGLEV_DEFAULT_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sluice_maglev_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sluice_maglev SEC(".maps");

/* ---- private to bpf/xdp.bpf.c ---- */
#ifdef SLUICE_NS_XDP

/* sluice_xdp_tx: the devices a DNATed frame may be redirected between, by
 * ifindex; filled by user/lib/dp_xdp.c with the --xdp interfaces running
 * native XDP that are not veths (and those vouched for by redirect-to). Such a device takes XDP frames (its driver
 * has its XDP resources set up) and what it receives carries complete
 * checksums (from the wire). A veth does neither reliably: a frame
 * redirected into one is dropped unless its peer runs NAPI, and a local
 * sender behind one leaves the TCP checksum to offload, which a
 * redirected frame never gets. A packet arriving on, or routed to, a device
 * not in the map is DNATed and handed to the stack, which forwards it
 * (counted as XDP_TO_STACK): slower, never dropped.
 * Not pinned: each load gets its own, filled before its program goes into
 * the links, and the map lives as long as the program using it (the kernel
 * marks devmaps BPF_F_RDONLY_PROG, which a pinned one could not be reused
 * with from a declaration). */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u32);
} sluice_xdp_tx SEC(".maps");

/* The IPv6 path of the XDP program (bpf/xdp.bpf.c). */
int sluice_xdp6(struct xdp_md *ctx);

/* sluice_xdp_v6: sluice_xdp's tail call to sluice_xdp6, filled by libbpf
 * at load (also into a reused pin: a reload swaps the IPv6 program in).
 * Pinned because the kernel empties a program array when its last user
 * reference goes: unpinned, IPv6 would stop at the exit of the process
 * that loaded it while the pinned XDP link kept running. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u32));
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, int(struct xdp_md *));
} sluice_xdp_v6 SEC(".maps") = {
	.values = { [0] = (void *)&sluice_xdp6 },
};

#endif /* SLUICE_NS_XDP */

/* ---- private to bpf/tc.bpf.c ---- */
#ifdef SLUICE_NS_TC

/* The IPv6 path of the TC ingress fallback (bpf/tc.bpf.c). */
int sluice_tc_ingress6(struct __sk_buff *skb);

/* sluice_tc_v6: sluice_tc_ingress's tail call to sluice_tc_ingress6,
 * filled by libbpf at load; pinned for the reason given at sluice_xdp_v6. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u32));
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, int(struct __sk_buff *));
} sluice_tc_v6 SEC(".maps") = {
	.values = { [0] = (void *)&sluice_tc_ingress6 },
};

#endif /* SLUICE_NS_TC */

#endif /* SLUICE_BPF_MAPS_NS_H */
