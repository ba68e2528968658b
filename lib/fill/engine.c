// SPDX-License-Identifier: MIT
/*
 * The fill engine (see engine.h).  One lock guards chunk states, the job
 * queues and the waiting requests; fetching, decoding and writing happen
 * outside it.  A chunk in flight is never claimed twice, so concurrent
 * requests for the same chunk fetch it once.  A reaper thread fails
 * requests whose deadline passed, so the kernel is never held forever by
 * a source that stopped answering; the fetch itself goes on and its
 * chunks serve later requests.
 *
 * Readahead, the filler's own (fanotify pre-content marks switch the
 * kernel's off on the cache files): a miss also claims the next chunks of
 * the same file, a window that starts at FILL_RA_INIT and doubles, up to
 * the limit, while the file is read sequentially, like the kernel's.  The
 * part next to the demand chunks rides in their read; the rest, and every
 * window started by a read that reached the last one, is queued behind
 * on-demand jobs.  It goes through the same chunk path: verified or not
 * written.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "files.h"

#define FILL_DEFAULT_JOBS 4
#define FILL_DEFAULT_MERGE (4u << 20)
#define FILL_REAPER_TICK_MS 50
#define FILL_RA_INIT (128u << 10)
#define FILL_RA_SPILL (512u << 10)
/* 16 linear steps per power of two: p50/p99 within about 6 % */
#define LAT_SUB_BITS 4
#define LAT_BUCKETS ((64 - LAT_SUB_BITS + 1) << LAT_SUB_BITS)

struct fill_job {
	struct fill_blob *blob;
	size_t first, count;
	uint8_t *skip;			/* per chunk: read along only; NULL: none */
	struct fill_job *next;
};

struct job_queue {
	struct fill_job *head, *tail;
};

struct trace_rec {
	uint64_t ms;
	struct fill_blob *blob;
	uint32_t chunk;
};

struct fill_engine {
	struct fill_engine_params p;
	pthread_mutex_t lock;
	pthread_cond_t work;		/* jobs queued, or stopping */
	pthread_cond_t reaper_wake;
	bool stopping;
	struct job_queue high, low;
	struct fill_request *waiting;	/* requests with chunks in flight */
	struct fill_blob **blobs;
	size_t nblobs;
	pthread_t *workers;
	unsigned nworkers;
	pthread_t reaper;
	bool reaper_running;
	struct lading_fill_stats st;
	struct lading_link_estimate link;	/* the sources' round trip */
	/* request latencies: a log histogram, constant memory for a daemon */
	uint64_t lat[LAT_BUCKETS];
	uint64_t nlat;
	uint64_t lat_miss[LAT_BUCKETS];	/* those that waited for a fetch */
	uint64_t nlat_miss;
	struct fill_files **files;
	size_t nfiles;
	/* --record */
	bool tracing, trace_done;
	uint64_t trace_t0_us, trace_end_us;	/* end 0: none */
	struct trace_rec *trace;
	size_t ntrace, trace_cap;
};

uint64_t fill_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- blobs ------------------------------------------------------------ */

static void blob_free(struct fill_blob *b)
{
	if (!b)
		return;
	if (b->write_fd >= 0)
		close(b->write_fd);
	if (b->next_write_fd >= 0)
		close(b->next_write_fd);
	lading_blob_handle_close(b->src);
	lading_toc_free(&b->toc);
	free(b->state);
	free(b->late);
	free(b->wanted);
	free(b->ref);
	free(b->traced);
	free(b->name);
	pthread_mutex_destroy(&b->src_lock);
	free(b);
}

/* Finds the blob in the sources once; 0 or a negative errno (retried). */
static int blob_locate(struct fill_blob *b, struct lading_error *err)
{
	int ret = 0;

	pthread_mutex_lock(&b->src_lock);
	if (!b->located) {
		ret = lading_blob_sources_find(b->sources, b->id, &b->src, err);
		b->located = !ret;
	}
	pthread_mutex_unlock(&b->src_lock);
	return ret;
}

int fill_engine_add_blob(struct fill_engine *e, struct lading_blob_sources *src,
			 const char *id, const struct lading_blob_record *rec,
			 const char *name, const char *toc_dir,
			 struct fill_blob **out, struct lading_error *err)
{
	struct fill_blob *b = calloc(1, sizeof(*b)), **nb;
	int ret, kret;

