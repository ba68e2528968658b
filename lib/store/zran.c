// SPDX-License-Identifier: MIT
/*
 * Seek index of a gzip layer.  Member headers are parsed here and the
 * deflate data inflated raw, so that the same code resumes in the middle
 * of a member (inflatePrime + inflateSetDictionary, as zlib's
 * examples/zran.c shows) and at a member's start.  inflate(Z_BLOCK)
 * stops at every deflate block boundary; a checkpoint is taken at the
 * first boundary at least span_size after the previous one.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <lading/store.h>
#include <lading/zran.h>

#define IN_BUF (256u << 10)
/* A member header longer than this (names, comments, extra) is refused. */
#define HEADER_LIMIT (1u << 20)

#define GZ_FHCRC 0x02
#define GZ_FEXTRA 0x04
#define GZ_FNAME 0x08
#define GZ_FCOMMENT 0x10

bool lading_zran_span_valid(uint64_t span)
{
	return span >= LADING_ZRAN_SPAN_MIN && span <= LADING_ZRAN_SPAN_MAX &&
	       !(span & (span - 1));
}

/* ---- gzip member header (RFC 1952), fed byte by byte ---------------- */

enum hdr_state { H_FIXED, H_XLEN, H_EXTRA, H_NAME, H_COMMENT, H_HCRC, H_DONE };

struct gz_header {
	enum hdr_state st;
	uint8_t fixed[10];
	uint32_t have;		/* bytes of the current field */
	uint32_t need;		/* FEXTRA: bytes left */
	uint32_t total;
	uint8_t flg;
	uint8_t xlen[2];
	uint8_t hcrc[2];
	uLong crc;		/* crc32 of the header bytes, for FHCRC */
};

static void hdr_reset(struct gz_header *h)
{
	memset(h, 0, sizeof(*h));
	h->crc = crc32(0, Z_NULL, 0);
}

static enum hdr_state hdr_next(const struct gz_header *h, enum hdr_state from)
{
	if (from < H_XLEN && (h->flg & GZ_FEXTRA))
		return H_XLEN;
	if (from < H_NAME && (h->flg & GZ_FNAME))
		return H_NAME;
	if (from < H_COMMENT && (h->flg & GZ_FCOMMENT))
		return H_COMMENT;
	if (from < H_HCRC && (h->flg & GZ_FHCRC))
		return H_HCRC;
	return H_DONE;
}

/*
 * Consumes header bytes from p; *used says how many.  1 when the header is
 * complete, 0 when it needs more, -EBADMSG with why set.
 */
static int hdr_feed(struct gz_header *h, const uint8_t *p, size_t n,
		    size_t *used, const char **why)
{
	size_t i = 0;

	while (i < n && h->st != H_DONE) {
		uint8_t c = p[i++];

		if (++h->total > HEADER_LIMIT) {
			*why = "member header longer than 1 MiB";
			return -EBADMSG;
		}
		if (h->st != H_HCRC)
			h->crc = crc32(h->crc, &c, 1);
		switch (h->st) {
		case H_FIXED:
			h->fixed[h->have++] = c;
			if ((h->have == 1 && c != 0x1f) ||
			    (h->have == 2 && c != 0x8b)) {
				*why = "not a gzip member (bad magic)";
				return -EBADMSG;
			}
			if (h->have == 3 && c != 8) {
				*why = "gzip member not deflate (CM != 8)";
				return -EBADMSG;
			}
			if (h->have == 4 && (c & 0xe0)) {
				*why = "gzip member with reserved flags set";
				return -EBADMSG;
			}
			if (h->have == 10) {
				h->flg = h->fixed[3];
				h->have = 0;
				h->st = hdr_next(h, H_FIXED);
			}
			break;
		case H_XLEN:
			h->xlen[h->have++] = c;
			if (h->have == 2) {
				h->need = (uint32_t)h->xlen[0] | (uint32_t)h->xlen[1] << 8;
				h->have = 0;
				h->st = h->need ? H_EXTRA : hdr_next(h, H_EXTRA);
			}
			break;
		case H_EXTRA:
			if (!--h->need)
				h->st = hdr_next(h, H_EXTRA);
			break;
		case H_NAME:
		case H_COMMENT:
			if (!c)
				h->st = hdr_next(h, h->st);
			break;
		case H_HCRC:
			h->hcrc[h->have++] = c;
			if (h->have == 2) {
				if (((uint32_t)h->hcrc[0] | (uint32_t)h->hcrc[1] << 8) !=
				    (h->crc & 0xffff)) {
					*why = "gzip header CRC mismatch";
					return -EBADMSG;
				}
				h->st = H_DONE;
			}
			break;
		case H_DONE:
			break;
		}
	}
	*used = i;
	return h->st == H_DONE;
}

