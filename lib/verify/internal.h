/* SPDX-License-Identifier: MIT */
/* Shared between verify.c, compare.c and extract.c; not a public header. */
#ifndef LADING_VERIFY_INTERNAL_H
#define LADING_VERIFY_INTERNAL_H

#include <lading/fetch.h>
#include <lading/format.h>
#include <lading/source.h>
#include <lading/store.h>
#include <lading/tree.h>
#include <lading/verify.h>

#define VERIFY_WINDOW (1u << 20)	/* source comparison granularity */

struct extract_state;

struct vctx {
	const struct lading_verify_params *p;
	struct lading_verify_report *r;
	struct lading_error *err;
	struct lading_error walk_err;	/* errors raised during the walk */
	struct lading_reader *reader;
	int *blob_fds;			/* per slot, -1 if missing */
	/* an image's blobs in its registry (no blob dir): per slot, NULL if
	 * missing, read through the blob sources and the chunk path */
	struct lading_blob_sources *bsrc;
	struct lading_blob_handle **handles;
	struct lading_blob_reader *breader;	/* the main thread's reads */
	struct lading_toc *tocs;	/* per slot; count 0 if unusable */
	int8_t *blob_trust;		/* per slot without a ToC: 0 unknown, 1/-1 */
	/* the last decoded chunk of a compressed blob, for data reads */
	uint16_t cached_dev;
	ssize_t cached_entry;
	uint8_t *chunk_buf, *stored_buf;
	size_t chunk_buf_size, stored_buf_size;
	uint8_t *window;		/* VERIFY_WINDOW bytes */

	/* source comparison */
	struct lading_tree *src;
	struct lading_store *src_store;
	struct lading_idmap nid_to_src;	/* image nid -> source inode (dirs too) */

	struct extract_state *x;
};

void verify_problem(struct vctx *v, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Reads file bytes of any layout; -ENOENT if its blob is missing. */
int verify_read_file(struct vctx *v, const struct lading_rinode *ino,
		     uint64_t off, uint8_t *buf, size_t len);

/* Where verify_read_checked found a chunk it could not trust. */
struct verify_fault {
	ssize_t toc_index;	/* the blob's ToC entry, -1 if none */
};

/*
 * Bytes [in, in + n) of one data chunk, each checked against the chain of
 * trust whatever the flags: the ToC entries it touches are decoded whole
 * and compared with their sha256; a blob without a ToC is hashed whole
 * first.  -EBADMSG a digest differs, -ENOENT blob missing,
 * -ENOTRECOVERABLE its ToC is unusable, -ERANGE outside the ToC, or the
 * codec's error.
 */
int verify_read_checked(struct vctx *v, const struct lading_rchunk *c,
			uint64_t in, uint8_t *buf, size_t n,
			struct verify_fault *f);
/* "does not decode to its digest" and the like, for a checked read */
const char *verify_fault_reason(int err);

/* kept.c: gzip layers kept as they are (--keep-layers) */
/* Every span of each kept layer, and its diff_id; problems are listed. */
int verify_kept_layers(struct vctx *v, const char *boot_dir);
/* Whether slot's blob is a kept layer (verify_kept_layers checks its spans). */
bool verify_is_kept_layer(const struct vctx *v, uint16_t slot);

/* source_image.c: --source docker://... or oci:DIR[:REF] */
bool compare_source_is_image(const char *source);
/* The image's layers, in order, into v->src (stats summed into st). */
int compare_load_image(struct vctx *v, struct lading_source_params *src,
		       struct lading_source_stats *st);

/* compare.c */
int compare_load_source(struct vctx *v);
int compare_entry(struct vctx *v, const struct lading_rentry *e);
int compare_finish(struct vctx *v);
void compare_free(struct vctx *v);

/* extract.c */
int extract_begin(struct vctx *v);
int extract_entry(struct vctx *v, const struct lading_rentry *e);
int extract_finish(struct vctx *v);
void extract_free(struct vctx *v);

#endif
