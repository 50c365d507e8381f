/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The control protocol between sluicectl and sluiced over a unix stream
 * socket (mode 0600, peer must be uid 0). One request, one response, then
 * the connection closes. Framing is our own, line + length, no JSON parser:
 *
 *   request : "SLUICE1 <verb> <nparts> <arg>\n"       (arg may be "-")
 *             then nparts times: "<len> <name>\n" + len bytes
 *   response: "SLUICE1 <status> <len>\n" + len bytes of body
 *
 * Verbs: apply (parts = YAML sources), delete (parts = YAML sources whose
 * objects are removed from the desired state), get <what>[,<fmt>],
 * stats <fmt>, status <fmt>, snapshot, reset, version.
 * <fmt> is table|json|yaml. Status follows the CLI exit codes: 0 ok,
 * 1 refused/invalid (body = diagnostics), 2 bad request, 4 daemon error.
 * Names never contain a newline; lengths are decimal and bounded.
 */
#ifndef SLUICE_CTL_H
#define SLUICE_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SLUICE_VERSION		"0.1.0"
#define SL_CTL_DEFAULT_SOCKET	"/run/sluice/sluiced.sock"
/* sluice-http's mesh listener unless sluiced --http-listen says otherwise;
 * `sluicectl validate` judges as a daemon with this default */
#define SL_HELPER_DEFAULT_ADDR	"127.0.0.1"
#define SL_HELPER_DEFAULT_PORT	15001
#define SL_STR_(x)		#x
#define SL_STR(x)		SL_STR_(x)
#define SL_HELPER_DEFAULT_LISTEN SL_HELPER_DEFAULT_ADDR ":" SL_STR(SL_HELPER_DEFAULT_PORT)
#define SL_CTL_MAGIC		"SLUICE1"
#define SL_CTL_MAX_BODY		(256u << 20)	/* whole request or response */
#define SL_CTL_MAX_PARTS	65536u
#define SL_CTL_TIMEOUT_MS	30000

enum sl_ctl_status {
	SL_CTL_OK = 0,
	SL_CTL_REFUSED = 1,	/* invalid input: diagnostics in the body */
	SL_CTL_BADREQ = 2,
	SL_CTL_ERROR = 4,	/* the daemon failed (kernel, I/O) */
	SL_CTL_DENIED = 5,	/* the peer is not root (SO_PEERCRED) */
	SL_CTL_NOT_LIVE = 6,	/* status: the answer, and the data plane is not live */
};

/* One named blob: a YAML source file (name as the user gave it). */
struct sl_ctl_part {
	char *name;
	char *data;
	size_t len;
	/* the source that owns it in sluiced's desired state ("apply",
	 * "policy-dir"); "" = none (carried in the snapshot as "# from: ") */
	char from[16];
	/* data is a shared text (sl_text_new): released with sl_text_unref,
	 * never free(), read with sl_text_read/sl_text_dup and sized by
	 * sl_text_len; sluiced's Kubernetes source and its desired state hold
	 * one copy of an object's text */
	bool shared;
};

struct sl_ctl_req {
	char verb[32];
	char arg[256];
	struct sl_ctl_part *parts;
	size_t nparts;
};

struct sl_ctl_resp {
	int status;		/* enum sl_ctl_status */
	char *body;		/* NUL-terminated for convenience */
	size_t len;
};

/* ---- client (ctl_client.c) ---- */

/* Send req to the daemon at sock and wait for its answer (bounded by
 * SL_CTL_TIMEOUT_MS). Returns 0 with resp filled (caller frees), -ECONNREFUSED
 * / -ENOENT / -EACCES when the daemon cannot be reached, other -errno on a
 * broken exchange. */
int sl_ctl_call(const char *sock, const struct sl_ctl_req *req, struct sl_ctl_resp *resp);

/* The applied desired state as YAML (the daemon's snapshot file). *yaml is
 * malloc'd and NUL-terminated; the caller frees it. -errno as sl_ctl_call,
 * -EPROTO when the daemon answered with an error. */
int sl_ctl_fetch_snapshot(const char *sock, char **yaml, size_t *len);

/* ---- framing (ctl_proto.c), used by both sides ---- */
int sl_ctl_write_req(int fd, const struct sl_ctl_req *req);
int sl_ctl_read_req(int fd, struct sl_ctl_req *req);
int sl_ctl_write_resp(int fd, int status, const char *body, size_t len);
int sl_ctl_read_resp(int fd, struct sl_ctl_resp *resp);
void sl_ctl_req_free(struct sl_ctl_req *req);
void sl_ctl_resp_free(struct sl_ctl_resp *resp);
void sl_ctl_parts_free(struct sl_ctl_part *parts, size_t n);
/* Deep copy of n parts (NUL-terminated data; a shared text is shared
 * again, one more reference); NULL when out of memory. */