/* ---- builder ------------------------------------------------------------ */

enum bstate { B_HEADER, B_DEFLATE, B_TRAILER, B_DONE, B_FAILED };

struct lading_zran_builder {
	lading_read_fn rd;
	void *rd_ud;
	struct lading_error *err;
	uint32_t span_size;
	enum bstate st;
	int failed;		/* the -errno of a failure, returned again */

	uint8_t *in;
	size_t in_len, in_pos;
	uint64_t in_base;	/* compressed offset of in[0] */
	bool in_eof;

	z_stream zs;
	bool zs_ready;
	struct gz_header hdr;
	uint8_t trailer[8];
	unsigned int trailer_have;
	uLong crc;		/* of the member's output */
	uint64_t member_out;
	uint64_t members;

	uint64_t uoff;		/* output so far */
	uint8_t ring[LADING_ZRAN_WINDOW];	/* the last 32 KiB of output */
	size_t ring_pos;

	struct lading_sha256_ctx span_sha, diff_sha, blob_sha;
	struct lading_zran_index *ix;
	size_t cap;
	uint8_t *wbuf;		/* one window, linear */
	uint8_t *wz;		/* its compressed form */
	size_t wz_cap;
	size_t windows_cap;
};

static int fail(struct lading_zran_builder *b, int ret, const char *why,
		uint64_t off)
{
	lading_error_set(b->err, -ret, "gzip: %s at compressed offset %llu", why,
			 (unsigned long long)off);
	b->st = B_FAILED;
	b->failed = ret;
	return ret;
}

static int bad(struct lading_zran_builder *b, const char *why)
{
	return fail(b, -EBADMSG, why, b->in_base + b->in_pos);
}

int lading_zran_builder_new(struct lading_zran_builder **out, lading_read_fn rd,
			    void *rd_ud, uint32_t span_size,
			    struct lading_error *err)
{
	struct lading_zran_builder *b;
	size_t wz_cap = lading_codec_bound(LADING_CODEC_DEFLATE,
					   LADING_ZRAN_WINDOW);

	if (!lading_zran_span_valid(span_size))
		return lading_error_set(err, EINVAL,
					"span size %u: not a power of two in [64K, 64M]",
					span_size);
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->rd = rd;
	b->rd_ud = rd_ud;
	b->err = err;
	b->span_size = span_size;
	b->in = malloc(IN_BUF);
	b->ix = calloc(1, sizeof(*b->ix));
	b->wbuf = malloc(LADING_ZRAN_WINDOW);
	b->wz = malloc(wz_cap);
	b->wz_cap = wz_cap;
	if (!b->in || !b->ix || !b->wbuf || !b->wz ||
	    lading_sha256_init(&b->span_sha) || lading_sha256_init(&b->diff_sha) ||
	    lading_sha256_init(&b->blob_sha)) {
		lading_zran_builder_free(b);
		return -ENOMEM;
	}
	b->ix->span_size = span_size;
	if (inflateInit2(&b->zs, -15) != Z_OK) {
		lading_zran_builder_free(b);
		return -ENOMEM;
	}
	b->zs_ready = true;
	hdr_reset(&b->hdr);
	*out = b;
	return 0;
}

