/* SPDX-License-Identifier: MIT */
/*
 * Blob sources over the OCI distribution API (libcurl): manifests, whole
 * blobs, blob streams and byte ranges, with basic and bearer-token auth,
 * credentials from docker's config.json, retries with backoff on 5xx, 429
 * and connection errors (never on other 4xx), and no credentials sent to
 * another host after a redirect.
 */
#ifndef LADING_FETCH_H
#define LADING_FETCH_H

#include <signal.h>
#include <lading/types.h>
#include <lading/util.h>
#include <lading/store.h>


/* "docker://HOST[:PORT]/REPO[:TAG|@DIGEST]" -> parts (malloc'ed). */
int lading_docker_ref_parse(const char *s, char **host, char **repo,
			    char **ref, struct lading_error *err);

struct lading_registry;

int lading_registry_open(const char *host, const char *repo,
			 const struct lading_registry_opts *opts,
			 struct lading_registry **out, struct lading_error *err);
/*
 * A plain http(s) base URL instead of a registry: blob <id> is fetched
 * from BASE/<id> (a blob directory served over HTTP), with the same
 * ranges, retries and auth; no manifests.
 */
int lading_registry_open_base_url(const char *base_url,
			     const struct lading_registry_opts *opts,
			     struct lading_registry **out, struct lading_error *err);
void lading_registry_close(struct lading_registry *r);

/*
 * A manifest or index by tag or digest; *body is malloc'ed (NUL added),
 * *media_type too; digest receives "sha256:<hex>" of the body, which must
 * equal ref when ref is a digest.
 */
int lading_registry_get_manifest(struct lading_registry *r, const char *ref,
				 char **body, size_t *len, char **media_type,
				 char *digest, struct lading_error *err);
/* A whole small blob (at most max bytes), checked against its digest. */
int lading_registry_get_blob(struct lading_registry *r, const char *digest,
			     size_t max, char **body, size_t *len,
			     struct lading_error *err);
/*
 * A blob as a stream for lading_source_params.read (the reader checks the
 * digest at the end); a broken connection resumes with a Range request.
 * size: the bytes the blob must have (UINT64_MAX: unknown); a server
 * sending more or fewer fails the stream.  After a read returned an error,
 * lading_registry_blob_stream_error() says why (the URL and the problem).
 */
int lading_registry_blob_stream(struct lading_registry *r, const char *digest,
				uint64_t size, lading_read_fn *fn, void **ud,
				struct lading_error *err);
const char *lading_registry_blob_stream_error(void *ud);
void lading_registry_blob_stream_close(void *ud);
/* Bytes [off, off + len) of a blob; servers ignoring Range are handled. */
int lading_registry_get_range(struct lading_registry *r, const char *digest,
			      uint64_t off, size_t len, uint8_t *buf,
			      struct lading_error *err);

/*
 * Connections for parallel range requests: one per thread (auth state is
 * shared with the registry, under its lock).
 */
struct lading_registry_conn;
struct lading_registry_conn *lading_registry_conn_open(struct lading_registry *r);
void lading_registry_conn_close(struct lading_registry_conn *c);
int lading_registry_conn_get_range(struct lading_registry_conn *c,
				   const char *digest, uint64_t off, size_t len,
				   uint8_t *buf, struct lading_error *err);
/* How long the last range read waited for its first byte (µs; 0: failed). */
uint64_t lading_registry_conn_first_byte_us(const struct lading_registry_conn *c);

/* Push: HEAD says whether the registry already has the blob. */
int lading_registry_blob_exists(struct lading_registry *r, const char *digest,
				bool *exists, struct lading_error *err);
/*
 * HEAD: the blob's size from Content-Length (UINT64_MAX when the answer
 * has none); -ENOENT when the registry lacks it.
 */
int lading_registry_blob_size(struct lading_registry *r, const char *digest,
			      uint64_t *size, struct lading_error *err);
/*
 * Uploads a blob file unless the registry has it: a cross-repository
 * mount from mount_from (a repo on the same registry) when given, else an
 * upload session and one PUT ?digest=; the digest the registry reports
 * must match.
 */
int lading_registry_push_blob(struct lading_registry *r, const char *path,
			      const char *digest, const char *mount_from,
			      struct lading_error *err);
/* PUT a manifest under ref with its media type; digest checked. */
int lading_registry_put_manifest(struct lading_registry *r, const char *ref,
				 const void *body, size_t len,
				 const char *media_type, struct lading_error *err);
/*
 * OCI 1.1 referrers.  put_referrer: PUT a manifest that has a subject by
 * its own digest; *recorded tells whether the registry answered with an
 * OCI-Subject header naming subject (it keeps the referrers list itself).
 * get_referrers: GET /v2/REPO/referrers/DIGEST (Accept: an OCI index);
 * *body NULL when the registry has no such API (404 or another 4xx), else
 * the answer (malloc'ed, NUL added) for the caller to check.
 */
