// SPDX-License-Identifier: MIT
#include <lading/build_options.h>
/*
#include <lading/build_options.h>
 * Source comparison without mounting: the source is loaded into a tree
#include <lading/build_options.h>
 * whose file data is kept as sha256 digests of 1 MiB windows (nothing is
#include <lading/build_options.h>
 * stored), then every image entry is compared with its source entry as the
#include <lading/build_options.h>
 * walk reaches it; whatever the walk never reached is missing.
#include <lading/build_options.h>
 */
#include <lading/build_options.h>
#include <errno.h>
#include <lading/build_options.h>
#include <stdlib.h>
#include <lading/build_options.h>
#include <string.h>
#include <lading/build_options.h>
#include <sys/stat.h>
#include <lading/build_options.h>
#include "internal.h"
#include <lading/build_options.h>

#include <lading/build_options.h>
int compare_load_source(struct vctx *v)
#include <lading/build_options.h>
{
#include <lading/build_options.h>
	const struct lading_verify_params *p = v->p;
#include <lading/build_options.h>
	struct lading_store_params sp = { .chunk_size = VERIFY_WINDOW,
#include <lading/build_options.h>
					  .blob_dir = "/", .digest_only = true };
#include <lading/build_options.h>
	struct lading_source_params src = {
#include <lading/build_options.h>
		.path = p->source, .type = p->source_type,
#include <lading/build_options.h>
		.layer = p->source_is_layer ? 1 : 0,
#include <lading/build_options.h>
		.log = p->log,
#include <lading/build_options.h>
	};
#include <lading/build_options.h>
	struct lading_source_stats st;
#include <lading/build_options.h>
	int ret;
#include <lading/build_options.h>

#include <lading/build_options.h>
	lading_build_options_source(&p->build, &src);
#include <lading/build_options.h>
	src.inline_max = 0;	/* every file's data is indexed */
#include <lading/build_options.h>

#include <lading/build_options.h>
	v->src = lading_tree_new();
#include <lading/build_options.h>
	if (!v->src)
#include <lading/build_options.h>
		return lading_error_set(v->err, ENOMEM, "out of memory");
#include <lading/build_options.h>
	ret = lading_store_open(&v->src_store, &sp);
#include <lading/build_options.h>
	if (ret)
#include <lading/build_options.h>
		return lading_error_set(v->err, -ret, "cannot set up the source index");
#include <lading/build_options.h>
	ret = compare_source_is_image(p->source) ? compare_load_image(v, &src, &st) :
	      lading_source_load(v->src, v->src_store, &src, &st, v->err);
#include <lading/build_options.h>
	if (ret)
#include <lading/build_options.h>
		return ret;
#include <lading/build_options.h>
	v->r->source_entries = st.entries;
#include <lading/build_options.h>
	if (lading_tree_count_links(v->src))
#include <lading/build_options.h>
		return lading_error_set(v->err, ENOMEM, "out of memory");
#include <lading/build_options.h>
	return 0;
#include <lading/build_options.h>
}
#include <lading/build_options.h>

#include <lading/build_options.h>
/* The build policy lading-mkimage would have applied to a source inode. */
#include <lading/build_options.h>
static void policy(const struct lading_verify_params *p,
#include <lading/build_options.h>
		   const struct lading_inode *s, uint32_t *uid, uint32_t *gid,
#include <lading/build_options.h>
		   int64_t *mtime, uint32_t *nsec)
#include <lading/build_options.h>
{
#include <lading/build_options.h>
	const struct lading_tree_policy *pol = &p->build.policy;
#include <lading/build_options.h>

#include <lading/build_options.h>
	*uid = pol->force_uid >= 0 ? (uint32_t)pol->force_uid : s->uid;
#include <lading/build_options.h>
	*gid = pol->force_gid >= 0 ? (uint32_t)pol->force_gid : s->gid;
#include <lading/build_options.h>
	*mtime = s->mtime;
#include <lading/build_options.h>
	*nsec = pol->keep_nsec ? s->mtime_nsec : 0;
#include <lading/build_options.h>
	if (pol->clamp_mtime && (*mtime > pol->mtime ||
#include <lading/build_options.h>
				 (*mtime == pol->mtime && *nsec))) {
#include <lading/build_options.h>
		*mtime = pol->mtime;
#include <lading/build_options.h>
		*nsec = 0;
#include <lading/build_options.h>
	}
#include <lading/build_options.h>
}
#include <lading/build_options.h>

