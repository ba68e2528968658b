/* SPDX-License-Identifier: MIT */
/*
 * Content store: cuts file data into chunks, drops all-zero chunks as
 * holes, deduplicates the rest by sha256 and appends new chunks to one
 * content-addressed blob at 4 KiB-aligned offsets.
 */
#ifndef LADING_STORE_H
#define LADING_STORE_H

#include <sys/types.h>
#include <lading/types.h>
#include <lading/util.h>
#include <lading/ondisk.h>
#include <lading/tree.h>

struct lading_blob_info;
struct lading_zran_index;

/*
 * A blob's ToC, read from its artifact and checked against its record.
 * For a gzip layer kept as it is (codec GZIP_INDEXED) the entries are its
 * seek index's spans (uoff/ulen the span, coff/clen its compressed range,
 * no 4 KiB padding: spans tile the tar stream byte for byte) and zran
 * holds the index the spans are inflated from.
 */
struct lading_toc {
	struct lading_blob_footer footer;
	struct lading_toc_entry *entries;
	size_t count;
	struct lading_zran_index *zran;
};

/*
 * Reads footer and ToC from the artifact (fd) and checks them against the
 * record: sizes, offsets, the ToC digest, and that the entries tile the
 * uncompressed view.  -EUCLEAN with the reason in err; another -errno
 * on I/O (err says strerror); the caller's message names the blob.
 */
int lading_toc_read(int fd, const struct lading_blob_record *rec,
		    struct lading_toc *toc, struct lading_error *err);
/* The same from the artifact's bytes [toc_offset, end), e.g. one range. */
int lading_toc_parse(const void *tail, size_t len,
		     const struct lading_blob_record *rec, struct lading_toc *toc,
		     struct lading_error *err);
/*
 * ToCs kept in a cache for restarts: CACHE/LADING_TOC_DIR/<blob id> holds
 * the entries and footer as in the artifact.  lading_toc_load_kept checks
 * one against the record like any other ToC: 0, or -ENOENT when it is
 * missing or unusable (read it from the source then).  lading_toc_keep
 * writes one atomically: 0 or a negative errno.
 */
#define LADING_TOC_DIR ".lading-toc"
int lading_toc_load_kept(const char *dir, const char *id,
			 const struct lading_blob_record *rec, struct lading_toc *toc);
int lading_toc_keep(const char *dir, const char *id, const struct lading_toc *toc);
void lading_toc_free(struct lading_toc *toc);
/* Index of the entry covering uncompressed offset off, or -1. */
ssize_t lading_toc_find(const struct lading_toc *toc, uint64_t off);
/*
 * The entries covering [off, off + len) of the uncompressed view: *first
 * and *count (the fill side fetches their compressed ranges).
 */
int lading_toc_map(const struct lading_toc *toc, uint64_t off, uint64_t len,
		   size_t *first, size_t *count);
/* Decodes one stored chunk into out (ulen bytes) and checks its sha256. */
int lading_toc_decode(const struct lading_toc_entry *e, const uint8_t *stored,
		      uint8_t *out);
/* The same for entry k of toc: a chunk, or a span of a seek index. */
int lading_toc_decode_at(const struct lading_toc *toc, size_t k,
			 const uint8_t *stored, uint8_t *out);
/* The bytes entry k takes in the uncompressed view (chunks: to 4 KiB). */
uint64_t lading_toc_extent(const struct lading_toc *toc, size_t k);
/*
 * A ToC over a seek index (taken over: freed with the ToC), checked
 * against the record: the index's blob and sizes are the record's.
 */
int lading_toc_from_zran(struct lading_zran_index *ix,
			 const struct lading_blob_record *rec,
			 struct lading_toc *toc, struct lading_error *err);
/* Fills info's record fields into rec. */
void lading_blob_record_from_info(struct lading_blob_record *rec,
				  const struct lading_blob_info *info);

size_t lading_codec_bound(enum lading_codec c, size_t len);
/* -ENOSPC when the result would not fit in cap. */
int lading_codec_compress(enum lading_codec c, int level, const uint8_t *in,
			  size_t len, uint8_t *out, size_t cap, size_t *outlen);
/* Exactly want bytes or -EBADMSG. */
int lading_codec_decompress(enum lading_codec c, const uint8_t *in, size_t len,
			    uint8_t *out, size_t want);

/* ---- chunk store ------------------------------------------------------ */


/*
 * The dedup index: sha256 + length -> where the chunk already lives.  One
 * may be shared by several stores (the layers of an image) and seeded with
 * earlier blobs (chunk dictionaries); it also allocates device ids (slots)
 * in the order blobs first need one.
 */
struct lading_dedup;

int lading_dedup_new(struct lading_dedup **out);
void lading_dedup_free(struct lading_dedup *d);
int lading_dedup_alloc_device(struct lading_dedup *d, uint16_t *device_id);
/*
 * 0 and *ref when known (a dictionary blob gets its slot now), -ENOENT
 * when not, another -errno on failure.
 */
int lading_dedup_lookup(struct lading_dedup *d, const uint8_t *digest,
			uint32_t len, struct lading_chunk_ref *ref);
int lading_dedup_insert(struct lading_dedup *d, const uint8_t *digest,
			uint32_t len, const struct lading_chunk_ref *ref);
struct lading_toc;
/* Every chunk of an existing blob becomes reusable. */
int lading_dedup_add_dict(struct lading_dedup *d,
			  const struct lading_blob_record *rec,
			  const struct lading_toc *toc);
size_t lading_dedup_dict_count(const struct lading_dedup *d);
/* Record of dictionary blob i and its device id (0: never referenced). */
const struct lading_blob_record *lading_dedup_dict(const struct lading_dedup *d,
						   size_t i, uint16_t *device_id);

struct lading_store_params {
	uint32_t chunk_size;	/* power of two in [CHUNK_MIN, CHUNK_MAX] */
	const char *blob_dir;	/* where the blob is created */
	struct lading_dedup *dedup;	/* shared index; NULL: a private one */
	/*
	 * Index only: write no blob; a chunk's blkaddr is the index of its
	 * digest (lading_store_chunk_digest).  Used to compare a source with
	 * an image without storing anything.
	 */
	bool digest_only;
	enum lading_codec codec;
	int level;		/* -1: the codec's default */
};



struct lading_store;


int lading_store_open(struct lading_store **out,
		      const struct lading_store_params *params);
/*
 * Stores one chunk (len <= chunk_size, a file's last chunk may be short)
 * and returns where it lives.  All-zero data becomes a hole.
 */
int lading_store_add_chunk(struct lading_store *s, const uint8_t *data,
			   size_t len, struct lading_chunk_ref *ref);
/*
 * The same for a chunk in a malloc()ed buffer of chunk_size bytes: instead
 * of copying a new chunk, the store may keep *buf and hand back another
 * buffer of the same size in its place (whose content is undefined).
 */
int lading_store_add_chunk_buf(struct lading_store *s, uint8_t **buf,
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
