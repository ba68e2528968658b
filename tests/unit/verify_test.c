// SPDX-License-Identifier: MIT
/*
 * Unit tests for lib/verify: a bootstrap built by lading_build() from a
 * small tree verifies (structure, blob digest, equality with its
 * source); a copy whose blob has one byte flipped, a missing blob and
 * a changed source are refused with -EUCLEAN and a report that says why.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <lading/build.h>
#include <lading/verify.h>
#include <lading/format.h>
#include <lading/source.h>
#include <lading/store.h>
#include <lading/tree.h>
#include "check.h"
#include "scratch.h"



static void put(const char *name, const char *data, size_t len)
{
	int fd = open(at(name), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	CHECK(fd >= 0);
	if (fd >= 0) {
		CHECK(write(fd, data, len) == (ssize_t)len);
		close(fd);
	}
}

static int verify(const char *source, bool digest, struct lading_verify_report *r)
{
	struct lading_verify_params p;
	struct lading_error err = { 0 };
	const char *dirs[] = { at("out") };

	lading_verify_params_init(&p);
	p.bootstrap = at("out/boot");
	p.blob_dirs = dirs;
	p.nblob_dirs = 1;
	p.blob_digest = digest;
	p.source = source;
	return lading_verify(&p, r, &err);
}

static bool listed(const struct lading_verify_report *r, const char *what)
{
	size_t i;

	for (i = 0; i < r->nlisted; i++)
		if (strstr(r->listed[i], what))
			return true;
	return false;
}

int main(void)
{
	static char big[300000];
	struct lading_build_params bp;
	struct lading_build_report *br = calloc(1, sizeof(*br));
	struct lading_verify_report r;
	struct lading_error err = { 0 };
	char blob[512];
	uint8_t c = 0;
	int fd;

	CHECK(br && scratch_make("verify") == 0);
	CHECK(!mkdir(at("src"), 0755) && !mkdir(at("src/d"), 0755) &&
	      !mkdir(at("out"), 0755));
	memset(big, 'b', sizeof(big));
	put("src/d/small", "small", 5);
	put("src/big", big, sizeof(big));
	CHECK(!symlink("d/small", at("src/link")));

	lading_build_params_init(&bp);
	bp.bootstrap = at("out/boot");
	bp.source = at("src");
	CHECK(!lading_build(&bp, br, &err));
	CHECK(br->blob.present);
	snprintf(blob, sizeof(blob), "%s/%s", at("out"), br->blob.id);

	/* the image as built: every check passes */
	CHECK(!verify(at("src"), true, &r));
	CHECK(r.structure_ok && r.source_compared);
	CHECK_EQ_U64(r.regular, 2);
	CHECK_EQ_U64(r.directories, 2);
	CHECK_EQ_U64(r.symlinks, 1);
	CHECK_EQ_U64(r.file_bytes, 5 + sizeof(big));
	CHECK_EQ_U64(r.problems, 0);
	CHECK_EQ_U64(r.nblobs, 1);
	CHECK(r.nblobs && r.blobs[0].status == LADING_BLOB_OK &&
	      !strcmp(r.blobs[0].id, br->blob.id));
	CHECK_EQ_U64(r.blob_bytes_hashed, br->blob.size);
	lading_verify_report_free(&r);

	/* the source changed since: a difference, named */
	put("src/d/small", "SMALL", 5);
	CHECK(verify(at("src"), false, &r) == -EUCLEAN);
	CHECK(r.problems >= 1 && listed(&r, "small"));
	lading_verify_report_free(&r);

	/* one byte of the blob flipped: its digest and its chunk fail */
	fd = open(blob, O_RDWR | O_CLOEXEC);
	CHECK(fd >= 0 && pread(fd, &c, 1, 1000) == 1);
	c ^= 0x01;
	CHECK(pwrite(fd, &c, 1, 1000) == 1);
	close(fd);
	CHECK(verify(NULL, true, &r) == -EUCLEAN);
	CHECK(r.structure_ok);
	CHECK(r.nblobs == 1 && (r.blobs[0].status == LADING_BLOB_BAD_DIGEST ||
				r.blobs[0].status == LADING_BLOB_BAD_CHUNK));
	CHECK(r.problems >= 1);
	lading_verify_report_free(&r);

	/* no blob at all */
	CHECK(!unlink(blob));
	CHECK(verify(NULL, true, &r) == -EUCLEAN);
	CHECK(r.nblobs == 1 && r.blobs[0].status == LADING_BLOB_MISSING &&
	      !r.blobs[0].path);
	lading_verify_report_free(&r);

	/* a bootstrap that is not one */
	put("out/boot", "not an image", 12);
	CHECK(verify(NULL, true, &r) != 0);
	lading_verify_report_free(&r);

	CHECK(!strcmp(lading_blob_status_name(LADING_BLOB_OK), "ok"));
	CHECK(!strcmp(lading_blob_status_name(LADING_BLOB_BAD_DIGEST), "bad-digest"));
	CHECK(!strcmp(lading_blob_status_name(LADING_BLOB_BAD_CHUNK), "bad-chunk"));

	free(br);
	CHECK(scratch_remove() == 0);
	return check_summary("verify");
}
