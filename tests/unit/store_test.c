// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <lading/store.h>
#include "check.h"

static char dir[] = "/tmp/lading-store-test-XXXXXX";

static void test_chunk_sizes(void)
{
	CHECK(lading_chunk_size_valid(4096));
	CHECK(lading_chunk_size_valid(64u << 20));
	CHECK(!lading_chunk_size_valid(2048));
	CHECK(!lading_chunk_size_valid(128u << 20));
	CHECK(!lading_chunk_size_valid(12288));
}

static void test_dedup_and_blob(void)
{
	struct lading_store_params p = { .chunk_size = 8192, .blob_dir = dir };
	struct lading_store *s;
	struct lading_chunk_ref r1, r2, r3, r4, r5;
	struct lading_blob_info info;
	static uint8_t a[8192], b[8192], z[8192], blob[65536];
	uint8_t digest[32];
	unsigned int dl;
	char *path;
	bool existed;
	FILE *f;
	size_t n;

	memset(a, 'a', sizeof(a));
	memset(b, 'b', sizeof(b));
	CHECK(!lading_store_open(&s, &p));
	CHECK(!lading_store_add_chunk(s, a, sizeof(a), &r1));
	CHECK(!lading_store_add_chunk(s, b, 100, &r2));	/* short tail */
	CHECK(!lading_store_add_chunk(s, a, sizeof(a), &r3));	/* duplicate */
	CHECK(!lading_store_add_chunk(s, z, sizeof(z), &r4));	/* zeros */
	CHECK(!lading_store_add_chunk(s, b, 8192, &r5));
	CHECK(lading_store_add_chunk(s, b, 8193, &r5) == -EINVAL);
	CHECK_EQ_U64(r1.blkaddr, 0);
	CHECK_EQ_U64(r1.device_id, 1);
	CHECK_EQ_U64(r2.blkaddr, 2);	/* 8 KiB chunk = 2 blocks */
	CHECK_EQ_U64(r3.blkaddr, 0);
	CHECK_EQ_U64(r4.blkaddr, LADING_CHUNK_HOLE);
	CHECK_EQ_U64(r5.blkaddr, 3);	/* the 100-byte chunk took 1 block */
	CHECK_EQ_U64(lading_store_stats(s)->chunks_dedup, 1);
	CHECK_EQ_U64(lading_store_stats(s)->chunks_hole, 1);
	CHECK_EQ_U64(lading_store_stats(s)->bytes_dedup, 8192);
	CHECK(!lading_store_finish(s, &info));
	CHECK(info.present);
	/* the uncompressed view, then 3 ToC entries and the footer */
	CHECK_EQ_U64(info.uncompressed_size, 5 * 4096);
	CHECK_EQ_U64(info.size, 5 * 4096 + 3 * 64 + 64);
	CHECK_EQ_U64(info.toc_offset, 5 * 4096);
	CHECK_EQ_U64(info.toc_size, 3 * 64);
	CHECK(!lading_store_publish(s, &info, &existed));
	CHECK(!existed);
	lading_store_free(s);

	path = malloc(strlen(dir) + 80);
	sprintf(path, "%s/%s", dir, info.id);
	f = fopen(path, "rb");
	CHECK(f != NULL);
	n = f ? fread(blob, 1, sizeof(blob), f) : 0;
	if (f)
		fclose(f);
	CHECK_EQ_U64(n, info.size);
	EVP_Digest(blob, n, digest, &dl, EVP_sha256(), NULL);
	CHECK(!memcmp(digest, info.digest, 32));
	CHECK(!memcmp(blob, a, 8192));
	CHECK(!memcmp(blob + 8192, b, 100));
	CHECK(blob[8192 + 100] == 0);	/* padded to the block */
	{
		struct lading_blob_record rec;
		struct lading_toc toc;
		struct lading_error err = { 0 };
		size_t first, count;
		uint8_t out[8192];
		int fd = open(path, O_RDONLY);

		lading_blob_record_from_info(&rec, &info);
		CHECK(!lading_toc_read(fd, &rec, &toc, &err));
		CHECK_EQ_U64(toc.count, 3);
		CHECK_EQ_U64(lading_le64_to_cpu(toc.entries[1].uoff), 8192);
		CHECK_EQ_U64(lading_le32_to_cpu(toc.entries[1].ulen), 100);
		CHECK_EQ_U64(lading_le64_to_cpu(toc.entries[2].uoff), 12288);
		CHECK(!lading_toc_map(&toc, 8000, 5000, &first, &count));
		CHECK(first == 0 && count == 3);
		CHECK(lading_toc_map(&toc, 20000, 1000, &first, &count) == -ERANGE);
		CHECK(!lading_toc_decode(&toc.entries[1], blob + 8192, out));
		blob[8192] ^= 1;
		CHECK(lading_toc_decode(&toc.entries[1], blob + 8192, out) == -EBADMSG);
		lading_toc_free(&toc);
		rec.toc_digest[0] ^= 1;
		CHECK(lading_toc_read(fd, &rec, &toc, &err) == -EUCLEAN);
		CHECK(strstr(err.msg, "digest") != NULL);
		close(fd);
	}
	unlink(path);
	free(path);
}

