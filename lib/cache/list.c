// SPDX-License-Identifier: MIT
/*
 * What a cache directory holds: its images (bootstraps, and the references
 * lading_resolve recorded for them) and their blobs, each blob once even
 * when images share it, with apparent and allocated sizes and whether it
 * is complete.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <lading/cache.h>
#include <lading/format.h>
#include <lading/store.h>
#include <lading/cachefiles.h>
#include <lading/util.h>

#define RECORD_DIR ".lading-refs"
#define RECORD_MAX (1u << 20)

struct lister {
	const char *dir;
	struct lading_cache_listing *l;
	struct lading_error *err;
	char **volumes;			/* cachefiles: the volume keys */
	size_t nvolumes;
};

void lading_cache_listing_free(struct lading_cache_listing *l)
{
	size_t i, j;

	for (i = 0; i < l->nimages; i++) {
		for (j = 0; j < l->images[i].nrefs; j++)
			free(l->images[i].refs[j]);
		free(l->images[i].refs);
		free(l->images[i].blobs);
		free(l->images[i].bootstrap_path);
	}
	for (i = 0; i < l->nblobs; i++)
		free(l->blobs[i].path);
	free(l->images);
	free(l->blobs);
	memset(l, 0, sizeof(*l));
}

static bool is_hex_name(const char *s)
{
	return strlen(s) == LADING_DIGEST_HEX_LEN && !lading_digest_parse(s, NULL);
}

/* A regular file that starts like an EROFS image (the superblock magic). */
static bool looks_like_bootstrap(const char *path)
{
	uint8_t b[4];
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	bool ok = false;

	if (fd < 0)
		return false;
	if (!fstat(fd, &st) && S_ISREG(st.st_mode) &&
	    !lading_pread_full(fd, b, sizeof(b), EROFS_SUPER_OFFSET))
		ok = ((uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
		      (uint32_t)b[3] << 24) == EROFS_SUPER_MAGIC;
	close(fd);
	return ok;
}

static struct lading_cache_image_info *image_for(struct lister *ls, const char *id)
{
	struct lading_cache_listing *l = ls->l;
	struct lading_cache_image_info *n;
	size_t i;

	for (i = 0; i < l->nimages; i++)
		if (!strcmp(l->images[i].bootstrap_id, id))
			return &l->images[i];
	n = realloc(l->images, (l->nimages + 1) * sizeof(*n));
	if (!n)
		return NULL;
	l->images = n;
	n = &l->images[l->nimages++];
	memset(n, 0, sizeof(*n));
	snprintf(n->bootstrap_id, sizeof(n->bootstrap_id), "%s", id);
	return n;
}

static int add_ref(struct lading_cache_image_info *im, const char *ref)
{
	char **n = realloc(im->refs, (im->nrefs + 1) * sizeof(*n));

	if (!n)
		return -ENOMEM;
	im->refs = n;
	im->refs[im->nrefs] = strdup(ref);
	return im->refs[im->nrefs++] ? 0 : -ENOMEM;
}

/* The records of lading_resolve: which references name which bootstrap. */
static int read_records(struct lister *ls)
{
	char *dir = lading_path_join(ls->dir, RECORD_DIR);
	DIR *d = dir ? opendir(dir) : NULL;
	struct dirent *de;
	int ret = dir ? 0 : -ENOMEM;

	while (!ret && d && (de = readdir(d))) {
		char *path;
		json_t *o;
		const char *ref, *bd;
		struct stat st;

		if (de->d_name[0] == '.' || !strstr(de->d_name, ".json"))
			continue;
		path = lading_path_join(dir, de->d_name);
		if (!path) {
			ret = -ENOMEM;
			break;
		}
		o = !lstat(path, &st) && S_ISREG(st.st_mode) && st.st_size <= RECORD_MAX ?
		    json_load_file(path, 0, NULL) : NULL;
		free(path);
		ref = json_string_value(json_object_get(o, "reference"));
		bd = json_string_value(json_object_get(o, "bootstrap_digest"));
		if (ref && bd && !strncmp(bd, LADING_DIGEST_PREFIX, 7) && is_hex_name(bd + 7)) {
			struct lading_cache_image_info *im = image_for(ls, bd + 7);

			ret = im ? add_ref(im, ref) : -ENOMEM;
		}
		json_decref(o);
	}
	if (d)
		closedir(d);
	free(dir);
	return ret ? lading_error_set(ls->err, -ret, "%s: %s", ls->dir,
				      strerror(-ret)) : 0;
}

/* Bootstraps in the directory itself (also those prepared from a path). */
static int scan_bootstraps(struct lister *ls)
{
	DIR *d = opendir(ls->dir);
	struct dirent *de;
	int ret = 0;

	if (!d)
		return lading_error_set(ls->err, errno, "%s: %s", ls->dir, strerror(errno));
	while (!ret && (de = readdir(d))) {
		char *path;

		if (!is_hex_name(de->d_name))
			continue;
		path = lading_path_join(ls->dir, de->d_name);
		if (!path)
			ret = lading_error_set(ls->err, ENOMEM, "out of memory");
		else if (looks_like_bootstrap(path) && !image_for(ls, de->d_name))
			ret = lading_error_set(ls->err, ENOMEM, "out of memory");
		free(path);
	}
	closedir(d);
	return ret;
}

/*
 * cachefiles: a bootstrap object (cookie key = the fsid) is found by its
 * EROFS magic among a volume's objects, and named by its sha256.
 */
static int scan_volume_objects(struct lister *ls, const char *vdir)
{
	DIR *d = opendir(vdir), *sub;
	struct dirent *de, *oe;
	int ret = 0;

	while (!ret && d && (de = readdir(d))) {
		char *fan;

		if (de->d_name[0] != '@')
			continue;
		fan = lading_path_join(vdir, de->d_name);
		sub = fan ? opendir(fan) : NULL;
		while (!ret && sub && (oe = readdir(sub))) {
			struct lading_cache_image_info *im;
			struct lading_digest dg;
			char hex[LADING_DIGEST_HEX_LEN + 1], *path;
			uint64_t bytes = 0;
			int fd;

			if (oe->d_name[0] == '.')
				continue;
			path = lading_path_join(fan, oe->d_name);
			if (!path) {
				ret = -ENOMEM;
				break;
			}
			fd = looks_like_bootstrap(path) ?
			     open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) : -1;
			if (fd >= 0 && !lading_sha256_fd(fd, &dg, &bytes)) {
				lading_digest_hex(&dg, hex);
				im = image_for(ls, hex);
				if (!im)
					ret = -ENOMEM;
				else if (!im->bootstrap_path) {
					im->bootstrap_path = path;
					path = NULL;
				}
			}
			if (fd >= 0)
				close(fd);
			free(path);
		}
		if (sub)
			closedir(sub);
		free(fan);
	}
	if (d)
		closedir(d);
	return ret;
}

