// SPDX-License-Identifier: MIT
/*
 * Directory source: a sorted depth-first walk (so the blob layout does not
 * depend on readdir order), hardlinks joined by (st_dev, st_ino), sparse
 * files read with SEEK_DATA/SEEK_HOLE so holes are never read.  The walk
 * keeps its directories on a heap stack and works relative to their fds,
 * so a tree of any depth loads, paths far longer than PATH_MAX included.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <lading/format.h>
#include "internal.h"

struct hardlink_entry {
	dev_t dev;
	ino_t ino;
	struct lading_inode *inode;
};

/* A directory being listed; fd -1 while closed (see WALK_OPEN). */
struct walk_frame {
	struct lading_inode *dir;
	char **names;		/* sorted, NULL-terminated */
	size_t next;
	int fd;
	dev_t dev;		/* identity, checked when reopened by ".." */
	ino_t ino;
	size_t path_len;	/* of its path in dir_walk.path */
};

/* Directory fds kept open at the bottom of the stack; others reopen. */
#define WALK_OPEN 16

struct dir_walk {
	struct source_ctx *ctx;
	struct hardlink_entry *links;
	size_t nlinks, cap;	/* open addressing, cap a power of two */
	struct walk_frame *stack;
	size_t depth, stack_cap;
	char *path;		/* of the current entry, for messages */
	size_t path_cap;
};

static size_t link_slot(const struct dir_walk *w, dev_t dev, ino_t ino)
{
	size_t j = (size_t)((ino * 0x9E3779B97F4A7C15ull) ^ dev) & (w->cap - 1);

	while (w->links[j].inode &&
	       (w->links[j].dev != dev || w->links[j].ino != ino))
		j = (j + 1) & (w->cap - 1);
	return j;
}

static int link_remember(struct dir_walk *w, const struct stat *st,
			 struct lading_inode *inode)
{
	if ((w->nlinks + 1) * 2 > w->cap) {
		struct hardlink_entry *old = w->links;
		size_t oldcap = w->cap, i;

		w->cap = oldcap ? oldcap * 2 : 256;
		w->links = calloc(w->cap, sizeof(*w->links));
		if (!w->links) {
			w->links = old;
			w->cap = oldcap;
			return -ENOMEM;
		}
		for (i = 0; i < oldcap; i++)
			if (old[i].inode)
				w->links[link_slot(w, old[i].dev, old[i].ino)] =
					old[i];
		free(old);
	}
	w->links[link_slot(w, st->st_dev, st->st_ino)] =
		(struct hardlink_entry){ st->st_dev, st->st_ino, inode };
	w->nlinks++;
	return 0;
}

static struct lading_inode *link_find(const struct dir_walk *w,
				      const struct stat *st)
{
	if (!w->cap)
		return NULL;
	return w->links[link_slot(w, st->st_dev, st->st_ino)].inode;
}

/*
 * xattrs through an open fd, or else through a path that l*xattr() takes
 * as is (symlinks and devices cannot be opened for it).
 */
struct xattr_at {
	int fd;			/* >= 0: f*xattr() */
	const char *lpath;	/* else l*xattr() on this */
	const char *path;	/* for messages */
};

static ssize_t xa_list(const struct xattr_at *a, char *buf, size_t len)
{
	return a->fd >= 0 ? flistxattr(a->fd, buf, len) :
			    llistxattr(a->lpath, buf, len);
}

static ssize_t xa_get(const struct xattr_at *a, const char *name, void *buf,
		      size_t len)
{
	return a->fd >= 0 ? fgetxattr(a->fd, name, buf, len) :
			    lgetxattr(a->lpath, name, buf, len);
}

static int read_xattrs(struct source_ctx *ctx, struct lading_inode *ino,
		       const struct xattr_at *a)
{
	const char *path = a->path;
	ssize_t len = xa_list(a, NULL, 0), vlen;
	char *names, *n;
	uint8_t *val = NULL;
	int ret = 0;

	if (len < 0)
		return errno == ENOTSUP ? 0 :
			lading_error_set(ctx->err, errno, "%s: listing xattrs: %s",
					 path, strerror(errno));
	if (len == 0)
		return 0;
	names = malloc((size_t)len);
	if (!names)
		return -ENOMEM;
	len = xa_list(a, names, (size_t)len);
	if (len < 0) {
		ret = lading_error_set(ctx->err, errno, "%s: listing xattrs: %s",
				       path, strerror(errno));
		goto out;
	}
	for (n = names; n < names + len && !ret; n += strlen(n) + 1) {
		vlen = xa_get(a, n, NULL, 0);
		if (vlen >= 0) {
			free(val);
			val = malloc((size_t)vlen + 1);
			if (!val) {
				ret = -ENOMEM;
				break;
			}
			vlen = xa_get(a, n, val, (size_t)vlen);
		}
		if (vlen < 0) {
			ret = lading_error_set(ctx->err, errno,
					       "%s: reading xattr %s: %s", path,
					       n, strerror(errno));
			break;
		}
		ret = source_add_xattr(ctx, ino, n, val, (size_t)vlen, NULL, path);
	}
out:
	free(val);
	free(names);
	return ret;
}

