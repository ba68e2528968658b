// SPDX-License-Identifier: MIT
/*
 * Tar source over libarchive: any compression it detects, ustar/PAX/GNU
 * formats.  Entries are applied in order the way tar extracts them: a later
 * entry replaces an earlier one at the same path (a directory over a
 * directory only updates its metadata), hardlinks name earlier entries.
 *
 * Where the archive ends follows Go's archive/tar (containerd, Docker,
 * podman, umoci, skopeo): the input may stop after any entry, inside its
 * padding, or after one zero block; stopping inside an entry's data or a
 * header block is an error, as is a zero block followed by anything but a
 * second one.  libarchive insists on the padding, so the reader callback
 * supplies the zeros of an unpadded last block after the input's end, and
 * the positions libarchive reads from tell whether they were taken as
 * padding or as something else.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <lading/format.h>
#include "internal.h"

/* POSIX ACL xattr encoding (include/uapi/linux/posix_acl_xattr.h) */
#define ACL_XATTR_VERSION 2
#define ACL_TAG_USER_OBJ 0x01
#define ACL_TAG_USER 0x02
#define ACL_TAG_GROUP_OBJ 0x04
#define ACL_TAG_GROUP 0x08
#define ACL_TAG_MASK 0x10
#define ACL_TAG_OTHER 0x20
#define ACL_UNDEFINED_ID 0xffffffffu

/* One entry of the kernel's posix_acl_xattr form: le16 tag, le16 perm, le32 id. */
#define ACL_XATTR_ENTRY_SIZE 8u

/* An entry in host order, sorted before it is encoded. */
struct acl_xattr_entry {
	uint16_t tag;
	uint16_t perm;
	uint32_t id;
};

#define TAR_BLOCK 512u

struct tar_reader {
	struct source_ctx *ctx;
	struct archive *a;
	struct input_stream *in;
	const char *name;	/* for messages: the path or "stdin" */
	uint64_t real;		/* tar bytes the input handed to libarchive */
	bool in_end;		/* the input has ended */
	uint32_t pad;		/* zeros supplied after it, to a block boundary */
	uint64_t entry_end;	/* where the last entry's data and padding end */
	bool in_failed;		/* the input (decompression, read) failed */
};

static const uint8_t zero_block[TAR_BLOCK];

static la_ssize_t tar_read_cb(struct archive *a, void *ud, const void **buf)
{
	struct tar_reader *t = ud;
	ssize_t n;

	if (t->in_end)
		return 0;
	n = input_read(t->in, buf, t->ctx->err);
	if (n < 0) {
		t->in_failed = true;
		archive_set_error(a, (int)-n, "%s",
				  lading_error_message(t->ctx->err, (int)n));
		return -1;
	}
	if (n > 0) {
		t->real += (uint64_t)n;
		return n;
	}
	t->in_end = true;
	t->pad = (uint32_t)(-t->real & (TAR_BLOCK - 1));
	*buf = zero_block;
	return t->pad;
}

/* Bytes libarchive has consumed: where it reads next. */
static uint64_t tar_pos(const struct tar_reader *t)
{
	return (uint64_t)archive_filter_bytes(t->a, 0);
}

static uint64_t input_progress(const struct tar_reader *t)
{
	return input_raw_bytes(t->in);
}

static int tar_fail(struct tar_reader *t, const char *entry, const char *what)
{
	const char *why = archive_error_string(t->a);

	/*
	 * the input's own failure is the reason, whatever libarchive was at
	 * (decoding runs ahead: the entry being read need not be the one);
	 * input_read() has set it
	 */
	if (t->in_failed)
		return lading_error_set(t->ctx->err, EIO, "%s: input error",
					t->name);

	if (entry)
		return lading_error_set(t->ctx->err, EINVAL, "%s: entry '%s': %s%s%s",
					t->name, entry, what, why ? ": " : "",
					why ? why : "");
	return lading_error_set(t->ctx->err, EINVAL, "%s: %s%s%s", t->name, what,
				why ? ": " : "", why ? why : "");
}

static int tar_truncated(struct tar_reader *t, const char *entry,
			 uint64_t size)
{
	return lading_error_set(t->ctx->err, EIO, "%s: entry '%s': the archive "
				"ends inside its data (%llu bytes declared)",
				t->name, entry, (unsigned long long)size);
}

