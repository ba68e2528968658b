// SPDX-License-Identifier: MIT
/*
 * The filler's driver: picks the back end, prepares the cache, starts the
 * engine and the back end, mounts, prefetches, reports, and tears it all
 * down in the order that answers every request the kernel still holds.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>
#include <lading/format.h>
#include <lading/image.h>
#include "backends.h"

#define PREFETCH_CHUNKS 16	/* per low-priority request */
#define TRACE_RUN_CHUNKS 64	/* per request replaying a trace */

int lading_fill_pick_backend(enum lading_fill_backend *out,
			     const struct lading_log *log, struct lading_error *err)
{
	struct lading_error fan = { 0 }, cf = { 0 };

	if (!lading_fill_fanotify_supported(&fan)) {
		*out = LADING_FILL_FANOTIFY;
		lading_log_msg(log, LADING_LOG_INFO, "back end fanotify: this kernel "
			       "has pre-content events");
		return 0;
	}
	if (!lading_fill_cachefiles_supported(&cf)) {
		*out = LADING_FILL_CACHEFILES;
		lading_log_msg(log, LADING_LOG_INFO, "back end cachefiles: no fanotify "
			       "pre-content events (%s); %s is present (on-demand "
			       "mode is checked when binding)", fan.msg,
			       CACHEFILES_DEV);
		return 0;
	}
	return lading_error_set(err, ENOTSUP, "no back end: %s; %s", fan.msg, cf.msg);
}

struct filler {
	const struct lading_fill_params *p;
	struct lading_error *err;
	enum lading_fill_backend backend;
	struct fill_engine *engine;
	struct fan_backend *fan;
	struct cf_backend *cf;
	struct lading_blob_sources *sources;
	const char **srcs;		/* --source ones, then the repositories */
	size_t nsrcs;
	pthread_t prefetcher;
	bool prefetching;
	volatile sig_atomic_t cancel;	/* stops registry transfers at teardown */
	char *toc_dir;			/* <cache>/LADING_TOC_DIR */
	volatile bool prefetch_stop;
	struct lading_fill_stats *stats;
	struct lading_trace replay;	/* --prefetch-trace, or the published one */
	const char *replay_name;	/* its file, for messages */
	const char *published_trace;	/* mount: the image's, if fetched */
	bool want_trace;		/* mount without --prefetch-trace */
	uint64_t trace_queued;		/* atomic: stats.trace_chunks */
	bool recording, record_final;	/* --record; its duration is over */
};

/* ---- prefetch --------------------------------------------------------- */

/*
 * Prefetch keeps a window of low-priority requests in flight, one fewer
 * than there are fetch workers: one worker is always free for on-demand
 * reads, which also go first in the job queue.
 */
struct prefetch_window {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned inflight, max;
};

struct prefetch_request {
	struct fill_request r;
	struct prefetch_window *w;
	uint8_t *skip;			/* r.skip, owned */
};

static void prefetch_complete(struct fill_request *r, int err)
{
	struct prefetch_request *pr = (struct prefetch_request *)r;
	struct prefetch_window *w = pr->w;

	(void)err;	/* a failed chunk is left to on-demand reads */
	pthread_mutex_lock(&w->lock);
	w->inflight--;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	free(pr->skip);
	free(pr);
}

static void prefetch_wait_below(struct prefetch_window *w, unsigned n)
{
	pthread_mutex_lock(&w->lock);
	while (w->inflight > n)
		pthread_cond_wait(&w->cond, &w->lock);
	pthread_mutex_unlock(&w->lock);
}

/* Reads the listed files through the mount: their chunks come first. */
static void prefetch_paths(struct filler *f)
{
	FILE *list = fopen(f->p->prefetch_list, "re");
	char line[4096];
	uint8_t *buf = malloc(1 << 20);

	if (!list || !buf) {
		lading_log_msg(f->p->log, LADING_LOG_WARN, "%s: %s", f->p->prefetch_list,
			       strerror(list ? ENOMEM : errno));
		goto out;
	}
	while (!f->prefetch_stop && fgets(line, sizeof(line), list)) {
		char *path;
		int fd;

		line[strcspn(line, "\n")] = '\0';
		if (!line[0] || line[0] == '#')
			continue;
		path = lading_path_join(f->p->mountpoint, line[0] == '/' ? line + 1 : line);
		fd = path ? open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;
		if (fd < 0) {
			lading_log_msg(f->p->log, LADING_LOG_WARN, "prefetch %s: %s", line,
				       strerror(errno));
		} else {
			while (!f->prefetch_stop && read(fd, buf, 1 << 20) > 0)
				;
			close(fd);
		}
		free(path);
	}
out:
	if (list)
		fclose(list);
	free(buf);
}