	if (!b)
		return lading_error_set(err, ENOMEM, "out of memory");
	b->write_fd = -1;
	b->next_write_fd = -1;
	b->sources = src;
	pthread_mutex_init(&b->src_lock, NULL);
	snprintf(b->id, sizeof(b->id), "%s", id);
	b->name = strdup(name);
	ret = b->name ? 0 : lading_error_set(err, ENOMEM, "out of memory");
	/* a seek index is not kept as a ToC file: it is read anew */
	if (rec->codec == LADING_CODEC_GZIP_INDEXED)
		toc_dir = NULL;
	if (!ret && lading_toc_load_kept(toc_dir, id, rec, &b->toc)) {
		ret = blob_locate(b, err);
		if (!ret)
			ret = lading_blob_read_toc(b->src, rec, &b->toc, err);
		if (!ret && toc_dir && (kret = lading_toc_keep(toc_dir, id, &b->toc)))
			lading_log_msg(e->p.log, LADING_LOG_DEBUG, "%s/%s: cannot keep "
				       "the ToC: %s", toc_dir, id, strerror(-kret));
	}
	if (!ret) {
		b->state = calloc(b->toc.count ? b->toc.count : 1, 1);
		b->late = calloc(b->toc.count ? b->toc.count : 1, 1);
		b->traced = calloc(b->toc.count ? b->toc.count : 1, 1);
		b->wanted = calloc(b->toc.count ? b->toc.count : 1, 1);
		ret = b->state && b->late && b->traced && b->wanted ? 0 :
		      lading_error_set(err, ENOMEM, "out of memory");
	}
	pthread_mutex_lock(&e->lock);
	nb = ret ? NULL : realloc(e->blobs, (e->nblobs + 1) * sizeof(*nb));
	if (nb) {
		e->blobs = nb;
		e->blobs[e->nblobs++] = b;
	} else if (!ret) {
		ret = lading_error_set(err, ENOMEM, "out of memory");
	}
	pthread_mutex_unlock(&e->lock);
	if (ret) {
		blob_free(b);
		return ret;
	}
	*out = b;
	return 0;
}

size_t fill_engine_merge_bytes(const struct fill_engine *e)
{
	return e->p.merge_bytes;
}

struct fill_blob *fill_engine_blob(struct fill_engine *e, size_t i)
{
	struct fill_blob *b;

	pthread_mutex_lock(&e->lock);
	b = i < e->nblobs ? e->blobs[i] : NULL;
	pthread_mutex_unlock(&e->lock);
	return b;
}

static bool chunk_missing(const struct fill_blob *b, size_t k)
{
	return b->state[k] == FILL_CHUNK_ABSENT || b->state[k] == FILL_CHUNK_FAILED;
}

/*
 * A span of a kept gzip layer shares its edge blocks with its neighbours,
 * so its range can be data (zeros) though it was never written: only its
 * digest says it is there.
 */
static bool span_intact(int fd, const struct lading_toc_entry *t)
{
	uint32_t len = lading_le32_to_cpu(t->ulen);
	uint8_t *buf = malloc(len ? len : 1);
	struct lading_digest d;
	bool ok = buf && !lading_pread_full(fd, buf, len, lading_le64_to_cpu(t->uoff)) &&
		  !lading_sha256(buf, len, &d) && !memcmp(d.bytes, t->digest, sizeof(d.bytes));

	free(buf);
	return ok;
}

/* Whole chunks only: the filler writes nothing but whole verified chunks. */
void fill_engine_scan_present(struct fill_engine *e, struct fill_blob *b, int fd)
{
	size_t k;

	pthread_mutex_lock(&e->lock);
	for (k = 0; k < b->toc.count; k++) {
		const struct lading_toc_entry *t = &b->toc.entries[k];

		if (chunk_missing(b, k) && lading_range_is_data(fd, lading_le64_to_cpu(t->uoff), lading_le32_to_cpu(t->ulen)) &&
		    (!b->toc.zran || span_intact(fd, t))) {
			b->state[k] = FILL_CHUNK_PRESENT;
			b->npresent++;
		}
	}
	if (b->npresent == b->toc.count && !b->complete_reported) {
		b->complete_reported = true;
		e->st.blobs_completed++;
		if (e->p.blob_complete)
			e->p.blob_complete(b, e->p.ud);
	}
	pthread_mutex_unlock(&e->lock);
}

void fill_engine_set_write_fd(struct fill_engine *e, struct fill_blob *b, int fd)
{
	int old = -1;

	pthread_mutex_lock(&e->lock);
	if (b->write_fd >= 0 && b->jobs_running) {
		/* a job still writes through it: the last job's end closes it
		 * and installs the new one */
		b->write_fd_closing = true;
		old = b->next_write_fd;
		b->next_write_fd = fd;
	} else {
		old = b->write_fd;
		b->write_fd = fd;
		b->write_fd_closing = false;
	}
	pthread_mutex_unlock(&e->lock);
	if (old >= 0)
		close(old);
}

bool fill_engine_has_write_fd(struct fill_engine *e, struct fill_blob *b)
{
	bool has;

	pthread_mutex_lock(&e->lock);
	has = b->write_fd_closing ? b->next_write_fd >= 0 : b->write_fd >= 0;
	pthread_mutex_unlock(&e->lock);
	return has;
}

void fill_blob_map(const struct fill_blob *b, uint64_t off, uint64_t len,
		   size_t *first, size_t *count)
{
	uint64_t end = lading_le64_to_cpu(b->toc.footer.uncompressed_size);

	*first = 0;
	*count = 0;
	if (!len || off >= end)
		return;		/* past the data: the kernel reads zeros */
	if (len > end - off)
		len = end - off;
	if (lading_toc_map(&b->toc, off, len, first, count))
		*count = 0;
}