void lading_zran_builder_free(struct lading_zran_builder *b)
{
	if (!b)
		return;
	if (b->zs_ready)
		inflateEnd(&b->zs);
	lading_sha256_free(&b->span_sha);
	lading_sha256_free(&b->diff_sha);
	lading_sha256_free(&b->blob_sha);
	lading_zran_free(b->ix);
	free(b->in);
	free(b->wbuf);
	free(b->wz);
	free(b);
}

/* Closes the span before the current position: its length and digest. */
static int close_span(struct lading_zran_builder *b)
{
	struct lading_zran_span *s;
	struct lading_digest d;

	if (!b->ix->count)
		return 0;
	s = &b->ix->spans[b->ix->count - 1];
	if (b->uoff - s->uoff > LADING_ZRAN_SPAN_LIMIT)
		return bad(b, "deflate block too long to index (span over 128 MiB)");
	s->ulen = (uint32_t)(b->uoff - s->uoff);
	if (lading_sha256_final(&b->span_sha, &d))
		return fail(b, -EIO, "sha256 failed", b->uoff);
	memcpy(s->digest, d.bytes, sizeof(d.bytes));
	return 0;
}

/* The last min(32 KiB, member output) bytes into b->wbuf; their length. */
static size_t take_window(struct lading_zran_builder *b)
{
	size_t n = b->member_out < LADING_ZRAN_WINDOW ? (size_t)b->member_out :
							LADING_ZRAN_WINDOW;
	size_t start = (b->ring_pos + LADING_ZRAN_WINDOW - n) % LADING_ZRAN_WINDOW;
	size_t first = LADING_ZRAN_WINDOW - start < n ? LADING_ZRAN_WINDOW - start : n;

	memcpy(b->wbuf, b->ring + start, first);
	memcpy(b->wbuf + first, b->ring, n - first);
	return n;
}

static int add_point(struct lading_zran_builder *b, enum lading_zran_kind kind,
		     uint64_t coff, uint8_t bits)
{
	struct lading_zran_index *ix = b->ix;
	struct lading_zran_span *s;
	size_t wlen = 0, wclen = 0;
	int ret;

	ret = close_span(b);
	if (ret)
		return ret;
	if (ix->count &&
	    coff - ix->spans[ix->count - 1].coff > LADING_ZRAN_SPAN_LIMIT)
		return bad(b, "span over 128 MiB compressed");
	if (ix->count == b->cap) {
		size_t ncap = b->cap ? 2 * b->cap : 64;
		struct lading_zran_span *n = realloc(ix->spans, ncap * sizeof(*n));

		if (!n)
			return fail(b, -ENOMEM, "out of memory", coff);
		ix->spans = n;
		b->cap = ncap;
	}
	if (kind == LADING_ZRAN_BLOCK) {
		wlen = take_window(b);
		ret = lading_codec_compress(LADING_CODEC_DEFLATE, 6, b->wbuf, wlen,
					    b->wz, b->wz_cap, &wclen);
		if (ret)
			return fail(b, ret, "compressing a window failed", coff);
		ret = lading_grow_buffer(&ix->windows, &b->windows_cap,
					 ix->windows_size + wclen);
		if (ret)
			return fail(b, ret, "out of memory", coff);
		memcpy(ix->windows + ix->windows_size, b->wz, wclen);
	}
	s = &ix->spans[ix->count++];
	memset(s, 0, sizeof(*s));
	s->uoff = b->uoff;
	s->coff = coff;
	s->bits = bits;
	s->kind = (uint8_t)kind;
	s->window_off = ix->windows_size;
	s->window_len = (uint16_t)wlen;
	s->window_clen = (uint32_t)wclen;
	ix->windows_size += wclen;
	return 0;	/* close_span()'s final started the next digest */
}

