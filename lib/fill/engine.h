/* SPDX-License-Identifier: MIT */
/*
 * The fill engine, shared by both kernel back ends (private to lib/fill).
 * A back end turns a kernel request into a chunk range of one blob and
 * submits it; fetch workers hand runs of missing chunks (neighbours
 * merged into one read) to the chunk path of lib/fetch, which reads,
 * decodes, checks each sha256 against the ToC and writes the good ones
 * through the blob's write fd.
 * Every request completes exactly once: with 0 when its chunks are
 * present, or a negative errno when one failed or its deadline passed.
 */
#ifndef LADING_FILL_ENGINE_H
#define LADING_FILL_ENGINE_H

#include <pthread.h>
#include <lading/fetch.h>
#include <lading/fill.h>
#include <lading/store.h>

enum fill_chunk_state {
	FILL_CHUNK_ABSENT,
	FILL_CHUNK_INFLIGHT,	/* claimed by a queued or running fetch job */
	FILL_CHUNK_PRESENT,	/* verified and written */
	FILL_CHUNK_FAILED,	/* last fetch failed: retried by the next request */
};

struct fill_request;

struct fill_blob {
	char id[LADING_DIGEST_HEX_LEN + 1];
	char *name;			/* for messages: the cache file */
	struct lading_toc toc;
	struct lading_blob_handle *src;	/* NULL until located */
	/* the source is located at the first fetch: a filler whose ToCs are
	 * cached starts (and serves what is present) while the source is down */
	struct lading_blob_sources *sources;
	pthread_mutex_t src_lock;
	bool located;
	uint8_t *state;			/* enum fill_chunk_state per ToC entry */
	uint8_t *late;			/* in flight past a request's deadline */
	uint8_t *wanted;		/* in flight, a kernel request waits for it */
	size_t nwanted;			/* how many are */
	size_t npresent;
	/*
	 * Where verified chunks are written: the fanotify event fd (raises no
	 * event) or the cachefiles anon fd; -1 while there is none.  Owned by
	 * the blob; closed when the last job using it ends.
	 */
	int write_fd;
	unsigned jobs_running;
	bool write_fd_closing;
	int next_write_fd;		/* installed when the closing one is done */
	bool complete_reported;
	void *backend;			/* the back end's object */
	/* the image's files over it (files.h); NULL: not known */
	struct fill_files *files;
	uint32_t *ref;			/* per chunk: its first file's seq position */
	uint8_t *traced;		/* --record: already in the trace */
};

typedef void fill_complete_fn(struct fill_request *r, int err);

struct fill_request {
	struct fill_blob *blob;
	size_t first, count;		/* chunk range; count 0: nothing to fill */
	bool low_priority;		/* prefetch: behind on-demand requests */
	bool own;			/* a read of our own (priming): not traced */
	/*
	 * low priority: per chunk of the range, 1 when it is only read
	 * along (a gap bridged between wanted chunks): not fetched for
	 * itself nor waited for; NULL: every chunk wanted
	 */
	const uint8_t *skip;
	uint64_t deadline_us;		/* monotonic; 0: none */
	fill_complete_fn *complete;	/* called once, without engine locks */
	/* engine's */
	uint64_t start_us;
	int result;			/* settled: what complete() gets */
	struct fill_request *next;
};

struct fill_engine_params {
	unsigned jobs;			/* fetch workers; 0: 4 */
	unsigned timeout_ms;		/* per request; 0: none */
	size_t merge_bytes;		/* stored bytes per read; 0: 4 MiB */
	uint64_t readahead;		/* largest window per file, bytes; 0: none */
	const struct lading_log *log;
	/* under the engine lock, once, when every chunk of b is present */
	void (*blob_complete)(struct fill_blob *b, void *ud);
	void *ud;
};

struct fill_engine;

uint64_t fill_now_us(void);

int fill_engine_start(const struct fill_engine_params *p, struct fill_engine **out,
		      struct lading_error *err);
/* Fails waiting requests with -ESHUTDOWN, joins the threads, frees blobs. */
void fill_engine_stop(struct fill_engine *e);

/*
 * A blob served by the engine, its ToC checked against the bootstrap's
 * record: from toc_dir/<id> when an earlier run kept it there, else from
 * the sources (and then kept there; toc_dir NULL: not kept).  The engine
 * owns the blob.
 */
int fill_engine_add_blob(struct fill_engine *e, struct lading_blob_sources *src,
			 const char *id, const struct lading_blob_record *rec,
			 const char *name, const char *toc_dir,
			 struct fill_blob **out, struct lading_error *err);
/* Marks the chunks that fd (the cache file) holds as present. */
void fill_engine_scan_present(struct fill_engine *e, struct fill_blob *b, int fd);
/* Gives the blob its write fd (taking ownership); closes the old one. */
void fill_engine_set_write_fd(struct fill_engine *e, struct fill_blob *b, int fd);
bool fill_engine_has_write_fd(struct fill_engine *e, struct fill_blob *b);

/* The i-th blob added, or NULL past the end. */
struct fill_blob *fill_engine_blob(struct fill_engine *e, size_t i);
/* The stored bytes one fetch reads at most. */
size_t fill_engine_merge_bytes(const struct fill_engine *e);

/* The chunk range covering uncompressed [off, off + len) (clamped). */
void fill_blob_map(const struct fill_blob *b, uint64_t off, uint64_t len,
		   size_t *first, size_t *count);
/* The first chunk from `from` on that is neither present nor in flight. */
bool fill_engine_next_missing(struct fill_engine *e, struct fill_blob *b,
			      size_t from, size_t *k);

/* The engine frees fs (see files.h) when it stops. */
int fill_engine_add_files(struct fill_engine *e, struct fill_files *fs);

/*
 * --record: from now on, note each chunk a kernel request needs the first
 * time, for duration_ms (0: until the end).
 */
void fill_engine_trace_start(struct fill_engine *e, uint64_t duration_ms);
/* True once the recording's duration is over. */
bool fill_engine_trace_done(struct fill_engine *e);
/* What was noted so far, in order; 0 or -ENOMEM. */
int fill_engine_trace_get(struct fill_engine *e, struct lading_trace *out);

/* Submits r; may complete it before returning (cache hit). */
void fill_engine_submit(struct fill_engine *e, struct fill_request *r);
/* A request answered by the back end alone (not about a blob's data). */
void fill_engine_count_passthrough(struct fill_engine *e, uint64_t start_us);

void fill_engine_stats(struct fill_engine *e, struct lading_fill_stats *out);

#endif
