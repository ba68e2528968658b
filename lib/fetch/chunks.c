// SPDX-License-Identifier: MIT
/*
 * The one chunk path (see fetch.h): a run of chunks is read with one
 * range read from a blob source, each chunk decoded and checked against
 * its sha256 in the ToC, and the good ones written whole.  Nothing here
 * knows the kind of source or of cache file.  The filler schedules runs
 * itself (priorities, deadlines, chunks in flight); lading_chunk_batch is
 * the plain queue for a whole blob (seeding).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <lading/fetch.h>

struct lading_chunk_fetcher {
	struct lading_blob_reader *reader;
	uint8_t *stored;
	size_t stored_size;
	uint8_t *plain;			/* 4 KiB aligned: O_DIRECT writes */
	size_t plain_size;
	/* the run last read: what lading_chunk_run_write writes */
	const struct lading_toc *toc;
	size_t first, count;
	struct lading_read_timing timing;
};

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/*
 * A chunk's bytes in the cache file, zeros to 4 KiB included; a span of
 * a seek index is written exactly (the next span starts right after it).
 */
static uint64_t padded(const struct lading_toc *toc, const struct lading_toc_entry *t)
{
	return lading_toc_extent(toc, (size_t)(t - toc->entries));
}

/*
 * t is stored right after prev, or (spans of a seek index) starts inside
 * prev's last bytes: a span that begins mid-byte shares that byte with the
 * one before, so one range read still covers both.
 */
static bool stored_next(const struct lading_toc_entry *prev,
			const struct lading_toc_entry *t)
{
	uint64_t p0 = lading_le64_to_cpu(prev->coff);
	uint64_t p1 = p0 + lading_le32_to_cpu(prev->clen);
	uint64_t t0 = lading_le64_to_cpu(t->coff);

	return t0 >= p0 && t0 <= p1 && t0 + lading_le32_to_cpu(t->clen) >= p1;
}

size_t lading_chunk_run_len(const struct lading_toc *toc, size_t first, size_t end,
			    uint64_t max_stored,
			    bool (*want)(const void *ud, size_t k), const void *ud)
{
	const struct lading_toc_entry *t = toc->entries;
	uint64_t plain = padded(toc, &t[first]);
	size_t k = first + 1;

	/*
	 * The ToC keeps coff + clen within the blob: no overflow.  The run
	 * decodes into one buffer, so its decoded bytes are bounded too: a
	 * few MiB of well-compressed spans can inflate to gigabytes.
	 */
	while (k < end && want(ud, k) && stored_next(&t[k - 1], &t[k]) &&
	       lading_le64_to_cpu(t[k].coff) + lading_le32_to_cpu(t[k].clen) - lading_le64_to_cpu(t[first].coff) <= max_stored &&
	       plain + padded(toc, &t[k]) <= LADING_CHUNK_RUN_PLAIN_MAX) {
		plain += padded(toc, &t[k]);
		k++;
	}
	return k - first;
}

static uint64_t stored_end(const struct lading_toc_entry *t)
{
	return lading_le64_to_cpu(t->coff) + lading_le32_to_cpu(t->clen);
}

bool lading_chunk_run_bridge(const struct lading_toc *toc, size_t first,
			     size_t end, size_t next, uint64_t max_gap,
			     uint64_t max_stored)
{
	const struct lading_toc_entry *t = toc->entries;
	uint64_t run, gap, plain;
	size_t k;

	if (first >= end || next < end || next >= toc->count)
		return false;
	for (k = end; k <= next; k++)
		if (!stored_next(&t[k - 1], &t[k]))
			return false;
	run = stored_end(&t[end - 1]) - lading_le64_to_cpu(t[first].coff);
	/* stored_next: coff(next) >= coff(end - 1) */
	gap = lading_le64_to_cpu(t[next].coff) > stored_end(&t[end - 1]) ?
	      lading_le64_to_cpu(t[next].coff) - stored_end(&t[end - 1]) : 0;
	if (gap > max_gap && gap > run / 4)
		return false;
	if (stored_end(&t[next]) - lading_le64_to_cpu(t[first].coff) > max_stored)
		return false;
	plain = lading_le64_to_cpu(t[next].uoff) + padded(toc, &t[next]) -
		lading_le64_to_cpu(t[first].uoff);
	return plain <= LADING_CHUNK_RUN_PLAIN_MAX;
}

