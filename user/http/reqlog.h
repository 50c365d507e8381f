/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A request's records beside its metrics: the access log line
 * (accesslog.c, --access-log) and the decision trace (trace.c, while
 * `sluicectl trace` reads). Both are begun when the head is routed and
 * ended when the request is done.
 */
#ifndef SLUICE_HTTP_REQLOG_H
#define SLUICE_HTTP_REQLOG_H

#include "http/conn.h"

/* trace.c: sluice-http's records for `sluicectl trace` */
struct hx_trace_req {
	bool on;		/* begun for the request in flight */
	uint64_t ts_ns;
	char method[8];
	char path[64];
};
void hx_trace_open(const char *bpffs);
bool hx_trace_on(struct hx_worker *w);
void hx_trace_begin(struct hx_cli *c, const struct hx_reqview *rv);
void hx_trace_end(struct hx_cli *c);

/* accesslog.c */
#define HX_ALOG_REQ 1024
int hx_alog_open(const char *path);
bool hx_alog_on(void);
void hx_alog_begin(struct hx_cli *c, const struct hx_reqview *rv, const char *host, size_t hlen);
void hx_alog_end(struct hx_cli *c);
void hx_alog_flush(struct hx_worker *w);

#endif /* SLUICE_HTTP_REQLOG_H */
