// SPDX-License-Identifier: MIT
/*
 * Unit tests for lib/build/options.c: the build options' defaults and
 * bounds, defined once, are what lading-mkimage, lading-convert and
 * lading-verify --source start from, and what the source and store
 * parameters get.
 */
#include <errno.h>
#include <string.h>
#include <lading/build.h>
#include <lading/convert.h>
#include <lading/verify.h>
#include <lading/build_options.h>
#include <lading/format.h>
#include <lading/source.h>
#include <lading/store.h>
#include <lading/tree.h>
#include <lading/fetch.h>
#include "check.h"

static void test_defaults(void)
{
	struct lading_build_options o;
	struct lading_build_params bp;
	struct lading_convert_params cp;
	struct lading_verify_params vp;

	lading_build_options_init(&o);
	CHECK_EQ_U64(o.chunk_size, 1u << 20);
	CHECK_EQ_U64(o.inline_max, 2048);
	CHECK(o.codec == LADING_CODEC_NONE);
	CHECK(o.level == -1);
	CHECK(!o.policy.clamp_mtime && !o.policy.keep_nsec);
	CHECK(o.policy.force_uid == -1 && o.policy.force_gid == -1);
	/* the three tools start from the same options */
	lading_build_params_init(&bp);
	lading_convert_params_init(&cp);
	lading_verify_params_init(&vp);
	CHECK(!memcmp(&bp.build, &o, sizeof(o)));
	CHECK(!memcmp(&cp.build, &o, sizeof(o)));
	CHECK(!memcmp(&vp.build, &o, sizeof(o)));
}

static void test_bounds(void)
{
	struct lading_build_options o;
	struct lading_error err = { 0 };

	lading_build_options_init(&o);
	CHECK(lading_build_options_check(&o, &err) == 0);
	o.inline_max = LADING_INLINE_MAX;
	o.chunk_size = 4096;
	CHECK(lading_build_options_check(&o, &err) == 0);
	o.chunk_size = 3u << 20;
	CHECK(lading_build_options_check(&o, &err) == -EINVAL);
	CHECK(strstr(err.msg, "chunk size") != NULL);
	lading_build_options_init(&o);
	lading_error_clear(&err);
	o.inline_max = LADING_INLINE_MAX + 1;
	CHECK(lading_build_options_check(&o, &err) == -EINVAL);
	CHECK(strstr(err.msg, "inline limit") != NULL);
}

static void test_params(void)
{
	struct lading_build_options o;
	struct lading_source_params src = { .path = "x" };
	struct lading_store_params sp = { .blob_dir = "/d" };

	lading_build_options_init(&o);
	o.inline_max = 100;
	o.codec = LADING_CODEC_LZ4;
	o.level = 3;
	lading_build_options_source(&o, &src);
	lading_build_options_store(&o, &sp);
	CHECK_EQ_U64(src.inline_max, 100);
	CHECK_EQ_U64(src.implicit_dir_mode, 0755);
	CHECK(src.implicit_mtime == 0);
	CHECK(!strcmp(src.path, "x") && !strcmp(sp.blob_dir, "/d"));
	CHECK_EQ_U64(sp.chunk_size, 1u << 20);
	CHECK(sp.codec == LADING_CODEC_LZ4 && sp.level == 3);
	/* the mtime clamp is also the implied directories' mtime */
	o.policy.clamp_mtime = true;
	o.policy.mtime = 1700000000;
	lading_build_options_source(&o, &src);
	CHECK(src.implicit_mtime == 1700000000);
}

int main(void)
{
	test_defaults();
	test_bounds();
	test_params();
	return check_summary("build");
}
