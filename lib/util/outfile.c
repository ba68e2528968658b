// SPDX-License-Identifier: MIT
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <lading/util.h>

int lading_write_full(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int lading_pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

bool lading_range_is_data(int fd, uint64_t off, uint64_t len)
{
	off_t d = lseek(fd, (off_t)off, SEEK_DATA), h;

	if (d < 0 || (uint64_t)d != off)
		return false;
	h = lseek(fd, (off_t)off, SEEK_HOLE);
	return h >= 0 && (uint64_t)h >= off + len;
}

int lading_pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

#define TMP_PREFIX ".lading-tmp-"

/*
 * Locks a new temporary (file or directory) for its writer's lifetime.  A
 * sweeper may have taken it between its creation and the lock and removed
 * it: then it has no links left, and the caller makes another.
 */
static int lock_new(int fd)
{
	struct stat st;

	while (flock(fd, LOCK_EX) < 0)
		if (errno != EINTR)
			return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	return st.st_nlink ? 0 : -EAGAIN;
}

int lading_outfile_open(struct lading_outfile *of, const char *dir)
{
	int ret, tries;

	memset(of, 0, sizeof(*of));
	of->fd = -1;
	of->dir = strdup(dir);
	of->tmp_path = lading_path_join(dir, TMP_PREFIX "XXXXXX");
	if (!of->dir || !of->tmp_path) {
		lading_outfile_abort(of);
		return -ENOMEM;
	}
	for (tries = 0; tries < 8; tries++) {
		memcpy(of->tmp_path + strlen(of->tmp_path) - 6, "XXXXXX", 6);
		of->fd = mkostemp(of->tmp_path, O_CLOEXEC);
		if (of->fd < 0) {
			ret = -errno;
			free(of->tmp_path);
			of->tmp_path = NULL;
			lading_outfile_abort(of);
			return ret;
		}
		ret = lock_new(of->fd);
		if (ret != -EAGAIN)
			break;
		close(of->fd);
		of->fd = -1;
	}
	/* mkostemp makes 0600; published artifacts are world-readable. */
	if (!ret && fchmod(of->fd, 0644) < 0)
		ret = -errno;
	if (ret) {
		lading_outfile_abort(of);
		return ret;
	}
	return 0;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int ret = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0 && errno != EINVAL)
		ret = -errno;
	close(fd);
	return ret;
}

/* rename(); *fresh tells whether dir/name did not exist before. */
static int rename_into(const char *from, const char *to, bool *fresh)
{
	*fresh = true;
	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EEXIST && errno != EINVAL && errno != ENOSYS)
		return -errno;
	*fresh = false;	/* replacing, or the file system cannot tell */
	return rename(from, to) < 0 ? -errno : 0;
}

int lading_outfile_commit(struct lading_outfile *of, const char *name)
{
	char *final_path;
	bool fresh;
	int ret;

	/* everything that can fail comes before the rename */
	if (fsync(of->fd) < 0)
		return -errno;
	ret = close(of->fd);
	of->fd = -1;
	if (ret < 0)
		return -errno;
	final_path = lading_path_join(of->dir, name);
	if (!final_path)
		return -ENOMEM;
	ret = rename_into(of->tmp_path, final_path, &fresh);
	if (!ret) {
		of->committed = true;
		ret = fsync_dir(of->dir);
		/*
		 * The rename may not last: a name that did not exist goes
		 * again, so a failure leaves no new output behind.
		 */
		if (ret && fresh)
			unlink(final_path);
	}
	free(final_path);
	return ret;
}

void lading_outfile_abort(struct lading_outfile *of)
{
	if (of->fd >= 0)
		close(of->fd);
	of->fd = -1;
	if (of->tmp_path && !of->committed)
		unlink(of->tmp_path);
	free(of->tmp_path);
	free(of->dir);
	of->tmp_path = NULL;
	of->dir = NULL;
}


/* ---- leftovers of dead writers ---------------------------------------- */

int lading_write_file_atomic(const char *path, const void *buf, size_t len,
			     struct lading_error *err)
{
	const char *slash = strrchr(path, '/');
	char *dir = lading_path_dirname(path);
	struct lading_outfile of;
	int ret;

	if (!dir)
		return lading_error_set(err, ENOMEM, "out of memory");
	ret = lading_outfile_open(&of, dir);
	free(dir);
	if (!ret)
		ret = lading_write_full(of.fd, buf, len);
	if (!ret)
		ret = lading_outfile_commit(&of, slash ? slash + 1 : path);
	lading_outfile_abort(&of);
	if (ret)
		return lading_error_set(err, -ret, "%s: %s", path, strerror(-ret));
	return 0;
}

