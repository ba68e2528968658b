// SPDX-License-Identifier: MIT
/*
 * Blob sources: where blob artifacts are found by id, a local directory, a
 * registry repository or an http(s) base URL, tried in order.  Each kind
 * is an ops table; what is not in the table (the order, handles, a
 * thread's connection) is common, so a new kind of source is one more
 * table.  Shared by seeding (prepare) and on-demand filling.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <lading/fetch.h>
#include <lading/zran.h>

struct blob_source;

struct blob_source_ops {
	/* 0 with the kind's part of h filled, -ENOENT when not here */
	int (*find)(struct blob_source *s, struct lading_blob_handle *h,
		    struct lading_error *err);
	void (*release)(struct lading_blob_handle *h);	/* optional */
	/* conn: from conn_open, or NULL (the source's own) */
	int (*read)(const struct lading_blob_handle *h, void *conn, uint64_t off,
		    size_t len, uint8_t *buf, struct lading_error *err);
	int (*read_toc)(const struct lading_blob_handle *h,
			const struct lading_blob_record *rec, struct lading_toc *toc,
			struct lading_error *err);
	/* the whole artifact, exactly size bytes, hashed in one pass */
	int (*sha256)(const struct lading_blob_handle *h, uint64_t size,
		      struct lading_digest *d, uint64_t *bytes,
		      struct lading_error *err);
	/* a connection for one thread; NULL op: reads need none */
	void *(*conn_open)(struct blob_source *s);
	void (*conn_close)(void *conn);
	/* the last read's wait for its first byte, µs; NULL op: not known */
	uint64_t (*first_byte_us)(const void *conn);
	void (*close)(struct blob_source *s);		/* optional */
};

struct blob_source {
	const struct blob_source_ops *ops;
	struct lading_blob_sources *list;	/* the list it is part of */
	const char *dir;			/* directories */
	struct lading_registry *reg;		/* registries and base URLs */
};

struct lading_blob_sources {
	struct blob_source *src;
	size_t n;
};

struct lading_blob_handle {
	struct blob_source *src;
	char id[LADING_DIGEST_HEX_LEN + 1];
	char digest[80];			/* "sha256:<id>" */
	int fd;					/* directories: the artifact */
	uint64_t size;				/* UINT64_MAX: not known */
};

struct lading_blob_reader {
	struct blob_source *src;		/* whose connection conn is */
	void *conn;
};

/* A ToC that failed its checks, or could not be read, named by its blob. */
static int toc_result(const struct lading_blob_handle *h, int ret,
		      const struct lading_error *terr, struct lading_error *err)
{
	if (!ret)
		return 0;
	return lading_error_set(err, -ret, "blob %s: %s", h->id,
				lading_error_message(terr, ret));
}

/* The ToC and the footer with one range read of the artifact's tail. */
static int toc_by_range(const struct lading_blob_handle *h,
			const struct lading_blob_record *rec, struct lading_toc *toc,
			struct lading_error *err)
{
	struct lading_error terr = { 0 };
	uint8_t *tail;
	size_t len;
	int ret;

	if (lading_le64_to_cpu(rec->toc_offset) > lading_le64_to_cpu(rec->artifact_size) ||
	    lading_le64_to_cpu(rec->artifact_size) - lading_le64_to_cpu(rec->toc_offset) > (256u << 20))
		return lading_error_set(err, EUCLEAN, "blob %s: ToC outside "
					"the blob", h->digest);
	len = (size_t)(lading_le64_to_cpu(rec->artifact_size) - lading_le64_to_cpu(rec->toc_offset));
	tail = malloc(len ? len : 1);
	if (!tail)
		return lading_error_set(err, ENOMEM, "out of memory");
	ret = h->src->ops->read(h, NULL, lading_le64_to_cpu(rec->toc_offset), len, tail, err);
	if (!ret)
		ret = toc_result(h, lading_toc_parse(tail, len, rec, toc, &terr),
				 &terr, err);
	free(tail);
	return ret;
}

/* ---- directories ------------------------------------------------------- */

static int dir_find(struct blob_source *s, struct lading_blob_handle *h,
		    struct lading_error *err)
{
	char *path = lading_path_join(s->dir, h->id);
	struct stat st;

