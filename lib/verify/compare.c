// SPDX-License-Identifier: MIT
/*
 * Source comparison without mounting: the source is loaded into a tree
 * whose file data is kept as sha256 digests of 1 MiB windows (nothing is
 * stored), then every image entry is compared with its source entry as the
 * walk reaches it; whatever the walk never reached is missing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <lading/build_options.h>
#include "internal.h"

int compare_load_source(struct vctx *v)
{
	const struct lading_verify_params *p = v->p;
	struct lading_store_params sp = { .chunk_size = VERIFY_WINDOW,
					  .blob_dir = "/", .digest_only = true };
	struct lading_source_params src = {
		.path = p->source, .type = p->source_type,
		.layer = p->source_is_layer ? 1 : 0,
		.log = p->log,
	};
	struct lading_source_stats st;
	int ret;

	lading_build_options_source(&p->build, &src);
	src.inline_max = 0;	/* every file's data is indexed */

	v->src = lading_tree_new();
	if (!v->src)
		return lading_error_set(v->err, ENOMEM, "out of memory");
	ret = lading_store_open(&v->src_store, &sp);
	if (ret)
		return lading_error_set(v->err, -ret, "cannot set up the source index");
	ret = compare_source_is_image(p->source) ? compare_load_image(v, &src, &st) :
	      lading_source_load(v->src, v->src_store, &src, &st, v->err);
	if (ret)
		return ret;
	v->r->source_entries = st.entries;
	if (lading_tree_count_links(v->src))
		return lading_error_set(v->err, ENOMEM, "out of memory");
	return 0;
}

/* The build policy lading-mkimage would have applied to a source inode. */
static void policy(const struct lading_verify_params *p,
		   const struct lading_inode *s, uint32_t *uid, uint32_t *gid,
		   int64_t *mtime, uint32_t *nsec)
{
	const struct lading_tree_policy *pol = &p->build.policy;

	*uid = pol->force_uid >= 0 ? (uint32_t)pol->force_uid : s->uid;
	*gid = pol->force_gid >= 0 ? (uint32_t)pol->force_gid : s->gid;
	*mtime = s->mtime;
	*nsec = pol->keep_nsec ? s->mtime_nsec : 0;
	if (pol->clamp_mtime && (*mtime > pol->mtime ||
				 (*mtime == pol->mtime && *nsec))) {
		*mtime = pol->mtime;
		*nsec = 0;
	}
}

struct xattr_cmp {
	const struct lading_inode *src;
	uint32_t matched;
	const char *mismatch;
	char name[300];
};

static int xattr_check(void *ud, const char *name, const void *value,
		       size_t len)
{
	struct xattr_cmp *c = ud;
	uint32_t i;

	for (i = 0; i < c->src->nxattrs; i++) {
		const struct lading_xattr *x = &c->src->xattrs[i];

		if (strcmp(x->name, name))
			continue;
		if (x->len != len || memcmp(x->value, value, len)) {
			c->mismatch = "differs";
			snprintf(c->name, sizeof(c->name), "%s", name);
			return 1;
		}
		c->matched++;
		return 0;
	}
	c->mismatch = "only in the image";
	snprintf(c->name, sizeof(c->name), "%s", name);
	return 1;
}

/*
 * Extends *hole_end, the end of the run of image hole chunks known to
 * cover bytes from pos, by reading chunk indexes only.  Each index is read
 * about once per file, so a sparse file costs its chunk count, not its size.
 */
static int image_holes(struct vctx *v, const struct lading_rinode *ino,
		       uint64_t pos, uint64_t *hole_end)
{
	struct lading_rchunk c;
	uint64_t k;
	int ret;

	if (ino->layout != EROFS_INODE_CHUNK_BASED)
		return 0;
	if (*hole_end > pos)
		pos = *hole_end;
	for (k = pos >> ino->chunk_bits; k < ino->nchunks; k++) {
		ret = lading_reader_chunk(v->reader, ino, k, &c, v->err);
		if (ret)
			return ret;
		if (!c.hole)
			break;
		*hole_end = c.offset + c.length;
	}
	return 0;
}

