// SPDX-License-Identifier: MIT
/*
 * Extraction of an image's tree into a directory.  Every file system call
 * is relative to a directory fd opened with openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS) below the target, and every name comes from a
 * validated dirent (no '/', never "." or ".."), so nothing is followed or
 * written outside the target.  Directory metadata is applied last, deepest
 * first, so default ACLs and read-only modes cannot disturb the children.
 * File data is written chunk by chunk after its check against the chain of
 * trust (holes are skipped), into an unnamed file linked under its name
 * only once complete.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include "internal.h"

struct extract_state {
	int root_fd;
	bool privileged;
	char *parent_path;	/* cached parent directory */
	int parent_fd;
	struct lading_idmap links;	/* nid -> first extracted path */
	uint64_t *dirs;		/* nids of directories, in walk order */
	char **dir_paths;
	size_t ndirs, dirs_cap;
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
	x->parent_fd = -1;
	x->root_fd = -1;
	v->x = x;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return lading_error_set(v->err, errno, "%s: %s", dir, strerror(errno));
	x->root_fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (x->root_fd < 0)
		return lading_error_set(v->err, errno, "%s: %s", dir, strerror(errno));
	x->privileged = geteuid() == 0;
	return 0;
}

static int parent_fd(struct vctx *v, const char *path, const char **name)
{
	struct extract_state *x = v->x;
	const char *slash = strrchr(path, '/');
	size_t plen = slash ? (size_t)(slash - path) : 0;

	*name = slash ? slash + 1 : path;
	if (x->parent_path && strlen(x->parent_path) == plen &&
	    !memcmp(x->parent_path, path, plen))
		return x->parent_fd;
	if (x->parent_fd >= 0)
		close(x->parent_fd);
	free(x->parent_path);
	x->parent_path = strndup(path, plen);
	if (!x->parent_path)
		return -ENOMEM;
	x->parent_fd = open_beneath(x->root_fd, x->parent_path,
				    O_RDONLY | O_DIRECTORY);
	return x->parent_fd < 0 ? -errno : x->parent_fd;
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

static int remember_link(struct extract_state *x, uint64_t nid, const char *path)
{
	char *copy = strdup(path);
	uint64_t *slot;
	bool created;

	slot = copy ? lading_idmap_insert(&x->links, nid, &created) : NULL;
	if (!slot) {
		free(copy);
		return -ENOMEM;
	}
	if (!created)
		free((char *)(uintptr_t)*slot);
	*slot = (uintptr_t)copy;
	return 0;
}

static const char *find_link(const struct extract_state *x, uint64_t nid)
{
	uint64_t *slot = lading_idmap_find(&x->links, nid);

	return slot ? (const char *)(uintptr_t)*slot : NULL;
}

static int make_hardlink(struct vctx *v, const char *first, int dirfd,
			 const char *name)
{
	const char *slash = strrchr(first, '/');
	char *ppath = strndup(first, slash ? (size_t)(slash - first) : 0);
	int pfd, ret = 0;

	if (!ppath)
		return -ENOMEM;
	pfd = open_beneath(v->x->root_fd, ppath, O_RDONLY | O_DIRECTORY);
	free(ppath);
	if (pfd < 0)
		return -errno;
	if (linkat(pfd, slash ? slash + 1 : first, dirfd, name, 0) < 0)
		ret = -errno;
	close(pfd);
	return ret;
}

static int remember_dir(struct extract_state *x, uint64_t nid, const char *path)
{
	if (x->ndirs == x->dirs_cap) {
		size_t cap = x->dirs_cap ? x->dirs_cap * 2 : 64;
		uint64_t *d = realloc(x->dirs, cap * sizeof(*d));
		char **p;

		if (!d)
			return -ENOMEM;
		x->dirs = d;
		p = realloc(x->dir_paths, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		x->dir_paths = p;
		x->dirs_cap = cap;
	}
	x->dir_paths[x->ndirs] = strdup(path);
	if (!x->dir_paths[x->ndirs])
		return -ENOMEM;
	x->dirs[x->ndirs++] = nid;
	return 0;
}

static int create_entry(struct vctx *v, const struct lading_rentry *e,
			int dirfd, const char *name)
{
	const struct lading_rinode *ino = e->inode;
	char target[4096];
	int ret;

	switch (ino->mode & S_IFMT) {
	case S_IFDIR:
		if (mkdirat(dirfd, name, 0700) < 0)
			return -errno;
		return remember_dir(v->x, ino->nid, e->path);
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
	const char *name, *first;
	int dirfd, ret;

	if (!*e->path)
		return remember_dir(v->x, e->inode->nid, "");
	dirfd = parent_fd(v, e->path, &name);
	if (dirfd < 0)
		return lading_error_set(v->err, -dirfd, "extracting /%s: %s",
					e->path, strerror(-dirfd));
	if (!e->first_link && !S_ISDIR(e->inode->mode) &&
	    (first = find_link(v->x, e->inode->nid)) != NULL) {
		ret = make_hardlink(v, first, dirfd, name);
	} else {
		ret = create_entry(v, e, dirfd, name);
		if (ret == NOT_EXTRACTED)
			return 0;	/* reported; its other names are tried anew */
		if (!ret && !S_ISDIR(e->inode->mode) && e->inode->nlink > 1)
			ret = remember_link(v->x, e->inode->nid, e->path);
	}
	if (ret)
		return lading_error_set(v->err, -ret, "extracting /%s: %s", e->path,
					strerror(-ret));
	return 0;
}

int extract_finish(struct vctx *v)
{
	struct extract_state *x = v->x;
	size_t i = x->ndirs;

	while (i--) {
		struct lading_rinode ino;
		int fd, ret;

		ret = lading_reader_inode(v->reader, x->dirs[i], &ino, v->err);
		if (ret)
			return ret;
		fd = open_beneath(x->root_fd, x->dir_paths[i], O_RDONLY | O_DIRECTORY);
		if (fd < 0)
			return lading_error_set(v->err, errno, "extracting /%s: %s",
						x->dir_paths[i], strerror(errno));
		ret = apply_meta(v, &ino, fd, fd, ".");
		close(fd);
		if (ret)
			return lading_error_set(v->err, -ret, "extracting /%s: %s",
						x->dir_paths[i], strerror(-ret));
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
	size_t i;

	if (!x)
		return;
	if (x->parent_fd >= 0)
		close(x->parent_fd);
	if (x->root_fd >= 0)
		close(x->root_fd);
	for (i = 0; i < x->links.cap; i++)
		if (x->links.keys[i])
			free((char *)(uintptr_t)x->links.values[i]);
	lading_idmap_free(&x->links);
	for (i = 0; i < x->ndirs; i++)
		free(x->dir_paths[i]);
	free(x->dirs);
	free(x->dir_paths);
	free(x->parent_path);
	free(x);
	v->x = NULL;
}
