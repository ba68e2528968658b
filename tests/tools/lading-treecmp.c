/*
 * lading-treecmp: compare two directory trees completely.
 *
 *   lading-treecmp [--no-mtime] [--nsec] [--no-nlink] [--no-xattrs]
 *                  [--ignore-dir-nlink] [--no-root-meta] SRC DST
 *
 * Compared, for every path in either tree (symlinks are never followed):
 * presence on both sides, file type, mode (incl. setuid/setgid/sticky),
 * uid, gid, mtime (seconds; nanoseconds with --nsec), nlink (directories
 * too unless --ignore-dir-nlink), hardlink groups (paths sharing an inode
 * in SRC share one in DST and vice versa), regular file size and bytes,
 * symlink targets, rdev of devices, and all xattrs with raw values.
 *
 * --no-nlink disables both nlink and hardlink-group checks.
 * --no-root-meta skips mode/uid/gid/mtime/nlink/xattrs of the root itself
 * (for sources whose root metadata is synthesised, e.g. tars without "./").
 *
 * Prints one line per difference (the first 50, then a count).
 * Exit status: 0 equal, 1 different, 2 error (an error wins over a
 * difference).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

#define MAX_SHOWN 50
#define BUF_SIZE (1u << 20)

struct options {
	bool mtime;
	bool nsec;
	bool nlink;
	bool xattrs;
	bool dir_nlink;
	bool root_meta;
};

struct entry {
	char *path; /* relative, "." for the root */
	struct stat st;
	size_t link_rep; /* index of the first path sharing this inode */
};

struct tree {
	const char *root;
	struct entry *e;
	size_t n;
	size_t cap;
};

struct ctx {
	struct options opt;
	struct tree src;
	struct tree dst;
	unsigned long ndiff;
	unsigned long nerr;
	char *buf1;
	char *buf2;
};

__attribute__((format(printf, 2, 3)))
static void report_diff(struct ctx *c, const char *fmt, ...)
{
	va_list ap;

	c->ndiff++;
	if (c->ndiff > MAX_SHOWN)
		return;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

__attribute__((format(printf, 2, 3)))
static void report_err(struct ctx *c, const char *fmt, ...)
{
	va_list ap;

	c->nerr++;
	fputs("lading-treecmp: error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- tree walking ------------------------------------------------------ */

static char *join_path(const char *dir, const char *name)
{
	char *p;

	if (strcmp(dir, ".") == 0)
		return strdup(name);
	if (asprintf(&p, "%s/%s", dir, name) < 0)
		return NULL;
	return p;
}

static int tree_add(struct tree *t, char *path, const struct stat *st)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 1024;
		struct entry *e = realloc(t->e, cap * sizeof(*e));

		if (!e)
			return -ENOMEM;
		t->e = e;
		t->cap = cap;
	}
	t->e[t->n].path = path;
	t->e[t->n].st = *st;
	t->e[t->n].link_rep = t->n;
	t->n++;
	return 0;
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* Read all names of a directory (except "." and ".."); consumes @fd. */
static int read_names(int fd, char ***out, size_t *count)
{
	DIR *d = fdopendir(fd);
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	int ret = 0;

	if (!d) {
		ret = -errno;
		close(fd);
		return ret;
	}
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			char **nn = realloc(names, ncap * sizeof(*nn));

			if (!nn) {
				ret = -ENOMEM;
				break;
			}
			names = nn;
			cap = ncap;
		}
		names[n] = strdup(de->d_name);
		if (!names[n]) {
			ret = -ENOMEM;
			break;
		}
		n++;
		errno = 0;
	}
	if (!ret && errno)
		ret = -errno;
	closedir(d);
	if (ret) {
		free_names(names, n);
		return ret;
	}
	*out = names;
	*count = n;
	return 0;
}

static int walk_dir(struct ctx *c, struct tree *t, int dirfd, const char *rel);