static int ensure_write_fd(struct filler *f, struct fill_blob *b)
{
	if (fill_engine_has_write_fd(f->engine, b))
		return 0;
	if (f->fan)
		return fan_backend_prime(f->fan, b);
	return -EBADF;	/* cachefiles: not open in the kernel (yet) */
}

static struct fill_blob *blob_by_id(struct filler *f, const char *id)
{
	struct fill_blob *b;
	size_t i;

	for (i = 0; (b = fill_engine_blob(f->engine, i)); i++)
		if (!strcmp(b->id, id))
			return b;
	return NULL;
}

/* skip: see fill_request, taken over (freed on failure too); NULL: none */
static int prefetch_submit_some(struct filler *f, struct prefetch_window *w,
				struct fill_blob *b, size_t first, size_t count,
				uint8_t *skip)
{
	struct prefetch_request *pr = calloc(1, sizeof(*pr));

	if (!pr) {
		free(skip);
		return -ENOMEM;
	}
	pr->skip = skip;
	pr->r.skip = skip;
	pr->w = w;
	pr->r.blob = b;
	pr->r.first = first;
	pr->r.count = count;
	pr->r.low_priority = true;
	pr->r.complete = prefetch_complete;
	pthread_mutex_lock(&w->lock);
	w->inflight++;
	pthread_mutex_unlock(&w->lock);
	fill_engine_submit(f->engine, &pr->r);
	return 0;
}

static int prefetch_submit(struct filler *f, struct prefetch_window *w,
			   struct fill_blob *b, size_t first, size_t count)
{
	return prefetch_submit_some(f, w, b, first, count, NULL);
}

/* A traced chunk, and where the trace first names it. */
struct trace_item {
	struct fill_blob *b;
	uint32_t chunk;
	size_t pos;
};

/*
 * A request of the replay: chunks [first, end) of b, b's first need at
 * pos; the traced ones are items [item, item + nitems) of the plan.
 */
struct trace_run {
	struct fill_blob *b;
	size_t first, end, pos;
	size_t item, nitems;
};

