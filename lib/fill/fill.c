// SPDX-License-Identifier: MIT
/*
 * fanotify back end of the filler.  Each blob's sparse cache file is
 * marked for FAN_PRE_ACCESS; an event names a byte range of one file.  The
 * range is widened to whole chunks, the chunks not yet present are read
 * from the source, decoded, checked against the ToC (whose digest the
 * bootstrap holds) and written through the event's own fd (which raises
 * no new event), and only then is the read allowed.  A chunk that fails
 * is never written and the read gets EIO.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <lading/cache.h>
#include <lading/fill.h>
#include <lading/format.h>
#include <lading/store.h>

/* Debian's 6.1 headers predate pre-content events (Linux 6.14). */
#ifndef FAN_CLASS_PRE_CONTENT
#define FAN_CLASS_PRE_CONTENT 0x08
#endif
#define LADING_FAN_PRE_ACCESS 0x00100000ull
#define LADING_FAN_EVENT_INFO_TYPE_RANGE 6
#define LADING_FAN_DENY_ERRNO(e) (FAN_DENY | ((uint32_t)((e) & 0xff) << 24))

struct fan_info_range {
	uint8_t info_type;
	uint8_t pad;
	uint16_t len;
	uint32_t pad2;
	uint64_t offset;
	uint64_t count;
} __attribute__((packed));
static_assert(sizeof(struct fan_info_range) == 24, "fanotify range info");

struct fill_blob {
	char id[LADING_DIGEST_HEX_LEN + 1];
	char *cache_path;
	ino_t ino;
	dev_t dev;
	struct lading_toc toc;
	bool *present;		/* per ToC entry */
	size_t npresent;
	bool marked;
	struct lading_blob_handle src;	/* where its artifact is */
};

struct filler {
	const struct lading_fill_params *p;
	struct lading_fill_stats *st;
	struct lading_error *err;
	struct lading_reader *reader;
	struct fill_blob *blobs;
	uint16_t nblobs;
	struct lading_blob_sources *sources;
	int fan;
	uint8_t *stored, *chunk;
	size_t stored_size, chunk_size;
	uint64_t *lat;			/* latencies in us */
	size_t nlat, lat_cap;
};