/*
 * The next block of an entry's data (*end false), or its end (*end true):
 * 0 or -errno.  A block that reaches past the input's end is data cut
 * short, not padding (Go: io.ErrUnexpectedEOF); so is an end libarchive
 * meets inside the data.
 */
static int data_block(struct tar_reader *t, const char *path, uint64_t size,
		      const void **buf, size_t *len, la_int64_t *off, bool *end)
{
	int r = archive_read_data_block(t->a, buf, len, off);

	*end = r == ARCHIVE_EOF;
	if (*end)
		return 0;
	if (r == ARCHIVE_OK || r == ARCHIVE_WARN) {
		if (tar_pos(t) + *len > t->real)
			return tar_truncated(t, path, size);
		if (*off < 0)
			return tar_fail(t, path, "bad data offset");
		return 0;
	}
	if (t->in_end && tar_pos(t) >= t->real)
		return tar_truncated(t, path, size);
	return tar_fail(t, path, "reading data");
}

/*
 * Reads what is left of an entry's data (all of it for entries whose
 * data lading does not keep), so its end is checked like any other.
 */
static int skip_entry_data(struct tar_reader *t, struct archive_entry *e)
{
	const char *path = archive_entry_pathname(e);
	uint64_t size = archive_entry_size_is_set(e) && archive_entry_size(e) > 0 ?
			(uint64_t)archive_entry_size(e) : 0;
	const void *buf;
	size_t len;
	la_int64_t off;
	bool end = false;
	int r = 0;

	while (!r && !end)
		r = data_block(t, path ? path : "?", size, &buf, &len, &off, &end);
	if (!r)
		t->entry_end = tar_pos(t);
	return r;
}

/*
 * At libarchive's end of archive, position q: Go's rule on what may
 * follow the last entry (ending at p), given the stream's whole length.
 * Nothing, or part of the padding: q == p.  One zero block: then the
 * end.  Two: anything after them is ignored.
 */
static int check_archive_end(struct tar_reader *t, uint64_t q)
{
	uint64_t p = t->entry_end, len = input_out_bytes(t->in);

	if (q == p || (q == p + TAR_BLOCK ? len == q : len >= q))
		return 0;
	if (len < q)
		return lading_error_set(t->ctx->err, EIO, "%s: the archive ends "
					"inside a header block", t->name);
	return lading_error_set(t->ctx->err, EINVAL, "%s: a zero block after "
				"the last entry is followed by data, not by a "
				"second zero block", t->name);
}

static int acl_tag(int ae_tag)
{
	switch (ae_tag) {
	case ARCHIVE_ENTRY_ACL_USER_OBJ: return ACL_TAG_USER_OBJ;
	case ARCHIVE_ENTRY_ACL_USER: return ACL_TAG_USER;
	case ARCHIVE_ENTRY_ACL_GROUP_OBJ: return ACL_TAG_GROUP_OBJ;
	case ARCHIVE_ENTRY_ACL_GROUP: return ACL_TAG_GROUP;
	case ARCHIVE_ENTRY_ACL_MASK: return ACL_TAG_MASK;
	case ARCHIVE_ENTRY_ACL_OTHER: return ACL_TAG_OTHER;
	default: return -1;
	}
}