	if (!path)
		return lading_error_set(err, ENOMEM, "out of memory");
	h->fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	if (h->fd < 0)
		return -ENOENT;
	if (!fstat(h->fd, &st) && S_ISREG(st.st_mode))
		h->size = (uint64_t)st.st_size;
	return 0;
}

static void dir_release(struct lading_blob_handle *h)
{
	if (h->fd >= 0)
		close(h->fd);
	h->fd = -1;
}

/* pread: threads share the file, no connection needed */
static int dir_read(const struct lading_blob_handle *h, void *conn, uint64_t off,
		    size_t len, uint8_t *buf, struct lading_error *err)
{
	int ret = lading_pread_full(h->fd, buf, len, off);

	(void)conn;
	return ret ? lading_error_set(err, -ret, "blob %s: read: %s", h->digest,
				      strerror(-ret)) : 0;
}

/* The file's size is checked too: the whole artifact is at hand. */
static int dir_read_toc(const struct lading_blob_handle *h,
			const struct lading_blob_record *rec, struct lading_toc *toc,
			struct lading_error *err)
{
	struct lading_error terr = { 0 };

	return toc_result(h, lading_toc_read(h->fd, rec, toc, &terr), &terr, err);
}

static int dir_sha256(const struct lading_blob_handle *h, uint64_t size,
		      struct lading_digest *d, uint64_t *bytes,
		      struct lading_error *err)
{
	struct stat st;
	int ret;

	if (fstat(h->fd, &st) < 0)
		return lading_error_set(err, errno, "blob %s: %s", h->digest,
					strerror(errno));
	if ((uint64_t)st.st_size != size)
		return lading_error_set(err, EFBIG, "blob %s: %llu bytes, not %llu",
					h->digest, (unsigned long long)st.st_size,
					(unsigned long long)size);
	ret = lading_sha256_fd(h->fd, d, bytes);
	return ret ? lading_error_set(err, -ret, "blob %s: read: %s", h->digest,
				      strerror(-ret)) : 0;
}

static const struct blob_source_ops dir_ops = {
	.find = dir_find,
	.release = dir_release,
	.read = dir_read,
	.read_toc = dir_read_toc,
	.sha256 = dir_sha256,
};

/* ---- registries and http base URLs ---------------------------------- */

static int registry_find(struct blob_source *s, struct lading_blob_handle *h,
			 struct lading_error *err)
{
	struct lading_error ignored = { 0 };

	(void)err;	/* an unreachable registry is one that lacks it */
	if (lading_registry_blob_size(s->reg, h->digest, &h->size, &ignored))
		return -ENOENT;
	return 0;
}

static int registry_read(const struct lading_blob_handle *h, void *conn,
			 uint64_t off, size_t len, uint8_t *buf,
			 struct lading_error *err)
{
	if (conn)
		return lading_registry_conn_get_range(conn, h->digest, off, len,
						      buf, err);
	return lading_registry_get_range(h->src->reg, h->digest, off, len, buf, err);
}

/*
 * One streamed GET (resumed with Range when cut off), bounded by size and
 * by the registry's deadline and minimum rate.
 */
static int registry_sha256(const struct lading_blob_handle *h, uint64_t size,
			   struct lading_digest *d, uint64_t *bytes,
			   struct lading_error *err)
{
	struct lading_sha256_ctx c = { 0 };
	lading_read_fn fn;
	void *ud;
	uint8_t *buf = malloc(1u << 20);
	ssize_t n = 0;
	int ret;

	if (!buf)
		return lading_error_set(err, ENOMEM, "out of memory");
	ret = lading_registry_blob_stream(h->src->reg, h->digest, size, &fn, &ud, err);
	if (!ret)
		ret = lading_sha256_init(&c);
	while (!ret && (n = fn(ud, buf, 1u << 20)) > 0) {
		*bytes += (uint64_t)n;
		ret = lading_sha256_update(&c, buf, (size_t)n);
	}
	if (!ret && n < 0) {
		const char *why = lading_registry_blob_stream_error(ud);

		ret = lading_error_set(err, (int)-n, "blob %s: %s", h->digest,
				       why ? why : strerror((int)-n));
	}
	if (!ret)
		ret = lading_sha256_final(&c, d);
	lading_sha256_free(&c);
	lading_registry_blob_stream_close(ud);
	free(buf);
	return ret;
}

