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
 * A directory found on one side only is reported once, not its contents.
 *
 * --no-nlink disables both nlink and hardlink-group checks.
 * --no-root-meta skips mode/uid/gid/mtime/nlink/xattrs of the root itself
 * (for sources whose root metadata is synthesised, e.g. tars without "./").
 *
 * Both trees are walked together, relative to directory fds held on a heap
 * stack (at most WALK_OPEN levels open, the rest reopened by ".."), so any
 * depth works, paths far past PATH_MAX included.
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
#define WALK_OPEN 16	/* directory levels kept open */

struct options {
	bool mtime;
	bool nsec;
	bool nlink;
	bool xattrs;
	bool dir_nlink;
	bool root_meta;
};

/* First sighting of a non-directory inode, by walk position. */
struct link_slot {
	dev_t dev;
	ino_t ino;
	uint64_t ord;		/* 0: empty slot */
	char *first;		/* its path, kept for nlink > 1 */
};

struct side {
	const char *root;
	struct link_slot *links;
	size_t nlinks, cap;
};

/* One directory level of both trees. */
struct frame {
	int fd[2];		/* -1 while closed */
	dev_t dev[2];
	ino_t ino[2];
	char **names[2];	/* sorted */
	size_t n[2], i[2];
	size_t path_len;
};

struct ctx {
	struct options opt;
	struct side side[2];	/* SRC, DST */
	unsigned long ndiff;
	unsigned long nerr;
	char *buf1;
	char *buf2;
	struct frame *stack;
	size_t depth, cap;
	char *path;		/* of the current entry, relative; "." */
	size_t path_cap;
	uint64_t ord;		/* walk position of the current entry */
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

/* ---- hardlink groups --------------------------------------------------- */

static size_t link_pos(const struct side *t, dev_t dev, ino_t ino)
{
	size_t j = (size_t)((ino * 0x9E3779B97F4A7C15ull) ^ dev) & (t->cap - 1);

	while (t->links[j].ord && (t->links[j].dev != dev || t->links[j].ino != ino))
		j = (j + 1) & (t->cap - 1);
	return j;
}

/*
 * The walk position and path of the first name of st's inode on this side
 * (this entry's own, if it is the first).  Both trees are walked in the
 * same order, so equal positions on both sides mean equal groups.
 */
static int link_note(struct ctx *c, struct side *t, const struct stat *st,
		     uint64_t *ord, const char **first)
{
	struct link_slot *l;

	if ((t->nlinks + 1) * 2 > t->cap) {
		struct link_slot *old = t->links;
		size_t oldcap = t->cap;

		t->cap = oldcap ? oldcap * 2 : 1024;
		t->links = calloc(t->cap, sizeof(*t->links));
		if (!t->links)
			return -ENOMEM;
		for (size_t i = 0; i < oldcap; i++)
			if (old[i].ord)
				t->links[link_pos(t, old[i].dev, old[i].ino)] = old[i];
		free(old);
	}
	l = &t->links[link_pos(t, st->st_dev, st->st_ino)];
	if (!l->ord) {
		*l = (struct link_slot){ st->st_dev, st->st_ino, c->ord, NULL };
		if (st->st_nlink > 1 && !(l->first = strdup(c->path)))
			return -ENOMEM;
		t->nlinks++;
	}
	*ord = l->ord;
	*first = l->first ? l->first : c->path;
	return 0;
}

static void free_side(struct side *t)
{
	for (size_t i = 0; i < t->cap; i++)
		free(t->links[i].first);
	free(t->links);
}

/* ---- file contents ----------------------------------------------------- */

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

static int open_file(struct ctx *c, int side, int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);

	if (fd < 0) {
		fd = -errno;
		report_err(c, "%s/%s: open: %s", c->side[side].root, c->path,
			   strerror(errno));
	}
	return fd;
}

static void compare_data(struct ctx *c, const int *dirfd, const char *name,
			 off_t size)
{
	int sfd, dfd, ret;
	off_t where = 0;

	sfd = open_file(c, 0, dirfd[0], name);
	if (sfd < 0)
		return;
	dfd = open_file(c, 1, dirfd[1], name);
	if (dfd < 0) {
		close(sfd);
		return;
	}
	ret = cmp_range(c, sfd, dfd, 0, size, &where);
	if (ret < 0)
		report_err(c, "%s: read: %s", c->path, strerror(-ret));
	else if (ret > 0)
		report_diff(c, "%s: content differs at byte %lld", c->path,
			    (long long)where);
	posix_fadvise(dfd, 0, 0, POSIX_FADV_DONTNEED);
	close(sfd);
	close(dfd);
}