static int acl_entry_cmp(const void *a, const void *b)
{
	const struct acl_xattr_entry *x = a, *y = b;

	if (x->tag != y->tag)
		return x->tag < y->tag ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* libarchive's parsed POSIX.1e ACL of one type -> the kernel xattr form. */
static int add_acl_xattr(struct tar_reader *t, struct archive_entry *e,
			 struct lading_inode *ino, int type, const char *xname,
			 const char *path)
{
	int count = archive_entry_acl_reset(e, type), etype, perm, tag, id, n = 0;
	struct acl_xattr_entry *ents;
	const char *uname;
	uint8_t *buf;
	size_t len, i;
	int ret;

	if (count <= 0)
		return 0;
	ents = calloc((size_t)count, sizeof(*ents));
	if (!ents)
		return -ENOMEM;
	while (n < count &&
	       archive_entry_acl_next(e, type, &etype, &perm, &tag, &id,
				      &uname) == ARCHIVE_OK) {
		int k = acl_tag(tag);

		if (k < 0)
			continue;
		ents[n].tag = (uint16_t)k;
		ents[n].perm = (uint16_t)(perm & 7);
		ents[n].id = (k == ACL_TAG_USER || k == ACL_TAG_GROUP) ?
			(uint32_t)id : ACL_UNDEFINED_ID;
		n++;
	}
	qsort(ents, (size_t)n, sizeof(*ents), acl_entry_cmp);
	/*
	 * libarchive folds "group::" of the ACL into the mode, but with a
	 * mask the kernel keeps the mask in the group bits (as the tar
	 * header did): restore that.
	 */
	if (type == ARCHIVE_ENTRY_ACL_TYPE_ACCESS) {
		for (i = 0; i < (size_t)n; i++)
			if (ents[i].tag == ACL_TAG_MASK)
				ino->mode = (ino->mode & ~070u) |
					    ((uint32_t)ents[i].perm << 3);
	}
	len = 4 + (size_t)n * ACL_XATTR_ENTRY_SIZE;
	buf = malloc(len);
	if (!buf) {
		free(ents);
		return -ENOMEM;
	}
	buf[0] = ACL_XATTR_VERSION;
	buf[1] = buf[2] = buf[3] = 0;
	for (i = 0; i < (size_t)n; i++) {
		uint8_t *at = buf + 4 + i * ACL_XATTR_ENTRY_SIZE;
		lading_le16 le_tag = lading_cpu_to_le16(ents[i].tag);
		lading_le16 le_perm = lading_cpu_to_le16(ents[i].perm);
		lading_le32 le_id = lading_cpu_to_le32(ents[i].id);

		memcpy(at, &le_tag, sizeof(le_tag));
		memcpy(at + 2, &le_perm, sizeof(le_perm));
		memcpy(at + 4, &le_id, sizeof(le_id));
	}
	ret = n ? source_add_xattr(t->ctx, ino, xname, buf, len, t->name, path) : 0;
	free(buf);
	free(ents);
	return ret;
}

static int read_entry_xattrs(struct tar_reader *t, struct archive_entry *e,
			     struct lading_inode *ino, const char *path)
{
	const char *name;
	const void *value;
	size_t size;
	int ret;

	ret = add_acl_xattr(t, e, ino, ARCHIVE_ENTRY_ACL_TYPE_ACCESS,
			    "system.posix_acl_access", path);
	if (!ret)
		ret = add_acl_xattr(t, e, ino, ARCHIVE_ENTRY_ACL_TYPE_DEFAULT,
				    "system.posix_acl_default", path);
	if (ret)
		return ret;
	/* explicit xattrs come last so they win over a parsed ACL */
	archive_entry_xattr_reset(e);
	while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
		ret = source_add_xattr(t->ctx, ino, name, value, size, t->name, path);
		if (ret)
			return ret;
	}
	return 0;
}

static void entry_metadata(struct lading_inode *ino, struct archive_entry *e)
{
	ino->mode = archive_entry_filetype(e) | (archive_entry_perm(e) & 07777);
	ino->uid = (uint32_t)archive_entry_uid(e);
	ino->gid = (uint32_t)archive_entry_gid(e);
	ino->mtime = archive_entry_mtime(e);
	ino->mtime_nsec = archive_entry_mtime_is_set(e) ?
		(uint32_t)archive_entry_mtime_nsec(e) : 0;
	if (S_ISCHR(ino->mode) || S_ISBLK(ino->mode)) {
		ino->rdev_major = (uint32_t)archive_entry_rdevmajor(e);
		ino->rdev_minor = (uint32_t)archive_entry_rdevminor(e);
	}
}

/* A directory entry over an existing directory: take its metadata only. */
static void take_metadata(struct lading_inode *dst, struct lading_inode *src)
{
	struct lading_xattr *x = dst->xattrs;
	uint32_t nx = dst->nxattrs;

	dst->mode = src->mode;
	dst->uid = src->uid;
	dst->gid = src->gid;
	dst->mtime = src->mtime;
	dst->mtime_nsec = src->mtime_nsec;
	dst->xattrs = src->xattrs;
	dst->nxattrs = src->nxattrs;
	src->xattrs = x;
	src->nxattrs = nx;
}