bool lading_fill_fanotify_supported(char *why, size_t whylen)
{
	char tmpl[] = "/tmp/lading-fan-XXXXXX";
	int fd = fanotify_init(FAN_CLASS_PRE_CONTENT | FAN_CLOEXEC,
			       O_RDWR | O_LARGEFILE), f;
	bool ok = false;

	if (fd < 0) {
		snprintf(why, whylen, "fanotify_init(FAN_CLASS_PRE_CONTENT): %s "
			 "(needs root and CONFIG_FANOTIFY_ACCESS_PERMISSIONS)",
			 strerror(errno));
		return false;
	}
	f = mkstemp(tmpl);
	if (f >= 0) {
		ok = fanotify_mark(fd, FAN_MARK_ADD, LADING_FAN_PRE_ACCESS, f, NULL) == 0;
		if (!ok)
			snprintf(why, whylen, "FAN_PRE_ACCESS marks: %s (Linux 6.14+)",
				 strerror(errno));
		close(f);
		unlink(tmpl);
	}
	close(fd);
	return ok;
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- sources ---------------------------------------------------------- */

/* Finds the blob in a source and reads its ToC, checked against the record. */
static int locate_blob(struct filler *f, uint16_t slot, struct fill_blob *b)
{
	const struct lading_blob_record *rec = lading_reader_blob_record(f->reader,
									  slot + 1);
	int ret;

	if (!rec)
		return lading_error_set(f->err, EUCLEAN, "%s: no blob table",
					f->p->bootstrap);
	ret = lading_blob_sources_find(f->sources, b->id, &b->src, f->err);
	if (!ret)
		ret = lading_blob_read_toc(&b->src, rec, &b->toc, f->err);
	return ret;
}

/* What the cache already holds (only whole, verified chunks are written). */
static int scan_present(struct fill_blob *b, int fd)
{
	size_t k;

	b->present = calloc(b->toc.count ? b->toc.count : 1, sizeof(*b->present));
	if (!b->present)
		return -ENOMEM;
	for (k = 0; k < b->toc.count; k++) {
		const struct lading_toc_entry *e = &b->toc.entries[k];
		off_t d = lseek(fd, (off_t)e->uoff, SEEK_DATA), h;

		if (d < 0 || (uint64_t)d != e->uoff)
			continue;
		h = lseek(fd, (off_t)e->uoff, SEEK_HOLE);
		if (h >= 0 && (uint64_t)h >= e->uoff + e->ulen) {
			b->present[k] = true;
			b->npresent++;
		}
	}
	return 0;
}

/* ---- serving ---------------------------------------------------------- */

static int fetch_chunk(struct filler *f, struct fill_blob *b, size_t k, int fd)
{
	const struct lading_toc_entry *e = &b->toc.entries[k];
	struct lading_error err = { 0 };
	int ret;

	ret = lading_grow_buffer(&f->stored, &f->stored_size, e->clen);
	if (!ret)
		ret = lading_grow_buffer(&f->chunk, &f->chunk_size, e->ulen);
	if (!ret)
		ret = lading_blob_read(&b->src, e->coff, e->clen, f->stored, &err);
	if (!ret)
		ret = lading_toc_decode(e, f->stored, f->chunk);
	if (ret == -EBADMSG) {
		f->st->verify_failures++;
		lading_log_msg(f->p->log, LADING_LOG_ERROR, "blob %s: chunk %zu does "
			       "not match its digest: not served", b->id, k);
		return -EIO;
	}
	if (ret) {
		lading_log_msg(f->p->log, LADING_LOG_ERROR, "blob %s: chunk %zu: %s",
			       b->id, k, err.msg[0] ? err.msg : strerror(-ret));
		return -EIO;
	}
	/* the event's fd writes without raising another event */
	ret = lading_pwrite_full(fd, f->chunk, e->ulen, e->uoff);
	if (ret) {
		lading_log_msg(f->p->log, LADING_LOG_ERROR, "%s: write: %s",
			       b->cache_path, strerror(-ret));
		return ret;
	}
	b->present[k] = true;
	b->npresent++;
	f->st->chunks_fetched++;
	f->st->bytes_fetched += e->ulen;
	return 0;
}

static struct fill_blob *blob_of(struct filler *f, int fd)
{
	struct stat st;
	uint16_t i;

	if (fstat(fd, &st) < 0)
		return NULL;
	for (i = 0; i < f->nblobs; i++)
		if (f->blobs[i].ino == st.st_ino && f->blobs[i].dev == st.st_dev)
			return &f->blobs[i];
	return NULL;
}

/* Makes [off, off + count) present; 0 or a negative errno for the reader. */
static int serve_range(struct filler *f, struct fill_blob *b, int fd,
		       uint64_t off, uint64_t count, bool *hit)
{
	size_t first, n, k;
	uint64_t end = b->toc.footer.uncompressed_size;
	int ret = 0;

	*hit = true;
	if (!count || off >= end)
		return 0;	/* past the data: the kernel reads zeros */
	if (count > end - off)
		count = end - off;
	if (lading_toc_map(&b->toc, off, count, &first, &n))
		return -EIO;
	for (k = first; k < first + n && !ret; k++) {
		if (b->present[k])
			continue;
		*hit = false;
		ret = fetch_chunk(f, b, k, fd);
	}
	return ret;
}

static void respond(struct filler *f, int fd, uint32_t answer)
{
	struct fanotify_response r = { .fd = fd, .response = answer };

	if (write(f->fan, &r, sizeof(r)) != sizeof(r))
		lading_log_msg(f->p->log, LADING_LOG_ERROR, "fanotify response: %s",
			       strerror(errno));
}

static void record_latency(struct filler *f, uint64_t us)
{
	if (f->nlat == f->lat_cap) {
		size_t cap = f->lat_cap ? f->lat_cap * 2 : 1024;
		uint64_t *n = realloc(f->lat, cap * sizeof(*n));

		if (!n)
			return;
		f->lat = n;
		f->lat_cap = cap;
	}
	f->lat[f->nlat++] = us;
}

static void handle_event(struct filler *f, const struct fanotify_event_metadata *m)
{
	const uint8_t *p = (const uint8_t *)m + m->metadata_len;
	const uint8_t *end = (const uint8_t *)m + m->event_len;
	struct fill_blob *b = m->fd >= 0 ? blob_of(f, m->fd) : NULL;
	uint64_t t0 = now_us();
	bool hit = true, have_range = false;	/* no range: allow */
	int ret = 0;

	f->st->requests++;
	while (p + sizeof(struct fan_info_range) <= end) {
		struct fan_info_range ri;

		memcpy(&ri, p, sizeof(ri));
		if (ri.len < 4 || p + ri.len > end)
			break;
		if (ri.info_type == LADING_FAN_EVENT_INFO_TYPE_RANGE && b) {
			have_range = true;
			ret = serve_range(f, b, m->fd, ri.offset, ri.count, &hit);
		}
		p += ri.len;
	}
	(void)have_range;	/* no range info: nothing to fill, allow */
	if (ret) {
		f->st->denied++;
		respond(f, m->fd, LADING_FAN_DENY_ERRNO(-ret == EIO ? EIO : -ret));
	} else {
		if (hit)
			f->st->hits++;
		respond(f, m->fd, FAN_ALLOW);
	}
	record_latency(f, now_us() - t0);
	/* a complete blob needs no events any more: reads cost nothing */
	if (b && b->marked && b->npresent == b->toc.count) {
		if (!fanotify_mark(f->fan, FAN_MARK_REMOVE, LADING_FAN_PRE_ACCESS,
				   AT_FDCWD, b->cache_path)) {
			b->marked = false;
			f->st->blobs_completed++;
		}
	}
	if (m->fd >= 0)
		close(m->fd);
}

static void *event_loop(void *arg)
{
	struct filler *f = arg;
	uint8_t buf[16384] __attribute__((aligned(8)));

	while (!*f->p->stop) {
		struct pollfd pfd = { .fd = f->fan, .events = POLLIN };
		const struct fanotify_event_metadata *m;
		ssize_t n;

		if (poll(&pfd, 1, 200) <= 0)
			continue;
		n = read(f->fan, buf, sizeof(buf));
		if (n <= 0)
			continue;
		m = (const struct fanotify_event_metadata *)buf;
		while (FAN_EVENT_OK(m, n)) {
			if (m->vers == FANOTIFY_METADATA_VERSION)
				handle_event(f, m);
			else if (m->fd >= 0)
				close(m->fd);
			m = FAN_EVENT_NEXT(m, n);
		}
	}
	return NULL;
}

/* ---- setup ------------------------------------------------------------ */

static int setup_blobs(struct filler *f, const struct lading_prepare_report *pr)
{
	uint16_t i;
	int ret;

	f->nblobs = pr->nblobs;
	f->blobs = calloc(f->nblobs ? f->nblobs : 1, sizeof(*f->blobs));
	if (!f->blobs)
		return lading_error_set(f->err, ENOMEM, "out of memory");
	for (i = 0; i < f->nblobs; i++) {
		struct fill_blob *b = &f->blobs[i];
		struct stat st;
		int fd;

		memcpy(b->id, pr->blobs[i].id, sizeof(b->id));
		b->cache_path = strdup(pr->blobs[i].path);
		b->src.fd = -1;
		if (!b->cache_path)
			return lading_error_set(f->err, ENOMEM, "out of memory");
		ret = locate_blob(f, i, b);
		if (ret)
			return ret;
		fd = open(b->cache_path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st) < 0)
			return lading_error_set(f->err, errno, "%s: %s", b->cache_path,
						strerror(errno));
		b->ino = st.st_ino;
		b->dev = st.st_dev;
		ret = scan_present(b, fd);
		close(fd);
		if (ret)
			return lading_error_set(f->err, ENOMEM, "out of memory");
		if (b->npresent == b->toc.count)
			continue;	/* complete already: no mark */
		if (fanotify_mark(f->fan, FAN_MARK_ADD, LADING_FAN_PRE_ACCESS, AT_FDCWD,
				  b->cache_path) < 0)
			return lading_error_set(f->err, errno, "%s: FAN_PRE_ACCESS mark: %s",
						b->cache_path, strerror(errno));
		b->marked = true;
	}
	return 0;
}

