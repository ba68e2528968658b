// SPDX-License-Identifier: MIT
/*
 * Cache directories: one sparse file per blob of exactly its uncompressed
 * size (plain layout: what a file-backed mount takes as device=; cachefiles
 * layout: what the kernel's cachefiles back end accepts as a valid object),
 * optionally seeded with verified chunks.  Only bytes whose sha256 matched
 * the ToC (anchored in the bootstrap) are ever written; present data is
 * re-verified, and a range that fails is punched out again.
 */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <lading/cache.h>
#include <lading/fetch.h>
#include <lading/format.h>
#include <lading/store.h>

struct prep {
	const struct lading_prepare_params *p;
	struct lading_prepare_report *r;
	struct lading_error *err;
	struct lading_reader *reader;
	struct lading_progress progress;
	uint64_t done;
	uint8_t *chunk, *stored;
	size_t chunk_size, stored_size;
	struct lading_blob_sources *sources;
};

void lading_prepare_params_init(struct lading_prepare_params *p)
{
	memset(p, 0, sizeof(*p));
}

void lading_prepare_report_free(struct lading_prepare_report *r)
{
	uint16_t i;

	for (i = 0; i < r->nblobs; i++)
		free(r->blobs[i].path);
	free(r->blobs);
	free(r->bootstrap_path);
	free(r->volume_key);
	memset(r, 0, sizeof(*r));
}

/* mkdir -p for a path below (and including) the cache directory */
static int make_dirs(struct prep *pp, const char *path)
{
	int ret = lading_mkdir_p(path);

	return ret ? lading_error_set(pp->err, -ret, "%s: %s", path,
				      strerror(-ret)) : 0;
}

static int set_xattr_if_needed(int fd, const char *path, const uint8_t *want,
			       size_t len, struct lading_error *err)
{
	uint8_t have[64];
	ssize_t n = fgetxattr(fd, LADING_CACHEFILES_XATTR, have, sizeof(have));

	if (n == (ssize_t)len && !memcmp(have, want, len))
		return 0;
	if (fsetxattr(fd, LADING_CACHEFILES_XATTR, want, len, 0) < 0)
		return lading_error_set(err, errno, "%s: setting %s: %s", path,
					LADING_CACHEFILES_XATTR, strerror(errno));
	return 0;
}

/*
 * The cache file for one object: kept if it is a regular file of exactly
 * the right size, else an error (it is not ours to replace); created
 * sparse (and with its cachefiles xattr) under a temporary name if absent.
 */
static int ensure_sparse(struct prep *pp, const char *path, uint64_t size,
			 const uint8_t *xattr, size_t xlen, bool *created)
{
	struct lading_outfile of;
	struct stat st;
	char *dir, *name;
	int fd, ret;

	*created = false;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) {
		ret = 0;
		if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
		    (uint64_t)st.st_size != size)
			ret = lading_error_set(pp->err, EUCLEAN,
				"%s: exists but is not a file of %llu bytes", path,
				(unsigned long long)size);
		else if (xattr)
			ret = set_xattr_if_needed(fd, path, xattr, xlen, pp->err);
		close(fd);
		return ret;
	}
	if (errno != ENOENT)
		return lading_error_set(pp->err, errno, "%s: %s", path, strerror(errno));
	dir = lading_path_dirname(path);
	name = strdup(strrchr(path, '/') ? strrchr(path, '/') + 1 : path);
	/* leftovers of a writer killed here before go first */
	if (dir)
		lading_outfile_sweep(dir);
	ret = dir && name ? lading_outfile_open(&of, dir) : -ENOMEM;
	if (!ret) {
		if (ftruncate(of.fd, (off_t)size) < 0)
			ret = -errno;
		else if (xattr && fsetxattr(of.fd, LADING_CACHEFILES_XATTR, xattr,
					    xlen, 0) < 0)
			ret = -errno;
		if (!ret)
			ret = lading_outfile_commit(&of, name);
		lading_outfile_abort(&of);
	}
	free(dir);
	free(name);
	if (ret)
		return lading_error_set(pp->err, -ret, "%s: creating: %s", path,
					strerror(-ret));
	*created = true;
	return 0;
}