bool fill_engine_next_missing(struct fill_engine *e, struct fill_blob *b,
			      size_t from, size_t *k)
{
	bool found = false;
	size_t i;

	pthread_mutex_lock(&e->lock);
	for (i = from; i < b->toc.count && !found; i++) {
		if (chunk_missing(b, i)) {
			*k = i;
			found = true;
		}
	}
	pthread_mutex_unlock(&e->lock);
	return found;
}

/* ---- requests --------------------------------------------------------- */

static unsigned lat_bucket(uint64_t us)
{
	unsigned msb;

	if (us < (1u << LAT_SUB_BITS))
		return (unsigned)us;
	msb = 63 - (unsigned)__builtin_clzll(us);
	return ((msb - LAT_SUB_BITS + 1) << LAT_SUB_BITS) |
	       (unsigned)((us >> (msb - LAT_SUB_BITS)) & ((1u << LAT_SUB_BITS) - 1));
}

/* The smallest value of a bucket (exact below 16 us). */
static uint64_t lat_bucket_value(unsigned b)
{
	unsigned shift = b >> LAT_SUB_BITS;

	if (!shift)
		return b;
	return (uint64_t)((1u << LAT_SUB_BITS) | (b & ((1u << LAT_SUB_BITS) - 1)))
	       << (shift - 1);
}

static void record_latency(struct fill_engine *e, uint64_t us, bool miss)
{
	e->lat[lat_bucket(us)]++;
	e->nlat++;
	if (miss) {
		e->lat_miss[lat_bucket(us)]++;
		e->nlat_miss++;
	}
}

static uint64_t lat_percentile(const uint64_t *lat, uint64_t n, unsigned pct)
{
	uint64_t rank = n * pct / 100, seen = 0;
	unsigned b;

	for (b = 0; b < LAT_BUCKETS; b++) {
		seen += lat[b];
		if (seen > rank)
			return lat_bucket_value(b);
	}
	return 0;
}

/*
 * Under the lock: counts r's outcome (miss: it waited for fetches); the
 * caller completes it unlocked.
 */
static void account(struct fill_engine *e, struct fill_request *r, int err,
		    bool miss)
{
	if (r->low_priority)
		return;		/* prefetch: not a kernel request */
	if (err == -ETIMEDOUT)
		e->st.timeouts++;
	if (err)
		e->st.denied++;
	record_latency(e, fill_now_us() - r->start_us, miss);
}

static void queue_push(struct job_queue *q, struct fill_job *j)
{
	j->next = NULL;
	if (q->tail)
		q->tail->next = j;
	else
		q->head = j;
	q->tail = j;
}

static struct fill_job *queue_pop(struct job_queue *q)
{
	struct fill_job *j = q->head;

	if (j) {
		q->head = j->next;
		if (!q->head)
			q->tail = NULL;
	}
	return j;
}

/*
 * Under the lock: claims r's missing chunks in runs of neighbours (one
 * read each, up to merge_bytes stored) and queues them.  -ENOMEM leaves
 * the unclaimed rest absent.
 */
static bool want_missing(const void *ud, size_t k)
{
	return chunk_missing(ud, k);
}

/*
 * The same for chunks [first, first + count) of b: the jobs holding a
 * chunk before demand_end go to the on-demand queue, the others behind.
 */
static bool want_any(const void *ud, size_t k)
{
	(void)ud;
	(void)k;
	return true;
}

/* Under the lock: a job needs chunk k of b, skip relative to first. */
static bool claims(const struct fill_blob *b, const uint8_t *skip, size_t first,
		   size_t k)
{
	return chunk_missing(b, k) && !(skip && skip[k - first]);
}

/*
 * Under the lock: a job of bridged chunks from k, which it needs: the
 * chunks between the ones it needs are read along (j->skip), whatever
 * their state, and left as they are.  0 or -ENOMEM.
 */
static int bridged_job(struct fill_engine *e, struct fill_job *j,
		       const uint8_t *skip, size_t first, size_t end)
{
	struct fill_blob *b = j->blob;
	size_t i, n = lading_chunk_run_len(&b->toc, j->first, end, e->p.merge_bytes,
					   want_any, NULL);

	while (n > 1 && !claims(b, skip, first, j->first + n - 1))
		n--;
	j->count = n;
	for (i = 0; i < n; i++) {
		if (claims(b, skip, first, j->first + i))
			continue;
		if (!j->skip && !(j->skip = calloc(n, 1)))
			return -ENOMEM;
		j->skip[i] = 1;
	}
	return 0;
}

/*
 * The same for chunks [first, first + count) of b: the jobs holding a
 * chunk before demand_end go to the on-demand queue, the others behind.
 * skip (prefetch): the chunks only read along, see fill_request.
 */
