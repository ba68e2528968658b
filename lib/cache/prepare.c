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
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <lading/cache.h>
#include <lading/fetch.h>
#include <lading/format.h>
#include <lading/image.h>
#include <lading/store.h>
#include <lading/cachefiles.h>

struct prep {
	const struct lading_prepare_params *p;
	struct lading_prepare_report *r;
	struct lading_error *err;
	struct lading_reader *reader;
	struct lading_progress progress;
	uint64_t done;
	uint8_t *chunk;			/* present chunks are read into it */
	size_t chunk_size;
	struct lading_blob_sources *sources;
	const char *boot;		/* the bootstrap file (REF resolved) */
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
	lading_resolution_free(&r->resolved);
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

/* Back to a hole (whole blocks): a damaged or partial chunk does not stay. */
static void punch(int fd, uint64_t off, uint64_t len)
{
	fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
		  (off_t)LADING_ALIGN_UP(len, (uint64_t)LADING_BLOCK_SIZE));
}

/*
 * A span of a kept gzip layer shares its first and last blocks with its
 * neighbours: only the blocks wholly inside it go back to holes.
 */
static void punch_span(int fd, uint64_t off, uint64_t len)
{
	uint64_t a = LADING_ALIGN_UP(off, (uint64_t)LADING_BLOCK_SIZE);
	uint64_t z = (off + len) & ~(uint64_t)(LADING_BLOCK_SIZE - 1);

	if (z > a)
		fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			  (off_t)a, (off_t)(z - a));
}

static bool present_and_valid(struct prep *pp, int cfd,
			      const struct lading_toc *toc,
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
	(toc->zran ? punch_span : punch)(cfd, lading_le64_to_cpu(e->uoff),
					 lading_le32_to_cpu(e->ulen));
	return false;
}

/*
 * The missing chunks go to the chunk engine in runs of adjacent stored
 * ranges (up to RUN_MAX), fetched, verified and written by a few threads,
 * each with its own connection to the source.
 */
#define SEED_THREADS 4
#define RUN_MAX (8u << 20)

struct seed {
	struct prep *pp;
	struct lading_prepare_blob *b;
	const struct lading_toc *toc;
	int cfd;
	const bool *missing;
	int fatal, bad;		/* first I/O error, first bad chunk */
	struct lading_error fatal_err, bad_err;
};

static bool seed_wants(const void *ud, size_t k)
{
	return ((const struct seed *)ud)->missing[k];
}

static void seed_bad_chunk(struct seed *sd, size_t k, int why)
{
	const struct lading_toc_entry *e = &sd->toc->entries[k];

	sd->bad = -EUCLEAN;
	lading_error_set(&sd->bad_err, EUCLEAN,
		"blob %s: chunk %zu (uncompressed bytes %llu+%u): %s; "
		"not written", sd->b->id, k, (unsigned long long)lading_le64_to_cpu(e->uoff), lading_le32_to_cpu(e->ulen),
		why == -EBADMSG ? "does not decode to its digest" : strerror(-why));
}

/* Under the engine's lock: one run's outcome; non-zero stops seeding. */
static int seed_run_done(void *ud, const struct lading_chunk_run *run)
{
	struct seed *sd = ud;
	uint64_t got = 0;
	size_t i;

	for (i = 0; i < run->count; i++) {
		const struct lading_toc_entry *e = &sd->toc->entries[run->first + i];

		if (run->res[i] == LADING_CHUNK_OK)
			got += lading_le32_to_cpu(e->ulen);
		else if (run->res[i] < 0)
			seed_bad_chunk(sd, run->first + i, run->res[i]);
		else if (run->write_error)
			punch(sd->cfd, lading_le64_to_cpu(e->uoff), lading_le32_to_cpu(e->ulen));	/* no partial chunk stays */
	}
	sd->b->fetched += got;
	sd->pp->done += got;
	lading_progress_update(&sd->pp->progress, sd->pp->done, sd->b->id);
	if (run->read_error && !sd->fatal) {
		sd->fatal = run->read_error;
		sd->fatal_err = *run->err;
	}
	if (run->write_error && !sd->fatal) {
		sd->fatal = run->write_error;
		lading_error_set(&sd->fatal_err, -run->write_error, "cache file of "
				 "blob %s: write: %s", sd->b->id,
				 strerror(-run->write_error));
	}
	return sd->fatal;
}

/* Present and valid chunks are counted; the others marked missing. */
static int seed_scan(struct prep *pp, int cfd, const struct lading_toc *toc,
		     bool *missing, struct lading_prepare_blob *b)
{
	size_t k;

	for (k = 0; k < toc->count; k++) {
		const struct lading_toc_entry *e = &toc->entries[k];

		if (lading_grow_buffer(&pp->chunk, &pp->chunk_size, lading_le32_to_cpu(e->ulen)))
			return lading_error_set(pp->err, ENOMEM, "out of memory");
		if (present_and_valid(pp, cfd, toc, e)) {
			b->present_before += lading_le32_to_cpu(e->ulen);
			pp->done += lading_le32_to_cpu(e->ulen);
		} else {
			missing[k] = true;
		}
	}
	return 0;
}