#include <lading/build_options.h>
struct xattr_cmp {
#include <lading/build_options.h>
	const struct lading_inode *src;
#include <lading/build_options.h>
	uint32_t matched;
#include <lading/build_options.h>
	const char *mismatch;
#include <lading/build_options.h>
	char name[300];
#include <lading/build_options.h>
};
#include <lading/build_options.h>

#include <lading/build_options.h>
static int xattr_check(void *ud, const char *name, const void *value,
#include <lading/build_options.h>
		       size_t len)
#include <lading/build_options.h>
{
#include <lading/build_options.h>
	struct xattr_cmp *c = ud;
#include <lading/build_options.h>
	uint32_t i;
#include <lading/build_options.h>

#include <lading/build_options.h>
	for (i = 0; i < c->src->nxattrs; i++) {
#include <lading/build_options.h>
		const struct lading_xattr *x = &c->src->xattrs[i];
#include <lading/build_options.h>

#include <lading/build_options.h>
		if (strcmp(x->name, name))
#include <lading/build_options.h>
			continue;
#include <lading/build_options.h>
		if (x->len != len || memcmp(x->value, value, len)) {
#include <lading/build_options.h>
			c->mismatch = "differs";
#include <lading/build_options.h>
			snprintf(c->name, sizeof(c->name), "%s", name);
#include <lading/build_options.h>
			return 1;
#include <lading/build_options.h>
		}
#include <lading/build_options.h>
		c->matched++;
#include <lading/build_options.h>
		return 0;
#include <lading/build_options.h>
	}
#include <lading/build_options.h>
	c->mismatch = "only in the image";
#include <lading/build_options.h>
	snprintf(c->name, sizeof(c->name), "%s", name);
#include <lading/build_options.h>
	return 1;
#include <lading/build_options.h>
}
#include <lading/build_options.h>

#include <lading/build_options.h>
/*
#include <lading/build_options.h>
 * Extends *hole_end, the end of the run of image hole chunks known to
#include <lading/build_options.h>
 * cover bytes from pos, by reading chunk indexes only.  Each index is read
#include <lading/build_options.h>
 * about once per file, so a sparse file costs its chunk count, not its size.
#include <lading/build_options.h>
 */
#include <lading/build_options.h>
static int image_holes(struct vctx *v, const struct lading_rinode *ino,
#include <lading/build_options.h>
		       uint64_t pos, uint64_t *hole_end)
#include <lading/build_options.h>
{
#include <lading/build_options.h>
	struct lading_rchunk c;
#include <lading/build_options.h>
	uint64_t k;
#include <lading/build_options.h>
	int ret;
#include <lading/build_options.h>

#include <lading/build_options.h>
	if (ino->layout != EROFS_INODE_CHUNK_BASED)
#include <lading/build_options.h>
		return 0;
#include <lading/build_options.h>
	if (*hole_end > pos)
#include <lading/build_options.h>
		pos = *hole_end;
#include <lading/build_options.h>
	for (k = pos >> ino->chunk_bits; k < ino->nchunks; k++) {
#include <lading/build_options.h>
		ret = lading_reader_chunk(v->reader, ino, k, &c, v->err);
#include <lading/build_options.h>
		if (ret)
#include <lading/build_options.h>
			return ret;
#include <lading/build_options.h>
		if (!c.hole)
#include <lading/build_options.h>
			break;
#include <lading/build_options.h>
		*hole_end = c.offset + c.length;
#include <lading/build_options.h>
	}
#include <lading/build_options.h>
	return 0;
#include <lading/build_options.h>
}
#include <lading/build_options.h>

#include <lading/build_options.h>
static int compare_data(struct vctx *v, const struct lading_rentry *e,
#include <lading/build_options.h>
			const struct lading_inode *s)