static int claim_range(struct fill_engine *e, struct fill_blob *b, size_t first,
		       size_t count, size_t demand_end, const uint8_t *skip)
{
	size_t i, k = first, end = first + count;

	while (k < end) {
		struct fill_job *j;

		if (!claims(b, skip, first, k)) {
			k++;
			continue;
		}
		j = calloc(1, sizeof(*j));
		if (!j)
			return -ENOMEM;
		j->blob = b;
		j->first = k;
		if (skip) {
			if (bridged_job(e, j, skip, first, end)) {
				free(j);
				return -ENOMEM;
			}
		} else {
			j->count = lading_chunk_run_len(&b->toc, k, end, e->p.merge_bytes,
							want_missing, b);
		}
		if (j->first + j->count > demand_end)
			e->st.readahead_chunks += j->first + j->count -
				(j->first > demand_end ? j->first : demand_end);
		for (i = 0; i < j->count; i++, k++)
			if (!j->skip || !j->skip[i])
				b->state[k] = FILL_CHUNK_INFLIGHT;
		queue_push(j->first < demand_end ? &e->high : &e->low, j);
		pthread_cond_signal(&e->work);
	}
	return 0;
}

static int claim_missing(struct fill_engine *e, struct fill_request *r)
{
	return claim_range(e, r->blob, r->first, r->count,
			   r->low_priority ? r->first : r->first + r->count,
			   r->low_priority ? r->skip : NULL);
}

/* ---- readahead -------------------------------------------------------- */

/*
 * Under the lock: the window reached the end of its file, whose chunk
 * `last` is stored last: it goes on with the chunks stored after that
 * one, the files next to it in the tree (the same directory), as many as
 * fit in FILL_RA_SPILL decoded bytes (and the window's limit), while they
 * are missing and stored back to back.  A miss in a small file then also
 * brings its neighbours, which a process loading modules or libraries
 * from one directory reads next, in the same range read.  Their stored
 * bytes stay within what a round trip to the source is worth (measured):
 * on a slow link, reading them along would cost more than the reads it
 * saves.
 */
static void readahead_spill(struct fill_engine *e, struct fill_blob *b,
			    size_t last, size_t *first, size_t *count)
{
	uint64_t limit = e->p.readahead < FILL_RA_SPILL ? e->p.readahead : FILL_RA_SPILL;
	uint64_t stored_limit = lading_link_round_trip_bytes(&e->link);
	uint64_t bytes = 0, stored = 0;
	size_t k = last + 1, n, i;

	if (k >= b->toc.count || !chunk_missing(b, k) || (*count && *first + *count != k))
		return;
	n = lading_chunk_run_len(&b->toc, k, b->toc.count, e->p.merge_bytes,
				 want_missing, b);
	for (i = 0; i < n; i++) {
		const struct lading_toc_entry *t = &b->toc.entries[k + i];

		if (bytes + lading_le32_to_cpu(t->ulen) > limit ||
		    stored + lading_le32_to_cpu(t->clen) > stored_limit)
			break;
		bytes += lading_le32_to_cpu(t->ulen);
		stored += lading_le32_to_cpu(t->clen);
	}
	if (!*count)
		*first = k;
	*count += i;
}

/*
 * Under the lock: the chunks to read ahead of kernel request r, as one
 * run [*first, *first + *count) of r's blob (count 0: none), and the
 * file's window state updated.  A random read that misses starts a new
 * window after it; a read that reaches the last window starts the next,
 * twice as large.  The window follows the file's chunks in file order,
 * within this blob and while they are stored in order.
 */
static void readahead_plan(struct fill_engine *e, const struct fill_request *r,
			   bool miss, size_t *first, size_t *count)
{
	struct fill_blob *b = r->blob;
	struct fill_files *fs = b->files;
	uint64_t init = e->p.readahead < FILL_RA_INIT ? e->p.readahead : FILL_RA_INIT;
	uint64_t bytes = 0;
	struct fill_file *f;
	uint32_t p0, p1, start, pos;

	*count = 0;
	if (!e->p.readahead || !fs || !r->count)
		return;
	p1 = b->ref[r->first + r->count - 1];
	if (p1 == FILL_NO_FILE)
		return;
	f = &fs->files[fs->seq[p1].file];
	p0 = b->ref[r->first];
	if (p0 == FILL_NO_FILE || p0 > p1 || p0 < f->seq_start)
		p0 = p1;
	if (f->ra_valid && p0 >= f->ra_lo && p0 <= f->ra_next) {
		if (p1 < f->ra_mark)
			return;		/* the window ahead is still ahead */
		start = f->ra_next > p1 ? f->ra_next : p1 + 1;
		f->ra_win = f->ra_win * 2 < e->p.readahead ? f->ra_win * 2 :
			    e->p.readahead;
		f->ra_lo = f->ra_mark;
	} else {
		if (!miss)
			return;		/* a random hit: nothing to guess from */
		start = p1 + 1;
		f->ra_win = init;
		f->ra_lo = p0;
	}
	for (pos = start; pos < f->seq_end && bytes < f->ra_win; pos++) {
		const struct fill_seq *q = &fs->seq[pos];

		if (q->blob != b || (pos > start && q->chunk != fs->seq[pos - 1].chunk + 1))
			break;
		bytes += lading_le32_to_cpu(b->toc.entries[q->chunk].ulen);
	}
	/* chunks larger than the window: it doubles from what was read */
	if (bytes > f->ra_win)
		f->ra_win = bytes < e->p.readahead ? bytes : e->p.readahead;
	f->ra_valid = true;
	f->ra_mark = start;
	f->ra_next = pos;
	if (pos > start) {
		*first = fs->seq[start].chunk;
		*count = pos - start;
	}
	if (pos >= f->seq_end && (pos > start || start >= f->seq_end))
		readahead_spill(e, b, pos > start ? fs->seq[pos - 1].chunk :
				r->first + r->count - 1, first, count);
}