struct lading_chunk_fetcher *lading_chunk_fetcher_new(void)
{
	struct lading_chunk_fetcher *f = calloc(1, sizeof(*f));

	if (f)
		f->reader = lading_blob_reader_new();
	if (f && !f->reader) {
		free(f);
		f = NULL;
	}
	return f;
}

void lading_chunk_fetcher_free(struct lading_chunk_fetcher *f)
{
	if (!f)
		return;
	lading_blob_reader_free(f->reader);
	free(f->stored);
	free(f->plain);
	free(f);
}

static int grow_aligned(uint8_t **buf, size_t *size, size_t need)
{
	void *n;

	if (*size >= need)
		return 0;
	if (posix_memalign(&n, LADING_BLOCK_SIZE, need))
		return -ENOMEM;
	free(*buf);
	*buf = n;
	*size = need;
	return 0;
}

int lading_chunk_run_read(struct lading_chunk_fetcher *f,
			  const struct lading_blob_handle *h,
			  const struct lading_toc *toc, size_t first, size_t count,
			  int *res, struct lading_error *err)
{
	return lading_chunk_run_read_some(f, h, toc, first, count, NULL, res, err);
}

int lading_chunk_run_fetch(struct lading_chunk_fetcher *f,
			   const struct lading_blob_handle *h,
			   const struct lading_toc *toc, size_t first,
			   size_t count, struct lading_error *err)
{
	const struct lading_toc_entry *t0 = &toc->entries[first];
	const struct lading_toc_entry *tn = &toc->entries[first + count - 1];
	size_t i;
	int ret;

	if (!f)
		return lading_error_set(err, ENOMEM, "out of memory");
	f->count = 0;		/* nothing to write unless the read succeeds */
	for (i = 1; i < count; i++)
		if (!stored_next(&t0[i - 1], &t0[i]))
			return lading_error_set(err, EINVAL, "chunks %zu-%zu are "
						"not stored back to back", first,
						first + count - 1);
	ret = lading_grow_buffer(&f->stored, &f->stored_size,
				 lading_le64_to_cpu(tn->coff) + lading_le32_to_cpu(tn->clen) - lading_le64_to_cpu(t0->coff));
	if (!ret)
		ret = grow_aligned(&f->plain, &f->plain_size,
				   lading_le64_to_cpu(tn->uoff) + padded(toc, tn) - lading_le64_to_cpu(t0->uoff));
	if (ret)
		return lading_error_set(err, -ret, "out of memory");
	memset(&f->timing, 0, sizeof(f->timing));
	f->timing.bytes = lading_le64_to_cpu(tn->coff) + lading_le32_to_cpu(tn->clen) - lading_le64_to_cpu(t0->coff);
	f->timing.total_us = now_us();
	ret = lading_blob_reader_read(f->reader, h, lading_le64_to_cpu(t0->coff),
				      (size_t)f->timing.bytes, f->stored, err);
	f->timing.total_us = now_us() - f->timing.total_us;
	if (ret)
		return ret;
	f->timing.first_byte_us = lading_blob_reader_first_byte_us(f->reader);
	f->toc = toc;
	f->first = first;
	f->count = count;
	return 0;
}

int lading_chunk_run_decode(struct lading_chunk_fetcher *f, size_t i)
{
	const struct lading_toc_entry *t0, *t;
	uint8_t *dst;
	int res;

	if (!f || i >= f->count)
		return LADING_CHUNK_NOT_WRITTEN;
	t0 = &f->toc->entries[f->first];
	t = &t0[i];
	dst = f->plain + (lading_le64_to_cpu(t->uoff) - lading_le64_to_cpu(t0->uoff));
	res = lading_toc_decode_at(f->toc, f->first + i, f->stored + (lading_le64_to_cpu(t->coff) - lading_le64_to_cpu(t0->coff)), dst);
	/* the zeros to 4 KiB are written too: whole blocks for O_DIRECT,
	 * and on a file system with smaller blocks a hole there would
	 * make cachefiles ask for the chunk again */
	if (res == LADING_CHUNK_OK)
		memset(dst + lading_le32_to_cpu(t->ulen), 0, padded(f->toc, t) - lading_le32_to_cpu(t->ulen));
	return res;
}