/*
 * A copy of the bootstrap at path, written from the very bytes that were
 * verified (a link would follow later changes of the original).
 */
static int place_bootstrap(struct prep *pp, const char *path, const char *id,
			   const uint8_t *xattr, size_t xlen)
{
	struct lading_outfile of;
	struct lading_digest d;
	char hex[LADING_DIGEST_HEX_LEN + 1], *dir, *name;
	uint64_t dummy = 0;
	size_t len;
	const uint8_t *img = lading_reader_image(pp->reader, &len);
	int fd, ret;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) {
		ret = lading_sha256_fd(fd, &d, &dummy);
		close(fd);
		lading_digest_hex(&d, hex);
		if (!ret && !strcmp(hex, id)) {
			if (!xattr)
				return 0;
			fd = open(path, O_RDONLY | O_CLOEXEC);
			ret = fd < 0 ? -errno :
				set_xattr_if_needed(fd, path, xattr, xlen, pp->err);
			if (fd >= 0)
				close(fd);
			return ret;
		}
		/* a stale or damaged copy: replaced below, atomically */
	}
	dir = lading_path_dirname(path);
	name = strdup(strrchr(path, '/') + 1);
	/* leftovers of a writer killed here before go first */
	if (dir)
		lading_outfile_sweep(dir);
	ret = dir && name ? lading_outfile_open(&of, dir) : -ENOMEM;
	if (!ret) {
		/* the reader holds exactly the bytes that were verified */
		ret = lading_write_full(of.fd, img, len);
		if (!ret && xattr && fsetxattr(of.fd, LADING_CACHEFILES_XATTR,
					       xattr, xlen, 0) < 0)
			ret = -errno;
		if (!ret)
			ret = lading_outfile_commit(&of, name);
		lading_outfile_abort(&of);
	}
	free(dir);
	free(name);
	if (ret)
		return lading_error_set(pp->err, -ret, "%s: %s", path, strerror(-ret));
	return 0;
}

/* ---- seeding -------------------------------------------------------- */

/* true when [off, off + len) is all data (no hole) in fd */
static void punch(int fd, uint64_t off, uint64_t len)
{
	fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
		  (off_t)LADING_ALIGN_UP(len, (uint64_t)LADING_BLOCK_SIZE));
}

static bool present_and_valid(struct prep *pp, int cfd,
			      const struct lading_toc_entry *e)
{
	struct lading_digest d;

	if (!lading_range_is_data(cfd, lading_le64_to_cpu(e->uoff), lading_le32_to_cpu(e->ulen)))
		return false;
	if (lading_pread_full(cfd, pp->chunk, lading_le32_to_cpu(e->ulen), lading_le64_to_cpu(e->uoff)))
		return false;
	if (lading_sha256(pp->chunk, lading_le32_to_cpu(e->ulen), &d))
		return false;
	if (!memcmp(d.bytes, e->digest, sizeof(d.bytes)))
		return true;
	/* partial or damaged (an interrupted write?): fetch it again */
	lading_log_msg(pp->p->log, LADING_LOG_WARN,
		       "cache range %llu+%u does not match its digest: refetching",
		       (unsigned long long)lading_le64_to_cpu(e->uoff), lading_le32_to_cpu(e->ulen));
	punch(cfd, lading_le64_to_cpu(e->uoff), lading_le32_to_cpu(e->ulen));
	return false;
}

