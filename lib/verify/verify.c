// SPDX-License-Identifier: MIT
/*
 * lading_verify(): walk the image through the hardened reader (structure,
 * chunk ranges, statistics), check each slot's blob, and optionally compare
 * with a source and extract.  Problems are collected, not fatal, except a
 * structural error, which ends the walk.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <lading/image.h>
#include <lading/fetch.h>
#include "internal.h"

void lading_verify_params_init(struct lading_verify_params *p)
{
	memset(p, 0, sizeof(*p));
	p->blob_digest = true;
	lading_build_options_init(&p->build);
}

void verify_problem(struct vctx *v, const char *fmt, ...)
{
	struct lading_verify_report *r = v->r;
	char buf[1024];
	va_list ap;

	r->problems++;
	if (r->nlisted == LADING_VERIFY_MAX_LISTED)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	r->listed[r->nlisted] = strdup(buf);
	if (r->listed[r->nlisted])
		r->nlisted++;
}

void lading_verify_report_free(struct lading_verify_report *r)
{
	size_t i;

	for (i = 0; i < r->nlisted; i++)
		free(r->listed[i]);
	for (i = 0; i < r->nblobs; i++)
		free(r->blobs[i].path);
	free(r->blobs);
	lading_resolution_free(&r->resolved);
	memset(r, 0, sizeof(*r));
}

/* ---- blob access: a file of a blob dir, or a blob in the registry ---- */

static bool blob_present(const struct vctx *v, uint16_t slot)
{
	return v->blob_fds[slot] >= 0 || (v->handles && v->handles[slot]);
}

/* Stored bytes [off, off + n) of slot's blob; a registry's are counted. */
static int blob_pread(struct vctx *v, uint16_t slot, void *buf, size_t n,
		      uint64_t off)
{
	struct lading_error e = { 0 };
	int ret;

	if (v->blob_fds[slot] >= 0)
		return lading_pread_full(v->blob_fds[slot], buf, n, off);
	if (!v->handles || !v->handles[slot])
		return -ENOENT;
	ret = lading_blob_reader_read(v->breader, v->handles[slot], off, n, buf, &e);
	if (ret)
		return ret;
	v->r->blob_bytes_fetched += n;
	return 0;
}

/* The whole blob's sha256; a registry's is streamed (exactly size bytes). */
static int blob_hash(struct vctx *v, uint16_t slot, uint64_t size,
		     struct lading_digest *d, struct lading_error *e)
{
	uint64_t before;
	int ret;

	if (v->blob_fds[slot] >= 0) {
		ret = lading_sha256_fd(v->blob_fds[slot], d, &v->r->blob_bytes_hashed);
		return ret ? lading_error_set(e, -ret, "%s", strerror(-ret)) : 0;
	}
	before = v->r->blob_bytes_hashed;
	ret = lading_blob_sha256(v->handles[slot], size, d, &v->r->blob_bytes_hashed, e);
	v->r->blob_bytes_fetched += v->r->blob_bytes_hashed - before;
	return ret;
}

/* What the blob must weigh: its record's artifact size, else the slot's. */
static uint64_t blob_want_size(struct vctx *v, uint16_t slot)
{
	const struct lading_blob_record *rec =
		lading_reader_blob_record(v->reader, slot + 1);

	return rec ? lading_le64_to_cpu(rec->artifact_size) :
		     v->r->blobs[slot].blocks << lading_reader_blkszbits(v->reader);
}

/*
 * Decodes (and checks) ToC entry i of a blob into v->chunk_buf, cached.
 * -EBADMSG: decodes, not to its digest; other codec errors as they come.
 */
static int load_chunk_checked(struct vctx *v, uint16_t dev, size_t i)
{
	const struct lading_toc_entry *e = &v->tocs[dev - 1].entries[i];
	uint32_t clen = lading_le32_to_cpu(e->clen);
	int ret;

	if (v->cached_dev == dev && v->cached_entry == (ssize_t)i)
		return 0;
	v->cached_dev = 0;
	ret = lading_grow_buffer(&v->chunk_buf, &v->chunk_buf_size,
				 lading_le32_to_cpu(e->ulen));
	if (!ret)
		ret = lading_grow_buffer(&v->stored_buf, &v->stored_buf_size, clen);
	if (!ret)
		ret = blob_pread(v, dev - 1, v->stored_buf, clen,
				 lading_le64_to_cpu(e->coff));
	if (!ret)
		ret = lading_toc_decode_at(&v->tocs[dev - 1], i, v->stored_buf,
					   v->chunk_buf);
	if (ret)
		return ret;
	v->cached_dev = dev;
	v->cached_entry = (ssize_t)i;
	return 0;
}

