// SPDX-License-Identifier: MIT
/*
 * Extraction of an image's tree into a directory.  Every file system call
 * is relative to a directory fd opened with openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS) below its parent, and every name comes from a
 * validated dirent (no '/', never "." or ".."), so nothing is followed or
 * written outside the target.  The walk keeps the directories from the
 * root to the current one on a heap stack, so no path is ever resolved
 * whole: any depth works, far past PATH_MAX.  A directory's metadata is
 * applied when the walk leaves it, children first, so default ACLs and
 * read-only modes cannot disturb what goes inside.  The second and later
 * names of a hardlinked file link to a copy of its first name kept in a
 * private directory at the top, removed at the end.  File data is written
 * chunk by chunk after its check against the chain of trust (holes are
 * skipped), into an unnamed file linked under its name only once complete.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/random.h>
#include <sys/xattr.h>
#include <unistd.h>
#include "internal.h"

/* A directory on the walk's current path. */
struct xdir {
	uint64_t nid;
	int fd;			/* -1 while closed (see XDIR_OPEN) */
	dev_t dev;		/* identity, checked when reopened by ".." */
	ino_t ino;
	size_t path_len;	/* of its path in extract_state.path */
};

/* Directory fds kept open at the bottom of the stack; others reopen. */
#define XDIR_OPEN 16

struct extract_state {
	int root_fd;
	bool privileged;
	struct xdir *stack;	/* [0] is the root, on root_fd */
	size_t depth, cap;
	char *path;		/* of the top directory, for messages */
	size_t path_cap;
	int links_fd;		/* the hardlink directory, -1 until needed */
	char links_name[40];
	struct lading_idmap links;	/* nid -> 1: a name in links_fd */
	uint64_t skipped;	/* metadata not settable without privileges */
};

static int open_beneath(int root, const char *path, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC | O_NOFOLLOW),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
			   RESOLVE_NO_MAGICLINKS,
	};

	if (!*path)
		path = ".";
	return (int)syscall(SYS_openat2, root, path, &how, sizeof(how));
}

int extract_begin(struct vctx *v)
{
	struct extract_state *x = calloc(1, sizeof(*x));
	const char *dir = v->p->extract_dir;

	if (!x)
		return lading_error_set(v->err, ENOMEM, "out of memory");
	x->root_fd = -1;
	x->links_fd = -1;
	v->x = x;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return lading_error_set(v->err, errno, "%s: %s", dir, strerror(errno));
	x->root_fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (x->root_fd < 0)
		return lading_error_set(v->err, errno, "%s: %s", dir, strerror(errno));
	x->privileged = geteuid() == 0;
	return 0;
}

static int xdir_push(struct extract_state *x, const struct lading_rentry *e,
		     int fd)
{
	size_t at = x->depth ? x->stack[x->depth - 1].path_len : 0;
	size_t len = e->parent ? at + 1 + e->namelen : 0;
	struct stat st;

	if (len + 1 > x->path_cap) {
		char *p = realloc(x->path, (len + 1) * 2);

		if (!p) {
			if (fd != x->root_fd)
				close(fd);
			return -ENOMEM;
		}
		x->path = p;
		x->path_cap = (len + 1) * 2;
	}
	if (e->parent) {
		x->path[at] = '/';
		memcpy(x->path + at + 1, e->name, e->namelen);
	}
	x->path[len] = '\0';
	if (x->depth == x->cap) {
		size_t cap = x->cap ? x->cap * 2 : 64;
		struct xdir *s = realloc(x->stack, cap * sizeof(*s));

		if (!s) {
			if (fd != x->root_fd)
				close(fd);
			return -ENOMEM;
		}
		x->stack = s;
		x->cap = cap;
	}
	if (fstat(fd, &st) < 0) {
		int ret = -errno;

		if (fd != x->root_fd)
			close(fd);
		return ret;
	}
	x->stack[x->depth++] = (struct xdir){ e->inode->nid, fd, st.st_dev,
					      st.st_ino, len };
	/* a deep walk holds a bounded number of descriptors */
	if (x->depth > XDIR_OPEN + 1) {
		struct xdir *old = &x->stack[x->depth - XDIR_OPEN - 1];

		if (old->fd >= 0 && old != &x->stack[0]) {
			close(old->fd);
			old->fd = -1;
		}
	}
	return 0;
}

