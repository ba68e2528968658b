/* SPDX-License-Identifier: MIT */
/*
 * Sources fill a tree from a directory or a tar stream, pushing regular
 * file data through the store as it is read (one pass, no unpacking).
 */
#ifndef LADING_SOURCE_H
#define LADING_SOURCE_H

#include <sys/types.h>
#include <lading/types.h>
#include <lading/util.h>
#include <lading/store.h>
#include <lading/tree.h>


struct lading_source_params {
	const char *path;	/* "-" is standard input (tar only) */
	lading_read_fn read;	/* instead of path: a tar from a reader */
	void *read_ud;
	const char *name;	/* for messages (default: path) */
	/*
	 * sha256 (lowercase hex) the raw input must have, e.g. a layer's
	 * digest in its manifest; checked after reading it to its end.
	 */
	const char *expected_sha256;
	bool want_sha256;	/* report raw_sha256 even without expecting one */
	/*
	 * sha256 (hex) the decompressed tar stream must have, to its end
	 * (bytes after the end-of-archive blocks count): the config's
	 * rootfs.diff_ids entry for this layer.  Hashed in the same pass.
	 */
	const char *expected_diff_id;
	/*
	 * Image layer number (1 = the lowest), 0 for a plain tar.  A layer
	 * applies OCI whiteouts: ".wh.NAME" removes NAME, ".wh..wh..opq"
	 * empties its directory of what lower layers put there.
	 */
	uint16_t layer;
	enum lading_source_type type;
	uint32_t inline_max;	/* regular files up to this size stay inline */
	/* mode/owner/mtime for directories a tar implies but never lists */
	uint32_t implicit_dir_mode;
	int64_t implicit_mtime;
	/*
	 * Tar only, with no store: regular files above inline_max stay where
	 * they lie in the (uncompressed) tar stream, which the image sees as
	 * device in_place_device in blocks of 2^in_place_blkbits bytes, cut
	 * into in_place_chunk-byte chunks.  0: data goes through the store.
	 */
	uint16_t in_place_device;
	uint8_t in_place_blkbits;
	uint32_t in_place_chunk;
	const struct lading_log *log;
	struct lading_progress *progress;
};


/*
 * Reads the source into tree, storing file data in store (NULL with
 * in_place_device).  On failure err names the entry and the problem.
 */
int lading_source_load(struct lading_tree *tree, struct lading_store *store,
		       const struct lading_source_params *params,
		       struct lading_source_stats *stats,
		       struct lading_error *err);

#endif
