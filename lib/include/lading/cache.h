/* SPDX-License-Identifier: MIT */
/*
 * Local cache directories for the kernel's on-demand loading.
 */
#ifndef LADING_CACHE_H
#define LADING_CACHE_H

#include <lading/common.h>
#include <lading/types.h>

enum lading_cache_layout {
	LADING_LAYOUT_PLAIN = 0,	/* CACHEDIR/<blob-id>, CACHEDIR/<boot-sha> */
	LADING_LAYOUT_CACHEFILES,	/* the kernel's cachefiles tree */
};

/* "plain" or "cachefiles" */
LADING_API const char *lading_layout_name(enum lading_cache_layout layout);
/* 0, or -EINVAL for an unknown name */
LADING_API int lading_layout_parse(const char *s, enum lading_cache_layout *layout);

struct lading_prepare_params {
	const char *bootstrap;
	const char *cache_dir;
	enum lading_cache_layout layout;
	const char *fsid;		/* cachefiles: required */
	const char *domain_id;		/* cachefiles: optional */
	/* blob directories or docker://HOST/REPO registries to seed from */
	const char *const *seed_dirs;
	size_t nseed_dirs;
	struct lading_registry_opts registry;	/* for docker:// seeds */
	const struct lading_log *log;
	bool progress;
};

struct lading_prepare_blob {
	char id[LADING_DIGEST_HEX_LEN + 1];
	char *path;			/* the cache file */
	uint64_t size;			/* logical (uncompressed) size */
	uint64_t present_before;	/* verified bytes already there */
	uint64_t fetched;		/* bytes written now */
	uint64_t present;		/* verified bytes there now */
	bool created;			/* the file was created now */
};

struct lading_prepare_report {
	char bootstrap_id[LADING_DIGEST_HEX_LEN + 1];
	char *bootstrap_path;		/* the bootstrap in the cache */
	char *volume_key;		/* cachefiles layout */
	struct lading_prepare_blob *blobs;
	uint16_t nblobs;
	bool seeded;
};

LADING_API void lading_prepare_params_init(struct lading_prepare_params *p);
/*
 * Verifies the bootstrap's structure, lays out the cache directory (sparse
 * files of the exact uncompressed sizes) and, with seed_dirs, fills them
 * with verified chunks.  0, -EUCLEAN (bad bootstrap, blob or chunk: err
 * says which), or another negative errno (I/O, ENOSPC ...).
 */
LADING_API int lading_prepare(const struct lading_prepare_params *p,
		   struct lading_prepare_report *r, struct lading_error *err);
LADING_API void lading_prepare_report_free(struct lading_prepare_report *r);

#endif