/* Reopens the parent of the top directory, closed for depth, by "..". */
static int xdir_reopen_parent(struct extract_state *x)
{
	struct xdir *top = &x->stack[x->depth - 1], *up = top - 1;
	int fd;

	if (up->fd >= 0)
		return 0;
	fd = lading_reopen_parent(top->fd, up->dev, up->ino);
	if (fd < 0)
		return fd;	/* -ESTALE: moved while we were inside */
	up->fd = fd;
	return 0;
}

static int apply_meta(struct vctx *v, const struct lading_rinode *ino, int fd,
		      int dirfd, const char *name);

/* Leaves the top directory: its metadata now that its children are done. */
static int xdir_pop(struct vctx *v)
{
	struct extract_state *x = v->x;
	struct xdir *top = &x->stack[x->depth - 1];
	struct lading_rinode ino;
	int ret = 0;

	if (x->depth > 1)
		ret = xdir_reopen_parent(x);
	if (!ret)
		ret = lading_reader_inode(v->reader, top->nid, &ino, v->err);
	if (!ret)
		ret = apply_meta(v, &ino, top->fd, top->fd, ".");
	if (top->fd != x->root_fd)
		close(top->fd);
	if (ret)
		ret = lading_error_set(v->err, -ret, "extracting %s/: %s",
				       x->path, strerror(-ret));
	x->depth--;
	if (x->depth)
		x->path[x->stack[x->depth - 1].path_len] = '\0';
	return ret;
}

/* Pops to the directory holding e; -EUCLEAN if e is not on the path. */
static int xdir_enter(struct vctx *v, const struct lading_rentry *e)
{
	struct extract_state *x = v->x;
	int ret;

	while (x->depth && x->stack[x->depth - 1].nid != e->parent->nid) {
		ret = xdir_pop(v);
		if (ret)
			return ret;
	}
	return x->depth ? x->stack[x->depth - 1].fd : -EUCLEAN;
}

struct xattr_target {
	struct extract_state *x;
	int fd;			/* >= 0: fsetxattr */
	const char *path;	/* else lsetxattr on this /proc path */
	int error;
};

static int set_one_xattr(void *ud, const char *name, const void *value,
			 size_t len)
{
	struct xattr_target *t = ud;
	int ret = t->fd >= 0 ? fsetxattr(t->fd, name, value, len, 0) :
			       lsetxattr(t->path, name, value, len, 0);

	if (ret < 0) {
		if (errno == EPERM || errno == ENOTSUP || errno == EOPNOTSUPP) {
			t->x->skipped++;
			return 0;
		}
		t->error = errno;
		return 1;
	}
	return 0;
}

static int apply_xattrs(struct vctx *v, const struct lading_rinode *ino,
			int fd, int dirfd, const char *name)
{
	char proc[64 + 256];
	struct xattr_target t = { .x = v->x, .fd = fd, .path = proc };
	int ret;

	if (!ino->xattr_size)
		return 0;
	if (fd < 0)
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d/%s", dirfd, name);
	ret = lading_reader_xattrs(v->reader, ino, set_one_xattr, &t, v->err);
	if (ret < 0)
		return ret;
	return t.error ? -t.error : 0;
}

/*
 * Owner, mode, xattrs, mtime, in the order that keeps setuid bits; through
 * fd when it is open, else on name relative to dirfd.
 */
