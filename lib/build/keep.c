// SPDX-License-Identifier: MIT
/*
 * A gzip layer kept as it is: the seek-index builder inflates the layer
 * once and hands the tar stream to the tar source, which places regular
 * files in the stream (in_place_device) instead of storing their data.
 */
#include <errno.h>
#include <string.h>
#include <lading/keep.h>
#include <lading/build_options.h>
#include <lading/store.h>

int lading_keep_layer_load(struct lading_tree *tree,
			   const struct lading_keep_params *p,
			   struct lading_zran_index **ix,
			   struct lading_source_stats *stats,
			   struct lading_error *err)
{
	struct lading_source_params src = {
		.name = p->name,
		.layer = p->layer,
		.type = LADING_SOURCE_TAR,
		.in_place_device = p->device_id,
		.in_place_blkbits = LADING_KEEP_BLKSZBITS,
		.in_place_chunk = p->build->chunk_size,
		.log = p->log,
	};
	struct lading_zran_builder *b;
	char hex[LADING_DIGEST_HEX_LEN + 1];
	int ret;

	*ix = NULL;
	lading_build_options_source(p->build, &src);
	ret = lading_zran_builder_new(&b, p->read, p->read_ud, p->span_size, err);
	if (ret)
		return ret;
	src.read = lading_zran_builder_read;
	src.read_ud = b;
	ret = lading_source_load(tree, NULL, &src, stats, err);
	if (!ret)
		ret = lading_zran_builder_finish(b, ix);
	lading_zran_builder_free(b);
	if (ret) {
		/* a gzip message has no name yet: the layer's goes first */
		if (!strncmp(err->msg, "gzip: ", 6)) {
			char msg[sizeof(err->msg)];

			memcpy(msg, err->msg, sizeof(msg));
			lading_error_clear(err);
			lading_error_set(err, -ret, "%s: %s", p->name, msg);
		}
		return ret;
	}
	if ((*ix)->uncompressed_size % (1u << LADING_KEEP_BLKSZBITS))
		ret = lading_error_set(err, EINVAL, "%s: tar stream of %llu bytes, "
				       "not a multiple of 512", p->name,
				       (unsigned long long)(*ix)->uncompressed_size);
	lading_digest_hex(&(*ix)->blob_digest, hex);
	if (!ret && p->expected_digest && strcmp(hex, p->expected_digest))
		ret = lading_error_set(err, EBADMSG, "%s: digest mismatch: "
				       "sha256:%s, expected sha256:%s", p->name,
				       hex, p->expected_digest);
	lading_digest_hex(&(*ix)->diff_id, hex);
	if (!ret && p->expected_diff_id && strcmp(hex, p->expected_diff_id))
		ret = lading_error_set(err, EBADMSG, "%s: layer %u: uncompressed "
				       "digest sha256:%s does not match the config's "
				       "rootfs.diff_ids entry sha256:%s", p->name,
				       p->layer, hex, p->expected_diff_id);
	if (ret) {
		lading_zran_free(*ix);
		*ix = NULL;
	}
	return ret;
}

int lading_keep_layer_slot(const struct lading_zran_index *ix,
			    const uint8_t *idx, size_t idxlen,
			    uint32_t chunk_size, struct lading_image_slot *slot,
			    struct lading_blob_record *rec)
{
	struct lading_digest d;
	int ret;

	memset(slot, 0, sizeof(*slot));
	memset(rec, 0, sizeof(*rec));
	lading_digest_hex(&ix->blob_digest, slot->tag);
	slot->blocks = ix->uncompressed_size >> LADING_KEEP_BLKSZBITS;
	memcpy(rec->id, ix->blob_digest.bytes, sizeof(rec->id));
	rec->artifact_size = lading_cpu_to_le64(ix->compressed_size);
	rec->uncompressed_size = lading_cpu_to_le64(ix->uncompressed_size);
	rec->chunk_size = lading_cpu_to_le32(chunk_size);
	rec->codec = LADING_CODEC_GZIP_INDEXED;
	rec->toc_offset = lading_cpu_to_le64(0);
	rec->toc_size = lading_cpu_to_le64(idxlen);
	ret = lading_sha256(idx, idxlen, &d);
	if (!ret)
		memcpy(rec->toc_digest, d.bytes, sizeof(rec->toc_digest));
	return ret;
}