/*
 * Under the lock: claims the chunks r misses with the readahead it
 * starts, in one read when they are neighbours.  -ENOMEM: as
 * claim_missing (readahead itself is best effort).
 */
static int claim_with_readahead(struct fill_engine *e, struct fill_request *r)
{
	size_t first = 0, count = 0, end = r->first + r->count;
	int ret;

	if (!r->low_priority)
		readahead_plan(e, r, true, &first, &count);
	if (count && first == end)
		return claim_range(e, r->blob, r->first, r->count + count, end, NULL);
	ret = claim_missing(e, r);
	if (!ret && count)
		claim_range(e, r->blob, first, count, first, NULL);
	return ret;
}

/* Under the lock: a kernel request that hit may have reached the window. */
static void readahead_on_hit(struct fill_engine *e, const struct fill_request *r)
{
	size_t first = 0, count = 0;

	if (r->low_priority || e->stopping)
		return;
	readahead_plan(e, r, false, &first, &count);
	if (count)
		claim_range(e, r->blob, first, count, first, NULL);
}

/* ---- recording -------------------------------------------------------- */

/* Under the lock: notes the chunks of kernel request r not noted yet. */
static void trace_note(struct fill_engine *e, const struct fill_request *r)
{
	uint64_t now = r->start_us;
	size_t k;

	if (e->trace_end_us && now >= e->trace_end_us) {
		e->tracing = false;
		e->trace_done = true;
		return;
	}
	for (k = r->first; k < r->first + r->count; k++) {
		struct trace_rec *t;

		if (r->blob->traced[k])
			continue;
		if (e->ntrace == e->trace_cap) {
			size_t cap = e->trace_cap ? e->trace_cap * 2 : 1024;

			t = realloc(e->trace, cap * sizeof(*t));
			if (!t)
				return;	/* the trace misses it; the read goes on */
			e->trace = t;
			e->trace_cap = cap;
		}
		r->blob->traced[k] = 1;
		t = &e->trace[e->ntrace++];
		t->ms = (now - e->trace_t0_us) / 1000u;
		t->blob = r->blob;
		t->chunk = (uint32_t)k;
	}
}

void fill_engine_trace_start(struct fill_engine *e, uint64_t duration_ms)
{
	pthread_mutex_lock(&e->lock);
	e->tracing = true;
	e->trace_t0_us = fill_now_us();
	e->trace_end_us = duration_ms ? e->trace_t0_us + duration_ms * 1000u : 0;
	pthread_mutex_unlock(&e->lock);
}

bool fill_engine_trace_done(struct fill_engine *e)
{
	bool done;

	pthread_mutex_lock(&e->lock);
	if (e->tracing && e->trace_end_us && fill_now_us() >= e->trace_end_us) {
		e->tracing = false;
		e->trace_done = true;
	}
	done = e->trace_done;
	pthread_mutex_unlock(&e->lock);
	return done;
}

int fill_engine_trace_get(struct fill_engine *e, struct lading_trace *out)
{
	size_t i;
	int ret = 0;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&e->lock);
	for (i = 0; i < e->ntrace && !ret; i++)
		ret = lading_trace_add(out, e->trace[i].ms, e->trace[i].blob->id,
				       e->trace[i].chunk,
				       fill_files_path(e->trace[i].blob, e->trace[i].chunk));
	pthread_mutex_unlock(&e->lock);
	if (ret)
		lading_trace_free(out);
	return ret;
}

int fill_engine_add_files(struct fill_engine *e, struct fill_files *fs)
{
	struct fill_files **n;

	pthread_mutex_lock(&e->lock);
	n = realloc(e->files, (e->nfiles + 1) * sizeof(*n));
	if (n) {
		e->files = n;
		e->files[e->nfiles++] = fs;
	}
	pthread_mutex_unlock(&e->lock);
	if (!n)
		return -ENOMEM;
	return 0;
}

/*
 * Under the lock: a kernel request needs chunk k, which a prefetch job
 * still queued has claimed: that job goes to the head of the on-demand
 * queue, so the request does not wait behind prefetching.
 */
static void promote_queued(struct fill_engine *e, const struct fill_blob *b, size_t k)
{
	struct fill_job *prev = NULL, *j;

	for (j = e->low.head; j; prev = j, j = j->next) {
		if (j->blob != b || k < j->first || k >= j->first + j->count ||
		    (j->skip && j->skip[k - j->first]))
			continue;
		if (prev)
			prev->next = j->next;
		else
			e->low.head = j->next;
		if (e->low.tail == j)
			e->low.tail = prev;
		j->next = e->high.head;
		e->high.head = j;
		if (!e->high.tail)
			e->high.tail = j;
		return;
	}
}

