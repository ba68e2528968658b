// SPDX-License-Identifier: MIT
/*
 * fanotify back end.  Each incomplete blob's sparse cache file is marked
 * for FAN_PRE_ACCESS; an event names a byte range of one file.  The range
 * becomes a request for whole chunks; the engine fetches and verifies
 * them and writes through an event's own fd (which raises no new event),
 * and only then is the read allowed.  A chunk that fails is never written
 * and the read gets EIO; so does a read whose request times out.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include <lading/format.h>
#include "backends.h"

/* Debian's 6.1 headers predate pre-content events (Linux 6.14). */
#ifndef FAN_CLASS_PRE_CONTENT
#define FAN_CLASS_PRE_CONTENT 0x08
#endif
#define LADING_FAN_PRE_ACCESS 0x00100000ull
#define LADING_FAN_DENY_ERRNO(e) (FAN_DENY | ((uint32_t)((e) & 0xff) << 24))

struct fan_blob {
	struct fill_blob *b;
	char *path;
	dev_t dev;
	ino_t ino;
	bool marked;
};

struct fan_backend {
	struct fill_engine *e;
	struct fill_lifeline guardian;	/* holds the group if we die */
	char *guardian_file;		/* <cache>/.lading-fill.guardian */
	const struct lading_log *log;
	unsigned timeout_ms;
	int fan;
	struct fan_blob *blobs;
	size_t nblobs;
	pthread_t thread;
	bool running;
	volatile bool stop;
};

struct fan_request {
	struct fill_request r;
	struct fan_backend *fb;
	int fd;				/* the event's fd: answered, then closed */
};

bool lading_fill_fanotify_supported(char *why, size_t whylen)
{
	char tmpl[] = "/tmp/lading-fan-XXXXXX";
	int fd = fanotify_init(FAN_CLASS_PRE_CONTENT | FAN_CLOEXEC,
			       O_RDWR | O_LARGEFILE), f;
	bool ok = false;

	if (fd < 0) {
		snprintf(why, whylen, "fanotify_init(FAN_CLASS_PRE_CONTENT): %s "
			 "(needs root, Linux 6.14+ and "
			 "CONFIG_FANOTIFY_ACCESS_PERMISSIONS)", strerror(errno));
		return false;
	}
	f = mkstemp(tmpl);
	if (f >= 0) {
		ok = fanotify_mark(fd, FAN_MARK_ADD, LADING_FAN_PRE_ACCESS, f, NULL) == 0;
		if (!ok)
			snprintf(why, whylen, "FAN_PRE_ACCESS marks: %s (Linux 6.14+)",
				 strerror(errno));
		else
			snprintf(why, whylen, "fanotify pre-content events work");
		close(f);
		unlink(tmpl);
	} else {
		snprintf(why, whylen, "cannot make a probe file in /tmp: %s",
			 strerror(errno));
	}
	close(fd);
	return ok;
}

static void respond(struct fan_backend *fb, int fd, uint32_t answer)
{
	struct fanotify_response r = { .fd = fd, .response = answer };

	if (write(fb->fan, &r, sizeof(r)) != sizeof(r))
		lading_log_msg(fb->log, LADING_LOG_ERROR, "fanotify response: %s",
			       strerror(errno));
}

static void fan_request_complete(struct fill_request *r, int err)
{
	struct fan_request *fr = (struct fan_request *)r;

	respond(fr->fb, fr->fd, err ? LADING_FAN_DENY_ERRNO(EIO) : FAN_ALLOW);
	close(fr->fd);
	free(fr);
}

void fan_backend_blob_complete(struct fill_blob *b, void *ud)
{
	struct fan_backend *fb = ud;
	struct fan_blob *f = b->backend;

	/* a complete blob needs no events any more: reads cost nothing */
	if (f && f->marked && fb->fan >= 0 &&
	    !fanotify_mark(fb->fan, FAN_MARK_REMOVE, LADING_FAN_PRE_ACCESS,
			   AT_FDCWD, f->path))
		f->marked = false;
}