/* ---- symlinks and xattrs ----------------------------------------------- */

static int read_link(int dirfd, const char *name, char **out)
{
	size_t cap = 256;
	char *buf = NULL;

	for (;;) {
		char *nb = realloc(buf, cap);
		ssize_t r;

		if (!nb) {
			free(buf);
			return -ENOMEM;
		}
		buf = nb;
		r = readlinkat(dirfd, name, buf, cap);
		if (r < 0) {
			int ret = -errno;

			free(buf);
			return ret;
		}
		if ((size_t)r < cap) {
			buf[r] = '\0';
			*out = buf;
			return 0;
		}
		cap *= 2;
	}
}

static void compare_symlink(struct ctx *c, const int *dirfd, const char *name)
{
	char *a = NULL, *b = NULL;
	int ret = read_link(dirfd[0], name, &a);

	if (!ret)
		ret = read_link(dirfd[1], name, &b);
	if (ret)
		report_err(c, "%s: readlink: %s", c->path, strerror(-ret));
	else if (strcmp(a, b))
		report_diff(c, "%s: symlink target differs: '%s' vs '%s'", c->path,
			    a, b);
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

/* l*xattr() of any depth: the entry through its directory's fd. */
static void compare_xattrs(struct ctx *c, const int *dirfd, const char *name)
{
	char sp[64 + 256], dp[64 + 256];
	struct xlist xs = { 0 }, xd = { 0 };
	int ret;

	snprintf(sp, sizeof(sp), "/proc/self/fd/%d/%s", dirfd[0], name);
	snprintf(dp, sizeof(dp), "/proc/self/fd/%d/%s", dirfd[1], name);
	ret = list_xattrs(sp, &xs);
	if (!ret)
		ret = list_xattrs(dp, &xd);
	if (ret)
		report_err(c, "%s: listxattr: %s", c->path, strerror(-ret));
	else
		compare_xattr_lists(c, c->path, sp, dp, &xs, &xd);
	free_xlist(&xs);
	free_xlist(&xd);
}

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

static void compare_links(struct ctx *c, const struct stat *a,
			  const struct stat *b)
{
	if (a->st_nlink != b->st_nlink &&
	    (!S_ISDIR(a->st_mode) || c->opt.dir_nlink))
		report_diff(c, "%s: nlink differs: %lu vs %lu", c->path,
			    (unsigned long)a->st_nlink, (unsigned long)b->st_nlink);
}

static int compare_groups(struct ctx *c, const struct stat *a,
			  const struct stat *b)
{
	uint64_t so, dor;
	const char *sf, *df;
	int ret;

	if (S_ISDIR(a->st_mode))
		return 0;
	ret = link_note(c, &c->side[0], a, &so, &sf);
	if (!ret)
		ret = link_note(c, &c->side[1], b, &dor, &df);
	if (!ret && so != dor && c->opt.nlink)
		report_diff(c, "%s: hardlink group differs: first link '%s' vs '%s'",
			    c->path, sf, df);
	return ret;
}

static int compare_entry(struct ctx *c, const struct stat *s,
			 const struct stat *d, const int *dirfd,
			 const char *name, bool is_root)
{
	if ((s->st_mode & S_IFMT) != (d->st_mode & S_IFMT)) {
		report_diff(c, "%s: type differs: %s vs %s", c->path,
			    type_name(s->st_mode), type_name(d->st_mode));
		return 0;
	}
	if (!is_root || c->opt.root_meta) {
		compare_owner_mode(c, c->path, s, d);
		if (c->opt.mtime)
			compare_mtime(c, c->path, s, d);
		if (c->opt.nlink)
			compare_links(c, s, d);
		if (c->opt.xattrs)
			compare_xattrs(c, dirfd, name);
	}
	switch (s->st_mode & S_IFMT) {
	case S_IFREG:
		if (s->st_size != d->st_size)
			report_diff(c, "%s: size differs: %lld vs %lld", c->path,
				    (long long)s->st_size, (long long)d->st_size);
		else
			compare_data(c, dirfd, name, s->st_size);
		break;
	case S_IFLNK:
		compare_symlink(c, dirfd, name);
		break;
	case S_IFCHR:
	case S_IFBLK:
		if (s->st_rdev != d->st_rdev)
			report_diff(c, "%s: rdev differs: %u:%u vs %u:%u", c->path,
				    major(s->st_rdev), minor(s->st_rdev),
				    major(d->st_rdev), minor(d->st_rdev));
		break;
	default:
		break;
	}
	return is_root ? 0 : compare_groups(c, s, d);
}

/* ---- walking both trees ------------------------------------------------ */

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* All names of the directory at @fd (not consumed) but "." and "..". */
static int read_names(int fd, char ***out, size_t *count)
{
	int dfd = dup(fd);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	int ret = 0;

	if (!d) {
		ret = -errno;
		if (dfd >= 0)
			close(dfd);
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
	if (n)
		qsort(names, n, sizeof(*names), cmp_str);
	*out = names;
	*count = n;
	return 0;
}

/* c->path becomes the top frame's path + "/" + name. */
static int set_path(struct ctx *c, const char *name)
{
	size_t at = c->stack[c->depth - 1].path_len, nl = strlen(name);
	size_t len = at ? at + 1 + nl : nl;

	if (len + 1 > c->path_cap) {
		char *p = realloc(c->path, (len + 1) * 2);

		if (!p)
			return -ENOMEM;
		c->path = p;
		c->path_cap = (len + 1) * 2;
	}
	if (at)
		c->path[at++] = '/';
	memcpy(c->path + at, name, nl + 1);
	return 0;
}

/* Makes the directories open at fd[] (taken over) the top level. */
static int push(struct ctx *c, const int *fd, size_t path_len)
{
	struct frame f = { .fd = { fd[0], fd[1] }, .path_len = path_len };
	int ret = 0;

	for (int s = 0; s < 2 && !ret; s++) {
		struct stat st;

		if (fstat(fd[s], &st) < 0)
			ret = -errno;
		else
			ret = read_names(fd[s], &f.names[s], &f.n[s]);
		f.dev[s] = st.st_dev;
		f.ino[s] = st.st_ino;
		if (ret)
			report_err(c, "%s/%s: readdir: %s", c->side[s].root,
				   c->path, strerror(-ret));
	}
	if (!ret && c->depth == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		struct frame *st = realloc(c->stack, cap * sizeof(*st));

		if (st) {
			c->stack = st;
			c->cap = cap;
		} else {
			ret = -ENOMEM;
		}
	}
	if (ret) {
		for (int s = 0; s < 2; s++) {
			close(fd[s]);
			free_names(f.names[s], f.n[s]);
		}
		return ret == -ENOMEM ? ret : 0;
	}
	c->stack[c->depth++] = f;
	if (c->depth > WALK_OPEN) {
		struct frame *old = &c->stack[c->depth - WALK_OPEN - 1];

		for (int s = 0; s < 2; s++) {
			if (old->fd[s] >= 0)
				close(old->fd[s]);
			old->fd[s] = -1;
		}
	}
	return 0;
}

/* Leaves the top level; a closed parent is reopened by ".." and checked. */
static int pop(struct ctx *c)
{
	struct frame *f = &c->stack[c->depth - 1], *up = f - 1;
	int ret = 0;

	for (int s = 0; s < 2; s++) {
		if (c->depth > 1 && up->fd[s] < 0 && !ret) {
			struct stat st;

			up->fd[s] = openat(f->fd[s], "..", O_RDONLY | O_DIRECTORY |
					   O_NOFOLLOW | O_CLOEXEC);
			if (up->fd[s] < 0 || fstat(up->fd[s], &st) < 0 ||
			    st.st_dev != up->dev[s] || st.st_ino != up->ino[s]) {
				fprintf(stderr, "lading-treecmp: %s: a directory "
					"moved during the walk\n", c->side[s].root);
				ret = -ESTALE;
			}
		}
		close(f->fd[s]);
		free_names(f->names[s], f->n[s]);
	}
	c->depth--;
	return ret;
}

/* An entry on one side only. */
static int one_side(struct ctx *c, int s, int dirfd, const char *name)
{
	struct stat st;
	uint64_t ord;
	const char *first;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		report_err(c, "%s/%s: stat: %s", c->side[s].root, c->path,
			   strerror(errno));
		return 0;
	}
	report_diff(c, "%s: only in %s (%s)", c->path, s ? "DST" : "SRC",
		    type_name(st.st_mode));
	return S_ISDIR(st.st_mode) ? 0 : link_note(c, &c->side[s], &st, &ord, &first);
}

static int both_sides(struct ctx *c, struct frame *f, const char *name)
{
	int dirfd[2] = { f->fd[0], f->fd[1] }, fd[2];
	size_t len = strlen(c->path);
	struct stat st[2];
	int ret;

	for (int s = 0; s < 2; s++) {
		if (fstatat(dirfd[s], name, &st[s], AT_SYMLINK_NOFOLLOW) < 0) {
			report_err(c, "%s/%s: stat: %s", c->side[s].root, c->path,
				   strerror(errno));
			return 0;
		}
	}
	ret = compare_entry(c, &st[0], &st[1], dirfd, name, false);
	if (ret || !S_ISDIR(st[0].st_mode) || !S_ISDIR(st[1].st_mode))
		return ret;
	for (int s = 0; s < 2; s++) {
		fd[s] = openat(dirfd[s], name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
			       O_CLOEXEC);
		if (fd[s] < 0) {
			report_err(c, "%s/%s: open: %s", c->side[s].root, c->path,
				   strerror(errno));
			if (s)
				close(fd[0]);
			return 0;
		}
	}
	return push(c, fd, len);	/* f is stale now */
}

static int walk(struct ctx *c)
{
	int fd[2], ret = 0;
	struct stat st[2];

	for (int s = 0; s < 2; s++) {
		fd[s] = open(c->side[s].root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
			     O_CLOEXEC);
		if (fd[s] < 0 || fstat(fd[s], &st[s]) < 0) {
			ret = -errno;
			fprintf(stderr, "lading-treecmp: %s: %s\n", c->side[s].root,
				strerror(errno));
			if (fd[s] >= 0)
				close(fd[s]);
			if (s)
				close(fd[0]);
			return ret;
		}
	}
	c->path = strdup(".");
	if (!c->path) {
		close(fd[0]);
		close(fd[1]);
		return -ENOMEM;
	}
	c->path_cap = 2;
	compare_entry(c, &st[0], &st[1], fd, ".", true);
	ret = push(c, fd, 0);
	while (!ret && c->depth) {
		struct frame *f = &c->stack[c->depth - 1];
		bool s_end = f->i[0] == f->n[0], d_end = f->i[1] == f->n[1];
		int r;

		if (s_end && d_end) {
			ret = pop(c);
			continue;
		}
		r = s_end ? 1 : d_end ? -1 :
		    strcmp(f->names[0][f->i[0]], f->names[1][f->i[1]]);
		ret = set_path(c, r > 0 ? f->names[1][f->i[1]] : f->names[0][f->i[0]]);
		if (ret)
			break;
		c->ord++;
		if (r < 0)
			ret = one_side(c, 0, f->fd[0], f->names[0][f->i[0]++]);
		else if (r > 0)
			ret = one_side(c, 1, f->fd[1], f->names[1][f->i[1]++]);
		else {
			const char *name = f->names[0][f->i[0]];

			f->i[0]++;
			f->i[1]++;
			ret = both_sides(c, f, name);
		}
	}
	while (c->depth) {
		struct frame *f = &c->stack[--c->depth];

		for (int s = 0; s < 2; s++) {
			if (f->fd[s] >= 0)
				close(f->fd[s]);
			free_names(f->names[s], f->n[s]);
		}
	}
	return ret;
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
	c.side[0].root = argv[optind];
	c.side[1].root = argv[optind + 1];
	c.buf1 = malloc(BUF_SIZE);
	c.buf2 = malloc(BUF_SIZE);
	ret = c.buf1 && c.buf2 ? 0 : -ENOMEM;
	if (!ret)
		ret = walk(&c);
	if (ret == -ENOMEM)
		fprintf(stderr, "lading-treecmp: %s\n", strerror(-ret));
	if (c.ndiff > MAX_SHOWN)
		printf("... %lu more differences not shown\n", c.ndiff - MAX_SHOWN);
	if (c.ndiff)
		printf("%lu differences between %s and %s\n", c.ndiff,
		       c.side[0].root, c.side[1].root);
	free_side(&c.side[0]);
	free_side(&c.side[1]);
	free(c.stack);
	free(c.path);
	free(c.buf1);
	free(c.buf2);
	if (ret || c.nerr)
		return 2;
	return c.ndiff ? 1 : 0;
}