/* 1: every chunk present; -EIO: one failed; 0: still waiting. */
static int request_state(const struct fill_request *r)
{
	const struct fill_blob *b = r->blob;
	size_t k;
	bool all = true;

	for (k = r->first; k < r->first + r->count; k++) {
		if (r->skip && r->skip[k - r->first])
			continue;
		if (b->state[k] == FILL_CHUNK_FAILED)
			return -EIO;
		if (b->state[k] != FILL_CHUNK_PRESENT)
			all = false;
	}
	return all ? 1 : 0;
}

void fill_engine_submit(struct fill_engine *e, struct fill_request *r)
{
	size_t k;
	int ret = 0;
	bool hit = true;

	r->start_us = fill_now_us();
	pthread_mutex_lock(&e->lock);
	if (!r->low_priority)
		e->st.requests++;
	if (!r->low_priority && !r->own && e->tracing)
		trace_note(e, r);
	for (k = r->first; k < r->first + r->count; k++)
		if (r->blob->state[k] != FILL_CHUNK_PRESENT)
			hit = false;
	if (hit) {
		readahead_on_hit(e, r);
		if (!r->low_priority)
			e->st.hits++;
		account(e, r, 0, false);
		pthread_mutex_unlock(&e->lock);
		r->complete(r, 0);
		return;
	}
	for (k = r->first; k < r->first + r->count && !ret; k++)
		if (r->blob->state[k] == FILL_CHUNK_INFLIGHT && r->blob->late[k])
			ret = -ETIMEDOUT;	/* its fetch already missed a deadline */
	if (ret) {
		/* the kernel retries a failed read at once: answer it now */
	} else if (e->stopping) {
		ret = -ESHUTDOWN;
	} else if (claim_with_readahead(e, r)) {
		ret = -ENOMEM;
	} else {
		for (k = r->first; !r->low_priority && k < r->first + r->count; k++) {
			if (r->blob->state[k] != FILL_CHUNK_INFLIGHT)
				continue;
			r->blob->nwanted += !r->blob->wanted[k];
			r->blob->wanted[k] = 1;
			promote_queued(e, r->blob, k);
		}
		r->next = e->waiting;
		e->waiting = r;
	}
	if (ret)
		account(e, r, ret, true);
	pthread_mutex_unlock(&e->lock);
	if (ret)
		r->complete(r, ret);
}

void fill_engine_count_passthrough(struct fill_engine *e, uint64_t start_us)
{
	pthread_mutex_lock(&e->lock);
	e->st.requests++;
	e->st.hits++;
	record_latency(e, fill_now_us() - start_us, false);
	pthread_mutex_unlock(&e->lock);
}

/*
 * Under the lock: unlinks the waiting requests that are settled (all
 * present, a chunk failed, or expired at `now`) into *done, each with its
 * result.  Callers complete them unlocked.
 */
static void settle_waiting(struct fill_engine *e, uint64_t now,
			   struct fill_request **done)
{
	struct fill_request **pp = &e->waiting;

	while (*pp) {
		struct fill_request *r = *pp;
		int st = request_state(r);

		if (!st && r->deadline_us && now >= r->deadline_us) {
			size_t k;

			st = -ETIMEDOUT;
			for (k = r->first; k < r->first + r->count; k++)
				if (r->blob->state[k] == FILL_CHUNK_INFLIGHT)
					r->blob->late[k] = 1;
		}
		if (!st && e->stopping)
			st = -ESHUTDOWN;
		if (!st) {
			pp = &r->next;
			continue;
		}
		*pp = r->next;
		account(e, r, st < 0 ? st : 0, true);
		r->result = st < 0 ? st : 0;
		r->next = *done;
		*done = r;
	}
}

static void complete_all(struct fill_request *done)
{
	while (done) {
		struct fill_request *next = done->next;

		done->complete(done, done->result);
		done = next;
	}
}

/* ---- fetch workers ---------------------------------------------------- */

/*
 * Under the lock: chunk i of job j is settled, res its outcome
 * (LADING_CHUNK_OK: verified and written).
 */
static void finish_chunk(struct fill_engine *e, const struct fill_job *j,
			 size_t i, int res)
{
	struct fill_blob *b = j->blob;
	size_t k = j->first + i;
	const struct lading_toc_entry *t = &b->toc.entries[k];

	b->late[k] = 0;
	b->nwanted -= b->wanted[k];
	b->wanted[k] = 0;
	if (res != LADING_CHUNK_OK) {
		b->state[k] = FILL_CHUNK_FAILED;
		return;
	}
	b->state[k] = FILL_CHUNK_PRESENT;
	b->npresent++;
	e->st.chunks_fetched++;
	e->st.bytes_fetched += lading_le32_to_cpu(t->ulen);
	e->st.stored_bytes_fetched += lading_le32_to_cpu(t->clen);
}

/* Under the lock: job j is over; read: its range read went through. */
static void finish_job(struct fill_engine *e, const struct fill_job *j, bool read)
{
	struct fill_blob *b = j->blob;
	size_t i;

	for (i = 0; read && j->skip && i < j->count; i++)
		if (j->skip[i])	/* not this job's chunk, but the source sent it */
			e->st.stored_bytes_fetched +=
				lading_le32_to_cpu(b->toc.entries[j->first + i].clen);
	e->st.fetches++;
	if (--b->jobs_running == 0 && b->write_fd_closing) {
		close(b->write_fd);
		b->write_fd = b->next_write_fd;
		b->next_write_fd = -1;
		b->write_fd_closing = false;
	}
	if (b->npresent == b->toc.count && !b->complete_reported) {
		b->complete_reported = true;
		e->st.blobs_completed++;
		if (e->p.blob_complete)
			e->p.blob_complete(b, e->p.ud);
	}
}

