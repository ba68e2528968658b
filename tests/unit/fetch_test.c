// SPDX-License-Identifier: MIT
/*
 * Blob sources and the chunk path over blob directories: a blob is found
 * in the first directory that has it, runs merge stored neighbours only,
 * and a batch into a cache file writes every good chunk and nothing of a
 * damaged one (a hole stays), from any number of threads.  Registries and
 * base URLs are the integration tests' (they need a server).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <lading/fetch.h>
#include <lading/store.h>
#include "check.h"

#define CHUNK 8192
#define NCHUNKS 7
#define TAIL 1000		/* the last chunk's bytes */

static char dir[] = "/tmp/lading-fetch-test-XXXXXX";
static uint8_t data[NCHUNKS][CHUNK];
static struct lading_blob_info info;
static struct lading_blob_record rec;

static size_t chunk_len(size_t k)
{
	return k == NCHUNKS - 1 ? TAIL : CHUNK;
}

/* Distinct, compressible chunks in an lz4 blob in dir/good. */
static int make_blob(void)
{
	struct lading_store_params p = { .chunk_size = CHUNK, .codec = LADING_CODEC_LZ4,
					 .level = -1 };
	struct lading_store *s = NULL;
	struct lading_chunk_ref ref;
	char *good = lading_path_join(dir, "good");
	bool existed;
	size_t k, i;
	int ret;

	p.blob_dir = good;
	ret = good && !lading_mkdir_p(good) ? lading_store_open(&s, &p) : -ENOMEM;
	for (k = 0; !ret && k < NCHUNKS; k++) {
		for (i = 0; i < CHUNK; i++)
			data[k][i] = (uint8_t)("lading"[i % 6] + k + i / 1000);
		ret = lading_store_add_chunk(s, data[k], chunk_len(k), &ref);
	}
	if (!ret)
		ret = lading_store_finish(s, &info);
	if (!ret)
		ret = lading_store_publish(s, &info, &existed);
	if (s)
		lading_store_free(s);
	lading_blob_record_from_info(&rec, &info);
	free(good);
	return ret;
}

/* dir/bad: the same blob with stored byte `at` of chunk k flipped. */
static void make_damaged(const struct lading_toc *toc, size_t k)
{
	char *src = lading_path_join(dir, "good"), *dst = lading_path_join(dir, "bad");
	char *from = lading_path_join(src, info.id), *to = lading_path_join(dst, info.id);
	uint8_t *buf = malloc(info.size);
	int fd = open(from, O_RDONLY);

	CHECK(buf && fd >= 0 && !lading_mkdir_p(dst));
	CHECK(!lading_pread_full(fd, buf, info.size, 0));
	close(fd);
	buf[toc->entries[k].coff + toc->entries[k].clen / 2] ^= 0x55;
	fd = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0 && !lading_pwrite_full(fd, buf, info.size, 0));
	close(fd);
	free(buf);
	free(from);
	free(to);
	free(src);
	free(dst);
}

static bool want_all(const void *ud, size_t k)
{
	(void)ud;
	(void)k;
	return true;
}

static bool want_odd(const void *ud, size_t k)
{
	(void)ud;
	return k % 2;
}

struct outcome {
	int res[NCHUNKS];
	unsigned runs, stop_after;
	int read_error, write_error;
};

static int record_run(void *ud, const struct lading_chunk_run *run)
{
	struct outcome *o = ud;
	size_t i;

	for (i = 0; i < run->count; i++)
		o->res[run->first + i] = run->res[i];
	o->read_error = o->read_error ? o->read_error : run->read_error;
	o->write_error = o->write_error ? o->write_error : run->write_error;
	return ++o->runs == o->stop_after;
}

