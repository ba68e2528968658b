/* SPDX-License-Identifier: MIT */
/*
 * A gzip layer kept as it is (lading-convert --keep-layers; part of the
 * build module): one pass over the layer gives its entries in the tree,
 * file data addressed where it lies in the uncompressed tar stream, and
 * the layer's seek index.  The bootstrap then uses 512-byte blocks and
 * one device slot per kept layer whose uncompressed view is that stream.
 */
#ifndef LADING_KEEP_H
#define LADING_KEEP_H

#include <lading/build.h>
#include <lading/format.h>
#include <lading/source.h>
#include <lading/zran.h>

#define LADING_KEEP_BLKSZBITS 9

struct lading_keep_params {
	const char *name;		/* for messages */
	lading_read_fn read;		/* the gzip layer blob */
	void *read_ud;
	uint16_t layer;			/* 1 = the lowest */
	uint16_t device_id;		/* its slot */
	uint32_t span_size;
	const struct lading_build_options *build;	/* chunk size, inline */
	/* hex sha256 the blob / the tar stream must have, or NULL */
	const char *expected_digest;
	const char *expected_diff_id;
	const struct lading_log *log;
};

/*
 * Applies the layer to tree and hands over its seek index (*ix).  err
 * names the layer and the entry or gzip offset at fault.
 */
int lading_keep_layer_load(struct lading_tree *tree,
			   const struct lading_keep_params *p,
			   struct lading_zran_index **ix,
			   struct lading_source_stats *stats,
			   struct lading_error *err);

/*
 * The device slot and blob-table record of a kept layer: id = the layer
 * digest, the seek index anchored as its ToC (idx: its encoded bytes).
 * 0 or -EIO (sha256).
 */
int lading_keep_layer_slot(const struct lading_zran_index *ix,
			    const uint8_t *idx, size_t idxlen,
			    uint32_t chunk_size, struct lading_image_slot *slot,
			    struct lading_blob_record *rec);

#endif