#include <lading/build_options.h>
{
#include <lading/build_options.h>
	const struct lading_rinode *ino = e->inode;
#include <lading/build_options.h>
	uint64_t w, nwin = ino->size / VERIFY_WINDOW +
#include <lading/build_options.h>
			   (ino->size % VERIFY_WINDOW != 0);
#include <lading/build_options.h>
	uint64_t hole_end = 0;
#include <lading/build_options.h>
	struct lading_digest d;
#include <lading/build_options.h>
	int ret;
#include <lading/build_options.h>

#include <lading/build_options.h>
	if (nwin != s->nchunks)
#include <lading/build_options.h>
		return 0;	/* sizes differ: already reported */
#include <lading/build_options.h>
	for (w = 0; w < nwin; w++) {
#include <lading/build_options.h>
		uint64_t off = w * VERIFY_WINDOW;
#include <lading/build_options.h>
		size_t n = ino->size - off < VERIFY_WINDOW ?
#include <lading/build_options.h>
			   (size_t)(ino->size - off) : VERIFY_WINDOW;
#include <lading/build_options.h>
		bool src_hole = s->chunks[w].blkaddr == LADING_CHUNK_HOLE;
#include <lading/build_options.h>
		const uint8_t *want;
#include <lading/build_options.h>
		bool zero;
#include <lading/build_options.h>

#include <lading/build_options.h>
		/* holes on both sides: nothing to read */
#include <lading/build_options.h>
		if (hole_end < off + n) {
#include <lading/build_options.h>
			ret = image_holes(v, ino, off, &hole_end);
#include <lading/build_options.h>
			if (ret)
#include <lading/build_options.h>
				return ret;
#include <lading/build_options.h>
		}
#include <lading/build_options.h>
		if (hole_end >= off + n) {
#include <lading/build_options.h>
			if (src_hole)
#include <lading/build_options.h>
				continue;
#include <lading/build_options.h>
			goto differ;	/* source data is never all zeros */
#include <lading/build_options.h>
		}
#include <lading/build_options.h>
		ret = verify_read_file(v, ino, off, v->window, n);
#include <lading/build_options.h>
		if (ret == -ENOENT || ret == -EIO) {
#include <lading/build_options.h>
			verify_problem(v, "/%s: cannot read its data (%s)", e->path,
#include <lading/build_options.h>
				       ret == -ENOENT ? "blob missing" :
#include <lading/build_options.h>
				       "blob truncated or damaged");
#include <lading/build_options.h>
			return 0;
#include <lading/build_options.h>
		}
#include <lading/build_options.h>
		if (ret)
#include <lading/build_options.h>
			return ret;
#include <lading/build_options.h>
		zero = v->window[0] == 0 && !memcmp(v->window, v->window + 1, n - 1);
#include <lading/build_options.h>
		if (src_hole) {
#include <lading/build_options.h>
			if (zero)
#include <lading/build_options.h>
				continue;
#include <lading/build_options.h>
			goto differ;
#include <lading/build_options.h>
		}
#include <lading/build_options.h>
		if (zero)
#include <lading/build_options.h>
			goto differ;
#include <lading/build_options.h>
		want = lading_store_chunk_digest(v->src_store, s->chunks[w].blkaddr);
#include <lading/build_options.h>
		ret = lading_sha256(v->window, n, &d);
#include <lading/build_options.h>
		if (ret)
#include <lading/build_options.h>
			return ret;
#include <lading/build_options.h>
		if (!want || memcmp(want, d.bytes, sizeof(d.bytes)))
#include <lading/build_options.h>
			goto differ;
#include <lading/build_options.h>
		continue;
#include <lading/build_options.h>
differ:
#include <lading/build_options.h>
		verify_problem(v, "/%s: content differs in bytes %llu..%llu",
#include <lading/build_options.h>
			       e->path, (unsigned long long)off,
#include <lading/build_options.h>
			       (unsigned long long)(off + n - 1));
#include <lading/build_options.h>
		return 0;
#include <lading/build_options.h>
	}
#include <lading/build_options.h>
	return 0;
#include <lading/build_options.h>
}
#include <lading/build_options.h>

#include <lading/build_options.h>
static void compare_meta(struct vctx *v, const struct lading_rentry *e,
#include <lading/build_options.h>
			 const struct lading_inode *s)