/* Decodes, checks and writes one chunk whose stored bytes are at hand. */
static int write_chunk(int cfd, const struct lading_toc_entry *e,
		       const uint8_t *stored, uint8_t *chunk, const char *id,
		       size_t k, struct lading_error *err)
{
	int ret = lading_toc_decode(e, stored, chunk);

	if (ret)
		return lading_error_set(err, EUCLEAN,
			"blob %s: chunk %zu (uncompressed bytes %llu+%u): %s; "
			"not written", id, k, (unsigned long long)lading_le64_to_cpu(e->uoff), lading_le32_to_cpu(e->ulen),
			ret == -EBADMSG ? "does not decode to its digest" :
			strerror(-ret));
	static const uint8_t zeros[LADING_BLOCK_SIZE];
	size_t pad = LADING_ALIGN_UP((size_t)lading_le32_to_cpu(e->ulen), (size_t)LADING_BLOCK_SIZE) - lading_le32_to_cpu(e->ulen);

	ret = lading_pwrite_full(cfd, chunk, lading_le32_to_cpu(e->ulen), lading_le64_to_cpu(e->uoff));
	/* the zeros up to the next 4 KiB too: on a file system with smaller
	 * blocks a hole there would make cachefiles ask for the chunk again */
	if (!ret && pad)
		ret = lading_pwrite_full(cfd, zeros, pad, lading_le64_to_cpu(e->uoff) + lading_le32_to_cpu(e->ulen));
	if (ret) {
		punch(cfd, lading_le64_to_cpu(e->uoff), lading_le32_to_cpu(e->ulen));	/* no partial chunk stays */
		return lading_error_set(err, -ret, "cache file of blob %s: "
					"write: %s", id, strerror(-ret));
	}
	return 0;
}

static int seed_chunk(struct prep *pp, const struct lading_blob_handle *a,
		      int cfd, const struct lading_toc *toc, const char *id, size_t k)
{
	const struct lading_toc_entry *e = &toc->entries[k];
	int ret;

	ret = lading_blob_read(a, lading_le64_to_cpu(e->coff), lading_le32_to_cpu(e->clen), pp->stored, pp->err);
	if (ret)
		return ret;
	return write_chunk(cfd, e, pp->stored, pp->chunk, id, k, pp->err);
}

/*
 * From a registry: the missing chunks are grouped into runs of adjacent
 * stored ranges (up to RUN_MAX), and a few threads, each with its own
 * connection, fetch, verify and write runs in parallel.
 */
#define SEED_THREADS 4
#define RUN_MAX (8u << 20)

struct run {
	size_t first, count;
};

struct parallel_seed {
	struct prep *pp;
	const struct lading_blob_handle *a;
	int cfd;
	const struct lading_toc *toc;
	const char *id;
	struct run *runs;
	size_t nruns, next;
	pthread_mutex_t lock;
	uint64_t fetched;
	int fatal, bad;		/* first I/O error, first bad chunk */
	struct lading_error fatal_err, bad_err;
};

static void *seed_worker(void *arg)
{
	struct parallel_seed *ps = arg;
	struct lading_registry_conn *conn = lading_registry_conn_open(ps->a->reg);
	uint8_t *run_buf = NULL, *chunk = NULL;
	size_t run_size = 0, chunk_size = 0;

	for (;;) {
		struct lading_error err = { 0 };
		const struct lading_toc_entry *e;
		struct run *r;
		uint64_t len, got = 0;
		size_t k;
		int ret;

		pthread_mutex_lock(&ps->lock);
		r = ps->fatal || ps->next == ps->nruns ? NULL : &ps->runs[ps->next++];
		pthread_mutex_unlock(&ps->lock);
		if (!r)
			break;
		e = &ps->toc->entries[r->first];
		len = lading_le64_to_cpu(ps->toc->entries[r->first + r->count - 1].coff) +
		      lading_le32_to_cpu(ps->toc->entries[r->first + r->count - 1].clen) - lading_le64_to_cpu(e->coff);
		ret = conn ? 0 : lading_error_set(&err, ENOMEM, "out of memory");
		if (!ret)
			ret = lading_grow_buffer(&run_buf, &run_size, (size_t)len);
		if (!ret)
			ret = lading_registry_conn_get_range(conn, ps->a->digest, lading_le64_to_cpu(e->coff),
							     (size_t)len, run_buf, &err);
		for (k = 0; !ret && k < r->count; k++) {
			const struct lading_toc_entry *c = &ps->toc->entries[r->first + k];
			int wr;

			ret = lading_grow_buffer(&chunk, &chunk_size, lading_le32_to_cpu(c->ulen));
			if (ret)
				break;
			wr = write_chunk(ps->cfd, c, run_buf + (lading_le64_to_cpu(c->coff) - lading_le64_to_cpu(e->coff)), chunk,
					 ps->id, r->first + k, &err);
			if (wr == -EUCLEAN) {
				pthread_mutex_lock(&ps->lock);
				if (!ps->bad) {
					ps->bad = wr;
					ps->bad_err = err;
				}
				pthread_mutex_unlock(&ps->lock);
				lading_error_clear(&err);
				continue;
			}
			ret = wr;
			if (!ret)
				got += lading_le32_to_cpu(c->ulen);
		}
		pthread_mutex_lock(&ps->lock);
		ps->fetched += got;
		ps->pp->done += got;
		if (ret && !ps->fatal) {
			ps->fatal = ret;
			ps->fatal_err = err;
		}
		pthread_mutex_unlock(&ps->lock);
	}
	lading_registry_conn_close(conn);
	free(run_buf);
	free(chunk);
	return NULL;
}