int lading_remove_tree(const char *path)
{
	size_t root_len = strlen(path);
	char cur[PATH_MAX];
	int ret = 0;

	if (root_len >= sizeof(cur))
		return -ENAMETOOLONG;
	memcpy(cur, path, root_len + 1);
	/* depth first without recursion: the path is the stack */
	for (;;) {
		DIR *d = opendir(cur);
		struct dirent *de;
		bool down = false;

		if (!d && errno == ENOTDIR)
			return unlink(cur) < 0 ? -errno : 0;
		while (d && (de = readdir(d))) {
			struct stat st;
			size_t l = strlen(cur), nl = strlen(de->d_name);

			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISDIR(st.st_mode)) {
				if (l + 1 + nl >= sizeof(cur)) {
					ret = -ENAMETOOLONG;
					break;
				}
				cur[l] = '/';
				memcpy(cur + l + 1, de->d_name, nl + 1);
				down = true;
				break;
			}
			unlinkat(dirfd(d), de->d_name, 0);
		}
		if (d)
			closedir(d);
		if (ret)
			return ret;
		if (down)
			continue;
		/* empty now, or not removable: stop rather than loop */
		if (rmdir(cur) < 0)
			return -errno;
		if (strlen(cur) == root_len)
			return 0;
		*strrchr(cur, '/') = '\0';
	}
}

int lading_outfile_sweep(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int removed = 0;

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		struct stat a, b;
		char *path;
		int fd;

		if (strncmp(de->d_name, TMP_PREFIX, strlen(TMP_PREFIX)))
			continue;
		fd = openat(dirfd(d), de->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
			    O_NOCTTY | O_CLOEXEC);
		if (fd < 0)
			continue;
		/* a live writer holds the lock; the name must still be this file */
		/* and only our own: removing another user's tree as root
		 * would follow what they swap in */
		if (flock(fd, LOCK_EX | LOCK_NB) < 0 || fstat(fd, &a) < 0 ||
		    fstatat(dirfd(d), de->d_name, &b, AT_SYMLINK_NOFOLLOW) < 0 ||
		    a.st_ino != b.st_ino || a.st_dev != b.st_dev ||
		    a.st_uid != geteuid()) {
			close(fd);
			continue;
		}
		if (S_ISDIR(a.st_mode)) {
			path = lading_path_join(dir, de->d_name);
			if (path && !lading_remove_tree(path))
				removed++;
			free(path);
		} else if (S_ISREG(a.st_mode) && !unlinkat(dirfd(d), de->d_name, 0)) {
			removed++;
		}
		close(fd);
	}
	closedir(d);
	return removed;
}

/* ---- output directories ------------------------------------------------- */

static int note_added(struct lading_outdir *od, const char *path)
{
	char **n = realloc(od->added, (od->nadded + 1) * sizeof(*n));

	if (!n)
		return -ENOMEM;
	od->added = n;
	od->added[od->nadded] = strdup(path);
	if (!od->added[od->nadded])
		return -ENOMEM;
	od->nadded++;
	return 0;
}

static int note_made(void *ud, const char *dir)
{
	return note_added(ud, dir);
}

/* mkdir -p, each directory made noted (so abort removes it again). */
static int make_dirs(struct lading_outdir *od, const char *path)
{
	return lading_mkdir_p_noting(path, note_made, od);
}