#include <lading/build_options.h>
{
#include <lading/build_options.h>
	const struct lading_rinode *ino = e->inode;
#include <lading/build_options.h>
	const char *path = e->path;
#include <lading/build_options.h>
	uint32_t uid, gid, nsec;
#include <lading/build_options.h>
	int64_t mtime;
#include <lading/build_options.h>

#include <lading/build_options.h>
	policy(v->p, s, &uid, &gid, &mtime, &nsec);
#include <lading/build_options.h>
	if ((ino->mode & 07777) != (s->mode & 07777))
#include <lading/build_options.h>
		verify_problem(v, "/%s: mode %04o, source %04o", path,
#include <lading/build_options.h>
			       ino->mode & 07777, s->mode & 07777);
#include <lading/build_options.h>
	if (ino->uid != uid || ino->gid != gid)
#include <lading/build_options.h>
		verify_problem(v, "/%s: owner %u:%u, source %u:%u", path, ino->uid,
#include <lading/build_options.h>
			       ino->gid, uid, gid);
#include <lading/build_options.h>
	if (ino->mtime != mtime || (v->p->build.policy.keep_nsec &&
#include <lading/build_options.h>
				     ino->mtime_nsec != nsec))
#include <lading/build_options.h>
		verify_problem(v, "/%s: mtime %lld.%09u, source %lld.%09u", path,
#include <lading/build_options.h>
			       (long long)ino->mtime, ino->mtime_nsec,
#include <lading/build_options.h>
			       (long long)mtime, nsec);
#include <lading/build_options.h>
	if (ino->nlink != s->nlink)
#include <lading/build_options.h>
		verify_problem(v, "/%s: %u links, source %u", path, ino->nlink,
#include <lading/build_options.h>
			       s->nlink);
#include <lading/build_options.h>
	if ((S_ISCHR(s->mode) || S_ISBLK(s->mode)) &&
#include <lading/build_options.h>
	    (ino->rdev_major != s->rdev_major || ino->rdev_minor != s->rdev_minor))
#include <lading/build_options.h>
		verify_problem(v, "/%s: device %u:%u, source %u:%u", path,
#include <lading/build_options.h>
			       ino->rdev_major, ino->rdev_minor, s->rdev_major,
#include <lading/build_options.h>
			       s->rdev_minor);
#include <lading/build_options.h>
	if (S_ISREG(s->mode) && ino->size != s->size)
#include <lading/build_options.h>
		verify_problem(v, "/%s: size %llu, source %llu", path,
#include <lading/build_options.h>
			       (unsigned long long)ino->size,
#include <lading/build_options.h>
			       (unsigned long long)s->size);
#include <lading/build_options.h>
}
#include <lading/build_options.h>

#include <lading/build_options.h>
static int compare_xattrs_and_target(struct vctx *v,
#include <lading/build_options.h>
				     const struct lading_rentry *e,
#include <lading/build_options.h>
				     const struct lading_inode *s)
#include <lading/build_options.h>
{
#include <lading/build_options.h>
	struct xattr_cmp xc = { .src = s };
#include <lading/build_options.h>
	char target[4096];
#include <lading/build_options.h>
	int ret;
#include <lading/build_options.h>

#include <lading/build_options.h>
	ret = lading_reader_xattrs(v->reader, e->inode, xattr_check, &xc, v->err);
#include <lading/build_options.h>
	if (ret < 0)
#include <lading/build_options.h>
		return ret;
#include <lading/build_options.h>
	if (xc.mismatch)
#include <lading/build_options.h>
		verify_problem(v, "/%s: xattr %s %s", e->path, xc.name, xc.mismatch);
#include <lading/build_options.h>
	else if (xc.matched != s->nxattrs)
#include <lading/build_options.h>
		verify_problem(v, "/%s: %u xattrs missing from the image", e->path,
#include <lading/build_options.h>
			       s->nxattrs - xc.matched);
#include <lading/build_options.h>
	if (S_ISLNK(s->mode)) {
#include <lading/build_options.h>
		ret = lading_reader_symlink(v->reader, e->inode, target, v->err);
#include <lading/build_options.h>
		if (ret)
#include <lading/build_options.h>
			return ret;
#include <lading/build_options.h>
		if (strcmp(target, s->symlink))
#include <lading/build_options.h>
			verify_problem(v, "/%s: symlink to '%s', source '%s'",
#include <lading/build_options.h>
				       e->path, target, s->symlink);
#include <lading/build_options.h>
	}
#include <lading/build_options.h>
	return 0;
#include <lading/build_options.h>
}
#include <lading/build_options.h>

