// SPDX-License-Identifier: MIT
/* The image's files over the blobs (see files.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <lading/ondisk.h>
#include "files.h"

struct files_walk {
	struct lading_reader *r;
	struct fill_blob *const *slots;
	size_t nslots;
	struct fill_files *fs;
	struct lading_error *err;
};

static int grow(void **v, size_t *cap, size_t n, size_t size)
{
	void *nv;
	size_t ncap;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 256;
	if (ncap > UINT32_MAX)
		return -EOVERFLOW;
	nv = realloc(*v, ncap * size);
	if (!nv)
		return -ENOMEM;
	*v = nv;
	*cap = ncap;
	return 0;
}

/* Appends chunk k of b to the file being walked (once per run). */
static int add_seq(struct fill_files *fs, uint32_t file, struct fill_blob *b, size_t k)
{
	struct fill_seq *s;
	int ret;

	if (fs->nseq > fs->files[file].seq_start &&
	    fs->seq[fs->nseq - 1].blob == b && fs->seq[fs->nseq - 1].chunk == k)
		return 0;	/* a ToC chunk larger than an EROFS chunk */
	ret = grow((void **)&fs->seq, &fs->seq_cap, fs->nseq, sizeof(*fs->seq));
	if (ret)
		return ret;
	s = &fs->seq[fs->nseq];
	s->blob = b;
	s->chunk = (uint32_t)k;
	s->file = file;
	if (b->files == fs && b->ref[k] == FILL_NO_FILE)
		b->ref[k] = (uint32_t)fs->nseq;
	fs->nseq++;
	return 0;
}

static int add_file(struct fill_files *fs, const char *path, uint32_t *file)
{
	size_t len = strlen(path) + 2;
	int ret = grow((void **)&fs->files, &fs->files_cap, fs->nfiles, sizeof(*fs->files));
	struct fill_file *f;

	while (!ret && fs->names_len + len > fs->names_cap) {
		size_t cap = fs->names_cap ? fs->names_cap * 2 : 4096;
		char *n = cap <= UINT32_MAX ? realloc(fs->names, cap) : NULL;

		if (!n)
			return -ENOMEM;
		fs->names = n;
		fs->names_cap = cap;
	}
	if (ret)
		return ret;
	f = &fs->files[fs->nfiles];
	memset(f, 0, sizeof(*f));
	f->name = (uint32_t)fs->names_len;
	fs->names[fs->names_len] = '/';
	memcpy(fs->names + fs->names_len + 1, path, len - 1);
	fs->names_len += len;
	f->seq_start = f->seq_end = (uint32_t)fs->nseq;
	*file = (uint32_t)fs->nfiles;
	return 0;
}

static int walk_entry(void *ud, const struct lading_rentry *e)
{
	struct files_walk *w = ud;
	struct fill_files *fs = w->fs;
	const struct lading_rinode *ino = e->inode;
	uint32_t file;
	uint64_t i;
	int ret;

	if (!e->first_link || !S_ISREG(ino->mode) || ino->layout != EROFS_INODE_CHUNK_BASED)
		return 0;
	ret = add_file(fs, e->path, &file);
	for (i = 0; !ret && i < ino->nchunks; i++) {
		struct lading_rchunk c;
		struct fill_blob *b;
		size_t first, count, k;

		ret = lading_reader_chunk(w->r, ino, i, &c, w->err);
		if (ret || c.hole || !c.device_id || c.device_id > w->nslots ||
		    !(b = w->slots[c.device_id - 1]))
			continue;
		fill_blob_map(b, c.blkaddr * LADING_BLOCK_SIZE, c.length, &first, &count);
		for (k = first; !ret && k < first + count; k++)
			ret = add_seq(fs, file, b, k);
	}
	if (ret == -ENOMEM || ret == -EOVERFLOW)
		return lading_error_set(w->err, -ret, "file map: %s", strerror(-ret));
	if (ret)
		return ret;
	fs->files[file].seq_end = (uint32_t)fs->nseq;
	if (fs->nseq > fs->files[file].seq_start)
		fs->nfiles++;
	else
		fs->names_len = fs->files[file].name;	/* no chunk: not kept */
	return 0;
}

/* The blobs that got fs go without a map again. */
static void unmap(struct fill_blob *const *slots, size_t nslots, const struct fill_files *fs)
{
	size_t i;

	for (i = 0; i < nslots; i++) {
		if (slots[i] && slots[i]->files == fs) {
			free(slots[i]->ref);
			slots[i]->ref = NULL;
			slots[i]->files = NULL;
		}
	}
}

int fill_files_build(struct lading_reader *r, struct fill_blob *const *slots,
		     size_t nslots, struct fill_files **out, struct lading_error *err)
{
	struct fill_files *fs = calloc(1, sizeof(*fs));
	struct files_walk w = { .r = r, .slots = slots, .nslots = nslots, .fs = fs,
				.err = err };
	size_t i, k;
	int ret = 0;

	if (!fs)
		return lading_error_set(err, ENOMEM, "out of memory");
	for (i = 0; i < nslots && !ret; i++) {
		struct fill_blob *b = slots[i];

		if (!b || b->files)
			continue;
		b->ref = malloc((b->toc.count ? b->toc.count : 1) * sizeof(*b->ref));
		if (!b->ref) {
			ret = lading_error_set(err, ENOMEM, "out of memory");
			break;
		}
		for (k = 0; k < b->toc.count; k++)
			b->ref[k] = FILL_NO_FILE;
		b->files = fs;
	}
	if (!ret)
		ret = lading_reader_walk(r, walk_entry, &w, err);
	if (ret) {
		unmap(slots, nslots, fs);	/* no half map */
		fill_files_free(fs);
		return ret;
	}
	*out = fs;
	return 0;
}

void fill_files_free(struct fill_files *fs)
{
	if (!fs)
		return;
	free(fs->names);
	free(fs->files);
	free(fs->seq);
	free(fs);
}

const char *fill_files_path(const struct fill_blob *b, size_t k)
{
	const struct fill_files *fs = b->files;
	uint32_t s;

	if (!fs || k >= b->toc.count || (s = b->ref[k]) == FILL_NO_FILE)
		return NULL;
	return fs->names + fs->files[fs->seq[s].file].name;
}

void fill_files_attach(struct fill_engine *e, struct lading_reader *r,
		       struct fill_blob *const *slots, size_t nslots,
		       const struct lading_log *log)
{
	struct lading_error err = { 0 };
	struct fill_files *fs;
	int ret = fill_files_build(r, slots, nslots, &fs, &err);

	if (!ret && fill_engine_add_files(e, fs)) {
		unmap(slots, nslots, fs);
		fill_files_free(fs);
		ret = lading_error_set(&err, ENOMEM, "out of memory");
	}
	if (ret)
		lading_log_msg(log, LADING_LOG_WARN, "no file map (no readahead, "
			       "no paths in traces): %s", lading_error_message(&err, ret));
}