static int seed_chunks(struct prep *pp, const struct lading_blob_handle *a,
		       int cfd, const struct lading_toc *toc,
		       struct lading_prepare_blob *b)
{
	bool *missing = calloc(toc->count ? toc->count : 1, sizeof(*missing));
	struct seed sd = { .pp = pp, .b = b, .toc = toc, .cfd = cfd,
			   .missing = missing };
	struct lading_chunk_batch batch = {
		.blob = a, .toc = toc, .fd = cfd, .want = seed_wants,
		.run_max = RUN_MAX, .threads = SEED_THREADS,
		.done = seed_run_done, .ud = &sd,
	};
	int ret = missing ? 0 : lading_error_set(pp->err, ENOMEM, "out of memory");

	if (!ret)
		ret = seed_scan(pp, cfd, toc, missing, b);
	if (!ret)
		ret = lading_chunk_batch_run(&batch, pp->err);
	free(missing);
	if (ret && !sd.fatal)
		return ret;	/* the engine's own: out of memory */
	if (sd.fatal)
		return lading_error_set(pp->err, -sd.fatal, "%s", sd.fatal_err.msg);
	if (sd.bad)
		return lading_error_set(pp->err, EUCLEAN, "%s", sd.bad_err.msg);
	return 0;
}

static int seed_blob(struct prep *pp, uint16_t slot, struct lading_prepare_blob *b)
{
	const struct lading_blob_record *rec =
		lading_reader_blob_record(pp->reader, slot + 1);
	struct lading_toc toc = { 0 };
	struct lading_blob_handle *a;
	int cfd, ret, bad = 0;

	if (!rec)
		return lading_error_set(pp->err, EUCLEAN, "%s: no blob table: not "
					"built by lading", pp->boot);
	ret = lading_blob_sources_find(pp->sources, b->id, &a, pp->err);
	if (ret == -ENOENT)
		ret = -EUCLEAN;	/* a missing blob is a failed check */
	if (ret)
		return ret;
	ret = lading_blob_read_toc(a, rec, &toc, pp->err);
	if (ret)
		goto out;
	cfd = open(b->path, O_RDWR | O_CLOEXEC);
	if (cfd < 0) {
		ret = lading_error_set(pp->err, errno, "%s: %s", b->path,
				       strerror(errno));
		goto out;
	}
	ret = seed_chunks(pp, a, cfd, &toc, b);
	if (ret == -EUCLEAN) {
		/* a bad chunk stops that chunk, not the others */
		bad = ret;
		ret = 0;
	}
	b->present = b->present_before + b->fetched;
	if (!ret && fsync(cfd) < 0)
		ret = lading_error_set(pp->err, errno, "%s: fsync: %s", b->path,
				       strerror(errno));
	close(cfd);
	if (!ret)
		ret = bad;
out:
	lading_toc_free(&toc);
	lading_blob_handle_close(a);
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

	/* the kernel's cachefiles back end needs PAGE_SIZE blocks */
	if (lading_reader_blkszbits(pp->reader) != LADING_BLOCK_BITS)
		return lading_error_set(pp->err, ENOTSUP, "%s: 512-byte blocks (gzip "
					"layers kept as they are): the cachefiles "
					"layout needs 4096-byte blocks; use the "
					"plain layout and fanotify",
					pp->p->bootstrap);
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

	ret = lading_reader_open_file(&pp->reader, pp->boot, pp->err);
	if (!ret)
		ret = lading_reader_walk(pp->reader, NULL, NULL, pp->err);
	if (ret == -EUCLEAN) {
		char why[sizeof(pp->err->msg)];

		snprintf(why, sizeof(why), "%s", pp->err->msg);
		lading_error_clear(pp->err);
		return lading_error_set(pp->err, EUCLEAN, "%s: does not verify: %s",
					pp->boot, why);
	}
	if (ret)
		return ret;
	img = lading_reader_image(pp->reader, &len);
	ret = lading_sha256(img, len, &d);
	if (ret)
		return lading_error_set(pp->err, -ret, "%s: hashing it: %s",
					pp->boot, strerror(-ret));
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
				pp->boot, i + 1);
		memcpy(r->blobs[i].id, s->tag, sizeof(r->blobs[i].id));
		r->blobs[i].size = s->blocks << lading_reader_blkszbits(pp->reader);
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

	struct lading_resolve_params rp = {
		.ref = p->bootstrap, .platform = p->platform, .cache_dir = p->cache_dir,
		.registry = &p->registry, .log = p->log,
	};
	const char **seeds = NULL;
	size_t nseeds = 0;

	memset(r, 0, sizeof(*r));
	ret = lading_resolve(&rp, &r->resolved, err);
	if (ret)
		return ret;
	pp.boot = r->resolved.bootstrap_path;
	ret = load_bootstrap(&pp);
	if (!ret)
		ret = p->layout == LADING_LAYOUT_CACHEFILES ? layout_cachefiles(&pp) :
							      layout_plain(&pp);
	if (!ret && (p->nseed_dirs || p->seed)) {
		/* --seed-from first (mirrors, blob directories), then the repository */
		ret = lading_resolution_sources(p->seed ? &r->resolved : NULL,
						p->seed_dirs, p->nseed_dirs, &seeds, &nseeds);
		if (ret)
			ret = lading_error_set(err, -ret, "out of memory");
		else if (!nseeds)
			ret = lading_error_set(err, EINVAL, "%s: no repository to seed "
					       "from: give --seed-from", p->bootstrap);
		else
			ret = lading_blob_sources_open(seeds, nseeds, &p->registry,
						       &pp.sources, err);
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
	free(seeds);
	free(pp.chunk);
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