static void *registry_conn_open(struct blob_source *s)
{
	return lading_registry_conn_open(s->reg);
}

static void registry_conn_close(void *conn)
{
	lading_registry_conn_close(conn);
}

static uint64_t registry_first_byte_us(const void *conn)
{
	return lading_registry_conn_first_byte_us(conn);
}

static void registry_close(struct blob_source *s)
{
	lading_registry_close(s->reg);
}

static const struct blob_source_ops registry_ops = {
	.find = registry_find,
	.read = registry_read,
	.read_toc = toc_by_range,
	.sha256 = registry_sha256,
	.conn_open = registry_conn_open,
	.conn_close = registry_conn_close,
	.first_byte_us = registry_first_byte_us,
	.close = registry_close,
};

/* ---- the list ---------------------------------------------------------- */

static int source_open(struct blob_source *s, const char *spec,
		       const struct lading_registry_opts *opts,
		       struct lading_error *err)
{
	char *host, *repo, *ref;
	int ret;

	if (!strncmp(spec, "http://", 7) || !strncmp(spec, "https://", 8)) {
		s->ops = &registry_ops;
		return lading_registry_open_base_url(spec, opts, &s->reg, err);
	}
	if (strncmp(spec, "docker://", 9)) {
		s->ops = &dir_ops;
		s->dir = spec;
		return 0;
	}
	s->ops = &registry_ops;
	ret = lading_docker_ref_parse(spec, &host, &repo, &ref, err);
	if (!ret)
		ret = lading_registry_open(host, repo, opts, &s->reg, err);
	free(host);
	free(repo);
	free(ref);
	return ret;
}

int lading_blob_sources_open(const char *const *specs, size_t n,
			     const struct lading_registry_opts *opts,
			     struct lading_blob_sources **out,
			     struct lading_error *err)
{
	struct lading_blob_sources *s = calloc(1, sizeof(*s));
	int ret = 0;

	if (s)
		s->src = calloc(n ? n : 1, sizeof(*s->src));
	if (!s || !s->src) {
		free(s);
		return lading_error_set(err, ENOMEM, "out of memory");
	}
	/* n counts the opened ones: close closes just those */
	while (!ret && s->n < n) {
		s->src[s->n].list = s;
		ret = source_open(&s->src[s->n], specs[s->n], opts, err);
		if (!ret)
			s->n++;
	}
	if (ret) {
		lading_blob_sources_close(s);
		return ret;
	}
	*out = s;
	return 0;
}

void lading_blob_sources_close(struct lading_blob_sources *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < s->n; i++)
		if (s->src[i].ops->close)
			s->src[i].ops->close(&s->src[i]);
	free(s->src);
	free(s);
}

int lading_blob_sources_find(struct lading_blob_sources *s, const char *id,
			     struct lading_blob_handle **out,
			     struct lading_error *err)
{
	struct lading_blob_handle *h = calloc(1, sizeof(*h));
	size_t i;
	int ret = -ENOENT;

	if (!h)
		return lading_error_set(err, ENOMEM, "out of memory");
	h->fd = -1;
	h->size = UINT64_MAX;
	snprintf(h->id, sizeof(h->id), "%s", id);
	snprintf(h->digest, sizeof(h->digest), "sha256:%s", h->id);
	for (i = 0; ret == -ENOENT && i < s->n; i++) {
		ret = s->src[i].ops->find(&s->src[i], h, err);
		if (!ret)
			h->src = &s->src[i];
	}
	if (ret) {
		free(h);
		if (ret == -ENOENT)
			lading_error_set(err, ENOENT, "blob %s: not found in the "
					 "sources", id);
		return ret;
	}
	*out = h;
	return 0;
}

void lading_blob_handle_close(struct lading_blob_handle *h)
{
	if (!h)
		return;
	if (h->src->ops->release)
		h->src->ops->release(h);
	free(h);
}

/* No seek index is larger than this (1.6 % of a 64 GiB layer). */
#define SEEK_INDEX_MAX (1ull << 30)

/*
 * A gzip layer kept as it is: its "ToC" is its seek index, a blob of its
 * own (in the layer's source, or else in the first that has it), read
 * whole and checked against the record's digest before it is parsed.
 */