static int walk_child(struct ctx *c, struct tree *t, int dirfd,
		      const char *rel, const char *name)
{
	struct stat st;
	char *path = join_path(rel, name);
	int fd, ret;

	if (!path)
		return -ENOMEM;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		report_err(c, "%s/%s: stat: %s", t->root, path, strerror(errno));
		free(path);
		return 0;
	}
	ret = tree_add(t, path, &st);
	if (ret) {
		free(path);
		return ret;
	}
	if (!S_ISDIR(st.st_mode))
		return 0;
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		report_err(c, "%s/%s: open: %s", t->root, path, strerror(errno));
		return 0;
	}
	return walk_dir(c, t, fd, path);
}

/* Walk the directory open at @dirfd (consumed), whose path is @rel. */
static int walk_dir(struct ctx *c, struct tree *t, int dirfd, const char *rel)
{
	char **names = NULL;
	size_t n = 0;
	int dfd = dup(dirfd);
	int ret;

	if (dfd < 0) {
		report_err(c, "%s/%s: dup: %s", t->root, rel, strerror(errno));
		close(dirfd);
		return 0;
	}
	ret = read_names(dfd, &names, &n);
	if (ret) {
		report_err(c, "%s/%s: readdir: %s", t->root, rel, strerror(-ret));
		close(dirfd);
		return ret == -ENOMEM ? ret : 0;
	}
	for (size_t i = 0; i < n && !ret; i++)
		ret = walk_child(c, t, dirfd, rel, names[i]);
	free_names(names, n);
	close(dirfd);
	return ret;
}

static int cmp_entry_path(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	return strcmp(x->path, y->path);
}

static int cmp_index_ino(const void *a, const void *b, void *arg)
{
	const struct entry *e = arg;
	const struct stat *x = &e[*(const size_t *)a].st;
	const struct stat *y = &e[*(const size_t *)b].st;

	if (x->st_dev != y->st_dev)
		return x->st_dev < y->st_dev ? -1 : 1;
	if (x->st_ino != y->st_ino)
		return x->st_ino < y->st_ino ? -1 : 1;
	return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

/* For every non-directory, find the first (sorted) path sharing its inode. */
static int compute_link_reps(struct tree *t)
{
	size_t *idx = malloc((t->n ? t->n : 1) * sizeof(*idx));
	size_t m = 0;

	if (!idx)
		return -ENOMEM;
	for (size_t i = 0; i < t->n; i++)
		if (!S_ISDIR(t->e[i].st.st_mode))
			idx[m++] = i;
	qsort_r(idx, m, sizeof(*idx), cmp_index_ino, t->e);
	for (size_t i = 0; i < m;) {
		size_t j = i + 1;

		while (j < m && t->e[idx[j]].st.st_ino == t->e[idx[i]].st.st_ino &&
		       t->e[idx[j]].st.st_dev == t->e[idx[i]].st.st_dev)
			j++;
		/* sorted by index within a group: idx[i] is the smallest */
		for (size_t k = i; k < j; k++)
			t->e[idx[k]].link_rep = idx[i];
		i = j;
	}
	free(idx);
	return 0;
}

static int load_tree(struct ctx *c, struct tree *t)
{
	struct stat st;
	char *root;
	int fd, ret;

	fd = open(t->root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		ret = -errno;
		fprintf(stderr, "lading-treecmp: %s: %s\n", t->root, strerror(errno));
		if (fd >= 0)
			close(fd);
		return ret;
	}
	root = strdup(".");
	if (!root || tree_add(t, root, &st)) {
		free(root);
		close(fd);
		return -ENOMEM;
	}
	ret = walk_dir(c, t, fd, ".");
	if (ret)
		return ret;
	/* "." sorts before every other relative path, so it stays first */
	qsort(t->e, t->n, sizeof(*t->e), cmp_entry_path);
	for (size_t i = 0; i < t->n; i++)
		t->e[i].link_rep = i;
	return compute_link_reps(t);
}

static void free_tree(struct tree *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->e[i].path);
	free(t->e);
}