static int load_chunk(struct vctx *v, uint16_t dev, size_t i)
{
	int ret = load_chunk_checked(v, dev, i);

	return ret == -EBADMSG ? -EIO : ret;
}

/*
 * Whole-blob trust for a slot without a ToC (no blob table): its sha256
 * against the tag, computed once.  0 trusted, -EBADMSG not.
 */
static int blob_trusted(struct vctx *v, uint16_t dev)
{
	struct lading_verify_blob *b = &v->r->blobs[dev - 1];
	struct lading_digest d;
	char hex[LADING_DIGEST_HEX_LEN + 1];
	int ret;

	if (!v->blob_trust[dev - 1]) {
		struct lading_error e = { 0 };

		ret = blob_hash(v, dev - 1, blob_want_size(v, dev - 1), &d, &e);
		if (ret)
			return ret;
		lading_digest_hex(&d, hex);
		v->blob_trust[dev - 1] = strcmp(hex, b->id) ? -1 : 1;
	}
	return v->blob_trust[dev - 1] > 0 ? 0 : -EBADMSG;
}
/*
 * Copies what lies at pos of the decoded chunk e (in v->chunk_buf), up to
 * n bytes and the chunk's end padded with zeros to 4 KiB; returns the
 * bytes copied.
 */
static uint64_t copy_chunk_bytes(const struct vctx *v,
				 const struct lading_toc *toc, size_t i, uint64_t pos,
				 uint8_t *buf, uint64_t n)
{
	const struct lading_toc_entry *e = &toc->entries[i];
	uint32_t ulen = lading_le32_to_cpu(e->ulen);
	uint64_t at = pos - lading_le64_to_cpu(e->uoff);
	/* chunks to 4 KiB; spans of a kept layer end where the next begins */
	uint64_t take = lading_toc_extent(toc, i) - at;

	if (take > n)
		take = n;
	if (at < ulen) {
		uint64_t data = ulen - at < take ? ulen - at : take;

		memcpy(buf, v->chunk_buf + at, data);
		memset(buf + data, 0, take - data);
	} else {
		memset(buf, 0, take);	/* the zero padding to 4 KiB */
	}
	return take;
}


int verify_read_checked(struct vctx *v, const struct lading_rchunk *c,
			uint64_t in, uint8_t *buf, size_t n,
			struct verify_fault *f)
{
	size_t img_len;
	const uint8_t *img = lading_reader_image(v->reader, &img_len);
	uint64_t pos = (c->blkaddr << lading_reader_blkszbits(v->reader)) + in;
	uint16_t dev = c->device_id;
	const struct lading_toc *toc;
	int ret;

	f->toc_index = -1;
	if (c->hole) {
		memset(buf, 0, n);
		return 0;
	}
	if (!dev) {
		/* the bootstrap is the root of trust; the reader checked the range */
		if (pos > img_len || n > img_len - pos)
			return -EUCLEAN;
		memcpy(buf, img + pos, n);
		return 0;
	}
	if (!blob_present(v, dev - 1))
		return -ENOENT;
	toc = &v->tocs[dev - 1];
	if (!lading_reader_blob_record(v->reader, dev)) {
		ret = blob_trusted(v, dev);
		return ret ? ret : blob_pread(v, dev - 1, buf, n, pos);
	}
	if (!toc->count)
		return -ENOTRECOVERABLE;	/* a ToC was promised, none usable */
	while (n) {
		ssize_t i = lading_toc_find(toc, pos);
		uint64_t take;

		if (i < 0)
			return -ERANGE;
		f->toc_index = i;
		ret = load_chunk_checked(v, dev, (size_t)i);
		if (ret)
			return ret;
		take = copy_chunk_bytes(v, toc, (size_t)i, pos, buf, n);
		buf += take;
		pos += take;
		n -= take;
	}
	f->toc_index = -1;
	return 0;
}

const char *verify_fault_reason(int err)
{
	switch (err) {
	case -EBADMSG: return "does not decode to its sha256";
	case -ENOENT: return "not found";
	case -ENOTRECOVERABLE: return "no usable ToC to check it against";
	case -ERANGE: return "outside the blob's ToC";
	default: return strerror(-err);
	}
}

/* Uncompressed-view bytes of a blob, through its ToC when compressed. */
static int read_blob(struct vctx *v, uint16_t dev, uint64_t pos, uint8_t *buf,
		     size_t n)
{
	const struct lading_toc *toc = &v->tocs[dev - 1];

	if (!blob_present(v, dev - 1))
		return -ENOENT;
	if (!toc->count || lading_le32_to_cpu(toc->footer.codec) == LADING_CODEC_NONE)
		return blob_pread(v, dev - 1, buf, n, pos);
	while (n) {
		ssize_t i = lading_toc_find(toc, pos);
		uint64_t take;
		int ret;

		if (i < 0)
			return -EIO;
		ret = load_chunk(v, dev, (size_t)i);
		if (ret)
			return ret;
		take = copy_chunk_bytes(v, toc, (size_t)i, pos, buf, n);
		buf += take;
		pos += take;
		n -= take;
	}
	return 0;
}

