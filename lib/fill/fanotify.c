// SPDX-License-Identifier: MIT
/*
 * fanotify back end.  Each incomplete blob's sparse cache file is marked
 * for FAN_PRE_ACCESS; an event names a byte range of one file.  The range
 * becomes a request for whole chunks; the engine fetches and verifies
 * them and writes through an event's own fd (which raises no new event),
 * and only then is the read allowed.  A chunk that fails is never written
 * and the read gets EIO; so does a read whose request times out.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <lading/format.h>
#include <lading/fill_events.h>
#include "backends.h"
#include "files.h"

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
	bool complete;
};

/* What the guardian child needs, set before the fork. */
struct fan_guardian_arg {
	const char *mountpoint;		/* detached when the filler dies */
	struct sockaddr_un addr;	/* where a successor asks for the group */
	socklen_t addrlen;
};

struct fan_backend {
	struct fill_engine *e;
	struct fill_lifeline guardian;	/* holds the group if we die */
	struct fan_guardian_arg garg;
	const char *cache_dir;
	int dir;			/* the cache directory */
	int handover;			/* to the previous guardian, or -1 */
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

int lading_fill_fanotify_supported(struct lading_error *why)
{
	char tmpl[] = "/tmp/lading-fan-XXXXXX";
	int fd = fanotify_init(FAN_CLASS_PRE_CONTENT | FAN_CLOEXEC,
			       O_RDWR | O_LARGEFILE), f, ret = 0;

	if (fd < 0)
		return lading_error_set(why, ENOTSUP, "fanotify_init("
					"FAN_CLASS_PRE_CONTENT): %s (needs root, "
					"Linux 6.14+ and "
					"CONFIG_FANOTIFY_ACCESS_PERMISSIONS)",
					strerror(errno));
	f = mkstemp(tmpl);
	if (f >= 0) {
		if (fanotify_mark(fd, FAN_MARK_ADD, LADING_FAN_PRE_ACCESS, f, NULL))
			ret = lading_error_set(why, ENOTSUP, "FAN_PRE_ACCESS marks: "
					       "%s (Linux 6.14+)", strerror(errno));
		close(f);
		unlink(tmpl);
	} else {
		ret = lading_error_set(why, ENOTSUP, "cannot make a probe file in "
				       "/tmp: %s", strerror(errno));
	}
	close(fd);
	return ret;
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

	if (f)
		f->complete = true;
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
		/* not about a blob's data: nothing to fill; a file marked by a
		 * filler we took the group over from reads what it holds */
		respond(fb, ev->fd, !f && ev->has_range && ev->count &&
			!lading_range_is_data(ev->fd, ev->off, ev->count) ?
			LADING_FAN_DENY_ERRNO(EIO) : FAN_ALLOW);
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
	fr->r.own = ev->pid == getpid();	/* priming, --prefetch-list */
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
			struct lading_error why;

			lading_error_clear(&why);
			if (lading_fanotify_event_parse(buf + at, (size_t)n - at, &ev,
							&used, &why)) {
				/* nothing after a bad header can be trusted */
				lading_log_msg(fb->log, LADING_LOG_ERROR, "fanotify: "
					       "malformed event: %s", why.msg);
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
 * Marks go with their group: were it closed while the image can still be
 * read, the kernel would let reads of holes through as zeros.  So a child
 * forked at start holds the group too.  When the filler dies (or stops
 * while readers are left on the detached mount) the guardian detaches the
 * mount (no new opens) and answers each event from what the cache holds:
 * allow when the range is written, EIO when not.  It keeps the group until
 * one of two things happens, neither guessed from time:
 *
 *  - no superblock uses the cache.  A mounted image holds its bootstrap
 *    and every device= file open (the kernel's filp_open at mount, fput
 *    when the superblock dies), and a write lease (F_SETLEASE F_WRLCK) is
 *    granted only on a file nothing else has open.  So leases granted on
 *    every file of the cache mean no reader -- open file, cwd, mapping --
 *    can reach a hole.  Asked after each second without events.  Close
 *    events would say when to ask, but FAN_CLOSE is sent before the file's
 *    open count drops: the lease would still decide, and could lose that
 *    race.
 *  - a new filler takes the group over.  It connects to an abstract unix
 *    socket named after the cache directory and gets the group (with its
 *    marks) by SCM_RIGHTS, marks its own blobs, starts its own guardian
 *    and sends 'k'; then this one exits.  Should the successor die before
 *    that, this one listens again.
 *
 * After fork() in a threaded process the child makes plain system calls
 * only: no malloc, no stdio, no locks.
 */
#define GUARDIAN_CHECK_MS 1000
#define GUARDIAN_FAN_FD FILL_LIFELINE_FD0
#define GUARDIAN_SOCK_FD (FILL_LIFELINE_FD0 + 1)
#define GUARDIAN_DIR_FD (FILL_LIFELINE_FD0 + 2)
#define GUARDIAN_KEPT 'k'

/* The guardian's socket: named by the cache directory's device and inode. */
static void guardian_address(const struct stat *dir, struct sockaddr_un *a,
			     socklen_t *len)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	/* abstract: no file to clean up after a crash */
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
			   (size_t)snprintf(a->sun_path + 1, sizeof(a->sun_path) - 1,
					    "lading-fill-fanotify-%llx-%llx",
					    (unsigned long long)dir->st_dev,
					    (unsigned long long)dir->st_ino));
}

/* Whether anything but the caller has this file open (see above). */
static bool file_in_use(int dir, const char *name)
{
	int fd = openat(dir, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK |
			O_NOCTTY);
	struct stat st;
	bool busy;

	if (fd < 0)
		return errno != ENOENT && errno != ELOOP;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return false;
	}
	/* EAGAIN: open elsewhere; any other error: cannot tell, so in use.
	 * An open racing with the lease breaks it with SIGIO: ignored by
	 * the guardian and by lading-fill. */
	busy = fcntl(fd, F_SETLEASE, F_WRLCK) < 0;
	if (!busy)
		fcntl(fd, F_SETLEASE, F_UNLCK);
	close(fd);
	return busy;
}