/*
 * Under the lock: the next chunk of job j to decode (done: those done so
 * far, all of them before *from): one a kernel request waits for, else
 * the first in order.  False when none is left.
 */
static bool next_chunk(const struct fill_job *j, const uint8_t *done, size_t *from,
		       size_t *out)
{
	const struct fill_blob *b = j->blob;
	size_t i;

	while (*from < j->count && (done[*from] || (j->skip && j->skip[*from])))
		(*from)++;
	for (i = *from; b->nwanted && i < j->count; i++) {
		if (!done[i] && (!j->skip || !j->skip[i]) && b->wanted[j->first + i]) {
			*out = i;
			return true;
		}
	}
	*out = *from;
	return *from < j->count;
}

/* Under the lock: settles chunk i and the requests it completes, unlocked. */
static void settle_chunk(struct fill_engine *e, const struct fill_job *j,
			 size_t i, int res)
{
	struct fill_request *done = NULL;

	finish_chunk(e, j, i, res);
	settle_waiting(e, fill_now_us(), &done);
	pthread_mutex_unlock(&e->lock);
	complete_all(done);
	pthread_mutex_lock(&e->lock);
}

/*
 * Under the lock (dropped while reading, decoding, writing): runs job j
 * through the chunk path with one range read, then hands each chunk on as
 * soon as it is checked and written, the ones kernel requests wait for
 * first, so a request does not wait for the rest of the run.  False when
 * a chunk failed.
 */
static bool run_job(struct fill_engine *e, struct lading_chunk_fetcher *f,
		    const struct fill_job *j, int fd, uint8_t *done)
{
	struct fill_blob *b = j->blob;
	struct lading_error err = { 0 };
	struct lading_read_timing timing;
	bool ok = true, logged = false;
	size_t i, from = 0;
	int ret, res;

	pthread_mutex_unlock(&e->lock);
	ret = blob_locate(b, &err);
	if (!ret)
		ret = lading_chunk_run_fetch(f, b->src, &b->toc, j->first, j->count, &err);
	if (ret)
		lading_log_msg(e->p.log, LADING_LOG_ERROR, "blob %s: chunks %zu-%zu: %s",
			       b->id, j->first, j->first + j->count - 1,
			       err.msg[0] ? err.msg : strerror(-ret));
	lading_chunk_run_timing(f, &timing);
	pthread_mutex_lock(&e->lock);
	lading_link_note(&e->link, &timing);
	while (next_chunk(j, done, &from, &i)) {
		done[i] = 1;
		if (ret) {
			finish_chunk(e, j, i, LADING_CHUNK_NOT_WRITTEN);
			ok = false;
			continue;
		}
		pthread_mutex_unlock(&e->lock);
		res = lading_chunk_run_decode(f, i);
		if (res < 0)
			lading_log_msg(e->p.log, LADING_LOG_ERROR, "blob %s: chunk %zu %s: "
				       "not served", b->id, j->first + i,
				       res == -EBADMSG ? "does not match its digest" :
				       "cannot be decoded");
		if (res == LADING_CHUNK_OK && (ret = lading_chunk_run_write_one(f, fd, i))) {
			if (!logged)
				lading_log_msg(e->p.log, LADING_LOG_ERROR, "%s: write: %s",
					       b->name, strerror(-ret));
			logged = true;
			ret = 0;
			res = LADING_CHUNK_NOT_WRITTEN;
		}
		pthread_mutex_lock(&e->lock);
		if (res < 0)
			e->st.verify_failures++;
		ok = ok && res == LADING_CHUNK_OK;
		settle_chunk(e, j, i, res);
	}
	finish_job(e, j, !ret);
	return ok;
}

static void *fetch_worker(void *arg)
{
	struct fill_engine *e = arg;
	/* its own connections: workers read in parallel */
	struct lading_chunk_fetcher *f = lading_chunk_fetcher_new();

	pthread_mutex_lock(&e->lock);
	for (;;) {
		struct fill_request *done = NULL;
		struct fill_job *j = queue_pop(&e->high);
		uint8_t *chunks_done;
		size_t i;
		int fd;

		if (!j)
			j = queue_pop(&e->low);
		if (!j) {
			if (e->stopping)
				break;
			pthread_cond_wait(&e->work, &e->lock);
			continue;
		}
		/* a write fd being replaced: the new one (-1 if none yet) */
		fd = j->blob->write_fd_closing ? j->blob->next_write_fd : j->blob->write_fd;
		j->blob->jobs_running++;
		chunks_done = calloc(j->count, 1);
		if (!chunks_done || !f) {
			lading_log_msg(e->p.log, LADING_LOG_ERROR, "blob %s: chunks %zu-%zu: %s",
				       j->blob->id, j->first, j->first + j->count - 1,
				       strerror(ENOMEM));
			for (i = 0; i < j->count; i++)
				if (!j->skip || !j->skip[i])
					finish_chunk(e, j, i, LADING_CHUNK_NOT_WRITTEN);
			e->st.fetch_errors++;
			finish_job(e, j, false);
		} else if (!run_job(e, f, j, fd, chunks_done)) {
			e->st.fetch_errors++;
		}
		free(chunks_done);
		free(j->skip);
		free(j);
		settle_waiting(e, fill_now_us(), &done);
		pthread_mutex_unlock(&e->lock);
		complete_all(done);
		pthread_mutex_lock(&e->lock);
	}
	pthread_mutex_unlock(&e->lock);
	lading_chunk_fetcher_free(f);
	return NULL;
}