int verify_read_file(struct vctx *v, const struct lading_rinode *ino,
		     uint64_t off, uint8_t *buf, size_t len)
{
	size_t img_len;
	const uint8_t *img = lading_reader_image(v->reader, &img_len);

	if (ino->layout != EROFS_INODE_CHUNK_BASED)
		return lading_reader_read_flat(v->reader, ino, off, buf, len, v->err);
	while (len) {
		struct lading_rchunk c;
		uint64_t in, n, pos;
		int ret = lading_reader_chunk(v->reader, ino, off >> ino->chunk_bits,
					      &c, v->err);

		if (ret)
			return ret;
		in = off - c.offset;
		n = c.length - in < len ? c.length - in : len;
		pos = (c.blkaddr << lading_reader_blkszbits(v->reader)) + in;
		if (c.hole) {
			memset(buf, 0, n);
		} else if (c.device_id == 0) {
			/* lading_reader_chunk checked it against the image */
			if (pos > img_len || n > img_len - pos)
				return -EUCLEAN;
			memcpy(buf, img + pos, n);
		} else {
			ret = read_blob(v, c.device_id, pos, buf, n);
			if (ret)
				return ret;
		}
		buf += n;
		off += n;
		len -= n;
	}
	return 0;
}

/* ---- structure ------------------------------------------------------ */

struct xattr_walk {
	struct vctx *v;
	const struct lading_rentry *e;
};

/* Counts xattrs and rejects the values an extract could not set. */
static int check_xattr(void *ud, const char *name, const void *value,
		       size_t len)
{
	struct xattr_walk *w = ud;
	bool dir = S_ISDIR(w->e->inode->mode);
	const char *why = NULL;

	w->v->r->xattrs++;
	why = lading_xattr_value_problem(name, value, len, dir);
	if (!why)
		return 0;
	return lading_error_set(w->v->err, EUCLEAN, "nid %llu (/%s): xattr %s %s",
				(unsigned long long)w->e->inode->nid, w->e->path,
				name, why);
}

static int check_regular(struct vctx *v, const struct lading_rentry *e)
{
	const struct lading_rinode *ino = e->inode;
	uint64_t i;
	int ret;

	v->r->file_bytes += ino->size;
	if (ino->layout != EROFS_INODE_CHUNK_BASED) {
		if (ino->size)
			v->r->inline_files++;
		/* reading it proves the inline/plain data is in range */
		for (i = 0; i < ino->size; i += VERIFY_WINDOW) {
			size_t n = ino->size - i < VERIFY_WINDOW ?
				   (size_t)(ino->size - i) : VERIFY_WINDOW;

			ret = lading_reader_read_flat(v->reader, ino, i, v->window,
						      n, v->err);
			if (ret)
				return ret;
		}
		return 0;
	}
	for (i = 0; i < ino->nchunks; i++) {
		struct lading_rchunk c;

		ret = lading_reader_chunk(v->reader, ino, i, &c, v->err);
		if (ret)
			return lading_error_set(v->err, EUCLEAN, "(at /%s)", e->path);
		v->r->chunks++;
		if (c.hole)
			v->r->holes++;
		else if (c.device_id)
			v->r->blobs[c.device_id - 1].chunks++;
	}
	return 0;
}

static int walk_entry(void *ud, const struct lading_rentry *e)
{
	struct vctx *v = ud;
	struct lading_verify_report *r = v->r;
	struct xattr_walk xw = { .v = v, .e = e };
	char target[4096];
	int ret;

	if (e->first_link || S_ISDIR(e->inode->mode)) {
		r->inodes++;
		switch (e->inode->mode & S_IFMT) {
		case S_IFREG: r->regular++; break;
		case S_IFDIR: r->directories++; break;
		case S_IFLNK: r->symlinks++; break;
		case S_IFCHR: case S_IFBLK: r->devices++; break;
		case S_IFIFO: r->fifos++; break;
		default: r->sockets++; break;
		}
		ret = lading_reader_xattrs(v->reader, e->inode, check_xattr, &xw,
					   v->err);
		if (!ret && S_ISLNK(e->inode->mode))
			ret = lading_reader_symlink(v->reader, e->inode, target,
						    v->err);
		if (!ret && S_ISREG(e->inode->mode))
			ret = check_regular(v, e);
		if (ret)
			return ret;
	} else {
		r->hardlinks++;
	}
	if (v->src) {
		ret = compare_entry(v, e);
		if (ret)
			return ret;
	}
	return 0;
}