int lading_registry_put_referrer(struct lading_registry *r, const void *body,
				 size_t len, const char *media_type,
				 const char *subject, bool *recorded,
				 struct lading_error *err);
int lading_registry_get_referrers(struct lading_registry *r, const char *digest,
				  char **body, size_t *len, struct lading_error *err);

/* ---- blob sources ------------------------------------------------------ */

/*
 * Blob artifacts found by id in a list of sources, each a directory,
 * docker://HOST/REPO or an http(s):// base URL (BASE/<id>), tried in order.
 * Each kind of source is an ops table in sources.c; callers hold handles
 * and readers and never learn which kind answered.
 */
struct lading_blob_sources;
/* One blob, in the first source that has it. */
struct lading_blob_handle;
/*
 * One thread's connections to the sources, so that threads read ranges
 * in parallel; used by one thread at a time, closed before the sources.
 */
struct lading_blob_reader;

int lading_blob_sources_open(const char *const *specs, size_t n,
			     const struct lading_registry_opts *opts,
			     struct lading_blob_sources **out,
			     struct lading_error *err);
void lading_blob_sources_close(struct lading_blob_sources *s);
/* *out is the caller's (lading_blob_handle_close); -ENOENT when no source has it. */
int lading_blob_sources_find(struct lading_blob_sources *s, const char *id,
			     struct lading_blob_handle **out, struct lading_error *err);
void lading_blob_handle_close(struct lading_blob_handle *h);
/* The artifact's size as its source gave it (UINT64_MAX: not said). */
uint64_t lading_blob_handle_size(const struct lading_blob_handle *h);
/* The blob's ToC, checked against its record; -EUCLEAN with err's reason. */
int lading_blob_read_toc(const struct lading_blob_handle *h,
			 const struct lading_blob_record *rec, struct lading_toc *toc,
			 struct lading_error *err);
/*
 * The sha256 of the whole artifact, read once (a registry's: one streamed
 * GET), which must be exactly size bytes (else -EFBIG or the stream's
 * -EIO, err says); adds the bytes read to *bytes.
 */
int lading_blob_sha256(const struct lading_blob_handle *h, uint64_t size,
		       struct lading_digest *d, uint64_t *bytes,
		       struct lading_error *err);

struct lading_blob_reader *lading_blob_reader_new(void);
void lading_blob_reader_free(struct lading_blob_reader *r);
/* Bytes [off, off + len) of the artifact (stored form), over r's connection. */
int lading_blob_reader_read(struct lading_blob_reader *r,
			    const struct lading_blob_handle *h, uint64_t off,
			    size_t len, uint8_t *buf, struct lading_error *err);
/*
 * How long r's last read waited for its first byte (a round trip and the
 * server's time), µs; 0 when the source does not say (directories) or the
 * read failed.
 */
uint64_t lading_blob_reader_first_byte_us(const struct lading_blob_reader *r);

/* ---- chunk runs --------------------------------------------------------- */

/*
 * The one chunk path, for lading-prepare --seed-from and lading-fill: a
 * run of chunks of one blob, stored back to back, is read with one range
 * read; each chunk is decoded and its sha256 checked against the ToC, and
 * only the good ones are written to the cache file, each padded with zeros
 * to 4 KiB, from 4 KiB aligned buffers in whole blocks (cachefiles' anon
 * fds are O_DIRECT).  A bad chunk never stops the others.
 */

/*
 * How many chunks the run starting at first takes: first itself, then the
 * chunks before end that want(ud, k) and are stored right after the one
 * before, while the run's stored bytes stay within max_stored and its
 * decoded bytes within LADING_CHUNK_RUN_PLAIN_MAX.
 */
#define LADING_CHUNK_RUN_PLAIN_MAX (64u << 20)
size_t lading_chunk_run_len(const struct lading_toc *toc, size_t first, size_t end,
			    uint64_t max_stored,
			    bool (*want)(const void *ud, size_t k), const void *ud);

/*
 * For prefetching, where one request costs more than a few hundred KiB
 * read in vain: whether the run [first, end) can grow to take chunk next
 * (next >= end) in the same range read, the chunks between read along.
 * They must all be stored back to back, the bytes between end - 1 and
 * next at most max_gap or a quarter of the run's stored bytes, and the
 * grown run within max_stored and LADING_CHUNK_RUN_PLAIN_MAX.
 */
#define LADING_CHUNK_BRIDGE_GAP (256u << 10)
bool lading_chunk_run_bridge(const struct lading_toc *toc, size_t first,
			     size_t end, size_t next, uint64_t max_gap,
			     uint64_t max_stored);

