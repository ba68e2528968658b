/* SPDX-License-Identifier: MIT */
/*
 * One build: source -> tree + blob -> bootstrap, published atomically.
 * This is what lading-mkimage runs; other tools reuse the pieces.
 */
#ifndef LADING_BUILD_H
#define LADING_BUILD_H

#include <lading/common.h>
#include <lading/format.h>
#include <lading/source.h>
#include <lading/store.h>

#define LADING_INLINE_DEFAULT 2048u
#define LADING_INLINE_MAX 3072u	/* leaves room for the inode and xattrs */

struct lading_build_params {
	const char *bootstrap;	/* output path */
	const char *source;	/* directory, tar file or "-" */
	enum lading_source_type source_type;
	const char *blob_dir;	/* NULL: the bootstrap's directory */
	uint32_t chunk_size;
	uint32_t inline_max;
	enum lading_codec codec;	/* per-chunk compression of the blob */
	int level;			/* -1: codec default */

	bool clamp_mtime;	/* mtimes above 'mtime' become 'mtime' */
	int64_t mtime;		/* also the mtime of implied directories */
	bool keep_nsec;
	bool uuid_set;
	uint8_t uuid[16];
	char volume_name[16];
	int64_t force_uid, force_gid;	/* -1: keep */

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
	struct lading_image_stats image;
	uint64_t bootstrap_size;
};

void lading_build_params_init(struct lading_build_params *p);
int lading_build(const struct lading_build_params *params,
		 struct lading_build_report *report, struct lading_error *err);

#endif