/* True while some file of the cache directory is open elsewhere. */
static bool cache_in_use(int dir)
{
	uint8_t buf[4096] __attribute__((aligned(8)));
	ssize_t n = 0, at;

	if (lseek(dir, 0, SEEK_SET) < 0)
		return true;
	while ((n = getdents64(dir, buf, sizeof(buf))) > 0) {
		for (at = 0; at < n;) {
			const struct dirent64 *d = (const void *)(buf + at);

			at += d->d_reclen;
			if (d->d_name[0] != '.' &&
			    (d->d_type == DT_REG || d->d_type == DT_UNKNOWN) &&
			    file_in_use(dir, d->d_name))
				return true;
		}
	}
	return n < 0;
}

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
						NULL))
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

/*
 * A successor connected: give it the group and wait until its own
 * guardian holds it.  True: handed over.  lsn->fd is -1 when this one
 * could not listen again.
 */
static bool guardian_hand_over(const struct fan_guardian_arg *g, struct pollfd *lsn)
{
	int conn = accept4(GUARDIAN_SOCK_FD, NULL, NULL, SOCK_CLOEXEC), s;
	char c = 0;

	if (conn < 0)
		return false;
	if (fill_send_fd(conn, GUARDIAN_FAN_FD)) {
		close(conn);
		return false;
	}
	close(GUARDIAN_SOCK_FD);	/* the name is the successor's now */
	while (read(conn, &c, 1) < 0 && errno == EINTR)
		;
	close(conn);
	if (c == GUARDIAN_KEPT)
		return true;
	/* it died before its guardian held the group: ours again */
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s >= 0 && (bind(s, (const struct sockaddr *)&g->addr, g->addrlen) < 0 ||
		       listen(s, 4) < 0 || dup2(s, GUARDIAN_SOCK_FD) < 0)) {
		close(s);
		s = -1;
	}
	if (s >= 0 && s != GUARDIAN_SOCK_FD)
		close(s);
	lsn->fd = s >= 0 ? GUARDIAN_SOCK_FD : -1;
	return false;
}

/* The filler is gone: no new opens, and what is open reads what is there. */
static void guardian_take_over(const void *arg, enum fill_orphan_cause cause)
{
	const struct fan_guardian_arg *g = arg;
	struct pollfd pfd[2] = { { .fd = GUARDIAN_FAN_FD, .events = POLLIN },
				 { .fd = GUARDIAN_SOCK_FD, .events = POLLIN } };
	struct sigaction ign = { .sa_handler = SIG_IGN };
	int n = 0;

	sigaction(SIGIO, &ign, NULL);	/* a broken test lease must not kill us */
	if (cause == FILL_ORPHAN_DIED && g->mountpoint)
		umount2(g->mountpoint, MNT_DETACH);
	for (;;) {
		if (n == 0 && !cache_in_use(GUARDIAN_DIR_FD))
			return;		/* no reader can reach the image */
		n = poll(pfd, 2, GUARDIAN_CHECK_MS);
		if (n > 0 && pfd[0].revents)
			guardian_answer(GUARDIAN_FAN_FD);
		if (n > 0 && pfd[1].revents && guardian_hand_over(g, &pfd[1]))
			return;
	}
}