static int extract_walk_entry(void *ud, const struct lading_rentry *e)
{
	return extract_entry(ud, e);
}

/* ---- blobs ---------------------------------------------------------- */

/* a bare hex digest: a "sha256:" prefix would not fit in a slot tag */
static bool is_digest_hex(const char *s)
{
	return !lading_digest_parse(s, NULL);
}

/*
 * A gzip layer kept as it is: its seek index (the "ToC") is a file of its
 * own in the blob directories, found like the layer.
 */
static int read_seek_index(struct vctx *v, uint16_t i, const char *boot_dir,
			   const struct lading_blob_record *rec,
			   struct lading_error *terr)
{
	const struct lading_verify_params *p = v->p;
	const char *const *dirs = p->nblob_dirs ? p->blob_dirs : &boot_dir;
	struct lading_blob_sources *src = NULL;
	struct lading_blob_handle *h = NULL;
	int ret;

	ret = lading_blob_sources_open(dirs, p->nblob_dirs ? p->nblob_dirs : 1,
				       NULL, &src, terr);
	if (!ret)
		ret = lading_blob_sources_find(src, v->r->blobs[i].id, &h, terr);
	if (!ret)
		ret = lading_blob_read_toc(h, rec, &v->tocs[i], terr);
	lading_blob_handle_close(h);
	lading_blob_sources_close(src);
	return ret == -ENOENT ? -EUCLEAN : ret;
}

/* b->size is want, else b is marked BAD_SIZE with a problem saying so. */
static bool size_as_recorded(struct vctx *v, struct lading_verify_blob *b, uint64_t want)
{
	if (b->size == want)
		return true;
	b->status = LADING_BLOB_BAD_SIZE;
	verify_problem(v, "blob %s: %llu bytes, the bootstrap says %llu", b->id,
		       (unsigned long long)b->size, (unsigned long long)want);
	return false;
}

/* Size against the blob table (or, without one, the slot), then the ToC. */
static void check_blob_size(struct vctx *v, uint16_t i, const char *boot_dir)
{
	struct lading_verify_blob *b = &v->r->blobs[i];
	const struct lading_blob_record *rec =
		lading_reader_blob_record(v->reader, i + 1);
	uint64_t want = blob_want_size(v, i);
	struct lading_error terr = { 0 };
	int ret;

	if (!size_as_recorded(v, b, want))
		return;
	if (!rec)
		return;
	ret = rec->codec == LADING_CODEC_GZIP_INDEXED ?
	      read_seek_index(v, i, boot_dir, rec, &terr) :
	      lading_toc_read(v->blob_fds[i], rec, &v->tocs[i], &terr);
	if (ret == -EUCLEAN) {
		b->status = LADING_BLOB_BAD_TOC;
		verify_problem(v, "blob %s: %s", b->id, terr.msg);
	} else if (ret) {
		b->status = LADING_BLOB_IO_ERROR;
		verify_problem(v, "blob %s: reading its ToC: %s", b->id, terr.msg);
	}
}

/*
 * A registry blob: its size as the registry's HEAD gave it (else its last
 * byte read: a blob longer than that is found by the digest stream), then
 * its ToC by one range read of the tail, checked against the record.
 */
static void check_remote_blob(struct vctx *v, uint16_t i)
{
	struct lading_verify_blob *b = &v->r->blobs[i];
	const struct lading_blob_record *rec =
		lading_reader_blob_record(v->reader, i + 1);
	uint64_t want = blob_want_size(v, i);
	uint64_t size = lading_blob_handle_size(v->handles[i]);
	struct lading_error e = { 0 };
	uint8_t byte;
	int ret;

	if (size == UINT64_MAX && want && blob_pread(v, i, &byte, 1, want - 1)) {
		b->status = LADING_BLOB_BAD_SIZE;
		verify_problem(v, "blob %s: shorter than the %llu bytes the bootstrap "
			       "says (no byte %llu in %s)", b->id,
			       (unsigned long long)want, (unsigned long long)(want - 1),
			       v->r->resolved.repository);
		return;
	}
	b->size = size == UINT64_MAX ? want : size;
	if (!size_as_recorded(v, b, want))
		return;
	if (!rec)
		return;
	ret = lading_blob_read_toc(v->handles[i], rec, &v->tocs[i], &e);
	if (!ret) {
		v->r->blob_bytes_fetched += want - lading_le64_to_cpu(rec->toc_offset);
	} else if (ret == -EUCLEAN) {
		b->status = LADING_BLOB_BAD_TOC;
		verify_problem(v, "%s", e.msg);
	} else {
		b->status = LADING_BLOB_IO_ERROR;
		verify_problem(v, "blob %s: reading its ToC: %s", b->id, e.msg);
	}
}