static int seed_parallel(struct prep *pp, const struct lading_blob_handle *a,
			 int cfd,
			 const struct lading_toc *toc, const bool *missing,
			 struct lading_prepare_blob *b)
{
	struct parallel_seed ps = { .pp = pp, .a = a, .cfd = cfd, .toc = toc,
				    .id = b->id };
	pthread_t th[SEED_THREADS];
	size_t k, started = 0;

	ps.runs = calloc(toc->count ? toc->count : 1, sizeof(*ps.runs));
	if (!ps.runs)
		return lading_error_set(pp->err, ENOMEM, "out of memory");
	for (k = 0; k < toc->count; k++) {
		struct run *last = ps.nruns ? &ps.runs[ps.nruns - 1] : NULL;
		const struct lading_toc_entry *e = &toc->entries[k];

		if (!missing[k])
			continue;
		if (last && last->first + last->count == k &&
		    lading_le64_to_cpu(toc->entries[k - 1].coff) + lading_le32_to_cpu(toc->entries[k - 1].clen) == lading_le64_to_cpu(e->coff) &&
		    lading_le64_to_cpu(e->coff) + lading_le32_to_cpu(e->clen) - lading_le64_to_cpu(toc->entries[last->first].coff) <= RUN_MAX) {
			last->count++;
			continue;
		}
		ps.runs[ps.nruns++] = (struct run){ k, 1 };
	}
	pthread_mutex_init(&ps.lock, NULL);
	for (k = 0; k < SEED_THREADS && k < ps.nruns; k++)
		if (!pthread_create(&th[k], NULL, seed_worker, &ps))
			started++;
	if (!started && ps.nruns)
		seed_worker(&ps);	/* no threads: do it here */
	for (k = 0; k < started; k++)
		pthread_join(th[k], NULL);
	pthread_mutex_destroy(&ps.lock);
	free(ps.runs);
	b->fetched += ps.fetched;
	lading_progress_update(&pp->progress, pp->done, b->id);
	if (ps.fatal)
		return lading_error_set(pp->err, -ps.fatal, "%s", ps.fatal_err.msg);
	if (ps.bad)
		return lading_error_set(pp->err, EUCLEAN, "%s", ps.bad_err.msg);
	return 0;
}

