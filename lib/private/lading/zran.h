/* SPDX-License-Identifier: MIT */
/*
 * Seek index of a gzip layer (part of the store module): one pass over
 * the gzip stream hands its uncompressed bytes on (a lading_read_fn, so
 * a tar reader can consume them) and records a checkpoint at each span
 * boundary plus the sha256 of every span; any span can later be inflated
 * alone from its compressed range and is checked against its digest.
 * The on-disk form is struct lading_zran_header/point (lading/ondisk.h).
 */
#ifndef LADING_ZRAN_H
#define LADING_ZRAN_H

#include <sys/types.h>
#include <lading/util.h>
#include <lading/ondisk.h>

/*
 * Default span: see docs/format.md for the measurement (index size against
 * the compressed bytes one cold read fetches).
 */
#define LADING_ZRAN_SPAN_DEFAULT (2u << 20)
#define LADING_ZRAN_SPAN_MIN (64u << 10)
#define LADING_ZRAN_SPAN_MAX (64u << 20)
/*
 * No span may exceed this, uncompressed or compressed: a deflate block
 * can be arbitrarily long, and one span is inflated in memory.
 */
#define LADING_ZRAN_SPAN_LIMIT (128u << 20)

struct lading_zran_span {
	uint64_t uoff;
	uint64_t coff;
	uint64_t window_off;
	uint32_t ulen;
	uint32_t window_clen;
	uint16_t window_len;
	uint8_t bits;
	uint8_t kind;		/* enum lading_zran_kind */
	uint8_t digest[LADING_SHA256_LEN];
};

struct lading_zran_index {
	uint32_t span_size;
	uint64_t uncompressed_size;
	uint64_t compressed_size;
	struct lading_digest blob_digest;	/* of the gzip blob */
	struct lading_digest diff_id;		/* of the tar stream */
	struct lading_zran_span *spans;
	size_t count;
	uint8_t *windows;
	size_t windows_size;
};

/* True for a power of two in [SPAN_MIN, SPAN_MAX]. */
bool lading_zran_span_valid(uint64_t span);

struct lading_zran_builder;

/*
 * A builder reads the gzip stream from rd and is itself a reader of the
 * uncompressed stream: lading_zran_builder_read() (a lading_read_fn with
 * the builder as ud) returns tar bytes, 0 at the end of the last member,
 * or -errno with the reason in err (the message says "gzip: ..." and the
 * compressed offset; the caller names the layer).  Multi-member streams
 * and FEXTRA/FNAME/FCOMMENT/FHCRC headers are read; each member's CRC and
 * size are checked; bytes after the last member are an error.
 */
int lading_zran_builder_new(struct lading_zran_builder **out, lading_read_fn rd,
			    void *rd_ud, uint32_t span_size,
			    struct lading_error *err);
ssize_t lading_zran_builder_read(void *builder, void *buf, size_t len);
/*
 * Reads what the consumer left (a tar reader stops at its end marker),
 * then hands over the index (*out, owned by the caller).
 */
int lading_zran_builder_finish(struct lading_zran_builder *b,
			       struct lading_zran_index **out);
void lading_zran_builder_free(struct lading_zran_builder *b);

/* The on-disk bytes (malloc'ed into *buf). */
int lading_zran_encode(const struct lading_zran_index *ix, uint8_t **buf,
		       size_t *len);
/*
 * Parses and checks an index: the points tile the uncompressed stream,
 * compressed offsets are in order and inside the blob, every window lies
 * in the windows area, no span exceeds SPAN_LIMIT.  -EUCLEAN with the
 * reason in err.
 */
int lading_zran_decode(const void *buf, size_t len,
		       struct lading_zran_index **out, struct lading_error *err);
void lading_zran_free(struct lading_zran_index *ix);

/* The spans covering [off, off + len): *first and *count. */
int lading_zran_map(const struct lading_zran_index *ix, uint64_t off,
		    uint64_t len, size_t *first, size_t *count);
/* The compressed range span i needs: [*start, *end) of the blob. */
void lading_zran_span_range(const struct lading_zran_index *ix, size_t i,
			    uint64_t *start, uint64_t *end);
/*
 * Inflates span i from in (its whole compressed range) into out (ulen
 * bytes) and checks its sha256: -EBADMSG with the reason in err when the
 * bytes do not decode or do not match, out then holds nothing to use.
 */
int lading_zran_extract(const struct lading_zran_index *ix, size_t i,
			const uint8_t *in, size_t inlen, uint8_t *out,
			struct lading_error *err);

#endif