/* ---- file contents ----------------------------------------------------- */

static char *full_path(const struct tree *t, const char *rel)
{
	char *p;

	if (asprintf(&p, "%s/%s", t->root, rel) < 0)
		return NULL;
	return p;
}

/* Read exactly @len bytes at @off; a short read is -EIO (file shrank). */
static int read_full(int fd, char *buf, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t r = pread(fd, buf + done, len - done, off + (off_t)done);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -ENODATA;
		done += (size_t)r;
	}
	return 0;
}

static off_t first_nonzero(const char *buf, size_t len)
{
	static const char zeros[4096];
	size_t i = 0;

	/* fast path: whole zero pages */
	while (i + sizeof(zeros) <= len && !memcmp(buf + i, zeros, sizeof(zeros)))
		i += sizeof(zeros);
	for (; i < len; i++)
		if (buf[i])
			return (off_t)i;
	return -1;
}

static off_t first_mismatch(const char *a, const char *b, size_t len)
{
	if (!memcmp(a, b, len))
		return -1;
	for (size_t i = 0; i < len; i++)
		if (a[i] != b[i])
			return (off_t)i;
	return -1;
}

/*
 * FIEMAP view of @fd at @off: 1 if it answered (*run_end, *is_data set),
 * 0 if the filesystem has no FIEMAP. EROFS implements FIEMAP but not
 * SEEK_HOLE, and its unmapped chunks are holes, so this lets a 5 GiB
 * sparse file be compared without reading gigabytes of zeros.
 */
static int fiemap_run(int fd, off_t off, off_t end, off_t *run_end,
		      bool *is_data)
{
	union {
		struct fiemap fm;
		char raw[sizeof(struct fiemap) + sizeof(struct fiemap_extent)];
	} u;
	struct fiemap_extent *fe;

	memset(&u, 0, sizeof(u));
	u.fm.fm_start = (uint64_t)off;
	u.fm.fm_length = (uint64_t)(end - off);
	u.fm.fm_extent_count = 1;
	if (ioctl(fd, FS_IOC_FIEMAP, &u.fm) < 0)
		return 0;
	fe = &u.fm.fm_extents[0];
	if (u.fm.fm_mapped_extents == 0) {
		*is_data = false;
		*run_end = end;
	} else if (fe->fe_logical > (uint64_t)off) {
		*is_data = false;
		*run_end = fe->fe_logical < (uint64_t)end ? (off_t)fe->fe_logical : end;
	} else {
		uint64_t e = fe->fe_logical + fe->fe_length;

		*is_data = true;
		*run_end = e < (uint64_t)end && e > (uint64_t)off ? (off_t)e : end;
	}
	return 1;
}

/*
 * Data state of @fd at @off: returns the end of the run of the same kind
 * starting at @off (capped at @end), and sets *is_data. SEEK_DATA/SEEK_HOLE
 * first; where they call everything data, FIEMAP may know better; without
 * either, everything is data (and gets read).
 */
static off_t next_run(int fd, off_t off, off_t end, bool *is_data)
{
	off_t d = lseek(fd, off, SEEK_DATA);
	off_t h, fend;

	if (d < 0 && errno == ENXIO) {
		*is_data = false;
		return end;
	}
	if (d >= 0 && d > off) {
		*is_data = false;
		return d < end ? d : end;
	}
	h = d < 0 ? -1 : lseek(fd, off, SEEK_HOLE);
	*is_data = true;
	if (h > off && h < end)
		return h;
	if (fiemap_run(fd, off, end, &fend, is_data))
		return fend;
	*is_data = true;
	return end;
}

/*
 * Compare [off, end) of both files. A range that is a hole in both is
 * skipped; a hole on one side must read as zeros on the other.
 * Returns 0 equal, 1 with *where set if different, negative errno.
 */
