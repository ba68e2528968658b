/* SPDX-License-Identifier: MIT */
/*
 * Access traces: the order in which a run first needed chunks, as
 * `lading-fill mount --record` writes them, `lading-convert
 * --prefetch-list` publishes them with an image and the filler replays
 * them (lading-fill(1), TRACE FORMAT).  Below the filler and the
 * converter, which both read and write them.
 */
#ifndef LADING_TRACE_H
#define LADING_TRACE_H

#include <stddef.h>
#include <stdint.h>
#include <lading/common.h>
#include <lading/ondisk.h>

/*
 * The order in which a run first needed chunks: a header line
 * "lading-trace 1", then one line per chunk, "<ms> <blob-id> <chunk>
 * <path>", ms since the mount, path the image file the chunk belongs to
 * ("/a/b", escaped: '\\' and bytes up to ' ' and 0x7f as \xHH) or "-"
 * when unknown.  Lines are at most LADING_TRACE_LINE_MAX bytes.
 */
#define LADING_TRACE_MAGIC "lading-trace 1"
#define LADING_TRACE_LINE_MAX 20000
#define LADING_TRACE_FILE_MAX (256u << 20)

struct lading_trace_entry {
	uint64_t ms;
	char blob[LADING_DIGEST_HEX_LEN + 1];
	uint32_t chunk;
	char *path;			/* NULL: unknown */
};

struct lading_trace {
	struct lading_trace_entry *v;
	size_t n, cap;
};

/* Appends one entry (path copied, NULL allowed); 0 or -ENOMEM. */
LADING_API int lading_trace_add(struct lading_trace *t, uint64_t ms, const char *blob,
		     uint32_t chunk, const char *path);
/*
 * Parses a trace held in memory; name is the file for messages.  -EINVAL
 * with err "NAME:LINE: problem" for anything malformed.
 */
LADING_API int lading_trace_parse(const char *buf, size_t len, const char *name,
		       struct lading_trace *t, struct lading_error *err);
/* Reads (at most LADING_TRACE_FILE_MAX bytes) and parses path. */
LADING_API int lading_trace_load(const char *path, struct lading_trace *t,
		      struct lading_error *err);
/*
 * out: every (blob, chunk) of the inputs once, with its earliest time and
 * that entry's path, ordered by time (ties: input order).
 */
LADING_API int lading_trace_merge(struct lading_trace *out, const struct lading_trace *in,
		       size_t n, struct lading_error *err);
/* t in the file format, malloc'ed into *buf (*len bytes, NUL after). */
LADING_API int lading_trace_format(const struct lading_trace *t, char **buf, size_t *len);
/* Writes t to path atomically (whole or not at all). */
LADING_API int lading_trace_write(const char *path, const struct lading_trace *t,
		       struct lading_error *err);
LADING_API void lading_trace_free(struct lading_trace *t);

#endif
