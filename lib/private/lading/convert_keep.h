/* SPDX-License-Identifier: MIT */
/*
 * lading-convert --keep-layers (part of the convert module): gzip layers
 * stay in the registry as they are; the image gets their entries in the
 * merged bootstrap (512-byte blocks, data addressed in each layer's tar
 * stream) and one seek index per layer.  Other layers (zstd, plain) are
 * converted to lading blobs of the same image as usual.
 */
#ifndef LADING_CONVERT_KEEP_H
#define LADING_CONVERT_KEEP_H

#include <lading/convert.h>
#include <lading/image.h>
#include <lading/keep.h>

#define LADING_MEDIA_SEEK_INDEX "application/vnd.lading.seek-index.v1"

/* True for a gzip layer media type (OCI or Docker). */
bool lading_convert_keepable(const char *media_type);

/*
 * Layer i of img into tree as device device_id; writes its seek index
 * to blob_dir/<hex of its sha256> and fills rec (the slot's record) and
 * index_digest ("sha256:<hex>").  err names the layer.
 */
int lading_convert_keep_layer(struct lading_image *img, size_t i,
			      struct lading_tree *tree, uint16_t device_id,
			      const struct lading_build_options *build,
			      uint32_t span_size, const char *blob_dir,
			      const struct lading_log *log,
			      struct lading_blob_record *rec,
			      char *index_digest, uint64_t *index_size,
			      struct lading_convert_layer *out,
			      struct lading_error *err);

/*
 * Blobs stored by lading address 4 KiB blocks: in a bootstrap of 512-byte
 * blocks their chunk addresses are 8 times larger.  stored[d - 1] says
 * whether device d is such a blob.
 */
int lading_convert_rescale(struct lading_tree *tree, const bool *stored,
			   size_t nslots);

#endif
