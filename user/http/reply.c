/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Answers made by sluice-http itself rather than relayed: errors with their
 * x-sluice-reason and Envoy response flag, fault aborts (HTTP, and gRPC's
 * trailers-only), redirects and httpsRedirect. proxy.c decides when.
 */
#include <stdio.h>
#include <string.h>

#include "http/h2.h"
#include "http/proxy.h"

/* A response made here (errors, faults, redirects). The connection closes
 * after it when the request body is not fully read. */
void hx_cli_reply(struct hx_cli *c, int code, const char *extra)
{
	char hdr[1024];
	const char *body = hx_reason(code);
	int n;

	if (!c->body_done)
		c->close_after = true;
	n = snprintf(hdr, sizeof(hdr),
		     "HTTP/1.1 %d %s\r\ncontent-type: text/plain\r\ncontent-length: %zu\r\n%s%s\r\n%s\n",
		     code, hx_reason(code), strlen(body) + 1, extra ? extra : "",
		     c->close_after ? "connection: close\r\n" : "", body);
	if (n > 0 && (size_t)n < sizeof(hdr)) {
		hx_buf_put(&c->out, hdr, (size_t)n);
		c->tx_bytes += (uint64_t)n;
	}
	c->status = code;
	c->resp_started = true;
}

/* Envoy's response flag for a local reply, from its x-sluice-* header. */
static const char *reply_flags(const char *hname, const char *hval)
{
	static const struct {
		const char *hval, *flags;
	} reasons[] = {
		{ "no-route", "NR" },			{ "no-healthy-upstream", "UH" },
		{ "upstream-timeout", "UT" },		{ "upstream-connect-failure", "UF" },
		{ "upstream-reset", "UR" },		{ "bad-upstream-response", "UPE" },
		{ "bad-transfer-encoding", "DPE" },	{ "bad-body", "DPE" },
		{ "connect-not-supported", "DPE" },	{ "host-not-in-sni-server", "NR" },
	};
	size_t i;

	if (!hname || !hval)
		return NULL;
	if (!strcmp(hname, "x-sluice-overflow"))
		return "UO";
	if (!strcmp(hname, "x-sluice-fault"))
		return "FI";
	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (!strcmp(hval, reasons[i].hval))
			return reasons[i].flags;
	return NULL;
}

void hx_cli_local_reply(struct hx_cli *c, int code, const char *hname, const char *hval)
{
	char extra[512] = "";
	const char *flags = reply_flags(hname, hval);

	if (hname)
		snprintf(extra, sizeof(extra), "%s: %s\r\n", hname, hval);
	if (flags)
		c->resp_flags = flags;
	hx_cli_reply(c, code, extra);
	hx_cli_request_done(c);
}

/* VirtualService redirect: answered here, Location built from the route's
 * authority/uri or the request's own. */
void hx_cli_redirect(struct hx_cli *c, const struct hx_reqview *rv, const char *host,
			size_t hlen)
{
	const struct sl_route *rt = c->rt;
	struct hx_buf loc = {0};
	int code = rt->redirect.code ? (int)rt->redirect.code : 301;

	hx_buf_puts(&loc, hx_cli_tls(c) ? "location: https://" : "location: http://");
	if (rt->redirect.authority)
		hx_buf_puts(&loc, rt->redirect.authority);
	else
		hx_buf_put(&loc, host, hlen);
	if (rt->redirect.uri)
		hx_buf_puts(&loc, rt->redirect.uri);
	else
		hx_buf_put(&loc, rv->path, rv->path_len);
	hx_buf_put(&loc, "\r\n", 3);
	hx_cli_reply(c, code, loc.p);
	hx_buf_free(&loc);
	hx_cli_request_done(c);
}

/* Server.tls.httpsRedirect: the same host (its port dropped: the HTTPS
 * server's is taken to be 443) and target over https, 301. */
void hx_cli_https_redirect(struct hx_cli *c, const struct hx_reqview *rv, const char *host,
			   size_t hlen)
{
	struct hx_buf loc = {0};

	hx_buf_puts(&loc, "location: https://");
	hx_buf_put(&loc, host, hlen);
	hx_buf_put(&loc, rv->path, rv->path_len);
	if (rv->query) {
		hx_buf_put(&loc, "?", 1);
		hx_buf_put(&loc, rv->query, rv->query_len);
	}
	hx_buf_put(&loc, "\r\n", 3);
	hx_cli_reply(c, 301, loc.p);
	hx_buf_free(&loc);
	hx_cli_request_done(c);
}

/* fault.abort.grpcStatus: a trailers-only gRPC answer (HTTP 200, the
 * status in its head, no body), counted with its grpc-status. */
void hx_cli_grpc_abort(struct hx_cli *c, int code)
{
	char hdr[256];
	int n;

	if (!c->body_done)
		c->close_after = true;
	n = snprintf(hdr, sizeof(hdr),
		     "HTTP/1.1 200 OK\r\ncontent-type: application/grpc\r\ngrpc-status: %d\r\n"
		     "grpc-message: fault injected\r\nx-sluice-fault: abort\r\ncontent-length: 0\r\n"
		     "%s\r\n", code, c->close_after ? "connection: close\r\n" : "");
	hx_buf_put(&c->out, hdr, (size_t)n);
	c->tx_bytes += (uint64_t)n;
	hx_buf_puts(&c->trailers, "grpc-status: ");	/* for the metrics (grpc_status) */
	n = snprintf(hdr, sizeof(hdr), "%d\r\n", code);
	hx_buf_put(&c->trailers, hdr, (size_t)n);
	c->status = 200;
	c->resp_started = true;
	c->resp_flags = "FI";
	hx_cli_request_done(c);
}