static int place_inode(struct tar_reader *t, const char *path,
		       struct lading_inode *ino)
{
	struct source_ctx *ctx = t->ctx;
	struct lading_inode tmpl = {
		.mode = S_IFDIR | ctx->params->implicit_dir_mode,
		.mtime = ctx->params->implicit_mtime,
	};
	struct lading_inode *parent;
	struct lading_dentry *d;
	const char *name;
	size_t nl;
	int ret;

	if (!*path) {
		if (!S_ISDIR(ino->mode))
			return lading_error_set(ctx->err, EINVAL,
				"%s: root entry is not a directory", t->name);
		take_metadata(lading_tree_root(ctx->tree), ino);
		return 0;
	}
	ret = lading_tree_walk_parent(ctx->tree, path, &tmpl, &parent, &name,
				      &nl);
	if (ret == -ENOTDIR)
		return lading_error_set(ctx->err, ENOTDIR,
			"%s: entry '%s': a parent is not a directory", t->name,
			path);
	if (ret)
		return lading_error_set(ctx->err, -ret, "%s: entry '%s': %s",
					t->name, path, strerror(-ret));
	d = lading_tree_lookup(ctx->tree, parent, name, nl);
	if (d) {
		if (d->inode == ino)
			return 0;
		if (S_ISDIR(d->inode->mode) && S_ISDIR(ino->mode)) {
			take_metadata(d->inode, ino);
			d->layer = ctx->params->layer;
			return 0;
		}
		ctx->stats->replaced++;
		lading_tree_unlink(ctx->tree, parent, name, nl);
	}
	ret = lading_tree_link(ctx->tree, parent, name, nl, ino);
	if (ret)
		return lading_error_set(ctx->err, -ret, "%s: entry '%s': %s",
					t->name, path, strerror(-ret));
	lading_tree_lookup(ctx->tree, parent, name, nl)->layer = ctx->params->layer;
	return 0;
}

/* ---- OCI whiteouts ---------------------------------------------------- */

#define WHITEOUT_PREFIX ".wh."
#define WHITEOUT_META_PREFIX ".wh..wh."
#define WHITEOUT_OPAQUE ".wh..wh..opq"

/*
 * An opaque directory keeps only what this layer's tar listed (at any
 * depth below it); everything lower layers put there goes.  This is
 * containerd's rule: it removes every path under the directory that the
 * layer did not unpack, whatever the order of the entries.
 */
static int apply_opaque(struct tar_reader *t, const char *path)
{
	struct source_ctx *ctx = t->ctx;
	struct lading_inode tmpl = {
		.mode = S_IFDIR | ctx->params->implicit_dir_mode,
		.mtime = ctx->params->implicit_mtime,
	};
	struct lading_inode *dir;
	const char *name;
	size_t nl;
	int ret;

	ret = lading_tree_walk_parent(ctx->tree, path, &tmpl, &dir, &name, &nl);
	if (ret)
		return lading_error_set(ctx->err, -ret, "%s: whiteout '%s': %s",
					t->name, path, ret == -ENOTDIR ?
					"a parent is not a directory" : strerror(-ret));
	if (lading_tree_prune_layer(ctx->tree, dir, ctx->params->layer))
		return -ENOMEM;
	ctx->stats->opaque_dirs++;
	return 0;
}

/* ".wh.NAME": NAME goes, if it is there (containerd removes it as met). */
static int apply_named_whiteout(struct tar_reader *t, const char *path,
				const char *base)
{
	struct source_ctx *ctx = t->ctx;
	const char *name = base + strlen(WHITEOUT_PREFIX);
	size_t nl = strlen(name);
	struct lading_inode *dir;
	char *dir_path;

	if (!strncmp(base, WHITEOUT_META_PREFIX, strlen(WHITEOUT_META_PREFIX)))
		return 0;	/* other aufs metadata: ignored, never shown */
	if (!nl || !strcmp(name, ".") || !strcmp(name, ".."))
		return lading_error_set(ctx->err, EINVAL, "%s: bad whiteout '%s'",
					t->name, path);
	dir_path = strndup(path, base == path ? 0 : (size_t)(base - path) - 1);
	if (!dir_path)
		return -ENOMEM;
	dir = lading_tree_lookup_path(ctx->tree, dir_path);
	free(dir_path);
	if (dir && S_ISDIR(dir->mode) &&
	    !lading_tree_unlink(ctx->tree, dir, name, nl))
		ctx->stats->whiteouts++;
	return 0;
}

