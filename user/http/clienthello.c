/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TLS ClientHello parser (contract in clienthello.h). Two layers:
 *
 *   records   TLSPlaintext {type 22, version 3.x, length 1..2^14, fragment};
 *             the fragments are joined into ch->msg until the handshake
 *             header's length is reached (RFC 8446 5.1: a handshake message
 *             may span records; zero-length handshake fragments are not
 *             allowed). Bytes after the message's end are not looked at.
 *   message   Handshake {msg_type 1, uint24 length} then ClientHello
 *             {legacy_version, random[32], session_id<0..32>,
 *             cipher_suites<2..2^16-2>, compression_methods<1..2^8-1>,
 *             extensions<..2^16-1>}: each vector's length must fit what
 *             encloses it, the extensions block must end exactly where the
 *             message ends, and no extension type may repeat (RFC 8446 4.2).
 *             server_name (type 0) holds a ServerNameList with at most one
 *             host_name (RFC 6066 3), an ASCII DNS name without a trailing
 *             dot, returned lower-cased.
 *
 * The parse starts over on every call (the bytes are at most
 * HX_CH_RAW_MAX); ch->need tells the caller how long to wait, so a client
 * sending its hello in small pieces costs one parse per piece that can
 * change the answer, not one per byte.
 */
#include <string.h>

#include "http/clienthello.h"

#define REC_HDR		5
#define REC_MAX		16384	/* TLSPlaintext.length <= 2^14 */
#define CT_HANDSHAKE	22
#define HS_CLIENT_HELLO	1
#define EXT_SERVER_NAME	0
#define NAME_HOST	0

/* A read cursor over n bytes at p. */
struct rd {
	const uint8_t *p;
	size_t n;
};

static bool rd_u8(struct rd *r, uint8_t *v)
{
	if (r->n < 1)
		return false;
	*v = r->p[0];
	r->p++;
	r->n--;
	return true;
}

static bool rd_u16(struct rd *r, uint16_t *v)
{
	if (r->n < 2)
		return false;
	*v = (uint16_t)(r->p[0] << 8 | r->p[1]);
	r->p += 2;
	r->n -= 2;
	return true;
}

/* The next n bytes as their own cursor (sub), skipped in r. */
static bool rd_sub(struct rd *r, size_t n, struct rd *sub)
{
	if (r->n < n)
		return false;
	if (sub) {
		sub->p = r->p;
		sub->n = n;
	}
	r->p += n;
	r->n -= n;
	return true;
}

/* One host_name: 1..255 bytes of letters, digits, '-', '_' and dots
 * between non-empty labels; copied lower-cased. */
static int take_name(const struct rd *nm, struct hx_ch *ch)
{
	size_t i, label = 0;

	if (nm->n == 0 || nm->n > HX_CH_NAME_MAX)
		return HX_CH_BAD_NAME;
	for (i = 0; i < nm->n; i++) {
		uint8_t b = nm->p[i];

		if (b == '.') {
			if (label == 0)
				return HX_CH_BAD_NAME;	/* leading dot or ".." */
			label = 0;
		} else if ((b >= 'a' && b <= 'z') || (b >= '0' && b <= '9') || b == '-' || b == '_') {
			label++;
		} else if (b >= 'A' && b <= 'Z') {
			b = (uint8_t)(b - 'A' + 'a');
			label++;
		} else {
			return HX_CH_BAD_NAME;
		}
		if (label > 63)
			return HX_CH_BAD_NAME;
		ch->sni[i] = (char)b;
	}
	if (label == 0)
		return HX_CH_BAD_NAME;	/* trailing dot (RFC 6066: none) */
	ch->sni[nm->n] = '\0';
	ch->sni_len = nm->n;
	ch->has_sni = true;
	return HX_CH_OK;
}

/* server_name's extension_data: ServerNameList <1..2^16-1>. */
static int parse_server_name(struct rd *e, struct hx_ch *ch)
{
	uint16_t ll;

	if (!rd_u16(e, &ll) || ll != e->n || ll == 0)
		return HX_CH_BAD;
	while (e->n) {
		struct rd nm;
		uint16_t nl;
		uint8_t nt;
		int rc;

		if (!rd_u8(e, &nt) || !rd_u16(e, &nl) || !rd_sub(e, nl, &nm))
			return HX_CH_BAD;
		if (nt != NAME_HOST)
			continue;	/* no other type is defined; skipped */
		if (ch->has_sni)
			return HX_CH_BAD;	/* one name per type (RFC 6066 3) */
		rc = take_name(&nm, ch);
		if (rc)
			return rc;
	}
	return HX_CH_OK;
}