int lading_chunk_run_read_some(struct lading_chunk_fetcher *f,
			       const struct lading_blob_handle *h,
			       const struct lading_toc *toc, size_t first,
			       size_t count, const uint8_t *skip, int *res,
			       struct lading_error *err)
{
	size_t i;
	int ret;

	for (i = 0; i < count; i++)
		res[i] = LADING_CHUNK_NOT_WRITTEN;
	ret = lading_chunk_run_fetch(f, h, toc, first, count, err);
	for (i = 0; !ret && i < count; i++)
		if (!skip || !skip[i])	/* read along only: stays NOT_WRITTEN */
			res[i] = lading_chunk_run_decode(f, i);
	return ret;
}

const uint8_t *lading_chunk_run_plain(const struct lading_chunk_fetcher *f,
				      size_t k)
{
	const struct lading_toc_entry *t;

	if (!f || !f->count || k < f->first || k >= f->first + f->count)
		return NULL;
	t = &f->toc->entries[k];
	return f->plain + (lading_le64_to_cpu(t->uoff) -
			   lading_le64_to_cpu(f->toc->entries[f->first].uoff));
}

/* The stretch of chunks from i on that are all good or all not. */
static size_t stretch(const int *res, size_t i, size_t count)
{
	size_t n = 1;

	while (i + n < count &&
	       (res[i + n] == LADING_CHUNK_OK) == (res[i] == LADING_CHUNK_OK))
		n++;
	return n;
}

int lading_chunk_run_write(struct lading_chunk_fetcher *f, int fd, int *res)
{
	const struct lading_toc_entry *t0;
	size_t i, k, n;
	int ret, first_err = 0;

	if (!f || !f->count)
		return 0;
	t0 = &f->toc->entries[f->first];
	for (i = 0; i < f->count; i += n) {
		uint64_t len = 0;

		n = stretch(res, i, f->count);
		if (res[i] != LADING_CHUNK_OK)
			continue;
		for (k = i; k < i + n; k++)
			len += padded(f->toc, &t0[k]);
		ret = fd < 0 ? -EBADF :
		      lading_pwrite_full(fd, f->plain + (lading_le64_to_cpu(t0[i].uoff) - lading_le64_to_cpu(t0->uoff)),
					 (size_t)len, lading_le64_to_cpu(t0[i].uoff));
		if (!ret)
			continue;
		for (k = i; k < i + n; k++)
			res[k] = LADING_CHUNK_NOT_WRITTEN;
		first_err = first_err ? first_err : ret;
	}
	return first_err;
}

int lading_chunk_run_write_one(struct lading_chunk_fetcher *f, int fd, size_t i)
{
	const struct lading_toc_entry *t0, *t;

	if (!f || i >= f->count)
		return -EINVAL;
	if (fd < 0)
		return -EBADF;
	t0 = &f->toc->entries[f->first];
	t = &t0[i];
	return lading_pwrite_full(fd, f->plain + (lading_le64_to_cpu(t->uoff) - lading_le64_to_cpu(t0->uoff)),
				  (size_t)padded(f->toc, t), lading_le64_to_cpu(t->uoff));
}

void lading_chunk_run_timing(const struct lading_chunk_fetcher *f,
			     struct lading_read_timing *t)
{
	static const struct lading_read_timing none;

	*t = f && f->count ? f->timing : none;
}

/* ---- what a source's round trip is worth ------------------------------ */

/* below this, a read's time is mostly its round trip */
#define LINK_MIN_BYTES (64u << 10)

static uint64_t ewma(uint64_t old, uint64_t cur)
{
	return old ? (3 * old + cur) / 4 : cur;
}

/*
 * The throughput is taken over the whole read, round trip included: what
 * a read of that size gives.  It errs low (so reading along errs small)
 * where the transfer time alone would err high: a link that buffers or
 * bursts hands over the first part of a read at once.
 */