static int seed_blob(struct prep *pp, uint16_t slot, struct lading_prepare_blob *b)
{
	const struct lading_blob_record *rec =
		lading_reader_blob_record(pp->reader, slot + 1);
	struct lading_toc toc = { 0 };
	struct lading_blob_handle a;
	int cfd, ret, first_bad = 0;
	size_t k;

	if (!rec)
		return lading_error_set(pp->err, EUCLEAN, "%s: no blob table: not "
					"built by lading", pp->p->bootstrap);
	ret = lading_blob_sources_find(pp->sources, b->id, &a, pp->err);
	if (ret == -ENOENT)
		ret = -EUCLEAN;	/* a missing blob is a failed check */
	if (ret)
		return ret;
	ret = lading_blob_read_toc(&a, rec, &toc, pp->err);
	if (ret) {
		lading_blob_handle_close(&a);
		return ret;
	}
	cfd = open(b->path, O_RDWR | O_CLOEXEC);
	if (cfd < 0) {
		ret = lading_error_set(pp->err, errno, "%s: %s", b->path,
				       strerror(errno));
		goto out;
	}
	if (a.reg) {
		bool *missing = calloc(toc.count ? toc.count : 1, sizeof(*missing));

		ret = missing ? 0 : lading_error_set(pp->err, ENOMEM, "out of memory");
		for (k = 0; !ret && k < toc.count; k++) {
			const struct lading_toc_entry *e = &toc.entries[k];

			ret = lading_grow_buffer(&pp->chunk, &pp->chunk_size, lading_le32_to_cpu(e->ulen));
			if (!ret && present_and_valid(pp, cfd, e)) {
				b->present_before += lading_le32_to_cpu(e->ulen);
				pp->done += lading_le32_to_cpu(e->ulen);
			} else if (!ret) {
				missing[k] = true;
			}
		}
		if (!ret)
			ret = seed_parallel(pp, &a, cfd, &toc, missing, b);
		if (ret == -EUCLEAN) {
			first_bad = ret;
			ret = 0;
		}
		free(missing);
		k = toc.count;	/* done: skip the sequential loop */
	} else {
		k = 0;
	}
	for (; k < toc.count; k++) {
		const struct lading_toc_entry *e = &toc.entries[k];

		ret = lading_grow_buffer(&pp->chunk, &pp->chunk_size, lading_le32_to_cpu(e->ulen));
		if (!ret)
			ret = lading_grow_buffer(&pp->stored, &pp->stored_size, lading_le32_to_cpu(e->clen));
		if (ret) {
			lading_error_set(pp->err, ENOMEM, "out of memory");
			break;
		}
		if (present_and_valid(pp, cfd, e)) {
			b->present_before += lading_le32_to_cpu(e->ulen);
		} else {
			ret = seed_chunk(pp, &a, cfd, &toc, b->id, k);
			if (ret == -EUCLEAN) {
				/* a bad chunk stops that chunk, not the others */
				first_bad = first_bad ? first_bad : ret;
				ret = 0;
				continue;
			}
			if (ret)
				break;
			b->fetched += lading_le32_to_cpu(e->ulen);
		}
		pp->done += lading_le32_to_cpu(e->ulen);
		lading_progress_update(&pp->progress, pp->done, b->id);
	}
	b->present = b->present_before + b->fetched;
	if (!ret && fsync(cfd) < 0)
		ret = lading_error_set(pp->err, errno, "%s: fsync: %s", b->path,
				       strerror(errno));
	close(cfd);
	if (!ret)
		ret = first_bad;
out:
	lading_toc_free(&toc);
	lading_blob_handle_close(&a);
	return ret;
}

/* ---- layouts -------------------------------------------------------- */

static int path_in(struct prep *pp, const char *rel, char **out)
{
	*out = lading_path_join(pp->p->cache_dir, rel);
	return *out ? 0 : lading_error_set(pp->err, ENOMEM, "out of memory");
}

static int layout_plain(struct prep *pp)
{
	struct lading_prepare_report *r = pp->r;
	uint16_t i;
	int ret;

	ret = make_dirs(pp, pp->p->cache_dir);
	if (!ret)
		ret = path_in(pp, r->bootstrap_id, &r->bootstrap_path);
	if (!ret)
		ret = place_bootstrap(pp, r->bootstrap_path, r->bootstrap_id, NULL, 0);
	for (i = 0; !ret && i < r->nblobs; i++) {
		struct lading_prepare_blob *b = &r->blobs[i];

		ret = path_in(pp, b->id, &b->path);
		if (!ret)
			ret = ensure_sparse(pp, b->path, b->size, NULL, 0, &b->created);
	}
	return ret;
}

