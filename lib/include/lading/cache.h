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
	/* a bootstrap path or an image reference (see lading_resolve) */
	const char *bootstrap;
	const char *platform;		/* image references: NULL: the host's */
	bool seed;			/* seed from the image's repository too */
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
	struct lading_resolution resolved;
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

/* ---- listing a cache directory ------------------------------------------ */

struct lading_cache_blob_info {
	char id[LADING_DIGEST_HEX_LEN + 1];
	char *path;			/* NULL: not in the cache */
	uint64_t size;			/* apparent (st_size) */
	uint64_t allocated;		/* st_blocks * 512 */
	bool toc_known;			/* the filler kept its ToC: present counted */
	uint64_t chunks, chunks_present;	/* toc_known */
	uint64_t present;		/* bytes of the chunks present (toc_known) */
	bool complete;			/* every chunk (else: every block) present */
};

struct lading_cache_image_info {
	char bootstrap_id[LADING_DIGEST_HEX_LEN + 1];
	char *bootstrap_path;
	uint64_t size, allocated;
	char **refs;			/* references recorded for it */
	size_t nrefs;
	size_t *blobs;			/* indexes into the listing's blobs */
	size_t nblobs;
	bool complete;			/* every blob complete */
};

struct lading_cache_listing {
	enum lading_cache_layout layout;
	struct lading_cache_image_info *images;
	size_t nimages;
	struct lading_cache_blob_info *blobs;	/* each once, shared or not */
	size_t nblobs;
};

/*
 * The images of a cache directory (the bootstraps in it, with the
 * references recorded for them) and their blobs.  A chunk counts as
 * present as the filler decides it: its whole range is data (the filler
 * and lading-prepare write only verified chunks).
 */
LADING_API int lading_cache_list(const char *cache_dir, struct lading_cache_listing *out,
		      struct lading_error *err);
LADING_API void lading_cache_listing_free(struct lading_cache_listing *l);

#endif
