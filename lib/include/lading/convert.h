/* SPDX-License-Identifier: MIT */
/*
 * Image conversion: every layer of a source image streamed once through
 * the tar source into one merged tree (OCI whiteouts applied), new chunks
 * stored in one blob per layer, chunks seen before (in lower layers or in
 * chunk dictionaries) referenced where they already are; then one merged
 * bootstrap and an OCI image (or a plain directory) written.
 */
#ifndef LADING_CONVERT_H
#define LADING_CONVERT_H

#include <lading/build.h>
#include <lading/common.h>
#include <lading/types.h>

/*
 * The lading-convert tool's inline limit (lading_convert_params_init and
 * lading-mkimage keep the build default, the same for every tool):
 * a converted image travels, so its bootstrap is fetched before a node
 * mounts; bench/coldstart.sh --inline-sweep chose it (bench/README.md).
 */
#define LADING_CONVERT_INLINE_DEFAULT 512

struct lading_convert_params {
	const char *src;		/* oci:, oci-archive:, docker-archive:, dir: */
	const char *dst;		/* oci:DIR[:REF] or dir:DIR */
	const char *platform;		/* os/arch[/variant]; NULL: the host's */
	const char *const *layer_files;	/* dir: sources */
	size_t nlayer_files;
	const char *const *chunk_dicts;	/* earlier bootstraps (blobs beside) */
	/*
	 * Also write, into this directory, one bootstrap per layer of just
	 * that layer's tree over the same blobs (a second read of each
	 * layer), for lading-verify --layer --source LAYER.
	 */
	const char *layer_bootstraps;
	size_t nchunk_dicts;

	/*
	 * --keep-layers: gzip layers stay as they are (referenced by digest,
	 * never copied); the image adds a seek index per layer (spans of
	 * span_size, 0: the default) and a bootstrap of 512-byte blocks.
	 * Other layers are converted to lading blobs of the same image.
	 */
	bool keep_layers;
	uint32_t span_size;

	/* no --nsec nor owner options: the policy only clamps mtimes */
	struct lading_build_options build;

	struct lading_registry_opts registry;	/* docker:// sources */

	/*
	 * Publishing where clients of src look (dst is NULL).  attach: src is
	 * docker://; each platform manifest it names (all of an index, or
	 * the one platform given) gets its lading manifest pushed into src's
	 * repository by digest, as an OCI 1.1 referrer (subject: that
	 * manifest), recorded by the registry's referrers API or else in the
	 * referrers tag schema.  merge_index: an image index holding the
	 * original descriptors and the lading ones is written under this
	 * reference: docker://HOST/REPO:TAG in src's repository, or
	 * oci:DIR:TAG with src in the same layout.
	 */
	bool attach;
	const char *merge_index;

	/*
	 * --prefetch-list: an access trace (lading-fill --record) published
	 * with the image, as a layer of the lading manifest; only its
	 * entries naming blobs of this image are kept.  OCI destinations
	 * and publishing only.
	 */
	const char *trace;
	/*
	 * The bootstrap layer in transport: "zstd" or "none"; NULL: zstd
	 * when the image goes to a registry (docker:// DST, attach,
	 * merge_index), none for oci: (mountable as it is) and dir:.
	 */
	const char *bootstrap_compression;

	const struct lading_log *log;
	bool progress;
};

struct lading_convert_layer {
	char *source_digest;		/* NULL for dir: tarballs */
	char blob_id[LADING_DIGEST_HEX_LEN + 1];	/* "" if no new data */
	uint64_t bytes_in;		/* raw layer bytes read */
	uint64_t bytes_out;		/* blob artifact bytes */
	uint64_t uncompressed;		/* blob uncompressed view */
	uint64_t chunks_new, chunks_dedup, bytes_dedup;
	uint64_t entries, whiteouts;
	char layer_bootstrap[7 + LADING_DIGEST_HEX_LEN + 1];	/* "" if none */
	/* --keep-layers: kept as is (blob_id is the layer), with this index */
	bool kept;
	char seek_index[7 + LADING_DIGEST_HEX_LEN + 1];
};

/* One platform published by attach or merge_index. */
struct lading_convert_attached {
	char platform[128];			/* os/arch[/variant] */
	char source_manifest[7 + LADING_DIGEST_HEX_LEN + 1];	/* the subject */
	char manifest[7 + LADING_DIGEST_HEX_LEN + 1];	/* the lading manifest */
	char bootstrap_digest[7 + LADING_DIGEST_HEX_LEN + 1];
	const char *referrer;	/* "referrers-api", "tag-schema"; NULL: none */
};

struct lading_convert_report {
	struct lading_convert_layer *layers;
	size_t nlayers;
	char bootstrap_digest[7 + LADING_DIGEST_HEX_LEN + 1];
	uint64_t bootstrap_size;
	/* the zstd bootstrap layer ("" and 0: the bootstrap travels as is) */
	char bootstrap_layer_digest[7 + LADING_DIGEST_HEX_LEN + 1];
	uint64_t bootstrap_layer_size;
	char manifest_digest[7 + LADING_DIGEST_HEX_LEN + 1];	/* oci: only */
	char config_digest[7 + LADING_DIGEST_HEX_LEN + 1];
	char **blobs;			/* every blob id the image references */
	size_t nblobs;
	size_t dict_blobs_used;
	uint64_t bytes_saved;		/* chunk bytes not stored again */
	uint64_t inodes;
	char trace_digest[7 + LADING_DIGEST_HEX_LEN + 1];	/* "" if none */
	size_t trace_entries, trace_dropped;
	double elapsed;
	/* publishing: the fields above are the first platform's */
	struct lading_convert_attached *attached;
	size_t nattached;
	char merged_index[7 + LADING_DIGEST_HEX_LEN + 1];	/* "" if none */
};

LADING_API void lading_convert_params_init(struct lading_convert_params *p);
LADING_API int lading_convert(const struct lading_convert_params *p,
		   struct lading_convert_report *r, struct lading_error *err);
LADING_API void lading_convert_report_free(struct lading_convert_report *r);

#endif