static int cachefiles_object(struct prep *pp, const char *key, char **path)
{
	char rel[LADING_CACHEFILES_PATH_MAX + 1], *dir;
	int ret;

	ret = lading_cachefiles_object_path(pp->r->volume_key, key, strlen(key),
					    rel, sizeof(rel));
	if (ret < 0)
		return lading_error_set(pp->err, -ret, "cachefiles name for key "
					"'%s': %s", key, strerror(-ret));
	ret = path_in(pp, rel, path);
	if (ret)
		return ret;
	dir = lading_path_dirname(*path);
	ret = dir ? make_dirs(pp, dir) : -ENOMEM;
	free(dir);
	return ret;
}

static int layout_cachefiles(struct prep *pp)
{
	struct lading_prepare_report *r = pp->r;
	char key[LADING_CACHEFILES_VOLUME_KEY_MAX + 8];
	char vdir[LADING_CACHEFILES_PATH_MAX + 1], *path = NULL;
	uint8_t vx[LADING_CACHEFILES_VOLUME_XATTR_LEN];
	uint8_t ox[LADING_CACHEFILES_OBJECT_XATTR_LEN];
	size_t boot_len;
	uint16_t i;
	int ret, fd;

	if (!pp->p->fsid || !*pp->p->fsid)
		return lading_error_set(pp->err, EINVAL, "the cachefiles layout "
					"needs an fsid");
	ret = lading_cachefiles_volume_key(pp->p->fsid, pp->p->domain_id, key,
					   sizeof(key));
	if (ret >= 0)
		ret = lading_cachefiles_volume_dir(key, vdir, sizeof(vdir));
	if (ret < 0)
		return lading_error_set(pp->err, -ret, "volume key for fsid '%s': %s",
					pp->p->fsid, strerror(-ret));
	r->volume_key = strdup(key);
	ret = r->volume_key ? 0 : -ENOMEM;
	/* cache/, graveyard/ and the volume directory with its xattr */
	if (!ret)
		ret = path_in(pp, LADING_CACHEFILES_GRAVEYARD_DIR, &path);
	if (!ret)
		ret = make_dirs(pp, path);
	free(path);
	path = NULL;
	if (!ret)
		ret = path_in(pp, vdir, &path);
	if (!ret)
		ret = make_dirs(pp, path);
	if (!ret && lading_cachefiles_volume_xattr(vx, sizeof(vx)) < 0)
		ret = -EINVAL;
	if (!ret) {
		fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		ret = fd < 0 ? lading_error_set(pp->err, errno, "%s: %s", path,
						strerror(errno)) :
			set_xattr_if_needed(fd, path, vx, sizeof(vx), pp->err);
		if (fd >= 0)
			close(fd);
	}
	free(path);
	if (ret)
		return ret;
	/* the bootstrap object: cookie key = fsid, fully present */
	lading_reader_image(pp->reader, &boot_len);
	ret = cachefiles_object(pp, pp->p->fsid, &r->bootstrap_path);
	if (!ret && lading_cachefiles_object_xattr(boot_len, ox, sizeof(ox)) < 0)
		ret = -EINVAL;
	if (!ret)
		ret = place_bootstrap(pp, r->bootstrap_path, r->bootstrap_id, ox,
				      sizeof(ox));
	/* blob objects: cookie key = slot tag */
	for (i = 0; !ret && i < r->nblobs; i++) {
		struct lading_prepare_blob *b = &r->blobs[i];

		ret = cachefiles_object(pp, b->id, &b->path);
		if (!ret && lading_cachefiles_object_xattr(b->size, ox, sizeof(ox)) < 0)
			ret = -EINVAL;
		if (!ret)
			ret = ensure_sparse(pp, b->path, b->size, ox, sizeof(ox),
					    &b->created);
	}
	return ret;
}

/* ---- driver --------------------------------------------------------- */