static int cmp_range(struct ctx *c, int sfd, int dfd, off_t off, off_t end,
		     off_t *where)
{
	while (off < end) {
		bool sdata, ddata;
		off_t se = next_run(sfd, off, end, &sdata);
		off_t de = next_run(dfd, off, end, &ddata);
		off_t run_end = se < de ? se : de;

		while (off < run_end && (sdata || ddata)) {
			size_t len = (size_t)(run_end - off < BUF_SIZE ?
					      run_end - off : BUF_SIZE);
			off_t bad;
			int ret;

			ret = sdata ? read_full(sfd, c->buf1, len, off) : 0;
			if (!ret && ddata)
				ret = read_full(dfd, c->buf2, len, off);
			if (ret)
				return ret;
			if (sdata && ddata)
				bad = first_mismatch(c->buf1, c->buf2, len);
			else
				bad = first_nonzero(sdata ? c->buf1 : c->buf2, len);
			if (bad >= 0) {
				*where = off + bad;
				return 1;
			}
			off += (off_t)len;
		}
		off = run_end;
	}
	return 0;
}

static int open_file(struct ctx *c, const struct tree *t, const char *rel)
{
	char *p = full_path(t, rel);
	int fd;

	if (!p)
		return -ENOMEM;
	fd = open(p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		fd = -errno;
		report_err(c, "%s: open: %s", p, strerror(errno));
	}
	free(p);
	return fd;
}

static void compare_data(struct ctx *c, const char *rel, off_t size)
{
	int sfd, dfd, ret;
	off_t where = 0;

	sfd = open_file(c, &c->src, rel);
	if (sfd < 0)
		return;
	dfd = open_file(c, &c->dst, rel);
	if (dfd < 0) {
		close(sfd);
		return;
	}
	ret = cmp_range(c, sfd, dfd, 0, size, &where);
	if (ret < 0)
		report_err(c, "%s: read: %s", rel, strerror(-ret));
	else if (ret > 0)
		report_diff(c, "%s: content differs at byte %lld", rel,
			    (long long)where);
	posix_fadvise(dfd, 0, 0, POSIX_FADV_DONTNEED);
	close(sfd);
	close(dfd);
}

/* ---- symlinks and xattrs ----------------------------------------------- */

static int read_link(const struct tree *t, const char *rel, char **out)
{
	char *p = full_path(t, rel);
	size_t cap = 256;
	char *buf = NULL;
	int ret = 0;

	if (!p)
		return -ENOMEM;
	for (;;) {
		char *nb = realloc(buf, cap);
		ssize_t r;

		if (!nb) {
			ret = -ENOMEM;
			break;
		}
		buf = nb;
		r = readlink(p, buf, cap);
		if (r < 0) {
			ret = -errno;
			break;
		}
		if ((size_t)r < cap) {
			buf[r] = '\0';
			break;
		}
		cap *= 2;
	}
	free(p);
	if (ret) {
		free(buf);
		return ret;
	}
	*out = buf;
	return 0;
}

static void compare_symlink(struct ctx *c, const char *rel)
{
	char *a = NULL, *b = NULL;
	int ret = read_link(&c->src, rel, &a);

	if (!ret)
		ret = read_link(&c->dst, rel, &b);
	if (ret)
		report_err(c, "%s: readlink: %s", rel, strerror(-ret));
	else if (strcmp(a, b))
		report_diff(c, "%s: symlink target differs: '%s' vs '%s'", rel, a, b);
	free(a);
	free(b);
}