static int scan_volumes(struct lister *ls)
{
	char *cache = lading_path_join(ls->dir, LADING_CACHEFILES_CACHE_DIR);
	DIR *d = cache ? opendir(cache) : NULL;
	struct dirent *de;
	char *vdir;
	int ret = cache ? 0 : -ENOMEM;

	if (!d) {
		free(cache);
		return ret;
	}
	ls->l->layout = LADING_LAYOUT_CACHEFILES;
	while (!ret && (de = readdir(d))) {
		char **n;

		if (de->d_name[0] != 'I')
			continue;
		n = realloc(ls->volumes, (ls->nvolumes + 1) * sizeof(*n));
		if (!n) {
			ret = -ENOMEM;
			break;
		}
		ls->volumes = n;
		ls->volumes[ls->nvolumes] = strdup(de->d_name + 1);
		if (!ls->volumes[ls->nvolumes++]) {
			ret = -ENOMEM;
			break;
		}
		vdir = lading_path_join(cache, de->d_name);
		ret = vdir ? scan_volume_objects(ls, vdir) : -ENOMEM;
		free(vdir);
	}
	closedir(d);
	free(cache);
	return ret;
}

/* The blob's cache file: plain CACHEDIR/<id>, else in a cachefiles volume. */
static char *blob_path(struct lister *ls, const char *id)
{
	char rel[LADING_CACHEFILES_PATH_MAX + 1], *path;
	struct stat st;
	size_t v;

	path = lading_path_join(ls->dir, id);
	if (path && !lstat(path, &st) && S_ISREG(st.st_mode))
		return path;
	free(path);
	for (v = 0; v < ls->nvolumes; v++) {
		if (lading_cachefiles_object_path(ls->volumes[v], id, strlen(id), rel,
						  sizeof(rel)) < 0)
			continue;
		path = lading_path_join(ls->dir, rel);
		if (path && !lstat(path, &st) && S_ISREG(st.st_mode))
			return path;
		free(path);
	}
	return NULL;
}