/* The ClientHello body (after the 4-byte handshake header). */
static int parse_hello(const uint8_t *body, size_t n, struct hx_ch *ch)
{
	uint8_t seen[65536 / 8];
	struct rd r = { body, n };
	uint16_t ver, cs, el;
	uint8_t sid, cm;

	if (!rd_u16(&r, &ver) || (ver >> 8) != 3)
		return HX_CH_BAD;
	ch->legacy_version = ver;
	if (!rd_sub(&r, 32, NULL))					/* random */
		return HX_CH_BAD;
	if (!rd_u8(&r, &sid) || sid > 32 || !rd_sub(&r, sid, NULL))	/* session id */
		return HX_CH_BAD;
	if (!rd_u16(&r, &cs) || cs < 2 || (cs & 1) || !rd_sub(&r, cs, NULL))
		return HX_CH_BAD;
	if (!rd_u8(&r, &cm) || cm < 1 || !rd_sub(&r, cm, NULL))
		return HX_CH_BAD;
	if (r.n == 0)
		return HX_CH_OK;	/* no extensions (SSL 3.0 style): no name */
	if (!rd_u16(&r, &el) || el != r.n)
		return HX_CH_BAD;
	memset(seen, 0, sizeof(seen));
	while (r.n) {
		struct rd e;
		uint16_t type, len;

		if (!rd_u16(&r, &type) || !rd_u16(&r, &len) || !rd_sub(&r, len, &e))
			return HX_CH_BAD;
		if (seen[type >> 3] & (1u << (type & 7)))
			return HX_CH_BAD;	/* a repeated extension */
		seen[type >> 3] |= (uint8_t)(1u << (type & 7));
		ch->nexts++;
		if (type == EXT_SERVER_NAME) {
			int rc = parse_server_name(&e, ch);

			if (rc)
				return rc;
		}
	}
	return HX_CH_OK;
}

int hx_ch_parse(const uint8_t *buf, size_t len, struct hx_ch *ch)
{
	size_t off = 0, have = 0, want = 0;

	ch->has_sni = false;
	ch->sni[0] = '\0';
	ch->sni_len = 0;
	ch->legacy_version = 0;
	ch->nrecords = ch->nexts = ch->raw_len = 0;
	ch->need = 0;
	for (;;) {
		size_t rlen, avail, take, c;

		if (len - off < REC_HDR) {
			/* a partial header: what is there must already fit */
			if (len > off && buf[off] != CT_HANDSHAKE)
				return off ? HX_CH_BAD : HX_CH_NOT_TLS;
			if (len > off + 1 && buf[off + 1] != 3)
				return off ? HX_CH_BAD : HX_CH_NOT_TLS;
			ch->need = off + REC_HDR;
			break;
		}
		if (buf[off] != CT_HANDSHAKE || buf[off + 1] != 3)
			return off ? HX_CH_BAD : HX_CH_NOT_TLS;
		rlen = (size_t)buf[off + 3] << 8 | buf[off + 4];
		if (rlen == 0 || rlen > REC_MAX)
			return HX_CH_BAD;
		if (off + REC_HDR + rlen > HX_CH_RAW_MAX)
			return HX_CH_TOO_BIG;
		ch->nrecords++;
		avail = len - off - REC_HDR;
		take = rlen < avail ? rlen : avail;
		/* the fragment's message bytes: up to the message's end once
		 * its length is known, never past the scratch */
		c = take;
		if (want && c > want - have)
			c = want - have;
		if (c > HX_CH_MSG_MAX - have)
			c = HX_CH_MSG_MAX - have;
		memcpy(ch->msg + have, buf + off + REC_HDR, c);
		have += c;
		if (have >= 1 && ch->msg[0] != HS_CLIENT_HELLO)
			return off ? HX_CH_BAD : HX_CH_NOT_TLS;
		if (!want && have >= 4) {
			want = 4 + ((size_t)ch->msg[1] << 16 | (size_t)ch->msg[2] << 8 | ch->msg[3]);
			if (want > HX_CH_MSG_MAX)
				return HX_CH_TOO_BIG;
			if (have > want)
				have = want;
		}
		if (want && have >= want) {
			ch->raw_len = off + REC_HDR + take;
			return parse_hello(ch->msg + 4, want - 4, ch);
		}
		if (take < rlen) {
			/* the record is incomplete: wait for its end, or for the
			 * message's end if that comes first */
			size_t missing = want ? want - have : 4 - have;

			ch->need = off + REC_HDR + rlen;
			if (len + missing < ch->need)
				ch->need = len + missing;
			break;
		}
		off += REC_HDR + rlen;
	}
	return ch->need > HX_CH_RAW_MAX ? HX_CH_TOO_BIG : HX_CH_MORE;
}

const char *hx_ch_rc_name(int rc)
{
	switch (rc) {
	case HX_CH_OK:
		return "ok";
	case HX_CH_MORE:
		return "incomplete";
	case HX_CH_NOT_TLS:
		return "not-tls";
	case HX_CH_BAD:
		return "malformed";
	case HX_CH_TOO_BIG:
		return "too-big";
	case HX_CH_BAD_NAME:
		return "bad-server-name";
	default:
		return "?";
	}
}