static bool span_due(const struct lading_zran_builder *b)
{
	const struct lading_zran_index *ix = b->ix;

	return !ix->count ||
	       b->uoff - ix->spans[ix->count - 1].uoff >= b->span_size;
}

/* Refills the input buffer when empty; 0, or -errno from the source. */
static int refill(struct lading_zran_builder *b)
{
	ssize_t n;

	if (b->in_pos < b->in_len || b->in_eof)
		return 0;
	b->in_base += b->in_len;
	b->in_pos = b->in_len = 0;
	n = b->rd(b->rd_ud, b->in, IN_BUF);
	if (n < 0)
		return fail(b, (int)n, "reading the stream failed", b->in_base);
	if (!n)
		b->in_eof = true;
	else if (lading_sha256_update(&b->blob_sha, b->in, (size_t)n))
		return fail(b, -EIO, "sha256 failed", b->in_base);
	b->in_len = (size_t)n;
	return 0;
}

static void note_output(struct lading_zran_builder *b, const uint8_t *p, size_t n)
{
	size_t k = n > LADING_ZRAN_WINDOW ? n - LADING_ZRAN_WINDOW : 0;

	b->crc = crc32_z(b->crc, p, n);
	b->uoff += n;
	b->member_out += n;
	for (; k < n;) {
		size_t room = LADING_ZRAN_WINDOW - b->ring_pos;
		size_t c = n - k < room ? n - k : room;

		memcpy(b->ring + b->ring_pos, p + k, c);
		b->ring_pos = (b->ring_pos + c) % LADING_ZRAN_WINDOW;
		k += c;
	}
}

static int step_header(struct lading_zran_builder *b)
{
	const char *why = NULL;
	size_t used;
	int ret;

	if (b->in_pos == b->in_len) {	/* refill() found the end */
		if (b->hdr.total)
			return bad(b, "stream ends inside a member header");
		if (!b->members)
			return bad(b, "empty stream, no gzip member");
		b->st = B_DONE;
		return 0;
	}
	if (!b->hdr.total && span_due(b)) {
		ret = add_point(b, LADING_ZRAN_MEMBER, b->in_base + b->in_pos, 0);
		if (ret)
			return ret;
	}
	ret = hdr_feed(&b->hdr, b->in + b->in_pos, b->in_len - b->in_pos, &used,
		       &why);
	b->in_pos += used;
	if (ret < 0)
		return bad(b, why);
	if (ret) {
		if (inflateReset(&b->zs) != Z_OK)
			return bad(b, "inflateReset failed");
		b->crc = crc32(0, Z_NULL, 0);
		b->member_out = 0;
		b->st = B_DEFLATE;
	}
	return 0;
}

static int step_trailer(struct lading_zran_builder *b)
{
	while (b->trailer_have < 8 && b->in_pos < b->in_len)
		b->trailer[b->trailer_have++] = b->in[b->in_pos++];
	if (b->trailer_have < 8) {
		if (b->in_eof)
			return bad(b, "stream ends inside a member trailer");
		return 0;
	}
	if (lading_get_le32(b->trailer) != (uint32_t)b->crc)
		return bad(b, "member CRC mismatch");
	if (lading_get_le32(b->trailer + 4) != (uint32_t)b->member_out)
		return bad(b, "member size mismatch");
	b->trailer_have = 0;
	b->members++;
	hdr_reset(&b->hdr);
	b->st = B_HEADER;
	return 0;
}