/* Applies a whiteout entry; *handled is false for ordinary names. */
static int apply_whiteout(struct tar_reader *t, const char *path,
			  bool *handled)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	*handled = t->ctx->params->layer &&
		   !strncmp(base, WHITEOUT_PREFIX, strlen(WHITEOUT_PREFIX));
	if (!*handled)
		return 0;
	if (!strcmp(base, WHITEOUT_OPAQUE))
		return apply_opaque(t, path);
	return apply_named_whiteout(t, path, base);
}

/*
 * In place: the file's chunks address its data inside the tar stream,
 * which must be one contiguous run (not a sparse entry) at a block
 * boundary of the image.
 */
static int read_entry_in_place(struct tar_reader *t, struct lading_inode *ino,
			       uint64_t size, const char *path)
{
	const struct lading_source_params *p = t->ctx->params;
	uint64_t start = 0, next = 0, nchunks, i;
	bool end = false;

	ino->size = size;
	t->ctx->stats->bytes += size;
	while (!end) {
		const void *buf;
		size_t len;
		la_int64_t off;
		int r = data_block(t, path, size, &buf, &len, &off, &end);

		if (r)
			return r;
		if (end || !len)
			continue;
		if (!next)
			start = tar_pos(t) - (uint64_t)off;
		if ((uint64_t)off != next || tar_pos(t) != start + next)
			return lading_error_set(t->ctx->err, EINVAL,
				"%s: entry '%s': sparse data cannot be addressed "
				"in the tar stream", t->name, path);
		next += len;
	}
	if (next != size)
		return lading_error_set(t->ctx->err, EINVAL,
			"%s: entry '%s': sparse data cannot be addressed in the "
			"tar stream", t->name, path);
	nchunks = (size + p->in_place_chunk - 1) / p->in_place_chunk;
	if (start & ((1u << p->in_place_blkbits) - 1) ||
	    (start + size - 1) >> p->in_place_blkbits >= EROFS_NULL_ADDR)
		return lading_error_set(t->ctx->err, EFBIG,
			"%s: entry '%s': data at offset %llu cannot be addressed "
			"in %u-byte blocks", t->name, path,
			(unsigned long long)start, 1u << p->in_place_blkbits);
	ino->chunks = calloc(nchunks, sizeof(*ino->chunks));
	if (!ino->chunks)
		return -ENOMEM;
	for (i = 0; i < nchunks; i++) {
		ino->chunks[i].device_id = p->in_place_device;
		ino->chunks[i].blkaddr = (uint32_t)((start + i * p->in_place_chunk) >>
						    p->in_place_blkbits);
	}
	ino->nchunks = (uint32_t)nchunks;
	lading_progress_update(p->progress, input_progress(t), path);
	return 0;
}

static int read_entry_data(struct tar_reader *t, struct lading_inode *ino,
			   uint64_t size, const char *path)
{
	struct file_sink fs;
	int ret;

	if (t->ctx->params->in_place_device && size > t->ctx->params->inline_max)
		return read_entry_in_place(t, ino, size, path);
	ret = file_sink_begin(&fs, t->ctx, ino, size);

	while (!ret) {
		const void *buf;
		size_t len;
		la_int64_t off;
		bool end;
		int r = data_block(t, path, size, &buf, &len, &off, &end);

		if (r)
			return r;
		if (end)
			break;
		ret = file_sink_data(&fs, (uint64_t)off, buf, len);
		lading_progress_update(t->ctx->params->progress,
				       input_progress(t), path);
		if (ret == -EIO)
			return lading_error_set(t->ctx->err, EIO,
				"%s: entry '%s': data beyond its declared size",
				t->name, path);
	}
	if (!ret)
		ret = file_sink_end(&fs);
	if (ret)
		return lading_error_set(t->ctx->err, -ret, "%s: entry '%s': %s",
					t->name, path, strerror(-ret));
	return 0;
}

