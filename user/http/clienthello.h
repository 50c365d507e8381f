/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A bounded parser of a TLS ClientHello (clienthello.c), for routing a TLS
 * connection by its server name without terminating it (passthru.c).
 *
 * It reads the first bytes a client sent: TLS records (RFC 8446 5.1) of
 * content type handshake carrying one ClientHello message (4.1.2), possibly
 * fragmented over several records, each possibly split over several TCP
 * segments; it walks the ClientHello's fields and extensions and takes the
 * server_name extension's host_name (RFC 6066 3). It allocates nothing and
 * never reads past len; the caller keeps the bytes (they are forwarded as
 * they came).
 */
#ifndef SLUICE_HTTP_CLIENTHELLO_H
#define SLUICE_HTTP_CLIENTHELLO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The handshake message (4-byte header and body) is at most this long:
 * real ClientHellos are 200 B to 2 KB (post-quantum key shares included). */
#define HX_CH_MSG_MAX	16384
/* Record bytes read before giving up: the message plus record headers of
 * a fragmented message (a 1 KB hello in 1-byte records takes 6 KB). */
#define HX_CH_RAW_MAX	(HX_CH_MSG_MAX + 4096)
#define HX_CH_NAME_MAX	255	/* RFC 6066: HostName <1..2^16-1>, DNS: 255 */

enum hx_ch_rc {
	HX_CH_OK = 0,		/* complete: fields below are set */
	HX_CH_MORE = 1,		/* valid so far: parse again with >= need bytes */
	HX_CH_NOT_TLS = -1,	/* the first bytes are not a TLS handshake record */
	HX_CH_BAD = -2,		/* malformed: a length or field out of bounds */
	HX_CH_TOO_BIG = -3,	/* message over HX_CH_MSG_MAX or records over HX_CH_RAW_MAX */
	HX_CH_BAD_NAME = -4,	/* server_name present but not a host name */
};

struct hx_ch {
	/* results (HX_CH_OK) */
	bool has_sni;
	char sni[HX_CH_NAME_MAX + 1];	/* lower-cased, NUL-terminated */
	size_t sni_len;
	uint16_t legacy_version;	/* client_version as sent (0x0303 for 1.2 and 1.3) */
	size_t nrecords;		/* records the message came in */
	size_t nexts;			/* extensions */
	size_t raw_len;			/* bytes up to the end of the record holding
					 * the message's last byte (as received) */
	/* HX_CH_MORE: how many bytes the buffer must hold before another
	 * parse can say more (so a trickle is not parsed byte by byte);
	 * never above HX_CH_RAW_MAX */
	size_t need;
	/* scratch: the message reassembled from its records */
	uint8_t msg[HX_CH_MSG_MAX];
};

/*
 * Parse buf[0..len): the bytes a client sent first, from the connection's
 * start. Returns an enum hx_ch_rc. Deterministic: the same bytes give the
 * same answer however they were split when they arrived.
 */
int hx_ch_parse(const uint8_t *buf, size_t len, struct hx_ch *ch);

/* A short name of a result, for logs and metrics. */
const char *hx_ch_rc_name(int rc);

#endif /* SLUICE_HTTP_CLIENTHELLO_H */