/* Inflates into out[*done, len); 0 or -errno. */
static int step_deflate(struct lading_zran_builder *b, uint8_t *out, size_t len,
			size_t *done)
{
	size_t avail_in = b->in_len - b->in_pos;
	int zret;

	if (!avail_in && b->in_eof)
		return bad(b, "stream ends inside deflate data");
	b->zs.next_in = b->in + b->in_pos;
	b->zs.avail_in = (uInt)avail_in;
	b->zs.next_out = out + *done;
	b->zs.avail_out = (uInt)(len - *done);
	zret = inflate(&b->zs, Z_BLOCK);
	b->in_pos += avail_in - b->zs.avail_in;
	note_output(b, out + *done, len - *done - b->zs.avail_out);
	if (lading_sha256_update(&b->span_sha, out + *done,
				 len - *done - b->zs.avail_out) ||
	    lading_sha256_update(&b->diff_sha, out + *done,
				 len - *done - b->zs.avail_out))
		return fail(b, -EIO, "sha256 failed", b->uoff);
	*done = len - b->zs.avail_out;
	if (zret == Z_STREAM_END) {
		b->st = B_TRAILER;
		return 0;
	}
	if (zret == Z_BUF_ERROR)	/* needs input or output: the loop decides */
		return 0;
	if (zret != Z_OK)
		return bad(b, b->zs.msg ? b->zs.msg : "invalid deflate data");
	/* at a block boundary that is not the end of the member */
	if ((b->zs.data_type & 128) && !(b->zs.data_type & 64) && span_due(b))
		return add_point(b, LADING_ZRAN_BLOCK, b->in_base + b->in_pos,
				 (uint8_t)(b->zs.data_type & 7));
	return 0;
}

ssize_t lading_zran_builder_read(void *builder, void *buf, size_t len)
{
	struct lading_zran_builder *b = builder;
	size_t done = 0;
	int ret = 0;

	if (len > UINT32_MAX)
		len = UINT32_MAX;
	while (done < len && !ret) {
		if (b->st == B_FAILED)
			return b->failed;
		if (b->st == B_DONE)
			break;
		ret = refill(b);
		if (ret)
			break;
		switch (b->st) {
		case B_HEADER:
			ret = step_header(b);
			break;
		case B_DEFLATE:
			ret = step_deflate(b, buf, len, &done);
			break;
		case B_TRAILER:
			ret = step_trailer(b);
			break;
		default:
			break;
		}
	}
	if (ret)
		return ret;
	return (ssize_t)done;
}

int lading_zran_builder_finish(struct lading_zran_builder *b,
			       struct lading_zran_index **out)
{
	uint8_t *sink = malloc(64 << 10);
	ssize_t n;
	int ret;

	if (!sink)
		return -ENOMEM;
	while ((n = lading_zran_builder_read(b, sink, 64 << 10)) > 0)
		;
	free(sink);
	if (n < 0)
		return (int)n;
	ret = close_span(b);
	if (ret)
		return ret;
	/*
	 * A checkpoint at the boundary before an empty last block (Go's
	 * compress/flate ends so) starts a span of nothing: drop it, and its
	 * window, the last one stored.
	 */
	if (b->ix->count > 1 && !b->ix->spans[b->ix->count - 1].ulen) {
		b->ix->count--;
		b->ix->windows_size -= b->ix->spans[b->ix->count].window_clen;
	}
	b->ix->uncompressed_size = b->uoff;
	b->ix->compressed_size = b->in_base + b->in_len;
	if (lading_sha256_final(&b->diff_sha, &b->ix->diff_id) ||
	    lading_sha256_final(&b->blob_sha, &b->ix->blob_digest))
		return fail(b, -EIO, "sha256 failed", b->uoff);
	*out = b->ix;
	b->ix = NULL;
	return 0;
}

/* ---- on-disk form ------------------------------------------------------- */

void lading_zran_free(struct lading_zran_index *ix)
{
	if (!ix)
		return;
	free(ix->spans);
	free(ix->windows);
	free(ix);
}