struct sl_ctl_part *sl_ctl_parts_dup(const struct sl_ctl_part *parts, size_t n);
/* Part p's data released (freed, or its reference dropped when shared);
 * data NULL, len 0, shared false. */
void sl_ctl_part_drop_data(struct sl_ctl_part *p);

/* Text shared by reference: one copy that several owners hold without
 * copying it again, freed with the last reference. The count is atomic
 * (threads may hold and drop references). The copy is held deflated (zlib
 * raw deflate, the dictionary preset) when that is shorter, so its bytes
 * are not the text: read it with sl_text_read or sl_text_dup (each thread
 * inflates with its own stream). */
struct sl_text_dict {			/* a preset dictionary: static, never freed */
	const char *s;
	size_t len;			/* at most 8 KB are used */
};
char *sl_text_new(const char *s, size_t len);	/* one reference; NULL: no memory */
char *sl_text_new_dict(const char *s, size_t len, const struct sl_text_dict *dict);
char *sl_text_ref(char *t);			/* one more; returns t */
void sl_text_unref(char *t);			/* NULL: nothing */
size_t sl_text_len(const char *t);		/* the text's length */
size_t sl_text_held(const char *t);		/* the bytes held for it */
/* The text into buf (sl_text_len + 1 bytes, NUL-terminated): 0, -ENOMEM
 * (no stream), -EIO (damaged). */
int sl_text_read(const char *t, char *buf);
char *sl_text_dup(const char *t);		/* malloc'd text; NULL + errno */
bool sl_text_same(const char *a, const char *b);	/* the same text (and dictionary) */

/* ---- sources (ctl_source.c) ---- */

/* Read files and directories (directories: *.yaml and *.yml, sorted,
 * recursively — sl_files_expand in user/lib/util_files.h, as sl_model_load
 * does) into parts named by their path.
 * Messages go to err (errlen bytes). */
int sl_ctl_read_sources(const char *const *paths, size_t npaths,
			struct sl_ctl_part **parts, size_t *nparts,
			char *err, size_t errlen);

/* Where each part starts in a snapshot, to map diagnostics back. */
struct sl_snap_map {
	size_t *first_line;	/* 1-based line of part i's first content line */
	size_t n;
};

/* Concatenate parts into one multi-document YAML text, each part preceded
 * by "# source: NAME" and separated by "---" where needed. `header` (may be
 * NULL) is written first as comment lines. The result is malloc'd. */
int sl_snap_build(const struct sl_ctl_part *parts, size_t n, const char *header,
		  char **out, size_t *outlen, struct sl_snap_map *map);

/* The same text written to f as it is made (no copy of the whole held):
 * 0, or -errno of the write. */
int sl_snap_write(const struct sl_ctl_part *parts, size_t n, const char *header, FILE *f);

/* Part i of n that sl_snap_write_seq writes, asked for in order 0..n-1:
 * one the caller holds, or one it builds in *tmp (valid until the next). */
typedef const struct sl_ctl_part *(*sl_snap_part_fn)(void *arg, size_t i,
						     struct sl_ctl_part *tmp);

/* The sl_snap_part_fn of an array of parts (arg). */
const struct sl_ctl_part *sl_snap_parts_at(void *arg, size_t i, struct sl_ctl_part *tmp);

/* sl_snap_write of parts the caller hands out one at a time (a copy held
 * more compactly than an array of parts). */
int sl_snap_write_seq(sl_snap_part_fn at, void *arg, size_t n, const char *header, FILE *f);

/* Split a snapshot text back into parts at its "# source: " lines. */
int sl_snap_split(const char *text, size_t len, struct sl_ctl_part **parts, size_t *n);

/* Map a snapshot line to (part index, line within the part); -1 when the
 * line is not inside a part. */
int sl_snap_locate(const struct sl_snap_map *map, size_t line, size_t *part_line);
void sl_snap_map_free(struct sl_snap_map *map);

/* ---- JSON output (ctl_json.c) ---- */

/* Write s as a JSON string literal (quotes, escapes, control chars). */
void sl_json_str(FILE *f, const char *s);

#endif /* SLUICE_CTL_H */