static int cache_file(const char *name)
{
	char *path = lading_path_join(dir, name);
	int fd = path ? open(path, O_RDWR | O_CREAT | O_TRUNC, 0644) : -1;

	free(path);
	if (fd >= 0 && ftruncate(fd, (off_t)info.uncompressed_size) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* Chunk k of the cache file holds its data, then zeros to 4 KiB. */
static bool chunk_in_cache(int fd, const struct lading_toc *toc, size_t k)
{
	const struct lading_toc_entry *e = &toc->entries[k];
	uint8_t got[CHUNK];
	size_t pad = LADING_ALIGN_UP(e->ulen, LADING_BLOCK_SIZE), i;

	if (!lading_range_is_data(fd, e->uoff, pad) ||
	    lading_pread_full(fd, got, pad, e->uoff) || memcmp(got, data[k], e->ulen))
		return false;
	for (i = e->ulen; i < pad; i++)
		if (got[i])
			return false;
	return true;
}

/* Directories in order: an empty one, a missing one, the one with it. */
static void test_sources(void)
{
	char *none = lading_path_join(dir, "none"), *bad = lading_path_join(dir, "bad");
	char *good = lading_path_join(dir, "good");
	const char *specs[] = { none, bad, good };
	struct lading_blob_sources *srcs = NULL;
	struct lading_error err = { 0 };
	struct lading_blob_handle *h = NULL;

	CHECK(!lading_mkdir_p(none));
	CHECK(!lading_blob_sources_open(specs, 3, NULL, &srcs, &err));
	if (srcs) {
		CHECK(lading_blob_sources_find(srcs, "00ff", &h, &err) == -ENOENT);
		CHECK(strstr(err.msg, "blob 00ff: not found in the sources") != NULL);
		CHECK(h == NULL);
		lading_error_clear(&err);
		CHECK(!lading_blob_sources_find(srcs, info.id, &h, &err) && h);
		lading_blob_handle_close(h);
		lading_blob_sources_close(srcs);
	}
	free(none);
	free(bad);
	free(good);
}

/* Runs merge wanted neighbours up to a stored size, never across a gap. */
static void test_run_len(const struct lading_toc *toc)
{
	struct lading_toc gap = *toc;
	struct lading_toc_entry e[NCHUNKS];
	uint64_t two = toc->entries[2].coff + toc->entries[2].clen - toc->entries[1].coff;

	CHECK_EQ_U64(toc->count, NCHUNKS);
	CHECK_EQ_U64(lading_chunk_run_len(toc, 0, NCHUNKS, UINT64_MAX, want_all, NULL),
		     NCHUNKS);
	CHECK_EQ_U64(lading_chunk_run_len(toc, 1, NCHUNKS, two, want_all, NULL), 2);
	CHECK_EQ_U64(lading_chunk_run_len(toc, 1, NCHUNKS, two - 1, want_all, NULL), 1);
	CHECK_EQ_U64(lading_chunk_run_len(toc, 0, 1, 1, want_all, NULL), 1);
	CHECK_EQ_U64(lading_chunk_run_len(toc, 1, NCHUNKS, UINT64_MAX, want_odd, NULL), 1);
	CHECK_EQ_U64(lading_chunk_run_len(toc, 2, 5, UINT64_MAX, want_all, NULL), 3);
	memcpy(e, toc->entries, sizeof(e));
	gap.entries = e;
	e[3].coff += 1;		/* chunk 3 not right after chunk 2 */
	CHECK_EQ_U64(lading_chunk_run_len(&gap, 0, NCHUNKS, UINT64_MAX, want_all, NULL), 3);
}

static void test_run_read_write(struct lading_blob_sources *srcs,
				const struct lading_toc *toc)
{
	struct lading_chunk_fetcher *f = lading_chunk_fetcher_new();
	struct lading_error err = { 0 };
	struct lading_blob_handle *h = NULL;
	struct lading_toc bad = *toc;
	struct lading_toc_entry e[NCHUNKS];
	int res[NCHUNKS], fd = cache_file("cache-rw"), k;

	CHECK(f != NULL && fd >= 0);
	CHECK(!lading_blob_sources_find(srcs, info.id, &h, &err));
	if (!h)
		return;
	/* a digest that does not match: -EBADMSG, the others are written */
	memcpy(e, toc->entries, sizeof(e));
	bad.entries = e;
	e[2].digest[0] ^= 1;
	CHECK(!lading_chunk_run_read(f, h, &bad, 1, 3, res, &err));
	CHECK(res[0] == LADING_CHUNK_OK && res[1] == -EBADMSG && res[2] == LADING_CHUNK_OK);
	CHECK(!lading_chunk_run_write(f, fd, res));
	CHECK(res[0] == LADING_CHUNK_OK && res[1] == -EBADMSG && res[2] == LADING_CHUNK_OK);
	CHECK(chunk_in_cache(fd, toc, 1) && chunk_in_cache(fd, toc, 3));
	CHECK(!lading_range_is_data(fd, toc->entries[2].uoff, CHUNK));
	CHECK(!lading_range_is_data(fd, 0, CHUNK));
	/* no fd: nothing written, the good chunks say so */
	CHECK(!lading_chunk_run_read(f, h, toc, 5, 2, res, &err));
	CHECK(lading_chunk_run_write(f, -1, res) == -EBADF);
	CHECK(res[0] == LADING_CHUNK_NOT_WRITTEN && res[1] == LADING_CHUNK_NOT_WRITTEN);
	/* the short last chunk, zero padded */
	CHECK(!lading_chunk_run_read(f, h, toc, 6, 1, res, &err));
	CHECK(!lading_chunk_run_write(f, fd, res) && res[0] == LADING_CHUNK_OK);
	CHECK(chunk_in_cache(fd, toc, 6));
	/* a run not stored back to back is refused, nothing to write */
	e[2].digest[0] ^= 1;
	e[1].coff += 1;
	CHECK(lading_chunk_run_read(f, h, &bad, 0, 3, res, &err) == -EINVAL);
	for (k = 0; k < 3; k++)
		CHECK(res[k] == LADING_CHUNK_NOT_WRITTEN);
	CHECK(!lading_chunk_run_write(f, fd, res));
	/* a fetcher that could not be made */
	lading_error_clear(&err);
	CHECK(lading_chunk_run_read(NULL, h, toc, 0, 1, res, &err) == -ENOMEM);
	CHECK(!lading_chunk_run_write(NULL, fd, res));
	lading_chunk_fetcher_free(f);
	lading_blob_handle_close(h);
	close(fd);
}

/* A whole blob with a damaged chunk, by 1 and by 3 threads. */
static void test_batch(struct lading_blob_sources *srcs, const struct lading_toc *toc,
		       const char *name, unsigned threads, uint64_t run_max)
{
	struct lading_error err = { 0 };
	struct lading_blob_handle *h = NULL;
	struct outcome o = { .runs = 0 };
	struct lading_chunk_batch b = {
		.toc = toc, .fd = cache_file(name), .want = want_all,
		.run_max = run_max, .threads = threads, .done = record_run, .ud = &o,
	};
	size_t k;

	/* the damaged copy is in the source listed before the good one */
	CHECK(!lading_blob_sources_find(srcs, info.id, &h, &err));
	b.blob = h;
	CHECK(b.fd >= 0 && h);
	if (b.fd < 0 || !h)
		return;
	CHECK(!lading_chunk_batch_run(&b, &err));
	CHECK(!o.read_error && !o.write_error);
	for (k = 0; k < NCHUNKS; k++) {
		if (k == 4) {
			CHECK(o.res[k] < 0);
			CHECK(!lading_range_is_data(b.fd, toc->entries[k].uoff, CHUNK));
		} else {
			CHECK(o.res[k] == LADING_CHUNK_OK);
			CHECK(chunk_in_cache(b.fd, toc, k));
		}
	}
	if (run_max == 1)
		CHECK_EQ_U64(o.runs, NCHUNKS);	/* one chunk per run */
	else
		CHECK_EQ_U64(o.runs, 1);
	close(b.fd);
	lading_blob_handle_close(h);
}

/* Wanted chunks only; a non-zero done() starts no further run. */
static void test_batch_stop(struct lading_blob_sources *srcs,
			    const struct lading_toc *toc)
{
	struct lading_error err = { 0 };
	struct lading_blob_handle *h = NULL;
	struct outcome o = { .stop_after = 1 };
	struct lading_chunk_batch b = {
		.toc = toc, .fd = cache_file("cache-stop"), .want = want_odd,
		.run_max = UINT64_MAX, .threads = 1, .done = record_run, .ud = &o,
	};
	size_t k;

	CHECK(!lading_blob_sources_find(srcs, info.id, &h, &err));
	b.blob = h;
	if (b.fd < 0 || !h)
		return;
	CHECK(lading_chunk_batch_run(&b, &err) == 1);
	CHECK_EQ_U64(o.runs, 1);
	CHECK(o.res[1] == LADING_CHUNK_OK && chunk_in_cache(b.fd, toc, 1));
	for (k = 0; k < NCHUNKS; k++)
		if (k != 1)
			CHECK(!lading_range_is_data(b.fd, toc->entries[k].uoff, CHUNK));
	close(b.fd);
	lading_blob_handle_close(h);
}

int main(void)
{
	struct lading_blob_sources *srcs = NULL;
	struct lading_blob_handle *h = NULL;
	struct lading_error err = { 0 };
	struct lading_toc toc = { 0 };
	char cmd[128];

	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	CHECK(!make_blob());
	test_sources();

	/* the good blob's ToC, then a damaged copy listed first */
	{
		char *good = lading_path_join(dir, "good");
		const char *one[] = { good };

		CHECK(!lading_blob_sources_open(one, 1, NULL, &srcs, &err));
		CHECK(srcs && !lading_blob_sources_find(srcs, info.id, &h, &err));
		CHECK(h && !lading_blob_read_toc(h, &rec, &toc, &err));
		lading_blob_handle_close(h);
		lading_blob_sources_close(srcs);
		srcs = NULL;
		free(good);
	}
	if (toc.count == NCHUNKS) {
		char *none = lading_path_join(dir, "none"), *bad = lading_path_join(dir, "bad");
		char *good = lading_path_join(dir, "good");
		const char *specs[] = { none, bad, good };

		make_damaged(&toc, 4);
		CHECK(!lading_blob_sources_open(specs, 3, NULL, &srcs, &err));
		test_run_len(&toc);
		test_run_read_write(srcs, &toc);
		test_batch(srcs, &toc, "cache-1", 1, UINT64_MAX);
		test_batch(srcs, &toc, "cache-3", 3, 1);
		test_batch_stop(srcs, &toc);
		lading_blob_sources_close(srcs);
		free(none);
		free(bad);
		free(good);
	}
	/* a ToC that does not match the record is named */
	lading_toc_free(&toc);
	rec.toc_digest[0] ^= 1;
	{
		char *good = lading_path_join(dir, "good");
		const char *one[] = { good };

		lading_error_clear(&err);
		CHECK(!lading_blob_sources_open(one, 1, NULL, &srcs, &err));
		CHECK(srcs && !lading_blob_sources_find(srcs, info.id, &h, &err));
		CHECK(h && lading_blob_read_toc(h, &rec, &toc, &err) == -EUCLEAN);
		CHECK(strstr(err.msg, "ToC digest differs") != NULL);
		lading_blob_handle_close(h);
		lading_blob_sources_close(srcs);
		free(good);
	}
	lading_toc_free(&toc);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0);
	return check_summary("fetch_test");
}
