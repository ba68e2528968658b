// SPDX-License-Identifier: MIT
/*
 * cachefiles on-demand back end.  The kernel asks through /dev/cachefiles:
 * OPEN names an object by volume key ("erofs,<domain_id or fsid>") and
 * cookie key (the fsid for the bootstrap, a slot tag for a blob) and hands
 * us an anon fd for it; we answer "copen <id>,<size>" or a negative errno.
 * READ asks for a range of an object: the engine fills it through the
 * anon fd and the request is always completed with
 * CACHEFILES_IOC_READ_COMPLETE, also after a failure (the reader then
 * gets EIO).  CLOSE drops the object.  Anon fd writes are O_DIRECT into
 * the backing file: the engine writes whole 4 KiB blocks from aligned
 * buffers.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <lading/format.h>
#include <lading/cachefiles.h>
#include <lading/fill_events.h>
#include "backends.h"
#include "files.h"

/* <linux/cachefiles.h>: _IOW(0x98, 1, int) */
#define LADING_CACHEFILES_IOC_READ_COMPLETE _IOW(0x98, 1, int)

struct cf_image {
	char *volume_key;
	char *fsid;
	struct lading_reader *reader;	/* the verified bootstrap */
	const uint8_t *img;
	size_t img_len;
};

/* A blob as one volume sees it: the same blob in two domains is two. */
struct cf_blob {
	char *volume_key;
	struct fill_blob *b;
};

enum cf_object_kind { CF_BOOTSTRAP, CF_BLOB };

struct cf_object {
	uint32_t object_id;
	int fd;				/* the anon fd */
	enum cf_object_kind kind;
	struct cf_image *image;		/* CF_BOOTSTRAP */
	struct fill_blob *blob;		/* CF_BLOB */
	struct cf_object *next;
};

struct cf_backend {
	struct fill_engine *e;
	const struct lading_log *log;
	unsigned timeout_ms;
	int dev;
	struct cf_image *images;
	size_t nimages;
	struct cf_blob *blobs;
	size_t nblobs;
	pthread_mutex_t lock;		/* objects and counters */
	struct cf_object *objects;
	pthread_t thread;
	bool running;
	volatile bool stop;
	uint64_t opened, refused;
	uint8_t *bounce;		/* aligned, for bootstrap READs */
	size_t bounce_size;
	struct fill_lifeline keeper;	/* holds the device if we die */
	bool restored;			/* took a previous filler's binding over */
};

struct cf_request {
	struct fill_request r;
	struct cf_backend *cb;
	int fd;				/* a dup of the object's anon fd */
	uint32_t msg_id;
};

