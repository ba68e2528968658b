// SPDX-License-Identifier: MIT
/* lading-convert --keep-layers: one gzip layer kept as it is. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <lading/convert_keep.h>
#include <lading/tree.h>

bool lading_convert_keepable(const char *media_type)
{
	static const char *const gzip_types[] = {
		"application/vnd.oci.image.layer.v1.tar+gzip",
		"application/vnd.docker.image.rootfs.diff.tar.gzip",
	};
	size_t i;

	for (i = 0; media_type && i < LADING_ARRAY_SIZE(gzip_types); i++)
		if (!strcmp(media_type, gzip_types[i]))
			return true;
	return false;
}

int lading_convert_keep_layer(struct lading_image *img, size_t i,
			      struct lading_tree *tree, uint16_t device_id,
			      const struct lading_build_options *build,
			      uint32_t span_size, const char *blob_dir,
			      const struct lading_log *log,
			      struct lading_blob_record *rec,
			      char *index_digest, uint64_t *index_size,
			      struct lading_convert_layer *out,
			      struct lading_error *err)
{
	const struct lading_image_layer *L = &img->layers[i];
	struct lading_keep_params kp = {
		.name = L->digest ? L->digest : L->location,
		.layer = (uint16_t)(i + 1),
		.device_id = device_id,
		.span_size = span_size,
		.build = build,
		.expected_digest = L->expected_sha256,
		.expected_diff_id = L->diff_id ? L->diff_id + 7 : NULL,
		.log = log,
	};
	struct lading_image_slot slot;
	struct lading_source_stats st;
	struct lading_zran_index *ix = NULL;
	struct lading_digest d;
	char hex[LADING_DIGEST_HEX_LEN + 1];
	uint8_t *enc = NULL;
	size_t enclen = 0;
	char *path = NULL;
	void *ud = NULL;
	int ret;

	ret = lading_image_layer_open(img, i, &kp.read, &ud, err);
	kp.read_ud = ud;
	if (!ret)
		ret = lading_keep_layer_load(tree, &kp, &ix, &st, err);
	lading_image_layer_close(img, ud);
	if (!ret)
		ret = lading_zran_encode(ix, &enc, &enclen);
	if (!ret)
		ret = lading_keep_layer_slot(ix, enc, enclen, build->chunk_size,
					     &slot, rec);
	if (!ret) {
		memcpy(d.bytes, rec->toc_digest, sizeof(d.bytes));
		lading_digest_hex(&d, hex);
		lading_digest_format(&d, index_digest);
		path = lading_path_join(blob_dir, hex);
		ret = path ? lading_write_file_atomic(path, enc, enclen, err) :
			     -ENOMEM;
	}
	if (!ret) {
		*index_size = enclen;
		out->source_digest = L->digest ? strdup(L->digest) : NULL;
		lading_digest_hex(&ix->blob_digest, out->blob_id);
		out->bytes_in = ix->compressed_size;
		out->bytes_out = enclen;	/* what the image adds: the index */
		out->uncompressed = ix->uncompressed_size;
		out->entries = st.entries;
		out->whiteouts = st.whiteouts + st.opaque_dirs;
		out->kept = true;
	}
	if (ret && !err->code)
		lading_error_set(err, -ret, "layer %zu: %s", i + 1, strerror(-ret));
	free(path);
	free(enc);
	lading_zran_free(ix);
	return ret;
}

struct rescale {
	const bool *stored;
	size_t nslots;
	struct lading_idmap seen;
	int ret;
};

static int rescale_inode(struct lading_dentry *de, void *ud)
{
	struct rescale *r = ud;
	struct lading_inode *ino = de->inode;
	bool created;
	uint32_t i;

	if (!lading_idmap_insert(&r->seen, (uint64_t)(uintptr_t)ino, &created))
		return -ENOMEM;
	if (!created)
		return 0;	/* a hardlink of an inode already done */
	for (i = 0; i < ino->nchunks; i++) {
		struct lading_chunk_ref *c = &ino->chunks[i];

		if (c->blkaddr == LADING_CHUNK_HOLE || !c->device_id ||
		    c->device_id > r->nslots || !r->stored[c->device_id - 1])
			continue;
		if (c->blkaddr >= (EROFS_NULL_ADDR >> 3))
			return -EFBIG;
		c->blkaddr <<= 3;
	}
	return 0;
}

int lading_convert_rescale(struct lading_tree *tree, const bool *stored,
			   size_t nslots)
{
	struct rescale r = { .stored = stored, .nslots = nslots };
	int ret = lading_tree_visit(tree, rescale_inode, &r);

	lading_idmap_free(&r.seen);
	return ret;
}
