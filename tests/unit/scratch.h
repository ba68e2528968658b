/* SPDX-License-Identifier: MIT */
/* A scratch directory for a unit test, and paths inside it. */
#ifndef LADING_SCRATCH_H
#define LADING_SCRATCH_H

#include <stdio.h>
#include <stdlib.h>
#include <lading/util.h>

static char root[512];

/* Makes root: a new directory under $TMPDIR (or /tmp); 0 or -1. */
static inline int scratch_make(const char *test)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(root, sizeof(root), "%s/lading-%s-test.XXXXXX",
		 tmp && *tmp ? tmp : "/tmp", test);
	return mkdtemp(root) ? 0 : -1;
}

/* root/name, in one of 4 rotating buffers (several may be in use at once). */
static inline char *at(const char *name)
{
	static char buf[4][4096];
	static int n;

	n = (n + 1) % 4;
	snprintf(buf[n], sizeof(buf[n]), "%s/%s", root, name);
	return buf[n];
}

/* Removes root and all it holds; 0 or -errno. */
static inline int scratch_remove(void)
{
	return lading_remove_tree(root);
}

#endif
