// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <lading/common.h>

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

int lading_outfile_open(struct lading_outfile *of, const char *dir)
{
	memset(of, 0, sizeof(*of));
	of->fd = -1;
	of->dir = strdup(dir);
	of->tmp_path = lading_path_join(dir, ".lading-tmp-XXXXXX");
	if (!of->dir || !of->tmp_path) {
		lading_outfile_abort(of);
		return -ENOMEM;
	}
	of->fd = mkostemp(of->tmp_path, O_CLOEXEC);
	if (of->fd < 0) {
		int ret = -errno;

		free(of->tmp_path);
		of->tmp_path = NULL;
		lading_outfile_abort(of);
		return ret;
	}
	/* mkostemp makes 0600; published artifacts are world-readable. */
	if (fchmod(of->fd, 0644) < 0) {
		int ret = -errno;

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

int lading_sha256_fd(int fd, uint8_t *out, uint64_t *bytes)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	size_t bufsz = 4u << 20;
	uint8_t *buf = malloc(bufsz);
	unsigned int dl;
	uint64_t off = 0;
	int ret = 0;

	if (!md || !buf || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		ret = -ENOMEM;
		goto out;
	}
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	for (;;) {
		ssize_t n = pread(fd, buf, bufsz, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			break;
		}
		if (n == 0)
			break;
		EVP_DigestUpdate(md, buf, (size_t)n);
		off += (uint64_t)n;
	}
	if (!ret)
		EVP_DigestFinal_ex(md, out, &dl);
	*bytes += off;
out:
	EVP_MD_CTX_free(md);
	free(buf);
	return ret;
}