int lading_fill_cachefiles_supported(struct lading_error *why)
{
	int fd = open(CACHEFILES_DEV, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return lading_error_set(why, ENOTSUP, "%s: %s (needs root and "
					"CONFIG_CACHEFILES)", CACHEFILES_DEV,
					strerror(errno));
	close(fd);
	/* on-demand mode itself is only known at "bind ondemand" */
	return 0;
}

static int dev_command(struct cf_backend *cb, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int dev_command(struct cf_backend *cb, const char *fmt, ...)
{
	char cmd[PATH_MAX + 16];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(cmd))
		return -ENAMETOOLONG;
	/* one command per write() */
	if (write(cb->dev, cmd, (size_t)n) != n)
		return -errno;
	return 0;
}

/* ---- objects -------------------------------------------------------- */

static struct cf_object *object_find(struct cf_backend *cb, uint32_t id)
{
	struct cf_object *o;

	for (o = cb->objects; o; o = o->next)
		if (o->object_id == id)
			return o;
	return NULL;
}

static bool key_is(const uint8_t *key, size_t len, const char *s)
{
	return strlen(s) == len && !memcmp(key, s, len);
}

static void handle_open(struct cf_backend *cb, const struct lading_cachefiles_msg *m)
{
	struct cf_object *o = calloc(1, sizeof(*o));
	long long size = -ENOENT;
	size_t i;
	int ret, wfd;

	for (i = 0; o && i < cb->nimages && size < 0; i++) {
		struct cf_image *im = &cb->images[i];

		if (strcmp(im->volume_key, m->volume_key) ||
		    !key_is(m->cookie_key, m->cookie_key_len, im->fsid))
			continue;
		o->kind = CF_BOOTSTRAP;
		o->image = im;
		size = (long long)im->img_len;
	}
	for (i = 0; o && i < cb->nblobs && size < 0; i++) {
		struct cf_blob *bl = &cb->blobs[i];

		if (strcmp(bl->volume_key, m->volume_key) ||
		    !key_is(m->cookie_key, m->cookie_key_len, bl->b->id))
			continue;
		o->kind = CF_BLOB;
		o->blob = bl->b;
		size = (long long)lading_le64_to_cpu(bl->b->toc.footer.uncompressed_size);
	}
	if (!o)
		size = -ENOMEM;
	if (size < 0) {
		lading_log_msg(cb->log, LADING_LOG_WARN, "cachefiles: OPEN of unknown "
			       "object '%.*s' in volume '%s': refused",
			       (int)m->cookie_key_len, (const char *)m->cookie_key,
			       m->volume_key);
		ret = dev_command(cb, "copen %u,%lld", m->msg_id, size);
		close(m->fd);
		free(o);
		pthread_mutex_lock(&cb->lock);
		cb->refused++;
		pthread_mutex_unlock(&cb->lock);
		if (ret)
			lading_log_msg(cb->log, LADING_LOG_ERROR, "cachefiles: copen: %s",
				       strerror(-ret));
		return;
	}
	o->object_id = m->object_id;
	o->fd = m->fd;
	if (o->kind == CF_BLOB) {
		/* what the backing file holds (e.g. pre-seeded) is not fetched */
		fill_engine_scan_present(cb->e, o->blob, o->fd);
		wfd = fcntl(o->fd, F_DUPFD_CLOEXEC, 0);
		if (wfd >= 0)
			fill_engine_set_write_fd(cb->e, o->blob, wfd);
	}
	pthread_mutex_lock(&cb->lock);
	o->next = cb->objects;
	cb->objects = o;
	cb->opened++;
	pthread_mutex_unlock(&cb->lock);
	ret = dev_command(cb, "copen %u,%lld", m->msg_id, size);
	if (ret)
		lading_log_msg(cb->log, LADING_LOG_ERROR, "cachefiles: copen: %s",
			       strerror(-ret));
}

static void handle_close(struct cf_backend *cb, const struct lading_cachefiles_msg *m)
{
	struct cf_object **pp, *o = NULL;

	pthread_mutex_lock(&cb->lock);
	for (pp = &cb->objects; *pp; pp = &(*pp)->next) {
		if ((*pp)->object_id == m->object_id) {
			o = *pp;
			*pp = o->next;
			break;
		}
	}
	pthread_mutex_unlock(&cb->lock);
	if (!o)
		return;
	if (o->kind == CF_BLOB)
		fill_engine_set_write_fd(cb->e, o->blob, -1);
	close(o->fd);
	free(o);
}

static void complete_read(struct cf_backend *cb, int fd, uint32_t msg_id)
{
	if (ioctl(fd, LADING_CACHEFILES_IOC_READ_COMPLETE, (unsigned long)msg_id) < 0)
		lading_log_msg(cb->log, LADING_LOG_ERROR, "cachefiles: READ_COMPLETE "
			       "%u: %s", msg_id, strerror(errno));
}

static void cf_request_complete(struct fill_request *r, int err)
{
	struct cf_request *cr = (struct cf_request *)r;

	/* the kernel finds the data there, or a hole and fails the read */
	(void)err;
	complete_read(cr->cb, cr->fd, cr->msg_id);
	close(cr->fd);
	free(cr);
}

/* The bootstrap is local and verified: written straight from memory. */
static void read_bootstrap(struct cf_backend *cb, struct cf_object *o,
			   const struct lading_cachefiles_msg *m)
{
	uint64_t t0 = fill_now_us(), off, end;
	struct cf_image *im = o->image;
	int ret = 0;

	/* whole blocks of the image around the request (O_DIRECT); the
	 * write replaces them all, so they carry the image's bytes */
	off = m->off & ~(uint64_t)(LADING_BLOCK_SIZE - 1);
	end = m->off + m->len < im->img_len ? m->off + m->len : im->img_len;
	end = LADING_ALIGN_UP(end, (uint64_t)LADING_BLOCK_SIZE);
	if (end > im->img_len)
		end = im->img_len;
	if (off < end) {
		size_t len = (size_t)(end - off);
		size_t padded = LADING_ALIGN_UP(len, (size_t)LADING_BLOCK_SIZE);

		if (cb->bounce_size < padded) {
			void *n;

			if (posix_memalign(&n, LADING_BLOCK_SIZE, padded)) {
				ret = -ENOMEM;
				goto done;
			}
			free(cb->bounce);
			cb->bounce = n;
			cb->bounce_size = padded;
		}
		memcpy(cb->bounce, im->img + off, len);
		memset(cb->bounce + len, 0, padded - len);
		ret = lading_pwrite_full(o->fd, cb->bounce, padded, off);
	}
done:
	if (ret)
		lading_log_msg(cb->log, LADING_LOG_ERROR, "cachefiles: bootstrap %s: "
			       "write: %s", im->fsid, strerror(-ret));
	complete_read(cb, o->fd, m->msg_id);
	fill_engine_count_passthrough(cb->e, t0);
}

static void handle_read(struct cf_backend *cb, const struct lading_cachefiles_msg *m)
{
	struct cf_object *o;
	struct cf_request *cr;
	int fd = -1;

	pthread_mutex_lock(&cb->lock);
	o = object_find(cb, m->object_id);
	pthread_mutex_unlock(&cb->lock);
	if (!o) {
		lading_log_msg(cb->log, LADING_LOG_ERROR, "cachefiles: READ for "
			       "unknown object %u", m->object_id);
		return;
	}
	if (o->kind == CF_BOOTSTRAP) {
		read_bootstrap(cb, o, m);
		return;
	}
	cr = calloc(1, sizeof(*cr));
	if (cr)
		fd = fcntl(o->fd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0) {
		free(cr);
		complete_read(cb, o->fd, m->msg_id);
		return;
	}
	cr->cb = cb;
	cr->fd = fd;
	cr->msg_id = m->msg_id;
	cr->r.blob = o->blob;
	cr->r.complete = cf_request_complete;
	cr->r.deadline_us = cb->timeout_ms ? fill_now_us() + cb->timeout_ms * 1000ull : 0;
	fill_blob_map(o->blob, m->off, m->len, &cr->r.first, &cr->r.count);
	fill_engine_submit(cb->e, &cr->r);
}

/* A malformed message still gets an answer where one is owed. */
static void handle_malformed(struct cf_backend *cb, const struct lading_cachefiles_msg *m,
			     const char *why)
{
	struct cf_object *o;

	lading_log_msg(cb->log, LADING_LOG_ERROR, "cachefiles: malformed message "
		       "(opcode %u, id %u): %s", m->opcode, m->msg_id, why);
	if (m->opcode == LADING_CACHEFILES_OP_OPEN) {
		dev_command(cb, "copen %u,%d", m->msg_id, -EINVAL);
		if (m->fd >= 0)
			close(m->fd);
	} else if (m->opcode == LADING_CACHEFILES_OP_READ) {
		pthread_mutex_lock(&cb->lock);
		o = object_find(cb, m->object_id);
		pthread_mutex_unlock(&cb->lock);
		if (o)
			complete_read(cb, o->fd, m->msg_id);
	}
}

static void *device_loop(void *arg)
{
	struct cf_backend *cb = arg;
	uint8_t buf[LADING_CACHEFILES_MSG_MAX + 64] __attribute__((aligned(8)));

	while (!cb->stop) {
		struct pollfd pfd = { .fd = cb->dev, .events = POLLIN };
		struct lading_cachefiles_msg m;
		struct lading_error why;
		ssize_t n;

		if (poll(&pfd, 1, 200) <= 0)
			continue;
		n = read(cb->dev, buf, sizeof(buf));
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				lading_log_msg(cb->log, LADING_LOG_ERROR, "%s: read: %s",
					       CACHEFILES_DEV, strerror(errno));
			continue;
		}
		if (n == 0)
			continue;
		lading_error_clear(&why);
		if (lading_cachefiles_msg_parse(buf, (size_t)n, &m, &why)) {
			handle_malformed(cb, &m, why.msg);
			continue;
		}
		switch (m.opcode) {
		case LADING_CACHEFILES_OP_OPEN:
			handle_open(cb, &m);
			break;
		case LADING_CACHEFILES_OP_CLOSE:
			handle_close(cb, &m);
			break;
		case LADING_CACHEFILES_OP_READ:
			handle_read(cb, &m);
			break;
		}
	}
	return NULL;
}