static int link_entry(struct tar_reader *t, const char *path,
		      const char *target_raw)
{
	struct source_ctx *ctx = t->ctx;
	struct lading_inode *target;
	char *tpath = strdup(target_raw);

	if (!tpath)
		return -ENOMEM;
	if (lading_path_normalize(tpath) < 0) {
		free(tpath);
		return lading_error_set(ctx->err, EINVAL,
			"%s: entry '%s': hardlink target '%s' escapes the root",
			t->name, path, target_raw);
	}
	target = lading_tree_lookup_path(ctx->tree, tpath);
	free(tpath);
	if (!target)
		return lading_error_set(ctx->err, ENOENT,
			"%s: entry '%s': hardlink target '%s' does not exist",
			t->name, path, target_raw);
	if (S_ISDIR(target->mode))
		return lading_error_set(ctx->err, EPERM,
			"%s: entry '%s': hardlink to directory '%s'",
			t->name, path, target_raw);
	ctx->stats->hardlinks++;
	return place_inode(t, path, target);
}

static int new_entry(struct tar_reader *t, struct archive_entry *e,
		     const char *path)
{
	struct source_ctx *ctx = t->ctx;
	struct lading_inode *ino;
	uint32_t type = archive_entry_filetype(e);
	int ret = 0;

	switch (type) {
	case AE_IFREG: case AE_IFDIR: case AE_IFLNK: case AE_IFCHR:
	case AE_IFBLK: case AE_IFIFO: case AE_IFSOCK:
		break;
	default:
		return lading_error_set(ctx->err, EINVAL,
			"%s: entry '%s': unsupported file type 0%o", t->name,
			path, type);
	}
	ino = lading_inode_new(type);
	if (!ino)
		return -ENOMEM;
	entry_metadata(ino, e);
	source_count_type(ctx, ino->mode);
	if (S_ISLNK(ino->mode)) {
		const char *target = archive_entry_symlink(e);

		if (!target || !*target)
			ret = lading_error_set(ctx->err, EINVAL,
				"%s: entry '%s': symlink without a target",
				t->name, path);
		else if (strlen(target) >= 4096)
			ret = lading_error_set(ctx->err, ENAMETOOLONG,
				"%s: entry '%s': symlink target longer than 4095 bytes",
				t->name, path);
		else if (!(ino->symlink = strdup(target)))
			ret = -ENOMEM;
		else
			ino->size = strlen(target);
	}
	if (!ret)
		ret = read_entry_xattrs(t, e, ino, path);
	if (!ret && S_ISREG(ino->mode)) {
		la_int64_t size = archive_entry_size_is_set(e) ?
				  archive_entry_size(e) : 0;

		ret = size < 0 ? lading_error_set(ctx->err, EINVAL,
				"%s: entry '%s': negative size", t->name, path) :
			read_entry_data(t, ino, (uint64_t)size, path);
	}
	if (!ret)
		ret = place_inode(t, path, ino);
	lading_tree_inode_put(ctx->tree, ino);
	return ret;
}

static int handle_entry(struct tar_reader *t, struct archive_entry *e)
{
	struct source_ctx *ctx = t->ctx;
	const char *raw = archive_entry_pathname(e);
	const char *link = archive_entry_hardlink(e);
	char *path;
	int ret;

	if (!raw)
		raw = archive_entry_pathname_utf8(e);
	if (!raw)
		return tar_fail(t, NULL, "entry with an unreadable name");
	path = strdup(raw);
	if (!path)
		return -ENOMEM;
	ctx->stats->entries++;
	if (lading_path_normalize(path) < 0) {
		ret = lading_error_set(ctx->err, EINVAL,
			"%s: entry '%s': name is absolute or contains '..'",
			t->name, raw);
	} else {
		bool whiteout = false;

		ret = apply_whiteout(t, path, &whiteout);
		if (!ret && !whiteout)
			ret = link ? link_entry(t, path, link) : new_entry(t, e, path);
	}
	free(path);
	return ret;
}

static int open_archive(struct tar_reader *t)
{
	const struct lading_source_params *p = t->ctx->params;
	int ret = input_open(&t->in, p->path, t->name, p->read, p->read_ud,
			     p->expected_sha256 || p->want_sha256,
			     p->expected_diff_id, t->ctx->err);

	if (ret)
		return ret;
	t->a = archive_read_new();
	if (!t->a)
		return -ENOMEM;
	/* decompression happened below: only tar formats here */
	archive_read_support_format_tar(t->a);
	archive_read_support_format_gnutar(t->a);
	archive_read_support_format_empty(t->a);
	if (archive_read_open(t->a, t, NULL, tar_read_cb, NULL) != ARCHIVE_OK)
		return tar_fail(t, NULL, "not a tar archive");
	return 0;
}