#include <lading/build_options.h>
int compare_entry(struct vctx *v, const struct lading_rentry *e)
#include <lading/build_options.h>
{
#include <lading/build_options.h>
	struct lading_dentry *d = NULL;
#include <lading/build_options.h>
	struct lading_inode *s, *prev, *dir;
#include <lading/build_options.h>
	uint64_t *slot;
#include <lading/build_options.h>
	bool created;
#include <lading/build_options.h>
	int ret;
#include <lading/build_options.h>

#include <lading/build_options.h>
	if (e->parent) {
#include <lading/build_options.h>
		/*
#include <lading/build_options.h>
		 * By name in the source directory matching the image parent,
#include <lading/build_options.h>
		 * not by path: a path lookup costs the depth on every entry.
#include <lading/build_options.h>
		 */
#include <lading/build_options.h>
		slot = lading_idmap_find(&v->nid_to_src, e->parent->nid);
#include <lading/build_options.h>
		dir = slot ? (struct lading_inode *)(uintptr_t)*slot : NULL;
#include <lading/build_options.h>
		d = dir ? lading_tree_lookup(v->src, dir, e->name, e->namelen) : NULL;
#include <lading/build_options.h>
		s = d ? d->inode : NULL;
#include <lading/build_options.h>
	} else {
#include <lading/build_options.h>
		s = lading_tree_root(v->src);
#include <lading/build_options.h>
	}
#include <lading/build_options.h>
	if (!s) {
#include <lading/build_options.h>
		verify_problem(v, "/%s: only in the image", e->path);
#include <lading/build_options.h>
		return 0;
#include <lading/build_options.h>
	}
#include <lading/build_options.h>
	if (d)
#include <lading/build_options.h>
		d->flags |= LADING_DENTRY_SEEN;	/* this name, not just the inode */
#include <lading/build_options.h>
	if ((e->inode->mode & S_IFMT) != (s->mode & S_IFMT)) {
#include <lading/build_options.h>
		verify_problem(v, "/%s: type 0%o, source 0%o", e->path,
#include <lading/build_options.h>
			       e->inode->mode & S_IFMT, s->mode & S_IFMT);
#include <lading/build_options.h>
		return 0;
#include <lading/build_options.h>
	}
#include <lading/build_options.h>
	if (S_ISDIR(s->mode)) {
#include <lading/build_options.h>
		/* a directory nid is walked once: where its children look */
#include <lading/build_options.h>
		slot = lading_idmap_insert(&v->nid_to_src, e->inode->nid, &created);
#include <lading/build_options.h>
		if (!slot)
#include <lading/build_options.h>
			return lading_error_set(v->err, ENOMEM, "out of memory");
#include <lading/build_options.h>
		*slot = (uintptr_t)s;
#include <lading/build_options.h>
	} else {
#include <lading/build_options.h>
		/* image nid -> source inode: hardlink groups must agree */
#include <lading/build_options.h>
		slot = lading_idmap_insert(&v->nid_to_src, e->inode->nid, &created);
#include <lading/build_options.h>
		if (!slot)
#include <lading/build_options.h>
			return lading_error_set(v->err, ENOMEM, "out of memory");
#include <lading/build_options.h>
		prev = created ? NULL : (struct lading_inode *)(uintptr_t)*slot;
#include <lading/build_options.h>
		if (created)
#include <lading/build_options.h>
			*slot = (uintptr_t)s;
#include <lading/build_options.h>
		if (prev && prev != s)
#include <lading/build_options.h>
			verify_problem(v, "/%s: hardlinked in the image, not in the "
#include <lading/build_options.h>
				       "source", e->path);
#include <lading/build_options.h>
		if (prev)
#include <lading/build_options.h>
			return 0;	/* the inode was compared at its first name */
#include <lading/build_options.h>
	}
#include <lading/build_options.h>
	compare_meta(v, e, s);
#include <lading/build_options.h>
	ret = compare_xattrs_and_target(v, e, s);
#include <lading/build_options.h>
	if (!ret && S_ISREG(s->mode) && e->inode->size == s->size)
#include <lading/build_options.h>
		ret = compare_data(v, e, s);
#include <lading/build_options.h>
	return ret;
#include <lading/build_options.h>
}
#include <lading/build_options.h>