/* A docker:// image without blob dirs: its blobs where it lives. */
static int open_remote_blob(struct vctx *v, uint16_t i)
{
	struct lading_verify_blob *b = &v->r->blobs[i];
	const char *repo = v->r->resolved.repository;
	struct lading_error e = { 0 };
	int ret;

	ret = lading_blob_sources_find(v->bsrc, b->id, &v->handles[i], &e);
	if (ret == -ENOENT) {
		verify_problem(v, "blob %s (slot %u): not found in %s", b->id, i + 1,
			       repo);
		return 0;
	}
	if (ret)
		return lading_error_set(v->err, -ret, "%s", e.msg);
	if (asprintf(&b->path, "%s@sha256:%s", repo, b->id) < 0) {
		b->path = NULL;
		return lading_error_set(v->err, ENOMEM, "out of memory");
	}
	b->status = LADING_BLOB_UNCHECKED;
	check_remote_blob(v, i);
	return 0;
}

static int open_remote_sources(struct vctx *v, uint16_t n)
{
	const char *spec = v->r->resolved.repository;
	int ret;

	ret = lading_blob_sources_open(&spec, 1, &v->p->registry, &v->bsrc, v->err);
	if (ret)
		return ret;
	v->handles = calloc(n ? n : 1, sizeof(*v->handles));
	v->breader = lading_blob_reader_new();
	if (!v->handles || !v->breader)
		return lading_error_set(v->err, ENOMEM, "out of memory");
	return 0;
}

static int open_blobs(struct vctx *v, const char *boot_dir)
{
	const struct lading_verify_params *p = v->p;
	uint16_t n = lading_reader_nslots(v->reader), i;
	size_t d;

	v->r->nblobs = n;
	v->r->blobs = calloc(n ? n : 1, sizeof(*v->r->blobs));
	v->blob_fds = malloc((n ? n : 1) * sizeof(int));
	v->tocs = calloc(n ? n : 1, sizeof(*v->tocs));
	v->blob_trust = calloc(n ? n : 1, sizeof(*v->blob_trust));
	if (!v->r->blobs || !v->blob_fds || !v->tocs || !v->blob_trust)
		return lading_error_set(v->err, ENOMEM, "out of memory");
	for (i = 0; i < n; i++)
		v->blob_fds[i] = -1;
	if (v->r->blobs_remote) {
		int ret = open_remote_sources(v, n);

		if (ret)
			return ret;
	}
	for (i = 0; i < n; i++) {
		struct lading_verify_blob *b = &v->r->blobs[i];
		const struct lading_rslot *s = lading_reader_slot(v->reader, i + 1);
		struct stat st;

		memcpy(b->id, s->tag, sizeof(b->id));
		b->blocks = s->blocks;
		b->status = LADING_BLOB_MISSING;
		if (!is_digest_hex(b->id)) {
			b->status = LADING_BLOB_BAD_TAG;
			verify_problem(v, "slot %u: tag '%.64s' is not a sha256 blob id",
				       i + 1, b->id);
			continue;
		}
		if (v->r->blobs_remote) {
			int ret = open_remote_blob(v, i);

			if (ret)
				return ret;
			continue;
		}
		for (d = 0; d < (p->nblob_dirs ? p->nblob_dirs : 1); d++) {
			const char *dir = p->nblob_dirs ? p->blob_dirs[d] : boot_dir;
			char *path = lading_path_join(dir, b->id);
			int fd;

			if (!path)
				return lading_error_set(v->err, ENOMEM, "out of memory");
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0) {
				free(path);
				continue;
			}
			if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
				close(fd);
				free(path);
				continue;
			}
			v->blob_fds[i] = fd;
			b->path = path;
			b->size = (uint64_t)st.st_size;
			b->status = LADING_BLOB_UNCHECKED;
			break;
		}
		if (b->status == LADING_BLOB_MISSING) {
			verify_problem(v, "blob %s (slot %u): not found", b->id, i + 1);
			continue;
		}
		check_blob_size(v, i, boot_dir);
	}
	return 0;
}

/*
 * Every ToC chunk decodes to bytes with its recorded sha256.  Runs on its
 * own thread while the caller hashes the whole artifact, so the two passes
 * over the same bytes cost about one; problems are reported after join.
 */
struct chunk_check {
	struct vctx *v;
	uint16_t slot;
	uint64_t fetched;		/* a registry blob's bytes read */
	size_t nbad;
	size_t bad[LADING_VERIFY_MAX_LISTED];
	int why[LADING_VERIFY_MAX_LISTED];
};