/*
 * What became of each chunk of a run, in the caller's array of count
 * ints: LADING_CHUNK_OK (after lading_chunk_run_read: verified; after
 * lading_chunk_run_write: written), a negative errno when the chunk is bad
 * (-EBADMSG: it does not match its digest, else it does not decode), or
 * LADING_CHUNK_NOT_WRITTEN when it is good but its read or write failed.
 */
#define LADING_CHUNK_OK 0
#define LADING_CHUNK_NOT_WRITTEN 1

/* One thread's: a blob reader and the run's buffers. */
struct lading_chunk_fetcher;

struct lading_chunk_fetcher *lading_chunk_fetcher_new(void);
void lading_chunk_fetcher_free(struct lading_chunk_fetcher *f);
/*
 * Reads chunks [first, first + count) of h and checks them into res.  0,
 * or the read's error (err says why; every res is NOT_WRITTEN).  f NULL
 * (a fetcher that could not be made) fails with -ENOMEM.
 */
int lading_chunk_run_read(struct lading_chunk_fetcher *f,
			  const struct lading_blob_handle *h,
			  const struct lading_toc *toc, size_t first, size_t count,
			  int *res, struct lading_error *err);
/*
 * The same, where skip[i] set (skip NULL: none) marks a chunk only read
 * along, between wanted ones: it is neither decoded nor written, and its
 * res[i] stays LADING_CHUNK_NOT_WRITTEN.
 */
int lading_chunk_run_read_some(struct lading_chunk_fetcher *f,
			       const struct lading_blob_handle *h,
			       const struct lading_toc *toc, size_t first,
			       size_t count, const uint8_t *skip, int *res,
			       struct lading_error *err);
/*
 * The same in steps, for a caller that hands each chunk on as soon as it
 * is checked: the run's one range read (0, or its error with err saying
 * why; nothing decoded yet), then chunk first + i decoded and checked
 * (LADING_CHUNK_OK or a negative errno, as res above), then written to fd
 * (0 or the write's error).  Steps for chunks outside the run just
 * fetched fail.
 */
int lading_chunk_run_fetch(struct lading_chunk_fetcher *f,
			   const struct lading_blob_handle *h,
			   const struct lading_toc *toc, size_t first,
			   size_t count, struct lading_error *err);
int lading_chunk_run_decode(struct lading_chunk_fetcher *f, size_t i);
int lading_chunk_run_write_one(struct lading_chunk_fetcher *f, int fd, size_t i);

/* What the run just fetched cost: its range read, µs (see the reader). */
struct lading_read_timing {
	uint64_t first_byte_us;		/* 0: not known */
	uint64_t total_us;
	uint64_t bytes;
};
void lading_chunk_run_timing(const struct lading_chunk_fetcher *f,
			     struct lading_read_timing *t);

/*
 * A source's round trip and throughput, a running estimate from its reads
 * (each new one weighs a quarter), and what one round trip is worth in
 * bytes: reading fewer extra bytes than that along with a read costs less
 * than the read it may save.  Zeroed: nothing known.
 */
struct lading_link_estimate {
	uint64_t rtt_us;
	uint64_t bytes_per_ms;
};
void lading_link_note(struct lading_link_estimate *l, const struct lading_read_timing *t);
/* UINT64_MAX while the round trip or the throughput is not known */
uint64_t lading_link_round_trip_bytes(const struct lading_link_estimate *l);
/*
 * Chunk k's decoded bytes (its ToC entry's ulen) in the run just read,
 * until the next read; meaningful only where res says LADING_CHUNK_OK.
 * NULL when k is not in that run.
 */
const uint8_t *lading_chunk_run_plain(const struct lading_chunk_fetcher *f,
				      size_t k);
/*
 * Writes the good chunks of the run just read to fd (-1: -EBADF), one
 * pwrite per stretch of good chunks; those of a failed write become
 * NOT_WRITTEN (they may be partly written).  0 or the first write error.
 */
int lading_chunk_run_write(struct lading_chunk_fetcher *f, int fd, int *res);

/* A finished run, as lading_chunk_batch reports it. */
struct lading_chunk_run {
	size_t first, count;
	const int *res;
	int read_error;			/* 0, or the read's error (see err) */
	int write_error;		/* 0, or the first write's error */
	const struct lading_error *err;
};

/*
 * The wanted chunks of one blob, in runs of up to run_max stored bytes,
 * fetched into fd by a few threads, each with a fetcher of its own.
 */
struct lading_chunk_batch {
	const struct lading_blob_handle *blob;
	const struct lading_toc *toc;
	int fd;
	bool (*want)(const void *ud, size_t k);
	uint64_t run_max;
	unsigned threads;		/* 0: 1 */
	/* after each run, one at a time; non-zero: no further run starts */
	int (*done)(void *ud, const struct lading_chunk_run *run);
	void *ud;
};

/* 0, the first non-zero done(), or -ENOMEM (err says). */
int lading_chunk_batch_run(const struct lading_chunk_batch *b,
			   struct lading_error *err);

#endif