static int do_mount(struct filler *f, const struct lading_prepare_report *pr)
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

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void finish_stats(struct filler *f)
{
	if (!f->nlat)
		return;
	qsort(f->lat, f->nlat, sizeof(*f->lat), cmp_u64);
	f->st->latency_p50_us = f->lat[f->nlat / 2];
	f->st->latency_p99_us = f->lat[(f->nlat * 99) / 100];
}

int lading_fill_mount(const struct lading_fill_params *p,
		      struct lading_fill_stats *stats, struct lading_error *err)
{
	struct filler f = { .p = p, .st = stats, .err = err, .fan = -1 };
	struct lading_prepare_params pp;
	struct lading_prepare_report pr;
	pthread_t th;
	bool running = false, mounted = false;
	uint16_t i;
	int ret;

	memset(stats, 0, sizeof(*stats));
	lading_prepare_params_init(&pp);
	pp.bootstrap = p->bootstrap;
	pp.cache_dir = p->cache_dir;
	pp.log = p->log;
	ret = lading_prepare(&pp, &pr, err);
	if (ret)
		return ret;
	ret = lading_reader_open_file(&f.reader, pr.bootstrap_path, err);
	if (!ret)
		ret = lading_blob_sources_open(p->sources, p->nsources, &p->registry,
					       &f.sources, err);
	if (!ret) {
		f.fan = fanotify_init(FAN_CLASS_PRE_CONTENT | FAN_CLOEXEC,
				      O_RDWR | O_LARGEFILE);
		if (f.fan < 0)
			ret = lading_error_set(err, errno, "fanotify_init: %s",
					       strerror(errno));
	}
	if (!ret)
		ret = setup_blobs(&f, &pr);
	/* the event loop runs before the mount: the mount may already read */
	if (!ret) {
		ret = -pthread_create(&th, NULL, event_loop, &f);
		running = !ret;
		if (ret)
			lading_error_set(err, -ret, "cannot start the event thread");
	}
	if (!ret)
		ret = do_mount(&f, &pr);
	mounted = !ret;
	if (mounted) {
		lading_log_msg(p->log, LADING_LOG_INFO, "serving %s on %s (%u blobs)",
			       p->bootstrap, p->mountpoint, pr.nblobs);
		while (!*p->stop)
			usleep(100000);
		if (umount2(p->mountpoint, 0) < 0 &&
		    umount2(p->mountpoint, MNT_DETACH) < 0)
			lading_log_msg(p->log, LADING_LOG_WARN, "umount %s: %s",
				       p->mountpoint, strerror(errno));
	}
	if (running) {
		*p->stop = 1;
		pthread_join(th, NULL);
	}
	finish_stats(&f);
	if (f.fan >= 0)
		close(f.fan);
	for (i = 0; i < f.nblobs; i++) {
		lading_blob_handle_close(&f.blobs[i].src);
		lading_toc_free(&f.blobs[i].toc);
		free(f.blobs[i].present);
		free(f.blobs[i].cache_path);
	}
	free(f.blobs);
	lading_blob_sources_close(f.sources);
	lading_reader_close(f.reader);
	lading_prepare_report_free(&pr);
	free(f.stored);
	free(f.chunk);
	free(f.lat);
	return ret;
}