/* Like load_chunk, without the copy for chunks stored raw. */
static int check_one_chunk(struct vctx *v, uint16_t slot, size_t k)
{
	const struct lading_toc_entry *e = &v->tocs[slot].entries[k];
	uint32_t clen = lading_le32_to_cpu(e->clen);
	struct lading_digest d;
	int ret;

	if (e->codec != LADING_CODEC_NONE)
		return load_chunk_checked(v, slot + 1, k);
	ret = lading_grow_buffer(&v->stored_buf, &v->stored_buf_size, clen);
	if (!ret)
		ret = lading_pread_full(v->blob_fds[slot], v->stored_buf, clen,
					lading_le64_to_cpu(e->coff));
	if (ret)
		return ret;
	ret = lading_sha256(v->stored_buf, clen, &d);
	if (ret)
		return ret;
	return memcmp(d.bytes, e->digest, sizeof(d.bytes)) ? -EBADMSG : 0;
}

static void chunk_bad(struct chunk_check *cc, size_t k, int why)
{
	if (cc->nbad < LADING_VERIFY_MAX_LISTED) {
		cc->bad[cc->nbad] = k;
		cc->why[cc->nbad] = why;
	}
	cc->nbad++;
}

static bool every_chunk(const void *ud, size_t k)
{
	(void)ud;
	(void)k;
	return true;
}

#define REMOTE_RUN_MAX (8u << 20)	/* stored bytes per range read */
#define REMOTE_RUN_CHUNKS 1024u

/*
 * A registry blob's chunks through the one chunk path: runs of chunks
 * stored back to back, one range read each, every chunk decoded and
 * checked against its ToC digest.
 */
static void *chunk_runs_main(void *arg)
{
	struct chunk_check *cc = arg;
	const struct lading_toc *toc = &cc->v->tocs[cc->slot];
	const struct lading_blob_handle *h = cc->v->handles[cc->slot];
	struct lading_chunk_fetcher *f = lading_chunk_fetcher_new();
	int res[REMOTE_RUN_CHUNKS];
	size_t k, j, n;

	for (k = 0; k < toc->count; k += n) {
		size_t end = toc->count - k > REMOTE_RUN_CHUNKS ?
			     k + REMOTE_RUN_CHUNKS : toc->count;
		const struct lading_toc_entry *last;
		struct lading_error e = { 0 };
		int ret;

		n = lading_chunk_run_len(toc, k, end, REMOTE_RUN_MAX, every_chunk, NULL);
		ret = lading_chunk_run_read(f, h, toc, k, n, res, &e);
		last = &toc->entries[k + n - 1];
		if (!ret)
			cc->fetched += lading_le64_to_cpu(last->coff) +
				       lading_le32_to_cpu(last->clen) -
				       lading_le64_to_cpu(toc->entries[k].coff);
		for (j = 0; j < n; j++)
			if (ret || res[j] != LADING_CHUNK_OK)
				chunk_bad(cc, k + j, ret ? ret : res[j]);
	}
	lading_chunk_fetcher_free(f);
	return NULL;
}

static void *chunk_check_main(void *arg)
{
	struct chunk_check *cc = arg;
	const struct lading_toc *toc = &cc->v->tocs[cc->slot];
	size_t k;

	for (k = 0; k < toc->count; k++) {
		int ret;

		cc->v->cached_dev = 0;
		ret = check_one_chunk(cc->v, cc->slot, k);
		if (ret)
			chunk_bad(cc, k, ret);
	}
	return NULL;
}

static int report_chunks(struct vctx *v, const struct chunk_check *cc)
{
	const struct lading_toc *toc = &v->tocs[cc->slot];
	size_t n;

	for (n = 0; n < cc->nbad; n++) {
		const struct lading_toc_entry *e;
		size_t k;

		if (n == LADING_VERIFY_MAX_LISTED) {
			verify_problem(v, "blob %s: %zu more damaged chunks",
				       v->r->blobs[cc->slot].id, cc->nbad - n);
			break;
		}
		k = cc->bad[n];
		e = &toc->entries[k];
		verify_problem(v, "blob %s: chunk %zu (uncompressed bytes %llu+%u, "
			       "stored at %llu+%u, %s): %s", v->r->blobs[cc->slot].id,
			       k, (unsigned long long)lading_le64_to_cpu(e->uoff),
			       lading_le32_to_cpu(e->ulen),
			       (unsigned long long)lading_le64_to_cpu(e->coff),
			       lading_le32_to_cpu(e->clen),
			       lading_codec_name((enum lading_codec)e->codec),
			       cc->why[n] == -EBADMSG ? "does not decode to its digest" :
			       strerror(-cc->why[n]));
	}
	return cc->nbad ? 1 : 0;
}