static int guardian_socket(struct fan_backend *fb, struct lading_error *err)
{
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), i, b = -1, e;

	/* a guardian that just handed over may not have closed its socket */
	for (i = 0; s >= 0 && i < 100; i++) {
		b = bind(s, (struct sockaddr *)&fb->garg.addr, fb->garg.addrlen);
		if (!b || errno != EADDRINUSE)
			break;
		usleep(20000);
	}
	if (s >= 0 && b == 0 && listen(s, 4) == 0)
		return s;
	e = errno;
	if (s >= 0)
		close(s);
	return lading_error_set(err, e, "%s: guardian socket: %s", fb->cache_dir,
				strerror(e));
}

static int start_guardian(struct fan_backend *fb, struct lading_error *err)
{
	int keep[3], ret;

	keep[0] = fb->fan;
	keep[1] = guardian_socket(fb, err);
	keep[2] = fb->dir;
	if (keep[1] < 0)
		return keep[1];
	ret = fill_lifeline_start(keep, 3, guardian_take_over, &fb->garg,
				  &fb->guardian, err);
	close(keep[1]);		/* the name stays bound by the guardian's copy */
	return ret;
}

/* Says so when the guardian could never tell that its readers are gone. */
static void check_leases(struct fan_backend *fb, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK), e = 0;

	if (fd < 0)
		return;
	if (fcntl(fd, F_SETLEASE, F_WRLCK) < 0)
		e = errno;
	else
		fcntl(fd, F_SETLEASE, F_UNLCK);
	close(fd);
	if (e && e != EAGAIN)
		lading_log_msg(fb->log, LADING_LOG_WARN, "%s: no write lease (%s; "
			       "fs.leases-enable?): should this filler die, its "
			       "guardian holds the group until a new filler takes "
			       "it over", path, strerror(e));
}

/*
 * The group of the guardian a previous filler left on this cache, with
 * its marks, so its readers are served again; else a new group.
 */
static int get_group(struct fan_backend *fb, struct lading_error *err)
{
	struct timeval tv = { .tv_sec = 3 };
	int tries, s;

	/* a guardian that is just exiting closes without an answer: ask again */
	for (tries = 0; tries < 3; tries++) {
		s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (s < 0 || connect(s, (struct sockaddr *)&fb->garg.addr,
				     fb->garg.addrlen) < 0)
			break;		/* no guardian on this cache */
		setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		errno = 0;
		fb->fan = fill_recv_fd(s);
		if (fb->fan >= 0) {
			fb->handover = s;	/* 'k' once our guardian holds it */
			lading_log_msg(fb->log, LADING_LOG_INFO, "took the fanotify "
				       "group over from the guardian a previous "
				       "filler left");
			return 0;
		}
		close(s);
		s = -1;
		/* no answer in time: its filler is alive and serving */
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return lading_error_set(err, EBUSY, "%s: another lading-fill "
						"serves this cache", fb->cache_dir);
	}
	if (s >= 0)
		close(s);
	fb->fan = fanotify_init(FAN_CLASS_PRE_CONTENT | FAN_CLOEXEC,
				O_RDWR | O_LARGEFILE);
	if (fb->fan < 0)
		return lading_error_set(err, errno, "fanotify_init: %s", strerror(errno));
	return 0;
}

/* The old guardian may go: ours holds the group now. */
static void release_predecessor(struct fan_backend *fb)
{
	char k = GUARDIAN_KEPT;

	if (fb->handover < 0)
		return;
	if (write(fb->handover, &k, 1) != 1)
		lading_log_msg(fb->log, LADING_LOG_WARN, "cannot tell the previous "
			       "guardian to go: %s", strerror(errno));
	close(fb->handover);
	fb->handover = -1;
}

/*
 * A clean stop: the guardian goes too, unless readers are left on the
 * detached mount (or one a previous filler left): then it holds the group
 * and answers them from the cache until none is left.
 */
static void stop_guardian(struct fan_backend *fb)
{
	if (!fb->guardian.pid)
		return;
	if (fb->dir >= 0 && !cache_in_use(fb->dir)) {
		fill_lifeline_stop(&fb->guardian);
		return;
	}
	lading_log_msg(fb->log, LADING_LOG_INFO, "the image is still in use: the "
		       "guardian (pid %ld) answers its reads from the cache until "
		       "the last reader is gone", (long)fb->guardian.pid);
	fill_lifeline_release(&fb->guardian);
}

int fan_backend_alloc(struct fan_backend **out, struct lading_error *err)
{
	struct fan_backend *fb = calloc(1, sizeof(*fb));

	if (!fb)
		return lading_error_set(err, ENOMEM, "out of memory");
	fb->fan = -1;
	fb->dir = -1;
	fb->handover = -1;
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
	fill_engine_scan_present(e, f->b, fd);
	close(fd);
	return 0;
}