static void measure_blob(struct lister *ls, struct lading_cache_blob_info *b,
			 const struct lading_blob_record *rec)
{
	struct lading_toc toc = { 0 };
	char *toc_dir;
	struct stat st;
	size_t k;
	int fd;

	b->path = blob_path(ls, b->id);
	fd = b->path ? open(b->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) : -1;
	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		return;
	}
	b->size = (uint64_t)st.st_size;
	b->allocated = (uint64_t)st.st_blocks * 512u;
	toc_dir = lading_path_join(ls->dir, LADING_TOC_DIR);
	if (rec && !lading_toc_load_kept(toc_dir, b->id, rec, &toc)) {
		b->toc_known = true;
		b->chunks = toc.count;
		for (k = 0; k < toc.count; k++) {
			const struct lading_toc_entry *e = &toc.entries[k];

			if (lading_range_is_data(fd, lading_le64_to_cpu(e->uoff),
						 lading_le32_to_cpu(e->ulen))) {
				b->chunks_present++;
				b->present += lading_le32_to_cpu(e->ulen);
			}
		}
		b->complete = b->chunks_present == b->chunks;
		lading_toc_free(&toc);
	} else {
		/* no ToC kept: complete when not one block is a hole */
		b->complete = !b->size || lading_range_is_data(fd, 0, b->size);
	}
	free(toc_dir);
	close(fd);
}

static int add_blob(struct lister *ls, const char *id,
		    const struct lading_blob_record *rec, size_t *index)
{
	struct lading_cache_listing *l = ls->l;
	struct lading_cache_blob_info *n;
	size_t i;

	for (i = 0; i < l->nblobs; i++) {
		if (!strcmp(l->blobs[i].id, id)) {
			*index = i;
			return 0;
		}
	}
	n = realloc(l->blobs, (l->nblobs + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	l->blobs = n;
	n = &l->blobs[l->nblobs];
	memset(n, 0, sizeof(*n));
	snprintf(n->id, sizeof(n->id), "%s", id);
	measure_blob(ls, n, rec);
	*index = l->nblobs++;
	return 0;
}

/* One image: its bootstrap's size and blobs (a bootstrap not here: none). */
static int measure_image(struct lister *ls, struct lading_cache_image_info *im)
{
	struct lading_reader *rd = NULL;
	struct lading_error e = { 0 };
	struct stat st;
	char *path;
	uint16_t i, n;
	int ret = 0;

	/* plain: CACHEDIR/<id>; cachefiles: the object found, if not there */
	path = lading_path_join(ls->dir, im->bootstrap_id);
	if (!path)
		return -ENOMEM;
	if (!im->bootstrap_path || !lstat(path, &st)) {
		free(im->bootstrap_path);
		im->bootstrap_path = path;
	} else {
		free(path);
	}
	if (lstat(im->bootstrap_path, &st) || !S_ISREG(st.st_mode) ||
	    lading_reader_open_file(&rd, im->bootstrap_path, &e)) {
		free(im->bootstrap_path);
		im->bootstrap_path = NULL;
		return 0;
	}
	im->size = (uint64_t)st.st_size;
	im->allocated = (uint64_t)st.st_blocks * 512u;
	n = lading_reader_nslots(rd);
	im->blobs = calloc(n ? n : 1, sizeof(*im->blobs));
	if (!im->blobs)
		ret = -ENOMEM;
	im->complete = true;
	for (i = 0; !ret && i < n; i++) {
		const struct lading_rslot *s = lading_reader_slot(rd, i + 1);
		size_t idx;

		if (!is_hex_name(s->tag))
			continue;
		ret = add_blob(ls, s->tag, lading_reader_blob_record(rd, i + 1), &idx);
		if (!ret) {
			im->blobs[im->nblobs++] = idx;
			im->complete &= ls->l->blobs[idx].complete;
		}
	}
	lading_reader_close(rd);
	return ret;
}

int lading_cache_list(const char *cache_dir, struct lading_cache_listing *out,
		      struct lading_error *err)
{
	struct lister ls = { .dir = cache_dir, .l = out, .err = err };
	size_t i;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = scan_bootstraps(&ls);
	if (!ret)
		ret = read_records(&ls);
	if (!ret && (ret = scan_volumes(&ls)))
		lading_error_set(err, -ret, "%s: %s", cache_dir, strerror(-ret));
	for (i = 0; !ret && i < out->nimages; i++)
		if ((ret = measure_image(&ls, &out->images[i])))
			lading_error_set(err, -ret, "%s: %s", cache_dir, strerror(-ret));
	for (i = 0; i < ls.nvolumes; i++)
		free(ls.volumes[i]);
	free(ls.volumes);
	if (ret)
		lading_cache_listing_free(out);
	return ret;
}