static int compare_data(struct vctx *v, const struct lading_rentry *e,
			const struct lading_inode *s)
{
	const struct lading_rinode *ino = e->inode;
	uint64_t w, nwin = ino->size / VERIFY_WINDOW +
			   (ino->size % VERIFY_WINDOW != 0);
	uint64_t hole_end = 0;
	struct lading_digest d;
	int ret;

	if (nwin != s->nchunks)
		return 0;	/* sizes differ: already reported */
	for (w = 0; w < nwin; w++) {
		uint64_t off = w * VERIFY_WINDOW;
		size_t n = ino->size - off < VERIFY_WINDOW ?
			   (size_t)(ino->size - off) : VERIFY_WINDOW;
		bool src_hole = s->chunks[w].blkaddr == LADING_CHUNK_HOLE;
		const uint8_t *want;
		bool zero;

		/* holes on both sides: nothing to read */
		if (hole_end < off + n) {
			ret = image_holes(v, ino, off, &hole_end);
			if (ret)
				return ret;
		}
		if (hole_end >= off + n) {
			if (src_hole)
				continue;
			goto differ;	/* source data is never all zeros */
		}
		ret = verify_read_file(v, ino, off, v->window, n);
		if (ret == -ENOENT || ret == -EIO) {
			verify_problem(v, "/%s: cannot read its data (%s)", e->path,
				       ret == -ENOENT ? "blob missing" :
				       "blob truncated or damaged");
			return 0;
		}
		if (ret)
			return ret;
		zero = v->window[0] == 0 && !memcmp(v->window, v->window + 1, n - 1);
		if (src_hole) {
			if (zero)
				continue;
			goto differ;
		}
		if (zero)
			goto differ;
		want = lading_store_chunk_digest(v->src_store, s->chunks[w].blkaddr);
		ret = lading_sha256(v->window, n, &d);
		if (ret)
			return ret;
		if (!want || memcmp(want, d.bytes, sizeof(d.bytes)))
			goto differ;
		continue;
differ:
		verify_problem(v, "/%s: content differs in bytes %llu..%llu",
			       e->path, (unsigned long long)off,
			       (unsigned long long)(off + n - 1));
		return 0;
	}
	return 0;
}

static void compare_meta(struct vctx *v, const struct lading_rentry *e,
			 const struct lading_inode *s)
{
	const struct lading_rinode *ino = e->inode;
	const char *path = e->path;
	uint32_t uid, gid, nsec;
	int64_t mtime;

	policy(v->p, s, &uid, &gid, &mtime, &nsec);
	if ((ino->mode & 07777) != (s->mode & 07777))
		verify_problem(v, "/%s: mode %04o, source %04o", path,
			       ino->mode & 07777, s->mode & 07777);
	if (ino->uid != uid || ino->gid != gid)
		verify_problem(v, "/%s: owner %u:%u, source %u:%u", path, ino->uid,
			       ino->gid, uid, gid);
	if (ino->mtime != mtime || (v->p->build.policy.keep_nsec &&
				     ino->mtime_nsec != nsec))
		verify_problem(v, "/%s: mtime %lld.%09u, source %lld.%09u", path,
			       (long long)ino->mtime, ino->mtime_nsec,
			       (long long)mtime, nsec);
	if (ino->nlink != s->nlink)
		verify_problem(v, "/%s: %u links, source %u", path, ino->nlink,
			       s->nlink);
	if ((S_ISCHR(s->mode) || S_ISBLK(s->mode)) &&
	    (ino->rdev_major != s->rdev_major || ino->rdev_minor != s->rdev_minor))
		verify_problem(v, "/%s: device %u:%u, source %u:%u", path,
			       ino->rdev_major, ino->rdev_minor, s->rdev_major,
			       s->rdev_minor);
	if (S_ISREG(s->mode) && ino->size != s->size)
		verify_problem(v, "/%s: size %llu, source %llu", path,
			       (unsigned long long)ino->size,
			       (unsigned long long)s->size);
}

static int compare_xattrs_and_target(struct vctx *v,
				     const struct lading_rentry *e,
				     const struct lading_inode *s)
{
	struct xattr_cmp xc = { .src = s };
	char target[4096];
	int ret;

	ret = lading_reader_xattrs(v->reader, e->inode, xattr_check, &xc, v->err);
	if (ret < 0)
		return ret;
	if (xc.mismatch)
		verify_problem(v, "/%s: xattr %s %s", e->path, xc.name, xc.mismatch);
	else if (xc.matched != s->nxattrs)
		verify_problem(v, "/%s: %u xattrs missing from the image", e->path,
			       s->nxattrs - xc.matched);
	if (S_ISLNK(s->mode)) {
		ret = lading_reader_symlink(v->reader, e->inode, target, v->err);
		if (ret)
			return ret;
		if (strcmp(target, s->symlink))
			verify_problem(v, "/%s: symlink to '%s', source '%s'",
				       e->path, target, s->symlink);
	}
	return 0;
}

