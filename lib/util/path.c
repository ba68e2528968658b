// SPDX-License-Identifier: MIT
/* Paths and directories: joining, parents, mkdir -p, reopening "..". */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <lading/util.h>

char *lading_path_join(const char *dir, const char *name)
{
	size_t dl = strlen(dir), nl = strlen(name);
	bool slash = dl && dir[dl - 1] != '/';
	char *p = malloc(dl + slash + nl + 1);

	if (!p)
		return NULL;
	memcpy(p, dir, dl);
	if (slash)
		p[dl] = '/';
	memcpy(p + dl + slash, name, nl + 1);
	return p;
}

char *lading_path_dirname(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *d;

	if (!slash)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	d = strndup(path, (size_t)(slash - path));
	return d;
}

int lading_mkdir_p_noting(const char *path,
			  int (*made)(void *ud, const char *dir), void *ud)
{
	char *p = strdup(path), *s;
	int ret = 0;

	if (!p)
		return -ENOMEM;
	for (s = p + 1; ; s++) {
		if (*s == '/' || !*s) {
			char c = *s;

			*s = '\0';
			if (mkdir(p, 0755) == 0)
				ret = made ? made(ud, p) : 0;
			else if (errno != EEXIST)
				ret = -errno;
			*s = c;
			if (ret || !c)
				break;
		}
	}
	free(p);
	return ret;
}

int lading_mkdir_p(const char *path)
{
	return lading_mkdir_p_noting(path, NULL, NULL);
}

int lading_reopen_parent(int child_fd, dev_t dev, ino_t ino)
{
	int fd = openat(child_fd, "..", O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
			O_CLOEXEC);
	struct stat st;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || st.st_dev != dev || st.st_ino != ino) {
		close(fd);
		return -ESTALE;
	}
	return fd;
}
