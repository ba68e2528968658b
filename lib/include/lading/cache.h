/* SPDX-License-Identifier: MIT */
/*
 * Local cache directories for the kernel's on-demand loading.
 */
#ifndef LADING_CACHE_H
#define LADING_CACHE_H

#include <stddef.h>
#include <stdint.h>

/* ---- cachefiles naming -------------------------------------------------- */

/*
 * The on-disk layout that Linux cachefiles (fs/fscache + fs/cachefiles,
 * 5.17+; checked against 6.1) uses for the objects EROFS asks for in
 * on-demand mode, so that lading can lay out or pre-fill a cache directory
 * that the kernel will accept:
 *
 *   <dir>/cache/I<volume key>/@<xx>/<cooked cookie key>
 *   <dir>/graveyard/
 *
 * Volume key = "erofs,<domain_id or fsid>"; cookie key = the fsid for the
 * bootstrap, the device= string or the NUL-trimmed slot tag for a blob.
 * Every name below is relative to <dir>.
 *
 * Functions return the length of what they wrote (strings: without the
 * NUL, which is always written) or a negative errno: -EINVAL for bad
 * arguments, -ENAMETOOLONG / -EINVAL for keys the kernel itself cannot
 * turn into a file (see each function), -ENOSPC when outlen is too small.
 */

#define LADING_CACHEFILES_CACHE_DIR "cache"		/* under the cache dir */
#define LADING_CACHEFILES_GRAVEYARD_DIR "graveyard"	/* culled objects */
#define LADING_CACHEFILES_XATTR "user.CacheFiles.cache"	/* on volume dirs and objects */
#define LADING_CACHEFILES_NAME_MAX 255u			/* NAME_MAX of the backing fs */
#define LADING_CACHEFILES_FANOUT 256u			/* @00 .. @ff per volume */
/* Longest volume key whose "I<key>" directory name fits NAME_MAX. */
#define LADING_CACHEFILES_VOLUME_KEY_MAX 254u
/* Longest cookie key the kernel accepts (fs/cachefiles/key.c: NAME_MAX - 3). */
#define LADING_CACHEFILES_COOKIE_KEY_MAX 252u
/* Enough for any object path: "cache/" "I"+254 "/@xx/" 255 NUL. */
#define LADING_CACHEFILES_PATH_MAX 528u

/* struct cachefiles_xattr (object) and cachefiles_vol_xattr (volume). */
#define LADING_CACHEFILES_OBJECT_XATTR_LEN 18u	/* be64 size, be64 zero_point, u8 type, u8 content */
#define LADING_CACHEFILES_VOLUME_XATTR_LEN 4u	/* be32 reserved (0) */
#define LADING_CACHEFILES_TYPE_DATA 1u		/* the only object type */
#define LADING_CACHEFILES_CONTENT_NO_DATA 0u	/* content byte the kernel writes */
#define LADING_CACHEFILES_CONTENT_DIRTY 4u	/* the one content value it refuses */

/*
 * fscache_hash() of fs/fscache/main.c: the data is read as little-endian
 * 32-bit words and, as there, only whole words count (len / 4 of them);
 * the kernel always hashes zero-padded keys.  Exposed for tests and tools.
 */
uint32_t lading_cachefiles_hash(uint32_t salt, const void *data, size_t len);

/*
 * "erofs,<domain_id>" if domain_id is non-NULL (even if empty, as the
 * kernel does), else "erofs,<fsid>".  fsid must be a non-empty string.
 * -ENAMETOOLONG past LADING_CACHEFILES_VOLUME_KEY_MAX bytes, -EINVAL if it
 * contains '/' (the kernel could not create the volume directory).
 */
int lading_cachefiles_volume_key(const char *fsid, const char *domain_id,
				 char *out, size_t outlen);

/*
 * "cache/I<volume key>": the volume directory, which carries the volume
 * xattr.  The key is used raw, without encoding.
 */
int lading_cachefiles_volume_dir(const char *volume_key, char *out,
				 size_t outlen);

/*
 * "cache/I<volume key>/@xx/<name>" for a data object.  cookie_len must be
 * 1..LADING_CACHEFILES_COOKIE_KEY_MAX; -ENAMETOOLONG also when the cooked
 * name would exceed NAME_MAX (long keys that need the S/T/E forms).
 */
int lading_cachefiles_object_path(const char *volume_key,
				  const void *cookie_key, size_t cookie_len,
				  char *out, size_t outlen);

/* The LADING_CACHEFILES_XATTR value of an EROFS data object (18 bytes). */
int lading_cachefiles_object_xattr(uint64_t object_size, uint8_t *out,
				   size_t outlen);

/* The LADING_CACHEFILES_XATTR value of an EROFS volume directory (4 bytes). */
int lading_cachefiles_volume_xattr(uint8_t *out, size_t outlen);

/* ---- cache directory preparation ------------------------------------- */

#include <lading/common.h>
#include <lading/fetch.h>
#include <lading/image.h>	/* struct lading_resolution */

enum lading_cache_layout {
	LADING_LAYOUT_PLAIN = 0,	/* CACHEDIR/<blob-id>, CACHEDIR/<boot-sha> */
	LADING_LAYOUT_CACHEFILES,	/* the kernel's cachefiles tree */
};

/* "plain" or "cachefiles" */
const char *lading_layout_name(enum lading_cache_layout layout);
/* 0, or -EINVAL for an unknown name */
int lading_layout_parse(const char *s, enum lading_cache_layout *layout);

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

void lading_prepare_params_init(struct lading_prepare_params *p);
/*
 * Verifies the bootstrap's structure, lays out the cache directory (sparse
 * files of the exact uncompressed sizes) and, with seed_dirs, fills them
 * with verified chunks.  0, -EUCLEAN (bad bootstrap, blob or chunk: err
 * says which), or another negative errno (I/O, ENOSPC ...).
 */
int lading_prepare(const struct lading_prepare_params *p,
		   struct lading_prepare_report *r, struct lading_error *err);
void lading_prepare_report_free(struct lading_prepare_report *r);

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
int lading_cache_list(const char *cache_dir, struct lading_cache_listing *out,
		      struct lading_error *err);
void lading_cache_listing_free(struct lading_cache_listing *l);

#endif