static void test_codecs(void)
{
	static uint8_t in[70000], out[80000], back[70000];
	enum lading_codec c;
	size_t i, clen;
	int level;

	for (i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i % 251 < 100 ? 'a' : i * 7);
	for (c = LADING_CODEC_NONE; c <= LADING_CODEC_ZSTD; c++) {
		if (!lading_codec_available(c))
			continue;
		CHECK(!lading_codec_compress(c, -1, in, sizeof(in), out,
					     sizeof(out), &clen));
		CHECK(c == LADING_CODEC_NONE ? clen == sizeof(in) : clen < sizeof(in));
		CHECK(!lading_codec_decompress(c, out, clen, back, sizeof(back)));
		CHECK(!memcmp(in, back, sizeof(in)));
		/* the wrong expected size or damaged input is an error */
		CHECK(lading_codec_decompress(c, out, clen, back, sizeof(back) - 1) < 0);
		if (c != LADING_CODEC_NONE) {
			out[clen / 2] ^= 0x5a;
			CHECK(lading_codec_decompress(c, out, clen, back, sizeof(back)) < 0 ||
			      memcmp(in, back, sizeof(in)));
		}
	}
	CHECK(!lading_codec_parse("lz4", &c, &level) && c == LADING_CODEC_LZ4 &&
	      level == -1);
	CHECK(!lading_codec_parse("deflate:9", &c, &level) && level == 9);
	CHECK(lading_codec_parse("none:3", &c, &level) == -EINVAL);
	CHECK(lading_codec_parse("brotli", &c, &level) == -EINVAL);
	CHECK(!strcmp(lading_codec_name(LADING_CODEC_LZMA), "lzma"));
}

static void test_no_data_no_blob(void)
{
	struct lading_store_params p = { .chunk_size = 4096, .blob_dir = dir };
	struct lading_store *s;
	struct lading_chunk_ref r;
	struct lading_blob_info info;
	static uint8_t z[4096];

	CHECK(!lading_store_open(&s, &p));
	CHECK(!lading_store_add_chunk(s, z, sizeof(z), &r));
	CHECK(!lading_store_finish(s, &info));
	CHECK(!info.present);
	lading_store_free(s);
}

