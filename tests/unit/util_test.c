// SPDX-License-Identifier: MIT
/*
 * Unit tests for lib/util/outfile.c: output directories (a new one
 * appears only at commit, an aborted one leaves nothing; an existing one
 * gains only merged files, which abort removes again), the sweep of dead
 * writers' temporaries (a live writer's flock keeps its file) and tree
 * removal without recursion.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <lading/common.h>
#include "check.h"

static char root[256];

static char *at(const char *name)
{
	static char buf[4][4096];
	static int n;

	n = (n + 1) % 4;
	snprintf(buf[n], sizeof(buf[n]), "%s/%s", root, name);
	return buf[n];
}

static bool exists(const char *name)
{
	struct stat st;

	return lstat(at(name), &st) == 0;
}

static void put(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	CHECK(fd >= 0 && lading_write_full(fd, text, strlen(text)) == 0);
	close(fd);
}

/* entries of dir (not . and ..) */
static int count(const char *dir)
{
	char cmd[4200];
	FILE *p;
	int n = -1;

	snprintf(cmd, sizeof(cmd), "ls -A '%s' | wc -l", dir);
	p = popen(cmd, "r");
	if (p && fscanf(p, "%d", &n) != 1)
		n = -1;
	if (p)
		pclose(p);
	return n;
}

static void test_new_dir(void)
{
	struct lading_outdir od;
	char *f;

	/* aborted: nothing, not even the parents it made */
	CHECK(lading_outdir_open(&od, at("p/q/new")) == 0);
	CHECK(!exists("p/q/new") && exists("p/q"));
	f = lading_path_join(od.stage, "blob");
	put(f, "x");
	free(f);
	lading_outdir_abort(&od);
	CHECK(!exists("p"));
	/* committed: renamed into place whole */
	CHECK(lading_outdir_open(&od, at("p/q/new")) == 0);
	f = lading_path_join(od.stage, "blob");
	put(f, "x");
	free(f);
	CHECK(lading_outdir_merge(&od, "") == 0);
	CHECK(lading_outdir_commit(&od) == 0);
	lading_outdir_close(&od);
	CHECK(exists("p/q/new/blob"));
	CHECK_EQ_U64(count(at("p/q")), 1);
}

static void test_existing_dir(void)
{
	struct lading_outdir od;
	char *f;

	CHECK(mkdir(at("old"), 0755) == 0);
	put(at("old/keep"), "old");
	CHECK(lading_outdir_open(&od, at("old")) == 0);
	f = lading_path_join(od.stage, "keep");	/* already there: stays old */
	put(f, "new");
	free(f);
	CHECK(mkdir(at("old/.lading-tmp-x"), 0755) == 0);
	f = lading_path_join(od.stage, "sub");
	CHECK(mkdir(f, 0755) == 0);
	free(f);
	f = lading_path_join(od.stage, "sub/added");
	put(f, "a");
	free(f);
	CHECK(lading_outdir_merge(&od, "sub") == 0);
	CHECK(exists("old/sub/added"));
	/* a failure after the merge: the destination as it was */
	lading_outdir_abort(&od);
	CHECK(!exists("old/sub"));
	CHECK_EQ_U64(count(at("old")), 2);	/* keep, and the planted .lading-tmp-x */
	CHECK(lading_outdir_open(&od, at("old")) == 0);
	/* the planted, unlocked temporary was swept by that open */
	CHECK(!exists("old/.lading-tmp-x"));
	lading_outdir_abort(&od);
	CHECK_EQ_U64(count(at("old")), 1);
}

static void test_sweep(void)
{
	struct lading_outfile of;
	int live;

	CHECK(mkdir(at("sw"), 0755) == 0);
	put(at("sw/.lading-tmp-dead"), "x");
	put(at("sw/other"), "x");
	live = open(at("sw/.lading-tmp-live"), O_RDWR | O_CREAT, 0644);
	CHECK(live >= 0 && flock(live, LOCK_EX) == 0);
	CHECK(lading_outfile_open(&of, at("sw")) == 0);
	CHECK_EQ_U64(lading_outfile_sweep(at("sw")), 1);
	CHECK(!exists("sw/.lading-tmp-dead"));
	CHECK(exists("sw/.lading-tmp-live") && exists("sw/other"));
	CHECK(access(of.tmp_path, F_OK) == 0);	/* our own open one stays */
	CHECK(lading_outfile_commit(&of, "done") == 0);
	lading_outfile_abort(&of);
	close(live);
	CHECK_EQ_U64(lading_outfile_sweep(at("sw")), 1);
	CHECK_EQ_U64(count(at("sw")), 2);
}

static void test_deep_tree(void)
{
	char path[4096];
	size_t l;
	int i;

	/* deeper than any recursion would like, as deep as PATH_MAX lets */
	snprintf(path, sizeof(path), "%s", at("deep"));
	CHECK(mkdir(path, 0755) == 0);
	for (i = 0; i < 1900 && (l = strlen(path)) + 3 < sizeof(path); i++) {
		memcpy(path + l, "/d", 3);
		if (mkdir(path, 0755) < 0)
			break;
	}
	put(strcat(path, "/f"), "x");
	CHECK(lading_remove_tree(at("deep")) == 0);
	CHECK(!exists("deep"));
}

int main(void)
{
	snprintf(root, sizeof(root), "%s/lading-util-test.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(root))
		return 1;
	test_new_dir();
	test_existing_dir();
	test_sweep();
	test_deep_tree();
	lading_remove_tree(root);
	return check_summary("util");
}
