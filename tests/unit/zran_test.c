// SPDX-License-Identifier: MIT
/*
 * The gzip seek index: build it over multi-member streams with every
 * header field, check the stream it hands on, extract every span alone
 * from exactly its compressed range, and refuse damaged streams and
 * indexes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <fcntl.h>
#include <unistd.h>
#include <lading/fetch.h>
#include <lading/keep.h>
#include <lading/zran.h>
#include "check.h"
#include "scratch.h"
#include "mem_reader.h"

#define SPAN (64u << 10)

/* Text-like data (compressible, long matches) with random stretches. */
static void make_data(uint8_t *p, size_t n, uint32_t seed)
{
	static const char *words[] = { "usr ", "lib ", "share/", "doc ",
				       "x86_64-linux-gnu ", "\n", "copyright " };
	size_t i = 0;

	while (i < n) {
		seed = seed * 1103515245u + 12345u;
		if ((seed >> 16) % 50 == 0) {
			size_t k, run = 1 + (seed >> 8) % 3000;

			for (k = 0; k < run && i < n; k++) {
				seed = seed * 1103515245u + 12345u;
				p[i++] = (uint8_t)(seed >> 16);
			}
		} else {
			const char *w = words[(seed >> 16) % LADING_ARRAY_SIZE(words)];

			while (*w && i < n)
				p[i++] = (uint8_t)*w++;
		}
	}
}