/* ---- the keeper: a restarted filler takes the binding over ---------- */

/*
 * Closing /dev/cachefiles withdraws the cache: every mount of it fails.
 * So a child forked at start holds the device too.  If the filler dies
 * without saying goodbye, the keeper waits for a successor on a unix
 * socket named after the cache directory, hands it the device (SCM_RIGHTS)
 * and exits; the successor writes "restore" and the kernel sends the
 * requests in flight again (reopening objects whose anon fd died with the
 * filler).  With no successor within a minute the keeper exits, the cache
 * is withdrawn and waiting readers get EIO.  After fork() in a threaded
 * process the child makes plain system calls only.
 */
#define KEEPER_WAIT_MS 60000
#define KEEPER_DEV_FD FILL_LIFELINE_FD0
#define KEEPER_SOCK_FD (FILL_LIFELINE_FD0 + 1)

static int keeper_address(const char *dir, struct sockaddr_un *a, socklen_t *len,
			  struct lading_error *err)
{
	struct lading_digest d;
	char hex[LADING_DIGEST_HEX_LEN + 1];
	int ret = lading_sha256(dir, strlen(dir), &d);

	if (ret)
		return lading_error_set(err, -ret, "%s: keeper address: %s", dir,
					strerror(-ret));
	lading_digest_hex(&d, hex);
	hex[32] = '\0';	/* 128 bits name the cache well enough */
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	/* abstract: no file to clean up after a crash */
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
			   (size_t)snprintf(a->sun_path + 1, sizeof(a->sun_path) - 1,
					    "lading-fill-cachefiles-%s", hex));
	return 0;
}

