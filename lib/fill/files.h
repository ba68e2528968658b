/* SPDX-License-Identifier: MIT */
/*
 * The image's files over the blobs (private to lib/fill): which file each
 * chunk belongs to and, per file, its chunks in file order.  Readahead
 * follows a file's chunks; traces name the file a chunk was needed for.
 * A chunk two files share (dedup) belongs to the first one walked.
 */
#ifndef LADING_FILL_FILES_H
#define LADING_FILL_FILES_H

#include <lading/format.h>
#include "engine.h"

#define FILL_NO_FILE UINT32_MAX

/* One chunk of one file, in file order. */
struct fill_seq {
	struct fill_blob *blob;
	uint32_t chunk;
	uint32_t file;
};

struct fill_file {
	uint32_t name;			/* offset in fill_files.names: "/a/b" */
	uint32_t seq_start, seq_end;	/* its chunks: seq[start, end) */
	/* readahead (engine.c, under the engine lock), in seq positions */
	bool ra_valid;
	uint32_t ra_lo;			/* a read from here on is sequential */
	uint32_t ra_mark;		/* reaching it starts the next window */
	uint32_t ra_next;		/* where the last window ended */
	uint64_t ra_win;		/* the last window's size, bytes */
};

struct fill_files {
	char *names;
	size_t names_len, names_cap;
	struct fill_file *files;
	size_t nfiles, files_cap;
	struct fill_seq *seq;
	size_t nseq, seq_cap;
};

/*
 * Walks the bootstrap: slots[d - 1] is the blob of device id d (NULL: not
 * served).  Each blob without a map yet gets b->files and b->ref (per
 * chunk: its first seq position, or FILL_NO_FILE).
 */
int fill_files_build(struct lading_reader *r, struct fill_blob *const *slots,
		     size_t nslots, struct fill_files **out, struct lading_error *err);
void fill_files_free(struct fill_files *fs);
/* Builds the map and gives it to the engine; a failure only warns. */
void fill_files_attach(struct fill_engine *e, struct lading_reader *r,
		       struct fill_blob *const *slots, size_t nslots,
		       const struct lading_log *log);

/* The path of chunk k of b, or NULL. */
const char *fill_files_path(const struct fill_blob *b, size_t k);

#endif