static int apply_meta(struct vctx *v, const struct lading_rinode *ino, int fd,
		      int dirfd, const char *name)
{
	struct timespec ts[2] = {
		{ .tv_nsec = UTIME_OMIT },
		{ .tv_sec = ino->mtime, .tv_nsec = ino->mtime_nsec },
	};
	bool lnk = S_ISLNK(ino->mode);
	int ret;

	if (fd >= 0 ? fchown(fd, ino->uid, ino->gid) :
		      fchownat(dirfd, name, ino->uid, ino->gid, AT_SYMLINK_NOFOLLOW)) {
		if (errno != EPERM)
			return -errno;
		v->x->skipped++;
	}
	if (!lnk && (fd >= 0 ? fchmod(fd, ino->mode & 07777) :
			       fchmodat(dirfd, name, ino->mode & 07777, 0)))
		return -errno;
	ret = apply_xattrs(v, ino, fd, dirfd, name);
	if (ret)
		return ret;
	if (fd >= 0 ? futimens(fd, ts) :
		      utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW))
		return -errno;
	return 0;
}

/* A file whose data failed its checks: reported, and not kept. */
#define NOT_EXTRACTED 1

static int chunk_fault(struct vctx *v, const struct lading_rentry *e,
		       const struct lading_rchunk *c, uint64_t i, int err,
		       const struct verify_fault *f)
{
	const char *id = c->device_id ? v->r->blobs[c->device_id - 1].id :
			 "(the bootstrap)";

	if (err == -ENOMEM)
		return err;
	if (f->toc_index >= 0)
		verify_problem(v, "blob %s: chunk %zd %s: /%s (file chunk %llu) "
			       "not extracted", id, f->toc_index,
			       verify_fault_reason(err), e->path,
			       (unsigned long long)i);
	else if (err == -EBADMSG)
		verify_problem(v, "blob %s: content digest differs from its id: "
			       "/%s not extracted", id, e->path);
	else
		verify_problem(v, "blob %s: %s: /%s (file chunk %llu) not "
			       "extracted", id, verify_fault_reason(err), e->path,
			       (unsigned long long)i);
	return NOT_EXTRACTED;
}

/* Data chunks only, each checked: holes cost nothing and stay holes. */
static int write_chunked(struct vctx *v, const struct lading_rentry *e, int fd)
{
	const struct lading_rinode *ino = e->inode;
	struct verify_fault f;
	struct lading_rchunk c;
	uint64_t i, in;
	int ret;

	for (i = 0; i < ino->nchunks; i++) {
		ret = lading_reader_chunk(v->reader, ino, i, &c, v->err);
		if (ret)
			return ret;
		if (c.hole)
			continue;
		for (in = 0; in < c.length; in += VERIFY_WINDOW) {
			size_t n = c.length - in < VERIFY_WINDOW ?
				   (size_t)(c.length - in) : VERIFY_WINDOW;

			ret = verify_read_checked(v, &c, in, v->window, n, &f);
			if (ret)
				return chunk_fault(v, e, &c, i, ret, &f);
			/* zeros inside a data chunk stay holes too */
			if (v->window[0] == 0 &&
			    !memcmp(v->window, v->window + 1, n - 1))
				continue;
			ret = lading_pwrite_full(fd, v->window, n, c.offset + in);
			if (ret)
				return ret;
		}
	}
	return 0;
}

/* Inline and flat data lives in the bootstrap, which is at most 4 GiB. */
static int write_flat(struct vctx *v, const struct lading_rinode *ino, int fd)
{
	uint64_t off;
	int ret;

	for (off = 0; off < ino->size; off += VERIFY_WINDOW) {
		size_t n = ino->size - off < VERIFY_WINDOW ?
			   (size_t)(ino->size - off) : VERIFY_WINDOW;

		ret = lading_reader_read_flat(v->reader, ino, off, v->window, n,
					      v->err);
		if (ret)
			return ret;
		ret = lading_pwrite_full(fd, v->window, n, off);
		if (ret)
			return ret;
	}
	return 0;
}