static int read_file_data(struct source_ctx *ctx, struct lading_inode *ino,
			  int fd, const char *path, const struct stat *st)
{
	struct file_sink fs;
	int ret;
	uint64_t size = (uint64_t)st->st_size;

	ret = file_sink_begin(&fs, ctx, ino, size);
	while (!ret && fs.pos < size) {
		off_t data = lseek(fd, (off_t)fs.pos, SEEK_DATA), hole;
		uint64_t end;

		if (data < 0 && errno == ENXIO)
			break;		/* the rest is a hole */
		if (data < 0)
			data = (off_t)fs.pos;	/* no SEEK_DATA: read it all */
		hole = lseek(fd, data, SEEK_HOLE);
		end = hole < 0 || (uint64_t)hole > size ? size : (uint64_t)hole;
		if ((uint64_t)data > fs.pos) {
			ret = file_sink_data(&fs, (uint64_t)data, NULL, 0);
			if (ret)
				break;
		}
		while (!ret && fs.pos < end) {
			uint8_t *buf;
			size_t room;
			ssize_t n;

			ret = file_sink_buffer(&fs, &buf, &room);
			if (ret)
				break;
			if (room > end - fs.pos)
				room = (size_t)(end - fs.pos);
			n = pread(fd, buf, room, (off_t)fs.pos);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				ret = lading_error_set(ctx->err, errno,
						       "%s: read: %s", path,
						       strerror(errno));
				break;
			}
			if (n == 0) {
				ret = lading_error_set(ctx->err, EIO,
					"%s: file shrank while being read", path);
				break;
			}
			ret = file_sink_commit(&fs, (size_t)n);
		}
	}
	if (!ret)
		ret = file_sink_end(&fs);
	if (ret)
		return lading_error_set(ctx->err, -ret, "%s: %s", path,
					strerror(-ret));
	return 0;
}

static void copy_stat(struct lading_inode *ino, const struct stat *st)
{
	ino->mode = st->st_mode;
	ino->uid = st->st_uid;
	ino->gid = st->st_gid;
	ino->mtime = st->st_mtim.tv_sec;
	ino->mtime_nsec = (uint32_t)st->st_mtim.tv_nsec;
	if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)) {
		ino->rdev_major = major(st->st_rdev);
		ino->rdev_minor = minor(st->st_rdev);
	}
}

static int name_cmp(const void *a, const void *b)
{
	const char *x = *(char *const *)a, *y = *(char *const *)b;

	return erofs_name_cmp(x, strlen(x), y, strlen(y));
}

static void free_names(char **names)
{
	char **p;

	for (p = names; p && *p; p++)
		free(*p);
	free(names);
}

/* Sorted names of a directory (without . and ..); NULL-terminated. */
static int list_dir(struct source_ctx *ctx, int fd, const char *path,
		    char ***out)
{
	int dfd = dup(fd);	/* closedir() closes its own */
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int ret = 0;

	if (!d) {
		ret = lading_error_set(ctx->err, errno, "%s: %s", path,
				       strerror(errno));
		if (dfd >= 0)
			close(dfd);
		return ret;
	}
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			if (errno)
				ret = lading_error_set(ctx->err, errno,
					"%s: readdir: %s", path, strerror(errno));
			break;
		}
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n + 2 > cap) {
			char **nn;

			cap = cap ? cap * 2 : 32;
			nn = realloc(names, cap * sizeof(*nn));
			if (!nn) {
				ret = -ENOMEM;
				break;
			}
			names = nn;
		}
		names[n] = strdup(de->d_name);
		if (!names[n]) {
			ret = -ENOMEM;
			break;
		}
		n++;
	}
	closedir(d);
	if (!ret && !names)
		names = calloc(1, sizeof(*names));
	if (!names)
		return ret ? ret : -ENOMEM;
	names[n] = NULL;
	if (ret) {
		free_names(names);
		return ret;
	}
	qsort(names, n, sizeof(*names), name_cmp);
	*out = names;
	return 0;
}