static struct fan_blob *blob_of(struct fan_backend *fb, int fd)
{
	struct stat st;
	size_t i;

	if (fstat(fd, &st) < 0)
		return NULL;
	for (i = 0; i < fb->nblobs; i++)
		if (fb->blobs[i].ino == st.st_ino && fb->blobs[i].dev == st.st_dev)
			return &fb->blobs[i];
	return NULL;
}

static void handle_event(struct fan_backend *fb, const struct lading_fanotify_event *ev)
{
	uint64_t t0 = fill_now_us();
	struct fan_blob *f = blob_of(fb, ev->fd);
	struct fan_request *fr;
	int wfd;

	if (!f || !ev->has_range || !(ev->mask & LADING_FAN_PRE_ACCESS)) {
		/* not about a blob's data: nothing to fill */
		respond(fb, ev->fd, FAN_ALLOW);
		close(ev->fd);
		fill_engine_count_passthrough(fb->e, t0);
		return;
	}
	if (!fill_engine_has_write_fd(fb->e, f->b)) {
		/* keep one event fd: its writes raise no events */
		wfd = fcntl(ev->fd, F_DUPFD_CLOEXEC, 0);
		if (wfd >= 0)
			fill_engine_set_write_fd(fb->e, f->b, wfd);
	}
	fr = calloc(1, sizeof(*fr));
	if (!fr) {
		respond(fb, ev->fd, LADING_FAN_DENY_ERRNO(ENOMEM));
		close(ev->fd);
		return;
	}
	fr->fb = fb;
	fr->fd = ev->fd;
	fr->r.blob = f->b;
	fr->r.complete = fan_request_complete;
	fr->r.deadline_us = fb->timeout_ms ? t0 + fb->timeout_ms * 1000ull : 0;
	fill_blob_map(f->b, ev->off, ev->count, &fr->r.first, &fr->r.count);
	fill_engine_submit(fb->e, &fr->r);
}

static void *event_loop(void *arg)
{
	struct fan_backend *fb = arg;
	uint8_t buf[16384] __attribute__((aligned(8)));

	while (!fb->stop) {
		struct pollfd pfd = { .fd = fb->fan, .events = POLLIN };
		size_t at = 0;
		ssize_t n;

		if (poll(&pfd, 1, 200) <= 0)
			continue;
		n = read(fb->fan, buf, sizeof(buf));
		while (n > 0 && at < (size_t)n) {
			struct lading_fanotify_event ev;
			size_t used;
			char why[128];

			if (lading_fanotify_event_parse(buf + at, (size_t)n - at, &ev,
							&used, why, sizeof(why))) {
				/* nothing after a bad header can be trusted */
				lading_log_msg(fb->log, LADING_LOG_ERROR, "fanotify: "
					       "malformed event: %s", why);
				break;
			}
			at += used;
			if (ev.fd >= 0)
				handle_event(fb, &ev);
		}
	}
	return NULL;
}

/* ---- the guardian ----------------------------------------------------- */

/*
 * If the filler died, its marks would go with its group and reads of
 * holes would return zeros.  A child forked at start holds the group
 * instead: when the filler is gone without saying goodbye, it detaches
 * the mount (no new opens) and answers each event from what the cache
 * already holds -- allow when the range is written, EIO when not -- until
 * no event came for a while.  After fork() in a threaded process the
 * child may only make plain system calls: no malloc, no stdio, no locks.
 */
#define GUARDIAN_IDLE_MS 60000
#define GUARDIAN_FAN_FD FILL_LIFELINE_FD0