struct xlist {
	char *raw;
	char **names;
	size_t n;
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int split_names(struct xlist *x, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		n += x->raw[i] == '\0';
	x->names = calloc(n ? n : 1, sizeof(*x->names));
	if (!x->names)
		return -ENOMEM;
	for (size_t i = 0; i < len; i += strlen(x->raw + i) + 1)
		x->names[x->n++] = x->raw + i;
	qsort(x->names, x->n, sizeof(*x->names), cmp_str);
	return 0;
}

static int list_xattrs(const char *path, struct xlist *x)
{
	ssize_t len;

	memset(x, 0, sizeof(*x));
	for (;;) {
		len = llistxattr(path, NULL, 0);
		if (len < 0)
			return errno == ENOTSUP ? 0 : -errno;
		free(x->raw);
		x->raw = malloc((size_t)len + 1);
		if (!x->raw)
			return -ENOMEM;
		len = llistxattr(path, x->raw, (size_t)len);
		if (len >= 0)
			break;
		if (errno != ERANGE)
			return -errno;
	}
	return split_names(x, (size_t)len);
}

static void free_xlist(struct xlist *x)
{
	free(x->raw);
	free(x->names);
}

static ssize_t get_xattr(const char *path, const char *name, char **out)
{
	char *buf = NULL;
	ssize_t len;

	for (;;) {
		len = lgetxattr(path, name, NULL, 0);
		if (len < 0)
			break;
		free(buf);
		buf = malloc((size_t)len + 1);
		if (!buf)
			return -ENOMEM;
		len = lgetxattr(path, name, buf, (size_t)len);
		if (len >= 0 || errno != ERANGE)
			break;
	}
	if (len < 0) {
		len = -errno;
		free(buf);
		return len;
	}
	*out = buf;
	return len;
}

static void compare_xattr_value(struct ctx *c, const char *rel,
				const char *sp, const char *dp, const char *name)
{
	char *a = NULL, *b = NULL;
	ssize_t la = get_xattr(sp, name, &a);
	ssize_t lb = la < 0 ? 0 : get_xattr(dp, name, &b);

	if (la < 0 || lb < 0)
		report_err(c, "%s: getxattr %s: %s", rel, name,
			   strerror((int)-(la < 0 ? la : lb)));
	else if (la != lb || memcmp(a, b, (size_t)la))
		report_diff(c, "%s: xattr %s value differs (%zd vs %zd bytes)",
			    rel, name, la, lb);
	free(a);
	free(b);
}

static void compare_xattr_lists(struct ctx *c, const char *rel, const char *sp,
				const char *dp, struct xlist *xs, struct xlist *xd)
{
	size_t i = 0, j = 0;

	while (i < xs->n || j < xd->n) {
		int r = i == xs->n ? 1 : j == xd->n ? -1 :
			strcmp(xs->names[i], xd->names[j]);

		if (r < 0)
			report_diff(c, "%s: xattr %s only in SRC", rel, xs->names[i++]);
		else if (r > 0)
			report_diff(c, "%s: xattr %s only in DST", rel, xd->names[j++]);
		else {
			compare_xattr_value(c, rel, sp, dp, xs->names[i]);
			i++;
			j++;
		}
	}
}

static void compare_xattrs(struct ctx *c, const char *rel)
{
	char *sp = full_path(&c->src, rel), *dp = full_path(&c->dst, rel);
	struct xlist xs = { 0 }, xd = { 0 };
	int ret;

	if (!sp || !dp) {
		report_err(c, "%s: %s", rel, strerror(ENOMEM));
		goto out;
	}
	ret = list_xattrs(sp, &xs);
	if (!ret)
		ret = list_xattrs(dp, &xd);
	if (ret) {
		report_err(c, "%s: listxattr: %s", rel, strerror(-ret));
		goto out;
	}
	compare_xattr_lists(c, rel, sp, dp, &xs, &xd);
out:
	free_xlist(&xs);
	free_xlist(&xd);
	free(sp);
	free(dp);
}

/* ---- per-entry comparison ---------------------------------------------- */

static const char *type_name(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG: return "regular file";
	case S_IFDIR: return "directory";
	case S_IFLNK: return "symlink";
	case S_IFCHR: return "char device";
	case S_IFBLK: return "block device";
	case S_IFIFO: return "fifo";
	case S_IFSOCK: return "socket";
	default: return "unknown";
	}
}