/* The files over the blobs, for readahead and traces. */
static void map_files(struct fan_backend *fb, struct lading_reader *reader)
{
	struct fill_blob **slots = calloc(fb->nblobs ? fb->nblobs : 1, sizeof(*slots));
	size_t i;

	if (!slots) {
		lading_log_msg(fb->log, LADING_LOG_WARN, "no file map: out of memory");
		return;
	}
	for (i = 0; i < fb->nblobs; i++)
		slots[i] = fb->blobs[i].b;
	fill_files_attach(fb->e, reader, slots, fb->nblobs, fb->log);
	free(slots);
}

/*
 * Marks the blobs still incomplete.  Nothing writes the cache but the
 * filler, so what the scan found present stays so.  A taken-over group
 * may mark a blob that is complete by now: that mark goes.
 */
static int mark_blobs(struct fan_backend *fb, struct lading_error *err)
{
	size_t i;

	for (i = 0; i < fb->nblobs; i++) {
		struct fan_blob *f = &fb->blobs[i];

		if (f->complete) {
			fanotify_mark(fb->fan, FAN_MARK_REMOVE, LADING_FAN_PRE_ACCESS,
				      AT_FDCWD, f->path);
			continue;
		}
		if (fanotify_mark(fb->fan, FAN_MARK_ADD, LADING_FAN_PRE_ACCESS,
				  AT_FDCWD, f->path) < 0)
			return lading_error_set(err, errno, "%s: FAN_PRE_ACCESS mark: %s",
						f->path, strerror(errno));
		f->marked = true;
	}
	return 0;
}

int fan_backend_start(struct fan_backend *fb, struct fill_engine *e,
		      const struct lading_prepare_report *pr,
		      const struct fill_serve_opts *o, struct lading_error *err)
{
	struct lading_reader *reader = NULL;
	struct stat st;
	uint16_t i;
	int ret;

	fb->e = e;
	fb->log = o->log;
	fb->timeout_ms = o->timeout_ms;
	fb->cache_dir = o->cache_dir;
	fb->garg.mountpoint = o->mountpoint;
	fb->dir = open(o->cache_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fb->dir < 0 || fstat(fb->dir, &st) < 0)
		return lading_error_set(err, errno, "%s: %s", o->cache_dir,
					strerror(errno));
	guardian_address(&st, &fb->garg.addr, &fb->garg.addrlen);
	fb->blobs = calloc(pr->nblobs ? pr->nblobs : 1, sizeof(*fb->blobs));
	if (!fb->blobs)
		return lading_error_set(err, ENOMEM, "out of memory");
	fb->nblobs = pr->nblobs;
	/* ToCs first (they may come from the source): a predecessor's
	 * guardian answers its readers meanwhile */
	ret = lading_reader_open_file(&reader, pr->bootstrap_path, err);
	for (i = 0; !ret && i < pr->nblobs; i++)
		ret = add_blob(fb, e, pr, i, reader, o, err);
	if (!ret)
		map_files(fb, reader);
	lading_reader_close(reader);
	if (!ret)
		check_leases(fb, pr->bootstrap_path);
	if (!ret)
		ret = get_group(fb, err);
	if (!ret)
		ret = mark_blobs(fb, err);
	if (!ret)
		ret = start_guardian(fb, err);
	if (!ret)
		release_predecessor(fb);
	/* the event loop runs before the mount: the mount may already read */
	if (!ret) {
		ret = -pthread_create(&fb->thread, NULL, event_loop, fb);
		fb->running = !ret;
		if (ret)
			lading_error_set(err, -ret, "cannot start the event thread");
	}
	return ret;
}

int fan_backend_prime(struct fan_backend *fb, struct fill_blob *b)
{
	struct fan_blob *f = b->backend;
	uint8_t byte;
	int fd, ret = 0;

	if (fill_engine_has_write_fd(fb->e, b))
		return 0;
	fd = open(f->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/*
	 * A read past the data raises its event (the hook runs before the
	 * read looks at the size) but asks for no chunk: the event's fd
	 * comes without a fetch to wait for.  A kernel that raised none
	 * there gets a read of the first byte, which waits for its chunk.
	 */
	if (pread(fd, &byte, 1, (off_t)lading_le64_to_cpu(b->toc.footer.uncompressed_size)) < 0)
		ret = -errno;
	if (!ret && !fill_engine_has_write_fd(fb->e, b) && pread(fd, &byte, 1, 0) < 0)
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
	/* a predecessor not told 'k' keeps its readers */
	if (fb->handover >= 0)
		close(fb->handover);
	/* closing the group lets any event still queued through: only once
	 * no reader is left, or with the guardian still holding it */
	if (fb->fan >= 0)
		close(fb->fan);
	if (fb->dir >= 0)
		close(fb->dir);
	for (i = 0; i < fb->nblobs; i++)
		free(fb->blobs[i].path);
	free(fb->blobs);
	free(fb);
}