/* The filler died: hand the device to the next one, if it comes. */
static void keeper_hand_over(const void *unused, enum fill_orphan_cause cause)
{
	struct pollfd lsn = { .fd = KEEPER_SOCK_FD, .events = POLLIN };
	int conn;

	(void)unused;
	(void)cause;
	for (;;) {
		if (poll(&lsn, 1, KEEPER_WAIT_MS) <= 0)
			return;		/* nobody came: the cache is withdrawn */
		conn = accept(KEEPER_SOCK_FD, NULL, NULL);
		if (conn < 0)
			return;
		/* a peer of another user gets nothing: wait on for ours */
		if (!fill_send_fd(conn, KEEPER_DEV_FD))
			return;
		close(conn);
	}
}

/*
 * A previous filler's device from its keeper in *dev, or -1 there (none:
 * bind anew); -EBUSY when a keeper is there but hands nothing over.
 */
static int take_over(const char *dir, int *dev, struct lading_error *err)
{
	struct sockaddr_un a;
	socklen_t alen;
	struct timeval tv = { .tv_sec = 3 };
	int s, ret;

	*dev = -1;
	ret = keeper_address(dir, &a, &alen, err);
	if (ret)
		return ret;
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return 0;
	if (connect(s, (struct sockaddr *)&a, alen) < 0) {
		close(s);
		return 0;	/* no keeper: nobody served this cache */
	}
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	*dev = fill_recv_fd(s);
	close(s);
	if (*dev < 0)
		return lading_error_set(err, EBUSY, "%s: another lading-fill serves "
					"this cache", dir);
	return 0;
}

static int start_keeper(struct cf_backend *cb, const char *dir,
			struct lading_error *err)
{
	struct sockaddr_un a;
	socklen_t alen;
	int keep[2], s, i, b, ret;

	ret = keeper_address(dir, &a, &alen, err);
	if (ret)
		return ret;
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	/* a keeper that just handed over may not have exited yet */
	for (i = 0, b = -1; s >= 0 && i < 100; i++) {
		b = bind(s, (struct sockaddr *)&a, alen);
		if (!b || errno != EADDRINUSE)
			break;
		usleep(20000);
	}
	if (s < 0 || b < 0 || listen(s, 4) < 0) {
		int e = errno;

		if (s >= 0)
			close(s);
		return lading_error_set(err, e, "%s: keeper socket: %s", dir,
					strerror(e));
	}
	keep[0] = cb->dev;
	keep[1] = s;
	ret = fill_lifeline_start(keep, 2, keeper_hand_over, NULL, &cb->keeper, err);
	close(s);	/* the name stays bound by the keeper's copy */
	return ret;
}

/* ---- setup ---------------------------------------------------------- */