static int item_cmp(const void *a, const void *b)
{
	const struct trace_item *x = a, *y = b;

	if (x->b != y->b)
		return (uintptr_t)x->b < (uintptr_t)y->b ? -1 : 1;
	if (x->chunk != y->chunk)
		return x->chunk < y->chunk ? -1 : 1;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static int run_cmp(const void *a, const void *b)
{
	const struct trace_run *x = a, *y = b;

	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/*
 * The traced chunks of each blob in chunk order, grouped into runs: a
 * range request costs milliseconds where a few hundred KiB more cost
 * little, so a run bridges small gaps (the chunks in between are read
 * along and dropped).  Runs in the order their
 * first chunk was needed.  *nruns runs into *out; 0 or -ENOMEM.
 */
static int plan_trace_runs(const struct trace_item *it, size_t n,
			   uint64_t max_stored, struct trace_run **out, size_t *nruns)
{
	struct trace_run *runs = calloc(n ? n : 1, sizeof(*runs)), *r = NULL;
	size_t i;

	if (!runs)
		return -ENOMEM;
	*nruns = 0;
	for (i = 0; i < n; i++) {
		if (r && r->b == it[i].b && it[i].chunk < r->end) {
			r->pos = it[i].pos < r->pos ? it[i].pos : r->pos;
			r->nitems++;
			continue;	/* the same chunk, traced twice */
		}
		if (r && r->b == it[i].b && it[i].chunk - r->first < TRACE_RUN_CHUNKS &&
		    lading_chunk_run_bridge(&r->b->toc, r->first, r->end, it[i].chunk,
					    LADING_CHUNK_BRIDGE_GAP, max_stored)) {
			r->end = it[i].chunk + 1;
			r->pos = it[i].pos < r->pos ? it[i].pos : r->pos;
			r->nitems++;
			continue;
		}
		r = &runs[(*nruns)++];
		r->b = it[i].b;
		r->first = it[i].chunk;
		r->end = it[i].chunk + 1;
		r->pos = it[i].pos;
		r->item = i;
		r->nitems = 1;
	}
	qsort(runs, *nruns, sizeof(*runs), run_cmp);
	*out = runs;
	return 0;
}

/*
 * One run's request: the chunks between its traced ones are read along
 * and dropped (not decoded, not written).  Without memory for that, the
 * traced chunks one by one.
 */
static void submit_run(struct filler *f, struct prefetch_window *w,
		       const struct trace_run *r, const struct trace_item *it)
{
	size_t n = r->end - r->first, i;
	uint8_t *skip = n > 1 ? malloc(n) : NULL;

	if (n > 1 && !skip) {
		for (i = r->item; i < r->item + r->nitems; i++)
			prefetch_submit(f, w, r->b, it[i].chunk, 1);
		return;
	}
	if (skip) {
		memset(skip, 1, n);
		for (i = r->item; i < r->item + r->nitems; i++)
			skip[it[i].chunk - r->first] = 0;
	}
	prefetch_submit_some(f, w, r->b, r->first, n, skip);
}

/*
 * Queues the traced chunks at once, in runs (plan_trace_runs): every
 * worker takes them, on-demand jobs still go first.
 */
static void prefetch_trace(struct filler *f, struct prefetch_window *w)
{
	const struct lading_trace *t = &f->replay;
	struct trace_item *it = calloc(t->n ? t->n : 1, sizeof(*it));
	struct trace_run *runs = NULL;
	struct fill_blob *b = NULL;
	size_t i, n = 0, nruns = 0, skipped = 0;

	for (i = 0; it && i < t->n && !f->prefetch_stop; i++) {
		const struct lading_trace_entry *e = &t->v[i];

		if (!b || strcmp(b->id, e->blob))
			b = blob_by_id(f, e->blob);
		if (!b || e->chunk >= b->toc.count || ensure_write_fd(f, b)) {
			skipped++;
			continue;
		}
		it[n].b = b;
		it[n].chunk = e->chunk;
		it[n].pos = i;
		n++;
	}
	qsort(it, n, sizeof(*it), item_cmp);
	if (!it || plan_trace_runs(it, n, fill_engine_merge_bytes(f->engine),
				   &runs, &nruns)) {
		lading_log_msg(f->p->log, LADING_LOG_WARN, "%s: not replayed: %s",
			       f->replay_name, strerror(ENOMEM));
		free(it);
		return;
	}
	for (i = 0; i < nruns && !f->prefetch_stop; i++)
		submit_run(f, w, &runs[i], it);
	__atomic_store_n(&f->trace_queued, (uint64_t)n, __ATOMIC_RELAXED);
	if (skipped)
		lading_log_msg(f->p->log, LADING_LOG_WARN, "%s: %zu chunks queued "
			       "in %zu requests, %zu not in this image (or not "
			       "writable yet)", f->replay_name, n, nruns, skipped);
	else
		lading_log_msg(f->p->log, LADING_LOG_INFO, "%s: %zu chunks queued "
			       "in %zu requests", f->replay_name, n, nruns);
	free(runs);
	free(it);
}

/* 0 when the walk reached the blob's end; -EAGAIN: no writer yet. */
static int prefetch_blob(struct filler *f, struct prefetch_window *w,
			 struct fill_blob *b)
{
	size_t k = 0;

	while (!f->prefetch_stop && fill_engine_next_missing(f->engine, b, k, &k)) {
		size_t n = b->toc.count - k < PREFETCH_CHUNKS ? b->toc.count - k :
			   PREFETCH_CHUNKS;

		if (ensure_write_fd(f, b))
			return -EAGAIN;
		/* a replayed trace first: this waits until it is done */
		prefetch_wait_below(w, w->max - 1);
		if (prefetch_submit(f, w, b, k, n))
			return -ENOMEM;
		k += n;
	}
	return 0;
}

static void *prefetch_main(void *arg)
{
	struct filler *f = arg;
	struct prefetch_window w = { .max = f->p->jobs > 1 ? f->p->jobs - 1 :
				     f->p->jobs ? 1 : 3 };
	struct fill_blob *b;
	size_t i;

	pthread_mutex_init(&w.lock, NULL);
	pthread_cond_init(&w.cond, NULL);
	if (f->replay.n)
		prefetch_trace(f, &w);
	if (f->p->prefetch_list && f->p->mountpoint)
		prefetch_paths(f);
	/*
	 * Blob order: slot order, image by image.  A cachefiles blob has no
	 * writer until a mount opens it (serve mounts come later): such
	 * blobs are tried again until they are opened or the filler stops.
	 */
	while (f->p->prefetch && !f->prefetch_stop) {
		bool again = false;

		for (i = 0; (b = fill_engine_blob(f->engine, i)) && !f->prefetch_stop; i++)
			if (prefetch_blob(f, &w, b) == -EAGAIN)
				again = true;
		if (!again)
			break;
		for (i = 0; i < 5 && !f->prefetch_stop; i++)
			usleep(100000);
	}
	prefetch_wait_below(&w, 0);
	pthread_mutex_destroy(&w.lock);
	pthread_cond_destroy(&w.cond);
	lading_log_msg(f->p->log, LADING_LOG_DEBUG, "prefetch done");
	return NULL;
}

/* ---- recording -------------------------------------------------------- */

/* Writes what was recorded so far (atomically); 0 or a negative errno. */
static int write_trace(struct filler *f, struct lading_error *err)
{
	struct lading_trace t;
	int ret = fill_engine_trace_get(f->engine, &t);

	if (ret)
		return lading_error_set(err, -ret, "%s: %s", f->p->record, strerror(-ret));
	ret = lading_trace_write(f->p->record, &t, err);
	lading_trace_free(&t);
	return ret;
}

/* On SIGUSR1, and once when the duration is over: failures only warn. */
static void write_trace_now(struct filler *f)
{
	struct lading_error err = { 0 };
	int ret;

	if (!f->recording)
		return;
	ret = write_trace(f, &err);
	if (ret)
		lading_log_msg(f->p->log, LADING_LOG_WARN, "%s",
			       lading_error_message(&err, ret));
}

/* Fails before mounting when the trace could not be written at the end. */
static int check_record_dir(const struct lading_fill_params *p, struct lading_error *err)
{
	struct lading_outfile of;
	char *dir = lading_path_dirname(p->record);
	int ret = dir ? lading_outfile_open(&of, dir) : -ENOMEM;

	free(dir);
	if (ret)
		return lading_error_set(err, -ret, "--record %s: %s", p->record,
					strerror(-ret));
	lading_outfile_abort(&of);
	return 0;
}

/* ---- stats and waiting ------------------------------------------------ */

static void collect_stats(struct filler *f, struct lading_fill_stats *st)
{
	fill_engine_stats(f->engine, st);
	st->trace_chunks = __atomic_load_n(&f->trace_queued, __ATOMIC_RELAXED);
	if (f->cf)
		cf_backend_stats(f->cf, st);
}

static void serve_until_stopped(struct filler *f)
{
	const struct lading_fill_params *p = f->p;

	if (p->ready_fn)
		p->ready_fn(p->ud);
	while (!*p->stop) {
		usleep(100000);
		if (p->report && *p->report) {
			struct lading_fill_stats st;

			*p->report = 0;
			write_trace_now(f);
			collect_stats(f, &st);
			if (p->report_fn)
				p->report_fn(&st, p->ud);
		}
		if (f->recording && !f->record_final && fill_engine_trace_done(f->engine)) {
			f->record_final = true;
			write_trace_now(f);
		}
	}
}

/* ---- setup and teardown ---------------------------------------------- */

static int start_engine(struct filler *f)
{
	const struct lading_fill_params *p = f->p;
	struct fill_engine_params ep = {
		.jobs = p->jobs, .timeout_ms = p->timeout_ms, .log = p->log,
		.readahead = p->readahead,
	};
	struct lading_registry_opts ro = p->registry;
	int ret;

	ro.cancel = &f->cancel;
	ret = lading_blob_sources_open(f->srcs, f->nsrcs, &ro, &f->sources, f->err);
	if (ret)
		return ret;
	if (f->backend == LADING_FILL_FANOTIFY) {
		ret = fan_backend_alloc(&f->fan, f->err);
		ep.blob_complete = fan_backend_blob_complete;
		ep.ud = f->fan;
	}
	if (!ret)
		ret = fill_engine_start(&ep, &f->engine, f->err);
	return ret;
}

static void start_prefetch(struct filler *f)
{
	if (!f->p->prefetch && !f->p->prefetch_list && !f->replay.n)
		return;
	if (pthread_create(&f->prefetcher, NULL, prefetch_main, f))
		lading_log_msg(f->p->log, LADING_LOG_WARN, "prefetch not started");
	else
		f->prefetching = true;
}

static int teardown(struct filler *f, struct lading_fill_stats *stats)
{
	int ret = 0;

	f->prefetch_stop = true;
	if (f->fan)
		fan_backend_stop(f->fan);
	if (f->cf)
		cf_backend_stop(f->cf);
	/* the prefetcher may wait on requests only the engine's stop ends;
	 * fetches stuck on a stalled source are cut short */
	f->cancel = 1;
	if (f->engine) {
		collect_stats(f, stats);
		/* the engine's blobs name the chunks: before it stops */
		if (f->recording)
			ret = write_trace(f, f->err);
		fill_engine_stop(f->engine);
	}
	if (f->prefetching)
		pthread_join(f->prefetcher, NULL);
	fan_backend_free(f->fan);
	cf_backend_free(f->cf);
	lading_blob_sources_close(f->sources);
	lading_trace_free(&f->replay);
	return ret;
}

static int mount_file_backed(struct filler *f, const struct lading_prepare_report *pr)
{
	size_t len = 1, i;
	char *data;
	int ret = 0;

	for (i = 0; i < pr->nblobs; i++)
		len += strlen(pr->blobs[i].path) + 8;
	data = calloc(1, len);
	if (!data)
		return lading_error_set(f->err, ENOMEM, "out of memory");
	for (i = 0; i < pr->nblobs; i++) {
		if (i)
			strcat(data, ",");
		strcat(data, "device=");
		strcat(data, pr->blobs[i].path);
	}
	if (mount(pr->bootstrap_path, f->p->mountpoint, "erofs", MS_RDONLY, data) < 0)
		ret = lading_error_set(f->err, errno, "mount %s on %s: %s",
				       pr->bootstrap_path, f->p->mountpoint,
				       strerror(errno));
	free(data);
	return ret;
}

static int mount_cachefiles(struct filler *f, const struct lading_fill_image *im)
{
	char data[600];

	snprintf(data, sizeof(data), "fsid=%s%s%s", im->fsid,
		 im->domain_id ? ",domain_id=" : "", im->domain_id ? im->domain_id : "");
	if (mount("none", f->p->mountpoint, "erofs", MS_RDONLY, data) < 0)
		return lading_error_set(f->err, errno, "mount -t erofs -o %s on %s: %s",
					data, f->p->mountpoint, strerror(errno));
	return 0;
}

static void unmount(struct filler *f)
{
	if (umount2(f->p->mountpoint, 0) < 0 &&
	    umount2(f->p->mountpoint, MNT_DETACH) < 0)
		lading_log_msg(f->p->log, LADING_LOG_WARN, "umount %s: %s",
			       f->p->mountpoint, strerror(errno));
}

static int prepare_one(struct filler *f, const struct lading_fill_image *im,
		       enum lading_cache_layout layout,
		       struct lading_prepare_report *pr)
{
	struct lading_prepare_params pp;

	lading_prepare_params_init(&pp);
	pp.bootstrap = im->bootstrap;
	pp.cache_dir = f->p->cache_dir;
	pp.layout = layout;
	pp.fsid = im->fsid;
	pp.domain_id = im->domain_id;
	pp.log = f->p->log;
	return lading_prepare(&pp, pr, f->err);
}

static int serve_cachefiles(struct filler *f, const struct lading_fill_image *images,
			    size_t nimages, struct lading_prepare_report *reports)
{
	struct fill_serve_opts o = { .sources = f->sources, .timeout_ms = f->p->timeout_ms,
				     .log = f->p->log, .toc_dir = f->toc_dir };
	struct cf_image_spec *specs = calloc(nimages ? nimages : 1, sizeof(*specs));
	size_t i;
	int ret = 0;

	if (!specs)
		return lading_error_set(f->err, ENOMEM, "out of memory");
	for (i = 0; i < nimages; i++) {
		specs[i].bootstrap_path = reports[i].bootstrap_path;
		specs[i].fsid = images[i].fsid;
		specs[i].domain_id = images[i].domain_id;
	}
	ret = cf_backend_start(f->engine, f->p->cache_dir, f->p->cachefiles_tag, specs,
			       nimages, &o, &f->cf, f->err);
	free(specs);
	return ret;
}

static int run(struct filler *f, const struct lading_fill_image *images,
	       size_t nimages, struct lading_fill_stats *stats)
{
	const struct lading_fill_params *p = f->p;
	struct lading_prepare_report *reports;
	struct fill_serve_opts o = { .timeout_ms = p->timeout_ms, .log = p->log,
				     .mountpoint = p->mountpoint,
				     .cache_dir = p->cache_dir };
	bool mounted = false, early;
	size_t i;
	int ret = 0, tret;

	if (p->record && (ret = check_record_dir(p, f->err)))
		return ret;
	if (p->prefetch_trace &&
	    (ret = lading_trace_load(p->prefetch_trace, &f->replay, f->err)))
		return ret;
	f->replay_name = p->prefetch_trace;
	if (!p->prefetch_trace && f->published_trace) {
		struct lading_error te = { 0 };

		/* checked against its digest, but only an optimisation */
		if (lading_trace_load(f->published_trace, &f->replay, &te))
			lading_log_msg(p->log, LADING_LOG_WARN, "the published trace "
				       "is not used: %s", te.msg);
		else
			f->replay_name = f->published_trace;
	}
	f->toc_dir = lading_path_join(p->cache_dir, LADING_TOC_DIR);
	if (!f->toc_dir) {
		lading_trace_free(&f->replay);
		return lading_error_set(f->err, ENOMEM, "out of memory");
	}
	o.toc_dir = f->toc_dir;

	reports = calloc(nimages ? nimages : 1, sizeof(*reports));
	if (!reports) {
		lading_trace_free(&f->replay);
		free(f->toc_dir);
		return lading_error_set(f->err, ENOMEM, "out of memory");
	}
	for (i = 0; !ret && i < nimages; i++)
		ret = prepare_one(f, &images[i], f->backend == LADING_FILL_FANOTIFY ?
				  LADING_LAYOUT_PLAIN : LADING_LAYOUT_CACHEFILES,
				  &reports[i]);
	if (!ret)
		ret = start_engine(f);
	o.sources = f->sources;
	if (!ret && f->backend == LADING_FILL_FANOTIFY)
		ret = fan_backend_start(f->fan, f->engine, &reports[0], &o, f->err);
	else if (!ret)
		ret = serve_cachefiles(f, images, nimages, reports);
	if (!ret && p->record) {
		fill_engine_trace_start(f->engine, p->record_ms);
		f->recording = true;
	}
	/*
	 * fanotify: the cache files are marked and writable before the
	 * mount, so the trace replay (and --prefetch) start now and overlap
	 * the mount; a read meanwhile waits for its chunk like any other.
	 * Reading listed paths needs the mount; cachefiles has no writer
	 * before the kernel opens a blob.
	 */
	early = !ret && f->backend == LADING_FILL_FANOTIFY && !p->prefetch_list;
	if (early)
		start_prefetch(f);
	if (!ret && p->mountpoint) {
		ret = f->backend == LADING_FILL_FANOTIFY ?
		      mount_file_backed(f, &reports[0]) : mount_cachefiles(f, &images[0]);
		mounted = !ret;
	}
	if (!ret) {
		lading_log_msg(p->log, LADING_LOG_INFO, "serving %zu image(s)%s%s with "
			       "the %s back end", nimages, p->mountpoint ? " on " : "",
			       p->mountpoint ? p->mountpoint : "",
			       lading_fill_backend_name(f->backend));
		if (!early)
			start_prefetch(f);
		serve_until_stopped(f);
	}
	if (mounted)
		unmount(f);
	tret = teardown(f, stats);
	if (!ret)
		ret = tret;
	for (i = 0; i < nimages; i++)
		lading_prepare_report_free(&reports[i]);
	free(reports);
	free(f->toc_dir);
	return ret;
}

/* A fsid for `mount --backend cachefiles` without one: from the bootstrap. */
static int default_fsid(const char *bootstrap, char *out, size_t outlen,
			struct lading_error *err)
{
	struct lading_digest d;
	char hex[LADING_DIGEST_HEX_LEN + 1];
	uint64_t bytes = 0;
	int fd = open(bootstrap, O_RDONLY | O_CLOEXEC), ret;

	if (fd < 0)
		return lading_error_set(err, errno, "%s: %s", bootstrap, strerror(errno));
	ret = lading_sha256_fd(fd, &d, &bytes);
	close(fd);
	if (ret)
		return lading_error_set(err, -ret, "%s: %s", bootstrap, strerror(-ret));
	lading_digest_hex(&d, hex);
	snprintf(out, outlen, "lading-%.16s", hex);
	return 0;
}

/*
 * A bootstrap of 512-byte blocks (gzip layers kept as they are): the
 * kernel's cachefiles back end needs PAGE_SIZE blocks, so fanotify only.
 * Reads the superblock's blkszbits; the bootstrap is verified later.
 */
static int refuse_small_blocks(const char *bootstrap, struct lading_error *err)
{
	uint8_t bits = 0;
	int fd = open(bootstrap, O_RDONLY | O_CLOEXEC);
	int ret = fd < 0 ? -errno :
		  lading_pread_full(fd, &bits, 1, EROFS_SUPER_OFFSET +
				    offsetof(struct erofs_super_block, blkszbits));

	if (fd >= 0)
		close(fd);
	if (ret)
		return lading_error_set(err, -ret, "%s: %s", bootstrap, strerror(-ret));
	if (bits == LADING_BLOCK_BITS)
		return 0;
	return lading_error_set(err, ENOTSUP, "%s: 512-byte blocks (gzip layers "
				"kept as they are): the kernel's cachefiles back "
				"end needs PAGE_SIZE blocks; use --backend fanotify",
				bootstrap);
}

static int pick(struct filler *f)
{
	struct lading_error why = { 0 };
	bool small = false;
	size_t i;
	int ret;

	/* before the kernel's support: the image alone rules cachefiles out */
	if (f->p->bootstrap && f->p->backend != LADING_FILL_FANOTIFY) {
		ret = refuse_small_blocks(f->p->bootstrap, &why);
		if (ret == -ENOTSUP && f->p->backend == LADING_FILL_AUTO)
			small = true;
		else if (ret)
			return lading_error_set(f->err, -ret, "%s", why.msg);
		lading_error_clear(&why);
	}
	for (i = 0; !f->p->bootstrap && i < f->p->nimages; i++) {
		ret = refuse_small_blocks(f->p->images[i].bootstrap, f->err);
		if (ret)
			return ret;
	}
	if (small) {
		if (lading_fill_fanotify_supported(&why))
			return lading_error_set(f->err, ENOTSUP, "%s: 512-byte blocks "
						"need the fanotify back end, unavailable: "
						"%s", f->p->bootstrap, why.msg);
		f->backend = LADING_FILL_FANOTIFY;
		return 0;
	}

	if (f->p->backend == LADING_FILL_FANOTIFY &&
	    lading_fill_fanotify_supported(&why))
		return lading_error_set(f->err, ENOTSUP, "fanotify back end "
					"unavailable: %s", why.msg);
	if (f->p->backend == LADING_FILL_CACHEFILES &&
	    lading_fill_cachefiles_supported(&why))
		return lading_error_set(f->err, ENOTSUP, "cachefiles back end "
					"unavailable: %s", why.msg);
	if (f->p->backend != LADING_FILL_AUTO) {
		f->backend = f->p->backend;
		return 0;
	}
	ret = lading_fill_pick_backend(&f->backend, f->p->log, &why);
	if (ret)
		return lading_error_set(f->err, -ret, "back end unavailable: %s",
					why.msg);
	return 0;
}

/*
 * Each image's REF resolved (bootstrap fetched into the cache), and the
 * blob sources: the given ones first (mirrors, blob directories), then
 * each image's repository once.
 */
static int resolve_images(struct filler *f, struct lading_fill_image *ims,
			  size_t n, struct lading_resolution *res)
{
	const struct lading_fill_params *p = f->p;
	size_t i, j;
	int ret = 0;

	f->srcs = calloc(p->nsources + n + 1, sizeof(*f->srcs));
	if (!f->srcs)
		return lading_error_set(f->err, ENOMEM, "out of memory");
	for (i = 0; i < p->nsources; i++)
		f->srcs[f->nsrcs++] = p->sources[i];
	for (i = 0; !ret && i < n; i++) {
		struct lading_resolve_params rp = {
			.ref = ims[i].bootstrap, .platform = p->platform,
			.cache_dir = p->cache_dir, .registry = &p->registry,
			.log = p->log, .trace = f->want_trace,
		};
		bool seen = false;

		ret = lading_resolve(&rp, &res[i], f->err);
		if (ret)
			break;
		ims[i].bootstrap = res[i].bootstrap_path;
		if (f->want_trace)
			f->published_trace = res[i].trace_path;
		for (j = 0; res[i].repository && j < f->nsrcs; j++)
			seen |= !strcmp(f->srcs[j], res[i].repository);
		if (res[i].repository && !seen)
			f->srcs[f->nsrcs++] = res[i].repository;
		if (p->resolved_fn)
			p->resolved_fn(&res[i], p->ud);
	}
	if (!ret && !f->nsrcs)
		ret = lading_error_set(f->err, EINVAL, "%s: no blob source: give "
				       "--source (a bootstrap path has no repository)",
				       ims[0].bootstrap);
	return ret;
}

static void free_resolutions(struct filler *f, struct lading_resolution *res,
			     size_t n)
{
	size_t i;

	for (i = 0; res && i < n; i++)
		lading_resolution_free(&res[i]);
	free(res);
	free(f->srcs);
}

static int mount_image(struct filler *f, struct lading_fill_image *resolved)
{
	const struct lading_fill_params *p = f->p;
	struct lading_fill_image im = *resolved;
	char fsid[64];
	int ret;

	if (f->backend == LADING_FILL_FANOTIFY && p->nimages)
		lading_log_msg(p->log, LADING_LOG_WARN, "--fsid/--domain-id are for "
			       "the cachefiles back end: ignored");
	if (f->backend == LADING_FILL_CACHEFILES) {
		if (p->nimages) {
			im.fsid = p->images[0].fsid;
			im.domain_id = p->images[0].domain_id;
		} else {
			ret = default_fsid(im.bootstrap, fsid, sizeof(fsid), f->err);
			if (ret)
				return ret;
			im.fsid = fsid;
		}
	}
	return run(f, &im, 1, f->stats);
}

int lading_fill_mount(const struct lading_fill_params *p,
		      struct lading_fill_stats *stats, struct lading_error *err)
{
	struct filler f = { .p = p, .err = err, .stats = stats,
			    .want_trace = !p->prefetch_trace };
	struct lading_fill_image im = { .bootstrap = p->bootstrap };
	struct lading_resolution res = { 0 };
	int ret;

	memset(stats, 0, sizeof(*stats));
	ret = pick(&f);
	if (ret)
		return ret;
	ret = resolve_images(&f, &im, 1, &res);
	if (ret) {
		free(f.srcs);
		lading_resolution_free(&res);
		return ret;
	}
	ret = mount_image(&f, &im);
	free(f.srcs);
	lading_resolution_free(&res);
	return ret;
}

int lading_fill_serve(const struct lading_fill_params *p,
		      struct lading_fill_stats *stats, struct lading_error *err)
{
	struct filler f = { .p = p, .err = err, .backend = LADING_FILL_CACHEFILES };
	struct lading_fill_params q = *p;
	struct lading_fill_image *ims;
	struct lading_resolution *res;
	int ret;

	memset(stats, 0, sizeof(*stats));
	if (p->backend == LADING_FILL_FANOTIFY)
		return lading_error_set(err, EINVAL, "serve is for the cachefiles back "
					"end; fanotify serves one mount: use mount");
	if (!p->nimages)
		return lading_error_set(err, EINVAL, "no image to serve");
	q.mountpoint = NULL;
	f.p = &q;
	ims = calloc(p->nimages, sizeof(*ims));
	res = calloc(p->nimages, sizeof(*res));
	if (!ims || !res) {
		free(ims);
		free(res);
		return lading_error_set(err, ENOMEM, "out of memory");
	}
	memcpy(ims, p->images, p->nimages * sizeof(*ims));
	ret = resolve_images(&f, ims, p->nimages, res);
	if (!ret)
		ret = run(&f, ims, p->nimages, stats);
	free_resolutions(&f, res, p->nimages);
	free(ims);
	return ret;
}

static const struct lading_enum_name backend_names[] = {
	{ LADING_FILL_AUTO, "auto" },
	{ LADING_FILL_FANOTIFY, "fanotify" },
	{ LADING_FILL_CACHEFILES, "cachefiles" },
	{ 0, NULL },
};

const char *lading_fill_backend_name(enum lading_fill_backend b)
{
	return lading_enum_name(backend_names, (int)b);
}

int lading_fill_backend_parse(const char *s, enum lading_fill_backend *b)
{
	int v, ret = lading_enum_parse(backend_names, s, &v);

	if (!ret)
		*b = (enum lading_fill_backend)v;
	return ret;
}
