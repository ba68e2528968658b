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
#include <lading/common.h>
#include <lading/store.h>

struct lading_registry_opts {
	bool plain_http;	/* http:// (loopback tests) instead of https:// */
	bool insecure;		/* https without certificate verification */
	const char *creds;	/* "user:pass"; NULL: docker config, else none */
	const struct lading_log *log;
	int max_retries;	/* 0: the default (4) */
	const char *mount_from;	/* push: try a cross-repository mount first */
	/* when set and non-zero: transfers stop, -ECANCELED (a shutdown) */
	volatile sig_atomic_t *cancel;
	/*
	 * Every read (a document, a range, a whole blob stream with its
	 * resumes) must end within timeout seconds, and a transfer slower
	 * than min_rate bytes/s over min_rate_time seconds is abandoned
	 * (neither is retried).  0: the defaults below.
	 */
	unsigned timeout;
	unsigned min_rate, min_rate_time;
};

#define LADING_REGISTRY_TIMEOUT_DEFAULT 3600		/* seconds */
#define LADING_REGISTRY_MIN_RATE_DEFAULT 1024		/* bytes/s ... */
#define LADING_REGISTRY_MIN_RATE_TIME_DEFAULT 30	/* ... over seconds */

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
int lading_registry_open_url(const char *base_url,
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

/* Push: HEAD says whether the registry already has the blob. */
int lading_registry_blob_exists(struct lading_registry *r, const char *digest,
				bool *exists, struct lading_error *err);
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

/* ---- blob sources ------------------------------------------------------ */

/*
 * Blob artifacts found by id in a list of sources, each a directory,
 * docker://HOST/REPO or an http(s):// base URL (BASE/<id>), tried in order.
 */
struct lading_blob_sources;

struct lading_blob_handle {
	int fd;				/* a directory's file, or -1 */
	struct lading_registry *reg;	/* else the registry holding it */
	char digest[80];		/* "sha256:<id>" */
};

int lading_blob_sources_open(const char *const *specs, size_t n,
			     const struct lading_registry_opts *opts,
			     struct lading_blob_sources **out,
			     struct lading_error *err);
void lading_blob_sources_close(struct lading_blob_sources *s);
/* -ENOENT when no source has it. */
int lading_blob_sources_find(struct lading_blob_sources *s, const char *id,
			     struct lading_blob_handle *h, struct lading_error *err);
void lading_blob_handle_close(struct lading_blob_handle *h);
/* Bytes of the artifact (stored form). */
int lading_blob_read(const struct lading_blob_handle *h, uint64_t off, size_t len,
		     uint8_t *buf, struct lading_error *err);
/* The blob's ToC, checked against its record; -EUCLEAN with err's reason. */
int lading_blob_read_toc(const struct lading_blob_handle *h,
			 const struct lading_blob_record *rec, struct lading_toc *toc,
			 struct lading_error *err);

#endif