/* Appends one gzip member of in to out; header fields when full. */
static size_t gzip_member(const uint8_t *in, size_t n, uint8_t *out, size_t cap,
			  int level, bool full, bool flushes)
{
	static char name[] = "layer.tar", comment[] = "a comment";
	static uint8_t extra[] = { 'L', 'D', 4, 0, 1, 2, 3, 4 };
	gz_header h;
	z_stream zs;
	size_t off = 0;

	memset(&zs, 0, sizeof(zs));
	memset(&h, 0, sizeof(h));
	if (deflateInit2(&zs, level, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		abort();
	if (full) {
		h.extra = extra;
		h.extra_len = sizeof(extra);
		h.name = (Bytef *)name;
		h.comment = (Bytef *)comment;
		h.hcrc = 1;
		h.time = 12345;
		deflateSetHeader(&zs, &h);
	}
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	while (off < n) {
		size_t piece = flushes ? 10000 : n - off;

		if (piece > n - off)
			piece = n - off;
		zs.next_in = (Bytef *)(in + off);
		zs.avail_in = (uInt)piece;
		off += piece;
		deflate(&zs, flushes && off < n ? Z_FULL_FLUSH : Z_NO_FLUSH);
	}
	if (deflate(&zs, Z_FINISH) != Z_STREAM_END)
		abort();
	deflateEnd(&zs);
	return cap - zs.avail_out;
}

static struct lading_zran_index *build(const uint8_t *gz, size_t gzlen,
				       uint8_t *out, size_t outcap,
				       size_t *outlen, size_t step, int *ret,
				       struct lading_error *err)
{
	struct mem_reader m = { gz, gzlen, 0, step };
	struct lading_zran_builder *b;
	struct lading_zran_index *ix = NULL;
	size_t done = 0;
	ssize_t n;

	lading_error_clear(err);
	*ret = lading_zran_builder_new(&b, mem_read, &m, SPAN, err);
	if (*ret)
		return NULL;
	/* a consumer reading in odd pieces, and stopping early */
	while (done < outcap / 2 &&
	       (n = lading_zran_builder_read(b, out + done, 3001)) > 0)
		done += (size_t)n;
	if (n < 0) {
		*ret = (int)n;
	} else {
		while ((n = lading_zran_builder_read(b, out + done,
						     outcap - done)) > 0)
			done += (size_t)n;
		*ret = n < 0 ? (int)n : lading_zran_builder_finish(b, &ix);
	}
	lading_zran_builder_free(b);
	*outlen = done;
	return ix;
}

static void check_spans(const struct lading_zran_index *ix, const uint8_t *gz,
			const uint8_t *data)
{
	struct lading_error err = { 0 };
	uint8_t *span = malloc(LADING_ZRAN_SPAN_LIMIT / 64);
	size_t i, bad = 0;

	for (i = 0; i < ix->count; i++) {
		uint64_t start, end;

		lading_zran_span_range(ix, i, &start, &end);
		if (ix->spans[i].ulen > LADING_ZRAN_SPAN_LIMIT / 64 ||
		    lading_zran_extract(ix, i, gz + start, end - start, span, &err) ||
		    memcmp(span, data + ix->spans[i].uoff, ix->spans[i].ulen))
			bad++;
	}
	CHECK_EQ_U64(bad, 0);
	free(span);
}

static void test_multi_member(void)
{
	size_t n1 = 700000, n2 = 300000, n3 = 900000, n = n1 + n2 + n3;
	size_t cap = 2 * n + 4096, gzlen = 0, outlen, i, blocks = 0, members = 0;
	uint8_t *data = malloc(n), *gz = malloc(cap), *out = malloc(n + 1);
	struct lading_zran_index *ix, *ix2;
	struct lading_error err = { 0 };
	struct lading_digest d;
	uint8_t *enc;
	size_t enclen;
	int ret;

	make_data(data, n, 7);
	gzlen += gzip_member(data, n1, gz, cap, 6, true, false);
	gzlen += gzip_member(data, 0, gz + gzlen, cap - gzlen, 6, false, false);
	gzlen += gzip_member(data + n1, n2, gz + gzlen, cap - gzlen, 0, true, false);
	gzlen += gzip_member(data + n1 + n2, n3, gz + gzlen, cap - gzlen, 9, false,
			     true);

	ix = build(gz, gzlen, out, n + 1, &outlen, 777, &ret, &err);
	CHECK(ret == 0);
	if (ret)
		fprintf(stderr, "%s\n", err.msg);
	CHECK(ix != NULL);
	if (!ix)
		goto out;
	CHECK_EQ_U64(outlen, n);
	CHECK(!memcmp(out, data, n));
	CHECK_EQ_U64(ix->uncompressed_size, n);
	CHECK_EQ_U64(ix->compressed_size, gzlen);
	CHECK(!lading_sha256(data, n, &d) && !memcmp(&d, &ix->diff_id, sizeof(d)));
	CHECK(!lading_sha256(gz, gzlen, &d) &&
	      !memcmp(&d, &ix->blob_digest, sizeof(d)));
	for (i = 0; i < ix->count; i++) {
		blocks += ix->spans[i].kind == LADING_ZRAN_BLOCK;
		members += ix->spans[i].kind == LADING_ZRAN_MEMBER;
		if (i + 1 < ix->count)
			CHECK(ix->spans[i].ulen >= SPAN);
	}
	/* ~29 spans of 64 KiB, most at block boundaries, some with bits */
	CHECK(ix->count > 20);
	CHECK(blocks > 10);
	CHECK(members >= 1);
	check_spans(ix, gz, data);

	/* the on-disk form round-trips */
	CHECK(!lading_zran_encode(ix, &enc, &enclen));
	CHECK_EQ_U64(enclen, 128 + 72 * ix->count + ix->windows_size);
	CHECK(!lading_zran_decode(enc, enclen, &ix2, &err));
	if (ix2) {
		CHECK_EQ_U64(ix2->count, ix->count);
		CHECK(!memcmp(ix2->spans, ix->spans, ix->count * sizeof(*ix->spans)));
		check_spans(ix2, gz, data);
		lading_zran_free(ix2);
	}

	/* a damaged index is refused, naming the problem */
	{
		struct lading_zran_point *p = (void *)(enc + 128);
		uint8_t *copy = malloc(enclen);

		memcpy(copy, enc, enclen);
		p = (void *)(copy + 128);
		p[3].uoff = lading_cpu_to_le64(lading_le64_to_cpu(p[3].uoff) + 1);
		lading_error_clear(&err);
		CHECK(lading_zran_decode(copy, enclen, &ix2, &err) == -EUCLEAN);
		CHECK(strstr(err.msg, "span 2") != NULL);

		memcpy(copy, enc, enclen);
		p[5].window_off = lading_cpu_to_le64(ix->windows_size);
		CHECK(lading_zran_decode(copy, enclen, &ix2, &err) == -EUCLEAN);

		memcpy(copy, enc, enclen);
		p[ix->count - 1].coff = lading_cpu_to_le64(gzlen + 1);
		CHECK(lading_zran_decode(copy, enclen, &ix2, &err) == -EUCLEAN);

		memcpy(copy, enc, enclen);
		CHECK(lading_zran_decode(copy, enclen - 1, &ix2, &err) == -EUCLEAN);
		CHECK(lading_zran_decode(copy, 100, &ix2, &err) == -EUCLEAN);
		free(copy);
	}
	free(enc);

	/* map: reads to spans */
	{
		size_t first, count;

		CHECK(!lading_zran_map(ix, 0, 1, &first, &count));
		CHECK(first == 0 && count == 1);
		CHECK(!lading_zran_map(ix, ix->spans[2].uoff - 1, 2, &first, &count));
		CHECK(first == 1 && count == 2);
		CHECK(!lading_zran_map(ix, n - 1, 1, &first, &count));
		CHECK(first == ix->count - 1 && count == 1);
		CHECK(lading_zran_map(ix, n - 1, 2, &first, &count) == -ERANGE);
	}

	/* one flipped byte in a span's range: that span fails, no other */
	{
		uint64_t start, end;
		size_t k = ix->count / 2, j;
		uint8_t *span = malloc(LADING_ZRAN_SPAN_LIMIT / 64);
		int failed = 0;

		lading_zran_span_range(ix, k, &start, &end);
		gz[start + (end - start) / 2] ^= 0x40;
		for (j = 0; j < ix->count; j++) {
			uint64_t s, e;

			lading_zran_span_range(ix, j, &s, &e);
			lading_error_clear(&err);
			if (lading_zran_extract(ix, j, gz + s, e - s, span, &err)) {
				failed++;
				CHECK(j == k || s >= start - 1 || e > start);
			}
		}
		CHECK(failed >= 1);
		/* and the build pass refuses the stream (member CRC or worse) */
		lading_zran_free(ix2 = build(gz, gzlen, out, n + 1, &outlen,
					     65536, &ret, &err));
		CHECK(ret == -EBADMSG);
		CHECK(strstr(err.msg, "gzip: ") != NULL);
		gz[start + (end - start) / 2] ^= 0x40;
		free(span);
	}
	lading_zran_free(ix);
out:
	free(data);
	free(gz);
	free(out);
}

static void test_bad_streams(void)
{
	size_t n = 100000, cap = 2 * n + 4096, gzlen, outlen;
	uint8_t *data = malloc(n), *gz = malloc(cap + 16), *out = malloc(n + 1);
	struct lading_error err = { 0 };
	struct lading_zran_index *ix;
	int ret;

	make_data(data, n, 3);
	gzlen = gzip_member(data, n, gz, cap, 6, true, false);

	ix = build(gz, gzlen, out, n + 1, &outlen, 4096, &ret, &err);
	CHECK(ret == 0 && ix && ix->count == 2);
	lading_zran_free(ix);

	/* truncated */
	ix = build(gz, gzlen - 3, out, n + 1, &outlen, 4096, &ret, &err);
	CHECK(ret == -EBADMSG && !ix && strstr(err.msg, "trailer"));
	ix = build(gz, 12, out, n + 1, &outlen, 4096, &ret, &err);
	CHECK(ret == -EBADMSG && !ix);
	ix = build(gz, 0, out, n + 1, &outlen, 4096, &ret, &err);
	CHECK(ret == -EBADMSG && !ix && strstr(err.msg, "empty"));
	/* trailing garbage */
	memcpy(gz + gzlen, "garbage", 7);
	ix = build(gz, gzlen + 7, out, n + 1, &outlen, 4096, &ret, &err);
	CHECK(ret == -EBADMSG && !ix && strstr(err.msg, "magic"));
	/* wrong CRC and size in the trailer */
	gz[gzlen - 8] ^= 1;
	ix = build(gz, gzlen, out, n + 1, &outlen, 4096, &ret, &err);
	CHECK(ret == -EBADMSG && !ix && strstr(err.msg, "CRC"));
	gz[gzlen - 8] ^= 1;
	gz[gzlen - 2] ^= 1;
	ix = build(gz, gzlen, out, n + 1, &outlen, 4096, &ret, &err);
	CHECK(ret == -EBADMSG && !ix && strstr(err.msg, "size"));
	gz[gzlen - 2] ^= 1;
	/* header CRC (FHCRC), reserved flags, method */
	gz[12] ^= 1;	/* inside FEXTRA */
	ix = build(gz, gzlen, out, n + 1, &outlen, 4096, &ret, &err);
	CHECK(ret == -EBADMSG && !ix && strstr(err.msg, "header CRC"));
	gz[12] ^= 1;
	gz[3] |= 0x80;
	ix = build(gz, gzlen, out, n + 1, &outlen, 4096, &ret, &err);
	CHECK(ret == -EBADMSG && !ix && strstr(err.msg, "reserved"));
	gz[3] &= 0x7f;
	gz[2] = 7;
	ix = build(gz, gzlen, out, n + 1, &outlen, 4096, &ret, &err);
	CHECK(ret == -EBADMSG && !ix && strstr(err.msg, "CM"));
	gz[2] = 8;

	/*
	 * Go's compress/flate ends a member with an empty final block: a
	 * boundary right before it is at the end of the output and must not
	 * start a span of nothing (the index would not decode)
	 */
	{
		z_stream zs;
		uint8_t *enc;
		size_t enclen;
		struct lading_zran_index *ix2 = NULL;

		memset(&zs, 0, sizeof(zs));
		CHECK(deflateInit2(&zs, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) == Z_OK);
		/* just over one span: no boundary is due before the end */
		zs.next_in = data;
		zs.avail_in = SPAN + 100;
		zs.next_out = gz;
		zs.avail_out = (uInt)cap;
		CHECK(deflate(&zs, Z_NO_FLUSH) == Z_OK);
		CHECK(deflate(&zs, Z_FULL_FLUSH) == Z_OK);	/* a boundary at the end */
		CHECK(deflate(&zs, Z_FINISH) == Z_STREAM_END);	/* an empty last block */
		gzlen = cap - zs.avail_out;
		deflateEnd(&zs);
		ix = build(gz, gzlen, out, n + 1, &outlen, 4096, &ret, &err);
		CHECK(ret == 0 && ix);
		if (ix) {
			CHECK(ix->spans[ix->count - 1].ulen > 0);
			CHECK(!lading_zran_encode(ix, &enc, &enclen));
			CHECK(!lading_zran_decode(enc, enclen, &ix2, &err));
			lading_zran_free(ix2);
			free(enc);
			lading_zran_free(ix);
		}
	}

	/* span sizes */
	CHECK(lading_zran_span_valid(LADING_ZRAN_SPAN_DEFAULT));
	CHECK(!lading_zran_span_valid(3u << 20));
	CHECK(!lading_zran_span_valid(32u << 10));
	CHECK(!lading_zran_span_valid(128u << 20));
	free(data);
	free(gz);
	free(out);
}

static int put_file(const char *name, const void *buf, size_t len)
{
	struct lading_error err = { 0 };

	return lading_write_file_atomic(at(name), buf, len, &err);
}

/*
 * The span codec behind the one blob-source interface and the one chunk
 * path: a kept layer's ToC is its seek index (a blob of its own, checked
 * by the record's digest), and chunk runs fetch, inflate and check spans,
 * writing each exactly (no padding over the next span).
 */
static bool want_all(const void *ud, size_t k)
{
	(void)ud;
	(void)k;
	return true;
}

static void test_chunk_path(void)
{
	size_t n = 1500000, cap = 2 * n + 4096, gzlen, outlen, first, count, k;
	uint8_t *data = malloc(n), *gz = malloc(cap), *out = malloc(n + 1);
	uint8_t *back = malloc(n), *enc;
	struct lading_error err = { 0 };
	struct lading_zran_index *ix;
	struct lading_image_slot slot;
	struct lading_blob_record rec;
	struct lading_blob_sources *src;
	struct lading_blob_handle *h;
	struct lading_chunk_fetcher *f;
	struct lading_toc toc;
	const char *spec;
	size_t enclen;
	int ret, fd, *res;

	CHECK(!scratch_make("zran"));
	spec = root;
	make_data(data, n, 11);
	gzlen = gzip_member(data, n / 2, gz, cap, 6, true, false);
	gzlen += gzip_member(data + n / 2, n - n / 2, gz + gzlen, cap - gzlen, 6,
			     false, false);
	ix = build(gz, gzlen, out, n + 1, &outlen, 4096, &ret, &err);
	CHECK(ix != NULL);
	if (!ix)
		return;
	CHECK(!lading_zran_encode(ix, &enc, &enclen));
	CHECK(!lading_keep_layer_slot(ix, enc, enclen, 1u << 20, &slot, &rec));
	CHECK(!put_file(slot.tag, gz, gzlen));
	{
		char hex[LADING_DIGEST_HEX_LEN + 1];

		lading_hex_encode(hex, rec.toc_digest, sizeof(rec.toc_digest));
		CHECK(!put_file(hex, enc, enclen));
	}
	CHECK(!lading_blob_sources_open(&spec, 1, NULL, &src, &err));
	CHECK(!lading_blob_sources_find(src, slot.tag, &h, &err));
	ret = lading_blob_read_toc(h, &rec, &toc, &err);
	CHECK(ret == 0);
	if (ret) {
		fprintf(stderr, "%s\n", err.msg);
		return;
	}
	CHECK_EQ_U64(toc.count, ix->count);
	/* a read across a span boundary maps to both spans, never one */
	k = toc.count / 2;
	CHECK(!lading_toc_map(&toc, ix->spans[k].uoff - 1, 2, &first, &count));
	CHECK(first == k - 1 && count == 2);
	CHECK(!lading_toc_map(&toc, ix->spans[k].uoff, 1, &first, &count));
	CHECK(first == k && count == 1);

	/* every span through the chunk path into a sparse file */
	fd = open(at("cache"), O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0 && !ftruncate(fd, (off_t)n));
	f = lading_chunk_fetcher_new();
	res = calloc(toc.count, sizeof(*res));
	for (k = toc.count; k-- > 0;) {	/* backwards: no write may spill over */
		CHECK(!lading_chunk_run_read(f, h, &toc, k, 1, res + k, &err));
		CHECK(res[k] == LADING_CHUNK_OK);
		CHECK(!lading_chunk_run_write(f, fd, res + k));
	}
	CHECK(!lading_pread_full(fd, back, n, 0));
	CHECK(!memcmp(back, data, n));
	/*
	 * spans sharing the byte a mid-byte boundary lies in are still one
	 * run: one range read for all of them, each checked and written
	 */
	for (k = 0, first = 0; k < toc.count; k++)
		first += ix->spans[k].bits != 0;
	CHECK(first > 0);
	CHECK(!ftruncate(fd, 0) && !ftruncate(fd, (off_t)n));
	CHECK_EQ_U64(lading_chunk_run_len(&toc, 0, toc.count, UINT64_MAX,
					  want_all, NULL), toc.count);
	CHECK(!lading_chunk_run_read(f, h, &toc, 0, toc.count, res, &err));
	for (k = 0; k < toc.count; k++)
		CHECK(res[k] == LADING_CHUNK_OK);
	CHECK(!lading_chunk_run_write(f, fd, res));
	memset(back, 0, n);
	CHECK(!lading_pread_full(fd, back, n, 0));
	CHECK(!memcmp(back, data, n));
	close(fd);
	CHECK(!strcmp(lading_codec_name(LADING_CODEC_GZIP_INDEXED), "gzip-indexed"));

	/* a flipped byte in the layer: its span fails, others still come */
	{
		uint64_t s, e;
		size_t bad = 0;

		k = toc.count / 3;
		lading_zran_span_range(ix, k, &s, &e);
		gz[(s + e) / 2] ^= 0x10;
		CHECK(!put_file(slot.tag, gz, gzlen));
		lading_blob_handle_close(h);
		CHECK(!lading_blob_sources_find(src, slot.tag, &h, &err));
		for (first = 0; first < toc.count; first++) {
			CHECK(!lading_chunk_run_read(f, h, &toc, first, 1, res + first,
						     &err));
			bad += res[first] != LADING_CHUNK_OK;
		}
		CHECK(res[k] == -EBADMSG);
		CHECK(bad >= 1 && bad <= 2);
	}
	lading_toc_free(&toc);

	/* the index must be the one the record names */
	{
		char hex[LADING_DIGEST_HEX_LEN + 1];

		lading_hex_encode(hex, rec.toc_digest, sizeof(rec.toc_digest));
		enc[200] ^= 1;
		CHECK(!put_file(hex, enc, enclen));	/* damaged under its name */
		lading_error_clear(&err);
		CHECK(lading_blob_read_toc(h, &rec, &toc, &err) == -EUCLEAN);
		CHECK(strstr(err.msg, "digest differs") != NULL);
		CHECK(!unlink(at(hex)));
		lading_error_clear(&err);
		CHECK(lading_blob_read_toc(h, &rec, &toc, &err) < 0);
		CHECK(strstr(err.msg, "seek index") != NULL);
	}
	free(res);
	lading_chunk_fetcher_free(f);
	lading_blob_handle_close(h);
	lading_blob_sources_close(src);
	lading_zran_free(ix);
	free(enc);
	free(data);
	free(gz);
	free(out);
	free(back);
	scratch_remove();
}

int main(void)
{
	test_multi_member();
	test_bad_streams();
	test_chunk_path();
	return check_summary("zran_test");
}