static void compare_owner_mode(struct ctx *c, const char *rel,
			       const struct stat *a, const struct stat *b)
{
	if ((a->st_mode & 07777) != (b->st_mode & 07777))
		report_diff(c, "%s: mode differs: %04o vs %04o", rel,
			    (unsigned)(a->st_mode & 07777),
			    (unsigned)(b->st_mode & 07777));
	if (a->st_uid != b->st_uid)
		report_diff(c, "%s: uid differs: %u vs %u", rel,
			    (unsigned)a->st_uid, (unsigned)b->st_uid);
	if (a->st_gid != b->st_gid)
		report_diff(c, "%s: gid differs: %u vs %u", rel,
			    (unsigned)a->st_gid, (unsigned)b->st_gid);
}

static void compare_mtime(struct ctx *c, const char *rel,
			  const struct stat *a, const struct stat *b)
{
	if (a->st_mtim.tv_sec != b->st_mtim.tv_sec ||
	    (c->opt.nsec && a->st_mtim.tv_nsec != b->st_mtim.tv_nsec))
		report_diff(c, "%s: mtime differs: %lld.%09ld vs %lld.%09ld", rel,
			    (long long)a->st_mtim.tv_sec, a->st_mtim.tv_nsec,
			    (long long)b->st_mtim.tv_sec, b->st_mtim.tv_nsec);
}

static void compare_links(struct ctx *c, const struct entry *s,
			  const struct entry *d)
{
	const struct stat *a = &s->st, *b = &d->st;
	const char *sr = c->src.e[s->link_rep].path;
	const char *dr = c->dst.e[d->link_rep].path;

	if (a->st_nlink != b->st_nlink &&
	    (!S_ISDIR(a->st_mode) || c->opt.dir_nlink))
		report_diff(c, "%s: nlink differs: %lu vs %lu", s->path,
			    (unsigned long)a->st_nlink, (unsigned long)b->st_nlink);
	if (!S_ISDIR(a->st_mode) && strcmp(sr, dr))
		report_diff(c, "%s: hardlink group differs: first link '%s' vs '%s'",
			    s->path, sr, dr);
}

static void compare_metadata(struct ctx *c, const struct entry *s,
			     const struct entry *d)
{
	compare_owner_mode(c, s->path, &s->st, &d->st);
	if (c->opt.mtime)
		compare_mtime(c, s->path, &s->st, &d->st);
	if (c->opt.nlink)
		compare_links(c, s, d);
	if (c->opt.xattrs)
		compare_xattrs(c, s->path);
}

static void compare_content(struct ctx *c, const struct entry *s,
			    const struct entry *d)
{
	const struct stat *a = &s->st, *b = &d->st;

	switch (a->st_mode & S_IFMT) {
	case S_IFREG:
		if (a->st_size != b->st_size)
			report_diff(c, "%s: size differs: %lld vs %lld", s->path,
				    (long long)a->st_size, (long long)b->st_size);
		else
			compare_data(c, s->path, a->st_size);
		break;
	case S_IFLNK:
		compare_symlink(c, s->path);
		break;
	case S_IFCHR:
	case S_IFBLK:
		if (a->st_rdev != b->st_rdev)
			report_diff(c, "%s: rdev differs: %u:%u vs %u:%u", s->path,
				    major(a->st_rdev), minor(a->st_rdev),
				    major(b->st_rdev), minor(b->st_rdev));
		break;
	default:
		break;
	}
}