static void check_blob_digests(struct vctx *v)
{
	uint16_t i;

	for (i = 0; i < v->r->nblobs; i++) {
		struct lading_verify_blob *b = &v->r->blobs[i];
		struct lading_digest d;
		char hex[LADING_DIGEST_HEX_LEN + 1];
		bool bad_digest;
		int ret, bad_chunks;

		struct chunk_check cc = { .v = v, .slot = i };
		void *(*chunks)(void *) = v->blob_fds[i] >= 0 ? chunk_check_main :
					  chunk_runs_main;
		struct lading_error e = { 0 };
		pthread_t th;
		bool threaded;

		if (!blob_present(v, i) || b->status == LADING_BLOB_BAD_SIZE)
			continue;
		/* even after a digest mismatch, this names the damaged chunks
		 * (a kept layer's spans: verify_kept_layers did) */
		threaded = !verify_is_kept_layer(v, i) &&
			   pthread_create(&th, NULL, chunks, &cc) == 0;
		if (!threaded && !verify_is_kept_layer(v, i))
			chunks(&cc);
		ret = blob_hash(v, i, blob_want_size(v, i), &d, &e);
		if (threaded)
			pthread_join(th, NULL);
		v->r->blob_bytes_fetched += cc.fetched;
		bad_chunks = report_chunks(v, &cc);
		if (ret == -EFBIG) {
			b->status = LADING_BLOB_BAD_SIZE;
			verify_problem(v, "blob %s: %s", b->id, e.msg);
			continue;
		}
		if (ret) {
			b->status = LADING_BLOB_IO_ERROR;
			verify_problem(v, "blob %s: read error: %s", b->id, e.msg);
			continue;
		}
		lading_digest_hex(&d, hex);
		bad_digest = strcmp(hex, b->id) != 0;
		if (bad_digest)
			verify_problem(v, "blob %s: content digest is %s", b->id, hex);
		if (b->status == LADING_BLOB_UNCHECKED)
			b->status = bad_digest ? LADING_BLOB_BAD_DIGEST :
				    bad_chunks ? LADING_BLOB_BAD_CHUNK : LADING_BLOB_OK;
	}
}

/* ---- the manifest ---------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool in_sorted(char **set, size_t n, const char *id)
{
	return n && bsearch(&id, set, n, sizeof(*set), cmp_str);
}

/*
 * An image reference: each slot's blob is a blob layer of the manifest,
 * and each blob layer a slot's (sorted copies: thousands of each stay
 * cheap).
 */
static int check_manifest_blobs(struct vctx *v)
{
	const struct lading_resolution *res = &v->r->resolved;
	uint16_t n = v->r->nblobs, i;
	char **layers, **slots;
	size_t k;

	if (!res->manifest_digest)
		return 0;
	layers = malloc((res->nblobs ? res->nblobs : 1) * sizeof(*layers));
	slots = malloc((n ? n : 1) * sizeof(*slots));
	if (!layers || !slots) {
		free(layers);
		free(slots);
		return lading_error_set(v->err, ENOMEM, "out of memory");
	}
	memcpy(layers, res->blob_ids, res->nblobs * sizeof(*layers));
	qsort(layers, res->nblobs, sizeof(*layers), cmp_str);
	for (i = 0; i < n; i++)
		slots[i] = v->r->blobs[i].id;
	qsort(slots, n, sizeof(*slots), cmp_str);
	for (i = 0; i < n; i++)
		if (v->r->blobs[i].status != LADING_BLOB_BAD_TAG &&
		    !in_sorted(layers, res->nblobs, v->r->blobs[i].id))
			verify_problem(v, "slot %u: blob %s is not a blob layer of "
				       "manifest %s", i + 1, v->r->blobs[i].id,
				       res->manifest_digest);
	for (k = 0; k < res->nblobs; k++)
		if (!in_sorted(slots, n, res->blob_ids[k]))
			verify_problem(v, "manifest %s: blob layer sha256:%s is no "
				       "slot of the bootstrap", res->manifest_digest,
				       res->blob_ids[k]);
	free(layers);
	free(slots);
	return 0;
}

/* ---- driver --------------------------------------------------------- */

