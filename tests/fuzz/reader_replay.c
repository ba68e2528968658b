// SPDX-License-Identifier: MIT
/*
 * reader_replay: runs the reader fuzz target (reader_fuzz.c) over files, so
 * regular builds (gcc, ASan+UBSan in CI) exercise a corpus without libFuzzer.
 *
 *   reader_replay [-v] PATH...
 *
 * A PATH that is a directory stands for its regular files (not recursive,
 * in name order).  -v names each input on stderr before running it, so the
 * last name printed before a sanitizer report is the culprit.
 * Exit: 0 all inputs ran, 2 usage or I/O error (a crash never returns).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "reader_fuzz.h"

static int verbose;
static unsigned long ran;

/* Reads a whole file into a buffer of exactly its size (ASan sees overreads). */
static int slurp(const char *path, uint8_t **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t n = 0, cap = 0;

	if (!f)
		return -errno;
	for (;;) {
		size_t got;

		if (n == cap) {
			uint8_t *p = realloc(buf, cap ? cap * 2 : 65536);

			if (!p) {
				free(buf);
				fclose(f);
				return -ENOMEM;
			}
			buf = p;
			cap = cap ? cap * 2 : 65536;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		free(buf);
		fclose(f);
		return -EIO;
	}
	fclose(f);
	*out = n ? realloc(buf, n) : buf;
	if (!*out)
		*out = buf;
	*len = n;
	return 0;
}

static int run_file(const char *path)
{
	uint8_t *data = NULL;
	size_t len = 0;
	int ret = slurp(path, &data, &len);

	if (ret) {
		fprintf(stderr, "reader_replay: %s: %s\n", path, strerror(-ret));
		return 2;
	}
	if (verbose)
		fprintf(stderr, "reader_replay: %s (%zu bytes)\n", path, len);
	lading_fuzz_one(data, len);
	free(data);
	ran++;
	return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int run_dir(const char *dir)
{
	struct dirent **names;
	int n, i, ret = 0;

	n = scandir(dir, &names, NULL, by_name);
	if (n < 0) {
		fprintf(stderr, "reader_replay: %s: %s\n", dir, strerror(errno));
		return 2;
	}
	for (i = 0; i < n; i++) {
		char path[4096];
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		if (!ret && stat(path, &st) == 0 && S_ISREG(st.st_mode))
			ret = run_file(path);
		free(names[i]);
	}
	free(names);
	return ret;
}

int main(int argc, char **argv)
{
	int i, ret = 0;

	for (i = 1; i < argc && !ret; i++) {
		struct stat st;

		if (strcmp(argv[i], "-v") == 0) {
			verbose = 1;
		} else if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			ret = run_dir(argv[i]);
		} else {
			ret = run_file(argv[i]);
		}
	}
	if (argc < 2) {
		fprintf(stderr, "usage: reader_replay [-v] FILE_OR_DIR...\n");
		return 2;
	}
	printf("reader_replay: %lu inputs ran\n", ran);
	return ret;
}