static int fill_inode(struct dir_walk *w, struct lading_inode *ino,
		      int dirfd, const char *name, size_t path_len,
		      const struct stat *st, int *dir_fd)
{
	struct source_ctx *ctx = w->ctx;
	const char *path = w->path;
	struct xattr_at xa = { .fd = -1, .lpath = path, .path = path };
	char proc[64 + EROFS_NAME_LEN];
	struct stat fst;
	int ret;

	copy_stat(ino, st);
	source_count_type(ctx, st->st_mode);
	if (S_ISLNK(st->st_mode)) {
		size_t cap = (size_t)st->st_size + 1;
		ssize_t n;

		ino->symlink = malloc(cap);
		if (!ino->symlink)
			return -ENOMEM;
		n = readlinkat(dirfd, name, ino->symlink, cap);
		if (n < 0 || (size_t)n >= cap || n == 0)
			return lading_error_set(ctx->err, n < 0 ? errno : EIO,
				"%s: cannot read symlink target", path);
		ino->symlink[n] = '\0';
		ino->size = (uint64_t)n;
	}
	if (!S_ISREG(st->st_mode) && !S_ISDIR(st->st_mode)) {
		/* not openable for xattrs: a path, if need be through /proc */
		if (path_len >= PATH_MAX) {
			snprintf(proc, sizeof(proc), "/proc/self/fd/%d/%s", dirfd,
				 name);
			xa.lpath = proc;
		}
		return read_xattrs(ctx, ino, &xa);
	}
	xa.fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
		       (S_ISDIR(st->st_mode) ? O_DIRECTORY : 0));
	if (xa.fd < 0)
		return lading_error_set(ctx->err, errno, "%s: %s", path,
					strerror(errno));
	if (fstat(xa.fd, &fst) < 0 || fst.st_dev != st->st_dev ||
	    fst.st_ino != st->st_ino)
		ret = lading_error_set(ctx->err, EAGAIN, "%s: replaced while "
				       "being read", path);
	else
		ret = read_xattrs(ctx, ino, &xa);
	if (!ret && S_ISREG(st->st_mode))
		ret = read_file_data(ctx, ino, xa.fd, path, st);
	if (!ret && S_ISDIR(st->st_mode)) {
		*dir_fd = xa.fd;	/* the caller walks it */
		return 0;
	}
	close(xa.fd);
	return ret;
}

/* w->path becomes the top directory's path + "/" + name. */
static int set_path(struct dir_walk *w, const char *name, size_t *len)
{
	size_t at = w->stack[w->depth - 1].path_len, nl = strlen(name);

	*len = at + 1 + nl;
	if (*len + 1 > w->path_cap) {
		char *p = realloc(w->path, (*len + 1) * 2);

		if (!p)
			return -ENOMEM;
		w->path = p;
		w->path_cap = (*len + 1) * 2;
	}
	w->path[at] = '/';
	memcpy(w->path + at + 1, name, nl + 1);
	return 0;
}

/* Lists the directory open at fd (taken over) and makes it the top. */
static int walk_push(struct dir_walk *w, struct lading_inode *dir, int fd,
		     size_t path_len)
{
	struct walk_frame *f;
	char **names = NULL;
	struct stat st;
	int ret = list_dir(w->ctx, fd, w->path, &names);

	if (!ret && fstat(fd, &st) < 0)
		ret = lading_error_set(w->ctx->err, errno, "%s: %s", w->path,
				       strerror(errno));
	if (!ret && w->depth == w->stack_cap) {
		size_t cap = w->stack_cap ? w->stack_cap * 2 : 64;

		f = realloc(w->stack, cap * sizeof(*f));
		if (f) {
			w->stack = f;
			w->stack_cap = cap;
		} else {
			ret = -ENOMEM;
		}
	}
	if (ret) {
		free_names(names);
		close(fd);
		return ret;
	}
	w->stack[w->depth++] = (struct walk_frame){
		.dir = dir, .names = names, .fd = fd, .dev = st.st_dev,
		.ino = st.st_ino, .path_len = path_len };
	/* a deep walk holds a bounded number of descriptors */
	if (w->depth > WALK_OPEN) {
		f = &w->stack[w->depth - WALK_OPEN - 1];
		if (f->fd >= 0) {
			close(f->fd);
			f->fd = -1;
		}
	}
	return 0;
}

