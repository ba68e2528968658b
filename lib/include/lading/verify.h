/* SPDX-License-Identifier: MIT */
/*
 * Verification: an image's structure (through the hardened reader), its
 * blobs (presence, size, digest, chunk ranges), its equality with a source
 * tree or tar, and extraction of its tree to a directory.
 */
#ifndef LADING_VERIFY_H
#define LADING_VERIFY_H

#include <lading/common.h>
#include <lading/types.h>
#include <lading/build.h>

#define LADING_VERIFY_MAX_LISTED 50

/* Per-slot result. */
enum lading_blob_status {
	LADING_BLOB_OK = 0,
	LADING_BLOB_UNCHECKED,	/* present, digest not computed */
	LADING_BLOB_MISSING,
	LADING_BLOB_BAD_TAG,	/* the slot tag is not a sha256 hex id */
	LADING_BLOB_BAD_SIZE,
	LADING_BLOB_BAD_DIGEST,
	LADING_BLOB_IO_ERROR,
	LADING_BLOB_BAD_TOC,	/* footer/ToC inconsistent with the bootstrap */
	LADING_BLOB_BAD_CHUNK,	/* a chunk does not decode to its digest */
};

/* "ok", "unchecked", "missing", "bad-tag", ... (the reports' names) */
LADING_API const char *lading_blob_status_name(enum lading_blob_status s);

struct lading_verify_blob {
	char id[LADING_DIGEST_HEX_LEN + 1];
	char *path;		/* where it was found, NULL if missing */
	uint64_t blocks;	/* from the slot */
	uint64_t size;		/* of the file found */
	uint64_t chunks;	/* chunk references into it */
	enum lading_blob_status status;
};

struct lading_verify_params {
	/*
	 * a bootstrap path or an image reference (see lading_resolve; the
	 * bootstrap is fetched into memory)
	 */
	const char *bootstrap;
	const char *platform;		/* image references: NULL: the host's */
	struct lading_registry_opts registry;
	/*
	 * NULL/0: the bootstrap's directory (oci:DIR: DIR/blobs/sha256;
	 * docker://: the image's repository, through the blob sources)
	 */
	const char *const *blob_dirs;
	size_t nblob_dirs;
	bool blob_digest;		/* hash every blob (default on) */

	const char *source;		/* NULL: no source comparison */
	enum lading_source_type source_type;
	bool source_is_layer;		/* a tar read as an image layer */
	/*
	 * the build's options: their policy is applied to the source before
	 * comparing (keep_nsec: nanosecond mtimes are compared)
	 */
	struct lading_build_options build;

	const char *extract_dir;	/* NULL: no extraction */

	const struct lading_log *log;
};

struct lading_verify_report {
	struct lading_resolution resolved;
	bool blobs_remote;		/* docker:// without blob dirs: in its registry */
	/* structure */
	uint64_t inodes, regular, directories, symlinks, devices, fifos, sockets;
	uint64_t hardlinks;		/* names beyond the first per inode */
	uint64_t file_bytes, inline_files, chunks, holes, xattrs;
	/* blobs */
	struct lading_verify_blob *blobs;
	uint16_t nblobs;
	/* all problems found (structure, blobs, source), first ones kept */
	uint64_t problems;
	char *listed[LADING_VERIFY_MAX_LISTED];
	size_t nlisted;
	bool structure_ok;
	bool source_compared;
	uint64_t source_entries;
	bool extracted;
	uint64_t blob_bytes_hashed;
	/* a registry's blob bytes read: ToCs, chunk runs, digest streams */
	uint64_t blob_bytes_fetched;
	uint64_t spans_checked;		/* of kept gzip layers, each verified */
};

LADING_API void lading_verify_params_init(struct lading_verify_params *p);
/*
 * Returns 0 when every check passed, -EUCLEAN when a check failed (the
 * report lists why), another negative errno for usage or I/O errors (err
 * says which).
 */
LADING_API int lading_verify(const struct lading_verify_params *p,
		  struct lading_verify_report *r, struct lading_error *err);
LADING_API void lading_verify_report_free(struct lading_verify_report *r);

#endif