static int run_checks(struct vctx *v, const char *boot_dir)
{
	struct lading_error *outer = v->err;
	int ret;

	ret = open_blobs(v, boot_dir);
	if (!ret)
		ret = check_manifest_blobs(v);
	if (ret)
		return ret;
	if (v->p->source) {
		ret = compare_load_source(v);
		if (ret)
			return ret;
		v->r->source_compared = true;
	}
	/*
	 * The walk reports into its own error: a structural problem becomes
	 * a listed problem, anything else (I/O, memory) goes to the caller.
	 */
	v->err = &v->walk_err;
	ret = lading_reader_walk(v->reader, walk_entry, v, v->err);
	v->err = outer;
	if (ret == -EUCLEAN || v->walk_err.code == -EUCLEAN) {
		verify_problem(v, "%s: %s", v->p->bootstrap, v->walk_err.msg);
		ret = 0;
	} else if (ret) {
		return lading_error_set(outer, -ret, "%s",
					lading_error_message(&v->walk_err, ret));
	} else {
		v->r->structure_ok = true;
	}
	if (v->src && v->r->structure_ok) {
		ret = compare_finish(v);
		if (ret)
			return ret;
	}
	/*
	 * Extraction walks again, once the whole structure is known good: a
	 * broken image creates nothing (its data is checked chunk by chunk).
	 */
	if (v->p->extract_dir && v->r->structure_ok) {
		ret = extract_begin(v);
		if (!ret) {
			v->err = &v->walk_err;
			ret = lading_reader_walk(v->reader, extract_walk_entry, v,
						 v->err);
			v->err = outer;
			if (ret)
				return lading_error_set(outer, -ret, "%s",
					lading_error_message(&v->walk_err, ret));
			ret = extract_finish(v);
		}
		if (ret)
			return ret;
		v->r->extracted = true;
	}
	if (v->p->blob_digest) {
		ret = verify_kept_layers(v, boot_dir);
		if (ret)
			return ret;
		check_blob_digests(v);
	}
	return 0;
}

int lading_verify(const struct lading_verify_params *p,
		  struct lading_verify_report *r, struct lading_error *err)
{
	struct vctx v = { .p = p, .r = r, .err = err };
	char *boot_dir = NULL;
	uint16_t i;
	int ret;

	struct lading_resolve_params rp = {
		.ref = p->bootstrap, .platform = p->platform, .registry = &p->registry,
		.log = p->log,
	};

	memset(r, 0, sizeof(*r));
	ret = lading_resolve(&rp, &r->resolved, err);
	if (ret)
		return ret;
	v.window = malloc(VERIFY_WINDOW);
	/* an image's blobs: its layout's blob directory, or (docker://) none */
	boot_dir = !r->resolved.bootstrap_data ? lading_path_dirname(p->bootstrap) :
		   strdup(r->resolved.repository);
	if (!v.window || !boot_dir) {
		ret = lading_error_set(err, ENOMEM, "out of memory");
		goto out;
	}
	r->blobs_remote = !p->nblob_dirs && !strncmp(boot_dir, "docker://", 9);
	if (r->resolved.bootstrap_data)
		ret = lading_reader_open_mem(&v.reader, r->resolved.bootstrap_data,
					     r->resolved.bootstrap_len, err);
	else
		ret = lading_reader_open_file(&v.reader, p->bootstrap, err);
	if (ret == -EUCLEAN) {
		verify_problem(&v, "%s: %s", p->bootstrap, err->msg);
		lading_error_clear(err);
		ret = -EUCLEAN;
		goto out;
	}
	if (ret)
		goto out;
	ret = run_checks(&v, boot_dir);
	if (!ret && r->problems)
		ret = -EUCLEAN;
out:
	compare_free(&v);
	extract_free(&v);
	if (v.blob_fds) {
		for (i = 0; i < r->nblobs; i++) {
			if (v.blob_fds[i] >= 0)
				close(v.blob_fds[i]);
			lading_toc_free(&v.tocs[i]);
		}
		free(v.blob_fds);
	}
	if (v.handles)
		for (i = 0; i < r->nblobs; i++)
			lading_blob_handle_close(v.handles[i]);
	free(v.handles);
	lading_blob_reader_free(v.breader);
	lading_blob_sources_close(v.bsrc);
	free(v.tocs);
	free(v.blob_trust);
	free(v.chunk_buf);
	free(v.stored_buf);
	lading_reader_close(v.reader);
	free(v.window);
	free(boot_dir);
	return ret;
}

static const struct lading_enum_name blob_status_names[] = {
	{ LADING_BLOB_OK, "ok" },
	{ LADING_BLOB_UNCHECKED, "unchecked" },
	{ LADING_BLOB_MISSING, "missing" },
	{ LADING_BLOB_BAD_TAG, "bad-tag" },
	{ LADING_BLOB_BAD_SIZE, "bad-size" },
	{ LADING_BLOB_BAD_DIGEST, "bad-digest" },
	{ LADING_BLOB_IO_ERROR, "io-error" },
	{ LADING_BLOB_BAD_TOC, "bad-toc" },
	{ LADING_BLOB_BAD_CHUNK, "bad-chunk" },
	{ 0, NULL },
};

const char *lading_blob_status_name(enum lading_blob_status s)
{
	return lading_enum_name(blob_status_names, (int)s);
}