static int add_image_blobs(struct cf_backend *cb, struct cf_image *im,
			   const struct fill_serve_opts *o, struct lading_error *err)
{
	uint16_t n = lading_reader_nslots(im->reader), i;
	size_t k;
	int ret;

	for (i = 0; i < n; i++) {
		const struct lading_rslot *s = lading_reader_slot(im->reader, i + 1);
		char id[LADING_DIGEST_HEX_LEN + 1], name[LADING_CACHEFILES_VOLUME_KEY_MAX + 80];
		struct cf_blob *nb;

		memcpy(id, s->tag, LADING_DIGEST_HEX_LEN);
		id[LADING_DIGEST_HEX_LEN] = '\0';
		for (k = 0; k < cb->nblobs; k++)
			if (!strcmp(cb->blobs[k].volume_key, im->volume_key) &&
			    !strcmp(cb->blobs[k].b->id, id))
				break;
		if (k < cb->nblobs)
			continue;	/* two images of one domain share it */
		nb = realloc(cb->blobs, (cb->nblobs + 1) * sizeof(*nb));
		if (!nb)
			return lading_error_set(err, ENOMEM, "out of memory");
		cb->blobs = nb;
		nb = &cb->blobs[cb->nblobs];
		nb->volume_key = strdup(im->volume_key);
		if (!nb->volume_key)
			return lading_error_set(err, ENOMEM, "out of memory");
		snprintf(name, sizeof(name), "%s/%s", im->volume_key, id);
		ret = fill_engine_add_blob(cb->e, o->sources, id,
					   lading_reader_blob_record(im->reader, i + 1),
					   name, o->toc_dir, &nb->b, err);
		if (ret == -ENOENT) {
			/* its OPEN will be refused: the mount fails, others go on */
			lading_log_msg(cb->log, LADING_LOG_WARN, "%s", err->msg);
			lading_error_clear(err);
			free(nb->volume_key);
			continue;
		}
		if (ret) {
			free(nb->volume_key);
			return ret;
		}
		cb->nblobs++;
	}
	return 0;
}

/* The files over the image's blobs (a blob two images share: the first's). */
static void map_files(struct cf_backend *cb, struct cf_image *im)
{
	uint16_t n = lading_reader_nslots(im->reader), i;
	struct fill_blob **slots = calloc(n ? n : 1, sizeof(*slots));
	size_t k;

	if (!slots) {
		lading_log_msg(cb->log, LADING_LOG_WARN, "no file map: out of memory");
		return;
	}
	for (i = 0; i < n; i++)
		for (k = 0; k < cb->nblobs; k++)
			if (!strcmp(cb->blobs[k].volume_key, im->volume_key) &&
			    !strncmp(cb->blobs[k].b->id, lading_reader_slot(im->reader, i + 1)->tag,
				     LADING_DIGEST_HEX_LEN))
				slots[i] = cb->blobs[k].b;
	fill_files_attach(cb->e, im->reader, slots, n, cb->log);
	free(slots);
}

static int load_images(struct cf_backend *cb, const struct cf_image_spec *images,
		       size_t nimages, const struct fill_serve_opts *o,
		       struct lading_error *err)
{
	char key[LADING_CACHEFILES_VOLUME_KEY_MAX + 8];
	size_t i;
	int ret = 0;

	cb->images = calloc(nimages ? nimages : 1, sizeof(*cb->images));
	if (!cb->images)
		return lading_error_set(err, ENOMEM, "out of memory");
	for (i = 0; !ret && i < nimages; i++) {
		struct cf_image *im = &cb->images[i];

		cb->nimages++;
		ret = lading_cachefiles_volume_key(images[i].fsid, images[i].domain_id,
						   key, sizeof(key));
		if (ret < 0)
			return lading_error_set(err, -ret, "fsid '%s': %s",
						images[i].fsid, strerror(-ret));
		im->volume_key = strdup(key);
		im->fsid = strdup(images[i].fsid);
		if (!im->volume_key || !im->fsid)
			return lading_error_set(err, ENOMEM, "out of memory");
		ret = lading_reader_open_file(&im->reader, images[i].bootstrap_path, err);
		if (!ret) {
			im->img = lading_reader_image(im->reader, &im->img_len);
			ret = add_image_blobs(cb, im, o, err);
		if (!ret)
			map_files(cb, im);
		}
	}
	return ret;
}