static int load_bootstrap(struct prep *pp)
{
	struct lading_prepare_report *r = pp->r;
	struct lading_digest d;
	size_t len;
	const uint8_t *img;
	uint16_t i;
	int ret;

	ret = lading_reader_open_file(&pp->reader, pp->p->bootstrap, pp->err);
	if (!ret)
		ret = lading_reader_walk(pp->reader, NULL, NULL, pp->err);
	if (ret == -EUCLEAN) {
		char why[sizeof(pp->err->msg)];

		snprintf(why, sizeof(why), "%s", pp->err->msg);
		lading_error_clear(pp->err);
		return lading_error_set(pp->err, EUCLEAN, "%s: does not verify: %s",
					pp->p->bootstrap, why);
	}
	if (ret)
		return ret;
	img = lading_reader_image(pp->reader, &len);
	ret = lading_sha256(img, len, &d);
	if (ret)
		return lading_error_set(pp->err, -ret, "%s: hashing it: %s",
					pp->p->bootstrap, strerror(-ret));
	lading_digest_hex(&d, r->bootstrap_id);
	r->nblobs = lading_reader_nslots(pp->reader);
	r->blobs = calloc(r->nblobs ? r->nblobs : 1, sizeof(*r->blobs));
	if (!r->blobs)
		return lading_error_set(pp->err, ENOMEM, "out of memory");
	for (i = 0; i < r->nblobs; i++) {
		const struct lading_rslot *s = lading_reader_slot(pp->reader, i + 1);

		/* bare hex: a "sha256:" prefix does not fit in a tag */
		if (lading_digest_parse(s->tag, NULL))
			return lading_error_set(pp->err, EUCLEAN,
				"%s: slot %u tag is not a blob id",
				pp->p->bootstrap, i + 1);
		memcpy(r->blobs[i].id, s->tag, sizeof(r->blobs[i].id));
		r->blobs[i].size = s->blocks * LADING_BLOCK_SIZE;
	}
	return 0;
}

int lading_prepare(const struct lading_prepare_params *p,
		   struct lading_prepare_report *r, struct lading_error *err)
{
	struct prep pp = { .p = p, .r = r, .err = err };
	uint64_t total = 0;
	uint16_t i;
	int ret, first_bad = 0;

	memset(r, 0, sizeof(*r));
	ret = load_bootstrap(&pp);
	if (!ret)
		ret = p->layout == LADING_LAYOUT_CACHEFILES ? layout_cachefiles(&pp) :
							      layout_plain(&pp);
	if (!ret && p->nseed_dirs) {
		ret = lading_blob_sources_open(p->seed_dirs, p->nseed_dirs,
					       &p->registry, &pp.sources, err);
		for (i = 0; i < r->nblobs; i++)
			total += r->blobs[i].size;
		lading_progress_init(&pp.progress, p->progress, "seeding", total);
		for (i = 0; !ret && i < r->nblobs; i++) {
			ret = seed_blob(&pp, i, &r->blobs[i]);
			if (ret == -EUCLEAN) {
				/* keep seeding the other blobs; err keeps the first */
				first_bad = ret;
				ret = 0;
			}
		}
		lading_progress_finish(&pp.progress);
		r->seeded = !ret && !first_bad;
		if (!ret)
			ret = first_bad;
	}
	lading_reader_close(pp.reader);
	lading_blob_sources_close(pp.sources);
	free(pp.chunk);
	free(pp.stored);
	return ret;
}

static const struct lading_enum_name layout_names[] = {
	{ LADING_LAYOUT_PLAIN, "plain" },
	{ LADING_LAYOUT_CACHEFILES, "cachefiles" },
	{ 0, NULL },
};

const char *lading_layout_name(enum lading_cache_layout layout)
{
	return lading_enum_name(layout_names, (int)layout);
}

int lading_layout_parse(const char *s, enum lading_cache_layout *layout)
{
	int v, ret = lading_enum_parse(layout_names, s, &v);

	if (!ret)
		*layout = (enum lading_cache_layout)v;
	return ret;
}