int compare_entry(struct vctx *v, const struct lading_rentry *e)
{
	struct lading_dentry *d = NULL;
	struct lading_inode *s, *prev, *dir;
	uint64_t *slot;
	bool created;
	int ret;

	if (e->parent) {
		/*
		 * By name in the source directory matching the image parent,
		 * not by path: a path lookup costs the depth on every entry.
		 */
		slot = lading_idmap_find(&v->nid_to_src, e->parent->nid);
		dir = slot ? (struct lading_inode *)(uintptr_t)*slot : NULL;
		d = dir ? lading_tree_lookup(v->src, dir, e->name, e->namelen) : NULL;
		s = d ? d->inode : NULL;
	} else {
		s = lading_tree_root(v->src);
	}
	if (!s) {
		verify_problem(v, "/%s: only in the image", e->path);
		return 0;
	}
	if (d)
		d->flags |= LADING_DENTRY_SEEN;	/* this name, not just the inode */
	if ((e->inode->mode & S_IFMT) != (s->mode & S_IFMT)) {
		verify_problem(v, "/%s: type 0%o, source 0%o", e->path,
			       e->inode->mode & S_IFMT, s->mode & S_IFMT);
		return 0;
	}
	if (S_ISDIR(s->mode)) {
		/* a directory nid is walked once: where its children look */
		slot = lading_idmap_insert(&v->nid_to_src, e->inode->nid, &created);
		if (!slot)
			return lading_error_set(v->err, ENOMEM, "out of memory");
		*slot = (uintptr_t)s;
	} else {
		/* image nid -> source inode: hardlink groups must agree */
		slot = lading_idmap_insert(&v->nid_to_src, e->inode->nid, &created);
		if (!slot)
			return lading_error_set(v->err, ENOMEM, "out of memory");
		prev = created ? NULL : (struct lading_inode *)(uintptr_t)*slot;
		if (created)
			*slot = (uintptr_t)s;
		if (prev && prev != s)
			verify_problem(v, "/%s: hardlinked in the image, not in the "
				       "source", e->path);
		if (prev)
			return 0;	/* the inode was compared at its first name */
	}
	compare_meta(v, e, s);
	ret = compare_xattrs_and_target(v, e, s);
	if (!ret && S_ISREG(s->mode) && e->inode->size == s->size)
		ret = compare_data(v, e, s);
	return ret;
}

/* Lists every source name the image walk never reached. */
int compare_finish(struct vctx *v)
{
	struct frame {
		struct lading_inode *dir;
		uint32_t next;
		size_t len;
	} *stack;
	size_t depth = 0, cap = 64, pcap = 4096;
	char *path = malloc(pcap);

	stack = malloc(cap * sizeof(*stack));
	if (!stack || !path) {
		free(stack);
		free(path);
		return lading_error_set(v->err, ENOMEM, "out of memory");
	}
	path[0] = '\0';
	stack[depth++] = (struct frame){ lading_tree_root(v->src), 0, 0 };
	while (depth) {
		struct frame *f = &stack[depth - 1];
		struct lading_dentry *d;
		size_t len;

		if (f->next == f->dir->nchildren) {
			depth--;
			continue;
		}
		d = f->dir->children[f->next++];
		len = f->len + 1 + d->namelen;
		if (len + 1 > pcap) {
			char *np = realloc(path, (len + 1) * 2);

			if (!np)
				break;
			path = np;
			pcap = (len + 1) * 2;
		}
		path[f->len] = '/';
		memcpy(path + f->len + 1, d->name, d->namelen + 1);
		if (!(d->flags & LADING_DENTRY_SEEN)) {
			verify_problem(v, "%s: missing from the image", path);
			continue;	/* its subtree is missing too */
		}
		if (S_ISDIR(d->inode->mode) && d->inode->nchildren) {
			if (depth == cap) {
				struct frame *ns = realloc(stack, cap * 2 * sizeof(*ns));

				if (!ns)
					break;
				stack = ns;
				cap *= 2;
			}
			stack[depth++] = (struct frame){ d->inode, 0, len };
		}
	}
	free(stack);
	free(path);
	return depth ? lading_error_set(v->err, ENOMEM, "out of memory") : 0;
}

void compare_free(struct vctx *v)
{
	lading_idmap_free(&v->nid_to_src);
	lading_store_free(v->src_store);
	lading_tree_free(v->src);
	v->src_store = NULL;
	v->src = NULL;
}