int lading_outdir_open(struct lading_outdir *od, const char *final)
{
	struct stat st;
	char *parent = NULL, *base, *tmpl = NULL;
	int ret = 0, tries;

	memset(od, 0, sizeof(*od));
	od->lock_fd = -1;
	od->final = strdup(final);
	if (!od->final)
		return -ENOMEM;
	while (strlen(od->final) > 1 && od->final[strlen(od->final) - 1] == '/')
		od->final[strlen(od->final) - 1] = '\0';
	if (stat(od->final, &st) == 0) {
		if (!S_ISDIR(st.st_mode)) {
			ret = -ENOTDIR;
			goto out;
		}
		od->existed = true;
		lading_outfile_sweep(od->final);
		tmpl = lading_path_join(od->final, TMP_PREFIX "XXXXXX");
	} else if (errno == ENOENT) {
		/* beside it, so that one rename puts it in place */
		parent = lading_path_dirname(od->final);
		base = strrchr(od->final, '/') ? strrchr(od->final, '/') + 1 : od->final;
		if (!parent) {
			ret = -ENOMEM;
			goto out;
		}
		ret = make_dirs(od, parent);
		if (ret)
			goto out;
		lading_outfile_sweep(parent);
		tmpl = malloc(strlen(parent) + strlen(base) + 32);
		if (tmpl)
			sprintf(tmpl, "%s/" TMP_PREFIX "%s-XXXXXX", parent, base);
	} else {
		ret = -errno;
		goto out;
	}
	if (!tmpl) {
		ret = -ENOMEM;
		goto out;
	}
	for (tries = 0; tries < 8; tries++) {
		memcpy(tmpl + strlen(tmpl) - 6, "XXXXXX", 6);
		if (!mkdtemp(tmpl)) {
			ret = -errno;
			break;
		}
		od->lock_fd = open(tmpl, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		ret = od->lock_fd < 0 ? -errno : lock_new(od->lock_fd);
		if (ret != -EAGAIN)
			break;
		close(od->lock_fd);
		od->lock_fd = -1;
	}
	if (!ret && chmod(tmpl, 0755) < 0)
		ret = -errno;
	if (ret) {
		free(tmpl);
		goto out;
	}
	od->stage = tmpl;
out:
	free(parent);
	if (ret)
		lading_outdir_abort(od);
	return ret;
}

int lading_outdir_merge(struct lading_outdir *od, const char *sub)
{
	char *from = *sub ? lading_path_join(od->stage, sub) : strdup(od->stage);
	char *to = *sub ? lading_path_join(od->final, sub) : strdup(od->final);
	DIR *d = NULL;
	struct dirent *de;
	int ret = 0;

	if (!from || !to) {
		ret = -ENOMEM;
		goto out;
	}
	if (!od->existed)
		goto out;	/* commit renames the whole stage */
	ret = make_dirs(od, to);
	d = ret ? NULL : opendir(from);
	if (!ret && !d)
		ret = errno == ENOENT ? 0 : -errno;
	while (d && !ret && (de = readdir(d))) {
		struct stat st;
		char *src, *dst;

		if (!strncmp(de->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		src = lading_path_join(from, de->d_name);
		dst = lading_path_join(to, de->d_name);
		if (!src || !dst)
			ret = -ENOMEM;
		/* link, not rename: a file that final has already stays */
		else if (link(src, dst) == 0)
			ret = note_added(od, dst);
		else if (errno != EEXIST)
			ret = -errno;
		free(src);
		free(dst);
	}
	if (d)
		closedir(d);
	if (!ret)
		ret = fsync_dir(to);
out:
	free(from);
	free(to);
	return ret;
}

int lading_outdir_commit(struct lading_outdir *od)
{
	char *parent;
	int ret;

	if (od->existed) {
		/* everything is in final by now: the stage is just removed */
		lading_remove_tree(od->stage);
		od->committed = true;
		return 0;
	}
	if (rename(od->stage, od->final) < 0)
		return -errno;
	od->committed = true;
	ret = note_added(od, od->final);
	parent = lading_path_dirname(od->final);
	if (!ret && parent)
		ret = fsync_dir(parent);
	free(parent);
	return ret;
}

static void outdir_free(struct lading_outdir *od)
{
	size_t i;

	if (od->lock_fd >= 0)
		close(od->lock_fd);
	od->lock_fd = -1;
	for (i = 0; i < od->nadded; i++)
		free(od->added[i]);
	free(od->added);
	free(od->stage);
	free(od->final);
	od->added = NULL;
	od->nadded = 0;
	od->stage = od->final = NULL;
}

void lading_outdir_abort(struct lading_outdir *od)
{
	size_t i;

	if (od->stage && !od->committed)
		lading_remove_tree(od->stage);
	/* newest first: files before the directories holding them */
	for (i = od->nadded; i-- > 0;) {
		struct stat st;

		if (lstat(od->added[i], &st) < 0)
			continue;
		if (!S_ISDIR(st.st_mode))
			unlink(od->added[i]);
		else if (!od->existed && !strcmp(od->added[i], od->final))
			lading_remove_tree(od->added[i]);	/* the renamed stage */
		else
			rmdir(od->added[i]);
	}
	outdir_free(od);
}

void lading_outdir_close(struct lading_outdir *od)
{
	if (od->stage && !od->committed)
		lading_remove_tree(od->stage);
	outdir_free(od);
}
