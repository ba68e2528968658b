/* SPDX-License-Identifier: MIT */
/*
 * One build: source -> tree + blob -> bootstrap, published atomically.
 * This is what lading-mkimage runs; other tools reuse the pieces.
 */
#ifndef LADING_BUILD_H
#define LADING_BUILD_H

#include <lading/common.h>
#include <lading/types.h>

#define LADING_INLINE_DEFAULT 2048u
#define LADING_INLINE_MAX 3072u	/* leaves room for the inode and xattrs */
/* mode of the directories a tar implies but never lists */
#define LADING_IMPLICIT_DIR_MODE 0755u

/*
 * How a tree and its blob are built: what lading-mkimage and
 * lading-convert build with, and what lading-verify --source applies to
 * the source before comparing.  Defaults and bounds live in
 * lading_build_options_init() and lading_build_options_check() only.
 */
struct lading_build_options {
	uint32_t chunk_size;	/* power of two in [CHUNK_MIN, CHUNK_MAX] */
	uint32_t inline_max;	/* at most LADING_INLINE_MAX */
	enum lading_codec codec;	/* per-chunk compression of the blob */
	int level;			/* -1: codec default */
	/* clamp_mtime/mtime is also the mtime of implied directories */
	struct lading_tree_policy policy;
};

LADING_API void lading_build_options_init(struct lading_build_options *o);
/* 0, or -EINVAL with err naming the option out of bounds. */
LADING_API int lading_build_options_check(const struct lading_build_options *o,
			       struct lading_error *err);

struct lading_build_params {
	const char *bootstrap;	/* output path */
	const char *source;	/* directory, tar file or "-" */
	enum lading_source_type source_type;
	const char *blob_dir;	/* NULL: the bootstrap's directory */
	struct lading_build_options build;

	bool uuid_set;
	uint8_t uuid[16];
	char volume_name[16];

	const struct lading_log *log;
	bool progress;
};

struct lading_build_report {
	char bootstrap[4096];
	char bootstrap_digest[LADING_DIGEST_HEX_LEN + 1];
	char blob_dir[4096];
	struct lading_blob_info blob;
	struct lading_source_stats source;
	struct lading_store_stats store;
	struct lading_bootstrap_stats erofs;	/* the bootstrap written */
	uint64_t bootstrap_size;
};

LADING_API void lading_build_params_init(struct lading_build_params *p);
LADING_API int lading_build(const struct lading_build_params *params,
		 struct lading_build_report *report, struct lading_error *err);

#endif