static int read_seek_index(const struct lading_blob_handle *h,
			   const struct lading_blob_record *rec,
			   struct lading_toc *toc, struct lading_error *err)
{
	struct lading_blob_handle ih = { .src = h->src, .fd = -1 };
	struct lading_blob_sources *all = h->src->list;
	struct lading_error terr = { 0 };
	size_t i;
	struct lading_zran_index *ix = NULL;
	uint64_t size = lading_le64_to_cpu(rec->toc_size);
	struct lading_digest d;
	uint8_t *buf = NULL;
	int ret;

	lading_hex_encode(ih.id, rec->toc_digest, sizeof(rec->toc_digest));
	snprintf(ih.digest, sizeof(ih.digest), "sha256:%s", ih.id);
	if (!size || size > SEEK_INDEX_MAX)
		return lading_error_set(err, EUCLEAN, "blob %s: seek index of %llu "
					"bytes", h->id, (unsigned long long)size);
	ret = h->src->ops->find(h->src, &ih, &terr);
	for (i = 0; ret == -ENOENT && i < all->n; i++) {
		ih.src = &all->src[i];
		if (ih.src != h->src)
			ret = ih.src->ops->find(ih.src, &ih, &terr);
	}
	if (ret)
		return lading_error_set(err, -ret, "blob %s: seek index %s: %s",
					h->id, ih.id, lading_error_message(&terr, ret));
	buf = malloc((size_t)size);
	ret = buf ? ih.src->ops->read(&ih, NULL, 0, (size_t)size, buf, &terr) : -ENOMEM;
	if (ih.src->ops->release)
		ih.src->ops->release(&ih);
	if (!ret)
		ret = lading_sha256(buf, (size_t)size, &d);
	if (!ret && memcmp(d.bytes, rec->toc_digest, sizeof(d.bytes)))
		ret = lading_error_set(&terr, EUCLEAN, "digest differs from the "
				       "bootstrap's");
	if (!ret)
		ret = lading_zran_decode(buf, (size_t)size, &ix, &terr);
	free(buf);
	if (!ret)
		ret = lading_toc_from_zran(ix, rec, toc, &terr);
	if (ret)
		return lading_error_set(err, -ret, "blob %s: seek index %s: %s",
					h->id, ih.id, lading_error_message(&terr, ret));
	return 0;
}

uint64_t lading_blob_handle_size(const struct lading_blob_handle *h)
{
	return h->size;
}

int lading_blob_read_toc(const struct lading_blob_handle *h,
			 const struct lading_blob_record *rec, struct lading_toc *toc,
			 struct lading_error *err)
{
	if (rec->codec == LADING_CODEC_GZIP_INDEXED)
		return read_seek_index(h, rec, toc, err);
	return h->src->ops->read_toc(h, rec, toc, err);
}

int lading_blob_sha256(const struct lading_blob_handle *h, uint64_t size,
		       struct lading_digest *d, uint64_t *bytes,
		       struct lading_error *err)
{
	return h->src->ops->sha256(h, size, d, bytes, err);
}

/* ---- a thread's reader ------------------------------------------------- */

struct lading_blob_reader *lading_blob_reader_new(void)
{
	return calloc(1, sizeof(struct lading_blob_reader));
}

void lading_blob_reader_free(struct lading_blob_reader *r)
{
	if (!r)
		return;
	if (r->conn)
		r->src->ops->conn_close(r->conn);
	free(r);
}

/*
 * The reader keeps one connection, to the source it read last: a thread
 * serving several blobs of one registry keeps its connection.
 */
int lading_blob_reader_read(struct lading_blob_reader *r,
			    const struct lading_blob_handle *h, uint64_t off,
			    size_t len, uint8_t *buf, struct lading_error *err)
{
	const struct blob_source_ops *ops = h->src->ops;

	if (ops->conn_open && r->src != h->src) {
		if (r->conn)
			r->src->ops->conn_close(r->conn);
		r->conn = ops->conn_open(h->src);
		r->src = r->conn ? h->src : NULL;
		if (!r->conn)
			return lading_error_set(err, ENOMEM, "out of memory");
	}
	return ops->read(h, ops->conn_open ? r->conn : NULL, off, len, buf, err);
}

uint64_t lading_blob_reader_first_byte_us(const struct lading_blob_reader *r)
{
	return r->conn && r->src->ops->first_byte_us ?
	       r->src->ops->first_byte_us(r->conn) : 0;
}
