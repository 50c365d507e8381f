/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The north-south (XDP/TC) part of the data plane library:
 *  - Maglev tables for consistentHash at L4 (user/lib/compile_maglev.c),
 *    pure functions unit-tested without root, plus the map writer;
 *  - loading, attaching and pinning the XDP and TC programs on interfaces
 *    (user/lib/dp_xdp.c): native XDP, else generic XDP, else the same DNAT
 *    as a TC ingress program; and the TC reverse NAT at egress of the same
 *    interface.
 * All functions return 0 or -errno; operator messages go to err
 * (SL_DP_ERRLEN bytes) when non-NULL. See docs/xdp.md.
 */
#ifndef SLUICE_XDP_H
#define SLUICE_XDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/abi.h"
#include "sluice/dataplane.h"

/* ---- Maglev --------------------------------------------------------------- */

/* True when m is prime (trial division; m is at most a few million). */
bool sl_is_prime(uint32_t m);

/* Fill table[0..m-1] with backend positions 0..n-1 by Maglev population.
 * keys[i] names backend i stably (e.g. "198.18.1.1:9000"): its permutation
 * depends only on its key, so removing one backend only moves the slots it
 * held (plus a few from the fill order). weights[i] scale how many turns a
 * backend takes (0 = excluded; NULL = all equal). m must be prime and
 * larger than n. Returns 0, or -EINVAL (bad m, no backend with weight). */
int sl_maglev_build(const char *const *keys, const uint32_t *weights, size_t n,
		    uint32_t m, uint32_t *table);

/* Maglev entries of one generation: (gen, slot) -> sluice_backend idx. */
struct sl_maglev_gen {
	struct sluice_maglev_key *keys;
	uint32_t *vals;
	size_t n;
};

struct sl_l4_gen;

/* For every subset of g with lb == SLUICE_LB_MAGLEV: build its table (size
 * maglev_size when set, else default_m), assign maglev_first/maglev_size in
 * g's subset entries, and append the slots to out. Subsets are laid out
 * one after the other in slot space. Returns 0 or -errno (message in err). */
int sl_compile_maglev(struct sl_l4_gen *g, uint32_t default_m, struct sl_maglev_gen *out,
		      char *err);
void sl_maglev_gen_free(struct sl_maglev_gen *mg);

/* Write the entries to the sluice_maglev map (batched), or delete every
 * entry of generation gen (after a flip). */
int sl_maglev_write(int map_fd, const struct sl_maglev_gen *mg);
int sl_maglev_delete_gen(int map_fd, uint32_t gen);

/* ---- XDP/TC attach ---------------------------------------------------------- */

enum sl_xdp_mode {
	SL_XDP_MODE_AUTO = 0,	/* native, else generic, else TC ingress */
	SL_XDP_MODE_NATIVE,
	SL_XDP_MODE_GENERIC,
	SL_XDP_MODE_TC,		/* the TC ingress fallback only */
};

struct sl_xdp_opts {
	const char *bpffs;		/* pin root shared with the socket programs */
	enum sl_xdp_mode mode;
	uint32_t ct_size;		/* --ct-size: conntrack entries (0 = default) */
	uint32_t ct6_size;		/* ct6-size: IPv6 conntrack entries (0 = default) */
	uint32_t maglev_entries;	/* --maglev-entries: map capacity (0 = default) */
	uint32_t ct_syn_timeout_s;	/* 0 = defaults of abi.h */
	uint32_t ct_est_timeout_s;
	uint32_t ct_close_timeout_s;
	bool no_redirect;		/* hand DNATed packets to the stack (no fib redirect) */
	/* redirect-to=IF+IF: interfaces the operator vouches take XDP frames
	 * with complete checksums (veths whose peers run NAPI, senders with tx
	 * checksum offload off), added to sluice_xdp_tx with the native ones */
	const char *redirect_to;
};

/* What is attached where, for `sluicectl status`. */
struct sl_xdp_iface {
	char name[32];
	int ifindex;
	char mode[16];			/* "native", "generic", "tc-ingress" or "none" */
	bool tc_egress;			/* reverse NAT attached */
	bool tc_ingress;		/* DNAT by the TC ingress fallback (no XDP) */
	bool veth;			/* driver veth: auto mode gives it TC ingress */
	bool redirect;			/* in sluice_xdp_tx: DNATed frames redirected */
	char why[128];			/* when something could not attach, or why
					 * auto chose what it did */
};

struct sl_xdp;

/* Load (or re-adopt) the XDP and TC programs with opts, attach them to every
 * interface of the comma-separated list, pin programs and links under
 * <bpffs>/xdp/. Fails (nothing left attached) when any interface fails. */
int sl_xdp_open(const struct sl_xdp_opts *opts, const char *ifaces, struct sl_xdp **out,
		char *err);
size_t sl_xdp_ifaces(const struct sl_xdp *x, const struct sl_xdp_iface **v);
/* Live conntrack entries (both directions) and capacity, for pressure:
 * sluice_ct4 (IPv4 flows, one entry each mostly). */
int sl_xdp_ct_usage(struct sl_xdp *x, uint64_t *entries, uint64_t *capacity);
/* The same for sluice_ct6 (IPv6 flows, two entries each). */
int sl_xdp_ct6_usage(struct sl_xdp *x, uint64_t *entries, uint64_t *capacity);
/* Close the handle; attached programs keep running (pinned links). */
void sl_xdp_close(struct sl_xdp *x);
/* Detach and unpin everything under <bpffs>/xdp/ and the XDP-only maps. */
int sl_xdp_reset(const char *bpffs, char *err);

#endif /* SLUICE_XDP_H */