static int write_regular(struct vctx *v, const struct lading_rentry *e, int fd)
{
	const struct lading_rinode *ino = e->inode;

	/* the size first: a file this file system cannot hold fails at once */
	if (ftruncate(fd, (off_t)ino->size))
		return -errno;
	if (ino->layout == EROFS_INODE_CHUNK_BASED)
		return write_chunked(v, e, fd);
	return write_flat(v, ino, fd);
}

/*
 * An unnamed file (O_TMPFILE) linked under its name once complete, so a
 * failed file never appears; where O_TMPFILE is missing, the name is
 * claimed with O_EXCL and removed on failure.  *named says which.
 */
static int open_regular(int dirfd, const char *name, bool *named)
{
	int fd = openat(dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);

	*named = fd < 0;
	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR &&
			errno != EINVAL))
		return fd < 0 ? -errno : fd;
	fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC, 0600);
	return fd < 0 ? -errno : fd;
}

static int publish_regular(int fd, int dirfd, const char *name)
{
	char proc[64];

	/* linkat never replaces: an existing name fails with EEXIST */
	if (!linkat(fd, "", dirfd, name, AT_EMPTY_PATH))
		return 0;
	if (errno != ENOENT && errno != EPERM)
		return -errno;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	return linkat(AT_FDCWD, proc, dirfd, name, AT_SYMLINK_FOLLOW) ? -errno : 0;
}

static int create_regular(struct vctx *v, const struct lading_rentry *e,
			  int dirfd, const char *name)
{
	bool named;
	int fd = open_regular(dirfd, name, &named), ret;

	if (fd < 0)
		return fd;
	ret = write_regular(v, e, fd);
	if (!ret)
		ret = apply_meta(v, e->inode, fd, dirfd, name);
	if (!ret && !named)
		ret = publish_regular(fd, dirfd, name);
	close(fd);
	if (ret && named)
		unlinkat(dirfd, name, 0);
	return ret;
}

/* The hardlink directory, made when the first hardlinked file comes. */
static int links_dir(struct extract_state *x)
{
	uint64_t r;
	int tries;

	if (x->links_fd >= 0)
		return x->links_fd;
	for (tries = 0; tries < 16; tries++) {
		if (getrandom(&r, sizeof(r), 0) != sizeof(r))
			return -EIO;
		snprintf(x->links_name, sizeof(x->links_name),
			 ".lading-links.%016llx", (unsigned long long)r);
		if (mkdirat(x->root_fd, x->links_name, 0700) == 0)
			break;
		if (errno != EEXIST)
			return -errno;
	}
	if (tries == 16)
		return -EEXIST;
	x->links_fd = open_beneath(x->root_fd, x->links_name,
				   O_RDONLY | O_DIRECTORY);
	return x->links_fd < 0 ? -errno : x->links_fd;
}

static void link_name(char *buf, size_t len, uint64_t nid)
{
	snprintf(buf, len, "%llx", (unsigned long long)nid);
}

/* Keeps the first name of a hardlinked file for its later names. */
static int remember_link(struct extract_state *x, uint64_t nid, int dirfd,
			 const char *name)
{
	char kept[24];
	uint64_t *slot;
	bool created;
	int fd = links_dir(x);

	if (fd < 0)
		return fd;
	slot = lading_idmap_insert(&x->links, nid, &created);
	if (!slot)
		return -ENOMEM;
	link_name(kept, sizeof(kept), nid);
	if (!created)
		unlinkat(fd, kept, 0);	/* its first name failed before */
	if (linkat(dirfd, name, fd, kept, 0) < 0)
		return -errno;
	*slot = 1;
	return 0;
}

static int make_hardlink(struct extract_state *x, uint64_t nid, int dirfd,
			 const char *name)
{
	char kept[24];

	link_name(kept, sizeof(kept), nid);
	return linkat(x->links_fd, kept, dirfd, name, 0) < 0 ? -errno : 0;
}

