/* SPDX-License-Identifier: MIT */
/*
 * Content store: cuts file data into chunks, drops all-zero chunks as
 * holes, deduplicates the rest by sha256 and appends new chunks to one
 * content-addressed blob at 4 KiB-aligned offsets.
 */
#ifndef LADING_STORE_H
#define LADING_STORE_H

#include <lading/common.h>
#include <lading/tree.h>

#define LADING_CHUNK_MIN (4u << 10)
#define LADING_CHUNK_MAX (64u << 20)
#define LADING_CHUNK_DEFAULT (1u << 20)

struct lading_store_params {
	uint32_t chunk_size;	/* power of two in [CHUNK_MIN, CHUNK_MAX] */
	const char *blob_dir;	/* where the blob is created */
	uint16_t device_id;	/* slot the blob will occupy (1-based) */
	/*
	 * Index only: write no blob; a chunk's blkaddr is the index of its
	 * digest (lading_store_chunk_digest).  Used to compare a source with
	 * an image without storing anything.
	 */
	bool digest_only;
};

struct lading_store_stats {
	uint64_t chunks;	/* chunks seen (incl. holes and duplicates) */
	uint64_t chunks_stored;
	uint64_t chunks_dedup;
	uint64_t chunks_hole;
	uint64_t bytes_in;	/* logical file bytes seen */
	uint64_t bytes_dedup;	/* bytes not stored thanks to dedup */
	uint64_t bytes_hole;	/* bytes not stored as zero/holes */
};

struct lading_blob_info {
	bool present;		/* false: no data, no blob written */
	char id[LADING_DIGEST_HEX_LEN + 1];
	uint8_t digest[LADING_SHA256_LEN];
	uint64_t size;		/* bytes == blocks * 4096 */
};

struct lading_store;

bool lading_chunk_size_valid(uint64_t size);

int lading_store_open(struct lading_store **out,
		      const struct lading_store_params *params);
/*
 * Stores one chunk (len <= chunk_size, a file's last chunk may be short)
 * and returns where it lives.  All-zero data becomes a hole.
 */
int lading_store_add_chunk(struct lading_store *s, const uint8_t *data,
			   size_t len, struct lading_chunk_ref *ref);
/* Accounts a chunk that is a hole in the source without touching data. */
void lading_store_add_hole(struct lading_store *s, size_t len,
			   struct lading_chunk_ref *ref);
/* Flushes and syncs the blob under its temporary name; fills info. */
int lading_store_finish(struct lading_store *s, struct lading_blob_info *info);
/*
 * Renames the finished blob to its digest (no-op without data).  *existed
 * tells whether an identical blob was already there, so a caller undoing
 * a failed build knows whether the name is its own to remove.
 */
int lading_store_publish(struct lading_store *s,
			 const struct lading_blob_info *info, bool *existed);
/* Removes any unpublished temporary and frees the store. */
void lading_store_free(struct lading_store *s);
const struct lading_store_stats *lading_store_stats(const struct lading_store *s);
/* digest_only stores: the sha256 of chunk 'index' (a ref's blkaddr). */
const uint8_t *lading_store_chunk_digest(const struct lading_store *s,
					 uint32_t index);
uint32_t lading_store_chunk_size(const struct lading_store *s);

/*
 * Chunker: feeds one regular file into the store.  Data arrives in any
 * pieces (write), holes as lengths (skip); chunks are cut at multiples of
 * chunk_size.  One chunk-sized buffer is reused for every file.
 */
struct lading_chunker {
	struct lading_store *store;
	uint8_t *buf;
	size_t fill;
	bool buf_all_hole;	/* only skip() has filled the buffer */
	uint64_t size;		/* declared file size */
	uint64_t pos;		/* bytes received so far */
	struct lading_chunk_ref *refs;
	uint32_t nrefs;
};

int lading_chunker_init(struct lading_chunker *c, struct lading_store *s);
void lading_chunker_release(struct lading_chunker *c);
int lading_chunker_begin(struct lading_chunker *c, uint64_t size);
int lading_chunker_write(struct lading_chunker *c, const void *data, size_t len);
int lading_chunker_skip(struct lading_chunker *c, uint64_t len);
/*
 * Direct fill: *room bytes at *ptr may be written, then committed with
 * lading_chunker_commit(); saves a copy for sources that read().
 */
int lading_chunker_buffer(struct lading_chunker *c, uint8_t **ptr, size_t *room);
int lading_chunker_commit(struct lading_chunker *c, size_t len);
/*
 * Completes the file; -EIO if fewer or more bytes than declared arrived.
 * Hands the chunk array (ownership) to *refs.
 */
int lading_chunker_end(struct lading_chunker *c, struct lading_chunk_ref **refs,
		       uint32_t *nrefs);

#endif