int lading_zran_encode(const struct lading_zran_index *ix, uint8_t **buf,
		       size_t *len)
{
	size_t n = sizeof(struct lading_zran_header) +
		   ix->count * sizeof(struct lading_zran_point) + ix->windows_size;
	struct lading_zran_header *h;
	struct lading_zran_point *p;
	uint8_t *out = calloc(1, n);
	size_t i;

	if (!out)
		return -ENOMEM;
	h = (struct lading_zran_header *)out;
	h->magic = lading_cpu_to_le64(LADING_ZRAN_MAGIC);
	h->version = lading_cpu_to_le32(LADING_ZRAN_VERSION);
	h->span_size = lading_cpu_to_le32(ix->span_size);
	h->count = lading_cpu_to_le32((uint32_t)ix->count);
	h->uncompressed_size = lading_cpu_to_le64(ix->uncompressed_size);
	h->compressed_size = lading_cpu_to_le64(ix->compressed_size);
	h->windows_size = lading_cpu_to_le64(ix->windows_size);
	memcpy(h->blob_digest, ix->blob_digest.bytes, LADING_SHA256_LEN);
	memcpy(h->diff_id, ix->diff_id.bytes, LADING_SHA256_LEN);
	p = (struct lading_zran_point *)(out + sizeof(*h));
	for (i = 0; i < ix->count; i++) {
		const struct lading_zran_span *s = &ix->spans[i];

		p[i].uoff = lading_cpu_to_le64(s->uoff);
		p[i].coff = lading_cpu_to_le64(s->coff);
		p[i].window_off = lading_cpu_to_le64(s->window_off);
		p[i].ulen = lading_cpu_to_le32(s->ulen);
		p[i].window_clen = lading_cpu_to_le32(s->window_clen);
		p[i].window_len = lading_cpu_to_le16(s->window_len);
		p[i].bits = s->bits;
		p[i].kind = s->kind;
		memcpy(p[i].digest, s->digest, LADING_SHA256_LEN);
	}
	if (ix->windows_size)
		memcpy(out + n - ix->windows_size, ix->windows, ix->windows_size);
	*buf = out;
	*len = n;
	return 0;
}

static int check_span(const struct lading_zran_index *ix, size_t i,
		      struct lading_error *err)
{
	const struct lading_zran_span *s = &ix->spans[i];
	uint64_t next_u = i + 1 < ix->count ? ix->spans[i + 1].uoff :
					      ix->uncompressed_size;
	uint64_t next_c = i + 1 < ix->count ? ix->spans[i + 1].coff :
					      ix->compressed_size;
	uint64_t start = s->coff - (s->bits ? 1 : 0);

	if (!i && (s->uoff || s->coff || s->kind != LADING_ZRAN_MEMBER))
		return lading_error_set(err, EUCLEAN,
					"seek index: first span not at the start");
	if (s->kind > LADING_ZRAN_BLOCK || s->bits > 7 ||
	    (s->kind == LADING_ZRAN_MEMBER && (s->bits || s->window_len)) ||
	    (s->bits && !s->coff))
		return lading_error_set(err, EUCLEAN,
					"seek index: span %zu: bad checkpoint", i);
	if (next_u < s->uoff || next_u - s->uoff != s->ulen ||
	    (!s->ulen && ix->count > 1))
		return lading_error_set(err, EUCLEAN,
					"seek index: span %zu does not end where span %zu starts",
					i, i + 1);
	if (next_c > ix->compressed_size || s->coff > next_c ||
	    next_c - start > LADING_ZRAN_SPAN_LIMIT ||
	    s->ulen > LADING_ZRAN_SPAN_LIMIT)
		return lading_error_set(err, EUCLEAN,
					"seek index: span %zu: bad compressed range", i);
	if (s->window_len > LADING_ZRAN_WINDOW ||
	    (!s->window_len) != (!s->window_clen) ||
	    s->window_off > ix->windows_size ||
	    s->window_clen > ix->windows_size - s->window_off)
		return lading_error_set(err, EUCLEAN,
					"seek index: span %zu: bad window", i);
	return 0;
}

int lading_zran_decode(const void *buf, size_t len,
		       struct lading_zran_index **out, struct lading_error *err)
{
	const struct lading_zran_header *h = buf;
	const struct lading_zran_point *p;
	struct lading_zran_index *ix;
	uint64_t count, wsize;
	size_t i;
	int ret;