static void test_chunker(void)
{
	struct lading_store_params p = { .chunk_size = 4096, .blob_dir = dir };
	struct lading_store *s;
	struct lading_chunker c;
	struct lading_chunk_ref *refs;
	struct lading_blob_info info;
	uint32_t n;
	static uint8_t data[10000];

	memset(data, 'x', sizeof(data));
	CHECK(!lading_store_open(&s, &p));
	CHECK(!lading_chunker_init(&c, s));
	/* 3 KiB data, 6 KiB hole, then data to 20000 bytes */
	CHECK(!lading_chunker_begin(&c, 20000));
	CHECK(!lading_chunker_write(&c, data, 3072));
	CHECK(!lading_chunker_skip(&c, 6144 + 4096));
	CHECK(!lading_chunker_write(&c, data, 20000 - 3072 - 10240));
	CHECK(!lading_chunker_end(&c, &refs, &n));
	CHECK_EQ_U64(n, 5);
	CHECK(refs[0].blkaddr != LADING_CHUNK_HOLE);	/* data + zeros */
	CHECK_EQ_U64(refs[1].blkaddr, LADING_CHUNK_HOLE);
	CHECK_EQ_U64(refs[2].blkaddr, LADING_CHUNK_HOLE);
	CHECK(refs[3].blkaddr != LADING_CHUNK_HOLE);
	free(refs);
	/* too little data is an error, so is too much */
	CHECK(!lading_chunker_begin(&c, 100));
	CHECK(!lading_chunker_write(&c, data, 50));
	CHECK(lading_chunker_end(&c, &refs, &n) == -EIO);
	CHECK(!lading_chunker_begin(&c, 100));
	CHECK(lading_chunker_write(&c, data, 101) == -EIO);
	lading_chunker_release(&c);
	CHECK(!lading_store_finish(s, &info));
	lading_store_free(s);	/* never published: the temp file goes */
}

/*
 * A chunk handed over in its buffer is stored like a copied one, through
 * more chunks than the writer queue has slots (4 MiB chunks: 4 slots), and
 * the buffer that comes back is a chunk-sized one the caller owns.
 */
static void test_chunk_buf_handoff(void)
{
	const size_t cs = 4u << 20;
	struct lading_store_params p = { .chunk_size = (uint32_t)cs, .blob_dir = dir };
	struct lading_store *s1, *s2;
	struct lading_chunk_ref r1, r2;
	struct lading_blob_info i1, i2;
	uint8_t *copy = malloc(cs), *buf = malloc(cs);
	int k;

	CHECK(copy && buf);
	if (!copy || !buf)
		return;
	CHECK(!lading_store_open(&s1, &p));
	CHECK(!lading_store_open(&s2, &p));
	for (k = 0; k < 11; k++) {
		/* chunk 5 repeats chunk 2 (deduplicated); 7 is short; 9 zeros */
		size_t len = k == 7 ? 12345 : cs;
		int v = k == 5 ? 2 : k;

		memset(copy, k == 9 ? 0 : 'A' + v, cs);
		if (k != 9)
			copy[v] = (uint8_t)v;
		memcpy(buf, copy, len);
		CHECK(!lading_store_add_chunk(s1, copy, len, &r1));
		CHECK(!lading_store_add_chunk_buf(s2, &buf, len, &r2));
		CHECK(buf != NULL);
		CHECK_EQ_U64(r1.blkaddr, r2.blkaddr);
		CHECK_EQ_U64(r1.device_id, r2.device_id);
		memset(buf, 0x5a, cs);	/* ours now: the store must not read it */
	}
	CHECK(!lading_store_finish(s1, &i1));
	CHECK(!lading_store_finish(s2, &i2));
	CHECK(i1.present && i2.present);
	CHECK(!strcmp(i1.id, i2.id));
	CHECK_EQ_U64(lading_store_stats(s2)->chunks_dedup, 1);
	CHECK_EQ_U64(lading_store_stats(s2)->chunks_hole, 1);
	lading_store_free(s1);	/* never published: the temp files go */
	lading_store_free(s2);
	free(buf);
	free(copy);
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	test_chunk_sizes();
	test_dedup_and_blob();
	test_no_data_no_blob();
	test_chunker();
	test_chunk_buf_handoff();
	test_codecs();
	CHECK(rmdir(dir) == 0);	/* nothing left behind */
	return check_summary("store");
}