/*
 * Reads the compressed stream to its end (its own checks) and the raw
 * bytes to theirs (the digest a manifest promised); then what follows
 * the last entry (q: where libarchive saw the end) and the decompressed
 * stream's digest (the config's diff_id).
 */
static int finish_input(struct tar_reader *t, uint64_t q)
{
	const struct lading_source_params *p = t->ctx->params;
	struct lading_source_stats *st = t->ctx->stats;
	const char *want = p->expected_sha256;
	int ret = input_drain(t->in, t->ctx->err);

	if (ret)
		return ret;
	ret = input_raw_digest(t->in, st->raw_sha256);
	if (!ret)
		ret = input_out_digest(t->in, st->diff_sha256);
	if (ret)
		return lading_error_set(t->ctx->err, EIO, "%s: digest failed", t->name);
	st->raw_bytes = input_raw_bytes(t->in);
	st->tar_bytes = input_out_bytes(t->in);
	if (want && strcmp(want, st->raw_sha256))
		return lading_error_set(t->ctx->err, EBADMSG,
			"%s: digest mismatch: sha256:%s, expected sha256:%s",
			t->name, st->raw_sha256, want);
	ret = check_archive_end(t, q);
	if (ret)
		return ret;
	if (p->expected_diff_id && strcmp(p->expected_diff_id, st->diff_sha256))
		return lading_error_set(t->ctx->err, EBADMSG,
			"%s: layer %u: uncompressed digest sha256:%s does not "
			"match the config's rootfs.diff_ids entry sha256:%s",
			t->name, p->layer, st->diff_sha256, p->expected_diff_id);
	return 0;
}

/* A header libarchive could not read: cut short, or malformed. */
static int header_failed(struct tar_reader *t)
{
	if (t->in_end && (tar_pos(t) > t->real || !archive_error_string(t->a)))
		return lading_error_set(t->ctx->err, EIO, "%s: the archive ends "
					"inside a header block", t->name);
	return tar_fail(t, NULL, "malformed archive");
}

int source_load_tar(struct source_ctx *ctx)
{
	struct tar_reader t = {
		.ctx = ctx,
		.name = ctx->params->name ? ctx->params->name :
			!strcmp(ctx->params->path, "-") ? "stdin" : ctx->params->path,
	};
	struct lading_inode *root = lading_tree_root(ctx->tree);
	int ret;

	ctx->progress_by_input = true;
	/*
	 * a tar without a "." entry gets the implicit-directory defaults;
	 * an upper layer keeps what the lower ones said
	 */
	if (ctx->params->layer <= 1) {
		root->mode = S_IFDIR | ctx->params->implicit_dir_mode;
		root->mtime = ctx->params->implicit_mtime;
	}
	ret = open_archive(&t);
	while (!ret) {
		struct archive_entry *e;
		int r = archive_read_next_header(t.a, &e);

		if (r == ARCHIVE_EOF) {
			ret = finish_input(&t, tar_pos(&t));
			break;
		}
		if (r == ARCHIVE_WARN) {
			lading_log_msg(ctx->params->log, LADING_LOG_WARN, "%s: %s",
				       t.name, archive_error_string(t.a));
		} else if (r != ARCHIVE_OK) {
			ret = header_failed(&t);
			break;
		}
		if (tar_pos(&t) > t.real) {
			ret = lading_error_set(ctx->err, EIO, "%s: the archive "
					       "ends inside a header block", t.name);
			break;
		}
		ret = handle_entry(&t, e);
		if (!ret)
			ret = skip_entry_data(&t, e);
		lading_progress_update(ctx->params->progress,
				       input_progress(&t), NULL);
	}
	if (t.a) {
		if (!ret && archive_read_close(t.a) != ARCHIVE_OK)
			ret = tar_fail(&t, NULL, "closing");
		archive_read_free(t.a);
	}
	input_close(t.in);
	if (ret == -ENOMEM)
		lading_error_set(ctx->err, ENOMEM, "out of memory");
	return ret;
}