int cf_backend_start(struct fill_engine *e, const char *cache_dir,
		     const char *tag, const struct cf_image_spec *images,
		     size_t nimages, const struct fill_serve_opts *o,
		     struct cf_backend **out, struct lading_error *err)
{
	struct cf_backend *cb = calloc(1, sizeof(*cb));
	char *dir = NULL;
	int ret;

	if (!cb)
		return lading_error_set(err, ENOMEM, "out of memory");
	cb->e = e;
	cb->log = o->log;
	cb->timeout_ms = o->timeout_ms;
	cb->dev = -1;
	pthread_mutex_init(&cb->lock, NULL);
	*out = cb;
	ret = load_images(cb, images, nimages, o, err);
	if (ret)
		return ret;
	dir = realpath(cache_dir, NULL);
	if (!dir)
		return lading_error_set(err, errno, "%s: %s", cache_dir, strerror(errno));
	ret = take_over(dir, &cb->dev, err);
	if (ret) {
		free(dir);
		return ret;
	}
	if (cb->dev >= 0) {
		/* the kernel sends the requests in flight again */
		ret = dev_command(cb, "restore");
		if (!ret) {
			cb->restored = true;
			lading_log_msg(cb->log, LADING_LOG_INFO, "%s: took over the "
				       "binding of a previous filler (restore)", dir);
		} else {
			lading_log_msg(cb->log, LADING_LOG_WARN, "%s: restore: %s: "
				       "the previous binding is dropped", dir,
				       strerror(-ret));
			close(cb->dev);
			cb->dev = -1;
			ret = 0;
		}
	}
	if (!cb->restored) {
		cb->dev = open(CACHEFILES_DEV, O_RDWR | O_CLOEXEC);
		if (cb->dev < 0)
			ret = lading_error_set(err, errno, "%s: %s%s", CACHEFILES_DEV,
					       strerror(errno), errno == EBUSY ?
					       " (another cache daemon holds it)" : "");
	}
	if (!ret && !cb->restored && (ret = dev_command(cb, "dir %s", dir)))
		lading_error_set(err, -ret, "%s: dir %s: %s", CACHEFILES_DEV, dir,
				 strerror(-ret));
	if (!ret && !cb->restored && tag && (ret = dev_command(cb, "tag %s", tag)))
		lading_error_set(err, -ret, "%s: tag %s: %s", CACHEFILES_DEV, tag,
				 strerror(-ret));
	if (!ret && !cb->restored && (ret = dev_command(cb, "bind ondemand")))
		lading_error_set(err, -ret, "%s: bind ondemand: %s%s", CACHEFILES_DEV,
				 strerror(-ret), ret == -EOPNOTSUPP ?
				 " (kernel without CONFIG_CACHEFILES_ONDEMAND)" : "");
	if (!ret)
		ret = start_keeper(cb, dir, err);
	free(dir);
	if (!ret) {
		ret = -pthread_create(&cb->thread, NULL, device_loop, cb);
		cb->running = !ret;
		if (ret)
			lading_error_set(err, -ret, "cannot start the cachefiles thread");
	}
	return ret;
}

void cf_backend_stop(struct cf_backend *cb)
{
	if (!cb)
		return;
	cb->stop = true;
	if (cb->running)
		pthread_join(cb->thread, NULL);
	cb->running = false;
}

void cf_backend_stats(struct cf_backend *cb, struct lading_fill_stats *st)
{
	pthread_mutex_lock(&cb->lock);
	st->objects_opened = cb->opened;
	st->objects_refused = cb->refused;
	pthread_mutex_unlock(&cb->lock);
}

void cf_backend_free(struct cf_backend *cb)
{
	struct cf_object *o;
	size_t i;

	if (!cb)
		return;
	cf_backend_stop(cb);
	while ((o = cb->objects)) {
		cb->objects = o->next;
		close(o->fd);
		free(o);
	}
	/* closing the device withdraws the cache; pending reads get EIO */
	fill_lifeline_stop(&cb->keeper);
	if (cb->dev >= 0)
		close(cb->dev);
	for (i = 0; i < cb->nimages; i++) {
		lading_reader_close(cb->images[i].reader);
		free(cb->images[i].volume_key);
		free(cb->images[i].fsid);
	}
	for (i = 0; i < cb->nblobs; i++)
		free(cb->blobs[i].volume_key);
	free(cb->images);
	free(cb->blobs);
	free(cb->bounce);
	pthread_mutex_destroy(&cb->lock);
	free(cb);
}