static void guardian_answer(int fan)
{
	uint8_t buf[8192] __attribute__((aligned(8)));
	ssize_t n = read(fan, buf, sizeof(buf));
	size_t at = 0;

	while (n > 0 && at < (size_t)n) {
		struct lading_fanotify_event ev;
		struct fanotify_response r;
		size_t used;

		if (lading_fanotify_event_parse(buf + at, (size_t)n - at, &ev, &used,
						NULL, 0))
			break;
		at += used;
		if (ev.fd < 0)
			continue;
		r.fd = ev.fd;
		r.response = !ev.has_range || !ev.count ||
			     lading_range_is_data(ev.fd, ev.off, ev.count) ?
			     FAN_ALLOW : LADING_FAN_DENY_ERRNO(EIO);
		if (write(fan, &r, sizeof(r)) < 0) {
			/* nothing to do about it here */
		}
		close(ev.fd);
	}
}

/* The filler died: no new opens, and what is open reads what is there. */
static void guardian_take_over(const void *mountpoint)
{
	struct pollfd pfd = { .fd = GUARDIAN_FAN_FD, .events = POLLIN };

	if (mountpoint)
		umount2(mountpoint, MNT_DETACH);
	for (;;) {
		int n = poll(&pfd, 1, GUARDIAN_IDLE_MS);

		if (n == 0)
			return;
		if (n > 0)
			guardian_answer(GUARDIAN_FAN_FD);
	}
}

/* Stops a guardian a killed filler left on this cache: its marks must go. */
static void retire_old_guardian(struct fan_backend *fb)
{
	char buf[32], comm[64], path[64];
	int fd = open(fb->guardian_file, O_RDONLY | O_CLOEXEC), i;
	ssize_t n;
	long pid;

	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	pid = strtol(buf, NULL, 10);
	if (pid <= 1)
		return;
	snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	n = fd >= 0 ? read(fd, comm, sizeof(comm) - 1) : -1;
	if (fd >= 0)
		close(fd);
	comm[n > 0 ? n : 0] = '\0';
	if (strncmp(comm, "lading-fill", 11))
		return;		/* gone, or the pid was reused */
	lading_log_msg(fb->log, LADING_LOG_INFO, "stopping the guardian (pid %ld) "
		       "a previous filler left on this cache", pid);
	kill((pid_t)pid, SIGTERM);
	for (i = 0; i < 50 && !kill((pid_t)pid, 0); i++)
		usleep(20000);
}

static int start_guardian(struct fan_backend *fb, const char *mountpoint,
			  struct lading_error *err)
{
	char buf[32];
	int fd, ret;

	ret = fill_lifeline_start(&fb->fan, 1, guardian_take_over, mountpoint,
				  &fb->guardian, err);
	if (ret)
		return ret;
	fd = open(fb->guardian_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd >= 0) {
		int n = snprintf(buf, sizeof(buf), "%ld\n", (long)fb->guardian.pid);

		if (write(fd, buf, (size_t)n) != n)
			lading_log_msg(fb->log, LADING_LOG_WARN, "%s: cannot write",
				       fb->guardian_file);
		close(fd);
	}
	return 0;
}

static void stop_guardian(struct fan_backend *fb)
{
	if (!fb->guardian.pid)
		return;
	fill_lifeline_stop(&fb->guardian);
	unlink(fb->guardian_file);
}

int fan_backend_alloc(struct fan_backend **out, struct lading_error *err)
{
	struct fan_backend *fb = calloc(1, sizeof(*fb));

	if (!fb)
		return lading_error_set(err, ENOMEM, "out of memory");
	fb->fan = -1;
	*out = fb;
	return 0;
}

static int add_blob(struct fan_backend *fb, struct fill_engine *e,
		    const struct lading_prepare_report *pr, uint16_t i,
		    struct lading_reader *reader, const struct fill_serve_opts *o,
		    struct lading_error *err)
{
	struct fan_blob *f = &fb->blobs[i];
	struct stat st;
	int fd, ret;