static void compare_entry(struct ctx *c, const struct entry *s,
			  const struct entry *d)
{
	bool is_root = strcmp(s->path, ".") == 0;

	if ((s->st.st_mode & S_IFMT) != (d->st.st_mode & S_IFMT)) {
		report_diff(c, "%s: type differs: %s vs %s", s->path,
			    type_name(s->st.st_mode), type_name(d->st.st_mode));
		return;
	}
	if (!is_root || c->opt.root_meta)
		compare_metadata(c, s, d);
	compare_content(c, s, d);
}

static void compare_trees(struct ctx *c)
{
	size_t i = 0, j = 0;

	while (i < c->src.n || j < c->dst.n) {
		int r = i == c->src.n ? 1 : j == c->dst.n ? -1 :
			strcmp(c->src.e[i].path, c->dst.e[j].path);

		if (r < 0) {
			report_diff(c, "%s: only in SRC (%s)", c->src.e[i].path,
				    type_name(c->src.e[i].st.st_mode));
			i++;
		} else if (r > 0) {
			report_diff(c, "%s: only in DST (%s)", c->dst.e[j].path,
				    type_name(c->dst.e[j].st.st_mode));
			j++;
		} else {
			compare_entry(c, &c->src.e[i++], &c->dst.e[j++]);
		}
	}
}

/* ---- main -------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f, "usage: lading-treecmp [--no-mtime] [--nsec] [--no-nlink] "
		   "[--no-xattrs] [--ignore-dir-nlink] [--no-root-meta] SRC DST\n");
}

static int parse_args(int argc, char **argv, struct options *o)
{
	enum { NO_MTIME = 256, NSEC, NO_NLINK, NO_XATTRS, IGN_DIR_NLINK, NO_ROOT };
	static const struct option longopts[] = {
		{ "no-mtime", no_argument, NULL, NO_MTIME },
		{ "nsec", no_argument, NULL, NSEC },
		{ "no-nlink", no_argument, NULL, NO_NLINK },
		{ "no-xattrs", no_argument, NULL, NO_XATTRS },
		{ "ignore-dir-nlink", no_argument, NULL, IGN_DIR_NLINK },
		{ "no-root-meta", no_argument, NULL, NO_ROOT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	*o = (struct options){ .mtime = true, .nlink = true, .xattrs = true,
			       .dir_nlink = true, .root_meta = true };
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case NO_MTIME: o->mtime = false; break;
		case NSEC: o->nsec = true; break;
		case NO_NLINK: o->nlink = false; break;
		case NO_XATTRS: o->xattrs = false; break;
		case IGN_DIR_NLINK: o->dir_nlink = false; break;
		case NO_ROOT: o->root_meta = false; break;
		case 'h': usage(stdout); exit(0);
		default: return -EINVAL;
		}
	}
	if (argc - optind != 2)
		return -EINVAL;
	return 0;
}

int main(int argc, char **argv)
{
	struct ctx c = { 0 };
	int ret;

	if (parse_args(argc, argv, &c.opt) < 0) {
		usage(stderr);
		return 2;
	}
	c.src.root = argv[optind];
	c.dst.root = argv[optind + 1];
	c.buf1 = malloc(BUF_SIZE);
	c.buf2 = malloc(BUF_SIZE);
	ret = c.buf1 && c.buf2 ? 0 : -ENOMEM;
	if (!ret)
		ret = load_tree(&c, &c.src);
	if (!ret)
		ret = load_tree(&c, &c.dst);
	if (!ret)
		compare_trees(&c);
	else if (ret == -ENOMEM)
		fprintf(stderr, "lading-treecmp: %s\n", strerror(-ret));
	if (c.ndiff > MAX_SHOWN)
		printf("... %lu more differences not shown\n", c.ndiff - MAX_SHOWN);
	if (c.ndiff)
		printf("%lu differences between %s and %s\n", c.ndiff,
		       c.src.root, c.dst.root);
	free_tree(&c.src);
	free_tree(&c.dst);
	free(c.buf1);
	free(c.buf2);
	if (ret || c.nerr)
		return 2;
	return c.ndiff ? 1 : 0;
}
