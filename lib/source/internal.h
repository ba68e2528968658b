/* SPDX-License-Identifier: MIT */
/* Shared between the directory and tar sources; not a public header. */
#ifndef LADING_SOURCE_INTERNAL_H
#define LADING_SOURCE_INTERNAL_H

#include <sys/types.h>
#include <lading/source.h>

struct source_ctx {
	struct lading_tree *tree;
	struct lading_store *store;
	const struct lading_source_params *params;
	struct lading_source_stats *stats;
	struct lading_error *err;
	struct lading_chunker chunker;
	uint64_t bytes_done;	/* for the progress line */
	bool progress_by_input;	/* tar: progress counts input bytes */
};

/* Receives one regular file's data, inline or through the chunker. */
struct file_sink {
	struct source_ctx *ctx;
	struct lading_inode *ino;
	bool is_inline;
	uint64_t pos;
};

int file_sink_begin(struct file_sink *fs, struct source_ctx *ctx,
		    struct lading_inode *ino, uint64_t size);
/* Data at a file offset >= the current position; gaps are holes. */
int file_sink_data(struct file_sink *fs, uint64_t off, const void *data,
		   size_t len);
/* Zero-copy path for read(): a buffer for up to *room bytes at pos. */
int file_sink_buffer(struct file_sink *fs, uint8_t **ptr, size_t *room);
int file_sink_commit(struct file_sink *fs, size_t len);
int file_sink_end(struct file_sink *fs);

/*
 * Adds an xattr, skipping (with a warning) names EROFS cannot store;
 * a value setxattr(2) would refuse is an error naming FILE (a tar, or
 * NULL) and the entry WHERE.
 */
int source_add_xattr(struct source_ctx *ctx, struct lading_inode *ino,
		     const char *name, const void *value, size_t len,
		     const char *file, const char *where);

void source_count_type(struct source_ctx *ctx, uint32_t mode);

/*
 * Decompressed tar input (input.c): gzip through zlib so its CRC is
 * checked, xz/zstd/bzip2 through libarchive, plain as is.  Errors are
 * negative errno with err saying "NAME: what went wrong".
 */
struct input_stream;
/*
 * digest: sha256 of the raw bytes; out_digest: of the decompressed ones.
 * name (kept, for messages) is what err names; *out is set even on a
 * failure, for input_close().
 */
int input_open(struct input_stream **out, const char *path, const char *name,
	       lading_read_fn read_fn, void *read_ud, bool digest,
	       bool out_digest, struct lading_error *err);
ssize_t input_read(struct input_stream *s, const void **buf,
		   struct lading_error *err);
/* Reads to the end so every decoder verifies its trailing checks. */
int input_drain(struct input_stream *s, struct lading_error *err);
uint64_t input_raw_bytes(const struct input_stream *s);
/* sha256 of all raw bytes, after input_drain(); "" unless asked for. */
int input_raw_digest(struct input_stream *s, char *hex);
/* The same over the decompressed stream (a layer's diff_id). */
int input_out_digest(struct input_stream *s, char *hex);
/* Decompressed bytes so far: the whole tar stream after input_drain(). */
uint64_t input_out_bytes(const struct input_stream *s);
void input_close(struct input_stream *s);

int source_load_dir(struct source_ctx *ctx);
int source_load_tar(struct source_ctx *ctx);

#endif