	f->path = strdup(pr->blobs[i].path);
	if (!f->path)
		return lading_error_set(err, ENOMEM, "out of memory");
	ret = fill_engine_add_blob(e, o->sources, pr->blobs[i].id,
				   lading_reader_blob_record(reader, i + 1), f->path,
				   o->toc_dir, &f->b, err);
	if (ret)
		return ret;
	f->b->backend = f;
	fd = open(f->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		ret = lading_error_set(err, errno, "%s: %s", f->path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return ret;
	}
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	/* mark first: a blob found complete drops its mark right away */
	if (fanotify_mark(fb->fan, FAN_MARK_ADD, LADING_FAN_PRE_ACCESS, AT_FDCWD,
			  f->path) < 0) {
		ret = lading_error_set(err, errno, "%s: FAN_PRE_ACCESS mark: %s",
				       f->path, strerror(errno));
		close(fd);
		return ret;
	}
	f->marked = true;
	fill_engine_scan_present(e, f->b, fd);
	close(fd);
	return 0;
}

int fan_backend_start(struct fan_backend *fb, struct fill_engine *e,
		      const struct lading_prepare_report *pr,
		      const struct fill_serve_opts *o, struct lading_error *err)
{
	struct lading_reader *reader = NULL;
	uint16_t i;
	int ret;

	fb->e = e;
	fb->log = o->log;
	fb->timeout_ms = o->timeout_ms;
	fb->guardian_file = lading_path_join(o->cache_dir, ".lading-fill.guardian");
	if (!fb->guardian_file)
		return lading_error_set(err, ENOMEM, "out of memory");
	retire_old_guardian(fb);
	fb->fan = fanotify_init(FAN_CLASS_PRE_CONTENT | FAN_CLOEXEC,
				O_RDWR | O_LARGEFILE);
	if (fb->fan < 0)
		return lading_error_set(err, errno, "fanotify_init: %s", strerror(errno));
	fb->blobs = calloc(pr->nblobs ? pr->nblobs : 1, sizeof(*fb->blobs));
	if (!fb->blobs)
		return lading_error_set(err, ENOMEM, "out of memory");
	fb->nblobs = pr->nblobs;
	ret = lading_reader_open_file(&reader, pr->bootstrap_path, err);
	for (i = 0; !ret && i < pr->nblobs; i++)
		ret = add_blob(fb, e, pr, i, reader, o, err);
	lading_reader_close(reader);
	if (!ret)
		ret = start_guardian(fb, o->mountpoint, err);
	/* the event loop runs before the mount: the mount may already read */
	if (!ret) {
		ret = -pthread_create(&fb->thread, NULL, event_loop, fb);
		fb->running = !ret;
		if (ret)
			lading_error_set(err, -ret, "cannot start the event thread");
	}
	return ret;
}

int fan_backend_prime(struct fan_backend *fb, struct fill_blob *b, uint64_t off)
{
	struct fan_blob *f = b->backend;
	uint8_t byte;
	int fd, ret = 0;

	if (fill_engine_has_write_fd(fb->e, b))
		return 0;
	fd = open(f->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (pread(fd, &byte, 1, (off_t)off) < 0)
		ret = -errno;
	close(fd);
	if (!ret && !fill_engine_has_write_fd(fb->e, b))
		ret = -EBADF;
	return ret;
}

void fan_backend_stop(struct fan_backend *fb)
{
	if (!fb)
		return;
	fb->stop = true;
	if (fb->running)
		pthread_join(fb->thread, NULL);
	fb->running = false;
}

void fan_backend_free(struct fan_backend *fb)
{
	size_t i;

	if (!fb)
		return;
	fan_backend_stop(fb);
	stop_guardian(fb);
	free(fb->guardian_file);
	/* closing the group lets any event still queued through */
	if (fb->fan >= 0)
		close(fb->fan);
	for (i = 0; i < fb->nblobs; i++)
		free(fb->blobs[i].path);
	free(fb->blobs);
	free(fb);
}
