// SPDX-License-Identifier: MIT
/*
 * Directory source: a sorted depth-first walk (so the blob layout does not
 * depend on readdir order), hardlinks joined by (st_dev, st_ino), sparse
 * files read with SEEK_DATA/SEEK_HOLE so holes are never read.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

struct dir_walk {
	struct source_ctx *ctx;
	struct hardlink_entry *links;
	size_t nlinks, cap;	/* open addressing, cap a power of two */
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

static int read_xattrs(struct source_ctx *ctx, struct lading_inode *ino,
		       const char *path)
{
	ssize_t len = llistxattr(path, NULL, 0), vlen;
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
	len = llistxattr(path, names, (size_t)len);
	if (len < 0) {
		ret = lading_error_set(ctx->err, errno, "%s: listing xattrs: %s",
				       path, strerror(errno));
		goto out;
	}
	for (n = names; n < names + len && !ret; n += strlen(n) + 1) {
		vlen = lgetxattr(path, n, NULL, 0);
		if (vlen >= 0) {
			free(val);
			val = malloc((size_t)vlen + 1);
			if (!val) {
				ret = -ENOMEM;
				break;
			}
			vlen = lgetxattr(path, n, val, (size_t)vlen);
		}
		if (vlen < 0) {
			ret = lading_error_set(ctx->err, errno,
					       "%s: reading xattr %s: %s", path,
					       n, strerror(errno));
			break;
		}
		ret = source_add_xattr(ctx, ino, n, val, (size_t)vlen, path);
	}
out:
	free(val);
	free(names);
	return ret;
}

static int read_file_data(struct source_ctx *ctx, struct lading_inode *ino,
			  const char *path, const struct stat *st)
{
	struct file_sink fs;
	int fd, ret;
	uint64_t size = (uint64_t)st->st_size;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return lading_error_set(ctx->err, errno, "%s: %s", path,
					strerror(errno));
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
	close(fd);
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

static int fill_inode(struct dir_walk *w, struct lading_inode *ino,
		      const char *path, const struct stat *st)
{
	struct source_ctx *ctx = w->ctx;
	int ret;

	copy_stat(ino, st);
	source_count_type(ctx, st->st_mode);
	if (S_ISLNK(st->st_mode)) {
		size_t cap = (size_t)st->st_size + 1;
		ssize_t n;

		ino->symlink = malloc(cap);
		if (!ino->symlink)
			return -ENOMEM;
		n = readlink(path, ino->symlink, cap);
		if (n < 0 || (size_t)n >= cap || n == 0)
			return lading_error_set(ctx->err, n < 0 ? errno : EIO,
				"%s: cannot read symlink target", path);
		ino->symlink[n] = '\0';
		ino->size = (uint64_t)n;
	}
	ret = read_xattrs(ctx, ino, path);
	if (!ret && S_ISREG(st->st_mode))
		ret = read_file_data(ctx, ino, path, st);
	return ret;
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
static int list_dir(struct source_ctx *ctx, const char *path, char ***out)
{
	DIR *d = opendir(path);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int ret = 0;

	if (!d)
		return lading_error_set(ctx->err, errno, "%s: %s", path,
					strerror(errno));
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

static int walk_dir(struct dir_walk *w, struct lading_inode *dir,
		    const char *path);

static int walk_entry(struct dir_walk *w, struct lading_inode *dir,
		      const char *path, const char *name)
{
	struct source_ctx *ctx = w->ctx;
	struct lading_inode *ino;
	struct stat st;
	int ret;

	if (lstat(path, &st) < 0)
		return lading_error_set(ctx->err, errno, "%s: %s", path,
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
		return lading_error_set(ctx->err, -ret, "%s: %s", path,
					strerror(-ret));
	ret = fill_inode(w, ino, path, &st);
	if (!ret && !S_ISDIR(st.st_mode) && st.st_nlink > 1)
		ret = link_remember(w, &st, ino);
	if (!ret && S_ISDIR(st.st_mode))
		ret = walk_dir(w, ino, path);
	return ret;
}

static int walk_dir(struct dir_walk *w, struct lading_inode *dir,
		    const char *path)
{
	char **names = NULL, **n;
	int ret = list_dir(w->ctx, path, &names);

	if (ret)
		return ret;
	for (n = names; !ret && *n; n++) {
		char *child = lading_path_join(path, *n);

		if (!child) {
			ret = -ENOMEM;
			break;
		}
		ret = walk_entry(w, dir, child, *n);
		free(child);
	}
	free_names(names);
	return ret;
}

int source_load_dir(struct source_ctx *ctx)
{
	struct dir_walk w = { .ctx = ctx };
	struct lading_inode *root = lading_tree_root(ctx->tree);
	const char *path = ctx->params->path;
	struct stat st;
	int ret;

	if (stat(path, &st) < 0)
		return lading_error_set(ctx->err, errno, "%s: %s", path,
					strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return lading_error_set(ctx->err, ENOTDIR,
					"%s: not a directory", path);
	copy_stat(root, &st);
	ret = read_xattrs(ctx, root, path);
	if (!ret)
		ret = walk_dir(&w, root, path);
	free(w.links);
	if (ret == -ENOMEM)
		lading_error_set(ctx->err, ENOMEM, "out of memory");
	return ret;
}