	if (len < sizeof(*h) || lading_le64_to_cpu(h->magic) != LADING_ZRAN_MAGIC)
		return lading_error_set(err, EUCLEAN, "seek index: bad magic");
	if (lading_le32_to_cpu(h->version) != LADING_ZRAN_VERSION ||
	    lading_le32_to_cpu(h->flags))
		return lading_error_set(err, EUCLEAN,
					"seek index: unknown version %u",
					lading_le32_to_cpu(h->version));
	count = lading_le32_to_cpu(h->count);
	wsize = lading_le64_to_cpu(h->windows_size);
	if (!count || count > (len - sizeof(*h)) / sizeof(*p) ||
	    wsize != len - sizeof(*h) - count * sizeof(*p))
		return lading_error_set(err, EUCLEAN,
					"seek index: size does not match its header");
	if (!lading_zran_span_valid(lading_le32_to_cpu(h->span_size)))
		return lading_error_set(err, EUCLEAN, "seek index: bad span size");
	ix = calloc(1, sizeof(*ix));
	if (!ix)
		return -ENOMEM;
	ix->spans = calloc(count, sizeof(*ix->spans));
	ix->windows = malloc(wsize ? wsize : 1);
	if (!ix->spans || !ix->windows) {
		lading_zran_free(ix);
		return -ENOMEM;
	}
	ix->span_size = lading_le32_to_cpu(h->span_size);
	ix->count = count;
	ix->uncompressed_size = lading_le64_to_cpu(h->uncompressed_size);
	ix->compressed_size = lading_le64_to_cpu(h->compressed_size);
	ix->windows_size = wsize;
	memcpy(ix->blob_digest.bytes, h->blob_digest, LADING_SHA256_LEN);
	memcpy(ix->diff_id.bytes, h->diff_id, LADING_SHA256_LEN);
	p = (const struct lading_zran_point *)((const uint8_t *)buf + sizeof(*h));
	for (i = 0; i < count; i++) {
		struct lading_zran_span *s = &ix->spans[i];

		s->uoff = lading_le64_to_cpu(p[i].uoff);
		s->coff = lading_le64_to_cpu(p[i].coff);
		s->window_off = lading_le64_to_cpu(p[i].window_off);
		s->ulen = lading_le32_to_cpu(p[i].ulen);
		s->window_clen = lading_le32_to_cpu(p[i].window_clen);
		s->window_len = lading_le16_to_cpu(p[i].window_len);
		s->bits = p[i].bits;
		s->kind = p[i].kind;
		memcpy(s->digest, p[i].digest, LADING_SHA256_LEN);
	}
	memcpy(ix->windows, (const uint8_t *)(p + count), wsize);
	for (i = 0; i < count; i++) {
		ret = check_span(ix, i, err);
		if (ret) {
			lading_zran_free(ix);
			return ret;
		}
	}
	*out = ix;
	return 0;
}

/* ---- random access ------------------------------------------------------ */

int lading_zran_map(const struct lading_zran_index *ix, uint64_t off,
		    uint64_t len, size_t *first, size_t *count)
{
	size_t lo = 0, hi = ix->count, last;
	uint64_t end;

	if (!len || off >= ix->uncompressed_size ||
	    len > ix->uncompressed_size - off)
		return -ERANGE;
	end = off + len - 1;
	while (hi - lo > 1) {	/* last span with uoff <= off */
		size_t mid = lo + (hi - lo) / 2;

		if (ix->spans[mid].uoff <= off)
			lo = mid;
		else
			hi = mid;
	}
	last = lo;
	while (last + 1 < ix->count && ix->spans[last + 1].uoff <= end)
		last++;
	*first = lo;
	*count = last - lo + 1;
	return 0;
}

void lading_zran_span_range(const struct lading_zran_index *ix, size_t i,
			    uint64_t *start, uint64_t *end)
{
	const struct lading_zran_span *s = &ix->spans[i];

	*start = s->coff - (s->bits ? 1 : 0);
	*end = i + 1 < ix->count ? ix->spans[i + 1].coff : ix->compressed_size;
}