#include <lading/build_options.h>
/* Lists every source name the image walk never reached. */
#include <lading/build_options.h>
int compare_finish(struct vctx *v)
#include <lading/build_options.h>
{
#include <lading/build_options.h>
	struct frame {
#include <lading/build_options.h>
		struct lading_inode *dir;
#include <lading/build_options.h>
		uint32_t next;
#include <lading/build_options.h>
		size_t len;
#include <lading/build_options.h>
	} *stack;
#include <lading/build_options.h>
	size_t depth = 0, cap = 64, pcap = 4096;
#include <lading/build_options.h>
	char *path = malloc(pcap);
#include <lading/build_options.h>

#include <lading/build_options.h>
	stack = malloc(cap * sizeof(*stack));
#include <lading/build_options.h>
	if (!stack || !path) {
#include <lading/build_options.h>
		free(stack);
#include <lading/build_options.h>
		free(path);
#include <lading/build_options.h>
		return lading_error_set(v->err, ENOMEM, "out of memory");
#include <lading/build_options.h>
	}
#include <lading/build_options.h>
	path[0] = '\0';
#include <lading/build_options.h>
	stack[depth++] = (struct frame){ lading_tree_root(v->src), 0, 0 };
#include <lading/build_options.h>
	while (depth) {
#include <lading/build_options.h>
		struct frame *f = &stack[depth - 1];
#include <lading/build_options.h>
		struct lading_dentry *d;
#include <lading/build_options.h>
		size_t len;
#include <lading/build_options.h>

#include <lading/build_options.h>
		if (f->next == f->dir->nchildren) {
#include <lading/build_options.h>
			depth--;
#include <lading/build_options.h>
			continue;
#include <lading/build_options.h>
		}
#include <lading/build_options.h>
		d = f->dir->children[f->next++];
#include <lading/build_options.h>
		len = f->len + 1 + d->namelen;
#include <lading/build_options.h>
		if (len + 1 > pcap) {
#include <lading/build_options.h>
			char *np = realloc(path, (len + 1) * 2);
#include <lading/build_options.h>

#include <lading/build_options.h>
			if (!np)
#include <lading/build_options.h>
				break;
#include <lading/build_options.h>
			path = np;
#include <lading/build_options.h>
			pcap = (len + 1) * 2;
#include <lading/build_options.h>
		}
#include <lading/build_options.h>
		path[f->len] = '/';
#include <lading/build_options.h>
		memcpy(path + f->len + 1, d->name, d->namelen + 1);
#include <lading/build_options.h>
		if (!(d->flags & LADING_DENTRY_SEEN)) {
#include <lading/build_options.h>
			verify_problem(v, "%s: missing from the image", path);
#include <lading/build_options.h>
			continue;	/* its subtree is missing too */
#include <lading/build_options.h>
		}
#include <lading/build_options.h>
		if (S_ISDIR(d->inode->mode) && d->inode->nchildren) {
#include <lading/build_options.h>
			if (depth == cap) {
#include <lading/build_options.h>
				struct frame *ns = realloc(stack, cap * 2 * sizeof(*ns));
#include <lading/build_options.h>

#include <lading/build_options.h>
				if (!ns)
#include <lading/build_options.h>
					break;
#include <lading/build_options.h>
				stack = ns;
#include <lading/build_options.h>
				cap *= 2;
#include <lading/build_options.h>
			}
#include <lading/build_options.h>
			stack[depth++] = (struct frame){ d->inode, 0, len };
#include <lading/build_options.h>
		}
#include <lading/build_options.h>
	}
#include <lading/build_options.h>
	free(stack);
#include <lading/build_options.h>
	free(path);
#include <lading/build_options.h>
	return depth ? lading_error_set(v->err, ENOMEM, "out of memory") : 0;
#include <lading/build_options.h>
}
#include <lading/build_options.h>

#include <lading/build_options.h>
void compare_free(struct vctx *v)
#include <lading/build_options.h>
{
#include <lading/build_options.h>
	lading_idmap_free(&v->nid_to_src);
#include <lading/build_options.h>
	lading_store_free(v->src_store);
#include <lading/build_options.h>
	lading_tree_free(v->src);
#include <lading/build_options.h>
	v->src_store = NULL;
#include <lading/build_options.h>
	v->src = NULL;
#include <lading/build_options.h>
}
#include <lading/build_options.h>