/* Fails expired requests every tick: nothing waits past its deadline. */
static void *reaper(void *arg)
{
	struct fill_engine *e = arg;

	pthread_mutex_lock(&e->lock);
	while (!e->stopping) {
		struct fill_request *done = NULL;
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += FILL_REAPER_TICK_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&e->reaper_wake, &e->lock, &ts);
		settle_waiting(e, fill_now_us(), &done);
		pthread_mutex_unlock(&e->lock);
		complete_all(done);
		pthread_mutex_lock(&e->lock);
	}
	pthread_mutex_unlock(&e->lock);
	return NULL;
}

/* ---- lifetime --------------------------------------------------------- */

int fill_engine_start(const struct fill_engine_params *p, struct fill_engine **out,
		      struct lading_error *err)
{
	struct fill_engine *e = calloc(1, sizeof(*e));
	unsigned i;
	int ret = 0;

	if (!e)
		return lading_error_set(err, ENOMEM, "out of memory");
	e->p = *p;
	if (!e->p.jobs)
		e->p.jobs = FILL_DEFAULT_JOBS;
	if (!e->p.merge_bytes)
		e->p.merge_bytes = FILL_DEFAULT_MERGE;
	pthread_mutex_init(&e->lock, NULL);
	pthread_cond_init(&e->work, NULL);
	pthread_cond_init(&e->reaper_wake, NULL);
	e->workers = calloc(e->p.jobs, sizeof(*e->workers));
	if (!e->workers)
		ret = lading_error_set(err, ENOMEM, "out of memory");
	for (i = 0; !ret && i < e->p.jobs; i++) {
		ret = -pthread_create(&e->workers[i], NULL, fetch_worker, e);
		if (ret)
			lading_error_set(err, -ret, "cannot start a fetch thread");
		else
			e->nworkers++;
	}
	if (!ret) {
		ret = -pthread_create(&e->reaper, NULL, reaper, e);
		e->reaper_running = !ret;
		if (ret)
			lading_error_set(err, -ret, "cannot start the reaper thread");
	}
	if (ret) {
		fill_engine_stop(e);
		return ret;
	}
	*out = e;
	return 0;
}

void fill_engine_stop(struct fill_engine *e)
{
	struct fill_request *done = NULL;
	struct fill_job *j;
	size_t i;

	if (!e)
		return;
	pthread_mutex_lock(&e->lock);
	e->stopping = true;
	/* queued jobs will not run: their chunks go back to absent */
	while ((j = queue_pop(&e->high)) || (j = queue_pop(&e->low))) {
		for (i = 0; i < j->count; i++)
			if (!j->skip || !j->skip[i])
				j->blob->state[j->first + i] = FILL_CHUNK_ABSENT;
		free(j->skip);
		free(j);
	}
	pthread_cond_broadcast(&e->work);
	pthread_cond_broadcast(&e->reaper_wake);
	pthread_mutex_unlock(&e->lock);
	for (i = 0; i < e->nworkers; i++)
		pthread_join(e->workers[i], NULL);
	if (e->reaper_running)
		pthread_join(e->reaper, NULL);
	pthread_mutex_lock(&e->lock);
	settle_waiting(e, fill_now_us(), &done);
	pthread_mutex_unlock(&e->lock);
	complete_all(done);
	for (i = 0; i < e->nblobs; i++)
		blob_free(e->blobs[i]);
	free(e->blobs);
	for (i = 0; i < e->nfiles; i++)
		fill_files_free(e->files[i]);
	free(e->files);
	free(e->trace);
	free(e->workers);
	pthread_cond_destroy(&e->work);
	pthread_cond_destroy(&e->reaper_wake);
	pthread_mutex_destroy(&e->lock);
	free(e);
}

void fill_engine_stats(struct fill_engine *e, struct lading_fill_stats *out)
{
	pthread_mutex_lock(&e->lock);
	*out = e->st;
	if (e->nlat) {
		out->latency_p50_us = lat_percentile(e->lat, e->nlat, 50);
		out->latency_p99_us = lat_percentile(e->lat, e->nlat, 99);
	}
	if (e->nlat_miss) {
		out->miss_latency_p50_us = lat_percentile(e->lat_miss, e->nlat_miss, 50);
		out->miss_latency_p99_us = lat_percentile(e->lat_miss, e->nlat_miss, 99);
	}
	pthread_mutex_unlock(&e->lock);
}