void lading_link_note(struct lading_link_estimate *l, const struct lading_read_timing *t)
{
	if (!t->first_byte_us || t->total_us < t->first_byte_us)
		return;
	l->rtt_us = ewma(l->rtt_us, t->first_byte_us);
	if (t->bytes >= LINK_MIN_BYTES)
		l->bytes_per_ms = ewma(l->bytes_per_ms, t->bytes * 1000u / t->total_us);
}

uint64_t lading_link_round_trip_bytes(const struct lading_link_estimate *l)
{
	if (!l->rtt_us || !l->bytes_per_ms)
		return UINT64_MAX;
	return l->bytes_per_ms * l->rtt_us / 1000u;
}

/* ---- a blob's wanted chunks, by a few threads ------------------------- */

struct batch_run {
	size_t first, count;
};

struct batch {
	const struct lading_chunk_batch *b;
	struct batch_run *runs;
	size_t nruns, next;
	int *res;			/* per ToC entry: runs do not overlap */
	pthread_mutex_t lock;
	int stop;
};

static void *batch_worker(void *arg)
{
	struct batch *bt = arg;
	const struct lading_chunk_batch *b = bt->b;
	struct lading_chunk_fetcher *f = lading_chunk_fetcher_new();

	for (;;) {
		struct lading_error err = { 0 };
		struct lading_chunk_run run = { .err = &err };
		struct batch_run *r;
		int stop;

		pthread_mutex_lock(&bt->lock);
		r = bt->stop || bt->next == bt->nruns ? NULL : &bt->runs[bt->next++];
		pthread_mutex_unlock(&bt->lock);
		if (!r)
			break;
		run.first = r->first;
		run.count = r->count;
		run.res = bt->res + r->first;
		run.read_error = lading_chunk_run_read(f, b->blob, b->toc, r->first,
						       r->count, bt->res + r->first,
						       &err);
		if (!run.read_error)
			run.write_error = lading_chunk_run_write(f, b->fd,
								 bt->res + r->first);
		/* a run finished after a stop is still reported */
		pthread_mutex_lock(&bt->lock);
		stop = b->done(b->ud, &run);
		bt->stop = bt->stop ? bt->stop : stop;
		pthread_mutex_unlock(&bt->lock);
	}
	lading_chunk_fetcher_free(f);
	return NULL;
}

static int batch_plan(struct batch *bt)
{
	const struct lading_chunk_batch *b = bt->b;
	size_t k, n = b->toc->count;

	bt->runs = calloc(n ? n : 1, sizeof(*bt->runs));
	bt->res = calloc(n ? n : 1, sizeof(*bt->res));
	if (!bt->runs || !bt->res)
		return -ENOMEM;
	for (k = 0; k < n; k++) {
		struct batch_run *r;

		if (!b->want(b->ud, k))
			continue;
		r = &bt->runs[bt->nruns++];
		r->first = k;
		r->count = lading_chunk_run_len(b->toc, k, n, b->run_max, b->want,
						b->ud);
		k += r->count - 1;
	}
	return 0;
}

int lading_chunk_batch_run(const struct lading_chunk_batch *b,
			   struct lading_error *err)
{
	struct batch bt = { .b = b };
	unsigned threads = b->threads ? b->threads : 1;
	pthread_t *th = NULL;
	size_t k, started = 0;
	int ret = batch_plan(&bt);

	if (!ret && bt.nruns > 1 && threads > 1) {
		th = calloc(threads, sizeof(*th));
		ret = th ? 0 : -ENOMEM;
	}
	if (ret) {
		free(bt.runs);
		free(bt.res);
		return lading_error_set(err, ENOMEM, "out of memory");
	}
	pthread_mutex_init(&bt.lock, NULL);
	for (k = 0; th && k < threads && k < bt.nruns; k++)
		if (!pthread_create(&th[started], NULL, batch_worker, &bt))
			started++;
	if (!started)
		batch_worker(&bt);	/* one run, or no threads: here */
	for (k = 0; k < started; k++)
		pthread_join(th[k], NULL);
	pthread_mutex_destroy(&bt.lock);
	free(th);
	free(bt.runs);
	free(bt.res);
	return bt.stop;
}