/* Leaves the top directory, reopening its parent by ".." if closed. */
static int walk_pop(struct dir_walk *w)
{
	struct walk_frame *f = &w->stack[w->depth - 1], *up = f - 1;
	int ret = 0;

	if (w->depth > 1 && up->fd < 0) {
		up->fd = lading_reopen_parent(f->fd, up->dev, up->ino);
		if (up->fd < 0) {
			w->path[up->path_len] = '\0';
			ret = lading_error_set(w->ctx->err, ESTALE, "%s: moved "
					       "while being read", w->path);
		}
	}
	close(f->fd);
	free_names(f->names);
	w->depth--;
	return ret;
}

static int walk_entry(struct dir_walk *w, const char *name)
{
	struct source_ctx *ctx = w->ctx;
	struct walk_frame *f = &w->stack[w->depth - 1];
	struct lading_inode *dir = f->dir, *ino;
	int dirfd = f->fd, fd = -1, ret;
	size_t len;
	struct stat st;

	ret = set_path(w, name, &len);
	if (ret)
		return ret;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return lading_error_set(ctx->err, errno, "%s: %s", w->path,
					strerror(errno));
	ctx->stats->entries++;
	if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
		ino = link_find(w, &st);
		if (ino) {
			ctx->stats->hardlinks++;
			return lading_tree_link(ctx->tree, dir, name,
						strlen(name), ino);
		}
	}
	ino = lading_inode_new(st.st_mode);
	if (!ino)
		return -ENOMEM;
	ret = lading_tree_link(ctx->tree, dir, name, strlen(name), ino);
	lading_tree_inode_put(ctx->tree, ino);	/* the dentry holds it */
	if (ret)
		return lading_error_set(ctx->err, -ret, "%s: %s", w->path,
					strerror(-ret));
	ret = fill_inode(w, ino, dirfd, name, len, &st, &fd);
	if (!ret && !S_ISDIR(st.st_mode) && st.st_nlink > 1)
		ret = link_remember(w, &st, ino);
	if (!ret && fd >= 0)
		return walk_push(w, ino, fd, len);	/* f is stale now */
	if (fd >= 0)
		close(fd);
	return ret;
}

static int walk_tree(struct dir_walk *w, struct lading_inode *root, int fd,
		     size_t path_len)
{
	int ret = walk_push(w, root, fd, path_len);

	while (!ret && w->depth) {
		struct walk_frame *f = &w->stack[w->depth - 1];
		const char *name = f->names[f->next];

		if (!name) {
			ret = walk_pop(w);
			continue;
		}
		f->next++;
		ret = walk_entry(w, name);
	}
	while (w->depth) {
		struct walk_frame *f = &w->stack[--w->depth];

		if (f->fd >= 0)
			close(f->fd);
		free_names(f->names);
	}
	return ret;
}

int source_load_dir(struct source_ctx *ctx)
{
	struct dir_walk w = { .ctx = ctx };
	struct lading_inode *root = lading_tree_root(ctx->tree);
	const char *path = ctx->params->path;
	struct xattr_at xa = { .path = path };
	size_t len = strlen(path);
	struct stat st;
	int ret;

	xa.fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (xa.fd < 0)
		return lading_error_set(ctx->err, errno, errno == ENOTDIR ?
					"%s: not a directory" : "%s: %s", path,
					strerror(errno));
	if (fstat(xa.fd, &st) < 0) {
		ret = lading_error_set(ctx->err, errno, "%s: %s", path,
				       strerror(errno));
		close(xa.fd);
		return ret;
	}
	copy_stat(root, &st);
	ret = read_xattrs(ctx, root, &xa);
	w.path = malloc(len + 1);
	if (!ret && !w.path)
		ret = -ENOMEM;
	if (ret) {
		close(xa.fd);
	} else {
		memcpy(w.path, path, len + 1);
		w.path_cap = len + 1;
		while (len > 1 && path[len - 1] == '/')
			len--;	/* children of "src/" are "src/x" */
		if (len == 1 && path[0] == '/')
			len = 0;
		ret = walk_tree(&w, root, xa.fd, len);
	}
	free(w.links);
	free(w.stack);
	free(w.path);
	if (ret == -ENOMEM)
		lading_error_set(ctx->err, ENOMEM, "out of memory");
	return ret;
}