/* Empties and removes the hardlink directory. */
static void links_remove(struct extract_state *x)
{
	char kept[24];
	size_t i;

	if (x->links_fd < 0)
		return;
	for (i = 0; i < x->links.cap; i++) {
		if (!x->links.keys[i])
			continue;
		link_name(kept, sizeof(kept), x->links.keys[i] - 1);
		unlinkat(x->links_fd, kept, 0);
	}
	close(x->links_fd);
	x->links_fd = -1;
	unlinkat(x->root_fd, x->links_name, AT_REMOVEDIR);
}

static int create_entry(struct vctx *v, const struct lading_rentry *e,
			int dirfd, const char *name)
{
	const struct lading_rinode *ino = e->inode;
	char target[4096];
	int fd, ret;

	switch (ino->mode & S_IFMT) {
	case S_IFDIR:
		if (mkdirat(dirfd, name, 0700) < 0)
			return -errno;
		fd = open_beneath(dirfd, name, O_RDONLY | O_DIRECTORY);
		if (fd < 0)
			return -errno;
		return xdir_push(v->x, e, fd);
	case S_IFREG:
		return create_regular(v, e, dirfd, name);
	case S_IFLNK:
		ret = lading_reader_symlink(v->reader, ino, target, v->err);
		if (ret)
			return ret;
		if (symlinkat(target, dirfd, name) < 0)
			return -errno;
		return apply_meta(v, ino, -1, dirfd, name);
	default:
		if (mknodat(dirfd, name, (ino->mode & S_IFMT) | 0600,
			    makedev(ino->rdev_major, ino->rdev_minor)) < 0) {
			if (errno != EPERM)
				return -errno;
			v->x->skipped++;	/* devices need privileges */
			return 0;
		}
		return apply_meta(v, ino, -1, dirfd, name);
	}
}

int extract_entry(struct vctx *v, const struct lading_rentry *e)
{
	struct extract_state *x = v->x;
	char name[EROFS_NAME_LEN + 1];
	int dirfd, ret;

	if (!e->parent)
		return xdir_push(x, e, x->root_fd);
	memcpy(name, e->name, e->namelen);
	name[e->namelen] = '\0';
	dirfd = xdir_enter(v, e);
	if (dirfd < 0)
		return lading_error_set(v->err, -dirfd, "extracting /%s: %s",
					e->path, strerror(-dirfd));
	if (!e->first_link && !S_ISDIR(e->inode->mode) &&
	    lading_idmap_find(&x->links, e->inode->nid)) {
		ret = make_hardlink(x, e->inode->nid, dirfd, name);
	} else {
		ret = create_entry(v, e, dirfd, name);
		if (ret == NOT_EXTRACTED)
			return 0;	/* reported; its other names are tried anew */
		if (!ret && !S_ISDIR(e->inode->mode) && e->inode->nlink > 1)
			ret = remember_link(x, e->inode->nid, dirfd, name);
	}
	if (ret)
		return lading_error_set(v->err, -ret, "extracting /%s: %s", e->path,
					strerror(-ret));
	return 0;
}

int extract_finish(struct vctx *v)
{
	struct extract_state *x = v->x;
	int ret;

	while (x->depth) {
		/* the hardlink directory goes before the root's own mtime */
		if (x->depth == 1)
			links_remove(x);
		ret = xdir_pop(v);
		if (ret)
			return ret;
	}
	if (x->skipped)
		lading_log_msg(v->p->log, LADING_LOG_WARN,
			       "%llu owners, xattrs or devices not restored "
			       "(needs root)", (unsigned long long)x->skipped);
	return 0;
}

void extract_free(struct vctx *v)
{
	struct extract_state *x = v->x;

	if (!x)
		return;
	links_remove(x);
	while (x->depth--) {
		int fd = x->stack[x->depth].fd;

		if (fd >= 0 && fd != x->root_fd)
			close(fd);
	}
	if (x->root_fd >= 0)
		close(x->root_fd);
	lading_idmap_free(&x->links);
	free(x->stack);
	free(x->path);
	free(x);
	v->x = NULL;
}