static int span_bad(struct lading_error *err, size_t i, const char *why)
{
	return lading_error_set(err, EBADMSG, "span %zu: %s", i, why);
}

/* Inflates from in[*pos] until out is full or the member ends. */
static int inflate_some(z_stream *zs, const uint8_t *in, size_t inlen,
			size_t *pos, uint8_t *out, size_t outlen, size_t *done,
			bool *member_end)
{
	int zret;

	zs->next_in = (Bytef *)(in + *pos);
	zs->avail_in = (uInt)(inlen - *pos);
	zs->next_out = out + *done;
	zs->avail_out = (uInt)(outlen - *done);
	zret = inflate(zs, Z_NO_FLUSH);
	*pos = inlen - zs->avail_in;
	*done = outlen - zs->avail_out;
	*member_end = zret == Z_STREAM_END;
	if (zret == Z_OK || zret == Z_STREAM_END)
		return 0;
	if (zret == Z_BUF_ERROR && *done == outlen)
		return 0;
	return -EBADMSG;
}

int lading_zran_extract(const struct lading_zran_index *ix, size_t i,
			const uint8_t *in, size_t inlen, uint8_t *out,
			struct lading_error *err)
{
	const struct lading_zran_span *s = &ix->spans[i];
	uint8_t window[LADING_ZRAN_WINDOW];
	struct lading_digest d;
	bool in_member = s->kind == LADING_ZRAN_BLOCK;
	struct gz_header hdr;
	size_t pos = 0, done = 0;
	uint64_t start, end;
	z_stream zs;
	int ret = 0;

	lading_zran_span_range(ix, i, &start, &end);
	if (inlen != end - start)
		return span_bad(err, i, "compressed range of the wrong size");
	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, -15) != Z_OK)
		return -ENOMEM;
	if (in_member && s->bits) {
		if (!inlen || inflatePrime(&zs, s->bits, in[0] >> (8 - s->bits)) != Z_OK)
			ret = span_bad(err, i, "cannot resume at its checkpoint");
		pos = 1;
	}
	if (!ret && in_member && s->window_len) {
		if (lading_codec_decompress(LADING_CODEC_DEFLATE,
					    ix->windows + s->window_off,
					    s->window_clen, window, s->window_len) ||
		    inflateSetDictionary(&zs, window, s->window_len) != Z_OK)
			ret = span_bad(err, i, "bad window in the seek index");
	}
	hdr_reset(&hdr);
	while (!ret && done < s->ulen) {
		const char *why = NULL;
		bool member_end;
		size_t used;
		int h;

		if (!in_member) {
			h = hdr_feed(&hdr, in + pos, inlen - pos, &used, &why);
			pos += used;
			if (h < 0)
				ret = span_bad(err, i, why);
			else if (!h)
				ret = span_bad(err, i, "compressed data end inside a member header");
			else if (inflateReset(&zs) != Z_OK)
				ret = -ENOMEM;
			in_member = true;
			continue;
		}
		if (inflate_some(&zs, in, inlen, &pos, out, s->ulen, &done,
				 &member_end))
			ret = span_bad(err, i, zs.msg ? zs.msg : "invalid deflate data");
		else if (member_end) {
			/* the trailer's CRC covers the whole member: the span digest checks */
			if (inlen - pos < 8)
				ret = span_bad(err, i, "compressed data end inside a member trailer");
			pos += 8;
			in_member = false;
			hdr_reset(&hdr);
		} else if (done < s->ulen && pos == inlen) {
			ret = span_bad(err, i, "compressed data end before the span does");
		}
	}
	inflateEnd(&zs);
	if (ret)
		return ret;
	if (lading_sha256(out, s->ulen, &d))
		return -EIO;
	if (memcmp(d.bytes, s->digest, LADING_SHA256_LEN))
		return span_bad(err, i, "sha256 mismatch");
	return 0;
}
